//! The pipeline's invariants, without a daemon or a registry: fake builders and destinations
//! record what the pipeline asks of them.
//!
//! - No tag moves (no index is published) unless every platform of the image is stored.
//! - A builder failure moves the job to another builder; a Dockerfile failure does not.
//! - An image starts only after the images it depends on are published, and is not built when
//!   one of them failed.
//! - A build slot goes to the next job once a build's steps are done (while it exports).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use mab_build::{
    BaseResolver, BuildError, BuildReporter, BuildRequest, BuilderKind, BuiltImage, Fit,
    ImageExport, NoBaseResolver,
};
use mab_pipeline::{
    BuilderLease, BuilderPool, Destination, Events, JobEvent, JobEvents, Notice, PipelineError,
    Pushed, RunOptions, StoredImage,
};
use mab_plan::{ImageSpec, PlanEnv, Platform, parse_plan};
use mab_registry::{
    ElfFiles, ImageFacts, IndexExtras, IndexOptions, PublishedIndex, PushReporter, PushSettings,
    RegistryError, VerifyReport,
};

/// What happened, in order, across the fakes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Happened {
    Built {
        builder: String,
        image: String,
        platform: String,
    },
    Stored {
        destination: String,
        image: String,
        platform: String,
    },
    Published {
        destination: String,
        platforms: Vec<String>,
    },
    /// What a build was given about the images it depends on: the repositories it must pull
    /// afresh, and what the resolver says `r.example/team/base:latest` is.
    Given {
        image: String,
        pull: Vec<String>,
        base: Option<String>,
    },
    /// A build started on a builder.
    Attempted {
        builder: String,
        image: String,
        platform: String,
    },
}

#[derive(Default)]
struct Log(Mutex<Vec<Happened>>);

impl Log {
    fn push(&self, happened: Happened) {
        self.0.lock().unwrap().push(happened);
    }
    fn all(&self) -> Vec<Happened> {
        self.0.lock().unwrap().clone()
    }
    fn published(&self) -> Vec<(String, Vec<String>)> {
        self.all()
            .into_iter()
            .filter_map(|h| match h {
                Happened::Published {
                    destination,
                    platforms,
                } => Some((destination, platforms)),
                _ => None,
            })
            .collect()
    }
    fn position(&self, wanted: impl Fn(&Happened) -> bool) -> Option<usize> {
        self.all().iter().position(wanted)
    }
}

/// How a fake builder treats a job: by image (the Dockerfile's folder name) and platform.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Behaviour {
    Builds,
    /// The daemon goes away under the job.
    BuilderFails,
    /// The build stream breaks the first time; the next try builds.
    BuilderFailsOnce,
    /// A `RUN` step fails.
    DockerfileFails,
    /// Says its steps are done, then finishes exporting only once another build has started
    /// (fails after 10 s).
    ExportsWhileAnotherBuilds,
}

struct FakeBuilder {
    name: &'static str,
    platforms: Vec<Platform>,
    /// (image, platform) → behaviour; default: builds.
    script: Vec<(&'static str, &'static str, Behaviour)>,
    /// Whether it still answers when probed after a failure (else it is lost).
    answers_after_failure: bool,
}

struct FakePool(Arc<PoolState>);

struct PoolState {
    builders: Vec<FakeBuilder>,
    log: Arc<Log>,
    probes: AtomicU64,
    /// Failures of `BuilderFailsOnce` so far.
    flakes: AtomicU64,
    /// Builds started so far, and a signal for each.
    started: AtomicU64,
    start: tokio::sync::Notify,
}

