//! One Docker daemon: connect, build an image for one platform, export it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use bollard::Docker;
use bollard::query_parameters::CreateImageOptionsBuilder;
use futures::TryStreamExt;
use mab_platform::Platform;
use tokio::io::AsyncRead;
use tokio::sync::Mutex;

use crate::BuildError;
use crate::backend::buildkit::BuildKitBackend;
use crate::backend::{Backend, BuilderKind, ImageExport, classic::ClassicBackend};
use crate::dockerfile::BaseImage;
use crate::endpoint::DaemonEndpoint;

/// How many times a base image is pulled for a platform before its tag is believed to have no
/// image of that platform.
const BASE_PULL_ATTEMPTS: u32 = 4;

/// How many lines of build output an error quotes.
pub(crate) const LOG_TAIL_LINES: usize = 12;

/// Receives a build's progress. Implementations must not block.
pub trait BuildReporter: Send + Sync {
    /// One line of the daemon's build output (`Step 2/3 : RUN …`, command output).
    fn line(&self, _line: &str) {}
    /// A base image was resolved to a local image id for this build.
    fn base_resolved(&self, _reference: &str, _image_id: &str) {}
    /// Something the user should know about this build (the builder asked for is not there,
    /// a frontend stands in for another).
    fn warning(&self, _message: &str) {}
    /// The build's steps are done and its result is being exported (BuildKit's `exporting to
    /// image`, which uploads too when the engine pushes): what is left takes the daemon little
    /// CPU, so another build may start there. Said at most once per build attempt.
    fn steps_done(&self) {}
}

/// Tells which image a base image reference names, for one platform, in its registry now.
pub trait BaseResolver: Send + Sync {
    /// `registry/repository@sha256:…` of `reference`'s image for `platform` (or the id,
    /// `sha256:…`, of an image the building daemon has: one built earlier in the same run);
    /// `None` when that is not known (the registry cannot be reached or read, no such platform
    /// there): the daemon then pulls the tag for the platform, as `docker pull --platform` does.
    fn platform_image<'a>(
        &'a self,
        reference: &'a str,
        platform: &'a Platform,
    ) -> futures::future::BoxFuture<'a, Option<String>>;
}

/// Knows no registry: every base is pulled by tag.
pub struct NoBaseResolver;

impl BaseResolver for NoBaseResolver {
    fn platform_image<'a>(
        &'a self,
        _reference: &'a str,
        _platform: &'a Platform,
    ) -> futures::future::BoxFuture<'a, Option<String>> {
        Box::pin(std::future::ready(None))
    }
}

/// One image to build: a Dockerfile, its context, a platform.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    /// The build context folder.
    pub context_dir: PathBuf,
    /// The Dockerfile (anywhere; it is sent inside the context under a private name).
    pub dockerfile: PathBuf,
    /// The platform to build for.
    pub platform: Platform,
    /// `--build-arg`s.
    pub build_args: BTreeMap<String, String>,
    /// The stage of a multi-stage Dockerfile to build (`--target`); the last when `None`.
    pub target: Option<String>,
    /// Labels to add to the image config (`--label`).
    pub labels: BTreeMap<String, String>,
    /// Build without the daemon's cache (`--no-cache`).
    pub no_cache: bool,
    /// Pull every base image for the platform even when the daemon has one (`--pull`). The
    /// pull happens while bases are resolved to image ids (the daemon itself is not asked to
    /// pull: the Dockerfile it gets names image ids, which cannot be pulled).
    pub pull: bool,
    /// The builder asked for (see [`Daemon::build`]).
    pub builder: BuilderKind,
    /// Secrets `RUN --mount=type=secret` may mount (BuildKit only).
    pub secrets: Vec<crate::BuildSecret>,
    /// Ssh agents `RUN --mount=type=ssh` may reach (BuildKit only).
    pub ssh: Vec<crate::SshForward>,
    /// Images whose build cache the build may use (`--cache-from`): each is looked up in its
    /// registry for the platform and used by digest; one that is not there is left out.
    pub cache_from: Vec<String>,
    /// Write BuildKit's cache metadata into the image (`BUILDKIT_INLINE_CACHE=1`), so that the
    /// pushed image can be a later build's `cache_from`.
    pub inline_cache: bool,
    /// Repositories (`registry/path`, no tag) whose images are always pulled when a `FROM`
    /// names them, even when the daemon has one: images this build depends on, published
    /// moments ago, which a local image of an earlier run must not stand in for.
    pub pull_repositories: Vec<String>,
    /// Have the engine push the image by digest as it builds it, where it can (BuildKit on the
    /// containerd image store); see [`BuiltImage::pushed_by_engine`].
    pub engine_push: Option<crate::EnginePush>,
}

