//! Manifest, index and descriptor documents, as bytes we compute digests of ourselves.

use std::collections::BTreeMap;

use mab_platform::Platform;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::RegistryError;

pub use mab_vocab::media::media_types;
pub use mab_vocab::{LayerCompression, ManifestFormat};

/// The name of the layer cache's folder for blobs made with `compression`: a change of the
/// compressor's settings must never serve digests made with other settings.
pub(crate) fn cache_key(compression: LayerCompression) -> &'static str {
    match compression {
        LayerCompression::Gzip => "gzip-members-1m-v3",
        LayerCompression::Zstd => "zstd-frames-1m-v1",
        LayerCompression::None => "tar-v1",
    }
}

/// The platform object of an index entry (also what an image config declares), field for field
/// as written, so that a list built from configs has exactly the platforms the docker CLI writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformJson {
    /// The CPU architecture (`amd64`, `arm64`).
    pub architecture: String,
    /// The operating system (`linux`).
    pub os: String,
    #[serde(
        rename = "os.version",
        skip_serializing_if = "Option::is_none",
        default
    )]
    /// The OS version (`os.version`), if any.
    pub os_version: Option<String>,
    /// The OS features (`os.features`).
    #[serde(rename = "os.features", skip_serializing_if = "Vec::is_empty", default)]
    pub os_features: Vec<String>,
    /// The architecture variant (`v8`), if any.
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
    /// Its media type.
    pub media_type: String,
    /// Its size in bytes.
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