/// The image a request is for: the name of its context folder.
fn image_of(request: &BuildRequest) -> String {
    request
        .context_dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

impl BuilderPool for FakePool {
    type Lease = OwnedLease;

    fn names_builders(&self) -> bool {
        true
    }

    fn check(&self, platform: &Platform) -> Result<Fit, BuildError> {
        self.0
            .builders
            .iter()
            .any(|b| b.platforms.contains(platform))
            .then_some(Fit::Native)
            .ok_or_else(|| no_builder(platform))
    }

    async fn acquire<'a>(
        &'a self,
        platform: &'a Platform,
        excluded: &'a [usize],
    ) -> Result<OwnedLease, BuildError> {
        let builders = &self.0.builders;
        let index = (0..builders.len())
            .find(|i| !excluded.contains(i) && builders[*i].platforms.contains(platform))
            .ok_or_else(|| no_builder(platform))?;
        Ok(OwnedLease {
            pool: Arc::clone(&self.0),
            index,
        })
    }

    async fn probe_after_failure<'a>(&'a self, lease: &'a OwnedLease) -> Option<String> {
        self.0.probes.fetch_add(1, Ordering::Relaxed);
        (!self.0.builders[lease.index].answers_after_failure).then(|| "gone".to_string())
    }
}

/// One fake builder, leased.
struct OwnedLease {
    pool: Arc<PoolState>,
    index: usize,
}

impl BuilderLease for OwnedLease {
    fn name(&self) -> &str {
        self.pool.builders[self.index].name
    }
    fn endpoint(&self) -> &str {
        "fake://"
    }
    fn index(&self) -> usize {
        self.index
    }
    fn fit(&self) -> Fit {
        Fit::Native
    }
    async fn build<'a>(
        &'a self,
        request: &'a BuildRequest,
        reporter: &'a dyn BuildReporter,
        bases: &'a dyn BaseResolver,
    ) -> Result<BuiltImage, BuildError> {
        tokio::task::yield_now().await;
        let mine = self.pool.started.fetch_add(1, Ordering::SeqCst) + 1;
        self.pool.start.notify_waiters();
        let builder = &self.pool.builders[self.index];
        let image = image_of(request);
        let platform = request.platform.to_string();
        self.pool.log.push(Happened::Given {
            image: image.clone(),
            pull: request.pull_repositories.clone(),
            base: bases
                .platform_image("r.example/team/base:latest", &request.platform)
                .await,
        });
        self.pool.log.push(Happened::Attempted {
            builder: builder.name.to_string(),
            image: image.clone(),
            platform: platform.clone(),
        });
        let mut behaviour = builder
            .script
            .iter()
            .find(|(i, p, _)| *i == image && *p == platform)
            .map_or(Behaviour::Builds, |(_, _, b)| *b);
        if behaviour == Behaviour::BuilderFailsOnce {
            behaviour = if self.pool.flakes.fetch_add(1, Ordering::Relaxed) == 0 {
                Behaviour::BuilderFails
            } else {
                Behaviour::Builds
            };
        }
        if behaviour == Behaviour::ExportsWhileAnotherBuilds {
            reporter.steps_done();
            let another_started = async {
                loop {
                    let signal = self.pool.start.notified();
                    if self.pool.started.load(Ordering::SeqCst) > mine {
                        return;
                    }
                    signal.await;
                }
            };
            behaviour =
                match tokio::time::timeout(std::time::Duration::from_secs(10), another_started)
                    .await
                {
                    Ok(()) => Behaviour::Builds,
                    Err(_) => Behaviour::DockerfileFails,
                };
        }
        match behaviour {
            Behaviour::Builds => {
                self.pool.log.push(Happened::Built {
                    builder: builder.name.to_string(),
                    image: image.clone(),
                    platform: platform.clone(),
                });
                Ok(BuiltImage {
                    id: fake_digest(&format!("{image}|{platform}")),
                    platform,
                    diff_ids: Vec::new(),
                    builder: BuilderKind::Classic,
                    pushed_by_engine: false,
                    engine_push_failed: false,
                })
            }
            Behaviour::BuilderFails | Behaviour::BuilderFailsOnce => {
                Err(BuildError::NoImageProduced {
                    platform,
                    endpoint: builder.name.to_string(),
                })
            }
            Behaviour::DockerfileFails | Behaviour::ExportsWhileAnotherBuilds => {
                Err(BuildError::BuildFailed {
                    platform,
                    endpoint: builder.name.to_string(),
                    message: "the command '/bin/sh -c false' returned a non-zero code: 1"
                        .to_string(),
                })
            }
        }
    }
    fn export(&self, _image: &BuiltImage) -> ImageExport {
        Box::new(tokio::io::empty())
    }
    fn release_slot(&self) {}
    async fn build_key<'a>(
        &'a self,
        request: &'a BuildRequest,
        _bases: &'a dyn BaseResolver,
        context: &'a str,
    ) -> Option<String> {
        // The context's digest in part: a changed context is another key.
        Some(fake_digest(&format!(
            "k{}{}{}",
            context.get(7..15)?,
            image_of(request),
            request.platform
        )))
    }
    async fn remembered<'a>(
        &'a self,
        image_id: &'a str,
        request: &'a BuildRequest,
    ) -> Option<BuiltImage> {
        let platform = request.platform.to_string();
        let built = fake_digest(&format!("{}|{platform}", image_of(request)));
        (image_id == built).then(|| BuiltImage {
            id: built,
            platform,
            diff_ids: Vec::new(),
            builder: BuilderKind::Classic,
            pushed_by_engine: false,
            engine_push_failed: false,
        })
    }
}