/// An image the daemon built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltImage {
    /// The image id (`sha256:…`, the digest of its config).
    pub id: String,
    /// The platform recorded in the image config.
    pub platform: String,
    /// The uncompressed digests of its layers (`rootfs.diff_ids`), in order.
    pub diff_ids: Vec<String>,
    /// The builder that built it (and exports it).
    pub builder: BuilderKind,
    /// The engine pushed it, by digest, to every repository the request's `engine_push`
    /// named; its id is then the digest of the manifest pushed.
    pub pushed_by_engine: bool,
    /// The engine was asked to push it and its push failed or stalled, other than by losing a
    /// race with another build's push (it was built again without the push, for mab's pusher):
    /// the daemon may not reach those registries.
    pub engine_push_failed: bool,
}

/// A Docker daemon; cheap to clone.
#[derive(Clone)]
pub struct Daemon {
    inner: Arc<DaemonInner>,
}

struct DaemonInner {
    docker: Docker,
    endpoint: String,
    /// The daemon's own platform (`BUILDPLATFORM`).
    native_platform: Option<Platform>,
    /// The engine's version, e.g. `20.10.24`.
    engine_version: String,
    /// Whether the daemon has BuildKit (Linux, API 1.39 or later).
    has_buildkit: bool,
    /// Whether the daemon runs on this machine (so this machine's binfmt setup is its own).
    is_local: bool,
    /// Pulls and tag look-ups of base images happen one at a time, so a tag cannot move between
    /// the pull for one platform and the look-up of its id.
    base_lock: Mutex<()>,
    /// Whether its image store holds multi-platform images, once asked
    /// ([`Daemon::holds_image_indexes`]).
    image_indexes: tokio::sync::OnceCell<bool>,
    /// Raw connections to the daemon (BuildKit sessions).
    dialer: crate::dial::Dialer,
    /// For `ssh://` daemons: the tunnel `docker` goes through.
    _tunnel: Option<Arc<crate::ssh::SshTunnel>>,
}

impl Daemon {
    /// Connects to the daemon at `endpoint` and checks that it answers.
    pub async fn connect(endpoint: &DaemonEndpoint) -> Result<Self, BuildError> {
        let crate::endpoint::Connection {
            docker,
            dialer,
            tunnel,
        } = endpoint
            .client()
            .map_err(|source| BuildError::DaemonUnreachable {
                endpoint: endpoint.url().to_string(),
                source: Box::new(source),
            })?;
        let unreachable = |source| {
            // Through ssh, what ssh said explains more than the closed connection.
            let source = match tunnel.as_ref().and_then(|t| t.last_error()) {
                Some(said) => bollard::errors::Error::IOError {
                    err: std::io::Error::other(said),
                },
                None => source,
            };
            BuildError::DaemonUnreachable {
                endpoint: endpoint.url().to_string(),
                source: Box::new(source),
            }
        };
        let docker = docker.negotiate_version().await.map_err(unreachable)?;
        let version = docker.version().await.map_err(unreachable)?;
        let native_platform = match (version.os.as_deref(), version.arch.as_deref()) {
            (Some(os), Some(arch)) => Platform::from_parts(os, arch, None).ok(),
            _ => None,
        };
        Ok(Self {
            inner: Arc::new(DaemonInner {
                docker,
                endpoint: endpoint.url().to_string(),
                native_platform,
                engine_version: version.version.clone().unwrap_or_default(),
                has_buildkit: version.os.as_deref() == Some("linux")
                    && version
                        .api_version
                        .as_deref()
                        .and_then(api_version)
                        .is_some_and(|v| v >= (1, 39)),
                is_local: endpoint.is_local(),
                base_lock: Mutex::new(()),
                image_indexes: tokio::sync::OnceCell::new(),
                dialer,
                _tunnel: tunnel,
            }),
        })
    }

