//! The validated plan. Values of these types exist only when every check has passed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mab_platform::Platform;
use mab_vocab::{BuilderKind, LayerCompression, ManifestFormat};

use crate::Repository;
use crate::mounts::{BuildSecret, SshForward};
use crate::supply::{Attestations, Signing};

/// A validated build plan: which images to build for which platforms, and where to push them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Plan {
    pub(crate) file: PathBuf,
    pub(crate) registries: BTreeMap<String, RegistrySettings>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) builders: Vec<Builder>,
    pub(crate) images: Vec<ImageSpec>,
    /// Indexes into `images`: every image after the images it depends on.
    #[serde(skip_serializing_if = "is_identity")]
    pub(crate) order: Vec<usize>,
}

impl Plan {
    /// The plan file, as the user named it.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The images to build, in the order of the plan (at least one).
    pub fn images(&self) -> &[ImageSpec] {
        &self.images
    }

    /// Indexes into [`Plan::images`] in an order in which every image comes after the images it
    /// depends on (`depends_on`); otherwise the order of the plan.
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    /// The images in [`Plan::order`].
    pub fn images_in_order(&self) -> impl Iterator<Item = (usize, &ImageSpec)> {
        self.order.iter().map(|&index| (index, &self.images[index]))
    }

    /// The settings for a registry `host[:port]` (exact match, e.g. `127.0.0.1:5000`), if the
    /// plan has any under `registries:`.
    pub fn registry(&self, host: &str) -> Option<&RegistrySettings> {
        self.registries.get(host)
    }

    /// Every registry with settings, sorted by host.
    pub fn registries(&self) -> impl Iterator<Item = (&str, &RegistrySettings)> {
        self.registries
            .iter()
            .map(|(host, settings)| (host.as_str(), settings))
    }
}

impl Plan {
    /// The builders (Docker daemons) declared under `builders:`, in the order of the plan:
    /// names unique, endpoints of an accepted form and distinct. Empty when the plan declares
    /// none: then every job goes to the daemon of `DOCKER_HOST` (or the local socket).
    pub fn builders(&self) -> &[Builder] {
        &self.builders
    }
}

fn is_identity(order: &[usize]) -> bool {
    order.iter().enumerate().all(|(n, &index)| n == index)
}

/// Settings for one registry host.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RegistrySettings {
    pub(crate) insecure: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ca_cert: Option<PathBuf>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "seconds",
        rename = "stall_limit_seconds"
    )]
    pub(crate) stall_limit: Option<std::time::Duration>,
}

/// A duration as seconds, for JSON.
fn seconds<S: serde::Serializer>(
    duration: &Option<std::time::Duration>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match duration {
        Some(d) => serializer.serialize_f64(d.as_secs_f64()),
        None => serializer.serialize_none(),
    }
}

impl RegistrySettings {
    /// Whether to talk plain HTTP to the registry instead of HTTPS.
    pub fn insecure(&self) -> bool {
        self.insecure
    }

    /// A PEM file of certificate authorities to trust for this registry (besides the system's):
    /// the plan's folder joined with `ca_cert`, normalised lexically.
    pub fn ca_cert(&self) -> Option<&Path> {
        self.ca_cert.as_deref()
    }

    /// How long a request to this registry may move no bytes before it is given up (`None`:
    /// the default).
    pub fn stall_limit(&self) -> Option<std::time::Duration> {
        self.stall_limit
    }
}

/// A Docker daemon that builds the plan's jobs (an item of `builders:`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Builder {
    pub(crate) name: String,
    pub(crate) endpoint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) context: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) platforms: Vec<Platform>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_jobs: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tls: Option<BuilderTls>,
}

impl Builder {
    /// Its name, unique in the plan (letters, digits, `.`, `_`, `-`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where its daemon listens: `unix:///path`, `tcp://host:port` (`http://`, `https://`) or
    /// `ssh://[user@]host[:port]`, variables expanded.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The Docker context the plan named it by (`context:`), whose endpoint and TLS files
    /// [`Builder::endpoint`] and [`Builder::tls`] are; `None` for an `endpoint:`.
    pub fn context(&self) -> Option<&str> {
        self.context.as_deref()
    }

    /// The platforms it builds natively, normalised; empty when the plan does not say (then
    /// its daemon is asked).
    pub fn platforms(&self) -> &[Platform] {
        &self.platforms
    }

    /// How many jobs it may run at once, when the plan limits it.
    pub fn max_jobs(&self) -> Option<usize> {
        self.max_jobs
    }

    /// The TLS client identity for a `tcp://` daemon started with `--tlsverify`.
    pub fn tls(&self) -> Option<&BuilderTls> {
        self.tls.as_ref()
    }
}

