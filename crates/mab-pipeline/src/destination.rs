//! Where each image goes, as the pipeline sees it: store one platform's image, publish the
//! index of all of them under the tags, read a tag back. The real destination is
//! `mab-registry`'s [`Target`] (a registry repository or an OCI image layout); tests use fakes.

use std::future::Future;

use mab_platform::Platform;
use mab_registry::{
    AdoptSettings, ElfFiles, ImageFacts, IndexExtras, IndexOptions, PublishedIndex, PushReporter,
    PushSettings, PushedManifest, RegistryError, Statement, StoredAttestation, Target,
    VerifyReport, adopt_manifest, publish_index_with, push_image, store_attestation,
};
use mab_sbom::LayerContents;

use mab_build::ImageExport;

/// One platform's image, stored in a destination (by digest, untagged).
pub trait StoredImage: Clone + Send + Sync {
    /// Its manifest digest.
    fn digest(&self) -> &str;
    /// Its layers (compressed) and config, in bytes.
    fn size(&self) -> u64;
    /// The ELF files found in its layers (for the platform lint).
    fn elf_files(&self) -> &ElfFiles;
    /// Each layer, bottom first: its diff id and the software found in it (`None`: not read),
    /// for the SBOM.
    fn layer_contents(&self) -> Vec<(&str, Option<&LayerContents>)> {
        Vec::new()
    }
}

/// A platform's image as stored, and whether it was already there.
#[derive(Debug, Clone)]
pub struct Pushed<S> {
    /// What was stored.
    pub stored: S,
    /// Every blob was already stored: nothing was exported or uploaded.
    pub reused: bool,
}

impl<S> Pushed<S> {
    /// The same push, with what was stored seen as another type.
    pub fn map<T>(self, f: impl FnOnce(S) -> T) -> Pushed<T> {
        Pushed {
            stored: f(self.stored),
            reused: self.reused,
        }
    }
}

/// A registry repository an engine may push to itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnginePushTarget {
    /// `registry/path`.
    pub repository: String,
    /// How long a request to its registry may move no bytes (the plan's `stall_limit`, or
    /// `--stall-limit`).
    pub stall_limit: std::time::Duration,
}

/// Where one image goes.
pub trait Destination: Send + Sync {
    /// One platform's image, stored.
    type Stored: StoredImage;
    /// Why storing, publishing or reading back failed.
    type Error: Into<crate::DestinationError> + Send + 'static;

    /// The destination, for messages (`registry/path`, or `oci:DIR (name)`).
    fn describe(&self) -> String;

    /// The repository the image is published as here (`registry/path`, or the name of a local
    /// image).
    fn repository(&self) -> String;

    /// Whether this is the local Docker daemon (`--load`): what it publishes is a local image
    /// (its "index digest" is the image id), not an index in a registry.
    fn is_local_daemon(&self) -> bool {
        false
    }

    /// Where an engine may push this destination's images by digest; `None` when only mab
    /// can store them here (an OCI layout, the local daemon).
    fn engine_push_target(&self) -> Option<EnginePushTarget> {
        None
    }