    /// How to open raw connections to the daemon.
    pub(crate) fn dialer(&self) -> &crate::dial::Dialer {
        &self.inner.dialer
    }

    /// The endpoint this daemon was reached at.
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    /// What the daemon is and can do, for `mab builders ls`.
    pub async fn describe(&self) -> Result<DaemonInfo, BuildError> {
        let info = self
            .docker()
            .info()
            .await
            .map_err(|e| self.daemon_error("asking for its info", e))?;
        let emulated_platforms = self.emulated_platforms().await;
        Ok(DaemonInfo {
            endpoint: self.endpoint().to_string(),
            engine_version: self.inner.engine_version.clone(),
            native_platform: self.inner.native_platform.clone(),
            emulated_platforms,
            containers_running: info.containers_running.unwrap_or_default().max(0) as u64,
            cpus: info.ncpu.unwrap_or_default().max(0) as u64,
        })
    }

    /// The platforms the daemon runs under emulation, as its BuildKit workers report them (the
    /// QEMU handlers of the daemon's own kernel, be it in a VM or on another host); for a daemon
    /// without BuildKit, this machine's handlers if the daemon is on this machine; `None` when
    /// that cannot be known.
    async fn emulated_platforms(&self) -> Option<Vec<Platform>> {
        let native = self.native_platform();
        let known = if self.inner.has_buildkit {
            crate::backend::buildkit::control::worker_platforms(self.dialer())
                .await
                .ok()
        } else {
            None
        };
        let known = known.or_else(|| self.inner.is_local.then(host_emulated_platforms));
        known.map(|platforms| {
            platforms
                .into_iter()
                .filter(|p| Some(p) != native)
                .collect()
        })
    }

    /// The builder that builds a request asking for `asked` here: the classic builder when
    /// BuildKit is asked of a daemon that has none (Linux, API 1.39 or later).
    pub fn builder_for(&self, asked: BuilderKind) -> BuilderKind {
        match asked {
            BuilderKind::BuildKit if !self.inner.has_buildkit => BuilderKind::Classic,
            kind => kind,
        }
    }

    /// The engine's version, e.g. `20.10.24` (empty when the daemon did not say).
    pub fn engine_version(&self) -> &str {
        &self.inner.engine_version
    }

    /// The daemon's own platform, if it said.
    pub fn native_platform(&self) -> Option<&Platform> {
        self.inner.native_platform.as_ref()
    }

    pub(crate) fn docker(&self) -> &Docker {
        &self.inner.docker
    }

    pub(crate) fn daemon_error(
        &self,
        action: impl Into<String>,
        source: bollard::errors::Error,
    ) -> BuildError {
        BuildError::Daemon {
            endpoint: self.endpoint().to_string(),
            action: action.into(),
            source: Box::new(source),
        }
    }

    /// The backend that builds with `kind` on this daemon.
    pub fn backend(&self, kind: BuilderKind) -> Box<dyn Backend> {
        match kind {
            BuilderKind::Classic => Box::new(ClassicBackend {
                daemon: self.clone(),
            }),
            BuilderKind::BuildKit => Box::new(BuildKitBackend {
                daemon: self.clone(),
            }),
        }
    }

    /// Builds `request` with the backend it asks for (the classic builder, with a warning, when
    /// BuildKit is asked of a daemon that has none) and returns the image, checked to be of the
    /// requested platform.
    pub async fn build(
        &self,
        request: &BuildRequest,
        reporter: &dyn BuildReporter,
        bases: &dyn BaseResolver,
    ) -> Result<BuiltImage, BuildError> {
        let kind = self.builder_for(request.builder);
        if kind != request.builder {
            reporter.warning(&format!(
                "the docker daemon at {} (engine {}) has no BuildKit: building with the classic \
                 builder",
                self.endpoint(),
                self.inner.engine_version
            ));
        }
        // A build may be silent for long (a RUN step); a daemon that stops answering is not.
        let backend = self.backend(kind);
        tokio::select! {
            built = backend.build(request, reporter, bases) => built,
            gone = crate::liveness::until_unresponsive(self.docker()) => {
                Err(BuildError::DaemonStopped {
                    endpoint: self.endpoint().to_string(),
                    doing: "building".to_string(),
                    last: gone.last,
                })
            }
        }
    }

