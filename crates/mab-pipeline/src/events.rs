//! How a run tells its caller what happens: one [`JobEvents`] per (image, platform) job, which
//! also receives the build's and the push's own progress, and [`Notice`]s about the run.

use mab_build::{BuildReporter, Fit};
use mab_plan::ImageSpec;
use mab_platform::Platform;
use mab_registry::PushReporter;

/// Receives a run's progress. Implementations must not block: they are called from the jobs.
pub trait Events: Send + Sync {
    /// The progress of one job.
    type Job: JobEvents;

    /// A job starts: one platform of one image.
    fn job(&self, image: &ImageSpec, platform: &Platform) -> Self::Job;

    /// Something the user should know that is not one job's step.
    fn notice(&self, notice: Notice<'_>);
}

/// The progress of one job: its steps, and the build's and the push's progress.
pub trait JobEvents: BuildReporter + PushReporter + Send + Sync {
    /// A step of the job.
    fn event(&self, event: JobEvent<'_>);
}

/// Where a job runs: on which builder (named only when the plan declares builders) and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement<'a> {
    /// The builder's name, when builders are named.
    pub builder: Option<&'a str>,
    /// Whether the builder is the platform or emulates it.
    pub fit: Fit,
}

/// A step of one job.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum JobEvent<'a> {
    /// The build starts on a builder.
    Building(Placement<'a>),
    /// The build is done; the image is being exported and pushed.
    Built {
        /// The image id in the builder's daemon.
        image_id: &'a str,
    },
    /// The platform's manifest is stored in every destination: the job is done.
    Stored {
        /// The manifest digest (the local image id when the image only went into the local
        /// daemon).
        digest: &'a str,
        /// Whether it went to a registry or an OCI layout (not only into the local daemon).
        pushed: bool,
        /// Nothing changed since a previous run: nothing was exported or uploaded.
        reused: bool,
        /// The engine pushed it as it built it (`--engine-push`); mab exported nothing.
        by_engine: bool,
        /// Seconds from the start of the build (on its last builder) to the manifest stored.
        seconds: f64,
        /// Where it was built.
        placement: Placement<'a>,
    },
    /// The job failed (the error is in the run's outcome).
    Failed(JobFailure),
}

/// At which step a job failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobFailure {
    /// No builder is left that can build the platform.
    NoBuilderLeft,
    /// The build failed.
    BuildFailed,
    /// Storing the image failed.
    PushFailed,
    /// The image holds executables for another machine, and the run is strict.
    ForeignExecutables,
}

/// Something a run reports that is not one job's step.
#[derive(Debug, Clone, Copy)]
pub enum Notice<'a> {
    /// A builder failed under a job; the job is tried on another builder.
    BuilderFailed {
        /// The image of the job.
        image: &'a ImageSpec,
        /// The platform of the job.
        platform: &'a Platform,
        /// The builder's name.
        builder: &'a str,
        /// The builder's daemon endpoint.
        endpoint: &'a str,
        /// Whether the builder no longer answers and is not used for the rest of the run.
        lost: bool,
        /// What failed.
        error: &'a (dyn std::error::Error + 'static),
    },
    /// A platform's image holds executables built for another machine (a warning; with
    /// [`crate::RunOptions::strict`] the job fails instead).
    ForeignExecutables {
        /// The image.
        image: &'a ImageSpec,
        /// The platform.
        platform: &'a Platform,
        /// One line per foreign machine.
        findings: &'a [String],
    },
    /// An image's index is published in one repository under its tags.
    Published {
        /// The repository (`registry/path`).
        repository: &'a str,
        /// The index digest.
        digest: &'a str,
        /// The tags that now point at it.
        tags: &'a [String],
    },
    /// An image is in the local daemon under its tags (`--load`).
    Loaded {
        /// The local repository.
        repository: &'a str,
        /// The tags that now point at it.
        tags: &'a [String],
        /// The local image id.
        image_id: &'a str,
        /// Its platform; `None` when the image holds every platform (an index, on the
        /// containerd image store).
        platform: Option<&'a Platform>,
    },
    /// The repositories of one image got different index digests (the same image exported
    /// differently for each): worth a warning.
    DigestsDiffer {
        /// The image.
        image: &'a ImageSpec,
        /// (repository, index digest) of each.
        digests: &'a [(String, String)],
    },
}