/// The text of a [`fake_digest`].
fn undigest(digest: &str) -> String {
    let hex = digest.strip_prefix("sha256:").unwrap();
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .filter(|b| *b != 0)
        .collect();
    String::from_utf8(bytes).unwrap()
}

/// `sha256:` and 64 hex digits made of `text` (distinct texts, distinct digests).
fn fake_digest(text: &str) -> String {
    let hex: String = text.bytes().map(|b| format!("{b:02x}")).collect();
    assert!(hex.len() <= 64, "{text} is too long for a fake digest");
    format!("sha256:{hex:0>64}")
}

fn no_builder(platform: &Platform) -> BuildError {
    BuildError::NoBuilder {
        platform: platform.to_string(),
        tried: "every fake builder".to_string(),
    }
}

#[derive(Clone)]
struct FakeStored {
    digest: String,
    elf: ElfFiles,
}

impl StoredImage for FakeStored {
    fn digest(&self) -> &str {
        &self.digest
    }
    fn size(&self) -> u64 {
        1
    }
    fn elf_files(&self) -> &ElfFiles {
        &self.elf
    }
}

struct FakeDestination {
    name: String,
    log: Arc<Log>,
    /// Platforms whose push fails.
    refuse: Vec<String>,
    /// Stands for the local daemon (`--load`).
    local: bool,
    /// Says that it had every blob already.
    reuses: bool,
}

impl Destination for FakeDestination {
    type Stored = FakeStored;
    type Error = RegistryError;

    fn describe(&self) -> String {
        self.name.clone()
    }

    fn repository(&self) -> String {
        self.name.clone()
    }

    fn is_local_daemon(&self) -> bool {
        self.local
    }

    async fn push<'a>(
        &'a self,
        _platform: &'a Platform,
        _export: &'a (dyn Fn() -> ImageExport + Send + Sync),
        facts: ImageFacts<'a>,
        _settings: PushSettings<'a>,
        _reporter: &'a dyn PushReporter,
    ) -> Result<Pushed<FakeStored>, RegistryError> {
        tokio::task::yield_now().await;
        let text = undigest(facts.config_digest);
        let (image, platform) = text.split_once('|').unwrap();
        if self.refuse.iter().any(|p| p == platform) {
            return Err(RegistryError::EmptyIndex);
        }
        self.log.push(Happened::Stored {
            destination: self.name.clone(),
            image: image.to_string(),
            platform: platform.to_string(),
        });
        Ok(Pushed {
            stored: FakeStored {
                digest: format!("sha256:{image}-{platform}"),
                elf: ElfFiles::default(),
            },
            reused: self.reuses,
        })
    }

    async fn publish<'a>(
        &'a self,
        manifests: &'a [(Platform, FakeStored)],
        _extras: IndexExtras<'a>,
        _tags: &'a [String],
        _options: &'a IndexOptions,
    ) -> Result<PublishedIndex, RegistryError> {
        self.log.push(Happened::Published {
            destination: self.name.clone(),
            platforms: manifests.iter().map(|(p, _)| p.to_string()).collect(),
        });
        Ok(PublishedIndex {
            digest: format!("sha256:index-of-{}", self.name),
            media_type: "application/vnd.oci.image.index.v1+json".to_string(),
            size: 1,
        })
    }

    async fn verify_tag<'a>(
        &'a self,
        _tag: &'a str,
        _expected_digest: &'a str,
    ) -> Result<Option<VerifyReport>, RegistryError> {
        Ok(None)
    }
}

