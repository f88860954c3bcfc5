//! `mab build PLAN`: build every (image, platform), push each result by digest to every
//! repository of the image, then publish each image's index under its tags — only when every
//! platform of that image made it. Images run at the same time, except that an image waits for
//! the images it `depends_on` to be published (and is not built if one of them failed).
//!
//! Each (image, platform) job runs on a builder of the fleet (the plan's `builders:`, or the
//! daemon of DOCKER_HOST): one that builds the platform natively, else one that emulates it (see
//! `mab_build::Fleet`). The image is exported from that builder's daemon and pushed by mab, so
//! builders need no registry credentials. When a builder fails under a job (daemon gone,
//! connection lost), the job runs again on another able builder; a failing Dockerfile does not.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use anyhow::Context;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared, join_all};
use mab_build::{BaseResolver, BuildError, BuildRequest, Fit, Fleet, Lease, error_chain};
use mab_plan::{ImageSpec, ManifestFormat as PlanFormat, Plan, Repository};
use mab_platform::Platform;
use mab_registry::{
    BaseImages, ImageFacts, IndexOptions, LayerCache, LayerCompression, ManifestFormat,
    ManifestOptions, OciLayout, PushSettings, PushedManifest, RegistryClient, RegistryOptions,
    RetryPolicy, Target, publish_index, push_image,
};
use serde::Serialize;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::Semaphore;

use super::builders::Builders;
use crate::cli::BuildArgs;
use crate::exit::{FAILURE, SUCCESS, UsageError};
use crate::progress::Progress;

/// Where results go.
enum Output {
    /// Each image's own registry.
    Registries,
    /// One OCI image layout folder.
    Layout(PathBuf),
}

impl Output {
    fn parse(value: Option<&str>) -> Result<Self, UsageError> {
        match value {
            None => Ok(Self::Registries),
            Some(text) => match text.strip_prefix("oci:") {
                Some(dir) if !dir.is_empty() => Ok(Self::Layout(PathBuf::from(dir))),
                _ => Err(UsageError(format!(
                    "invalid --output {text:?}: the accepted form is oci:DIR (an OCI image layout folder)"
                ))),
            },
        }
    }
}

/// The JSON document `--json` prints.
#[derive(Serialize)]
struct Report {
    images: Vec<ImageReport>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<ErrorReport>,
}

#[derive(Serialize)]
struct ImageReport {
    repository: String,
    tags: Vec<String>,
    digest: String,
    media_type: String,
    platforms: Vec<PlatformReport>,
}

#[derive(Serialize)]
struct PlatformReport {
    platform: String,
    digest: String,
    /// The builder that built it (when the plan declares builders).
    #[serde(skip_serializing_if = "Option::is_none")]
    builder: Option<String>,
    /// Built under emulation.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    emulated: bool,
    /// Size of its layers (compressed) and config, in bytes.
    size: u64,
    /// Seconds from the start of its build to its manifest stored.
    seconds: f64,
    /// Nothing changed: its blobs were already stored and nothing was uploaded.
    reused: bool,
}

#[derive(Serialize)]
struct ErrorReport {
    repository: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<String>,
    message: String,
}

