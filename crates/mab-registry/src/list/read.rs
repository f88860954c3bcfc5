//! What the list's jobs share: the platform of an index entry as written, the kind of a
//! manifest (image or index), and the platform an image's config declares.

use super::*;

impl PlatformJson {
    /// The platform in mab's one notion of platform (normalised like containerd).
    pub fn to_platform(&self) -> Result<Platform, ParsePlatformError> {
        Platform::from_parts(&self.os, &self.architecture, self.variant.as_deref())
    }

    /// Whether this is the `unknown/unknown` platform BuildKit gives attestation manifests.
    pub(super) fn is_unknown(&self) -> bool {
        self.os == "unknown" && self.architecture == "unknown"
    }
}

/// `os/architecture[/variant]` as written (not normalised).
impl fmt::Display for PlatformJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = self.variant.as_deref().filter(|v| !v.is_empty()) {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// The platform fields of an image config (all optional there).
#[derive(Deserialize)]
pub(super) struct ConfigPlatform {
    #[serde(default)]
    pub(super) architecture: String,
    #[serde(default)]
    pub(super) os: String,
    #[serde(rename = "os.version", default)]
    pub(super) os_version: Option<String>,
    #[serde(rename = "os.features", default)]
    pub(super) os_features: Option<Vec<String>>,
    #[serde(default)]
    pub(super) variant: Option<String>,
}

/// Enough of a manifest to tell an image from an index.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ManifestProbe {
    #[serde(default)]
    pub(super) schema_version: Option<u32>,
    #[serde(default)]
    pub(super) media_type: Option<String>,
    #[serde(default)]
    pub(super) manifests: Option<serde_json::Value>,
    #[serde(default)]
    pub(super) config: Option<serde_json::Value>,
}

/// An index's bytes, parsed (`reference` names it in the error).
pub(crate) fn parse_index(raw: &[u8], reference: &str) -> Result<ImageIndex, RegistryError> {
    serde_json::from_slice(raw).map_err(|e| RegistryError::MalformedManifest {
        reference: reference.to_string(),
        message: format!("the index does not parse: {e}"),
    })
}

/// The media type of manifest bytes, and whether they are an index.
pub(crate) fn classify(raw: &[u8], reference: &str) -> Result<(String, bool), RegistryError> {
    let malformed = |message: String| RegistryError::MalformedManifest {
        reference: reference.to_string(),
        message,
    };
    let probe: ManifestProbe = serde_json::from_slice(raw)
        .map_err(|e| malformed(format!("the manifest is not valid json: {e}")))?;
    if probe.schema_version != Some(2) {
        return Err(malformed(format!(
            "schema version {:?} is not supported (only 2)",
            probe.schema_version
        )));
    }
    let media_type = match probe.media_type.filter(|m| !m.is_empty()) {
        Some(media_type) => media_type,
        None if probe.manifests.is_some() => media_types::OCI_INDEX.to_string(),
        None if probe.config.is_some() => media_types::OCI_MANIFEST.to_string(),
        None => return Err(malformed("it has no mediaType, config or manifests".into())),
    };
    match media_type.as_str() {
        media_types::DOCKER_LIST | media_types::OCI_INDEX => Ok((media_type, true)),
        media_types::DOCKER_MANIFEST | media_types::OCI_MANIFEST => Ok((media_type, false)),
        other => Err(malformed(format!(
            "media type {other} is neither an image manifest nor an index"
        ))),
    }
}

/// The platform an image manifest's config declares.
pub(crate) async fn config_platform(
    repository: &RemoteRepository,
    raw: &[u8],
    reference: &str,
) -> Result<PlatformJson, RegistryError> {
    let malformed = |message: String| RegistryError::MalformedManifest {
        reference: reference.to_string(),
        message,
    };
    let manifest: ImageManifest = serde_json::from_slice(raw)
        .map_err(|e| malformed(format!("the image manifest does not parse: {e}")))?;
    let config = repository
        .pull_small_blob(&manifest.config.digest, MAX_CONFIG_SIZE)
        .await?;
    if config.len() as u64 != manifest.config.size {
        return Err(malformed(format!(
            "its config is {} bytes, the manifest says {}",
            config.len(),
            manifest.config.size
        )));
    }
    let declared: ConfigPlatform = serde_json::from_slice(&config)
        .map_err(|e| malformed(format!("its config does not parse: {e}")))?;
    if declared.os.is_empty() || declared.architecture.is_empty() {
        return Err(malformed(format!(
            "its config ({}) declares no os/architecture, so it is not a runnable image",
            manifest.config.media_type
        )));
    }
    Ok(PlatformJson {
        architecture: declared.architecture,
        os: declared.os,
        os_version: declared.os_version.filter(|v| !v.is_empty()),
        os_features: declared.os_features.unwrap_or_default(),
        variant: declared.variant.filter(|v| !v.is_empty()),
    })
}
