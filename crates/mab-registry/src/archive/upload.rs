//! The uploads of an image's layers, each reading its layer's spill pipe while the export is
//! read further, and tried again from the pipe's first byte on a passing failure.

use std::collections::HashMap;

use futures::{FutureExt as _, StreamExt};
use tokio::sync::mpsc;

use super::layer_descriptor;
use super::read::Read;
use crate::RegistryError;
use crate::manifest::Descriptor;
use crate::remote::RetryPolicy;
use crate::scan::LayerFindings;
use crate::target::{PushReporter, Target};

/// How much of one layer, compressed, may wait for its upload (see `crate::spill`): 8 MiB in
/// memory, then up to 512 MiB in an unlinked temporary file; beyond that the export waits.
const WAITING: crate::spill::PipeLimits = crate::spill::PipeLimits {
    memory: 8 * 1024 * 1024,
    disk: 512 * 1024 * 1024,
};

/// One layer's upload, running while the export is read further: it gives the layer's path and
/// what was stored.
pub(super) type Upload<'a> =
    futures::future::BoxFuture<'a, Result<(String, (Descriptor, LayerFindings)), RegistryError>>;

/// Runs the reading of the export and the uploads together. The first error wins, except that
/// reading stopped by a failed upload waits for the upload's own error.
pub(super) async fn read_and_upload(
    reading: impl std::future::Future<Output = Result<Read, RegistryError>>,
    uploading: impl std::future::Future<
        Output = Result<HashMap<String, (Descriptor, LayerFindings)>, RegistryError>,
    >,
) -> Result<(Read, HashMap<String, (Descriptor, LayerFindings)>), RegistryError> {
    tokio::pin!(reading, uploading);
    let mut read = None;
    let mut uploaded = None;
    loop {
        tokio::select! {
            outcome = &mut reading, if read.is_none() => match outcome {
                Err(RegistryError::ArchiveRead { source })
                    if source.kind() == std::io::ErrorKind::BrokenPipe =>
                {
                    read = Some(Err(RegistryError::ArchiveRead { source }));
                }
                Err(e) => return Err(e),
                Ok(found) => read = Some(Ok(found)),
            },
            outcome = &mut uploading, if uploaded.is_none() => uploaded = Some(outcome?),
        }
        if let (Some(_), Some(_)) = (&read, &uploaded) {
            break;
        }
    }
    match (read, uploaded) {
        (Some(read), Some(uploaded)) => Ok((read?, uploaded)),
        _ => unreachable!("the loop ends when both are done"),
    }
}

/// The uploads ended before the export was read (one of them failed: its error is the one
/// reported).
pub(super) fn upload_gone() -> RegistryError {
    RegistryError::ArchiveRead {
        source: std::io::ErrorKind::BrokenPipe.into(),
    }
}

/// Runs the uploads as they start, all at once; the first failure ends everything.
pub(super) async fn drive_uploads(
    mut uploads: mpsc::UnboundedReceiver<Upload<'_>>,
) -> Result<HashMap<String, (Descriptor, LayerFindings)>, RegistryError> {
    let mut running = futures::stream::FuturesUnordered::new();
    let mut stored = HashMap::new();
    let mut more = true;
    loop {
        tokio::select! {
            upload = uploads.recv(), if more => match upload {
                Some(upload) => running.push(upload),
                None => more = false,
            },
            Some(done) = running.next(), if !running.is_empty() => {
                let (path, layer) = done?;
                stored.insert(path, layer);
            }
            else => return Ok(stored),
        }
    }
}

/// The upload of one layer, and the writer its data goes into; the upload holds `permit` (one
/// of the UPLOADS_AT_ONCE) until it ends. A passing failure of the upload starts a new upload
/// of the layer from its first byte, read again from the spill pipe (up to `retry`'s
/// attempts); a failure of the export does not (the layer cannot be completed).
pub(super) fn upload_layer<'a>(
    target: &'a Target,
    path: String,
    media_type: &'static str,
    reporter: &'a dyn PushReporter,
    permit: tokio::sync::OwnedSemaphorePermit,
    retry: RetryPolicy,
) -> (LayerWriter, Upload<'a>) {
    let (writer, handle) = crate::spill::pipe(WAITING);
    let (findings_sender, findings_receiver) = tokio::sync::oneshot::channel();
    let upload = async move {
        // Dropped with this future (the layer stored, given up, or the whole attempt
        // cancelled): the pipe's readers fail at once, so no request body waits for data that
        // will never come, and the export's writer gets `BrokenPipe`.
        let handle = handle;
        let _permit = permit;
        let (digest, size) = retry
            .retry_while_after(
                || upload_once(target, &handle, reporter),
                |e: &RegistryError| e.is_transient() && !handle.writer_failed(),
                || target.not_before(),
            )
            .await?;
        reporter.blob_stored(&digest, size, false);
        // Stored, so the whole layer was read: what it holds is known.
        let findings = findings_receiver.await.unwrap_or_default();
        Ok((path, (layer_descriptor(media_type, digest, size), findings)))
    }
    .boxed();
    (
        LayerWriter {
            pipe: writer,
            findings: findings_sender,
        },
        upload,
    )
}

/// One upload of a layer, reading the spill pipe from its start; the previous attempt's
/// reader, if any, fails from now on.
async fn upload_once(
    target: &Target,
    handle: &crate::spill::SpillHandle,
    reporter: &dyn PushReporter,
) -> Result<(String, u64), RegistryError> {
    let (taken, mut sizes) = mpsc::unbounded_channel();
    let body = handle.reader().report_taken(taken).into_stream();
    let put = target.put_blob_stream(body);
    tokio::pin!(put);
    let stored = loop {
        tokio::select! {
            stored = &mut put => {
                while let Ok(n) = sizes.try_recv() {
                    reporter.bytes_sent(n);
                }
                break stored;
            }
            Some(n) = sizes.recv() => reporter.bytes_sent(n),
        }
    };
    if let Err(error) = &stored {
        // This attempt's reader may still be held by its connection: make it fail now.
        handle.cancel();
        if error.is_transient() && !handle.writer_failed() {
            reporter.retrying("a layer", error);
        }
    }
    stored
}

/// Where a layer's bytes go: the spill pipe of its upload, and, once read, what it holds.
pub(super) struct LayerWriter {
    pub(super) pipe: crate::spill::SpillWriter,
    pub(super) findings: tokio::sync::oneshot::Sender<LayerFindings>,
}
