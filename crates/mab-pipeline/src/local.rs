//! The local Docker daemon (the one of `DOCKER_HOST`) as a destination, for `--load`: each
//! built image is put into its image store and, once every platform of the image is built, the
//! image's tags are pointed at it there. A daemon's classic image store holds one platform per
//! tag: the tags name the platform the daemon runs natively, or the only one built. The
//! containerd image store holds images of several platforms: there the platforms are gathered
//! in an OCI image layout (as `--output oci:DIR` writes one) and loaded whole, one index under
//! each tag.
//!
//! An image built by that daemon is already there; one built by another builder comes from that
//! builder's `docker save` stream, loaded as `docker load` does. Nothing is pushed anywhere.

use std::sync::{Arc, OnceLock};

use mab_build::Daemon;
use mab_plan::{ImageSpec, Plan};
use mab_platform::Platform;
use mab_registry::{
    ElfFiles, ImageFacts, IndexExtras, IndexOptions, OciLayout, PublishedIndex, PushReporter,
    PushSettings, PushedManifest, Target, VerifyReport,
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
    how: Loading,
}

/// How the images of one image reach the daemon.
#[derive(Clone)]
enum Loading {
    /// The classic image store: one platform per tag, this one.
    OnePlatform(Platform),
    /// The containerd image store: every platform, gathered in an OCI layout in `dir` and
    /// loaded whole when the tags are published.
    AllPlatforms {
        layout: Target,
        dir: Arc<tempfile::TempDir>,
    },
}

/// One platform's image in the local daemon.
#[derive(Debug, Clone)]
pub struct LoadedImage {
    /// Its local id (with the containerd image store, its manifest digest).
    id: String,
    /// Its size as the daemon counts it (unpacked), or as stored in the gathering layout.
    size: u64,
    /// Its manifest in the layout gathered for the containerd image store.
    manifest: Option<PushedManifest>,
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
/// Fails, before anything is built, for an image of several platforms none of which a daemon
/// with the classic image store runs natively.
pub async fn local_destinations(
    plan: &Plan,
    daemon: &Daemon,
) -> Result<Vec<Vec<LocalDaemon>>, PipelineError> {
    let all_platforms = daemon.holds_image_indexes().await?;
    let mut out = Vec::new();
    for image in plan.images() {
        let platform = if all_platforms {
            None
        } else {
            Some(load_platform(image, daemon)?)
        };
        let mut repositories: Vec<String> =
            image.repositories().iter().map(|r| r.to_string()).collect();
        // The name alone, as Docker names it (`app` is `docker.io/library/app`, which `docker
        // run app:dev` finds).
        if let Some(name) = image
            .name()
            .and_then(|name| mab_vocab::Repository::parse(name).ok())
            .map(|name| name.to_string())
            .filter(|name| !repositories.contains(name))
        {
            repositories.push(name);
        }
        let mut destinations = Vec::new();
        for repository in repositories {
            let how = match &platform {
                Some(platform) => Loading::OnePlatform(platform.clone()),
                None => gathering_layout(daemon, &repository).await?,
            };
            destinations.push(LocalDaemon {
                daemon: daemon.clone(),
                repository,
                how,
            });
        }
        out.push(destinations);
    }
    Ok(out)
}

/// A fresh OCI layout in a temporary folder, naming its images `repository:TAG`.
async fn gathering_layout(daemon: &Daemon, repository: &str) -> Result<Loading, PipelineError> {
    let dir = tempfile::Builder::new()
        .prefix("mab-load-")
        .tempdir()
        .map_err(|e| PipelineError::LocalImage {
            endpoint: daemon.endpoint().to_string(),
            message: format!("cannot make a folder to gather the image of {repository} in: {e}"),
        })?;
    let layout = OciLayout::open(dir.path())
        .await
        .map_err(|e| PipelineError::Layout(Box::new(e)))?;
    Ok(Loading::AllPlatforms {
        layout: Target::layout(layout, repository),
        dir: Arc::new(dir),
    })
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

    /// Puts the `platform` image into the daemon when it is the one platform its tags name.
    async fn load_one(
        &self,
        only: &Platform,
        platform: &Platform,
        export: &(dyn Fn() -> mab_build::ImageExport + Send + Sync),
        id: String,
    ) -> Result<LoadedImage, PipelineError> {
        if platform != only {
            // Not the platform the tags will name: it stays out of the daemon.
            return Ok(LoadedImage {
                id,
                size: 0,
                manifest: None,
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
        Ok(LoadedImage {
            id: image.id,
            size: image.size,
            manifest: None,
        })
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
        settings: PushSettings<'a>,
        reporter: &'a dyn PushReporter,
    ) -> Result<Pushed<LoadedImage>, PipelineError> {
        let stored = match &self.how {
            Loading::OnePlatform(only) => {
                let id = facts.config_digest.to_string();
                self.load_one(only, platform, export, id).await?
            }
            Loading::AllPlatforms { layout, .. } => {
                let pushed = Destination::push(layout, platform, export, facts, settings, reporter)
                    .await
                    .map_err(|e| PipelineError::Layout(Box::new(e)))?;
                let manifest = pushed.stored;
                LoadedImage {
                    id: manifest.digest.clone(),
                    size: manifest.size(),
                    manifest: Some(manifest),
                }
            }
        };
        Ok(Pushed {
            stored,
            reused: false,
        })
    }

    async fn publish<'a>(
        &'a self,
        manifests: &'a [(Platform, LoadedImage)],
        _extras: IndexExtras<'a>,
        tags: &'a [String],
        options: &'a IndexOptions,
    ) -> Result<PublishedIndex, PipelineError> {
        let only = match &self.how {
            Loading::OnePlatform(only) => only,
            Loading::AllPlatforms { layout, dir } => {
                let manifests: Vec<(Platform, PushedManifest)> = manifests
                    .iter()
                    .filter_map(|(p, image)| Some((p.clone(), image.manifest.clone()?)))
                    .collect();
                let index =
                    Destination::publish(layout, &manifests, IndexExtras::default(), tags, options)
                        .await
                        .map_err(|e| PipelineError::Layout(Box::new(e)))?;
                // Every tag at once: the layout names the index `REPOSITORY:TAG` for each.
                self.daemon.load_layout(dir.path()).await?;
                return Ok(index);
            }
        };
        let (_, image) = manifests
            .iter()
            .find(|(platform, _)| platform == only)
            .ok_or_else(|| {
                self.error(format!(
                    "no {only} image of {} was built to load",
                    self.repository
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
            None => Err(self.error(format!("{reference} is not in the daemon after loading"))),
        }
    }
}
