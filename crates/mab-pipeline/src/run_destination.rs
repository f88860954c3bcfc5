//! The destinations of one run side by side: each image's registry repositories (or OCI layout)
//! and, with `--load`, the local daemon. A run has one destination type; this is it when both
//! kinds take part.

use mab_build::ImageExport;
use mab_platform::Platform;
use mab_registry::{
    AdoptSettings, ElfFiles, ImageFacts, IndexExtras, IndexOptions, PublishedIndex, PushReporter,
    PushSettings, PushedManifest, Statement, StoredAttestation, Target, VerifyReport,
};
use mab_sbom::LayerContents;

use crate::{
    Destination, DestinationError, EnginePushTarget, LoadedImage, LocalDaemon, Pushed, StoredImage,
};

/// A registry repository or OCI layout, or the local daemon.
#[derive(Clone)]
pub enum RunDestination {
    /// A registry repository or an OCI image layout.
    Target(Target),
    /// The local daemon (`--load`).
    Local(LocalDaemon),
}

/// What a [`RunDestination`] stored.
#[derive(Debug, Clone)]
pub enum RunStored {
    /// A manifest in a registry or layout.
    Manifest(PushedManifest),
    /// An image in the local daemon.
    Loaded(LoadedImage),
}

/// Each image's destinations: `targets` (its repositories, or the layout; none with
/// `--no-push`), then `local` (with `--load`), image by image.
pub fn run_destinations(
    targets: Vec<Vec<Target>>,
    local: Option<Vec<Vec<LocalDaemon>>>,
    images: usize,
) -> Vec<Vec<RunDestination>> {
    let mut targets = targets.into_iter();
    let mut local = local.map(Vec::into_iter);
    (0..images)
        .map(|_| {
            let mut all: Vec<RunDestination> = targets
                .next()
                .unwrap_or_default()
                .into_iter()
                .map(RunDestination::Target)
                .collect();
            if let Some(local) = local.as_mut() {
                all.extend(
                    local
                        .next()
                        .unwrap_or_default()
                        .into_iter()
                        .map(RunDestination::Local),
                );
            }
            all
        })
        .collect()
}

impl StoredImage for RunStored {
    fn digest(&self) -> &str {
        match self {
            Self::Manifest(stored) => stored.digest(),
            Self::Loaded(stored) => stored.digest(),
        }
    }

    fn size(&self) -> u64 {
        match self {
            Self::Manifest(stored) => stored.size(),
            Self::Loaded(stored) => stored.size(),
        }
    }

    fn elf_files(&self) -> &ElfFiles {
        match self {
            Self::Manifest(stored) => stored.elf_files(),
            Self::Loaded(stored) => stored.elf_files(),
        }
    }

    fn layer_contents(&self) -> Vec<(&str, Option<&LayerContents>)> {
        match self {
            Self::Manifest(stored) => stored.layer_contents(),
            Self::Loaded(stored) => stored.layer_contents(),
        }
    }
}

impl Destination for RunDestination {
    type Stored = RunStored;
    type Error = DestinationError;

    fn describe(&self) -> String {
        match self {
            Self::Target(target) => Destination::describe(target),
            Self::Local(local) => local.describe(),
        }
    }

    fn repository(&self) -> String {
        match self {
            Self::Target(target) => target.repository(),
            Self::Local(local) => local.repository(),
        }
    }

    fn is_local_daemon(&self) -> bool {
        matches!(self, Self::Local(_))
    }

    fn engine_push_target(&self) -> Option<EnginePushTarget> {
        match self {
            Self::Target(target) => target.engine_push_target(),
            Self::Local(_) => None,
        }
    }

    async fn adopt<'a>(
        &'a self,
        platform: &'a Platform,
        digest: &'a str,
        facts: ImageFacts<'a>,
        settings: AdoptSettings<'a>,
        reporter: &'a dyn PushReporter,
    ) -> Result<Option<Pushed<RunStored>>, DestinationError> {
        Ok(match self {
            Self::Target(target) => target
                .adopt(platform, digest, facts, settings, reporter)
                .await?
                .map(|pushed| pushed.map(RunStored::Manifest)),
            Self::Local(_) => None,
        })
    }

    async fn push<'a>(
        &'a self,
        platform: &'a Platform,
        export: &'a (dyn Fn() -> ImageExport + Send + Sync),
        facts: ImageFacts<'a>,
        settings: PushSettings<'a>,
        reporter: &'a dyn PushReporter,
    ) -> Result<Pushed<RunStored>, DestinationError> {
        Ok(match self {
            Self::Target(target) => {
                Destination::push(target, platform, export, facts, settings, reporter)
                    .await?
                    .map(RunStored::Manifest)
            }
            Self::Local(local) => local
                .push(platform, export, facts, settings, reporter)
                .await?
                .map(RunStored::Loaded),
        })
    }

    async fn attach<'a>(
        &'a self,
        subject: &'a RunStored,
        statements: &'a [Statement],
    ) -> Result<Option<StoredAttestation>, DestinationError> {
        Ok(match (self, subject) {
            (Self::Target(target), RunStored::Manifest(stored)) => {
                Destination::attach(target, stored, statements).await?
            }
            _ => None,
        })
    }

    async fn publish<'a>(
        &'a self,
        manifests: &'a [(Platform, RunStored)],
        extras: IndexExtras<'a>,
        tags: &'a [String],
        options: &'a IndexOptions,
    ) -> Result<PublishedIndex, DestinationError> {
        match self {
            Self::Target(target) => {
                let manifests: Vec<(Platform, PushedManifest)> = manifests
                    .iter()
                    .filter_map(|(platform, stored)| match stored {
                        RunStored::Manifest(m) => Some((platform.clone(), m.clone())),
                        RunStored::Loaded(_) => None,
                    })
                    .collect();
                Ok(Destination::publish(target, &manifests, extras, tags, options).await?)
            }
            Self::Local(local) => {
                let images: Vec<(Platform, LoadedImage)> = manifests
                    .iter()
                    .filter_map(|(platform, stored)| match stored {
                        RunStored::Loaded(l) => Some((platform.clone(), l.clone())),
                        RunStored::Manifest(_) => None,
                    })
                    .collect();
                Ok(local.publish(&images, extras, tags, options).await?)
            }
        }
    }

    async fn verify_tag<'a>(
        &'a self,
        tag: &'a str,
        expected_digest: &'a str,
    ) -> Result<Option<VerifyReport>, DestinationError> {
        Ok(match self {
            Self::Target(target) => Destination::verify_tag(target, tag, expected_digest).await?,
            Self::Local(local) => local.verify_tag(tag, expected_digest).await?,
        })
    }
}
