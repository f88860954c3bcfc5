//! Reads a published image back and checks that it is what a client will need: every digest,
//! size and media type right, every blob present, every index entry's platform the one its image
//! config declares. Used after `mab build` pushes, and by `mab verify REF` on demand.

use mab_platform::Platform;
use serde::Serialize;

use crate::RegistryError;
use crate::list::{classify, config_platform};
use crate::manifest::{Descriptor, ImageIndex, ImageManifest, PlatformJson};
use crate::remote::{RegistryClient, RemoteRepository};
use futures::StreamExt as _;
use mab_vocab::ImageReference;

/// What a verification found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// The reference checked.
    pub reference: String,
    /// `sha256:…` of the manifest or index the reference points at.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// One line per image checked (one for a single image, one per index entry).
    pub images: Vec<VerifiedImage>,
    /// Every attestation manifest checked (their subjects are images of the index).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attestations: Vec<crate::VerifiedAttestation>,
    /// Every problem found; empty when the image is sound.
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// Whether nothing is wrong.
    pub fn is_sound(&self) -> bool {
        self.problems.is_empty()
    }
}

/// One image manifest that was checked.
#[derive(Debug, Clone, Serialize)]
pub struct VerifiedImage {
    /// `os/arch[/variant]` from the index entry (or the config, for a single image).
    pub platform: String,
    /// `sha256:…` of the image manifest.
    pub digest: String,
    /// How many layers it has.
    pub layers: usize,
    /// Total size of its layers.
    pub layers_size: u64,
}

/// What a manifest or index document says, parsed and checked for shape (no network).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedDocument {
    /// Its media type (declared, or inferred for OCI documents without one).
    pub media_type: String,
    /// Whether it is an index (or manifest list).
    pub is_index: bool,
    /// `sha256:…` of what it names: the child manifests of an index, or the config and then the
    /// layers of an image manifest.
    pub children: Vec<String>,
}

/// Parses a manifest or index as a registry served it: the same checks `mab verify` and
/// `mab manifest inspect` make before following any digest.
pub fn parse_document(raw: &[u8], reference: &str) -> Result<ParsedDocument, RegistryError> {
    let (media_type, is_index) = classify(raw, reference)?;
    let malformed = |e: serde_json::Error| RegistryError::MalformedManifest {
        reference: reference.to_string(),
        message: format!("it does not parse: {e}"),
    };
    let children: Vec<String> = if is_index {
        let index: ImageIndex = serde_json::from_slice(raw).map_err(malformed)?;
        index.manifests.into_iter().map(|d| d.digest).collect()
    } else {
        let manifest: ImageManifest = serde_json::from_slice(raw).map_err(malformed)?;
        std::iter::once(manifest.config)
            .chain(manifest.layers)
            .map(|d| d.digest)
            .collect()
    };
    for digest in &children {
        if mab_vocab::sha256_hex(digest).is_none() {
            return Err(RegistryError::MalformedManifest {
                reference: reference.to_string(),
                message: format!("it names {digest:?}, which is not a sha256 digest"),
            });
        }
    }
    Ok(ParsedDocument {
        media_type,
        is_index,
        children,
    })
}

/// Checks `image` in its registry. `expected_digest`, when given, is the digest the reference must
/// point at (after a push: the index just published). Transport failures are errors; anything
/// wrong with what is stored is a problem in the report.
pub async fn verify_image(
    client: &RegistryClient,
    image: &ImageReference,
    expected_digest: Option<&str>,
) -> Result<VerifyReport, RegistryError> {
    verify_in(
        &crate::list::remote_of(image, client),
        &image.to_string(),
        image.tag_or_digest(),
        expected_digest,
    )
    .await
}

