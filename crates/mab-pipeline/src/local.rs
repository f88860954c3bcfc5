//! The local Docker daemon (the one of `DOCKER_HOST`) as a destination, for `--load`: each
//! built image is put into its image store and, once every platform of the image is built, the
//! image's tags are pointed at one platform's image there — the one the daemon runs natively, or
//! the only one built. A daemon's classic image store holds one platform per tag.
//!
//! An image built by that daemon is already there; one built by another builder comes from that
//! builder's `docker save` stream, loaded as `docker load` does. Nothing is pushed anywhere.

use std::sync::OnceLock;

use mab_build::Daemon;
use mab_plan::{ImageSpec, Plan};
use mab_platform::Platform;
use mab_registry::{
    ElfFiles, ImageFacts, IndexOptions, PublishedIndex, PushReporter, PushSettings, VerifyReport,
};

use crate::{Destination, PipelineError, Pushed, StoredImage};

/// The media type a loaded image is reported with (it is a local image, not a manifest).
const IMAGE_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// One local repository of an image in the local daemon.
#[derive(Clone)]
pub struct LocalDaemon {
    daemon: Daemon,
    /// `registry/path`, or the image's `name`.
    repository: String,
    /// The platform whose image the tags name.
    platform: Platform,
}

/// One platform's image in the local daemon.
#[derive(Debug, Clone)]
pub struct LoadedImage {
    /// Its local id.
    id: String,
    /// Its size as the daemon counts it (unpacked).
    size: u64,
}

impl StoredImage for LoadedImage {
    fn digest(&self) -> &str {
        &self.id
    }

    fn size(&self) -> u64 {
        self.size
    }

    fn elf_files(&self) -> &ElfFiles {
        static NONE: OnceLock<ElfFiles> = OnceLock::new();
        NONE.get_or_init(ElfFiles::default)
    }
}

/// The local daemon's destinations of each image of `plan` (in plan order): one per repository
/// of the image, and one for its `name` when it has one (so that `docker run NAME:TAG` works).
/// Fails, before anything is built, for an image of several platforms none of which the daemon
/// runs natively.
pub fn local_destinations(
    plan: &Plan,
    daemon: &Daemon,
) -> Result<Vec<Vec<LocalDaemon>>, PipelineError> {
    plan.images()
        .iter()
        .map(|image| {
            let platform = load_platform(image, daemon)?;
            let mut repositories: Vec<String> =
                image.repositories().iter().map(|r| r.to_string()).collect();
            if let Some(name) = image
                .name()
                .filter(|n| !repositories.iter().any(|r| r == n))
            {
                repositories.push(name.to_string());
            }
            Ok(repositories
                .into_iter()
                .map(|repository| LocalDaemon {
                    daemon: daemon.clone(),
                    repository,
                    platform: platform.clone(),
                })
                .collect())
        })
        .collect()
}

/// The platform of `image` whose image the local daemon gets: the only one, or the one the
/// daemon runs natively.
fn load_platform(image: &ImageSpec, daemon: &Daemon) -> Result<Platform, PipelineError> {
    if let [only] = image.platforms() {
        return Ok(only.clone());
    }
    match daemon.native_platform() {
        Some(native) if image.platforms().contains(native) => Ok(native.clone()),
        native => Err(PipelineError::NoPlatformToLoad {
            image: image.label(),
            endpoint: daemon.endpoint().to_string(),
            native: native.map_or_else(|| "unknown".to_string(), Platform::to_string),
            platforms: image
                .platforms()
                .iter()
                .map(Platform::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

impl LocalDaemon {
    fn error(&self, message: String) -> PipelineError {
        PipelineError::LocalImage {
            endpoint: self.daemon.endpoint().to_string(),
            message,
        }
    }
}

impl Destination for LocalDaemon {
    type Stored = LoadedImage;
    type Error = PipelineError;

    fn describe(&self) -> String {
        format!(
            "the docker daemon at {} ({})",
            self.daemon.endpoint(),
            self.repository
        )
    }

    fn repository(&self) -> String {
        self.repository.clone()
    }

    fn is_local_daemon(&self) -> bool {
        true
    }

    async fn push<'a>(
        &'a self,
        platform: &'a Platform,
        export: &'a (dyn Fn() -> mab_build::ImageExport + Send + Sync),
        facts: ImageFacts<'a>,
        _settings: PushSettings<'a>,
        _reporter: &'a dyn PushReporter,
    ) -> Result<Pushed<LoadedImage>, PipelineError> {
        let id = facts.config_digest.to_string();
        if platform != &self.platform {
            // Not the platform the tags will name: it stays out of the daemon.
            return Ok(Pushed {
                stored: LoadedImage { id, size: 0 },
                reused: false,
            });
        }
        // Built by this daemon (or loaded for another repository of the image): it is there.
        let image = match self.daemon.local_image(&id).await {
            Some(image) => image,
            None => {
                self.daemon.load(export()).await?;
                self.daemon.local_image(&id).await.ok_or_else(|| {
                    self.error(format!(
                        "the {platform} image {id} was loaded, but the daemon does not have it"
                    ))
                })?
            }
        };
        Ok(Pushed {
            stored: LoadedImage {
                id: image.id,
                size: image.size,
            },
            reused: false,
        })
    }

    async fn publish<'a>(
        &'a self,
        manifests: &'a [(Platform, LoadedImage)],
        tags: &'a [String],
        _options: &'a IndexOptions,
    ) -> Result<PublishedIndex, PipelineError> {
        let (_, image) = manifests
            .iter()
            .find(|(platform, _)| platform == &self.platform)
            .ok_or_else(|| {
                self.error(format!(
                    "no {} image of {} was built to load",
                    self.platform, self.repository
                ))
            })?;
        for tag in tags {
            self.daemon.tag(&image.id, &self.repository, tag).await?;
        }
        Ok(PublishedIndex {
            digest: image.id.clone(),
            media_type: IMAGE_CONFIG.to_string(),
            size: image.size,
        })
    }

    async fn verify_tag<'a>(
        &'a self,
        tag: &'a str,
        expected_digest: &'a str,
    ) -> Result<Option<VerifyReport>, PipelineError> {
        let reference = format!("{}:{tag}", self.repository);
        match self.daemon.local_image(&reference).await {
            Some(image) if image.id == expected_digest => Ok(None),
            Some(image) => Err(self.error(format!(
                "{reference} names {}, not the image just loaded ({expected_digest})",
                image.id
            ))),
            None => Err(self.error(format!("{reference} is not in the daemon after tagging"))),
        }
    }
}
