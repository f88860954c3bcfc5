//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while building or exporting an image.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The Dockerfile does not exist (or is not a file).
    #[error("dockerfile not found: {path}")]
    DockerfileMissing {
        /// The file or folder.
        path: PathBuf,
    },

    /// The build context folder does not exist (or is not a folder).
    #[error("build context folder not found: {path}")]
    ContextMissing {
        /// The file or folder.
        path: PathBuf,
    },

    /// Reading a file or folder of the build context failed.
    #[error("cannot read build context file {path}")]
    ContextRead {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },

    /// A `.dockerignore` line is not a valid pattern.
    #[error("{path}:{line}: invalid .dockerignore pattern: {message}")]
    Dockerignore {
        /// The file or folder.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// What was said about it.
        message: String,
    },

    /// The Dockerfile uses features the chosen builder of the engine does not have (one
    /// problem a line: `PATH:LINE: FEATURE needs ...`).
    #[error("{}", problems.join("; "))]
    DockerfileUnsupported {
        /// The file or folder.
        path: PathBuf,
        /// Every problem, one per line.
        problems: Vec<String>,
    },

    /// The Dockerfile cannot be understood well enough to find its base images.
    #[error("{path}:{line}: {message}")]
    DockerfileSyntax {
        /// The file or folder.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// What was said about it.
        message: String,
    },

    /// The build context already has an entry where mab puts its rewritten Dockerfile (or a
    /// non-folder where that name needs a folder).
    #[error(
        "build context {context} already has {name}, the name chosen for the rewritten dockerfile"
    )]
    DockerfileNameTaken {
        /// The build context folder.
        context: PathBuf,
        /// The name.
        name: String,
    },

    /// The name chosen for the rewritten Dockerfile is not a plain relative path.
    #[error(
        "invalid name for the dockerfile in the build context: {name:?} (it must be a relative path without empty, . or .. parts)"
    )]
    DockerfileNameInvalid {
        /// The name.
        name: String,
    },

    /// The receiver of the context stream was dropped before the whole context was sent.
    #[error("the build context stream of {context} was closed before the whole context was sent")]
    ContextStreamClosed {
        /// The build context folder.
        context: PathBuf,
    },

    /// The daemon stopped answering (`/_ping`) during a long, silent step.
    #[error("the docker daemon at {endpoint} stopped answering while {doing}: {last}")]
    DaemonStopped {
        /// The daemon's endpoint.
        endpoint: String,
        /// What it was doing.
        doing: String,
        /// The last ping's failure.
        last: String,
    },

    /// The daemon does not answer at all.
    #[error(
        "cannot reach the docker daemon at {endpoint}: is dockerd running there? Set DOCKER_HOST (or the builder's endpoint) to a daemon that answers"
    )]
    DaemonUnreachable {
        /// The daemon's endpoint.
        endpoint: String,
        /// The cause.
        #[source]
        source: Box<bollard::errors::Error>,
    },

    /// A request to a daemon that was reachable failed.
    #[error("docker daemon at {endpoint}: {action} failed")]
    Daemon {
        /// The daemon's endpoint.
        endpoint: String,
        /// What mab asked of it.
        action: String,
        /// The cause.
        #[source]
        source: Box<bollard::errors::Error>,
    },

    /// The Dockerfile could not be read.
    #[error("cannot read dockerfile {path}")]
    DockerfileRead {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },

    /// The engine's own push of a built image (push by digest from BuildKit's export) failed
    /// or stalled; the image is pushed by mab instead.
    #[error(
        "the push by the docker daemon at {endpoint} of the {platform} image failed: {message}"
    )]
    EnginePushFailed {
        /// The platform.
        platform: String,
        /// The daemon's endpoint.
        endpoint: String,
        /// What failed.
        message: String,
    },

    /// The daemon reported an error while building (a failing `RUN`, a missing file...).
    #[error("build for {platform} failed on the docker daemon at {endpoint}: {message}")]
    BuildFailed {
        /// The platform.
        platform: String,
        /// The daemon's endpoint.
        endpoint: String,
        /// What was said about it.
        message: String,
    },

    /// The build stream ended without naming the image it built.
    #[error(
        "build for {platform} on the docker daemon at {endpoint} ended without producing an image"
    )]
    NoImageProduced {
        /// The platform.
        platform: String,
        /// The daemon's endpoint.
        endpoint: String,
    },

    /// The daemon built an image of another platform than the one asked for.
    #[error(
        "the docker daemon at {endpoint} built an image for {actual} when {wanted} was requested"
    )]
    PlatformMismatch {
        /// The daemon's endpoint.
        endpoint: String,
        /// The platform asked for.
        wanted: String,
        /// The platform found.
        actual: String,
    },

    /// A base image could not be pulled for a platform.
    #[error("cannot pull base image {reference} for {platform} on the docker daemon at {endpoint}")]
    BasePull {
        /// The image reference, as written.
        reference: String,
        /// The platform.
        platform: String,
        /// The daemon's endpoint.
        endpoint: String,
        /// The cause.
        #[source]
        source: Box<bollard::errors::Error>,
    },

    /// A base image exists, but not for the platform a build needs.
    #[error(
        "base image {reference} is {actual} on the docker daemon at {endpoint}, but the build for {wanted} needs {wanted}; pulled again for {wanted}, the tag still names a {actual} image: the registry has no {wanted} variant of it, or another client keeps pulling it for another platform"
    )]
    BasePlatform {
        /// The image reference, as written.
        reference: String,
        /// The daemon's endpoint.
        endpoint: String,
        /// The platform asked for.
        wanted: String,
        /// The platform found.
        actual: String,
    },

    /// An endpoint that is not a daemon address mab can use.
    #[error("invalid docker daemon endpoint {endpoint:?}: {reason}")]
    InvalidEndpoint {
        /// The daemon's endpoint.
        endpoint: String,
        /// Why.
        reason: String,
    },

    /// A docker context that cannot be used.
    #[error("docker context {name:?}: {reason}")]
    DockerContext {
        /// The context's name.
        name: String,
        /// Why.
        reason: String,
    },

    /// No builder of a fleet can (any longer) build a platform; `tried` says why, builder by
    /// builder, one line each.
    #[error("no builder can build {platform}:\n  {tried}")]
    NoBuilder {
        /// The platform.
        platform: String,
        /// Each builder and why it cannot, one per line.
        tried: String,
    },

    /// An ssh agent a build forwards cannot be offered.
    #[error("the ssh agent `{id}` for the {platform} build cannot be forwarded: {reason}")]
    SshAgent {
        /// The id.
        id: String,
        /// The platform.
        platform: String,
        /// Why.
        reason: String,
    },

    /// The Dockerfile mounts a secret or ssh agent the build was not given.
    #[error(
        "{path}:{line}: the dockerfile mounts the {kind} `{id}`, which the plan does not give the {platform} build (add it to `{key}:` in the plan, or write required=false on the mount if the step can do without it)"
    )]
    MountNotProvided {
        /// The file or folder.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// `secret` or `ssh agent`.
        kind: &'static str,
        /// The plan key that provides it: `secrets` or `ssh`.
        key: &'static str,
        /// The id.
        id: String,
        /// The platform.
        platform: String,
    },

    /// A BuildKit session with the daemon could not be opened.
    #[error("cannot open a buildkit session with the docker daemon at {endpoint}")]
    Session {
        /// The daemon's endpoint.
        endpoint: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl BuildError {
    /// Whether the error is the builder's fault rather than the build's: the daemon is gone,
    /// the connection to it broke, or it failed a request with a server error. The same job may
    /// succeed on another builder. A failing Dockerfile step ([`BuildError::BuildFailed`]), a
    /// missing file or a base image the registry does not have is not: it would fail anywhere.
    pub fn is_builder_failure(&self) -> bool {
        match self {
            BuildError::DaemonUnreachable { .. }
            | BuildError::DaemonStopped { .. }
            | BuildError::Session { .. }
            | BuildError::ContextStreamClosed { .. }
            | BuildError::NoImageProduced { .. } => true,
            BuildError::Daemon { source, .. } => match source.as_ref() {
                bollard::errors::Error::DockerResponseServerError { status_code, .. } => {
                    *status_code >= 500
                }
                bollard::errors::Error::DockerStreamError { .. } => false,
                _ => true,
            },
            BuildError::BasePull { source, .. } => is_transport_error(source),
            _ => false,
        }
    }
}

/// Whether a bollard error means that the daemon could not be talked to at all (no answer, a
/// broken connection, a timeout), as opposed to an answer that says no.
pub(crate) fn is_transport_error(error: &bollard::errors::Error) -> bool {
    use bollard::errors::Error;
    matches!(
        error,
        Error::IOError { .. }
            | Error::HyperResponseError { .. }
            | Error::HyperLegacyError { .. }
            | Error::RequestTimeoutError
            | Error::SocketNotFoundError(_)
    )
}
