//! Small OCI image manifests mab writes itself around blobs it has stored (attestation
//! manifests, cosign signature manifests): the config blob, then the manifest by digest. Their
//! configs list the layers' digests as `rootfs.diff_ids`, as BuildKit and cosign write them.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::Serialize;

use crate::RegistryError;
use crate::manifest::{Descriptor, ImageManifest, media_types, sha256_digest, to_json_bytes};
use crate::target::Target;

/// The `rootfs` of such a config.
#[derive(Serialize)]
pub(crate) struct RootFs<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    diff_ids: Vec<&'a str>,
}

impl<'a> RootFs<'a> {
    /// The layers' digests, as diff ids.
    pub(crate) fn of(layers: &'a [Descriptor]) -> Self {
        Self {
            kind: "layers",
            diff_ids: layers.iter().map(|l| l.digest.as_str()).collect(),
        }
    }
}

/// Stores `config`, then the OCI manifest of it and `layers` (already stored) by digest;
/// returns the manifest's bytes and descriptor.
pub(crate) async fn store_oci_manifest(
    target: &Target,
    config: &impl Serialize,
    layers: Vec<Descriptor>,
) -> Result<(Vec<u8>, Descriptor), RegistryError> {
    let config = to_json_bytes(config)?;
    let config_descriptor = descriptor(media_types::OCI_CONFIG, &config);
    target
        .put_blob(Bytes::from(config), &config_descriptor.digest)
        .await?;
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: media_types::OCI_MANIFEST.to_string(),
        config: config_descriptor,
        layers,
    };
    let bytes = to_json_bytes(&manifest)?;
    let stored = descriptor(media_types::OCI_MANIFEST, &bytes);
    target
        .put_manifest_by_digest(&bytes, &stored.digest, &stored.media_type)
        .await?;
    Ok((bytes, stored))
}

/// The descriptor of `bytes` of `media_type`, without platform or annotations.
pub(crate) fn descriptor(media_type: &str, bytes: &[u8]) -> Descriptor {
    Descriptor {
        media_type: media_type.to_string(),
        digest: sha256_digest(bytes),
        size: bytes.len() as u64,
        platform: None,
        annotations: BTreeMap::new(),
    }
}
