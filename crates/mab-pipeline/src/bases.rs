//! Base images resolved through their registries: which image a `FROM` reference names for a
//! platform, by digest (see [`BaseImages`]). A registry that cannot say leaves the daemon to
//! pull by tag.

use futures::future::BoxFuture;
use mab_build::BaseResolver;
use mab_platform::Platform;
use mab_registry::{BaseImages, LayerCache, RegistryClient, RetryPolicy};

/// A [`BaseResolver`] that asks each base's registry.
pub struct RegistryBases(BaseImages);

impl RegistryBases {
    /// Asks registries through `client`, one try each: a registry that does not answer at
    /// once leaves the base to the daemon's tag pull (an offline laptop with local bases must
    /// not wait for retries). Index bytes are kept in `cache`.
    pub fn new(client: &RegistryClient, cache: Option<LayerCache>) -> Self {
        Self(BaseImages::new(
            client.with_retry(RetryPolicy {
                attempts: 1,
                ..RetryPolicy::default()
            }),
            cache,
        ))
    }
}

impl BaseResolver for RegistryBases {
    fn platform_image<'a>(
        &'a self,
        reference: &'a str,
        platform: &'a Platform,
    ) -> BoxFuture<'a, Option<String>> {
        Box::pin(self.0.platform_image(reference, platform))
    }
}
