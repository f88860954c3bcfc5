//! The build context: the files of a folder (less what `.dockerignore` excludes) as a tar stream,
//! plus mab's rewritten Dockerfile, sent to the daemon without holding the whole tar in memory.

use std::path::PathBuf;

use bytes::Bytes;
use futures::Stream;

use crate::BuildError;

/// What goes into one build context.
#[derive(Debug, Clone)]
pub struct ContextSpec {
    /// The context folder.
    pub context_dir: PathBuf,
    /// The path of the (rewritten) Dockerfile inside the tar, e.g. `.mab/Dockerfile.<hex>`;
    /// it must not collide with a context file.
    pub dockerfile_name: String,
    /// The Dockerfile text to put at `dockerfile_name` (mab's pinned rewrite of the user's file).
    pub dockerfile_text: String,
}

/// A context tar as a stream of chunks, and the task producing it (its result says whether every
/// file could be read).
pub struct ContextStream {
    pub body: std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>,
    pub producer: tokio::task::JoinHandle<Result<(), BuildError>>,
}

/// Starts producing the context tar of `spec` (TODO: helper fills in).
pub fn context_stream(spec: ContextSpec) -> ContextStream {
    let _ = spec;
    todo!("context helper")
}
