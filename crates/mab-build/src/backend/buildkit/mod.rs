//! The daemon's own BuildKit (`POST /build?version=2` with a session of ours): what
//! `DOCKER_BUILDKIT=1 docker build` runs. It understands what the classic builder does not:
//! `FROM --platform=$BUILDPLATFORM` stages that run natively while the final stage is of the
//! target platform, `RUN --mount=type=cache|bind|tmpfs|secret|ssh`, heredocs and `COPY --link`
//! (on engines whose BuildKit has them), and it sets the automatic platform args itself.
//!
//! Base images are pinned by digest: each external `FROM` is rewritten to the image the
//! registry names for its platform now (`repo@sha256:…`, what the pipeline's `BaseResolver`
//! says), so every platform builds from the right base and no local tag moves; a base the
//! registry cannot say is left as written for BuildKit to resolve. The build's secrets, ssh
//! agents and registry credentials are served over the session (`session.rs`); its progress
//! arrives as BuildKit status updates, printed as plain lines (`progress.rs`).

mod auth;
pub(crate) mod control;
mod dangling;
mod engine_push;
mod health;
mod progress;
mod secrets;
mod session;
mod ssh;
mod upgrade;

use std::collections::{BTreeMap, HashMap};

use bollard::query_parameters::{BuildImageOptionsBuilder, BuilderVersion};
use futures::future::BoxFuture;

use super::stream::StreamReader;
use super::{Backend, BuilderKind, ImageExport, read_dockerfile, short_hash, with_platform_args};
use crate::BuildError;
use crate::context::{ContextSpec, context_stream};
use crate::daemon::{BaseResolver, BuildReporter, BuildRequest, BuiltImage, Daemon};
use crate::dockerfile::Dockerfile;
pub use engine_push::EnginePush;
use engine_push::{EnginePushOutcome, ExportWatch};
use progress::PlainProgress;
use session::{Session, SessionServices};

/// The BuildKit of one daemon.
pub(crate) struct BuildKitBackend {
    pub(crate) daemon: Daemon,
}

