//! One entry of a manifest list: an image's descriptor, platform and manifest bytes, and the
//! platform changes `mab manifest annotate` makes.

use super::*;

/// One image of a manifest list: a descriptor, its platform, and the manifest bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListEntry {
    /// `registry/repo:tag` as given, or `registry/repo@digest` for an image taken from an index.
    pub(super) reference: String,
    /// The reference the user gave that this entry came from (what `--amend` reads again).
    pub(super) source: String,
    pub(super) media_type: String,
    pub(super) digest: String,
    pub(super) size: u64,
    /// The platform read from the image's config (or from the index that listed it).
    pub(super) config_platform: PlatformJson,
    /// The platform set with `annotate`; it wins over the config's and survives `--amend`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) annotated_platform: Option<PlatformJson>,
    /// Descriptor annotations (kept from an index, e.g. attestation links).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) annotations: BTreeMap<String, String>,
    /// The manifest, byte for byte (JSON is UTF-8).
    pub(super) manifest: String,
}

impl ListEntry {
    /// The reference this entry is named by.
    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// The reference given to `create` that this entry came from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The entry's manifest media type.
    pub fn media_type(&self) -> &str {
        &self.media_type
    }

    /// The entry's manifest digest.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The size of the entry's manifest in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The platform the list publishes for this entry.
    pub fn platform(&self) -> &PlatformJson {
        self.annotated_platform
            .as_ref()
            .unwrap_or(&self.config_platform)
    }

    /// Whether `annotate` changed the platform.
    pub fn is_annotated(&self) -> bool {
        self.annotated_platform.is_some()
    }

    /// Descriptor annotations.
    pub fn annotations(&self) -> &BTreeMap<String, String> {
        &self.annotations
    }

    /// The manifest bytes, after checking they still hash to the entry's digest.
    pub fn manifest_bytes(&self) -> Result<&[u8], RegistryError> {
        let bytes = self.manifest.as_bytes();
        let actual = sha256_digest(bytes);
        if actual != self.digest || bytes.len() as u64 != self.size {
            return Err(RegistryError::MalformedManifest {
                reference: self.reference.clone(),
                message: format!(
                    "the stored manifest has digest {actual} and {} bytes, the entry says {} and {} (was the store edited?)",
                    bytes.len(),
                    self.digest,
                    self.size
                ),
            });
        }
        Ok(bytes)
    }

    pub(super) fn descriptor(&self) -> Descriptor {
        Descriptor {
            media_type: self.media_type.clone(),
            digest: self.digest.clone(),
            size: self.size,
            platform: Some(self.platform().clone()),
            annotations: self.annotations.clone(),
        }
    }

    pub(super) fn new(
        reference: String,
        source: String,
        media_type: String,
        digest: String,
        raw: &[u8],
        platform: PlatformJson,
        annotations: BTreeMap<String, String>,
    ) -> Result<Self, RegistryError> {
        let manifest =
            String::from_utf8(raw.to_vec()).map_err(|_| RegistryError::MalformedManifest {
                reference: reference.clone(),
                message: "the manifest is not UTF-8 text".to_string(),
            })?;
        Ok(Self {
            reference,
            source,
            media_type,
            digest,
            size: raw.len() as u64,
            config_platform: platform,
            annotated_platform: None,
            annotations,
            manifest,
        })
    }

    /// Applies a platform change (`mab manifest annotate`). The result must be a valid platform
    /// and an os/architecture pair that images exist for; fields that are given are stored in
    /// their normalised spelling (`aarch64` → `arm64`). A new architecture without a new variant
    /// drops the old variant (it belonged to the old architecture). `os_features` are added.
    pub fn annotate(&mut self, list: &str, change: &PlatformChange) -> Result<(), RegistryError> {
        let invalid = |message: String| RegistryError::InvalidPlatform {
            list: list.to_string(),
            image: self.reference.clone(),
            message,
        };
        let mut next = self.platform().clone();
        if let Some(os) = &change.os {
            next.os = os.trim().to_string();
        }
        if let Some(architecture) = &change.architecture {
            if architecture.trim() != next.architecture && change.variant.is_none() {
                next.variant = None;
            }
            next.architecture = architecture.trim().to_string();
        }
        if let Some(variant) = &change.variant {
            next.variant = Some(variant.trim().to_string()).filter(|v| !v.is_empty());
        }
        let platform = next.to_platform().map_err(|e| invalid(e.to_string()))?;
        if !platform.is_supported_pair() {
            return Err(invalid(format!(
                "{}/{} is not an os/architecture pair that images exist for",
                platform.os(),
                platform.architecture()
            )));
        }
        if change.os.is_some() {
            next.os = platform.os().to_string();
        }
        if change.architecture.is_some() {
            next.architecture = platform.architecture().to_string();
        }
        if change.variant.is_some() {
            next.variant = platform.variant().map(str::to_string);
        }
        if let Some(version) = &change.os_version {
            next.os_version = Some(version.trim().to_string()).filter(|v| !v.is_empty());
        }
        for feature in &change.os_features {
            let feature = feature.trim();
            if !feature.is_empty() && !next.os_features.iter().any(|f| f == feature) {
                next.os_features.push(feature.to_string());
            }
        }
        self.annotated_platform = Some(next);
        Ok(())
    }
}

/// What `mab manifest annotate` changes in an entry's platform; `None` keeps a field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlatformChange {
    /// The new os, if it changes.
    pub os: Option<String>,
    /// The new architecture, if it changes.
    pub architecture: Option<String>,
    /// The new variant, if it changes.
    pub variant: Option<String>,
    /// An empty string removes `os.version`.
    pub os_version: Option<String>,
    /// Added to `os.features` (each once).
    pub os_features: Vec<String>,
}

impl PlatformChange {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}
