//! Pushing one built image to one destination, the way `mab build` does it: reuse what a
//! previous run stored when nothing changed, otherwise read the daemon's export and store it,
//! trying the whole image again when the registry failed for a passing reason.

use tokio::io::AsyncRead;

use crate::RegistryError;
use crate::archive::{
    KnownLayers, ManifestOptions, PushedManifest, StoredLayer, layer_descriptor,
    push_archive_reusing, store_manifest,
};
use crate::cache::{CachedLayer, LayerCache};
use crate::manifest::{LayerCompression, ManifestFormat};
use crate::remote::RetryPolicy;
use crate::target::{PushReporter, Target};

/// What is known of a built image before its export is read.
#[derive(Debug, Clone, Copy)]
pub struct ImageFacts<'a> {
    /// The image id: `sha256:…` of its config on the classic image store, of its manifest on
    /// the containerd image store.
    pub config_digest: &'a str,
    /// The uncompressed digests of its layers, in order.
    pub diff_ids: &'a [String],
}

/// How [`push_image`] goes about it.
#[derive(Clone, Copy)]
pub struct PushSettings<'a> {
    /// Media types and annotations of the manifest.
    pub manifest: &'a ManifestOptions,
    /// Where compressed layers are remembered between runs (`None`: nothing is reused).
    pub cache: Option<&'a LayerCache>,
    /// How often a layer's upload, and a whole image, are tried again after a passing failure.
    pub retry: RetryPolicy,
    /// How long the push of the image may take in all, retries included (`None`: no limit
    /// beyond the stall limit of each request).
    pub limit: Option<std::time::Duration>,
}

/// The stored manifest, and whether it was written from what was already stored.
#[derive(Debug, Clone)]
pub struct PushOutcome {
    /// The stored manifest.
    pub manifest: PushedManifest,
    /// Every blob was already in place: nothing was exported, compressed or uploaded.
    pub reused: bool,
}

/// Stores one built image in `target`. `export` opens a fresh `docker save` stream of it; it is
/// called again for each retry, and not at all when every blob was already stored.
pub async fn push_image<R, F>(
    export: F,
    facts: ImageFacts<'_>,
    target: &Target,
    settings: PushSettings<'_>,
    reporter: &dyn PushReporter,
) -> Result<PushOutcome, RegistryError>
where
    F: Fn() -> R,
    R: AsyncRead + Unpin + Send,
{
    let Some(limit) = settings.limit else {
        return push_unlimited(export, facts, target, settings, reporter).await;
    };
    // The failure each try ended with, so that running out of time can say what went wrong.
    let last = std::sync::Mutex::new(None::<String>);
    let noting = Noting {
        reporter,
        last: &last,
    };
    let pushing = push_unlimited(export, facts, target, settings, &noting);
    match tokio::time::timeout(limit, pushing).await {
        Ok(pushed) => pushed,
        Err(_) => Err(RegistryError::PushLimit {
            destination: target.describe(),
            limit_seconds: limit.as_secs_f64(),
            last: last
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
                .map(|l| format!("; the last failure: {l}"))
                .unwrap_or_default(),
        }),
    }
}

/// A reporter that also keeps the last failure it hears of.
struct Noting<'a> {
    reporter: &'a dyn PushReporter,
    last: &'a std::sync::Mutex<Option<String>>,
}

impl PushReporter for Noting<'_> {
    fn bytes_sent(&self, bytes: u64) {
        self.reporter.bytes_sent(bytes);
    }
    fn blob_stored(&self, digest: &str, size: u64, already_present: bool) {
        self.reporter.blob_stored(digest, size, already_present);
    }
    fn retrying(&self, what: &str, error: &RegistryError) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(crate::error::chain(error));
        self.reporter.retrying(what, error);
    }
}

/// [`push_image`] without its total limit.
async fn push_unlimited<R, F>(
    export: F,
    facts: ImageFacts<'_>,
    target: &Target,
    settings: PushSettings<'_>,
    reporter: &dyn PushReporter,
) -> Result<PushOutcome, RegistryError>
where
    F: Fn() -> R,
    R: AsyncRead + Unpin + Send,
{
    let known = match settings.cache {
        Some(cache) => known_layers(facts, target, settings.manifest, cache).await?,
        None => KnownLayers::new(),
    };
    if let Some(cache) = settings.cache
        && let Some(manifest) = reuse(facts, target, settings.manifest, cache, &known).await?
    {
        return Ok(PushOutcome {
            manifest,
            reused: true,
        });
    }
    let manifest = settings
        .retry
        .retry_while_after(
            || async {
                let pushed = push_archive_reusing(
                    export(),
                    target,
                    settings.manifest,
                    &known,
                    settings.retry,
                    reporter,
                )
                .await;
                if let Err(error) = &pushed
                    && error.is_transient()
                {
                    reporter.retrying("the image", error);
                }
                pushed
            },
            RegistryError::is_transient,
            || target.not_before(),
        )
        .await?;
    if let Some(cache) = settings.cache {
        remember(
            cache,
            facts.config_digest,
            settings.manifest.compression,
            &manifest,
            target.repository_name().as_deref(),
        )
        .await;
    }
    Ok(PushOutcome {
        manifest,
        reused: false,
    })
}