    /// Whether its image store holds multi-platform images, once known (`load.rs`).
    pub(crate) fn image_indexes(&self) -> &tokio::sync::OnceCell<bool> {
        &self.inner.image_indexes
    }

    /// The engine's version, as compared with what Dockerfile features need; `None` when it
    /// says none a version can be read from (a development build).
    pub(crate) fn engine(&self) -> Option<crate::EngineVersion> {
        crate::EngineVersion::parse(&self.inner.engine_version)
    }

    /// The image `id` the daemon just built for `platform`, checked to be of that platform.
    pub(crate) async fn checked_image(
        &self,
        id: String,
        platform: &Platform,
        builder: BuilderKind,
    ) -> Result<BuiltImage, BuildError> {
        let (actual, diff_ids) = self.image_platform(&id).await?;
        if !platform.matches_config(&actual.os, &actual.architecture, actual.variant.as_deref()) {
            return Err(BuildError::PlatformMismatch {
                endpoint: self.endpoint().to_string(),
                wanted: platform.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(BuiltImage {
            id,
            platform: actual.to_string(),
            diff_ids,
            builder,
            pushed_by_engine: false,
            engine_push_failed: false,
        })
    }

    /// The os/architecture/variant recorded in a local image's config, and its layers' diff ids.
    async fn image_platform(
        &self,
        image: &str,
    ) -> Result<(ConfigPlatform, Vec<String>), BuildError> {
        let inspect = self
            .docker()
            .inspect_image(image)
            .await
            .map_err(|e| self.daemon_error(format!("inspecting image {image}"), e))?;
        let diff_ids = inspect
            .root_fs
            .and_then(|root_fs| root_fs.layers)
            .unwrap_or_default();
        let platform = ConfigPlatform {
            os: inspect.os.unwrap_or_default(),
            architecture: inspect.architecture.unwrap_or_default(),
            variant: inspect.variant.filter(|v| !v.is_empty()),
        };
        Ok((platform, diff_ids))
    }

    /// The local image id of `base` for `target` (or the platform its `FROM --platform=` names),
    /// pulling it for that platform when the daemon has none of the right platform, or always
    /// when `pull` is set.
    pub(crate) async fn resolve_base(
        &self,
        base: &BaseImage,
        target: &Platform,
        pull: bool,
        bases: &dyn BaseResolver,
    ) -> Result<String, BuildError> {
        let wanted = base_platform(base, target);
        // When the registry says which image the reference names for that platform now, it is
        // used by digest: pulled by digest if the daemon lacks it, so no local tag moves (the
        // user's `alpine:latest` stays the image it was) and no other client of the daemon can
        // change what it names. A digest from the registry is current, so `pull` is met too.
        match bases.platform_image(&base.reference, &wanted).await {
            Some(by_digest) => {
                self.local_or_pulled(&by_digest, base, &wanted, PullAttempts::One)
                    .await
            }
            None => self.base_by_tag(base, &wanted, pull).await,
        }
    }

    /// When the registry cannot say which image a base names: the local image of the tag if it
    /// is of the `wanted` platform (unless `pull`), else the tag pulled for that platform with
    /// the user's credentials and the daemon's own trust (this moves the local tag, as `docker
    /// pull --platform` does); its local image id.
    pub(crate) async fn base_by_tag(
        &self,
        base: &BaseImage,
        wanted: &Platform,
        pull: bool,
    ) -> Result<String, BuildError> {
        if pull {
            self.pulled(&base.reference, base, wanted, PullAttempts::UntilItMatches)
                .await
        } else {
            self.local_or_pulled(&base.reference, base, wanted, PullAttempts::UntilItMatches)
                .await
        }
    }

    /// A private local tag naming image `id` (`mab-pinned/base:<hex>`), for BuildKit, which
    /// cannot name an image by id; the same id always gets the same tag.
    pub(crate) async fn private_tag(&self, id: &str) -> Result<String, BuildError> {
        const REPOSITORY: &str = "mab-pinned/base";
        let hex = id.trim_start_matches("sha256:");
        let options = bollard::query_parameters::TagImageOptionsBuilder::default()
            .repo(REPOSITORY)
            .tag(hex)
            .build();
        let tagged = self.docker().tag_image(id, Some(options.clone())).await;
        if let Err(e) = tagged {
            // On the containerd image store one platform of a multi-platform image (as
            // `--load` puts an image of the plan in the daemon) has no image of its own to
            // tag: the tag names the image that holds it, and BuildKit takes that platform
            // from it.
            // Several images may hold it, some only for a moment (BuildKit's own records of a
            // build using it): the named ones are tried first, and the next one when one is gone.
            let mut last = e;
            for holder in self.images_holding(id, None).await {
                match self
                    .docker()
                    .tag_image(&holder, Some(options.clone()))
                    .await
                {
                    Ok(()) => return Ok(format!("{REPOSITORY}:{hex}")),
                    Err(e) => last = e,
                }
            }
            return Err(self.daemon_error(format!("tagging base image {id}"), last));
        }
        Ok(format!("{REPOSITORY}:{hex}"))
    }

    /// For BuildKit, which resolves `FROM` itself: the reference by digest of `base`'s image
    /// for its platform, made local (pulled by digest, with the user's credentials for its
    /// registry, if the daemon lacks it), so that BuildKit finds it without pulling and no local
    /// tag moves, and its local image id; `None` when the registry cannot say (BuildKit then
    /// resolves the reference as written).
    pub(crate) async fn base_by_digest(
        &self,
        base: &BaseImage,
        target: &Platform,
        bases: &dyn BaseResolver,
    ) -> Result<Option<(String, String)>, BuildError> {
        let wanted = base_platform(base, target);
        let Some(by_digest) = bases.platform_image(&base.reference, &wanted).await else {
            return Ok(None);
        };
        // (the caller falls back to `base_by_tag` and a private tag)
        let id = self
            .local_or_pulled(&by_digest, base, &wanted, PullAttempts::One)
            .await?;
        // An image of this daemon named by its id (built earlier in the same run): BuildKit
        // cannot name an image by id.
        if by_digest.starts_with("sha256:") {
            return Ok(Some((self.private_tag(&id).await?, id)));
        }
        Ok(Some((by_digest, id)))
    }

    /// The local image id of `reference` for `wanted`, pulled first if the daemon has none of
    /// that platform.
    async fn local_or_pulled(
        &self,
        reference: &str,
        base: &BaseImage,
        wanted: &Platform,
        attempts: PullAttempts,
    ) -> Result<String, BuildError> {
        {
            let _one_at_a_time = self.inner.base_lock.lock().await;
            if let Some(id) = self.local_image_for(reference, wanted).await {
                return Ok(id);
            }
        }
        self.pulled(reference, base, wanted, attempts).await
    }

    /// Pulls `reference` (`base`, or it by digest) for `wanted` with the user's credentials for
    /// its registry, and returns the local image id.
    async fn pulled(
        &self,
        reference: &str,
        base: &BaseImage,
        wanted: &Platform,
        attempts: PullAttempts,
    ) -> Result<String, BuildError> {
        let _one_at_a_time = self.inner.base_lock.lock().await;
        let credentials = crate::credentials::for_pulling(&base.reference).await;
        // By tag: the lock keeps this process's builds from moving the tag between pull and
        // look-up, but another client of the daemon may pull the same tag for another platform
        // in that moment: a mismatch right after a pull is pulled again, a few times.
        let attempts = match attempts {
            PullAttempts::One => 1,
            PullAttempts::UntilItMatches => BASE_PULL_ATTEMPTS,
        };
        let mut actual = None;
        for attempt in 0..attempts {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(100 * u64::from(attempt)))
                    .await;
            }
            let options = CreateImageOptionsBuilder::default()
                .from_image(reference)
                .platform(&wanted.to_string())
                .build();
            self.docker()
                .create_image(Some(options), None, credentials.clone())
                .try_for_each(|_| async { Ok(()) })
                .await
                .map_err(|source| BuildError::BasePull {
                    reference: base.reference.clone(),
                    platform: wanted.to_string(),
                    endpoint: self.endpoint().to_string(),
                    source: Box::new(source),
                })?;
            let inspect = self.docker().inspect_image(reference).await.map_err(|e| {
                self.daemon_error(format!("inspecting base image {}", base.reference), e)
            })?;
            let found = ConfigPlatform {
                os: inspect.os.unwrap_or_default(),
                architecture: inspect.architecture.unwrap_or_default(),
                variant: inspect.variant.filter(|v| !v.is_empty()),
            };
            if !wanted.matches_config(&found.os, &found.architecture, found.variant.as_deref()) {
                // The containerd image store keeps every platform a tag was pulled for, and
                // inspecting the tag shows the daemon's own platform: ask for the variant.
                if let Some(id) = self.platform_variant(reference, wanted).await {
                    return Ok(id);
                }
            } else {
                return inspect.id.ok_or_else(|| {
                    self.daemon_error(
                        format!("inspecting base image {}", base.reference),
                        bollard::errors::Error::DockerStreamError {
                            error: "the daemon returned no image id".to_string(),
                        },
                    )
                });
            }
            actual = Some(found);
        }
        Err(BuildError::BasePlatform {
            reference: base.reference.clone(),
            endpoint: self.endpoint().to_string(),
            wanted: wanted.to_string(),
            actual: actual.map(|a| a.to_string()).unwrap_or_default(),
        })
    }

    /// The id of the local image `reference` if the daemon has it for `platform`.
    async fn local_image_for(&self, reference: &str, platform: &Platform) -> Option<String> {
        let inspect = match self.docker().inspect_image(reference).await {
            Ok(inspect) => inspect,
            // An id the daemon has as one platform of a multi-platform image (the containerd
            // image store), not as an image of its own: that platform's image is there.
            Err(_) if is_image_id(reference) => {
                return self
                    .image_holding(reference, Some(platform))
                    .await
                    .map(|_| reference.to_string());
            }
            Err(_) => return None,
        };
        let os = inspect.os.as_deref().unwrap_or_default();
        let arch = inspect.architecture.as_deref().unwrap_or_default();
        let variant = inspect.variant.as_deref().filter(|v| !v.is_empty());
        if platform.matches_config(os, arch, variant) {
            return inspect.id;
        }
        self.platform_variant(reference, platform).await
    }

    /// On the containerd image store (Docker 24+ with `containerd-snapshotter`), where one tag
    /// holds every platform pulled for it and inspecting it shows the daemon's own platform:
    /// the id (the platform manifest's digest) of the `platform` image the tag `reference`
    /// holds, if it is there. `None` on the classic store (no manifests listed).
    async fn platform_variant(&self, reference: &str, platform: &Platform) -> Option<String> {
        // The `reference` filter takes names and tags, not digests (those inspect right).
        if reference.contains('@') {
            return None;
        }
        let filters = std::collections::HashMap::from([("reference", vec![reference])]);
        let options = bollard::query_parameters::ListImagesOptionsBuilder::default()
            .filters(&filters)
            .manifests(true)
            .build();
        let images = self.docker().list_images(Some(options)).await.ok()?;
        images
            .into_iter()
            .flat_map(|image| image.manifests.unwrap_or_default())
            .find(|m| is_platform_image(m, Some(platform)))
            .map(|m| m.id)
    }

    /// On the containerd image store, where the image id of one platform of a multi-platform
    /// image is its platform manifest's digest and that platform has no image of its own (it
    /// cannot be inspected, tagged or pulled by that id): the id of the local image that holds
    /// manifest `id`, available (and of `platform`, if given). `None` on the classic store.
    async fn image_holding(&self, id: &str, platform: Option<&Platform>) -> Option<String> {
        self.images_holding(id, platform).await.into_iter().next()
    }

    /// Every local image that holds manifest `id` (see [`Self::image_holding`]), those with a
    /// name first.
    async fn images_holding(&self, id: &str, platform: Option<&Platform>) -> Vec<String> {
        let options = bollard::query_parameters::ListImagesOptionsBuilder::default()
            .manifests(true)
            .build();
        let Ok(images) = self.docker().list_images(Some(options)).await else {
            return Vec::new();
        };
        let mut holders: Vec<(bool, String)> = images
            .into_iter()
            .filter(|image| {
                image
                    .manifests
                    .as_deref()
                    .unwrap_or_default()
                    .iter()
                    .any(|m| m.id == id && is_platform_image(m, platform))
            })
            .map(|image| (image.repo_tags.is_empty(), image.id))
            .collect();
        // Named first (false sorts before true); stable, so the daemon's order otherwise.
        holders.sort_by_key(|(unnamed, _)| *unnamed);
        holders.into_iter().map(|(_, id)| id).collect()
    }

    /// A fresh `docker save` stream of an image this daemon built, from the backend that built
    /// it.
    pub fn export_built(&self, image: &BuiltImage) -> ImageExport {
        self.backend(image.builder).export(image)
    }

    /// Streams `docker save` of one image (by id), as an `AsyncRead`; it fails (`TimedOut`)
    /// when the daemon stops answering before the first byte or stops sending after it (see
    /// `liveness.rs`).
    pub fn export(&self, image_id: &str) -> impl AsyncRead + Send + Unpin + 'static {
        let endpoint = self.endpoint().to_string();
        let named = endpoint.clone();
        let stream = self.docker().export_image(image_id).map_err(move |e| {
            std::io::Error::other(format!(
                "exporting the image from the docker daemon at {named}: {e}"
            ))
        });
        let guarded = crate::liveness::guard_export(stream, self.docker().clone(), endpoint);
        tokio_util::io::StreamReader::new(Box::pin(guarded))
    }

