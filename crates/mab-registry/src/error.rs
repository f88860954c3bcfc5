//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while pushing, assembling or reading images.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A request to a registry failed (connection, HTTP status, protocol).
    #[error("registry {registry}: {action} failed")]
    Request {
        /// The registry (`host[:port]`).
        registry: String,
        /// What mab asked of it.
        action: String,
        /// The cause.
        #[source]
        source: oci_client::errors::OciDistributionError,
    },

    /// A request moved no bytes for the stall limit and was given up.
    #[error(
        "registry {registry}: {action} stalled: no bytes moved for {limit_seconds} s (the stall limit: --stall-limit, or `stall_limit` of the registry in the plan)"
    )]
    Stalled {
        /// The registry (`host[:port]`).
        registry: String,
        /// What mab asked of it.
        action: String,
        /// The stall limit, in seconds.
        limit_seconds: f64,
    },

    /// Pushing one image took longer than its limit, retries included.
    #[error(
        "pushing to {destination} took longer than the push limit of {limit_seconds} s (--push-limit){last}"
    )]
    PushLimit {
        /// The destination.
        destination: String,
        /// The limit, in seconds.
        limit_seconds: f64,
        /// `; the last failure: …`, when one is known.
        last: String,
    },

    /// The registry refused our credentials (or demanded some we do not have).
    #[error(
        "registry {registry}: authentication failed while {action}; check `docker login {registry}` or your credential helper"
    )]
    Authentication {
        /// The registry (`host[:port]`).
        registry: String,
        /// What mab asked of it.
        action: String,
        /// The cause.
        #[source]
        source: oci_client::errors::OciDistributionError,
    },

    /// A `docker save` stream is not what Docker writes.
    #[error("the image archive exported by the daemon is malformed: {message}")]
    MalformedArchive {
        /// What was said about it.
        message: String,
    },

    /// Reading the `docker save` stream failed.
    #[error("reading the image archive exported by the daemon failed")]
    ArchiveRead {
        /// The cause.
        #[source]
        source: std::io::Error,
    },

    /// A reference that is not a valid image reference.
    #[error("invalid image reference {reference:?}")]
    InvalidReference {
        /// The image reference, as written.
        reference: String,
        /// The cause.
        #[source]
        source: mab_vocab::InvalidReference,
    },

    /// The credential store could not be read.
    #[error("cannot read docker credentials for {registry}: {message}")]
    Credentials {
        /// The registry (`host[:port]`).
        registry: String,
        /// What was said about it.
        message: String,
    },

    /// Reading or writing an OCI image layout failed.
    #[error("oci layout {path}: {action} failed")]
    Layout {
        /// The file or folder.
        path: PathBuf,
        /// What mab asked of it.
        action: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },

    /// An index was asked for with no entries.
    #[error("cannot publish an index with no platform manifests")]
    EmptyIndex,

    /// An image or list named by a reference is not in its registry.
    #[error("{reference} is not in registry {registry} (no such manifest)")]
    ManifestNotFound {
        /// The image reference, as written.
        reference: String,
        /// The registry (`host[:port]`).
        registry: String,
    },

    /// A blob a manifest names is not in its repository.
    #[error("blob {digest} is not in {repository} (registry {registry})")]
    BlobNotFound {
        /// The digest.
        digest: String,
        /// The repository (`registry/path`).
        repository: String,
        /// The registry (`host[:port]`).
        registry: String,
    },

    /// What a registry sent does not hash to the digest it was asked for or announced.
    #[error("registry {registry}: {what} has digest {actual}, expected {expected}")]
    DigestMismatch {
        /// The registry (`host[:port]`).
        registry: String,
        /// What was checked.
        what: String,
        /// What was expected.
        expected: String,
        /// The platform found.
        actual: String,
    },

    /// A manifest, index or config from a registry is not what it claims to be.
    #[error("{reference}: {message}")]
    MalformedManifest {
        /// The image reference, as written.
        reference: String,
        /// What was said about it.
        message: String,
    },

    /// A manifest list entry would come from another registry than the list itself.
    #[error(
        "cannot put {image} in manifest list {list}: the image is in registry {image_registry}, the list in {list_registry} (entries must be in the list's registry)"
    )]
    CrossRegistry {
        /// The manifest list.
        list: String,
        /// The image.
        image: String,
        /// The list registry.
        list_registry: String,
        /// The image registry.
        image_registry: String,
    },

    /// A manifest list with no entries cannot be pushed.
    #[error("manifest list {list} has no entries")]
    EmptyManifestList {
        /// The manifest list.
        list: String,
    },

    /// An index that lists only attestation manifests.
    #[error(
        "index {reference} has no platform images, only attestation manifests (which are left out unless kept)"
    )]
    NoPlatformImages {
        /// The image reference, as written.
        reference: String,
    },

    /// A manifest list has no entry for an image.
    #[error("manifest list {list} has no entry for {image} (its entries: {entries})")]
    NotInList {
        /// The manifest list.
        list: String,
        /// The image.
        image: String,
        /// The entries.
        entries: String,
    },

    /// An image names several entries of a list (it was an index); one must be picked by digest.
    #[error(
        "{image} names {count} entries of manifest list {list} (it is an index); name one by digest: {candidates}"
    )]
    AmbiguousEntry {
        /// The manifest list.
        list: String,
        /// The image.
        image: String,
        /// The count.
        count: usize,
        /// The candidates.
        candidates: String,
    },

    /// A platform change that does not make a valid platform.
    #[error("cannot annotate {image} in manifest list {list}: {message}")]
    InvalidPlatform {
        /// The manifest list.
        list: String,
        /// The image.
        image: String,
        /// What was said about it.
        message: String,
    },

    /// Serialising a manifest failed (a bug, not a user error).
    #[error("serialising a manifest failed")]
    Serialize {
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

impl RegistryError {
    /// Whether the failure may pass: the registry was overloaded or briefly down, or a connection
    /// broke. Pushing the same image again may then succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Request { source, .. } => crate::remote::is_transient(source),
            Self::Stalled { .. } => true,
            Self::ArchiveRead { source } => matches!(
                source.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::TimedOut
            ),
            _ => false,
        }
    }
}

/// An error and its causes, as one line (`a: b: c`).
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        let next_text = next.to_string();
        if !text.contains(&next_text) {
            text.push_str(": ");
            text.push_str(&next_text);
        }
        cause = next.source();
    }
    text
}
