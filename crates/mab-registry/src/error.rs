//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while pushing, assembling or reading images.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A request to a registry failed (connection, HTTP status, protocol).
    #[error("registry {registry}: {action} failed")]
    Request {
        registry: String,
        action: String,
        #[source]
        source: oci_client::errors::OciDistributionError,
    },

    /// The registry refused our credentials (or demanded some we do not have).
    #[error(
        "registry {registry}: authentication failed while {action}; check `docker login {registry}` or your credential helper"
    )]
    Authentication {
        registry: String,
        action: String,
        #[source]
        source: oci_client::errors::OciDistributionError,
    },

    /// A `docker save` stream is not what Docker writes.
    #[error("the image archive exported by the daemon is malformed: {message}")]
    MalformedArchive { message: String },

    /// Reading the `docker save` stream failed.
    #[error("reading the image archive exported by the daemon failed")]
    ArchiveRead {
        #[source]
        source: std::io::Error,
    },

    /// A reference that is not a valid image reference.
    #[error("invalid image reference {reference:?}")]
    InvalidReference {
        reference: String,
        #[source]
        source: oci_client::ParseError,
    },

    /// The credential store could not be read.
    #[error("cannot read docker credentials for {registry}: {message}")]
    Credentials { registry: String, message: String },

    /// Reading or writing an OCI image layout failed.
    #[error("oci layout {path}: {action} failed")]
    Layout {
        path: PathBuf,
        action: String,
        #[source]
        source: std::io::Error,
    },

    /// An index was asked for with no entries.
    #[error("cannot publish an index with no platform manifests")]
    EmptyIndex,

    /// Serialising a manifest failed (a bug, not a user error).
    #[error("serialising a manifest failed")]
    Serialize {
        #[source]
        source: serde_json::Error,
    },
}
