//! Which image a base image reference names for a platform, as its registry says now: so the
//! daemon can use it, or pull it, by digest.
//!
//! Each reference is asked of its registry once per run, and by HEAD (which Docker Hub does not
//! count as a pull); the manifest or index bytes are kept in the cache by digest, so a rerun
//! with an unchanged base sends no GET at all.

use std::collections::HashMap;
use std::sync::Arc;

use mab_platform::Platform;
use tokio::sync::Mutex;

use crate::cache::LayerCache;
use crate::list::{classify, parse_index};
use crate::{RegistryClient, RegistryError};

/// How long asking a base's registry may take.
const LOOKUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Base images resolved through their registries, remembered for the run.
pub struct BaseImages {
    client: RegistryClient,
    lookup_timeout: std::time::Duration,
    cache: Option<LayerCache>,
    /// By reference: what its registry said, `None` when it could not say.
    known: Mutex<HashMap<String, Option<Arc<Resolved>>>>,
}

/// What a reference names: `registry/repository`, and its images (one per platform of an index,
/// or the one image).
struct Resolved {
    name: String,
    images: Images,
}

enum Images {
    /// An index: each entry's platform (os, architecture, variant) and digest.
    Index(Vec<(String, String, Option<String>, String)>),
    /// A single image (its platform is checked by the daemon's side after the pull).
    One(String),
}

impl BaseImages {
    /// Bases read through `client`; manifests kept in `cache` when given.
    pub fn new(client: RegistryClient, cache: Option<LayerCache>) -> Self {
        Self {
            client,
            lookup_timeout: LOOKUP_TIMEOUT,
            cache,
            known: Mutex::new(HashMap::new()),
        }
    }

    /// `registry/repository@sha256:…` of the image `reference` names for `platform`; `None`
    /// when its registry cannot say (unreachable, no access, not there) or has no image of that
    /// platform.
    pub async fn platform_image(&self, reference: &str, platform: &Platform) -> Option<String> {
        let resolved = {
            let mut known = self.known.lock().await;
            match known.get(reference) {
                Some(resolved) => resolved.clone(),
                None => {
                    // A registry that does not answer in time says nothing: the daemon pulls
                    // by tag (a laptop behind a firewall that drops packets must not wait for
                    // TCP to give up, once per base).
                    let resolved =
                        tokio::time::timeout(self.lookup_timeout, self.resolve(reference))
                            .await
                            .ok()
                            .and_then(Result::ok)
                            .map(Arc::new);
                    known.insert(reference.to_string(), resolved.clone());
                    resolved
                }
            }
        }?;
        let digest = match &resolved.images {
            Images::One(digest) => digest,
            Images::Index(entries) => {
                &entries
                    .iter()
                    .find(|(os, arch, variant, _)| {
                        platform.matches_config(os, arch, variant.as_deref())
                    })?
                    .3
            }
        };
        Some(format!("{}@{digest}", resolved.name))
    }

    async fn resolve(&self, reference: &str) -> Result<Resolved, RegistryError> {
        let image = crate::list::parse_reference(reference)?;
        let repository = crate::list::remote_of(&image, &self.client);
        let digest = match image.digest() {
            Some(digest) => digest.to_string(),
            None => repository.manifest_digest(image.tag_or_digest()).await?,
        };
        let cached = match &self.cache {
            Some(cache) => cache.manifest(&digest).await,
            None => None,
        };
        let raw = match cached {
            Some(raw) => raw,
            None => {
                let (raw, actual) = repository.pull_manifest_raw(&digest).await?;
                if let Some(cache) = &self.cache {
                    cache.remember_manifest(&actual, &raw).await;
                }
                raw
            }
        };
        let (_, is_index) = classify(&raw, &image.to_string())?;
        let images = if is_index {
            let index = parse_index(&raw, &image.to_string())?;
            Images::Index(
                index
                    .manifests
                    .into_iter()
                    .filter_map(|entry| {
                        let p = entry.platform?;
                        Some((p.os, p.architecture, p.variant, entry.digest))
                    })
                    .collect(),
            )
        } else {
            Images::One(digest)
        };
        Ok(Resolved {
            name: image.name(),
            images,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RegistryOptions;

    #[tokio::test]
    async fn a_registry_that_never_answers_says_nothing_in_time() {
        // Accepts connections, never answers.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let client = RegistryClient::new(&RegistryOptions {
            insecure_registries: vec![address.clone()],
            ..RegistryOptions::default()
        });
        let mut bases = BaseImages::new(client, None);
        bases.lookup_timeout = std::time::Duration::from_millis(300);
        let platform: Platform = "linux/arm64".parse().unwrap();
        let reference = format!("{address}/base/busybox:latest");
        // Without the lookup's own timeout this would wait as long as TCP does: far beyond the
        // minute that turns a hang into a failure here.
        let asked = tokio::time::timeout(std::time::Duration::from_secs(60), async {
            (
                bases.platform_image(&reference, &platform).await,
                bases.platform_image(&reference, &platform).await,
            )
        })
        .await
        .expect("the lookup gives up on its own");
        assert_eq!(asked, (None, None));
        drop(listener);
    }
}
