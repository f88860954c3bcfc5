//! Where an image goes: a registry repository or an OCI layout, behind one interface.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures::Stream;
use mab_platform::Platform;

use crate::RegistryError;
use crate::archive::PushedManifest;
use crate::attestation::StoredAttestation;
use crate::layout::OciLayout;
use crate::manifest::{
    Descriptor, ImageIndex, ManifestFormat, PlatformJson, PublishedIndex, sha256_digest,
    to_json_bytes,
};
use crate::remote::RemoteRepository;
use crate::signature::{Signer, store_signature};

/// Receives progress while blobs and manifests are stored. Implementations must be cheap: they
/// are called from the upload path.
pub trait PushReporter: Send + Sync {
    /// Some bytes of a layer were sent (after compression).
    fn bytes_sent(&self, _bytes: u64) {}
    /// A blob is stored (uploaded now, or found already present).
    fn blob_stored(&self, _digest: &str, _size: u64, _already_present: bool) {}
    /// `what` (a layer, the image) failed for a passing reason: it is tried again while tries
    /// and time are left.
    fn retrying(&self, _what: &str, _error: &RegistryError) {}
    /// Layers of an image the engine pushed were not read back for what they hold (too large,
    /// or unreadable): the platform lint did not see them.
    fn layers_not_read(&self, _unread: crate::Unread) {}
}

/// A reporter that ignores everything.
pub struct NoReporter;
impl PushReporter for NoReporter {}

/// The destination of one image: a repository in a registry, or a name in an OCI layout.
#[derive(Clone)]
pub enum Target {
    /// A registry repository.
    Registry(RemoteRepository),
    /// An OCI image layout; `name` is the repository name used in `index.json` references.
    Layout {
        /// The layout.
        layout: OciLayout,
        /// The repository name its `index.json` entries use (`name:tag`).
        name: String,
    },
}

impl Target {
    /// A registry repository target.
    pub fn registry(repository: RemoteRepository) -> Self {
        Self::Registry(repository)
    }

    /// An OCI layout target, naming entries `<name>:<tag>`.
    pub fn layout(layout: OciLayout, name: impl Into<String>) -> Self {
        Self::Layout {
            layout,
            name: name.into(),
        }
    }

    /// A human-readable name of the destination.
    pub fn describe(&self) -> String {
        match self {
            Self::Registry(repo) => repo.name(),
            Self::Layout { layout, name } => format!("oci:{} ({name})", layout.root().display()),
        }
    }

    /// Checks the destination can be written to (registry reachable, credentials accepted).
    pub async fn check_writable(&self) -> Result<(), RegistryError> {
        match self {
            Self::Registry(repo) => repo.authenticate_for_push().await,
            Self::Layout { .. } => Ok(()),
        }
    }

    /// Stores a blob whose digest is computed while it streams; returns (digest, size).
    pub(crate) async fn put_blob_stream(
        &self,
        stream: impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    ) -> Result<(String, u64), RegistryError> {
        match self {
            Self::Registry(repo) => repo.push_blob_stream(stream).await,
            Self::Layout { layout, .. } => layout.put_blob_stream(stream).await,
        }
    }

    /// When the registry asked not to be tried again before (`Retry-After`), if it did.
    pub(crate) fn not_before(&self) -> Option<std::time::Instant> {
        match self {
            Self::Registry(repo) => repo.not_before(),
            Self::Layout { .. } => None,
        }
    }

    /// Reads `tag` back and checks the whole image it points at (see [`crate::verify_image`]);
    /// `None` for an OCI layout, which is not read back.
    pub async fn verify_tag(
        &self,
        tag: &str,
        expected_digest: &str,
    ) -> Result<Option<crate::VerifyReport>, RegistryError> {
        match self {
            Self::Registry(repo) => crate::verify::verify_in(
                repo,
                &format!("{}:{tag}", repo.name()),
                tag,
                Some(expected_digest),
            )
            .await
            .map(Some),
            Self::Layout { .. } => Ok(None),
        }
    }

    /// The name signatures give as the image's `docker-reference`: `registry/path`, or the
    /// layout entry's name.
    pub(crate) fn signed_name(&self) -> String {
        match self {
            Self::Registry(repo) => repo.name(),
            Self::Layout { name, .. } => name.clone(),
        }
    }

    /// `registry/path` of a registry target (the key under which the layer cache remembers where
    /// a blob was stored).
    pub(crate) fn repository_name(&self) -> Option<String> {
        match self {
            Self::Registry(repo) => Some(repo.name()),
            Self::Layout { .. } => None,
        }
    }

    /// Asks the registry to mount `digest` from `source` (`registry/path`, same registry) into
    /// this repository; `false` when it cannot (another registry, refused, a layout).
    pub(crate) async fn mount_from(
        &self,
        source: &str,
        digest: &str,
    ) -> Result<bool, RegistryError> {
        let Self::Registry(repo) = self else {
            return Ok(false);
        };
        let Some(path) = source
            .strip_prefix(repo.registry())
            .and_then(|rest| rest.strip_prefix('/'))
        else {
            return Ok(false);
        };
        if source == repo.name() {
            return Ok(false);
        }
        repo.mount_blob_from(&repo.sibling(path), digest).await
    }

    /// Whether the destination already has a blob.
    pub(crate) async fn has_blob(&self, digest: &str) -> Result<bool, RegistryError> {
        match self {
            Self::Registry(repo) => repo.blob_exists(digest).await,
            Self::Layout { layout, .. } => Ok(layout.blob_exists(digest).await),
        }
    }

