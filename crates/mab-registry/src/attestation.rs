//! Attestations stored the way BuildKit stores them, so that `docker buildx imagetools inspect`
//! and other clients find them: per platform image, one attestation manifest (an OCI image
//! manifest whose layers are in-toto statements, `application/vnd.in-toto+json`, each annotated
//! with its `in-toto.io/predicate-type`), listed in the index after the runnable manifests with
//! platform `unknown/unknown` and the annotations `vnd.docker.reference.type:
//! attestation-manifest` and `vnd.docker.reference.digest: <the platform manifest's digest>`.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::Serialize;

use crate::RegistryError;
use crate::artifact::{RootFs, descriptor, store_oci_manifest};
use crate::manifest::{Descriptor, PlatformJson};
use crate::target::Target;

/// The media type of an in-toto statement layer.
pub const IN_TOTO_MEDIA_TYPE: &str = "application/vnd.in-toto+json";
/// The layer annotation naming a statement's predicate type.
pub const PREDICATE_TYPE_ANNOTATION: &str = "in-toto.io/predicate-type";
/// The index entry annotation saying what kind of entry it is.
pub const REFERENCE_TYPE_ANNOTATION: &str = "vnd.docker.reference.type";
/// The index entry annotation naming the manifest an attestation manifest is about.
pub const REFERENCE_DIGEST_ANNOTATION: &str = "vnd.docker.reference.digest";
/// The value of [`REFERENCE_TYPE_ANNOTATION`] for an attestation manifest.
pub const ATTESTATION_MANIFEST: &str = "attestation-manifest";

/// One in-toto statement, as the bytes to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// Its `predicateType`.
    pub predicate_type: String,
    /// The statement (JSON).
    pub bytes: Vec<u8>,
}

/// An attestation manifest stored (by digest) for one platform image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAttestation {
    /// The platform manifest it is about.
    pub subject: String,
    descriptor: Descriptor,
}

impl StoredAttestation {
    /// `sha256:…` of the attestation manifest.
    pub fn digest(&self) -> &str {
        &self.descriptor.digest
    }

    /// Its index entry: platform `unknown/unknown`, annotated with what it is about.
    pub(crate) fn index_entry(&self) -> Descriptor {
        let mut entry = self.descriptor.clone();
        entry.platform = Some(PlatformJson {
            architecture: "unknown".to_string(),
            os: "unknown".to_string(),
            os_version: None,
            os_features: Vec::new(),
            variant: None,
        });
        entry.annotations = BTreeMap::from([
            (
                REFERENCE_DIGEST_ANNOTATION.to_string(),
                self.subject.clone(),
            ),
            (
                REFERENCE_TYPE_ANNOTATION.to_string(),
                ATTESTATION_MANIFEST.to_string(),
            ),
        ]);
        entry
    }
}

/// The image config of an attestation manifest (only there for clients that want one).
#[derive(Serialize)]
struct AttestationConfig<'a> {
    architecture: &'a str,
    os: &'a str,
    config: BTreeMap<String, String>,
    rootfs: RootFs<'a>,
}

/// Stores `statements` about the platform manifest `subject` in `target`: each statement as a
/// blob, then the config, then the attestation manifest by digest (untagged).
pub async fn store_attestation(
    target: &Target,
    subject: &str,
    statements: &[Statement],
) -> Result<StoredAttestation, RegistryError> {
    let mut layers = Vec::new();
    for statement in statements {
        let mut layer = descriptor(IN_TOTO_MEDIA_TYPE, &statement.bytes);
        target
            .put_blob(Bytes::from(statement.bytes.clone()), &layer.digest)
            .await?;
        layer.annotations = BTreeMap::from([(
            PREDICATE_TYPE_ANNOTATION.to_string(),
            statement.predicate_type.clone(),
        )]);
        layers.push(layer);
    }
    let config = AttestationConfig {
        architecture: "unknown",
        os: "unknown",
        config: BTreeMap::new(),
        rootfs: RootFs::of(&layers),
    };
    let (_, descriptor) = store_oci_manifest(target, &config, layers.clone()).await?;
    Ok(StoredAttestation {
        subject: subject.to_string(),
        descriptor,
    })
}