impl Backend for BuildKitBackend {
    fn kind(&self) -> BuilderKind {
        BuilderKind::BuildKit
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

impl BuildKitBackend {
    /// Builds; when the request asks the engine to push and its image store keeps the
    /// compressed layers (the containerd store), the build's export pushes by digest. A push
    /// that fails or stalls is left behind with a warning: the image is built again without it
    /// (from the cache) for mab's own pusher.
    async fn build_checked(
        &self,
        request: &BuildRequest,
        reporter: &dyn BuildReporter,
        bases: &dyn BaseResolver,
    ) -> Result<BuiltImage, BuildError> {
        let mut engine_push_failed = false;
        if let Some(push) = &request.engine_push
            && self.daemon.holds_image_indexes().await.unwrap_or(false)
        {
            // A push that lost a race with another platform's build (naming the image in the
            // engine, or uploading a shared blob) is exported again (from the cache) a few
            // times before mab's pusher takes over.
            const EXPORTS: usize = 3;
            for export in 1..=EXPORTS {
                match self.build_once(request, reporter, bases, Some(push)).await {
                    Ok((built, EnginePushOutcome::Pushed)) => {
                        return Ok(BuiltImage {
                            pushed_by_engine: true,
                            ..built
                        });
                    }
                    Ok((built, _)) => return Ok(built),
                    Err(BuildError::EnginePushFailed { message, .. }) => {
                        let race = engine_push::lost_race(&message, push);
                        if let Some(race) = race
                            && export < EXPORTS
                        {
                            reporter.line(&format!("{race} ({message}); exporting again"));
                            continue;
                        }
                        reporter.warning(&format!(
                            "the engine's push to {} failed ({message}); mab pushes the image \
                             instead",
                            push.repositories.join(", ")
                        ));
                        // Remembered (the engine is not asked again there for a while) unless
                        // it lost a race, which says nothing of whether the engine reaches
                        // the registry.
                        engine_push_failed = race.is_none();
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        self.build_once(request, reporter, bases, None)
            .await
            .map(|(built, _)| BuiltImage {
                engine_push_failed,
                ..built
            })
    }

    async fn build_once(
        &self,
        request: &BuildRequest,
        reporter: &dyn BuildReporter,
        bases: &dyn BaseResolver,
        engine_push: Option<&EnginePush>,
    ) -> Result<(BuiltImage, EnginePushOutcome), BuildError> {
        let daemon = &self.daemon;
        let platform = request.platform.to_string();
        let text = read_dockerfile(&request.dockerfile).await?;
        let dockerfile = Dockerfile::parse(
            &request.dockerfile,
            &text,
            &with_platform_args(&self.daemon, request),
        )?;

        // A `# syntax=` line makes BuildKit pull that frontend. The standard one's features are
        // in the engine's built-in frontend too: when it cannot be pulled (offline), the
        // built-in one reads the Dockerfile instead, and what it lacks is refused below.
        let mut builtin_frontend = true;
        let mut without_syntax = None;
        if let Some(syntax) = dockerfile.syntax() {
            let native = daemon
                .native_platform()
                .cloned()
                .unwrap_or_else(|| request.platform.clone());
            let pullable = bases
                .platform_image(syntax.reference(), &native)
                .await
                .is_some();
            if pullable || !syntax.builtin_may_stand_in() {
                builtin_frontend = false;
            } else {
                reporter.warning(&format!(
                    "{}:{}: the frontend {} cannot be pulled; the engine's built-in Dockerfile \
                     frontend reads the Dockerfile instead",
                    request.dockerfile.display(),
                    syntax.line(),
                    syntax.reference()
                ));
                without_syntax = Some(syntax.line());
            }
        }
        if builtin_frontend && let Some(engine) = daemon.engine() {
            dockerfile.check_supported(engine, BuilderKind::BuildKit)?;
        }

        // Every secret and ssh agent the target's stages mount must be given, unless the mount
        // says it can do without (BuildKit would silently leave it out).
        let target = request.target.as_deref();
        let given_secrets: Vec<&str> = request.secrets.iter().map(|s| s.id.as_str()).collect();
        let given_agents: Vec<&str> = request.ssh.iter().map(|s| s.id.as_str()).collect();
        for (mounted, given, kind, key) in [
            (
                dockerfile.secret_ids(target),
                &given_secrets,
                "secret",
                "secrets",
            ),
            (
                dockerfile.ssh_ids(target),
                &given_agents,
                "ssh agent",
                "ssh",
            ),
        ] {
            if let Some(missing) = mounted
                .iter()
                .find(|m| !m.explicitly_optional() && !given.contains(&m.id()))
            {
                return Err(BuildError::MountNotProvided {
                    path: request.dockerfile.clone(),
                    line: missing.line(),
                    kind,
                    key,
                    id: missing.id().to_string(),
                    platform,
                });
            }
        }

        // Each external base, by digest for the platform it is pulled for, made local first:
        // BuildKit then finds it in the daemon's image store and pulls nothing. When the
        // registry cannot say, the daemon finds the base as the classic builder would (its
        // local image of that platform, else pulled for it with its own trust) and BuildKit is
        // pointed at it by a private local tag. The bases are asked for at once (a
        // cross-compiling Dockerfile has two: the build platform's and the target's).
        let resolved = futures::future::try_join_all(dockerfile.base_images().into_iter().map(
            |base| async move {
                let (reference, id) = match daemon
                    .base_by_digest(&base, &request.platform, bases)
                    .await?
                {
                    Some(found) => found,
                    None => {
                        let wanted = crate::daemon::base_platform(&base, &request.platform);
                        let id = daemon.base_by_tag(&base, &wanted, request.pull).await?;
                        (daemon.private_tag(&id).await?, id)
                    }
                };
                Ok::<_, BuildError>((base, reference, id))
            },
        ))
        .await?;
        let mut pinned = BTreeMap::new();
        for (base, reference, id) in resolved {
            reporter.base_resolved(&base.reference, &id);
            pinned.insert(base, reference);
        }
        let mut pinned_text = dockerfile.pinned(&pinned);
        if let Some(line) = without_syntax {
            pinned_text = crate::dockerfile::without_syntax_directive(&pinned_text, line);
        }
        let dockerfile_name = format!(".mab-dockerfile-{}", short_hash(&pinned_text));

        let ssh =
            ssh::SessionSsh::prepare(&request.ssh)
                .await
                .map_err(|e| BuildError::SshAgent {
                    id: e.id,
                    platform: platform.clone(),
                    reason: e.reason,
                })?;
        let session = Session::open(
            daemon.dialer(),
            SessionServices {
                secrets: secrets::SessionSecrets::new(&request.secrets),
                ssh,
            },
        )
        .await
        .map_err(|e| BuildError::Session {
            endpoint: daemon.endpoint().to_string(),
            source: Box::new(e),
        })?;

        let context = context_stream(ContextSpec {
            context_dir: request.context_dir.clone(),
            dockerfile_name: dockerfile_name.clone(),
            dockerfile_text: pinned_text,
        });
        let cache_from = daemon
            .cache_sources_by_digest(&request.cache_from, &request.platform, reporter, bases)
            .await;
        let mut build_args: HashMap<String, String> =
            request.build_args.clone().into_iter().collect();
        if request.inline_cache {
            // The daemon's build API turns this arg into BuildKit's inline cache export: the
            // cache's metadata goes into the image config.
            build_args.insert("BUILDKIT_INLINE_CACHE".to_string(), "1".to_string());
        }
        let mut options = BuildImageOptionsBuilder::default()
            .dockerfile(&dockerfile_name)
            .platform(&platform)
            .buildargs(&build_args)
            .cachefrom(&cache_from)
            .labels(
                &request
                    .labels
                    .clone()
                    .into_iter()
                    .collect::<HashMap<_, _>>(),
            )
            .nocache(request.no_cache)
            .session(session.id())
            // Sent as the classic builder's version and turned into BuildKit's by the request
            // modifier below: bollard would otherwise open a session of its own under the same
            // id, without secrets or ssh, and the daemon keeps only the last one.
            .version(BuilderVersion::BuilderV1);
        // `pull` is met above: every external base is pinned to what its registry names now,
        // or was pulled for the platform (BuildKit itself is never asked to pull a pinned one).
        if let Some(target) = &request.target {
            options = options.target(target);
        }
        let outputs = engine_push.map(EnginePush::outputs_query);
        let docker = daemon
            .docker()
            .clone()
            .with_request_modifier(move |r| as_buildkit_build(r, outputs.as_deref()));
        let stream = docker.build_image(
            options.build(),
            None,
            Some(bollard::body_try_stream(context.body)),
        );

        let mut progress = PlainProgress::default();
        let export = ExportWatch::default();
        let reader = StreamReader {
            daemon,
            reporter,
            platform: &platform,
            context_dir: &request.context_dir,
        };
        let mut end = reader
            .read_to_end(
                stream,
                context.producer,
                session,
                |status| {
                    let started = export.started();
                    export.saw(status);
                    if !started && export.started() {
                        reporter.steps_done();
                    }
                    progress.lines(status)
                },
                // Once the export pushes, it must show progress within the stall limit.
                || {
                    engine_push
                        .filter(|_| export.started())
                        .map(|p| p.stall_limit)
                },
            )
            .await?;
        if let Some(limit) = end.stalled {
            return Err(BuildError::EnginePushFailed {
                platform,
                endpoint: daemon.endpoint().to_string(),
                message: format!("no progress for {} s", limit.as_secs()),
            });
        }
        // On the containerd image store an identical build that named the image first makes
        // this one fail, although the image it built is there (`dangling.rs`); what the engine
        // pushed of it, if anything, is not known: mab pushes it.
        let mut taken_from_another = false;
        if end.image_id.is_none()
            && let Some(id) = end.failure.as_deref().and_then(dangling::built_by_another)
        {
            reporter.line(&format!(
                "image {id} was named by an identical build at the same time: taking it"
            ));
            end.failure = None;
            end.image_id = Some(id);
            taken_from_another = true;
        }
        let outcome = match engine_push {
            Some(_) if !taken_from_another => export.outcome(end.failure.as_deref()),
            _ => EnginePushOutcome::NotStarted,
        };
        if let EnginePushOutcome::Failed(message) = outcome {
            return Err(BuildError::EnginePushFailed {
                platform,
                endpoint: daemon.endpoint().to_string(),
                message,
            });
        }
        let id = end.into_image_id(&reader)?;
        let built = daemon
            .checked_image(id, &request.platform, BuilderKind::BuildKit)
            .await?;
        Ok((built, outcome))
    }
}

/// Turns bollard's classic `POST /build` into BuildKit's (`version=2`), keeping the session id
/// it carries; `outputs` (already encoded) is added as the exporter to use.
fn as_buildkit_build(
    mut request: bollard::BollardRequest,
    outputs: Option<&str>,
) -> bollard::BollardRequest {
    let uri = request.uri();
    if !uri.path().ends_with("/build") {
        return request;
    }
    let Some(query) = uri.query() else {
        return request;
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| {
            if pair == "version=1" {
                "version=2".to_string()
            } else {
                pair.to_string()
            }
        })
        .collect();
    let mut rewritten = format!("{}?{}", uri.path(), query.join("&"));
    if let Some(outputs) = outputs {
        rewritten.push_str("&outputs=");
        rewritten.push_str(outputs);
    }
    let mut parts = uri.clone().into_parts();
    if let Ok(path_and_query) = rewritten.parse() {
        parts.path_and_query = Some(path_and_query);
        if let Ok(uri) = http::Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
    request
}
