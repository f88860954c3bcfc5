//! The validated plan. Values of these types exist only when every check has passed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mab_platform::Platform;

use crate::Repository;

/// A validated build plan: which images to build for which platforms, and where to push them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Plan {
    pub(crate) file: PathBuf,
    pub(crate) registries: BTreeMap<String, RegistrySettings>,
    pub(crate) images: Vec<ImageSpec>,
}

impl Plan {
    /// The plan file, as the user named it.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The images to build, in the order of the plan (at least one).
    pub fn images(&self) -> &[ImageSpec] {
        &self.images
    }

    /// The settings for a registry `host[:port]` (exact match, e.g. `127.0.0.1:5000`), if the
    /// plan has any under `registries:`.
    pub fn registry(&self, host: &str) -> Option<&RegistrySettings> {
        self.registries.get(host)
    }

    /// Every registry with settings, sorted by host.
    pub fn registries(&self) -> impl Iterator<Item = (&str, &RegistrySettings)> {
        self.registries
            .iter()
            .map(|(host, settings)| (host.as_str(), settings))
    }
}

/// Settings for one registry host.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RegistrySettings {
    pub(crate) insecure: bool,
}

impl RegistrySettings {
    /// Whether to talk plain HTTP to the registry instead of HTTPS.
    pub fn insecure(&self) -> bool {
        self.insecure
    }
}

/// One image to build for several platforms and push under several tags.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImageSpec {
    pub(crate) repository: Repository,
    pub(crate) context_dir: PathBuf,
    pub(crate) dockerfile: PathBuf,
    pub(crate) platforms: Vec<Platform>,
    pub(crate) tags: Vec<String>,
    pub(crate) build_args: BTreeMap<String, String>,
    pub(crate) format: ManifestFormat,
}

impl ImageSpec {
    /// Where the image is pushed.
    pub fn repository(&self) -> &Repository {
        &self.repository
    }

    /// The build context folder: the plan's folder joined with `context`, normalised lexically
    /// (`.` and `..` resolved without looking at the filesystem). Relative when the plan's path
    /// is relative.
    pub fn context_dir(&self) -> &Path {
        &self.context_dir
    }

    /// The Dockerfile: the context folder joined with `dockerfile`, normalised lexically. It may
    /// lie outside the context folder (e.g. `dockerfile: ../Dockerfile`).
    pub fn dockerfile(&self) -> &Path {
        &self.dockerfile
    }

    /// The target platforms, normalised, in the order of the plan; never empty, no duplicates.
    pub fn platforms(&self) -> &[Platform] {
        &self.platforms
    }

    /// The tags to push, in the order of the plan; never empty, all valid, no duplicates.
    pub fn tags(&self) -> &[String] {
        &self.tags
    }

    /// `--build-arg` values, with environment variables expanded.
    pub fn build_args(&self) -> &BTreeMap<String, String> {
        &self.build_args
    }

    /// The kind of multi-platform manifest to push.
    pub fn format(&self) -> ManifestFormat {
        self.format
    }
}

/// The kind of multi-platform manifest (and per-platform manifests) to push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ManifestFormat {
    /// An OCI image index (`application/vnd.oci.image.index.v1+json`).
    #[default]
    Oci,
    /// A Docker manifest list (`application/vnd.docker.distribution.manifest.list.v2+json`).
    Docker,
}

impl ManifestFormat {
    /// The spelling used in plans: `oci` or `docker`.
    pub fn as_str(self) -> &'static str {
        match self {
            ManifestFormat::Oci => "oci",
            ManifestFormat::Docker => "docker",
        }
    }
}
