//! The classic builder of a Docker daemon (`POST /build`, no BuildKit session): what Docker
//! 20.10 runs without `DOCKER_BUILDKIT=1`.
//!
//! It does not know BuildKit's automatic platform args, so mab passes them as build args; it
//! resolves `FROM` through the daemon's local images, so each base is first resolved to the local
//! image id of the right platform (pulled by digest when the registry says which one) and the
//! Dockerfile the daemon gets names that id.

use std::collections::{BTreeMap, HashMap};

use bollard::query_parameters::BuildImageOptionsBuilder;
use futures::future::BoxFuture;

use super::stream::StreamReader;
use super::{Backend, BuilderKind, ImageExport, read_dockerfile, short_hash, with_platform_args};
use crate::BuildError;
use crate::context::{ContextSpec, context_stream};
use crate::daemon::{
    BaseResolver, BuildReporter, BuildRequest, BuiltImage, Daemon, same_repository,
};
use crate::dockerfile::Dockerfile;

/// The classic builder of one daemon.
pub(crate) struct ClassicBackend {
    pub(crate) daemon: Daemon,
}

impl Backend for ClassicBackend {
    fn kind(&self) -> BuilderKind {
        BuilderKind::Classic
    }

    fn build<'a>(
        &'a self,
        request: &'a BuildRequest,
        reporter: &'a dyn BuildReporter,
        bases: &'a dyn BaseResolver,
    ) -> BoxFuture<'a, Result<BuiltImage, BuildError>> {
        Box::pin(self.build_checked(request, reporter, bases))
    }

    fn export(&self, image: &BuiltImage) -> ImageExport {
        Box::new(self.daemon.export(&image.id))
    }
}

impl ClassicBackend {
    /// Builds `request` and returns the image, checked to be of the requested platform.
    async fn build_checked(
        &self,
        request: &BuildRequest,
        reporter: &dyn BuildReporter,
        bases: &dyn BaseResolver,
    ) -> Result<BuiltImage, BuildError> {
        let platform = request.platform.to_string();
        let text = read_dockerfile(&request.dockerfile).await?;
        // The classic builder does not define the automatic platform args: mab sends them.
        let build_args = with_platform_args(&self.daemon, request);
        let dockerfile = Dockerfile::parse(&request.dockerfile, &text, &build_args)?;
        if let Some(engine) = self.daemon.engine() {
            dockerfile.check_supported(engine, BuilderKind::Classic)?;
        }
        // The daemon only gets the automatic args the Dockerfile declares, so the classic builder
        // does not warn about args it never consumed.
        let declared = declared_args(&text);
        let build_args: BTreeMap<String, String> = build_args
            .into_iter()
            .filter(|(name, _)| {
                request.build_args.contains_key(name) || declared.contains(name.as_str())
            })
            .collect();

        let mut pinned = BTreeMap::new();
        for base in dockerfile.base_images() {
            let pull = request.pull
                || request
                    .pull_repositories
                    .iter()
                    .any(|repository| same_repository(&base.reference, repository));
            let id = self
                .daemon
                .resolve_base(&base, &request.platform, pull, bases)
                .await?;
            reporter.base_resolved(&base.reference, &id);
            pinned.insert(base, id);
        }
        let pinned_text = dockerfile.pinned(&pinned);
        let dockerfile_name = format!(".mab-dockerfile-{}", short_hash(&pinned_text));

        let context = context_stream(ContextSpec {
            context_dir: request.context_dir.clone(),
            dockerfile_name: dockerfile_name.clone(),
            dockerfile_text: pinned_text,
        });
        // The classic builder reads its cache from local images only; its images need nothing
        // more to serve as a later build's cache (`inline_cache` is BuildKit's).
        let cache_from = self
            .daemon
            .cache_sources_local(&request.cache_from, &request.platform, reporter, bases)
            .await;
        let mut options = BuildImageOptionsBuilder::default()
            .dockerfile(&dockerfile_name)
            .platform(&platform)
            .buildargs(&build_args.into_iter().collect::<HashMap<_, _>>())
            .cachefrom(&cache_from)
            .labels(
                &request
                    .labels
                    .clone()
                    .into_iter()
                    .collect::<HashMap<_, _>>(),
            )
            .nocache(request.no_cache)
            .rm(true)
            .forcerm(true);
        if let Some(target) = &request.target {
            options = options.target(target);
        }
        let options = options.build();
        let stream = self.daemon.docker().build_image(
            options,
            None,
            Some(bollard::body_try_stream(context.body)),
        );

        let id = StreamReader {
            daemon: &self.daemon,
            reporter,
            platform: &platform,
            context_dir: &request.context_dir,
        }
        .read(stream, context.producer, (), |_| Vec::new())
        .await?;
        self.daemon
            .checked_image(id, &request.platform, BuilderKind::Classic)
            .await
    }
}

/// The names every `ARG` instruction of a Dockerfile declares (a rough scan: it only decides
/// which automatic args are worth sending).
fn declared_args(text: &str) -> std::collections::HashSet<&str> {
    text.lines()
        .map(str::trim_start)
        .filter(|line| line.len() > 4 && line[..4].eq_ignore_ascii_case("arg "))
        .flat_map(|line| line[4..].split_whitespace())
        .map(|word| word.split('=').next().unwrap_or(word))
        .collect()
}