/// The manifest written from remembered blobs, when the target has every one of them (`known`:
/// the layers it has) and the config.
async fn reuse(
    facts: ImageFacts<'_>,
    target: &Target,
    options: &ManifestOptions,
    cache: &LayerCache,
    known: &KnownLayers,
) -> Result<Option<PushedManifest>, RegistryError> {
    let layers: Option<Vec<StoredLayer>> = facts
        .diff_ids
        .iter()
        .map(|diff_id| {
            known.get(diff_id).map(|(blob, findings)| StoredLayer {
                diff_id: diff_id.clone(),
                blob: blob.clone(),
                findings: findings.clone(),
            })
        })
        .collect();
    let Some(layers) = layers else {
        return Ok(None);
    };
    let Some((config_digest, config_size)) = cache.config_of(facts.config_digest).await else {
        return Ok(None);
    };
    if !target.has_blob(&config_digest).await? {
        return Ok(None);
    }
    store_manifest(target, options, &config_digest, config_size, layers)
        .await
        .map(Some)
}

/// The layers of the image that the target has (or gets by a cross-repository mount from where
/// the cache says they were stored), so their upload can be skipped.
async fn known_layers(
    facts: ImageFacts<'_>,
    target: &Target,
    options: &ManifestOptions,
    cache: &LayerCache,
) -> Result<KnownLayers, RegistryError> {
    let mut known = KnownLayers::new();
    for diff_id in facts.diff_ids {
        let Some(cached) = cache.layer(options.compression, diff_id).await else {
            continue;
        };
        let Some(media_type) = cached_media_type(&cached, options.format) else {
            continue;
        };
        let mut present = target.has_blob(&cached.digest).await?;
        for source in cached.repositories.iter().rev() {
            if present {
                break;
            }
            present = target.mount_from(source, &cached.digest).await?;
        }
        if present {
            known.insert(
                diff_id.clone(),
                (
                    layer_descriptor(media_type, cached.digest.clone(), cached.size),
                    cached.findings(),
                ),
            );
        }
    }
    Ok(known)
}

/// The media type a cached blob has in a manifest of `format`; `None` when that format cannot
/// describe it.
fn cached_media_type(cached: &CachedLayer, format: ManifestFormat) -> Option<&'static str> {
    let compression = match cached.media_type.as_deref() {
        Some(stored) => LayerCompression::of_media_type(stored)?,
        // Entries written before media types were remembered: gzip or zstd.
        None if cached.zstd => LayerCompression::Zstd,
        None => LayerCompression::Gzip,
    };
    compression.media_type(format)
}

/// Remembers the blobs of `manifest` (stored in `repository`), what each layer holds, and that
/// the image whose config digest the daemon gave as `image_config` has that config blob.
pub(crate) async fn remember(
    cache: &LayerCache,
    image_config: &str,
    compression: LayerCompression,
    manifest: &PushedManifest,
    repository: Option<&str>,
) {
    cache
        .remember_image_config(image_config, &manifest.config_digest, manifest.config_size)
        .await;
    cache
        .remember_config(&manifest.config_digest, manifest.config_size)
        .await;
    for stored in &manifest.layers {
        let (diff_id, layer) = (&stored.diff_id, &stored.blob);
        if diff_id.is_empty() {
            continue;
        }
        let mut cached = match cache.layer(compression, diff_id).await {
            Some(cached) if cached.digest == layer.digest => cached,
            _ => CachedLayer {
                digest: layer.digest.clone(),
                size: layer.size,
                zstd: LayerCompression::of_media_type(&layer.media_type)
                    == Some(LayerCompression::Zstd),
                repositories: Vec::new(),
                media_type: Some(layer.media_type.clone()),
                elf: stored.findings.elf.clone(),
                contents: None,
            },
        };
        cached.remember_contents(&stored.findings);
        if let Some(repository) = repository {
            cached.stored_in(repository);
        }
        cache.remember_layer(compression, diff_id, &cached).await;
    }
}
