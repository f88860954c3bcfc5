//! The seam between "build one platform of one image" and the builders a Docker daemon has.
//!
//! A daemon builds with its classic builder ([`classic`]) or with BuildKit; each is a
//! [`Backend`]: it builds one [`BuildRequest`] into an image of the requested platform, checked,
//! and hands back what the pusher needs (the image's id, its layers' diff ids, and a `docker save`
//! stream of it). The daemon picks the backend for each request ([`crate::Daemon::build`]); the
//! rest of the pipeline never knows which one ran.
//!
//! It must not know about plans, registries or printing.

pub(crate) mod buildkit;
pub(crate) mod classic;
mod stream;

use std::collections::BTreeMap;
use std::path::Path;

use futures::future::BoxFuture;
use tokio::io::AsyncRead;

use crate::BuildError;
use crate::daemon::{
    BaseResolver, BuildReporter, BuildRequest, BuiltImage, Daemon, automatic_platform_args,
};

pub use buildkit::EnginePush;
pub use mab_vocab::BuilderKind;

/// A built image as the pusher reads it: the bytes of `docker save` of that one image (the
/// classic layout of Docker 20.10, or the OCI layout Docker 25+ writes).
pub type ImageExport = Box<dyn AsyncRead + Send + Unpin + 'static>;

/// One way of building an image on a daemon.
pub trait Backend: Send + Sync {
    /// Which builder this is.
    fn kind(&self) -> BuilderKind;

    /// Builds `request` and returns the image, checked to be of the requested platform. Base
    /// images are pinned to what `bases` says each names for the platform, where it can say.
    fn build<'a>(
        &'a self,
        request: &'a BuildRequest,
        reporter: &'a dyn BuildReporter,
        bases: &'a dyn BaseResolver,
    ) -> BoxFuture<'a, Result<BuiltImage, BuildError>>;

    /// A fresh `docker save` stream of an image this backend built.
    fn export(&self, image: &BuiltImage) -> ImageExport;
}

/// The user's build args laid over the automatic platform args BuildKit defines (the daemon's
/// own platform is `BUILDPLATFORM`): what `FROM` lines see, and what the classic builder, which
/// does not define them, is sent.
pub(crate) fn with_platform_args(
    daemon: &Daemon,
    request: &BuildRequest,
) -> BTreeMap<String, String> {
    let mut args = automatic_platform_args(&request.platform, daemon.native_platform());
    args.extend(request.build_args.clone());
    args
}

/// Reads the Dockerfile of a request.
pub(crate) async fn read_dockerfile(path: &Path) -> Result<String, BuildError> {
    match tokio::fs::read_to_string(path).await {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(BuildError::DockerfileMissing {
            path: path.to_path_buf(),
        }),
        Err(source) => Err(BuildError::DockerfileRead {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// A short, stable hash of some text (FNV-1a), for private file names.
pub(crate) fn short_hash(text: &str) -> String {
    let mut hash: u64 = 0xcbf29ce484222325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x100000001b3);
    }
    format!("{hash:016x}")
}