struct Quiet;
struct QuietJob;
impl BuildReporter for QuietJob {}
impl PushReporter for QuietJob {}
impl JobEvents for QuietJob {
    fn event(&self, _event: JobEvent<'_>) {}
}
impl Events for Quiet {
    type Job = QuietJob;
    fn job(&self, _image: &ImageSpec, _platform: &Platform) -> QuietJob {
        QuietJob
    }
    fn notice(&self, _notice: Notice<'_>) {}
}

struct AllExists;
impl PlanEnv for AllExists {
    fn var(&self, _name: &str) -> Option<String> {
        None
    }
    fn is_dir(&self, _path: &Path) -> bool {
        true
    }
    fn is_file(&self, _path: &Path) -> bool {
        true
    }
}

/// Two images, `app` depending on `base`, both for amd64 and arm64; each in two repositories.
const PLAN: &str = r#"version: 1
images:
  - repositories: [r.example/team/base, mirror.example/team/base]
    context: base
    platforms: [linux/amd64, linux/arm64]
  - repositories: [r.example/team/app, mirror.example/team/app]
    context: app
    platforms: [linux/amd64, linux/arm64]
    depends_on: [r.example/team/base]
"#;

fn plan() -> mab_plan::Plan {
    parse_plan(Path::new("plan.yaml"), PLAN, &AllExists).unwrap()
}

struct World {
    log: Arc<Log>,
    pool: FakePool,
    destinations: Vec<Vec<FakeDestination>>,
}

fn world(builders: Vec<FakeBuilder>, refuse: &[&str]) -> World {
    let log = Arc::new(Log::default());
    let plan = plan();
    let destinations = plan
        .images()
        .iter()
        .map(|image| {
            image
                .repositories()
                .iter()
                .map(|repository| FakeDestination {
                    name: repository.to_string(),
                    log: Arc::clone(&log),
                    refuse: refuse.iter().map(|p| p.to_string()).collect(),
                    local: false,
                    reuses: false,
                })
                .collect()
        })
        .collect();
    World {
        pool: FakePool(Arc::new(PoolState {
            builders,
            log: Arc::clone(&log),
            probes: AtomicU64::new(0),
            flakes: AtomicU64::new(0),
            started: AtomicU64::new(0),
            start: tokio::sync::Notify::new(),
        })),
        log,
        destinations,
    }
}

fn both(name: &'static str) -> FakeBuilder {
    FakeBuilder {
        name,
        platforms: vec![
            "linux/amd64".parse().unwrap(),
            "linux/arm64".parse().unwrap(),
        ],
        script: Vec::new(),
        answers_after_failure: false,
    }
}

async fn run(world: &World) -> mab_pipeline::RunOutcome {
    mab_pipeline::run(
        &plan(),
        &world.destinations,
        &world.pool,
        &NoBaseResolver,
        &RunOptions::default(),
        &Quiet,
    )
    .await
}

#[tokio::test]
async fn every_platform_stored_then_one_index_per_repository() {
    let world = world(vec![both("one")], &[]);
    let outcome = run(&world).await;
    assert!(outcome.all_published(), "{outcome:?}");
    let published = world.log.published();
    assert_eq!(published.len(), 4, "two images x two repositories");
    for (_, platforms) in &published {
        assert_eq!(platforms, &["linux/amd64", "linux/arm64/v8"]);
    }
    // Every index comes after every store of its image in that destination.
    for (destination, _) in &published {
        let published_at = world
            .log
            .position(
                |h| matches!(h, Happened::Published { destination: d, .. } if d == destination),
            )
            .unwrap();
        let last_store = world
            .log
            .all()
            .iter()
            .rposition(|h| matches!(h, Happened::Stored { destination: d, .. } if d == destination))
            .unwrap();
        assert!(
            last_store < published_at,
            "{destination}: {:?}",
            world.log.all()
        );
    }
}

#[tokio::test]
async fn no_index_moves_unless_every_platform_is_stored() {
    // The arm64 build of `base` fails: neither repository of `base` gets an index, and `app`,
    // which depends on it, is not built at all.
    let mut builder = both("one");
    builder
        .script
        .push(("base", "linux/arm64/v8", Behaviour::DockerfileFails));
    let world = world(vec![builder], &[]);
    let outcome = run(&world).await;
    assert!(world.log.published().is_empty(), "{:?}", world.log.all());
    let base = outcome.images[0].result.as_ref().unwrap_err();
    assert_eq!(base.len(), 1);
    assert_eq!(
        base[0].platform.as_ref().unwrap().to_string(),
        "linux/arm64/v8"
    );
    assert!(matches!(base[0].error, PipelineError::Build(_)));
    let app = outcome.images[1].result.as_ref().unwrap_err();
    assert!(
        matches!(&app[0].error, PipelineError::DependencyFailed { dependencies, .. } if dependencies.contains("base")),
        "{app:?}"
    );
    assert!(
        !world
            .log
            .all()
            .iter()
            .any(|h| matches!(h, Happened::Built { image, .. } if image == "app")),
        "app must not be built when base failed"
    );
}

#[tokio::test]
async fn a_failed_push_of_one_platform_publishes_nothing() {
    let world = world(vec![both("one")], &["linux/arm64/v8"]);
    let outcome = run(&world).await;
    assert!(world.log.published().is_empty(), "{:?}", world.log.all());
    let failures = outcome.images[0].result.as_ref().unwrap_err();
    assert!(
        failures
            .iter()
            .all(|f| matches!(f.error, PipelineError::Push { .. })),
        "{failures:?}"
    );
}

#[tokio::test]
async fn a_builder_failure_moves_the_job_to_another_builder() {
    let mut flaky = both("flaky");
    flaky
        .script
        .push(("base", "linux/amd64", Behaviour::BuilderFails));
    let world = world(vec![flaky, both("steady")], &[]);
    let outcome = run(&world).await;
    assert!(outcome.all_published(), "{outcome:?}");
    let built_on: Vec<String> = world
        .log
        .all()
        .into_iter()
        .filter_map(|h| match h {
            Happened::Built {
                builder,
                image,
                platform,
            } if image == "base" && platform == "linux/amd64" => Some(builder),
            _ => None,
        })
        .collect();
    assert_eq!(built_on, ["steady"]);
    assert_eq!(world.pool.0.probes.load(Ordering::Relaxed), 1);
    let base = &outcome.images[0].result.as_ref().unwrap()[0];
    let amd64 = base
        .platforms
        .iter()
        .find(|p| p.platform.to_string() == "linux/amd64")
        .unwrap();
    assert_eq!(amd64.builder.as_deref(), Some("steady"));
}

/// The attempts of `image` for `platform`, by builder, in order.
fn attempts(log: &Log, image: &str, platform: &str) -> Vec<String> {
    log.all()
        .into_iter()
        .filter_map(|h| match h {
            Happened::Attempted {
                builder,
                image: i,
                platform: p,
            } if i == image && p == platform => Some(builder),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn the_only_builder_still_answering_after_failing_gets_the_job_once_more() {
    let mut alone = both("alone");
    alone.answers_after_failure = true;
    alone
        .script
        .push(("base", "linux/amd64", Behaviour::BuilderFailsOnce));
    let world = world(vec![alone], &[]);
    let outcome = run(&world).await;
    assert!(outcome.all_published(), "{outcome:?}");
    assert_eq!(
        attempts(&world.log, "base", "linux/amd64"),
        ["alone", "alone"]
    );
    assert_eq!(world.pool.0.probes.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_builder_failing_twice_under_a_job_is_not_tried_a_third_time() {
    let mut alone = both("alone");
    alone.answers_after_failure = true;
    alone
        .script
        .push(("base", "linux/amd64", Behaviour::BuilderFails));
    let world = world(vec![alone], &[]);
    let outcome = run(&world).await;
    assert_eq!(
        attempts(&world.log, "base", "linux/amd64"),
        ["alone", "alone"]
    );
    let failures = outcome.images[0].result.as_ref().unwrap_err();
    assert!(
        matches!(&failures[0].error, PipelineError::BuildersExhausted { .. }),
        "{failures:?}"
    );
    assert!(world.log.published().is_empty());
}

#[tokio::test]
async fn a_dockerfile_failure_is_not_tried_on_another_builder() {
    let mut first = both("first");
    first
        .script
        .push(("base", "linux/amd64", Behaviour::DockerfileFails));
    let world = world(vec![first, both("second")], &[]);
    let outcome = run(&world).await;
    assert!(
        !world.log.all().iter().any(|h| matches!(
            h,
            Happened::Built { builder, image, platform }
                if builder == "second" && image == "base" && platform == "linux/amd64"
        )),
        "{:?}",
        world.log.all()
    );
    assert_eq!(world.pool.0.probes.load(Ordering::Relaxed), 0);
    assert!(outcome.images[0].result.is_err());
}

#[tokio::test]
async fn when_every_builder_fails_the_error_names_the_last_failure() {
    let mut a = both("a");
    a.script
        .push(("base", "linux/amd64", Behaviour::BuilderFails));
    let mut b = both("b");
    b.script
        .push(("base", "linux/amd64", Behaviour::BuilderFails));
    let world = world(vec![a, b], &[]);
    let outcome = run(&world).await;
    let failures = outcome.images[0].result.as_ref().unwrap_err();
    assert!(
        matches!(&failures[0].error, PipelineError::BuildersExhausted { last, .. } if last.contains("ended without producing an image")),
        "{failures:?}"
    );
    assert!(world.log.published().is_empty());
}

#[tokio::test]
async fn an_image_starts_after_the_images_it_depends_on_are_published() {
    let world = world(vec![both("one")], &[]);
    let outcome = run(&world).await;
    assert!(outcome.all_published());
    let log = world.log.all();
    let first_app_build = log
        .iter()
        .position(|h| matches!(h, Happened::Built { image, .. } if image == "app"))
        .unwrap();
    let last_base_publish = log
        .iter()
        .rposition(|h| matches!(h, Happened::Published { destination, .. } if destination.ends_with("/base")))
        .unwrap();
    assert!(last_base_publish < first_app_build, "{log:?}");
}

/// Knows every base: `REF@sha256:known`.
struct KnowsEverything;

impl BaseResolver for KnowsEverything {
    fn platform_image<'a>(
        &'a self,
        reference: &'a str,
        _platform: &'a Platform,
    ) -> futures::future::BoxFuture<'a, Option<String>> {
        Box::pin(std::future::ready(Some(format!(
            "{reference}@sha256:known"
        ))))
    }
}

async fn run_knowing_bases(world: &World) -> mab_pipeline::RunOutcome {
    mab_pipeline::run(
        &plan(),
        &world.destinations,
        &world.pool,
        &KnowsEverything,
        &RunOptions::default(),
        &Quiet,
    )
    .await
}

/// What the builds of `app` were given about `base`.
fn given_to_app(log: &Log) -> Vec<(Vec<String>, Option<String>)> {
    log.all()
        .into_iter()
        .filter_map(|h| match h {
            Happened::Given { image, pull, base } if image == "app" => Some((pull, base)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_dependency_pushed_to_a_registry_is_pulled_afresh_by_digest() {
    let world = world(vec![both("one")], &[]);
    assert!(run_knowing_bases(&world).await.all_published());
    let given = given_to_app(&world.log);
    assert_eq!(given.len(), 2);
    for (pull, base) in given {
        assert_eq!(pull, ["r.example/team/base", "mirror.example/team/base"]);
        assert_eq!(
            base.as_deref(),
            Some("r.example/team/base:latest@sha256:known")
        );
    }
}

#[tokio::test]
async fn a_dependency_only_loaded_into_the_local_daemon_is_taken_from_it() {
    let mut world = world(vec![both("one")], &[]);
    for destination in world.destinations.iter_mut().flatten() {
        destination.local = true;
    }
    assert!(run_knowing_bases(&world).await.all_published());
    let given = given_to_app(&world.log);
    assert_eq!(given.len(), 2);
    let mut bases = Vec::new();
    for (pull, base) in given {
        assert!(pull.is_empty(), "{pull:?}");
        bases.push(base);
    }
    bases.sort();
    // Not the registry's (older) image: the one built in this run for the platform, by id.
    assert_eq!(
        bases,
        [
            Some("sha256:base-linux/amd64".to_string()),
            Some("sha256:base-linux/arm64/v8".to_string())
        ]
    );
}

#[tokio::test]
async fn reused_means_every_registry_had_it_whatever_the_local_daemon_says() {
    let mut world = world(vec![both("one")], &[]);
    for destination in world.destinations.iter_mut().flatten() {
        destination.reuses = true;
    }
    // A registry and the local daemon: the registry's answer counts.
    for image in world.destinations.iter_mut() {
        image[1].local = true;
        image[1].reuses = false;
    }
    let reused = |outcome: mab_pipeline::RunOutcome| -> Vec<bool> {
        outcome
            .images
            .into_iter()
            .flat_map(|i| i.result.unwrap())
            .flat_map(|p| p.platforms)
            .map(|p| p.reused)
            .collect()
    };
    assert!(reused(run(&world).await).iter().all(|r| *r));
    // The local daemon alone: nothing was uploaded anywhere, but nothing was reused either.
    for image in world.destinations.iter_mut() {
        image.remove(0);
    }
    assert!(reused(run(&world).await).iter().all(|r| !*r));
}

#[tokio::test]
async fn a_build_whose_steps_are_done_gives_its_slot_to_the_next_job() {
    let world = world(
        vec![FakeBuilder {
            script: vec![("base", "linux/amd64", Behaviour::ExportsWhileAnotherBuilds)],
            ..both("one")
        }],
        &[],
    );
    let outcome = mab_pipeline::run(
        &plan(),
        &world.destinations,
        &world.pool,
        &NoBaseResolver,
        &RunOptions {
            jobs: Some(1),
            ..RunOptions::default()
        },
        &Quiet,
    )
    .await;
    assert!(
        outcome.all_published(),
        "one build at a time, yet base's arm64 build started while its amd64 one exported: \
         {outcome:?}"
    );
}

#[tokio::test]
async fn a_rerun_of_identical_builds_builds_nothing_and_publishes_the_same() {
    let memo_dir = tempfile::tempdir().unwrap();
    let options = RunOptions {
        build_memo: Some(mab_pipeline::BuildMemo::new(memo_dir.path())),
        ..RunOptions::default()
    };
    let world = world(vec![both("one")], &[]);
    // The same plan, its contexts real folders (a build key covers their contents).
    let folder = tempfile::tempdir().unwrap();
    for context in ["base", "app"] {
        std::fs::create_dir(folder.path().join(context)).unwrap();
        std::fs::write(folder.path().join(context).join("file"), context).unwrap();
    }
    let plan = parse_plan(&folder.path().join("plan.yaml"), PLAN, &AllExists).unwrap();
    let run = || {
        mab_pipeline::run(
            &plan,
            &world.destinations,
            &world.pool,
            &NoBaseResolver,
            &options,
            &Quiet,
        )
    };
    let built = |log: &Log| {
        log.0
            .lock()
            .unwrap()
            .iter()
            .filter(|h| matches!(h, Happened::Built { .. }))
            .count()
    };
    let first = run().await;
    assert!(first.all_published(), "{first:?}");
    assert_eq!(built(&world.log), 4);
    let second = run().await;
    assert!(second.all_published(), "{second:?}");
    assert_eq!(built(&world.log), 4, "the rerun built nothing");
    let published = world.log.published();
    assert_eq!(published.len(), 8);
    assert_eq!(
        published[..4],
        published[4..],
        "the same indexes, of the same images"
    );
    // A changed context is another key: that image builds again (both platforms).
    std::fs::write(folder.path().join("app").join("file"), "changed").unwrap();
    let third = run().await;
    assert!(third.all_published(), "{third:?}");
    assert_eq!(built(&world.log), 6);
    // Without the memo, everything builds.
    let fourth = mab_pipeline::run(
        &plan,
        &world.destinations,
        &world.pool,
        &NoBaseResolver,
        &RunOptions::default(),
        &Quiet,
    )
    .await;
    assert!(fourth.all_published(), "{fourth:?}");
    assert_eq!(built(&world.log), 10);
}