    /// Stores a small blob whose digest is known, skipping it if present.
    pub(crate) async fn put_blob(&self, data: Bytes, digest: &str) -> Result<bool, RegistryError> {
        match self {
            Self::Registry(repo) => {
                if repo.blob_exists(digest).await? {
                    return Ok(true);
                }
                repo.push_blob(data, digest).await?;
                Ok(false)
            }
            Self::Layout { layout, .. } => {
                let present = layout.blob_exists(digest).await;
                layout.put_blob(&data, digest).await?;
                Ok(present)
            }
        }
    }

    /// Stores a manifest by digest (not tagged).
    pub(crate) async fn put_manifest_by_digest(
        &self,
        bytes: &[u8],
        digest: &str,
        media_type: &str,
    ) -> Result<(), RegistryError> {
        match self {
            Self::Registry(repo) => repo.push_manifest(digest, bytes.to_vec(), media_type).await,
            Self::Layout { layout, .. } => layout.put_blob(bytes, digest).await,
        }
    }

    /// Points `tag` at a manifest or index already stored by digest.
    pub(crate) async fn tag_manifest(
        &self,
        tag: &str,
        bytes: &[u8],
        descriptor: &Descriptor,
    ) -> Result<(), RegistryError> {
        match self {
            Self::Registry(repo) => {
                repo.push_manifest(tag, bytes.to_vec(), &descriptor.media_type)
                    .await
            }
            Self::Layout { layout, name } => {
                layout
                    .set_reference(&format!("{name}:{tag}"), descriptor.clone())
                    .await
            }
        }
    }
}

/// How [`publish_index`] writes an index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexOptions {
    /// OCI image index or Docker manifest list.
    pub format: ManifestFormat,
    /// Annotations of the index itself (OCI format only: a Docker manifest list has none, and
    /// asking for them is an error).
    pub annotations: BTreeMap<String, String>,
}

impl IndexOptions {
    /// An index of `format` without annotations.
    pub fn new(format: ManifestFormat) -> Self {
        Self {
            format,
            annotations: BTreeMap::new(),
        }
    }
}

/// What is published with an index, all of it stored before any tag moves.
#[derive(Clone, Copy, Default)]
pub struct IndexExtras<'a> {
    /// Attestation manifests, already stored, listed after the platform manifests.
    pub attestations: &'a [StoredAttestation],
    /// Signs the index (and, when it says so, each platform manifest) cosign's way.
    pub signer: Option<&'a dyn Signer>,
}

/// Assembles the index of `manifests` and publishes it under every tag.
///
/// Every child manifest (and so every blob) must already be stored: the index is written by digest
/// first, and only then do tags move, one after the other.
pub async fn publish_index(
    target: &Target,
    manifests: &[(Platform, PushedManifest)],
    tags: &[String],
    options: &IndexOptions,
) -> Result<PublishedIndex, RegistryError> {
    publish_index_with(target, manifests, IndexExtras::default(), tags, options).await
}

/// [`publish_index`] with attestation manifests in the index and signatures. The order, each
/// step only after the one before succeeded: the index by digest (its children, attestation
/// manifests included, are stored already); the signatures of the platform manifests, if asked,
/// and of the index, each under its `sha256-HEX.sig` tag (a tag named after a digest: it says
/// nothing about the image's own tags, and a signature of an index that never gets tagged
/// harms nobody); then the image's tags. A failure before the last step moves none of them.
pub async fn publish_index_with(
    target: &Target,
    manifests: &[(Platform, PushedManifest)],
    extras: IndexExtras<'_>,
    tags: &[String],
    options: &IndexOptions,
) -> Result<PublishedIndex, RegistryError> {
    let format = options.format;
    if manifests.is_empty() {
        return Err(RegistryError::EmptyIndex);
    }
    if format == ManifestFormat::Docker && !options.annotations.is_empty() {
        return Err(annotations_need_oci(target));
    }
    let index = ImageIndex {
        schema_version: 2,
        media_type: format.index_media_type().to_string(),
        manifests: manifests
            .iter()
            .map(|(platform, pushed)| Descriptor {
                media_type: pushed.media_type.clone(),
                digest: pushed.digest.clone(),
                size: pushed.size,
                platform: Some(PlatformJson::from(platform)),
                annotations: Default::default(),
            })
            .chain(
                extras
                    .attestations
                    .iter()
                    .map(StoredAttestation::index_entry),
            )
            .collect(),
        annotations: options.annotations.clone(),
    };
    let bytes = to_json_bytes(&index)?;
    let digest = sha256_digest(&bytes);
    let descriptor = Descriptor {
        media_type: index.media_type.clone(),
        digest: digest.clone(),
        size: bytes.len() as u64,
        platform: None,
        annotations: Default::default(),
    };
    target
        .put_manifest_by_digest(&bytes, &digest, &descriptor.media_type)
        .await?;
    if let Some(signer) = extras.signer {
        let repository = target.signed_name();
        if signer.signs_manifests() {
            for (_, pushed) in manifests {
                let signature = signer.sign(&repository, &pushed.digest);
                store_signature(target, &pushed.digest, &signature).await?;
            }
        }
        store_signature(target, &digest, &signer.sign(&repository, &digest)).await?;
    }
    for tag in tags {
        target.tag_manifest(tag, &bytes, &descriptor).await?;
    }
    Ok(PublishedIndex {
        digest,
        media_type: descriptor.media_type,
        size: descriptor.size,
    })
}

/// The error for annotations asked of the Docker format.
pub(crate) fn annotations_need_oci(target: &Target) -> RegistryError {
    RegistryError::MalformedManifest {
        reference: target.describe(),
        message: "annotations need the OCI format: Docker manifest lists and image manifests \
                  cannot carry them"
            .to_string(),
    }
}
