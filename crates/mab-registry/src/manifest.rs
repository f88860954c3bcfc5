//! Manifest, index and descriptor documents, as bytes we compute digests of ourselves.

use std::collections::BTreeMap;

use mab_platform::Platform;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::RegistryError;

/// Media types mab reads and writes.
pub mod media_types {
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
}

/// Which family of media types an image and its index use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ManifestFormat {
    /// OCI image index + OCI image manifests (the default).
    #[default]
    Oci,
    /// Docker manifest list + Docker schema 2 manifests (what `docker manifest` writes).
    Docker,
}

impl ManifestFormat {
    pub(crate) fn index_media_type(self) -> &'static str {
        match self {
            Self::Oci => media_types::OCI_INDEX,
            Self::Docker => media_types::DOCKER_LIST,
        }
    }

    pub(crate) fn manifest_media_type(self) -> &'static str {
        match self {
            Self::Oci => media_types::OCI_MANIFEST,
            Self::Docker => media_types::DOCKER_MANIFEST,
        }
    }

    pub(crate) fn config_media_type(self) -> &'static str {
        match self {
            Self::Oci => media_types::OCI_CONFIG,
            Self::Docker => media_types::DOCKER_CONFIG,
        }
    }

    pub(crate) fn gzip_layer_media_type(self) -> &'static str {
        match self {
            Self::Oci => media_types::OCI_LAYER_GZIP,
            Self::Docker => media_types::DOCKER_LAYER_GZIP,
        }
    }
}

/// How layers that the daemon exports uncompressed are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LayerCompression {
    /// gzip: what every client reads (the default).
    #[default]
    Gzip,
    /// zstd (OCI format only).
    Zstd,
    /// Uncompressed tar (OCI format only).
    None,
}

impl LayerCompression {
    /// The media type of such a layer in a manifest of `format`, or `None` when the format
    /// cannot describe it (a Docker manifest knows only gzip).
    pub(crate) fn media_type(self, format: ManifestFormat) -> Option<&'static str> {
        match (self, format) {
            (Self::Gzip, format) => Some(format.gzip_layer_media_type()),
            (Self::Zstd, ManifestFormat::Oci) => Some(media_types::OCI_LAYER_ZSTD),
            (Self::None, ManifestFormat::Oci) => Some(media_types::OCI_LAYER_TAR),
            (_, ManifestFormat::Docker) => None,
        }
    }

    /// The name of the layer cache's folder for blobs made this way: a change of the
    /// compressor's settings must never serve digests made with other settings.
    pub(crate) fn cache_key(self) -> &'static str {
        match self {
            Self::Gzip => "gzip-members-1m-v3",
            Self::Zstd => "zstd-frames-1m-v1",
            Self::None => "tar-v1",
        }
    }
}

/// The platform object of an index entry (also what an image config declares), field for field
/// as written, so that a list built from configs has exactly the platforms the docker CLI writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformJson {
    pub architecture: String,
    pub os: String,
    #[serde(
        rename = "os.version",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub os_version: Option<String>,
    #[serde(rename = "os.features", skip_serializing_if = "Vec::is_empty", default)]
    pub os_features: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub variant: Option<String>,
}

impl From<&Platform> for PlatformJson {
    fn from(p: &Platform) -> Self {
        Self {
            architecture: p.architecture().to_string(),
            os: p.os().to_string(),
            os_version: None,
            os_features: Vec::new(),
            variant: p.variant().map(str::to_string),
        }
    }
}

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub platform: Option<PlatformJson>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub annotations: BTreeMap<String, String>,
}

/// An image manifest (OCI or Docker schema 2; same shape).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ImageManifest {
    pub schema_version: u32,
    /// Optional in OCI manifests.
    #[serde(default)]
    pub media_type: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// An image index or manifest list (same shape).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ImageIndex {
    pub schema_version: u32,
    /// Optional in OCI indexes.
    #[serde(default)]
    pub media_type: String,
    pub manifests: Vec<Descriptor>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub annotations: BTreeMap<String, String>,
}

/// An index that has been stored under its tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedIndex {
    /// `sha256:…` of the index bytes.
    pub digest: String,
    pub media_type: String,
    pub size: u64,
}

/// `sha256:<hex>` of some bytes.
pub(crate) fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Serialises a document the way it will be stored (pretty JSON, like the docker CLI writes).
pub(crate) fn to_json_bytes<T: Serialize>(doc: &T) -> Result<Vec<u8>, RegistryError> {
    serde_json::to_vec_pretty(doc).map_err(|source| RegistryError::Serialize { source })
}
