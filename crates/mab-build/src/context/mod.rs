//! The build context: the files of a folder (less what `.dockerignore` excludes) as a tar stream,
//! plus mab's rewritten Dockerfile, sent to the daemon without holding the whole tar in memory.
//!
//! What goes in follows what the Docker CLI sends for `docker build -f - <folder>` (a Dockerfile
//! that is not a file of the context):
//! - the `.dockerignore` at the context root is read with Docker's rules (`dockerignore.rs`)
//!   and every file, folder and symlink it does not exclude is sent, with its permission bits
//!   and modification time, owned by uid/gid 0; sockets, fifos and devices are skipped;
//! - the `.dockerignore` itself is always sent, with the Dockerfile's name added as its last
//!   line (one is made, listing itself and the Dockerfile, when the context has none), so that
//!   the daemon drops the Dockerfile from the context after reading it and a `COPY . .` never
//!   copies it into the image;
//! - the Dockerfile is added last, as a regular file with mode 0644.
//!
//! Entries come folder by folder in byte order of their names (a folder right before its
//! contents), so the same folder gives the same tar.
//!
//! One idea per file: `walk.rs` lists what goes in (reading no file contents), `tar_writer.rs`
//! writes that list as a tar, `chunks.rs` carries the tar's bytes to the async side in bounded
//! chunks, `dockerignore.rs` is the pattern matcher. This file only wires them to a blocking
//! task. None of it knows the Dockerfile's language, daemons or how the stream is uploaded.

mod chunks;
mod digest;
mod dockerignore;
mod tar_writer;
mod walk;

#[cfg(test)]
mod tests;

use std::io;
use std::path::PathBuf;
use std::pin::Pin;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;

use crate::BuildError;
use chunks::{CHANNEL_CHUNKS, ChunkWriter};
pub use digest::context_digest;
use tar_writer::write_context;
use walk::plan_context;

/// The name of the ignore file at the context root.
const DOCKERIGNORE: &str = ".dockerignore";
/// The permission bits of the added Dockerfile (and of a generated `.dockerignore`).
const ADDED_FILE_MODE: u32 = 0o644;

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
///
/// When the producer fails, the body's last item is an error (so an upload of it fails rather
/// than sending a truncated tar); the producer's result says what went wrong.
pub struct ContextStream {
    /// The tar, in chunks of at most 64 KiB.
    pub body: Pin<Box<dyn Stream<Item = Result<Bytes, io::Error>> + Send>>,
    /// The blocking task writing the tar: `ContextMissing`, `ContextRead` (naming the file),
    /// `Dockerignore`, `DockerfileNameTaken`, `DockerfileNameInvalid`, or `ContextStreamClosed`
    /// when `body` was dropped before the end.
    pub producer: tokio::task::JoinHandle<Result<(), BuildError>>,
}

/// Starts producing the context tar of `spec` on a blocking thread of the current tokio runtime
/// (so it must be called from within one).
///
/// At most about half a MiB of the tar is buffered: the producer waits while the body is not
/// read, and stops with `ContextStreamClosed` soon after the body is dropped.
pub fn context_stream(spec: ContextSpec) -> ContextStream {
    let (sender, mut receiver) = mpsc::channel(CHANNEL_CHUNKS);
    let producer = tokio::task::spawn_blocking(move || {
        let failure_sender = sender.clone();
        let result = plan_context(&spec)
            .and_then(|plan| write_context(&spec, &plan, ChunkWriter::new(sender)));
        if let Err(error) = &result {
            // Fails the upload instead of ending the body like a complete tar. When the
            // receiver is gone there is nobody to tell, and sending fails at once.
            let _ = failure_sender.blocking_send(Err(io::Error::other(error.to_string())));
        }
        result
    });
    let body = futures::stream::poll_fn(move |cx| receiver.poll_recv(cx)).boxed();
    ContextStream { body, producer }
}
