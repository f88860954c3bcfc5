//! One job: one platform of one image, built on a builder of the pool and stored in every
//! destination of the image; when the builder fails under the job, the next able builder tries.

use std::time::{Instant, SystemTime};

use mab_attest::BaseImage;

use mab_build::{BaseResolver, BuildRequest, Fit, error_chain};
use mab_plan::ImageSpec;
use mab_platform::Platform;
use mab_registry::ManifestOptions;

use crate::attempt::{Attempt, Stored, attempt};
use crate::lint::foreign_executables;
use crate::schedule::Run;
use crate::{
    BuilderLease, BuilderPool, Destination, Events, JobEvent, JobEvents, JobFailure, Notice,
    PipelineError, Placement, StoredImage,
};

/// One platform of one image, built and stored in every destination.
pub(crate) struct BuiltPlatform<S> {
    /// What each destination stored, in order.
    pub stored: Vec<S>,
    /// The builder's name, when builders are named.
    pub builder: Option<String>,
    /// Whether the builder emulated the platform.
    pub emulated: bool,
    /// Seconds the job took (its last attempt).
    pub seconds: f64,
    /// Whether every destination already had its blobs.
    pub reused: bool,
    /// Who built it from which bases, and when (for its provenance).
    pub record: BuildRecord,
}

/// Who built one platform's image from which bases, and when.
#[derive(Debug, Clone)]
pub(crate) struct BuildRecord {
    /// The builder's name.
    pub builder: String,
    /// Its daemon's endpoint.
    pub endpoint: String,
    /// Its engine's version.
    pub engine_version: String,
    /// The base images the build used.
    pub bases: Vec<BaseImage>,
    /// When the build (on its last builder) started.
    pub started: SystemTime,
    /// When the image was stored.
    pub finished: SystemTime,
}

/// What one job is about: shared by its attempts.
pub(crate) struct PlatformJob<'a, D, J> {
    pub platform: &'a Platform,
    pub request: BuildRequest,
    pub destinations: &'a [D],
    pub manifest: &'a ManifestOptions,
    /// The job's progress.
    pub events: J,
    /// Which image each base reference names, for the job's platform.
    pub bases: &'a dyn BaseResolver,
    /// Whether an earlier run's image of an identical build may stand in for this build (not
    /// when the image's provenance records the build).
    pub memo: bool,
}

/// The images a job's image depends on, built in this run.
#[derive(Debug, Clone, Default)]
pub(crate) struct Dependencies {
    /// The repositories of those pushed to a registry: a `FROM` naming one is always pulled
    /// afresh.
    pub pushed: Vec<String>,
    /// Those only put into the local daemon (`--load --no-push`): a `FROM` naming one of
    /// their repositories takes the image built in this run for its platform (by id), never
    /// the registry's (older, or not there).
    pub loaded: Vec<LoadedDependency>,
}

/// An image only loaded into the local daemon, as the images depending on it see it.
#[derive(Debug, Clone)]
pub(crate) struct LoadedDependency {
    /// Its repositories (`registry/path`; with `name`, that name's too).
    pub repositories: Vec<String>,
    /// The local image id of each platform built.
    pub images: Vec<(Platform, String)>,
}

/// A resolver that names the images of `loaded` dependencies by their local ids and asks
/// `inner` about the other bases.
struct LocalFirst<'a> {
    inner: &'a dyn BaseResolver,
    loaded: &'a [LoadedDependency],
}

impl BaseResolver for LocalFirst<'_> {
    fn platform_image<'a>(
        &'a self,
        reference: &'a str,
        platform: &'a Platform,
    ) -> futures::future::BoxFuture<'a, Option<String>> {
        let repository = mab_vocab::ImageReference::parse(reference)
            .ok()
            .map(|r| r.name());
        let dependency = self.loaded.iter().find(|d| {
            repository
                .as_ref()
                .is_some_and(|r| d.repositories.contains(r))
        });
        match dependency {
            Some(dependency) => {
                let id = dependency
                    .images
                    .iter()
                    .find(|(p, _)| p == platform)
                    .map(|(_, id)| id.clone());
                Box::pin(std::future::ready(id))
            }
            None => self.inner.platform_image(reference, platform),
        }
    }
}

/// What the engine is asked to push of `image` as it builds it, when the run lets it
/// ([`crate::EnginePushMode`]) and nothing needs mab to read the layers: every destination a
/// registry, no SBOM asked (its layers' contents), not strict (the platform lint's executables),
/// no manifest annotations.
fn engine_push<D: Destination>(
    image: &ImageSpec,
    destinations: &[D],
    manifest: &ManifestOptions,
    options: &crate::RunOptions,
) -> Option<mab_build::EnginePush> {
    if options.engine_push != crate::EnginePushMode::WhenPossible
        || options.strict
        || image.attestations().sbom()
        || !manifest.annotations.is_empty()
        || destinations.is_empty()
    {
        return None;
    }
    let targets = destinations
        .iter()
        .map(Destination::engine_push_target)
        .collect::<Option<Vec<_>>>()?;
    Some(mab_build::EnginePush {
        // One export pushes to all of them: it is given up only when it has stalled longer
        // than any of their registries allows.
        stall_limit: targets.iter().map(|t| t.stall_limit).max()?,
        repositories: targets.into_iter().map(|t| t.repository).collect(),
        format: manifest.format,
        compression: manifest.compression,
    })
}

