//! Drives Docker daemons to build one image per (Dockerfile, platform) and to export the result.
//!
//! Given a build context folder, a Dockerfile and a target platform, this crate sends the context
//! to a daemon (bollard), pins every `FROM` image to the daemon's image of exactly that platform
//! (so concurrent builds of several platforms on one daemon never race on a shared tag), streams
//! the daemon's progress to a [`BuildReporter`], checks that the image really is of the requested
//! platform, and exports it as a `docker save` stream for a pusher to consume.
//!
//! Base images the daemon lacks are pulled by the daemon with the user's docker credentials for
//! their registry, as `docker pull` sends them; this crate never speaks to a registry itself.
//!
//! It must not know about plans, registries, manifests or how anything is printed: the CLI wires it
//! to `mab-registry`, and progress goes through the [`BuildReporter`] trait.

#![warn(missing_docs)]

mod backend;
mod build_key;
mod cache;
mod context;
mod credentials;
mod daemon;
mod dial;
mod docker_context;
mod dockerfile;
mod endpoint;
mod error;
mod fleet;
mod liveness;
mod load;
mod secret;
mod ssh;
mod tls;

pub use backend::{Backend, BuilderKind, EnginePush, ImageExport};
pub use context::{ContextSpec, ContextStream, context_digest, context_stream};
pub use daemon::{
    BaseResolver, BuildReporter, BuildRequest, BuiltImage, Daemon, DaemonInfo, NoBaseResolver,
    host_emulated_platforms,
};
pub use docker_context::{ContextEnv, DEFAULT_CONTEXT, context_endpoint, context_name};
pub use dockerfile::{
    BaseImage, Dockerfile, EngineVersion, Feature, FeatureUse, IdMount, MountType, MountedId,
    Syntax, Unsupported,
};
pub use endpoint::{DEFAULT_ENDPOINT, DaemonEndpoint, TlsFiles};
pub use error::BuildError;
pub use fleet::{BuilderConfig, BuilderStatus, Fit, Fleet, Lease, error_chain};
pub use load::LocalImage;
pub use secret::{BuildSecret, SecretValue, SshForward, SshSource};