/// The files of a builder's TLS client identity: paths joined to the plan's folder, normalised
/// lexically, checked to exist.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BuilderTls {
    pub(crate) ca: PathBuf,
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
}

impl BuilderTls {
    /// A client identity from its files (as a Docker context stores them).
    pub fn new(ca: PathBuf, cert: PathBuf, key: PathBuf) -> Self {
        Self { ca, cert, key }
    }

    /// The CA that signed the daemon's certificate.
    pub fn ca(&self) -> &Path {
        &self.ca
    }

    /// The client certificate.
    pub fn cert(&self) -> &Path {
        &self.cert
    }

    /// The client key.
    pub fn key(&self) -> &Path {
        &self.key
    }
}

/// What a Docker context says of its daemon, as [`crate::PlanEnv::docker_context`] reads it
/// for a builder's `context:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerContext {
    /// The daemon's endpoint (`unix://…`, `tcp://…`, `ssh://…`).
    pub endpoint: String,
    /// The TLS client identity stored with the context, for a `tcp://` daemon with TLS.
    pub tls: Option<BuilderTls>,
}

/// One image to build for several platforms and push, under several tags, to one or more
/// repositories.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImageSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    pub(crate) repositories: Vec<Repository>,
    pub(crate) platforms: Vec<Platform>,
    pub(crate) tags: Vec<String>,
    pub(crate) format: ManifestFormat,
    #[serde(skip_serializing_if = "LayerCompression::is_gzip")]
    pub(crate) compression: LayerCompression,
    #[serde(flatten)]
    pub(crate) build: BuildSettings,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) overrides: Vec<PlatformBuild>,
    #[serde(skip_serializing_if = "Annotations::is_empty")]
    pub(crate) annotations: Annotations,
    #[serde(skip_serializing_if = "Attestations::is_none")]
    pub(crate) attestations: Attestations,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) sign: Option<Signing>,
    #[serde(skip)]
    pub(crate) depends_on: Vec<usize>,
    /// `depends_on`, as the first repository of each image depended on (for snapshots).
    #[serde(rename = "depends_on", skip_serializing_if = "Vec::is_empty")]
    pub(crate) depends_on_names: Vec<String>,
}

impl ImageSpec {
    /// Where the image is pushed: the first of [`ImageSpec::repositories`].
    pub fn repository(&self) -> &Repository {
        &self.repositories[0]
    }

    /// Every repository the image is pushed to (never empty, no duplicates), in the order of the
    /// plan: the same manifests and index go to each.
    pub fn repositories(&self) -> &[Repository] {
        &self.repositories
    }

    /// The image's `name`, when it was given as a name under `registries` rather than as a
    /// repository.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The build context folder (for platforms without an override of it): the plan's folder
    /// joined with `context`, normalised lexically (`.` and `..` resolved without looking at
    /// the filesystem). Relative when the plan's path is relative.
    pub fn context_dir(&self) -> &Path {
        &self.build.context_dir
    }

    /// The Dockerfile (for platforms without an override of it): the context folder joined with
    /// `dockerfile`, normalised lexically. It may lie outside the context folder.
    pub fn dockerfile(&self) -> &Path {
        &self.build.dockerfile
    }

    /// The target platforms, normalised, in the order of the plan; never empty, no duplicates.
    pub fn platforms(&self) -> &[Platform] {
        &self.platforms
    }

    /// The tags to push, in the order of the plan, semver tags expanded; never empty, all
    /// valid, no duplicates.
    pub fn tags(&self) -> &[String] {
        &self.tags
    }

    /// `--build-arg` values (for platforms without an override of them), with the defaults'
    /// merged under the image's and environment variables expanded.
    pub fn build_args(&self) -> &BTreeMap<String, String> {
        &self.build.build_args
    }

    /// The kind of multi-platform manifest to push.
    pub fn format(&self) -> ManifestFormat {
        self.format
    }

    /// How the image's layers are compressed.
    pub fn compression(&self) -> LayerCompression {
        self.compression
    }

    /// Which of the daemon's builders builds the image (the plan's `builder:`, default
    /// BuildKit); every platform's [`BuildSettings::backend`] is this one.
    pub fn backend(&self) -> BuilderKind {
        self.build.backend
    }

    /// The annotations to put on the index and on each platform's manifest (OCI format only).
    pub fn annotations(&self) -> &Annotations {
        &self.annotations
    }

    /// The in-toto attestations attached to each platform's image (OCI format only).
    pub fn attestations(&self) -> Attestations {
        self.attestations
    }

    /// How the published index (and, if asked, each platform's manifest) is signed; `None`:
    /// not signed.
    pub fn sign(&self) -> Option<&Signing> {
        self.sign.as_ref()
    }

