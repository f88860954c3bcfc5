//! One image: its settings laid over the defaults, its context, Dockerfile and stage, the
//! format's constraints (annotations and compression need OCI), and each platform's
//! `overrides` laid over the image.

use std::collections::BTreeMap;

use mab_platform::Platform;

use super::mounts::by_id;
use super::settings::{Settings, entries, merge, pick};
use super::{Validator, or_default};
use crate::plan::{Annotations, BuildSettings, PlatformBuild};
use crate::raw::{Field, RawImage, RawOverride};
use crate::tree::Position;
use crate::{BuilderKind, ImageSpec, LayerCompression, ManifestFormat};

/// The tag pushed when neither an image nor `defaults` have `tags`.
const DEFAULT_TAG: &str = "latest";

impl Validator<'_, '_, '_, '_> {
    /// Validates one image but for where it goes; `None` if anything about it is wrong (and
    /// reported).
    pub(super) fn image(&mut self, raw: &RawImage, defaults: &Settings) -> Option<ImageSpec> {
        let errors_before = self.diagnostics.count();
        let own = self.settings(&raw.settings);
        let context_dir = self.context_dir(&raw.settings.context, raw.at);
        let dockerfile_at = match &raw.settings.context {
            Field::Given(context) => context.at,
            _ => raw.at,
        };
        let dockerfile = self.dockerfile(
            context_dir.as_deref(),
            &raw.settings.dockerfile,
            dockerfile_at,
            None,
        );
        let target = self.target(&raw.settings.target, dockerfile.as_deref());
        let platforms = pick(&own.platforms, &defaults.platforms);
        let tags = match pick(&own.tags, &defaults.tags) {
            Field::Absent => Field::Given(vec![DEFAULT_TAG.to_string()]),
            other => other,
        };
        let build_args = merge(&own.build_args, &defaults.build_args);
        let labels = merge(&own.labels, &defaults.labels);
        let format = pick(&own.format, &defaults.format);
        let annotations = self.merged_annotations(raw, &own, defaults, &format);
        let attestations = self.merged_attestations(raw, &own, defaults, &format);
        let sign = self.merged_sign(&own, defaults);
        let compression = match pick(&own.compression, &defaults.compression) {
            Field::Given((kind, at))
                if kind != LayerCompression::Gzip
                    && matches!(format, Field::Given(ManifestFormat::Docker)) =>
            {
                let message = format!(
                    "`compression: {}` needs `format: oci`: Docker image manifests only \
                     describe gzip layers; use `compression: gzip` or drop `format: docker`",
                    kind.as_str()
                );
                if matches!(own.compression, Field::Given(_)) {
                    self.diagnostics.error(at, message);
                } else {
                    self.diagnostics.error(
                        raw.at,
                        format!(
                            "this image has `format: docker`, but `defaults` gives it \
                             `compression: {}` (line {}); {message}",
                            kind.as_str(),
                            at.line
                        ),
                    );
                }
                Field::Invalid
            }
            Field::Given((kind, _)) => Field::Given(kind),
            Field::Absent => Field::Absent,
            Field::Invalid => Field::Invalid,
        };
        let no_cache = pick(&own.no_cache, &defaults.no_cache);
        let pull = pick(&own.pull, &defaults.pull);
        let cache_from = pick(&own.cache_from, &defaults.cache_from);
        let cache_to = pick(&own.cache_to, &defaults.cache_to).map(|(export, _)| Some(export));
        let backend = pick(&own.builder, &defaults.builder).map(|(backend, _)| backend);
        if let Field::Given(backend) = backend {
            self.check_mounts_need_buildkit(backend, &own, Some(defaults), raw.at);
        }
        let secrets = merge(&entries(&own.secrets), &entries(&defaults.secrets));
        let ssh = merge(&entries(&own.ssh), &entries(&defaults.ssh));

        let build = match (context_dir, dockerfile, target) {
            (Some(context_dir), Some(dockerfile), Some(target)) => Some(BuildSettings {
                context_dir,
                dockerfile,
                target,
                build_args: or_default(build_args, BTreeMap::new)?,
                labels: or_default(labels, BTreeMap::new)?,
                no_cache: or_default(no_cache, || false)?,
                pull: or_default(pull, || false)?,
                cache_from: or_default(cache_from, Vec::new)?,
                cache_to: or_default(cache_to, || None)?,
                backend: or_default(backend, BuilderKind::default)?,
                secrets: or_default(secrets, BTreeMap::new)?.into_values().collect(),
                ssh: or_default(ssh, BTreeMap::new)?.into_values().collect(),
            }),
            _ => None,
        };
        let platforms = match platforms {
            Field::Given(platforms) => Some(platforms),
            // A missing `platforms` was reported when the image was read.
            _ => None,
        };
        let overrides = match (&build, &platforms) {
            (Some(build), Some(platforms)) => self.overrides(raw, build, platforms),
            _ => None,
        };
        if self.diagnostics.count() != errors_before {
            return None;
        }
        Some(ImageSpec {
            name: None,
            repositories: Vec::new(),
            platforms: platforms?.into_iter().map(|(p, _)| p).collect(),
            tags: or_default(tags, Vec::new)?,
            format: or_default(format, ManifestFormat::default)?,
            compression: or_default(compression, LayerCompression::default)?,
            build: build?,
            overrides: overrides?,
            annotations: annotations?,
            attestations: attestations?,
            sign: sign?,
            depends_on: Vec::new(),
            depends_on_names: Vec::new(),
        })
    }