pub async fn run(args: BuildArgs) -> anyhow::Result<u8> {
    let plan = super::plan::load(&args.plan)?;
    let output = Output::parse(args.output.as_deref())?;
    if args.jobs == Some(0) {
        return Err(UsageError("--jobs must be at least 1".to_string()).into());
    }
    let flags = Flags {
        no_cache: args.no_cache,
        pull: args.pull,
        strict: args.strict,
    };
    if args.dry_run {
        print_dry_run(&plan, &output, flags, args.json)?;
        return Ok(SUCCESS);
    }

    let progress = Progress::for_stderr();
    let builders = super::builders::connect(Some(&plan)).await?;
    builders.report(&progress)?;
    check_platforms(&plan, &builders.fleet, &progress)?;

    let options = registry_options(&plan)?;
    let client = RegistryClient::new(&options);
    // One try each: a registry that does not answer at once leaves the base to the daemon's
    // tag pull (an offline laptop with local bases must not wait for retries).
    let bases = RegistryBases(BaseImages::new(
        RegistryClient::new(&RegistryOptions {
            retry: RetryPolicy {
                attempts: 1,
                ..RetryPolicy::default()
            },
            ..options
        }),
        LayerCache::default_root().map(LayerCache::new),
    ));
    let targets = targets_for(&plan, &output, &client).await?;
    for target in targets.iter().flatten() {
        target
            .check_writable()
            .await
            .with_context(|| format!("cannot push to {}", target.describe()))?;
    }

    let jobs = args.jobs.map(Semaphore::new);
    let started = Instant::now();
    let outcomes = run_images(
        &plan,
        &targets,
        Run {
            builders: &builders,
            progress: &progress,
            jobs: jobs.as_ref(),
            bases: &bases,
            flags,
        },
    )
    .await;

    let mut report = Report {
        images: Vec::new(),
        errors: Vec::new(),
    };
    for (image, outcome) in plan.images().iter().zip(outcomes) {
        match outcome {
            Ok(image_reports) => report.images.extend(image_reports),
            Err(failures) => {
                for (platform, error) in failures {
                    let message = crate::exit::render_error(&error);
                    progress.println(&message);
                    report.errors.push(ErrorReport {
                        repository: image.repository().to_string(),
                        platform: platform.map(|p| p.to_string()),
                        message: message.trim_start_matches("error: ").to_string(),
                    });
                }
                progress.println(&format!(
                    "error: {}: nothing was tagged (no index published)",
                    image.label()
                ));
            }
        }
    }
    let published = plan.images().len() - {
        let mut failed: Vec<&str> = report
            .errors
            .iter()
            .map(|e| e.repository.as_str())
            .collect();
        failed.dedup();
        failed.len()
    };
    if !report.images.is_empty() {
        progress.println(&summary_table(&report.images));
    }
    progress.println(&format!(
        "{published} of {} images published in {:.1}s",
        plan.images().len(),
        started.elapsed().as_secs_f64()
    ));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for image in &report.images {
            for tag in &image.tags {
                println!("{}:{tag}@{}", image.repository, image.digest);
            }
        }
    }
    Ok(if report.errors.is_empty() {
        SUCCESS
    } else {
        FAILURE
    })
}

/// Checks before anything is built that every platform of the plan has a builder that can
/// build it (natively or emulated); otherwise nothing is built and nothing is published.
fn check_platforms(plan: &Plan, fleet: &Fleet, progress: &Progress) -> anyhow::Result<()> {
    let mut platforms: Vec<&Platform> = plan
        .images()
        .iter()
        .flat_map(|image| image.platforms())
        .collect();
    platforms.sort();
    platforms.dedup();
    let mut errors: Vec<BuildError> = platforms
        .into_iter()
        .filter_map(|platform| fleet.check(platform).err())
        .collect();
    let Some(last) = errors.pop() else {
        return Ok(());
    };
    for error in errors {
        progress.println(&format!("error: {error}"));
    }
    Err(anyhow::anyhow!(
        "{last}\nnothing was built and no index was published"
    ))
}

/// What every job of a run shares.
#[derive(Clone, Copy)]
struct Run<'a> {
    builders: &'a Builders,
    progress: &'a Arc<Progress>,
    /// `--jobs`: how many builds may run at once in all.
    jobs: Option<&'a Semaphore>,
    bases: &'a dyn BaseResolver,
    flags: Flags,
}

/// What the command line adds to every image's build settings.
#[derive(Debug, Clone, Copy)]
struct Flags {
    no_cache: bool,
    pull: bool,
    /// Foreign executables fail the image instead of warning.
    strict: bool,
}

/// The outcome of one image: a report per repository, or why it failed.
type Outcome = Result<Vec<ImageReport>, Failures>;