/// [`verify_image`] of `tag_or_digest` in a repository handle.
pub(crate) async fn verify_in(
    repository: &RemoteRepository,
    reference: &str,
    tag_or_digest: &str,
    expected_digest: Option<&str>,
) -> Result<VerifyReport, RegistryError> {
    let reference = reference.to_string();
    let (raw, digest) = repository.pull_manifest_raw(tag_or_digest).await?;
    let mut report = VerifyReport {
        reference: reference.clone(),
        digest: digest.clone(),
        media_type: String::new(),
        images: Vec::new(),
        attestations: Vec::new(),
        problems: Vec::new(),
    };
    if let Some(expected) = expected_digest
        && expected != digest
    {
        report.problems.push(format!(
            "{reference} points at {digest}, expected {expected}"
        ));
    }
    let (media_type, is_index) = match classify(&raw, &reference) {
        Ok(classified) => classified,
        Err(e) => {
            report.problems.push(e.to_string());
            return Ok(report);
        }
    };
    report.media_type = media_type;
    if !is_index {
        let platform = match config_platform(repository, &raw, &reference).await {
            Ok(platform) => describe_platform(&platform),
            Err(e) => {
                report.problems.push(e.to_string());
                "unknown".to_string()
            }
        };
        check_image(repository, &raw, &digest, platform, None, &mut report).await?;
        return Ok(report);
    }
    let index: ImageIndex = match serde_json::from_slice(&raw) {
        Ok(index) => index,
        Err(e) => {
            report
                .problems
                .push(format!("the index {reference} does not parse: {e}"));
            return Ok(report);
        }
    };
    if index.manifests.is_empty() {
        report
            .problems
            .push(format!("the index {reference} lists no manifests"));
    }
    let runnable: Vec<&str> = index
        .manifests
        .iter()
        .filter(|e| !e.platform.as_ref().is_some_and(is_unknown))
        .map(|e| e.digest.as_str())
        .collect();
    // The entries are checked a few at a time (each is a manifest, a config and a HEAD per
    // blob: one after the other they were most of the time a publish took), and their findings
    // reported in the index's order.
    // (The futures are made in a loop: made by a closure over borrowed entries, the whole
    // future could not be shown `Send` for every lifetime.)
    let mut checks = Vec::with_capacity(index.manifests.len());
    for entry in &index.manifests {
        checks.push(check_entry(repository, entry, &runnable));
    }
    let parts: Vec<Result<VerifyReport, RegistryError>> = futures::stream::iter(checks)
        .buffered(ENTRIES_AT_ONCE)
        .collect()
        .await;
    for part in parts {
        let part = part?;
        report.problems.extend(part.problems);
        report.images.extend(part.images);
        report.attestations.extend(part.attestations);
    }
    Ok(report)
}

/// How many index entries are checked at once, and how many blobs of an image.
const ENTRIES_AT_ONCE: usize = 4;
const BLOBS_AT_ONCE: usize = 8;