    /// Removes an image (best effort: used to clean up after a failed run).
    pub async fn remove_image(&self, image_id: &str) {
        let _ = self
            .docker()
            .remove_image(
                image_id,
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await;
    }
}

/// What a daemon is and can do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonInfo {
    /// The endpoint it was reached at.
    pub endpoint: String,
    /// The engine version (`20.10.24`).
    pub engine_version: String,
    /// Its own platform.
    pub native_platform: Option<Platform>,
    /// Platforms it can run under QEMU user emulation; `None` when that cannot be known (a
    /// remote daemon without BuildKit).
    pub emulated_platforms: Option<Vec<Platform>>,
    /// Containers running right now (builds in progress show up here).
    pub containers_running: u64,
    /// CPUs the daemon sees.
    pub cpus: u64,
}

/// The platforms this machine's kernel can run through registered, enabled QEMU binfmt handlers
/// (`/proc/sys/fs/binfmt_misc/qemu-*`).
pub fn host_emulated_platforms() -> Vec<Platform> {
    const HANDLERS: &[(&str, &str)] = &[
        ("qemu-aarch64", "linux/arm64"),
        ("qemu-arm", "linux/arm/v7"),
        ("qemu-x86_64", "linux/amd64"),
        ("qemu-i386", "linux/386"),
        ("qemu-riscv64", "linux/riscv64"),
        ("qemu-s390x", "linux/s390x"),
        ("qemu-ppc64le", "linux/ppc64le"),
        ("qemu-mips64el", "linux/mips64le"),
        ("qemu-loongarch64", "linux/loong64"),
    ];
    HANDLERS
        .iter()
        .filter(|(handler, _)| {
            std::fs::read_to_string(format!("/proc/sys/fs/binfmt_misc/{handler}"))
                .map(|text| text.lines().next() == Some("enabled"))
                .unwrap_or(false)
        })
        .filter_map(|(_, platform)| platform.parse().ok())
        .collect()
}

