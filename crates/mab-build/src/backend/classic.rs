//! The classic builder of a Docker daemon (`POST /build`, no BuildKit session): what Docker
//! 20.10 runs without `DOCKER_BUILDKIT=1`.
//!
//! It does not know BuildKit's automatic platform args, so mab passes them as build args; it
//! resolves `FROM` through the daemon's local images, so each base is first resolved to the local
//! image id of the right platform (pulled by digest when the registry says which one) and the
//! Dockerfile the daemon gets names that id.

use std::collections::{BTreeMap, HashMap};

use bollard::query_parameters::BuildImageOptionsBuilder;
use futures::StreamExt;
use futures::future::BoxFuture;

use super::{Backend, BuilderKind, ImageExport, read_dockerfile, short_hash};
use crate::BuildError;
use crate::context::{ContextSpec, context_stream};
use crate::daemon::{
    BaseResolver, BuildReporter, BuildRequest, BuiltImage, Daemon, LOG_TAIL_LINES,
    automatic_platform_args, same_repository,
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
    /// The build args the daemon gets: the user's, plus BuildKit's automatic platform args
    /// (the classic builder does not define them), which the user's values override.
    fn effective_build_args(&self, request: &BuildRequest) -> BTreeMap<String, String> {
        let mut args = automatic_platform_args(&request.platform, self.daemon.native_platform());
        args.extend(request.build_args.clone());
        args
    }

    /// Builds `request` and returns the image, checked to be of the requested platform.
    async fn build_checked(
        &self,
        request: &BuildRequest,
        reporter: &dyn BuildReporter,
        bases: &dyn BaseResolver,
    ) -> Result<BuiltImage, BuildError> {
        let platform = request.platform.to_string();
        let text = read_dockerfile(&request.dockerfile).await?;
        let build_args = self.effective_build_args(request);
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
        let mut stream = self.daemon.docker().build_image(
            options,
            None,
            Some(bollard::body_try_stream(context.body)),
        );

        let mut image_id = None;
        let mut tail: Vec<String> = Vec::new();
        let mut failure = None;
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(text) = info.stream.as_deref().or(info.status.as_deref()) {
                        for line in text.lines().filter(|l| !l.trim().is_empty()) {
                            reporter.line(line);
                            tail.push(line.to_string());
                            if tail.len() > LOG_TAIL_LINES {
                                tail.remove(0);
                            }
                        }
                    }
                    if let Some(bollard::models::BuildInfoAux::Default(
                        bollard::models::ImageId { id: Some(id) },
                    )) = info.aux
                    {
                        image_id = Some(id);
                    }
                    if let Some(detail) = info.error_detail {
                        failure = detail.message;
                    }
                }
                Err(bollard::errors::Error::DockerStreamError { error }) => {
                    failure = Some(error);
                    break;
                }
                Err(source) => {
                    // The context producer's error (a file it could not read) explains more,
                    // unless it only says that the daemon stopped reading (the connection
                    // broke: `source` says how).
                    match context.producer.await {
                        Ok(Err(BuildError::ContextStreamClosed { .. })) => {}
                        Ok(Err(e)) => return Err(e),
                        _ => {}
                    }
                    return Err(self
                        .daemon
                        .daemon_error(format!("building for {platform}"), source));
                }
            }
        }
        drop(stream);
        match context.producer.await {
            Ok(Ok(())) => {}
            // The daemon stopped reading the context because the build failed: report that.
            Ok(Err(BuildError::ContextStreamClosed { .. })) if failure.is_some() => {}
            Ok(Err(e)) => return Err(e),
            Err(join) => {
                return Err(BuildError::ContextRead {
                    path: request.context_dir.clone(),
                    source: std::io::Error::other(join),
                });
            }
        }
        if let Some(message) = failure {
            let mut message = message.trim().to_string();
            if !tail.is_empty() {
                message.push_str("\n  last lines of the build output:\n    ");
                message.push_str(&tail.join("\n    "));
            }
            return Err(BuildError::BuildFailed {
                platform,
                endpoint: self.daemon.endpoint().to_string(),
                message,
            });
        }
        let id = image_id.ok_or_else(|| BuildError::NoImageProduced {
            platform: platform.clone(),
            endpoint: self.daemon.endpoint().to_string(),
        })?;
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
