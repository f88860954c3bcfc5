//! What the plan asks of the supply chain for an image: which attestations are attached to each
//! platform's image, and whether (and with which key) what is published is signed.

use std::path::{Path, PathBuf};

/// The in-toto attestations attached to each platform's image (`attestations:`; both off by
/// default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Attestations {
    pub(crate) provenance: bool,
    pub(crate) sbom: bool,
}

impl Attestations {
    /// A SLSA provenance v1 statement: how the image was built.
    pub fn provenance(&self) -> bool {
        self.provenance
    }

    /// An SPDX 2.3 document: what software the image holds.
    pub fn sbom(&self) -> bool {
        self.sbom
    }

    /// Whether any attestation is attached.
    pub fn any(&self) -> bool {
        self.provenance || self.sbom
    }

    pub(crate) fn is_none(&self) -> bool {
        !self.any()
    }
}

/// How what is published is signed (`sign:`): with a cosign private key, cosign's way.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Signing {
    pub(crate) key: PathBuf,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) manifests: bool,
}

impl Signing {
    /// The cosign private key file (`cosign generate-key-pair`): the plan's folder joined with
    /// `key`, normalised lexically, checked to exist. Its password is read from
    /// `COSIGN_PASSWORD` when the plan is built, never from the plan.
    pub fn key(&self) -> &Path {
        &self.key
    }

    /// Whether each platform's manifest is signed too (the index always is).
    pub fn manifests(&self) -> bool {
        self.manifests
    }
}
