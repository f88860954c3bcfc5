//! The images a build takes its cache from (`cache_from`), made ready for the builder: each is
//! asked of its registry for the build's platform and named by digest, so that every platform
//! reads its own image's cache and a moving tag cannot change what a build reads. One that is
//! not there (the first run, a registry that cannot say) is left out: a missing cache makes a
//! build slower, never wrong.

use mab_platform::Platform;

use crate::daemon::{BaseResolver, BuildReporter, Daemon};
use crate::dockerfile::BaseImage;

impl Daemon {
    /// `request`'s cache images for BuildKit: `repository@sha256:…` of each one's image for
    /// `platform`, which BuildKit's registry importer reads (the layers the cache names are
    /// fetched from the registry only when a step is taken from it).
    pub(crate) async fn cache_sources_by_digest(
        &self,
        cache_from: &[String],
        platform: &Platform,
        reporter: &dyn BuildReporter,
        bases: &dyn BaseResolver,
    ) -> Vec<String> {
        let mut found = Vec::new();
        for reference in cache_from {
            match bases.platform_image(reference, platform).await {
                Some(by_digest) => {
                    reporter.line(&format!("cache from {reference} ({by_digest})"));
                    found.push(by_digest);
                }
                None => reporter.line(&format!(
                    "cache from {reference}: not in its registry for {platform}; not used"
                )),
            }
        }
        found
    }

    /// `request`'s cache images for the classic builder, which reads only local images: each
    /// one's image for `platform`, pulled by digest when the daemon lacks it; their local ids.
    pub(crate) async fn cache_sources_local(
        &self,
        cache_from: &[String],
        platform: &Platform,
        reporter: &dyn BuildReporter,
        bases: &dyn BaseResolver,
    ) -> Vec<String> {
        let mut found = Vec::new();
        for by_digest in self
            .cache_sources_by_digest(cache_from, platform, reporter, bases)
            .await
        {
            let image = BaseImage {
                reference: by_digest.clone(),
                platform: None,
            };
            match self.base_by_tag(&image, platform, false).await {
                Ok(id) => found.push(id),
                Err(error) => reporter.line(&format!(
                    "cache from {by_digest}: cannot be pulled ({error}); not used"
                )),
            }
        }
        found
    }
}
