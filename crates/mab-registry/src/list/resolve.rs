//! Reading an image reference from its registry into list entries: an image manifest gives one
//! entry, an index one per platform image (attestations left out unless kept).

use super::*;

/// An image read from a registry: its manifest as stored, and the list entries it stands for.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// The manifest or index bytes as stored.
    pub raw: Bytes,
    /// `sha256:…` of `raw`.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// Whether it is an index (or manifest list).
    pub is_index: bool,
    /// One entry for an image manifest; one per platform image for an index.
    pub entries: Vec<ListEntry>,
}

/// A manifest or index read from a registry, as stored.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    /// The bytes as stored.
    pub raw: Bytes,
    /// `sha256:…` of `raw` (checked).
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// Whether it is an index (or manifest list).
    pub is_index: bool,
}

/// Reads a manifest or index exactly as stored (not its children). An image that is not there is
/// [`RegistryError::ManifestNotFound`] naming it.
pub async fn fetch_manifest(
    client: &RegistryClient,
    image: &ImageReference,
) -> Result<FetchedManifest, RegistryError> {
    let repository = remote_of(image, client);
    let (raw, digest) = repository.pull_manifest_raw(image.tag_or_digest()).await?;
    let (media_type, is_index) = classify(&raw, &image.to_string())?;
    Ok(FetchedManifest {
        raw,
        digest,
        media_type,
        is_index,
    })
}

/// Reads `image` and the list entries it stands for: an image manifest gives one entry with the
/// platform its config declares; an index gives one entry per platform image it lists (each
/// manifest read and checked), leaving out `unknown/unknown` attestation manifests unless
/// `keep_attestations`.
pub async fn resolve_image(
    client: &RegistryClient,
    image: &ImageReference,
    keep_attestations: bool,
) -> Result<ResolvedImage, RegistryError> {
    let repository = remote_of(image, client);
    let reference = image.to_string();
    let (raw, digest) = repository.pull_manifest_raw(image.tag_or_digest()).await?;
    let (media_type, is_index) = classify(&raw, &reference)?;
    let entries = if is_index {
        let index = parse_index(&raw, &reference)?;
        let wanted: Vec<Descriptor> = index
            .manifests
            .into_iter()
            .filter(|d| keep_attestations || !is_attestation(d))
            .collect();
        if wanted.is_empty() {
            return Err(RegistryError::NoPlatformImages { reference });
        }
        stream::iter(wanted)
            .map(|descriptor| index_child(&repository, image, descriptor))
            .buffered(CONCURRENCY)
            .try_collect()
            .await?
    } else {
        let platform = config_platform(&repository, &raw, &reference).await?;
        vec![ListEntry::new(
            reference.clone(),
            reference,
            media_type.clone(),
            digest.clone(),
            &raw,
            platform,
            BTreeMap::new(),
        )?]
    };
    Ok(ResolvedImage {
        raw,
        digest,
        media_type,
        is_index,
        entries,
    })
}

pub(super) fn is_attestation(descriptor: &Descriptor) -> bool {
    descriptor
        .platform
        .as_ref()
        .is_some_and(PlatformJson::is_unknown)
        || descriptor
            .annotations
            .get(REFERENCE_TYPE_ANNOTATION)
            .is_some_and(|t| t == "attestation-manifest")
}

/// The entry for one manifest an index lists.
pub(super) async fn index_child(
    repository: &RemoteRepository,
    index: &ImageReference,
    descriptor: Descriptor,
) -> Result<ListEntry, RegistryError> {
    let reference = format!("{}@{}", index.name(), descriptor.digest);
    let (raw, digest) = repository.pull_manifest_raw(&descriptor.digest).await?;
    let (media_type, is_index) = classify(&raw, &reference)?;
    if is_index {
        return Err(RegistryError::MalformedManifest {
            reference,
            message: format!("index {index} lists another index; nested indexes are not supported"),
        });
    }
    if raw.len() as u64 != descriptor.size {
        return Err(RegistryError::MalformedManifest {
            reference,
            message: format!(
                "the manifest is {} bytes, index {index} says {}",
                raw.len(),
                descriptor.size
            ),
        });
    }
    let platform = match descriptor.platform {
        Some(platform) => platform,
        None => config_platform(repository, &raw, &reference).await?,
    };
    ListEntry::new(
        reference,
        index.to_string(),
        media_type,
        digest,
        &raw,
        platform,
        descriptor.annotations,
    )
}
