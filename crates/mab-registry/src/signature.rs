//! Signatures stored the way cosign stores them, so that `cosign verify --key` finds them: for a
//! manifest (or index) `sha256:HEX`, an OCI image manifest tagged `sha256-HEX.sig` whose layers
//! are simple-signing payloads (`application/vnd.dev.cosign.simplesigning.v1+json`), each with
//! its base64 signature in the annotation `dev.cosignproject.cosign/signature`. A signature
//! already there (another key's, an earlier run's) is kept: ours is added beside it, once.
//!
//! What is signed and how is the [`Signer`]'s business (mab-sign's keys, wired by the
//! pipeline); this file only stores and reads.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::Serialize;

use crate::RegistryError;
use crate::artifact::{RootFs, descriptor, store_oci_manifest};
use crate::manifest::{Descriptor, ImageManifest, sha256_digest};
use crate::remote::{RegistryClient, RemoteRepository};
use crate::target::Target;
use mab_vocab::ImageReference;

/// The media type of a simple-signing payload layer.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The largest signature manifest or payload read.
const MAX_SIGNATURE_DOCUMENT: u64 = 1024 * 1024;

/// A signed payload and its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSignature {
    /// The simple-signing payload (JSON) that was signed.
    pub payload: Vec<u8>,
    /// The signature, base64 (ASN.1 DER ECDSA, as cosign writes it).
    pub signature: String,
}

/// Signs what is published.
pub trait Signer: Send + Sync {
    /// The signature of the manifest `digest` of `repository` (`registry/path`).
    fn sign(&self, repository: &str, digest: &str) -> ImageSignature;
    /// Whether each platform's manifest is signed too (the index always is).
    fn signs_manifests(&self) -> bool;
}

/// The tag of the signatures of `digest`: `sha256-HEX.sig`.
pub fn signature_tag(digest: &str) -> String {
    format!("{}.sig", digest.replacen(':', "-", 1))
}

/// The config cosign writes for a signature manifest.
#[derive(Serialize)]
struct SignatureConfig<'a> {
    architecture: &'a str,
    created: &'a str,
    history: [History<'a>; 1],
    os: &'a str,
    rootfs: RootFs<'a>,
    config: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct History<'a> {
    created: &'a str,
}

/// Stores `signature` of the manifest `digest` in `target` under `sha256-HEX.sig`, beside the
/// signatures already there.
pub(crate) async fn store_signature(
    target: &Target,
    digest: &str,
    signature: &ImageSignature,
) -> Result<(), RegistryError> {
    let tag = signature_tag(digest);
    let mut layers = match target {
        Target::Registry(repo) => existing_layers(repo, &tag).await?,
        Target::Layout { .. } => Vec::new(),
    };
    let payload_digest = sha256_digest(&signature.payload);
    let already = layers.iter().any(|layer| {
        layer.digest == payload_digest
            && layer.annotations.get(SIGNATURE_ANNOTATION) == Some(&signature.signature)
    });
    if already {
        return Ok(());
    }
    target
        .put_blob(Bytes::from(signature.payload.clone()), &payload_digest)
        .await?;
    let mut layer = descriptor(SIMPLE_SIGNING_MEDIA_TYPE, &signature.payload);
    layer.annotations = BTreeMap::from([(
        SIGNATURE_ANNOTATION.to_string(),
        signature.signature.clone(),
    )]);
    layers.push(layer);
    const ZERO_TIME: &str = "0001-01-01T00:00:00Z";
    let config = SignatureConfig {
        architecture: "",
        created: ZERO_TIME,
        history: [History { created: ZERO_TIME }],
        os: "",
        rootfs: RootFs::of(&layers),
        config: BTreeMap::new(),
    };
    let (bytes, stored) = store_oci_manifest(target, &config, layers.clone()).await?;
    target.tag_manifest(&tag, &bytes, &stored).await
}

/// The layers of the signature manifest under `tag`, if there is one that reads.
async fn existing_layers(
    repo: &RemoteRepository,
    tag: &str,
) -> Result<Vec<Descriptor>, RegistryError> {
    match repo.pull_manifest_raw(tag).await {
        Ok((bytes, _)) => Ok(serde_json::from_slice::<ImageManifest>(&bytes)
            .map(|m| m.layers)
            .unwrap_or_default()),
        Err(RegistryError::ManifestNotFound { .. }) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// The signatures stored for the manifest `digest` in `image`'s repository (none when there is
/// no `sha256-HEX.sig`).
pub async fn read_signatures(
    client: &RegistryClient,
    image: &ImageReference,
    digest: &str,
) -> Result<Vec<ImageSignature>, RegistryError> {
    let repo = crate::list::remote_of(image, client);
    let layers = existing_layers(&repo, &signature_tag(digest)).await?;
    let mut signatures = Vec::new();
    for layer in layers {
        let Some(signature) = layer.annotations.get(SIGNATURE_ANNOTATION) else {
            continue;
        };
        if layer.media_type != SIMPLE_SIGNING_MEDIA_TYPE {
            continue;
        }
        let payload = repo
            .pull_small_blob(&layer.digest, MAX_SIGNATURE_DOCUMENT)
            .await?;
        signatures.push(ImageSignature {
            payload: payload.to_vec(),
            signature: signature.clone(),
        });
    }
    Ok(signatures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_is_cosigns() {
        assert_eq!(
            signature_tag(
                "sha256:0df59cfc426d288147e12fec4293030785334d4fbfe1bd23cac0628b07a30144"
            ),
            "sha256-0df59cfc426d288147e12fec4293030785334d4fbfe1bd23cac0628b07a30144.sig"
        );
    }
}