/// Runs every image, each after the images it depends on; returns the outcomes in plan order.
async fn run_images(plan: &Plan, targets: &[Vec<Target>], run: Run<'_>) -> Vec<Outcome> {
    let images = plan.images();
    let outcomes: Vec<Mutex<Option<Outcome>>> = images.iter().map(|_| Mutex::new(None)).collect();
    // Each image's run, shared so that the images depending on it can wait for it; it says
    // whether the image was published.
    let mut runs: Vec<Option<Shared<BoxFuture<'_, bool>>>> = images.iter().map(|_| None).collect();
    for (index, image) in plan.images_in_order() {
        let dependencies: Vec<(usize, Shared<BoxFuture<'_, bool>>)> = image
            .depends_on()
            .iter()
            .map(|&d| (d, runs[d].clone().expect("dependencies run first")))
            .collect();
        let slot = &outcomes[index];
        let image_targets = &targets[index];
        let run = async move {
            let mut failed = Vec::new();
            for (dependency, run) in dependencies {
                if !run.await {
                    failed.push(images[dependency].label());
                }
            }
            let outcome = if failed.is_empty() {
                // Bases from the images this one depends on are pulled afresh.
                let pull_repositories = image
                    .depends_on()
                    .iter()
                    .flat_map(|&d| images[d].repositories().iter().map(|r| r.to_string()))
                    .collect();
                build_image(image, image_targets, run, pull_repositories).await
            } else {
                Err(vec![(
                    None,
                    anyhow::anyhow!(
                        "{} was not built: it depends on {}, which failed",
                        image.label(),
                        failed.join(", ")
                    ),
                )])
            };
            let published = outcome.is_ok();
            *slot.lock().expect("outcome lock") = Some(outcome);
            published
        }
        .boxed()
        .shared();
        runs[index] = Some(run);
    }
    join_all(runs.into_iter().flatten()).await;
    outcomes
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .expect("outcome lock")
                .expect("every image ran")
        })
        .collect()
}

