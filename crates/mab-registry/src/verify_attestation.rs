//! The part of verification that reads attestation manifests: each must say which image of the
//! index it is about, and each of its in-toto statements must name that image's digest as its
//! subject and be of the predicate type its layer says.

use serde::{Deserialize, Serialize};

use crate::RegistryError;
use crate::attestation::{
    ATTESTATION_MANIFEST, IN_TOTO_MEDIA_TYPE, PREDICATE_TYPE_ANNOTATION,
    REFERENCE_DIGEST_ANNOTATION, REFERENCE_TYPE_ANNOTATION,
};
use crate::manifest::{Descriptor, ImageManifest};
use crate::remote::RemoteRepository;
use crate::verify::VerifyReport;

/// The largest statement read (an SBOM of a large image is a few MiB).
const MAX_STATEMENT: u64 = 64 * 1024 * 1024;

/// An attestation manifest that was checked.
#[derive(Debug, Clone, Serialize)]
pub struct VerifiedAttestation {
    /// `sha256:…` of the attestation manifest.
    pub digest: String,
    /// The platform manifest it is about.
    pub subject: String,
    /// The predicate types of its statements, in order.
    pub predicate_types: Vec<String>,
}

#[derive(Deserialize)]
struct StatementHead {
    #[serde(rename = "predicateType")]
    predicate_type: String,
    subject: Vec<Subject>,
}

#[derive(Deserialize)]
struct Subject {
    digest: std::collections::BTreeMap<String, String>,
}

/// Checks the attestation manifest of index `entry` (whose bytes are `raw`); `images` are the
/// digests of the index's runnable manifests. Problems go into `report`.
pub(crate) async fn check_attestation(
    repository: &RemoteRepository,
    raw: &[u8],
    entry: &Descriptor,
    images: &[&str],
    report: &mut VerifyReport,
) -> Result<(), RegistryError> {
    let what = format!("{}@{}", repository.name(), entry.digest);
    if entry
        .annotations
        .get(REFERENCE_TYPE_ANNOTATION)
        .map(String::as_str)
        != Some(ATTESTATION_MANIFEST)
    {
        // Not an attestation manifest (another unknown/unknown entry): nothing to check here.
        return Ok(());
    }
    let Some(subject) = entry.annotations.get(REFERENCE_DIGEST_ANNOTATION) else {
        report.problems.push(format!(
            "{what}: an attestation manifest without `{REFERENCE_DIGEST_ANNOTATION}`"
        ));
        return Ok(());
    };
    if !images.contains(&subject.as_str()) {
        report.problems.push(format!(
            "{what}: an attestation manifest about {subject}, which is not an image of the index"
        ));
    }
    let Ok(manifest) = serde_json::from_slice::<ImageManifest>(raw) else {
        return Ok(()); // reported by the image check
    };
    let hex = subject.strip_prefix("sha256:").unwrap_or(subject);
    let mut predicate_types = Vec::new();
    for layer in manifest
        .layers
        .iter()
        .filter(|l| l.media_type == IN_TOTO_MEDIA_TYPE)
    {
        let bytes = match repository
            .pull_small_blob(&layer.digest, MAX_STATEMENT)
            .await
        {
            Ok(bytes) => bytes,
            Err(RegistryError::BlobNotFound { .. }) => continue, // reported by the image check
            Err(e) => return Err(e),
        };
        let statement: StatementHead = match serde_json::from_slice(&bytes) {
            Ok(statement) => statement,
            Err(e) => {
                report.problems.push(format!(
                    "{what}: statement {} is not an in-toto statement: {e}",
                    layer.digest
                ));
                continue;
            }
        };
        if let Some(annotated) = layer.annotations.get(PREDICATE_TYPE_ANNOTATION)
            && *annotated != statement.predicate_type
        {
            report.problems.push(format!(
                "{what}: statement {} is annotated {annotated} but its predicate type is {}",
                layer.digest, statement.predicate_type
            ));
        }
        let names_subject = statement
            .subject
            .iter()
            .any(|s| s.digest.get("sha256").map(String::as_str) == Some(hex));
        if !names_subject {
            report.problems.push(format!(
                "{what}: the {} statement's subject is not {subject}",
                statement.predicate_type
            ));
        }
        predicate_types.push(statement.predicate_type);
    }
    report.attestations.push(VerifiedAttestation {
        digest: entry.digest.clone(),
        subject: subject.clone(),
        predicate_types,
    });
    Ok(())
}