    /// Indexes into [`crate::Plan::images`] of the images this one is built after.
    pub fn depends_on(&self) -> &[usize] {
        &self.depends_on
    }

    /// How to build the image for `platform`: the image's settings with that platform's
    /// `overrides` applied.
    pub fn build_for(&self, platform: &Platform) -> &BuildSettings {
        self.overrides
            .iter()
            .find(|o| &o.platform == platform)
            .map_or(&self.build, |o| &o.build)
    }

    /// Each platform with how to build it, in the order of [`ImageSpec::platforms`].
    pub fn builds(&self) -> impl Iterator<Item = (&Platform, &BuildSettings)> {
        self.platforms.iter().map(|p| (p, self.build_for(p)))
    }

    /// A short name for messages: the first repository (and how many more there are).
    pub fn label(&self) -> String {
        match self.repositories.len() {
            1 => self.repositories[0].to_string(),
            n => format!("{} (+{} more)", self.repositories[0], n - 1),
        }
    }
}

/// How one platform of an image is built.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BuildSettings {
    pub(crate) context_dir: PathBuf,
    pub(crate) dockerfile: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) target: Option<String>,
    pub(crate) build_args: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) no_cache: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) pull: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) cache_from: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cache_to: Option<CacheExport>,
    #[serde(rename = "builder", skip_serializing_if = "BuilderKind::is_buildkit")]
    pub(crate) backend: BuilderKind,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) secrets: Vec<BuildSecret>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) ssh: Vec<SshForward>,
}

impl BuildSettings {
    /// The build context folder.
    pub fn context_dir(&self) -> &Path {
        &self.context_dir
    }

    /// The Dockerfile.
    pub fn dockerfile(&self) -> &Path {
        &self.dockerfile
    }

    /// The stage of a multi-stage Dockerfile to build (`--target`), if not the last.
    pub fn target(&self) -> Option<&str> {
        self.target.as_deref()
    }

    /// `--build-arg` values, with environment variables expanded (the automatic platform args
    /// are not here: the build driver adds them).
    pub fn build_args(&self) -> &BTreeMap<String, String> {
        &self.build_args
    }

    /// Labels to put on the image config (`--label`).
    pub fn labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }

    /// Build without the daemon's build cache (`--no-cache`).
    pub fn no_cache(&self) -> bool {
        self.no_cache
    }

    /// Pull base images even when the daemon has them (`--pull`).
    pub fn pull(&self) -> bool {
        self.pull
    }

    /// Images whose build cache the build may use (`cache_from`, variables expanded, each a
    /// valid `repository[:tag][@digest]`), in the order of the plan: the platform's own list if
    /// its `overrides` give one, else the image's, else the defaults'.
    pub fn cache_from(&self) -> &[String] {
        &self.cache_from
    }

    /// Where the build's cache goes (`cache_to`), if anywhere.
    pub fn cache_to(&self) -> Option<CacheExport> {
        self.cache_to
    }

    /// Which of the daemon's builders builds it (the plan's `builder:`, the same for every
    /// platform of an image).
    pub fn backend(&self) -> BuilderKind {
        self.backend
    }

    /// The secrets the build may mount (`--secret`), sorted by id, ids unique: the defaults',
    /// the image's and the platform's merged id by id (the later level wins). Sources only,
    /// never values.
    pub fn secrets(&self) -> &[BuildSecret] {
        &self.secrets
    }

    /// The ssh agents and keys the build may use (`--ssh`), sorted by id, ids unique: merged
    /// like [`BuildSettings::secrets`].
    pub fn ssh(&self) -> &[SshForward] {
        &self.ssh
    }
}

/// Where a build's cache goes (the plan's `cache_to:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheExport {
    /// In the image itself: BuildKit writes the cache's metadata into the image config
    /// (`BUILDKIT_INLINE_CACHE`), so the pushed image can be a later build's `cache_from`.
    Inline,
}

impl CacheExport {
    /// The spelling used in plans: `inline`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inline => "inline",
        }
    }
}

/// One platform's build settings when `overrides` changes them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlatformBuild {
    pub(crate) platform: Platform,
    #[serde(flatten)]
    pub(crate) build: BuildSettings,
}

/// Annotations of an image (OCI format only).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Annotations {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) index: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) manifest: BTreeMap<String, String>,
}

impl Annotations {
    /// Annotations of the index (`annotations` of the OCI image index).
    pub fn index(&self) -> &BTreeMap<String, String> {
        &self.index
    }

    /// Annotations of each platform's image manifest.
    pub fn manifest(&self) -> &BTreeMap<String, String> {
        &self.manifest
    }

    /// Whether there are none at either level.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty() && self.manifest.is_empty()
    }
}
