//! Pushing a list: every entry's blobs and manifest put in the list's repository (mounted,
//! else copied, from the entry's repository), then the index stored by digest, then tagged.

use super::*;

/// What `push_list` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedList {
    /// The index as stored.
    pub index: PublishedIndex,
    /// Blobs the registry mounted from another repository.
    pub blobs_mounted: usize,
    /// Blobs copied (streamed) from another repository.
    pub blobs_copied: usize,
    /// Manifests stored in the list's repository.
    pub manifests: usize,
}

/// Pushes a manifest list: every entry's blobs and manifest are put in the list's repository
/// (mounted, else copied, from the entry's repository of the same registry; skipped if there),
/// then the index is stored by digest, then tagged.
pub async fn push_list(
    client: &RegistryClient,
    list: &ManifestList,
) -> Result<PushedList, RegistryError> {
    let target_reference = list.reference()?;
    let (bytes, digest) = list.index_bytes()?;
    let mut sources = Vec::new();
    for entry in list.entries() {
        let source = parse_reference(entry.reference())?;
        if source.registry() != target_reference.registry() {
            return Err(RegistryError::CrossRegistry {
                list: list.name().to_string(),
                image: entry.reference().to_string(),
                list_registry: target_reference.registry().to_string(),
                image_registry: source.registry().to_string(),
            });
        }
        sources.push((entry, remote_of(&source, client)));
    }
    let target = remote_of(&target_reference, client);
    target.authenticate_for_push().await?;
    let copied: Vec<(usize, usize)> = stream::iter(sources)
        .map(|(entry, source)| {
            let target = &target;
            async move { put_entry(target, &source, entry).await }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    target
        .push_manifest(&digest, bytes.clone(), list.media_type())
        .await?;
    if let Some(tag) = target_reference.tag() {
        target
            .push_manifest(tag, bytes.clone(), list.media_type())
            .await?;
    }
    Ok(PushedList {
        index: PublishedIndex {
            digest,
            media_type: list.media_type().to_string(),
            size: bytes.len() as u64,
        },
        blobs_mounted: copied.iter().map(|c| c.0).sum(),
        blobs_copied: copied.iter().map(|c| c.1).sum(),
        manifests: list.entries().len(),
    })
}

/// Puts one entry's blobs (if it lives in another repository) and manifest in `target`; returns
/// (blobs mounted, blobs copied).
pub(super) async fn put_entry(
    target: &RemoteRepository,
    source: &RemoteRepository,
    entry: &ListEntry,
) -> Result<(usize, usize), RegistryError> {
    let raw = entry.manifest_bytes()?;
    let (mut mounted, mut copied) = (0, 0);
    if source.path() != target.path() {
        let manifest: ImageManifest =
            serde_json::from_slice(raw).map_err(|e| RegistryError::MalformedManifest {
                reference: entry.reference().to_string(),
                message: format!("the image manifest does not parse: {e}"),
            })?;
        let blobs = std::iter::once(&manifest.config)
            .chain(&manifest.layers)
            .filter(|b| {
                !b.media_type.contains("foreign") && !b.media_type.contains("nondistributable")
            });
        for blob in blobs {
            if target.blob_exists(&blob.digest).await? {
                continue;
            }
            if target.mount_blob_from(source, &blob.digest).await? {
                mounted += 1;
            } else {
                target
                    .copy_blob_from(source, &blob.digest, blob.size)
                    .await?;
                copied += 1;
            }
        }
    }
    target
        .push_manifest(entry.digest(), raw.to_vec(), entry.media_type())
        .await?;
    Ok((mounted, copied))
}
