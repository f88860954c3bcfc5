//! An image a Docker engine pushed by digest itself (BuildKit's image exporter): its manifest
//! read back from the repository, checked, and taken as stored, so that the index is assembled
//! from it as from one mab pushed. What its layers hold comes from the layer cache, or is read
//! back from the repository (`read_back.rs`) for the platform lint; what is learnt is
//! remembered in the layer cache as if mab had pushed it (a later push by mab reuses the blobs).

use crate::archive::{PushedManifest, StoredLayer};
use crate::elf::ElfFiles;
use crate::manifest::{ImageManifest, media_types};
use crate::push::ImageFacts;
use crate::read_back::read_back;
use crate::{LayerCache, ManifestOptions, PushReporter, RegistryError, Target};

/// How an image the engine pushed is taken.
#[derive(Clone, Copy)]
pub struct AdoptSettings<'a> {
    /// The manifest asked for (its layer compression keys the layer cache).
    pub manifest: &'a ManifestOptions,
    /// Where layers are remembered between runs (`None`: nothing is taken or remembered).
    pub cache: Option<&'a LayerCache>,
    /// Whether the layers the cache knows nothing of are read back from the repository for
    /// what they hold (within `read_back`'s limits); unread ones are reported.
    pub read_layers: bool,
}

/// Reads the image manifest `digest` that an engine pushed to `target` and returns it as
/// stored there; `None` when `target` is not a registry, the manifest is not there, or it is not
/// the image `facts` describe (then mab pushes the image itself).
pub async fn adopt_manifest(
    target: &Target,
    digest: &str,
    facts: ImageFacts<'_>,
    settings: AdoptSettings<'_>,
    reporter: &dyn PushReporter,
) -> Result<Option<PushedManifest>, RegistryError> {
    let Target::Registry(repository) = target else {
        return Ok(None);
    };
    let (bytes, actual) = match repository.pull_manifest_raw(digest).await {
        Ok(read) => read,
        Err(RegistryError::ManifestNotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(mut manifest) = stored_manifest(&bytes, actual, facts.diff_ids) else {
        return Ok(None);
    };
    let compression = settings.manifest.compression;
    if let Some(cache) = settings.cache {
        for layer in &mut manifest.layers {
            if let Some(cached) = cache.layer(compression, &layer.diff_id).await
                && cached.digest == layer.blob.digest
            {
                layer.findings = cached.findings();
            }
        }
    }
    if settings.read_layers {
        let unread = read_back(repository, &mut manifest.layers).await;
        if unread.layers > 0 {
            reporter.layers_not_read(unread);
        }
    }
    let mut elf_files = ElfFiles::default();
    for layer in &manifest.layers {
        elf_files.merge(&layer.findings.elf);
    }
    manifest.elf_files = elf_files;
    if let Some(cache) = settings.cache {
        let repository = repository.name();
        crate::push::remember(
            cache,
            facts.config_digest,
            compression,
            &manifest,
            Some(&repository),
        )
        .await;
    }
    Ok(Some(manifest))
}

/// The manifest `bytes` (of digest `digest`) as stored, if it is an image manifest with one
/// layer per diff id.
fn stored_manifest(bytes: &[u8], digest: String, diff_ids: &[String]) -> Option<PushedManifest> {
    let manifest: ImageManifest = serde_json::from_slice(bytes).ok()?;
    if manifest.layers.len() != diff_ids.len() {
        return None;
    }
    let media_type = match manifest.media_type.as_str() {
        "" => media_types::OCI_MANIFEST.to_string(),
        t if t == media_types::OCI_MANIFEST || t == media_types::DOCKER_MANIFEST => t.to_string(),
        _ => return None,
    };
    let layers_size = manifest.layers.iter().map(|l| l.size).sum();
    Some(PushedManifest {
        digest,
        size: bytes.len() as u64,
        media_type,
        config_digest: manifest.config.digest.clone(),
        config_size: manifest.config.size,
        layers_size,
        elf_files: Default::default(),
        layers: manifest
            .layers
            .into_iter()
            .zip(diff_ids)
            .map(|(blob, diff_id)| StoredLayer {
                diff_id: diff_id.clone(),
                blob,
                findings: Default::default(),
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"{
      "schemaVersion": 2,
      "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
      "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                 "digest": "sha256:cc", "size": 988},
      "layers": [
        {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
         "digest": "sha256:l1", "size": 1000},
        {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
         "digest": "sha256:l2", "size": 24}
      ]
    }"#;

    #[test]
    fn an_engine_pushed_manifest_is_taken_with_its_sizes_and_diff_ids() {
        let diff_ids = ["sha256:d1".to_string(), "sha256:d2".to_string()];
        let stored = stored_manifest(MANIFEST.as_bytes(), "sha256:mm".into(), &diff_ids).unwrap();
        assert_eq!(stored.digest, "sha256:mm");
        assert_eq!(stored.size, MANIFEST.len() as u64);
        assert_eq!(stored.media_type, media_types::DOCKER_MANIFEST);
        assert_eq!(stored.config_digest, "sha256:cc");
        assert_eq!((stored.config_size, stored.layers_size), (988, 1024));
        assert_eq!(stored.layers[1].diff_id, "sha256:d2");
        assert_eq!(stored.layers[1].blob.digest, "sha256:l2");
    }

    #[test]
    fn a_manifest_of_another_image_or_an_index_is_not_taken() {
        let one = ["sha256:d1".to_string()];
        assert!(stored_manifest(MANIFEST.as_bytes(), "sha256:mm".into(), &one).is_none());
        let index = r#"{"schemaVersion": 2,
          "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}"#;
        assert!(stored_manifest(index.as_bytes(), "sha256:ii".into(), &one).is_none());
    }
}
