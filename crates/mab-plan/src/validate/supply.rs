//! `attestations` and `sign`: laid over the defaults (each attestation on its own; `sign`
//! replaced whole, `sign: false` turning the defaults' off), the key file found, and
//! attestations refused with `format: docker` (a Docker manifest list cannot say what an
//! attestation manifest is for).

use std::path::PathBuf;

use super::Validator;
use super::settings::Settings;
use crate::ManifestFormat;
use crate::raw::{Field, RawAttestations, RawImage, RawSign};
use crate::supply::{Attestations, Signing};
use crate::tree::Position;

/// One level's `attestations`, validated: each one given or not, with where the value starts.
#[derive(Debug, Clone, Copy)]
pub(super) struct LevelAttestations {
    pub(super) at: Position,
    pub(super) provenance: Option<bool>,
    pub(super) sbom: Option<bool>,
}

/// One level's `sign`, validated: off, or the key's path.
#[derive(Debug, Clone)]
pub(super) enum LevelSign {
    Off,
    With(Signing),
}

impl Validator<'_, '_, '_, '_> {
    pub(super) fn level_attestations(
        &mut self,
        field: &Field<RawAttestations>,
    ) -> Field<LevelAttestations> {
        let raw = match field {
            Field::Absent => return Field::Absent,
            Field::Invalid => return Field::Invalid,
            Field::Given(raw) => raw,
        };
        match (raw.provenance.optional(), raw.sbom.optional()) {
            (Some(provenance), Some(sbom)) => Field::Given(LevelAttestations {
                at: raw.at,
                provenance: provenance.copied(),
                sbom: sbom.copied(),
            }),
            _ => Field::Invalid,
        }
    }

    pub(super) fn level_sign(&mut self, field: &Field<RawSign>) -> Field<LevelSign> {
        let (key, manifests) = match field {
            Field::Absent => return Field::Absent,
            Field::Invalid => return Field::Invalid,
            Field::Given(RawSign::Off) => return Field::Given(LevelSign::Off),
            Field::Given(RawSign::With { key, manifests, .. }) => (key, manifests),
        };
        let key: Option<PathBuf> = match key {
            Field::Given(text) => self.plan_file(text, "key", |path, plan_dir| {
                format!(
                    "signing key `{}` not found (`key` is relative to the plan's folder, `{}`; \
                     make one with `cosign generate-key-pair`)",
                    path.display(),
                    plan_dir.display()
                )
            }),
            _ => None,
        };
        match (key, manifests.optional()) {
            (Some(key), Some(manifests)) => Field::Given(LevelSign::With(Signing {
                key,
                manifests: manifests.copied().unwrap_or(false),
            })),
            _ => Field::Invalid,
        }
    }

    /// The image's attestations over the defaults', each on its own; `None` when wrong (and
    /// reported), e.g. asked of `format: docker`.
    pub(super) fn merged_attestations(
        &mut self,
        raw: &RawImage,
        own: &Settings,
        defaults: &Settings,
        format: &Field<ManifestFormat>,
    ) -> Option<Attestations> {
        let level = |field: &Field<LevelAttestations>| match field {
            Field::Invalid => None,
            Field::Absent => Some(None),
            Field::Given(level) => Some(Some(*level)),
        };
        let (own_level, default_level) =
            (level(&own.attestations)?, level(&defaults.attestations)?);
        let pick = |get: fn(&LevelAttestations) -> Option<bool>| {
            own_level
                .as_ref()
                .and_then(get)
                .or_else(|| default_level.as_ref().and_then(get))
                .unwrap_or(false)
        };
        let merged = Attestations {
            provenance: pick(|l| l.provenance),
            sbom: pick(|l| l.sbom),
        };
        if merged.any() && matches!(format, Field::Given(ManifestFormat::Docker)) {
            let message = "attestations need `format: oci`: a Docker manifest list cannot mark \
                           an attestation manifest as one (annotations), so clients would take \
                           it for an image; drop `format: docker` or the attestations";
            let own_asks =
                own_level.is_some_and(|l| l.provenance == Some(true) || l.sbom == Some(true));
            match (own_asks, own_level, default_level) {
                (true, Some(level), _) => self.diagnostics.error(level.at, message),
                (_, _, Some(level)) => self.diagnostics.error(
                    raw.at,
                    format!(
                        "this image has `format: docker`, but `defaults` gives it attestations \
                         (line {}); {message}",
                        level.at.line
                    ),
                ),
                _ => self.diagnostics.error(raw.at, message),
            }
            return None;
        }
        Some(merged)
    }

    /// The image's `sign` if it has one, else the defaults'; `None` when wrong.
    pub(super) fn merged_sign(
        &mut self,
        own: &Settings,
        defaults: &Settings,
    ) -> Option<Option<Signing>> {
        let chosen = match &own.sign {
            Field::Absent => &defaults.sign,
            other => other,
        };
        match chosen {
            Field::Invalid => None,
            Field::Absent | Field::Given(LevelSign::Off) => Some(None),
            Field::Given(LevelSign::With(signing)) => Some(Some(signing.clone())),
        }
    }
}