    /// The image's annotations over the defaults'; refused for the docker format.
    pub(super) fn merged_annotations(
        &mut self,
        raw: &RawImage,
        own: &Settings,
        defaults: &Settings,
        format: &Field<ManifestFormat>,
    ) -> Option<Annotations> {
        let (own_annotations, own_at) = match &own.annotations {
            Field::Invalid => return None,
            Field::Absent => (Annotations::default(), None),
            Field::Given((annotations, at)) => (annotations.clone(), Some(*at)),
        };
        let (default_annotations, default_at) = match &defaults.annotations {
            Field::Invalid => return None,
            Field::Absent => (Annotations::default(), None),
            Field::Given((annotations, at)) => (annotations.clone(), Some(*at)),
        };
        let mut merged = default_annotations.clone();
        merged.index.extend(own_annotations.index.clone());
        merged.manifest.extend(own_annotations.manifest.clone());
        if matches!(format, Field::Given(ManifestFormat::Docker)) && !merged.is_empty() {
            let message = "annotations need `format: oci`: a Docker manifest list and Docker \
                           image manifests cannot carry them; drop `format: docker` or the \
                           annotations";
            match (own_annotations.is_empty(), own_at, default_at) {
                (false, Some(at), _) => self.diagnostics.error(at, message),
                (_, _, Some(at)) => self.diagnostics.error(
                    raw.at,
                    format!(
                        "this image has `format: docker`, but `defaults` gives it annotations \
                         (line {}); {message}",
                        at.line
                    ),
                ),
                _ => {}
            }
            return None;
        }
        Some(merged)
    }

    /// Each platform's settings under `overrides`, applied to `build`.
    pub(super) fn overrides(
        &mut self,
        raw: &RawImage,
        build: &BuildSettings,
        platforms: &[(Platform, Position)],
    ) -> Option<Vec<PlatformBuild>> {
        let entries = match &raw.overrides {
            Field::Absent => return Some(Vec::new()),
            Field::Invalid => return None,
            Field::Given(entries) => entries,
        };
        let mut out: Vec<(PlatformBuild, Position)> = Vec::new();
        let mut valid = true;
        for entry in entries {
            match self.platform_override(raw, entry, build, platforms, &out) {
                Some(found) => out.push((found, entry.platform.at)),
                None => valid = false,
            }
        }
        valid.then(|| out.into_iter().map(|(o, _)| o).collect())
    }

    pub(super) fn platform_override(
        &mut self,
        raw: &RawImage,
        entry: &RawOverride,
        build: &BuildSettings,
        platforms: &[(Platform, Position)],
        earlier: &[(PlatformBuild, Position)],
    ) -> Option<PlatformBuild> {
        let key = &entry.platform;
        let platform = match key.value.parse::<Platform>() {
            Ok(platform) => Some(platform),
            Err(error) => {
                self.diagnostics.error(key.at, error.to_string());
                None
            }
        };
        if let Some(platform) = &platform {
            if !platforms.iter().any(|(p, _)| p == platform) {
                let list: Vec<String> = platforms.iter().map(|(p, _)| p.to_string()).collect();
                self.diagnostics.error(
                    key.at,
                    format!(
                        "`overrides` has `{}`, which is not one of this image's platforms ({})",
                        key.value,
                        list.join(", ")
                    ),
                );
            } else if let Some((_, first)) = earlier.iter().find(|(o, _)| &o.platform == platform) {
                self.diagnostics.error(
                    key.at,
                    format!(
                        "`overrides` has {platform} twice (`{}` is the same platform as the one \
                         at line {}, column {})",
                        key.value, first.line, first.column
                    ),
                );
            }
        }
        let errors_before = self.diagnostics.count();
        let context_dir = match &entry.settings.context {
            Field::Absent => Some(build.context_dir.clone()),
            field => self.context_dir(field, key.at),
        };
        let dockerfile = match (&entry.settings.context, &entry.settings.dockerfile) {
            (Field::Absent, Field::Absent) => Some(build.dockerfile.clone()),
            (Field::Given(context), Field::Absent) => self.dockerfile(
                context_dir.as_deref(),
                &raw.settings.dockerfile,
                context.at,
                Some(&key.value),
            ),
            (_, field) => self.dockerfile(context_dir.as_deref(), field, key.at, None),
        };
        let target = match (&entry.settings.target, &entry.settings.dockerfile) {
            (Field::Absent, Field::Absent) => Some(build.target.clone()),
            (Field::Absent, _) => self.target(&raw.settings.target, dockerfile.as_deref()),
            (field, _) => self.target(field, dockerfile.as_deref()),
        };
        let own = self.settings(&entry.settings);
        self.check_mounts_need_buildkit(build.backend, &own, None, key.at);
        let build_args = merge(&own.build_args, &Field::Given(build.build_args.clone()));
        let image_secrets = by_id(build.secrets.clone(), |s| &s.id);
        let secrets = merge(&entries(&own.secrets), &Field::Given(image_secrets));
        let image_ssh = by_id(build.ssh.clone(), |s| &s.id);
        let ssh = merge(&entries(&own.ssh), &Field::Given(image_ssh));
        if self.diagnostics.count() != errors_before {
            return None;
        }
        Some(PlatformBuild {
            platform: platform?,
            build: BuildSettings {
                context_dir: context_dir?,
                dockerfile: dockerfile?,
                target: target?,
                build_args: or_default(build_args, BTreeMap::new)?,
                labels: build.labels.clone(),
                no_cache: build.no_cache,
                pull: build.pull,
                cache_from: or_default(own.cache_from, || build.cache_from.clone())?,
                cache_to: build.cache_to,
                backend: build.backend,
                secrets: or_default(secrets, BTreeMap::new)?.into_values().collect(),
                ssh: or_default(ssh, BTreeMap::new)?.into_values().collect(),
            },
        })
    }
}