/// How many times a base is pulled before its platform is believed wrong.
#[derive(Clone, Copy)]
enum PullAttempts {
    /// By digest: what it names cannot change.
    One,
    /// By tag: another client of the daemon may move it between pull and look-up.
    UntilItMatches,
}

/// The platform a base is pulled for: its `FROM --platform=` (after substitution), else the
/// build's.
pub(crate) fn base_platform(base: &BaseImage, target: &Platform) -> Platform {
    match &base.platform {
        Some(text) => text.parse::<Platform>().unwrap_or_else(|_| target.clone()),
        None => target.clone(),
    }
}

/// Whether one manifest a multi-platform image lists (`docker images --manifests`) is an
/// available platform image, of `platform` if given.
fn is_platform_image(
    manifest: &bollard::models::ImageManifestSummary,
    platform: Option<&Platform>,
) -> bool {
    manifest.available
        && manifest.kind == Some(bollard::models::ImageManifestSummaryKindEnum::IMAGE)
        && platform.is_none_or(|platform| {
            manifest.image_data.as_ref().is_some_and(|data| {
                let p = &data.platform;
                platform.matches_config(
                    p.os.as_deref().unwrap_or_default(),
                    p.architecture.as_deref().unwrap_or_default(),
                    p.variant.as_deref().filter(|v| !v.is_empty()),
                )
            })
        })
}

