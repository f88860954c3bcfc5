//! The run: every image at once, each after the images it `depends_on` are published (and not
//! at all if one of them failed).

use std::sync::Mutex;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared, join_all};
use mab_build::BaseResolver;
use mab_plan::Plan;
use tokio::sync::Semaphore;

use crate::image::build_image;
use crate::job::{Dependencies, LoadedDependency};
use crate::{
    BuilderPool, Destination, Events, Failure, ImageOutcome, PipelineError, RunOptions, RunOutcome,
};

/// What every job of a run shares.
pub(crate) struct Run<'a, B, E> {
    pub builders: &'a B,
    pub events: &'a E,
    /// `jobs`: how many builds may run at once in all.
    pub jobs: Option<&'a Semaphore>,
    pub bases: &'a dyn BaseResolver,
    pub options: &'a RunOptions,
    /// The plan file (its digest goes into provenance).
    pub plan_file: &'a std::path::Path,
    /// The digest of each build context, read once.
    pub contexts: &'a crate::contexts::ContextDigests,
}

impl<B, E> Clone for Run<'_, B, E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<B, E> Copy for Run<'_, B, E> {}

/// Runs every image of `plan`: builds each platform on `builders`, stores it in each of the
/// image's `destinations` (one list per image, in plan order), and publishes the image's index
/// there once every platform is stored. Returns the outcome of every image, in plan order.
pub async fn run<B, D, E>(
    plan: &Plan,
    destinations: &[Vec<D>],
    builders: &B,
    bases: &dyn BaseResolver,
    options: &RunOptions,
    events: &E,
) -> RunOutcome
where
    B: BuilderPool,
    D: Destination,
    E: Events,
{
    let jobs = options.jobs.map(Semaphore::new);
    let contexts = crate::contexts::ContextDigests::default();
    let run = Run {
        builders,
        events,
        jobs: jobs.as_ref(),
        bases,
        options,
        plan_file: plan.file(),
        contexts: &contexts,
    };
    let images = plan.images();
    let outcomes: Vec<Mutex<Option<ImageOutcome>>> =
        images.iter().map(|_| Mutex::new(None)).collect();
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
        let outcomes = &outcomes;
        let image_destinations = &destinations[index];
        let image_run = async move {
            let mut failed = Vec::new();
            // Bases from the images this one depends on are pulled afresh, or taken from the
            // local daemon when they were only loaded there.
            let mut built = Dependencies::default();
            for (dependency, published) in dependencies {
                if !published.await {
                    failed.push(images[dependency].label());
                    continue;
                }
                let repositories = images[dependency]
                    .repositories()
                    .iter()
                    .map(|r| r.to_string());
                if destinations[dependency]
                    .iter()
                    .any(|d| !d.is_local_daemon())
                {
                    built.pushed.extend(repositories);
                } else {
                    built.loaded.push(LoadedDependency {
                        repositories: repositories
                            .chain(local_name(&images[dependency]))
                            .collect(),
                        images: local_images(&outcomes[dependency]),
                    });
                }
            }
            let result = if failed.is_empty() {
                build_image(image, image_destinations, run, built).await
            } else {
                Err(vec![Failure {
                    platform: None,
                    error: PipelineError::DependencyFailed {
                        image: image.label(),
                        dependencies: failed.join(", "),
                    },
                }])
            };
            let published = result.is_ok();
            *slot.lock().expect("outcome lock") = Some(ImageOutcome { index, result });
            published
        }
        .boxed()
        .shared();
        runs[index] = Some(image_run);
    }
    join_all(runs.into_iter().flatten()).await;
    RunOutcome {
        images: outcomes
            .into_iter()
            .map(|slot| {
                slot.into_inner()
                    .expect("outcome lock")
                    .expect("every image ran")
            })
            .collect(),
    }
}

/// The repository the image's `name` stands for alone (`app` is `docker.io/library/app`), as
/// `--load` tags it.
fn local_name(image: &mab_plan::ImageSpec) -> Option<String> {
    mab_vocab::Repository::parse(image.name()?)
        .ok()
        .map(|r| r.to_string())
}

/// The local image id of each platform of a published image's run (those of its local daemon
/// destination).
fn local_images(outcome: &Mutex<Option<ImageOutcome>>) -> Vec<(mab_platform::Platform, String)> {
    let outcome = outcome.lock().expect("outcome lock");
    let Some(Ok(published)) = outcome.as_ref().map(|o| o.result.as_ref()) else {
        return Vec::new();
    };
    published
        .iter()
        .find(|p| p.loaded)
        .map(|p| {
            p.platforms
                .iter()
                .map(|platform| (platform.platform.clone(), platform.digest.clone()))
                .collect()
        })
        .unwrap_or_default()
}