/// The final table: one line per (repository, platform) published.
fn summary_table(images: &[ImageReport]) -> String {
    let mut rows = vec![[
        "image".to_string(),
        "platform".to_string(),
        "digest".to_string(),
        "size".to_string(),
        "time".to_string(),
        "".to_string(),
    ]];
    for image in images {
        for platform in &image.platforms {
            let digest = platform.digest.trim_start_matches("sha256:");
            let mut how = if platform.reused { "reused" } else { "built" }.to_string();
            if let Some(builder) = &platform.builder {
                how.push_str(&format!(" on {builder}"));
            }
            if platform.emulated {
                how.push_str(" (emulated)");
            }
            rows.push([
                image.repository.clone(),
                platform.platform.clone(),
                format!("sha256:{}", &digest[..digest.len().min(12)]),
                indicatif::HumanBytes(platform.size).to_string(),
                format!("{:.1}s", platform.seconds),
                how,
            ]);
        }
    }
    let widths: Vec<usize> = (0..6)
        .map(|column| rows.iter().map(|row| row[column].len()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|row| {
            row.iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The targets of each image of the plan: one per repository.
/// How to reach the plan's registries: the insecure ones, and the extra CAs (read once).
fn registry_options(plan: &Plan) -> anyhow::Result<RegistryOptions> {
    let mut extra_ca_certificates = Vec::new();
    for (host, settings) in plan.registries() {
        if let Some(path) = settings.ca_cert() {
            let pem = std::fs::read(path).with_context(|| {
                format!("reading ca_cert {} of registry {host}", path.display())
            })?;
            extra_ca_certificates.push(pem);
        }
    }
    Ok(RegistryOptions {
        insecure_registries: plan
            .registries()
            .filter(|(_, settings)| settings.insecure())
            .map(|(host, _)| host.to_string())
            .collect(),
        extra_ca_certificates,
        retry: RetryPolicy::default(),
    })
}

/// Base images resolved through their registries (see [`BaseImages`]): which image a reference
/// names for a platform, by digest. A registry that cannot say leaves the daemon to pull by tag.
struct RegistryBases(BaseImages);

impl BaseResolver for RegistryBases {
    fn platform_image<'a>(
        &'a self,
        reference: &'a str,
        platform: &'a Platform,
    ) -> BoxFuture<'a, Option<String>> {
        Box::pin(self.0.platform_image(reference, platform))
    }
}

async fn targets_for(
    plan: &Plan,
    output: &Output,
    client: &RegistryClient,
) -> anyhow::Result<Vec<Vec<Target>>> {
    match output {
        Output::Registries => {
            let client = client.clone();
            Ok(per_repository(plan, |repo| {
                Target::registry(client.repository(repo.registry(), repo.path()))
            }))
        }
        Output::Layout(dir) => {
            let layout = OciLayout::open(dir).await?;
            Ok(per_repository(plan, |repo| {
                Target::layout(layout.clone(), repo.to_string())
            }))
        }
    }
}

/// One target per repository of each image, in plan order.
fn per_repository(plan: &Plan, target: impl Fn(&Repository) -> Target) -> Vec<Vec<Target>> {
    plan.images()
        .iter()
        .map(|image| image.repositories().iter().map(&target).collect())
        .collect()
}

fn manifest_format(format: PlanFormat) -> ManifestFormat {
    match format {
        PlanFormat::Oci => ManifestFormat::Oci,
        PlanFormat::Docker => ManifestFormat::Docker,
    }
}

type Failures = Vec<(Option<Platform>, anyhow::Error)>;

/// Builds every platform of one image, pushes each to every repository, then publishes the
/// image's index in each repository.
async fn build_image(
    image: &ImageSpec,
    targets: &[Target],
    run: Run<'_>,
    pull_repositories: Vec<String>,
) -> Outcome {
    let format = manifest_format(image.format());
    let manifest_options = ManifestOptions {
        format,
        annotations: image.annotations().manifest().clone(),
        compression: match image.compression() {
            mab_plan::LayerCompression::Gzip => LayerCompression::Gzip,
            mab_plan::LayerCompression::Zstd => LayerCompression::Zstd,
            mab_plan::LayerCompression::None => LayerCompression::None,
        },
    };
    let results = join_all(image.platforms().iter().map(|platform| {
        build_platform(
            image,
            platform,
            targets,
            run,
            &pull_repositories,
            &manifest_options,
        )
    }))
    .await;
    // Per target, each platform's manifest.
    let mut manifests: Vec<Vec<(Platform, PushedManifest)>> =
        targets.iter().map(|_| Vec::new()).collect();
    // Per platform, where it was built.
    let mut built_on: Vec<(Option<String>, bool, f64, bool)> = Vec::new();
    let mut failures = Vec::new();
    for (platform, result) in image.platforms().iter().zip(results) {
        match result {
            Ok(built) => {
                for (list, pushed) in manifests.iter_mut().zip(built.manifests) {
                    list.push((platform.clone(), pushed));
                }
                built_on.push((built.builder, built.emulated, built.seconds, built.reused));
            }
            Err(error) => failures.push((Some(platform.clone()), error)),
        }
    }
    if !failures.is_empty() {
        return Err(failures);
    }
    let index_options = IndexOptions {
        format,
        annotations: image.annotations().index().clone(),
    };
    let mut reports = Vec::new();
    for ((target, repository), manifests) in targets.iter().zip(image.repositories()).zip(manifests)
    {
        let index = publish_index(target, &manifests, image.tags(), &index_options)
            .await
            .with_context(|| format!("publishing the index of {}", target.describe()))
            .map_err(|e| vec![(None, e)])?;
        // Read every tag back: it must point at this index, and the whole image must check out.
        for tag in image.tags() {
            let report = target
                .verify_tag(tag, &index.digest)
                .await
                .with_context(|| format!("reading back {}:{tag}", target.describe()))
                .map_err(|e| vec![(None, e)])?;
            if let Some(report) = report.filter(|r| !r.is_sound()) {
                let error = anyhow::anyhow!(
                    "{}:{tag} failed verification after the push:\n  {}",
                    target.describe(),
                    report.problems.join("\n  ")
                );
                return Err(vec![(None, error)]);
            }
        }
        run.progress.println(&format!(
            "[{repository}] published {} as {}",
            index.digest,
            image.tags().join(", ")
        ));
        reports.push(ImageReport {
            repository: repository.to_string(),
            tags: image.tags().to_vec(),
            digest: index.digest,
            media_type: index.media_type,
            platforms: manifests
                .into_iter()
                .zip(&built_on)
                .map(
                    |((platform, pushed), (builder, emulated, seconds, reused))| PlatformReport {
                        platform: platform.to_string(),
                        size: pushed.layers_size + pushed.config_size,
                        digest: pushed.digest,
                        builder: builder.clone(),
                        emulated: *emulated,
                        seconds: *seconds,
                        reused: *reused,
                    },
                )
                .collect(),
        });
    }
    if let [first, rest @ ..] = reports.as_slice()
        && rest.iter().any(|r| r.digest != first.digest)
    {
        run.progress.println(&format!(
            "warning: {}: the repositories got different index digests ({}); the same image \
             was exported differently for each",
            image.label(),
            reports
                .iter()
                .map(|r| format!("{} {}", r.repository, r.digest))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(reports)
}

/// One platform of one image, built and stored in every target.
struct BuiltPlatform {
    /// The stored manifest of each target, in order.
    manifests: Vec<PushedManifest>,
    /// The builder's name, when the plan declares builders.
    builder: Option<String>,
    /// Whether the builder emulated the platform.
    emulated: bool,
    /// Seconds the job took (its last attempt).
    seconds: f64,
    /// Whether every target already had its blobs.
    reused: bool,
}

/// How one attempt of a job on one builder failed.
enum Attempt {
    /// The builder failed (daemon gone, connection lost, export broken, cannot emulate): the
    /// job may succeed on another builder.
    Builder(anyhow::Error),
    /// The job failed (a Dockerfile step, a missing file, the registry): it would fail anywhere.
    Job(anyhow::Error),
}

/// Builds one platform of one image on a builder of the fleet and stores its manifest
/// (untagged) in every target; when the builder fails under the job, tries the next able one.
async fn build_platform(
    image: &ImageSpec,
    platform: &Platform,
    targets: &[Target],
    run: Run<'_>,
    pull_repositories: &[String],
    options: &ManifestOptions,
) -> anyhow::Result<BuiltPlatform> {
    let Run {
        builders,
        progress,
        jobs,
        bases,
        flags,
    } = run;
    let Builders {
        fleet,
        declared: named,
    } = builders;
    let label = format!("{} {platform}", image.repository());
    let job = progress.job(label.clone());
    let settings = image.build_for(platform);
    let request = BuildRequest {
        context_dir: settings.context_dir().to_path_buf(),
        dockerfile: settings.dockerfile().to_path_buf(),
        platform: platform.clone(),
        build_args: settings.build_args().clone(),
        target: settings.target().map(str::to_string),
        labels: settings.labels().clone(),
        no_cache: settings.no_cache() || flags.no_cache,
        pull: settings.pull() || flags.pull,
        pull_repositories: pull_repositories.to_vec(),
    };
    // Builders that failed under this job, and how the last one failed.
    let mut excluded = Vec::new();
    let mut last_failure: Option<anyhow::Error> = None;
    loop {
        let lease = match fleet.acquire(platform, &excluded).await {
            Ok(lease) => lease,
            Err(error) => {
                job.finish("no builder left for this platform");
                let error = anyhow::Error::new(error);
                return Err(match last_failure {
                    Some(last) => error.context(format!(
                        "the {platform} build of {} failed on every builder that can build \
                         it; the last failure: {}",
                        image.label(),
                        error_chain(last.as_ref())
                    )),
                    None => error,
                });
            }
        };
        let job_slot = match jobs {
            Some(jobs) => Some(jobs.acquire().await.context("the job queue closed")?),
            None => None,
        };
        let on = match (named, lease.fit()) {
            (true, Fit::Native) => format!(" on {}", lease.name()),
            (true, fit) => format!(" on {} ({})", lease.name(), fit.describe()),
            (false, Fit::Native) => String::new(),
            (false, fit) => format!(" ({})", fit.describe()),
        };
        let started = Instant::now();
        match attempt(
            &lease, job_slot, &request, bases, targets, options, &job, &on,
        )
        .await
        {
            Ok((manifests, reused)) => {
                let foreign = super::lint::foreign_executables(platform, &manifests[0].elf_files);
                if flags.strict && !foreign.is_empty() {
                    job.finish("foreign executables (--strict)");
                    return Err(anyhow::anyhow!(
                        "the {platform} image of {} holds executables for another machine \
                         (--strict):\n  {}",
                        image.label(),
                        foreign.join("\n  ")
                    ));
                }
                for line in &foreign {
                    progress.println(&format!("warning: [{label}] {line}"));
                }
                job.finish(&format!(
                    "{} {} ({} sent) in {:.1}s{on}",
                    if reused {
                        "unchanged, reused"
                    } else {
                        "pushed"
                    },
                    manifests[0].digest,
                    indicatif::HumanBytes(job.bytes_sent()),
                    started.elapsed().as_secs_f64()
                ));
                return Ok(BuiltPlatform {
                    manifests,
                    builder: named.then(|| lease.name().to_string()),
                    emulated: lease.fit() != Fit::Native,
                    seconds: started.elapsed().as_secs_f64(),
                    reused,
                });
            }
            Err(Attempt::Job(error)) => return Err(error),
            Err(Attempt::Builder(error)) => {
                let lost = fleet.probe_after_failure(&lease).await;
                progress.println(&format!(
                    "warning: [{label}] builder {} ({}) failed under the job{}: {}; trying \
                     another builder",
                    lease.name(),
                    lease.daemon().endpoint(),
                    if lost.is_some() {
                        " and is no longer used"
                    } else {
                        ""
                    },
                    error_chain(error.as_ref())
                ));
                excluded.push(lease.index());
                last_failure = Some(error);
            }
        }
    }
}

/// One attempt of a job on the builder of `lease`: build (holding the builder's job slot and,
/// with `--jobs`, `job_slot`), then export from that builder's daemon and push to every target
/// (holding neither). Returns the manifests and whether they were reused.
#[allow(clippy::too_many_arguments)]
async fn attempt(
    lease: &Lease,
    job_slot: Option<tokio::sync::SemaphorePermit<'_>>,
    request: &BuildRequest,
    bases: &dyn BaseResolver,
    targets: &[Target],
    options: &ManifestOptions,
    job: &crate::progress::JobProgress,
    on: &str,
) -> Result<(Vec<PushedManifest>, bool), Attempt> {
    let daemon = lease.daemon();
    let platform = &request.platform;
    job.step(&format!("building{on}"));
    let built = match daemon.build(request, job, bases).await {
        Ok(built) => built,
        Err(e) if e.is_builder_failure() => return Err(Attempt::Builder(e.into())),
        Err(e) if lease.fit() != Fit::Native && cannot_run_binaries(&e) => {
            return Err(Attempt::Builder(anyhow::Error::new(e).context(format!(
                "{} cannot run {platform} programs (no emulation there)",
                daemon.endpoint()
            ))));
        }
        Err(e) => {
            job.finish("build failed");
            return Err(Attempt::Job(e.into()));
        }
    };
    // Built: the build slots are free for the next job while this one exports and pushes.
    drop(job_slot);
    lease.release_slot();
    job.step(&format!("built {}; pushing", built.id));
    // One export per target: `docker save` and the layer compression are deterministic, so
    // every repository gets the same blobs and manifest digests. A target that already has every
    // blob of this image (a rerun with nothing changed) gets its manifest without any export.
    let cache = LayerCache::default_root().map(LayerCache::new);
    let settings = PushSettings {
        manifest: options,
        cache: cache.as_ref(),
        retry: RetryPolicy::default(),
    };
    let facts = ImageFacts {
        config_digest: &built.id,
        diff_ids: &built.diff_ids,
    };
    // Set when reading an export from the builder failed: then a failed push is the builder's.
    let export_broke = Arc::new(AtomicBool::new(false));
    let pushes = join_all(targets.iter().map(|target| {
        let built = &built;
        let export_broke = &export_broke;
        async move {
            let export = || WatchedExport {
                inner: daemon.export(&built.id),
                broke: Arc::clone(export_broke),
            };
            push_image(export, facts, target, settings, job)
                .await
                .map_err(|e| {
                    anyhow::Error::new(e).context(format!(
                        "pushing the {platform} image of {}",
                        target.describe()
                    ))
                })
        }
    }))
    .await;
    let reused = pushes
        .iter()
        .all(|p| p.as_ref().is_ok_and(|outcome| outcome.reused));
    let pushes: Vec<anyhow::Result<PushedManifest>> = pushes
        .into_iter()
        .map(|p| p.map(|outcome| outcome.manifest))
        .collect();
    match pushes.into_iter().collect::<anyhow::Result<Vec<_>>>() {
        Ok(pushed) => Ok((pushed, reused)),
        Err(e) if export_broke.load(Ordering::Relaxed) => Err(Attempt::Builder(e)),
        Err(e) => {
            job.finish("push failed");
            Err(Attempt::Job(e))
        }
    }
}

/// Whether a failed build says that the daemon could not run the platform's programs at all
/// (no QEMU handler for it there): a builder that only *may* emulate did not.
fn cannot_run_binaries(error: &BuildError) -> bool {
    matches!(error, BuildError::BuildFailed { message, .. } if message.contains("exec format error"))
}

/// A `docker save` stream that remembers whether reading it failed.
struct WatchedExport<R> {
    inner: R,
    broke: Arc<AtomicBool>,
}

impl<R: AsyncRead + Unpin> AsyncRead for WatchedExport<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Err(_)) = &polled {
            self.broke.store(true, Ordering::Relaxed);
        }
        polled
    }
}

/// `--dry-run`: the jobs in the order they would start (every image after those it depends
/// on), with resolved settings, tags and destinations.
fn print_dry_run(plan: &Plan, output: &Output, flags: Flags, json: bool) -> anyhow::Result<()> {
    #[derive(Serialize)]
    struct Job<'a> {
        repository: String,
        platform: String,
        context: &'a std::path::Path,
        dockerfile: &'a std::path::Path,
        #[serde(skip_serializing_if = "Option::is_none")]
        target: Option<&'a str>,
        build_args: &'a BTreeMap<String, String>,
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        labels: &'a BTreeMap<String, String>,
        no_cache: bool,
        pull: bool,
        tags: &'a [String],
        format: &'static str,
        #[serde(skip_serializing_if = "mab_plan::Annotations::is_empty")]
        annotations: &'a mab_plan::Annotations,
        destination: String,
        destinations: Vec<String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        after: Vec<String>,
    }
    let mut jobs: Vec<Job> = Vec::new();
    for (_, image) in plan.images_in_order() {
        let destinations: Vec<String> = match output {
            Output::Registries => image.repositories().iter().map(|r| r.to_string()).collect(),
            Output::Layout(dir) => image
                .repositories()
                .iter()
                .map(|r| format!("oci:{} ({r})", dir.display()))
                .collect(),
        };
        let after: Vec<String> = image
            .depends_on()
            .iter()
            .map(|&d| plan.images()[d].repository().to_string())
            .collect();
        for (platform, settings) in image.builds() {
            jobs.push(Job {
                repository: image.repository().to_string(),
                platform: platform.to_string(),
                context: settings.context_dir(),
                dockerfile: settings.dockerfile(),
                target: settings.target(),
                build_args: settings.build_args(),
                labels: settings.labels(),
                no_cache: settings.no_cache() || flags.no_cache,
                pull: settings.pull() || flags.pull,
                tags: image.tags(),
                format: image.format().as_str(),
                annotations: image.annotations(),
                destination: destinations.join(", "),
                destinations: destinations.clone(),
                after: after.clone(),
            });
        }
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "jobs": jobs }))?
        );
        return Ok(());
    }
    let pairs = |map: &BTreeMap<String, String>| {
        map.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    for (n, job) in jobs.iter().enumerate() {
        let mut line = format!(
            "{}. build {} for {} from {} (context {})",
            n + 1,
            job.repository,
            job.platform,
            job.dockerfile.display(),
            job.context.display(),
        );
        if let Some(target) = job.target {
            line.push_str(&format!(" target {target}"));
        }
        if !job.build_args.is_empty() {
            line.push_str(&format!(" args: {}", pairs(job.build_args)));
        }
        if !job.labels.is_empty() {
            line.push_str(&format!(" labels: {}", pairs(job.labels)));
        }
        if job.no_cache {
            line.push_str(" no-cache");
        }
        if job.pull {
            line.push_str(" pull");
        }
        println!("{line}");
        if !job.after.is_empty() {
            println!("   after {} is published", job.after.join(", "));
        }
        println!(
            "   then push to {} and tag {} ({})",
            job.destination,
            job.tags.join(", "),
            job.format
        );
        if !job.annotations.is_empty() {
            println!(
                "   annotations: index {{{}}} manifest {{{}}}",
                pairs(job.annotations.index()),
                pairs(job.annotations.manifest())
            );
        }
    }
    Ok(())
}
