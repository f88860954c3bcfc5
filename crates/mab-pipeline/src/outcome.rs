//! What a run did: per image, what was published, or why it failed.

use mab_platform::Platform;

use crate::PipelineError;

/// The outcome of a whole run.
#[derive(Debug)]
pub struct RunOutcome {
    /// One per image of the plan, in plan order.
    pub images: Vec<ImageOutcome>,
}

impl RunOutcome {
    /// Whether every image was published.
    pub fn all_published(&self) -> bool {
        self.images.iter().all(|image| image.result.is_ok())
    }
}

/// The outcome of one image.
#[derive(Debug)]
pub struct ImageOutcome {
    /// The image's position in the plan.
    pub index: usize,
    /// Its index in each repository, or every reason it failed (then no tag of it moved).
    pub result: Result<Vec<PublishedImage>, Vec<Failure>>,
}

/// An image published in one repository, or loaded into the local daemon.
#[derive(Debug, Clone)]
pub struct PublishedImage {
    /// `registry/path` (for an image loaded into the local daemon: the local repository).
    pub repository: String,
    /// Loaded into the local daemon (`--load`): `digest` is the local image id of the platform
    /// it holds, `media_type` that of an image config.
    pub loaded: bool,
    /// The tags that point at the index.
    pub tags: Vec<String>,
    /// The index digest.
    pub digest: String,
    /// The index media type.
    pub media_type: String,
    /// Each platform's image, in plan order.
    pub platforms: Vec<PublishedPlatform>,
}

/// One platform's image of a published image.
#[derive(Debug, Clone)]
pub struct PublishedPlatform {
    /// The platform.
    pub platform: Platform,
    /// Its manifest digest.
    pub digest: String,
    /// The builder that built it (when builders are named).
    pub builder: Option<String>,
    /// Built under emulation.
    pub emulated: bool,
    /// Size of its layers (compressed) and config, in bytes.
    pub size: u64,
    /// Seconds from the start of its build to its manifest stored.
    pub seconds: f64,
    /// Nothing changed: its blobs were already stored and nothing was uploaded.
    pub reused: bool,
}

/// Why (part of) an image failed.
#[derive(Debug)]
pub struct Failure {
    /// The platform whose job failed; `None` when the image as a whole failed (a dependency,
    /// publishing, verification).
    pub platform: Option<Platform>,
    /// What happened.
    pub error: PipelineError,
}