/// Checks one entry of an index: its manifest is there with the size and media type the index
/// says, its config's platform is the entry's (an attestation's subject is an image of the
/// index), and its blobs are there. Only `images`, `attestations` and `problems` are filled.
async fn check_entry(
    repository: &RemoteRepository,
    entry: &Descriptor,
    runnable: &[&str],
) -> Result<VerifyReport, RegistryError> {
    let mut part = VerifyReport::default();
    let what = format!("{}@{}", repository.name(), entry.digest);
    let child = match repository.pull_manifest_raw(&entry.digest).await {
        Ok((bytes, _)) => bytes,
        Err(RegistryError::ManifestNotFound { .. }) => {
            part.problems.push(format!(
                "the index names {what}, which is not in the registry"
            ));
            return Ok(part);
        }
        Err(RegistryError::DigestMismatch {
            expected, actual, ..
        }) => {
            part.problems.push(format!(
                "{what}: the registry serves content with digest {actual}, expected {expected}"
            ));
            return Ok(part);
        }
        Err(e) => return Err(e),
    };
    if child.len() as u64 != entry.size {
        part.problems.push(format!(
            "{what}: the index says {} bytes, the manifest is {}",
            entry.size,
            child.len()
        ));
    }
    match classify(&child, &what) {
        Ok((child_type, false)) if child_type == entry.media_type => {}
        Ok((child_type, false)) => part.problems.push(format!(
            "{what}: the index says media type {}, the manifest is {child_type}",
            entry.media_type
        )),
        Ok((_, true)) => part.problems.push(format!(
            "{what}: an index inside an index is not a runnable image"
        )),
        Err(e) => {
            part.problems.push(e.to_string());
            return Ok(part);
        }
    }
    let declared = match &entry.platform {
        Some(platform) => platform.clone(),
        None => {
            part.problems
                .push(format!("{what}: the index entry has no platform"));
            return Ok(part);
        }
    };
    let is_attestation = is_unknown(&declared);
    if is_attestation {
        crate::verify_attestation::check_attestation(
            repository, &child, entry, runnable, &mut part,
        )
        .await?;
    } else {
        match config_platform(repository, &child, &what).await {
            Ok(config) => {
                if !platform_matches(&declared, &config) {
                    part.problems.push(format!(
                        "{what}: the index says {}, but its image config is {}",
                        describe_platform(&declared),
                        describe_platform(&config)
                    ));
                }
            }
            Err(e) => part.problems.push(e.to_string()),
        }
    }
    check_image(
        repository,
        &child,
        &entry.digest,
        describe_platform(&declared),
        Some(&what),
        &mut part,
    )
    .await?;
    Ok(part)
}

/// Checks that every blob of an image manifest is present.
async fn check_image(
    repository: &RemoteRepository,
    raw: &[u8],
    digest: &str,
    platform: String,
    what: Option<&str>,
    report: &mut VerifyReport,
) -> Result<(), RegistryError> {
    let what = what.map_or_else(|| format!("{}@{digest}", repository.name()), str::to_string);
    let manifest: ImageManifest = match serde_json::from_slice(raw) {
        Ok(manifest) => manifest,
        Err(e) => {
            report
                .problems
                .push(format!("{what}: the image manifest does not parse: {e}"));
            return Ok(());
        }
    };
    let blobs: Vec<_> = std::iter::once(&manifest.config)
        .chain(&manifest.layers)
        .collect();
    let mut heads = Vec::with_capacity(blobs.len());
    for blob in &blobs {
        heads.push(repository.blob_exists(&blob.digest));
    }
    let present: Vec<Result<bool, RegistryError>> = futures::stream::iter(heads)
        .buffered(BLOBS_AT_ONCE)
        .collect()
        .await;
    for (blob, present) in blobs.iter().zip(present) {
        if !present? {
            report.problems.push(format!(
                "{what}: blob {} is not in {}",
                blob.digest,
                repository.name()
            ));
        }
    }
    report.images.push(VerifiedImage {
        platform,
        digest: digest.to_string(),
        layers: manifest.layers.len(),
        layers_size: manifest.layers.iter().map(|l| l.size).sum(),
    });
    Ok(())
}

/// Whether an index entry's platform and a config's agree (containerd's normalisation; a config
/// without a variant matches the default one).
fn platform_matches(declared: &PlatformJson, config: &PlatformJson) -> bool {
    match Platform::from_parts(
        &declared.os,
        &declared.architecture,
        declared.variant.as_deref(),
    ) {
        Ok(platform) => {
            platform.matches_config(&config.os, &config.architecture, config.variant.as_deref())
        }
        Err(_) => declared.os == config.os && declared.architecture == config.architecture,
    }
}

/// `unknown/unknown`: the platform of attestation manifests.
fn is_unknown(platform: &PlatformJson) -> bool {
    platform.os == "unknown" && platform.architecture == "unknown"
}

fn describe_platform(platform: &PlatformJson) -> String {
    match &platform.variant {
        Some(variant) => format!("{}/{}/{variant}", platform.os, platform.architecture),
        None => format!("{}/{}", platform.os, platform.architecture),
    }
}