    /// Takes a `platform` image the engine pushed here by digest (`digest`, its manifest's) as
    /// stored: reads its manifest back, and what its layers hold as `settings` says; `None` when
    /// it is not there (then it is pushed).
    fn adopt<'a>(
        &'a self,
        platform: &'a Platform,
        digest: &'a str,
        facts: ImageFacts<'a>,
        settings: AdoptSettings<'a>,
        reporter: &'a dyn PushReporter,
    ) -> impl Future<Output = Result<Option<Pushed<Self::Stored>>, Self::Error>> + Send + 'a {
        let _ = (platform, digest, facts, settings, reporter);
        std::future::ready(Ok(None))
    }

    /// Stores the `platform` image of the image; `export` opens a fresh `docker save` stream of
    /// it (called again for each try, not at all when everything is already stored).
    fn push<'a>(
        &'a self,
        platform: &'a Platform,
        export: &'a (dyn Fn() -> ImageExport + Send + Sync),
        facts: ImageFacts<'a>,
        settings: PushSettings<'a>,
        reporter: &'a dyn PushReporter,
    ) -> impl Future<Output = Result<Pushed<Self::Stored>, Self::Error>> + Send + 'a;

    /// Stores in-toto statements about one platform's image as its attestation manifest (by
    /// digest, untagged), to be listed in the index; `None` when the destination keeps no
    /// attestations (the default: a local daemon's image store has no place for them).
    fn attach<'a>(
        &'a self,
        subject: &'a Self::Stored,
        statements: &'a [Statement],
    ) -> impl Future<Output = Result<Option<StoredAttestation>, Self::Error>> + Send + 'a {
        let _ = (subject, statements);
        std::future::ready(Ok(None))
    }

    /// Publishes the index of `manifests` (and of the attestation manifests of `extras`) under
    /// every tag, after storing it by digest and signing what `extras` says.
    fn publish<'a>(
        &'a self,
        manifests: &'a [(Platform, Self::Stored)],
        extras: IndexExtras<'a>,
        tags: &'a [String],
        options: &'a IndexOptions,
    ) -> impl Future<Output = Result<PublishedIndex, Self::Error>> + Send + 'a;

    /// Reads `tag` back and checks the whole image it points at; `None` when the destination
    /// is not read back (an OCI layout).
    fn verify_tag<'a>(
        &'a self,
        tag: &'a str,
        expected_digest: &'a str,
    ) -> impl Future<Output = Result<Option<VerifyReport>, Self::Error>> + Send + 'a;
}

impl StoredImage for PushedManifest {
    fn digest(&self) -> &str {
        &self.digest
    }

    fn size(&self) -> u64 {
        self.layers_size + self.config_size
    }

    fn elf_files(&self) -> &ElfFiles {
        &self.elf_files
    }

    fn layer_contents(&self) -> Vec<(&str, Option<&LayerContents>)> {
        PushedManifest::layer_contents(self)
    }
}

impl Destination for Target {
    type Stored = PushedManifest;
    type Error = RegistryError;

    fn describe(&self) -> String {
        Target::describe(self)
    }

    fn repository(&self) -> String {
        match self {
            Target::Registry(repository) => repository.name(),
            Target::Layout { name, .. } => name.clone(),
        }
    }

    async fn push<'a>(
        &'a self,
        _platform: &'a Platform,
        export: &'a (dyn Fn() -> ImageExport + Send + Sync),
        facts: ImageFacts<'a>,
        settings: PushSettings<'a>,
        reporter: &'a dyn PushReporter,
    ) -> Result<Pushed<PushedManifest>, RegistryError> {
        let outcome = push_image(export, facts, self, settings, reporter).await?;
        Ok(Pushed {
            stored: outcome.manifest,
            reused: outcome.reused,
        })
    }

    fn engine_push_target(&self) -> Option<EnginePushTarget> {
        match self {
            Target::Registry(repository) => Some(EnginePushTarget {
                repository: repository.name(),
                stall_limit: repository.stall_limit(),
            }),
            Target::Layout { .. } => None,
        }
    }

    async fn adopt<'a>(
        &'a self,
        _platform: &'a Platform,
        digest: &'a str,
        facts: ImageFacts<'a>,
        settings: AdoptSettings<'a>,
        reporter: &'a dyn PushReporter,
    ) -> Result<Option<Pushed<PushedManifest>>, RegistryError> {
        let adopted = adopt_manifest(self, digest, facts, settings, reporter).await?;
        Ok(adopted.map(|stored| Pushed {
            stored,
            reused: false,
        }))
    }

    async fn attach<'a>(
        &'a self,
        subject: &'a PushedManifest,
        statements: &'a [Statement],
    ) -> Result<Option<StoredAttestation>, RegistryError> {
        store_attestation(self, &subject.digest, statements)
            .await
            .map(Some)
    }

    fn publish<'a>(
        &'a self,
        manifests: &'a [(Platform, PushedManifest)],
        extras: IndexExtras<'a>,
        tags: &'a [String],
        options: &'a IndexOptions,
    ) -> impl Future<Output = Result<PublishedIndex, RegistryError>> + Send + 'a {
        publish_index_with(self, manifests, extras, tags, options)
    }

    fn verify_tag<'a>(
        &'a self,
        tag: &'a str,
        expected_digest: &'a str,
    ) -> impl Future<Output = Result<Option<VerifyReport>, RegistryError>> + Send + 'a {
        Target::verify_tag(self, tag, expected_digest)
    }
}