/// Builds one platform of `image` on a builder of the pool and stores its manifest (untagged)
/// in every destination; when the builder fails under the job, tries the next able one.
pub(crate) async fn build_platform<B, D, E>(
    image: &ImageSpec,
    platform: &Platform,
    destinations: &[D],
    run: Run<'_, B, E>,
    dependencies: &Dependencies,
    manifest: &ManifestOptions,
) -> Result<BuiltPlatform<D::Stored>, PipelineError>
where
    B: BuilderPool,
    D: Destination,
    E: Events,
{
    let settings = image.build_for(platform);
    let options = run.options;
    let (secrets, ssh) = crate::inputs::resolve(&image.label(), &platform.to_string(), settings)?;
    let job = PlatformJob {
        platform,
        request: BuildRequest {
            context_dir: settings.context_dir().to_path_buf(),
            dockerfile: settings.dockerfile().to_path_buf(),
            platform: platform.clone(),
            build_args: settings.build_args().clone(),
            target: settings.target().map(str::to_string),
            labels: settings.labels().clone(),
            no_cache: settings.no_cache() || options.no_cache,
            pull: settings.pull() || options.pull,
            cache_from: settings.cache_from().to_vec(),
            inline_cache: settings.cache_to() == Some(mab_plan::CacheExport::Inline),
            builder: settings.backend(),
            secrets,
            ssh,
            pull_repositories: dependencies.pushed.clone(),
            engine_push: engine_push(image, destinations, manifest, options),
        },
        destinations,
        manifest,
        events: run.events.job(image, platform),
        bases: &LocalFirst {
            inner: run.bases,
            loaded: &dependencies.loaded,
        },
        memo: !image.attestations().provenance(),
    };
    // Builders that failed under this job, and how the last one failed.
    let mut excluded = Vec::new();
    let mut last_failure: Option<PipelineError> = None;
    // A builder that failed under the job but still answers (a build stream broken by the
    // daemon, seen on Docker 28.5 under load) gets the job once more when no other builder can
    // take it.
    let mut once_more: Option<usize> = None;
    let mut tried_once_more = false;
    loop {
        let lease = match run.builders.acquire(platform, &excluded).await {
            Ok(lease) => lease,
            // Only ever set before the second chance is used.
            Err(_) if once_more.is_some() => {
                tried_once_more = true;
                let again = once_more.take();
                excluded.retain(|index| Some(*index) != again);
                continue;
            }
            Err(error) => {
                job.events
                    .event(JobEvent::Failed(JobFailure::NoBuilderLeft));
                return Err(match last_failure {
                    Some(last) => PipelineError::BuildersExhausted {
                        platform: platform.to_string(),
                        image: image.label(),
                        last: error_chain(&last),
                        source: Box::new(error),
                    },
                    None => error.into(),
                });
            }
        };
        let job_slot = match run.jobs {
            Some(jobs) => Some(
                jobs.acquire()
                    .await
                    .expect("the run's job semaphore is never closed"),
            ),
            None => None,
        };
        let placement = Placement {
            builder: run.builders.names_builders().then(|| lease.name()),
            fit: lease.fit(),
        };
        let started = Instant::now();
        let started_at = SystemTime::now();
        match attempt(&job, &lease, job_slot, run, placement).await {
            Ok(Stored {
                stored,
                reused,
                bases,
                by_engine,
            }) => {
                let findings = stored
                    .first()
                    .map(|first| foreign_executables(platform, first.elf_files()))
                    .unwrap_or_default();
                if options.strict && !findings.is_empty() {
                    job.events
                        .event(JobEvent::Failed(JobFailure::ForeignExecutables));
                    return Err(PipelineError::ForeignExecutables {
                        platform: platform.to_string(),
                        image: image.label(),
                        findings: findings.join("\n  "),
                    });
                }
                if !findings.is_empty() {
                    run.events.notice(Notice::ForeignExecutables {
                        image,
                        platform,
                        findings: &findings,
                    });
                }
                let seconds = started.elapsed().as_secs_f64();
                job.events.event(JobEvent::Stored {
                    digest: stored.first().map(StoredImage::digest).unwrap_or_default(),
                    pushed: destinations.iter().any(|d| !d.is_local_daemon()),
                    reused,
                    by_engine,
                    seconds,
                    placement,
                });
                return Ok(BuiltPlatform {
                    stored,
                    builder: placement.builder.map(str::to_string),
                    emulated: lease.fit() != Fit::Native,
                    seconds,
                    reused,
                    record: BuildRecord {
                        builder: lease.name().to_string(),
                        endpoint: lease.endpoint().to_string(),
                        engine_version: lease.engine_version(),
                        bases,
                        started: started_at,
                        finished: SystemTime::now(),
                    },
                });
            }
            Err(Attempt::Job(error)) => return Err(error),
            Err(Attempt::Builder(error)) => {
                let lost = run.builders.probe_after_failure(&lease).await;
                run.events.notice(Notice::BuilderFailed {
                    image,
                    platform,
                    builder: lease.name(),
                    endpoint: lease.endpoint(),
                    lost: lost.is_some(),
                    error: &error,
                });
                if lost.is_none() && !tried_once_more {
                    once_more = Some(lease.index());
                }
                excluded.push(lease.index());
                last_failure = Some(error);
            }
        }
    }
}