/// Whether `reference` is an image id (`sha256:` and 64 hex digits), not a name.
pub(crate) fn is_image_id(reference: &str) -> bool {
    mab_vocab::sha256_hex(reference).is_some()
}

/// `major.minor` of an API version such as `1.41`.
fn api_version(text: &str) -> Option<(u32, u32)> {
    let (major, minor) = text.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// The build args BuildKit defines by itself for a build of `target` on a daemon of `native`
/// (`TARGETPLATFORM`, `TARGETARCH`, `BUILDPLATFORM`, …).
pub(crate) fn automatic_platform_args(
    target: &Platform,
    native: Option<&Platform>,
) -> BTreeMap<String, String> {
    let mut args = BTreeMap::new();
    args.insert("TARGETPLATFORM".to_string(), target.to_string());
    args.insert("TARGETOS".to_string(), target.os().to_string());
    args.insert("TARGETARCH".to_string(), target.architecture().to_string());
    args.insert(
        "TARGETVARIANT".to_string(),
        target.variant().unwrap_or_default().to_string(),
    );
    if let Some(native) = native {
        args.insert("BUILDPLATFORM".to_string(), native.to_string());
        args.insert("BUILDOS".to_string(), native.os().to_string());
        args.insert("BUILDARCH".to_string(), native.architecture().to_string());
        args.insert(
            "BUILDVARIANT".to_string(),
            native.variant().unwrap_or_default().to_string(),
        );
    }
    args
}

/// The platform fields of an image config.
struct ConfigPlatform {
    os: String,
    architecture: String,
    variant: Option<String>,
}

impl std::fmt::Display for ConfigPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Whether image `reference` (`name[:tag][@digest]`) is in `repository` (`registry/path`),
/// with Docker Hub's short names normalised (`alpine` is `docker.io/library/alpine`).
pub(crate) fn same_repository(reference: &str, repository: &str) -> bool {
    let Ok(repository) = repository.parse::<mab_vocab::Repository>() else {
        return false;
    };
    mab_vocab::ImageReference::parse(reference).is_ok_and(|image| image.is_in(&repository))
}

#[cfg(test)]
mod tests {
    use super::is_image_id;

    #[test]
    fn an_image_id_is_a_sha256_digest_alone() {
        let hex = "5dd4ac71581e0a6b33e76a2783eb22822c6d4bc98b8439d0949553dfa06367ee";
        assert!(is_image_id(&format!("sha256:{hex}")));
        for not_an_id in [
            hex.to_string(),
            format!("sha256:{}", &hex[1..]),
            format!("busybox@sha256:{hex}"),
            "sha256:latest".to_string(),
            "127.0.0.1:5000/base:dev".to_string(),
        ] {
            assert!(!is_image_id(&not_an_id), "{not_an_id}");
        }
    }
}
