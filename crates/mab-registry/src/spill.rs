//! A pipe from a layer's compressor to its upload that never makes the compressor wait for the
//! network, and that can be read again from the start when an upload fails.
//!
//! `docker save` is one stream: while a layer's upload holds its reading back, no later layer
//! can even start. So the compressed bytes a slower registry has not taken yet wait here: up to
//! a few MiB in memory, and every byte in an unlinked temporary file (gone when the pipe is),
//! read back in order. The export is then read at its own speed, and the layers' uploads
//! overlap. Because the file holds the whole layer, a failed upload is tried again as a new
//! upload reading from the start ([`SpillHandle::reader`]), without a new export.
//!
//! Cancellation: a reader belongs to one upload attempt. A new reader, [`SpillHandle::cancel`],
//! or the handle dropped (the layer's upload given up) makes every older reader fail at once,
//! so that an HTTP connection still holding one as its request body ends instead of waiting for
//! data that will never come; and the writer gets `BrokenPipe` once the handle is gone.

use std::collections::VecDeque;
use std::os::unix::fs::FileExt as _;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::Stream;
use tokio::sync::{Notify, mpsc};

/// How much is read back from the file at a time.
const READ_CHUNK: usize = 1024 * 1024;

/// How much may wait in a pipe for its reader.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PipeLimits {
    /// Bytes kept in memory for the reader, besides the file.
    pub memory: usize,
    /// Bytes not read yet beyond those in memory; beyond them the writer waits for the
    /// reader. 0: the writer waits as soon as the memory is full.
    pub disk: u64,
}

/// A pipe that keeps up to `limits.memory` unread bytes in memory and every byte in a file,
/// and whose writer waits when more than `limits.disk` unread bytes are only in the file.
pub(crate) fn pipe(limits: PipeLimits) -> (SpillWriter, SpillHandle) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
        readable: Notify::new(),
        taken: Notify::new(),
    });
    (
        SpillWriter {
            shared: Arc::clone(&shared),
            limits,
            finished: false,
        },
        SpillHandle { shared },
    )
}

#[derive(Default)]
struct State {
    /// Chunks in memory that the current reader has not taken, by offset; contiguous, all at
    /// or after `read`.
    queue: VecDeque<(u64, Bytes)>,
    queued: usize,
    /// The file holding every byte written (created with the first chunk).
    file: Option<Arc<std::fs::File>>,
    /// Bytes written (all in the file), and bytes handed to the current reader.
    written: u64,
    read: u64,
    /// The reader of this generation is the current one; older ones fail.
    generation: u64,
    /// The writer is done: after the last byte, the reader ends.
    closed: bool,
    /// The writer failed (or went away without closing): the reader fails.
    error: Option<(std::io::ErrorKind, String)>,
    /// The handle is gone: no reader will come, the writer gets `BrokenPipe`.
    abandoned: bool,
}

struct Shared {
    state: Mutex<State>,
    /// New bytes, the end, an error, or a cancellation (readers wait here).
    readable: Notify,
    /// The reader took a chunk, or the pipe was abandoned (the writer waits here).
    taken: Notify,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The compressor's end.
pub(crate) struct SpillWriter {
    shared: Arc<Shared>,
    limits: PipeLimits,
    finished: bool,
}

impl SpillWriter {
    /// Hands over a chunk; waits for the disk at most, never for the reader unless more than
    /// the limits wait unread. Fails with `BrokenPipe` once the upload is given up.
    pub(crate) async fn send(&mut self, chunk: Bytes) -> std::io::Result<()> {
        let len = chunk.len();
        let (file, offset) = loop {
            let taken = self.shared.taken.notified();
            {
                let state = self.shared.lock();
                if state.abandoned {
                    return Err(std::io::ErrorKind::BrokenPipe.into());
                }
                let unread_in_file = state.written - state.read - state.queued as u64;
                let fits_memory =
                    unread_in_file == 0 && state.queued + len <= self.limits.memory.max(len);
                // With a disk budget, one chunk may always go to the file alone (even one
                // larger than the budget); without one, the writer waits for the reader.
                let fits_disk = self.limits.disk > 0
                    && (unread_in_file == 0 || unread_in_file + len as u64 <= self.limits.disk);
                if fits_memory || fits_disk || state.written == state.read {
                    break (state.file.clone(), state.written);
                }
            }
            // Memory and disk budgets full: wait for the reader.
            taken.await;
        };
        let file = match file {
            Some(file) => file,
            None => {
                let file = Arc::new(blocking(tempfile::tempfile).await?);
                self.shared.lock().file = Some(Arc::clone(&file));
                file
            }
        };
        let on_disk = chunk.clone();
        blocking(move || file.write_all_at(&on_disk, offset)).await?;
        {
            let mut state = self.shared.lock();
            state.written += len as u64;
            // In memory too when there is room and it follows what the reader has.
            let unread_in_file = offset - state.read - state.queued as u64;
            if unread_in_file == 0 && state.queued + len <= self.limits.memory.max(len) {
                state.queued += len;
                state.queue.push_back((offset, chunk));
            }
        }
        self.shared.readable.notify_waiters();
        Ok(())
    }

    /// Everything was sent: the reader ends after the last byte.
    pub(crate) fn close(mut self) {
        self.finished = true;
        self.shared.lock().closed = true;
        self.shared.readable.notify_waiters();
    }

    /// The data cannot be completed: the reader fails with `error` (and the upload with it,
    /// rather than store a truncated blob).
    pub(crate) fn fail(mut self, error: std::io::Error) {
        self.finished = true;
        self.shared.lock().error = Some((error.kind(), error.to_string()));
        self.shared.readable.notify_waiters();
    }
}

impl Drop for SpillWriter {
    fn drop(&mut self) {
        if !self.finished {
            self.shared.lock().error = Some((
                std::io::ErrorKind::UnexpectedEof,
                "the layer's data stopped before its end".to_string(),
            ));
            self.shared.readable.notify_waiters();
        }
    }
}

/// The upload's end: makes readers, each reading the layer from its start.
pub(crate) struct SpillHandle {
    shared: Arc<Shared>,
}

impl SpillHandle {
    /// A reader from the first byte; every older reader fails from now on.
    pub(crate) fn reader(&self) -> SpillReader {
        let generation = {
            let mut state = self.shared.lock();
            state.generation += 1;
            state.read = 0;
            state.queue.clear();
            state.queued = 0;
            state.generation
        };
        self.shared.readable.notify_waiters();
        SpillReader {
            shared: Arc::clone(&self.shared),
            generation,
            taken: None,
        }
    }

    /// Whether the writer failed (the export broke): reading again cannot help.
    pub(crate) fn writer_failed(&self) -> bool {
        self.shared.lock().error.is_some()
    }

    /// Makes the current reader fail (its upload attempt was given up).
    pub(crate) fn cancel(&self) {
        self.shared.lock().generation += 1;
        self.shared.readable.notify_waiters();
    }
}

impl Drop for SpillHandle {
    fn drop(&mut self) {
        {
            let mut state = self.shared.lock();
            state.abandoned = true;
            state.generation += 1;
        }
        self.shared.readable.notify_waiters();
        self.shared.taken.notify_one();
    }
}

/// One upload attempt's reading of the pipe.
pub(crate) struct SpillReader {
    shared: Arc<Shared>,
    generation: u64,
    /// Where the sizes of the chunks handed out are reported.
    taken: Option<mpsc::UnboundedSender<u64>>,
}

impl SpillReader {
    /// Reports the size of every chunk handed out (bytes that went on the wire) to `taken`.
    pub(crate) fn report_taken(mut self, taken: mpsc::UnboundedSender<u64>) -> Self {
        self.taken = Some(taken);
        self
    }

    /// The next chunk, in order; `None` after the last one.
    pub(crate) async fn next_chunk(&mut self) -> Option<std::io::Result<Bytes>> {
        let chunk = self.next_unreported().await;
        if let (Some(Ok(chunk)), Some(taken)) = (&chunk, &self.taken) {
            let _ = taken.send(chunk.len() as u64);
        }
        chunk
    }

    async fn next_unreported(&mut self) -> Option<std::io::Result<Bytes>> {
        loop {
            let readable = self.shared.readable.notified();
            let from_file = {
                let mut state = self.shared.lock();
                if state.generation != self.generation {
                    return Some(Err(std::io::Error::new(
                        std::io::ErrorKind::Interrupted,
                        "the upload attempt was cancelled",
                    )));
                }
                if state.read == state.written
                    && let Some((kind, message)) = &state.error
                {
                    return Some(Err(std::io::Error::new(*kind, message.clone())));
                }
                if let Some((at, chunk)) = state.queue.pop_front() {
                    debug_assert_eq!(at, state.read);
                    state.queued -= chunk.len();
                    state.read += chunk.len() as u64;
                    drop(state);
                    self.shared.taken.notify_one();
                    return Some(Ok(chunk));
                }
                match state.file.clone() {
                    Some(file) if state.read < state.written => {
                        let len = (state.written - state.read).min(READ_CHUNK as u64);
                        let offset = state.read;
                        state.read += len;
                        Some((file, offset, len as usize))
                    }
                    _ if state.closed => return None,
                    _ => None,
                }
            };
            match from_file {
                Some((file, offset, len)) => {
                    let read = blocking(move || {
                        let mut buffer = vec![0u8; len];
                        file.read_exact_at(&mut buffer, offset).map(|()| buffer)
                    })
                    .await;
                    self.shared.taken.notify_one();
                    return Some(read.map(Bytes::from));
                }
                None => readable.await,
            }
        }
    }

    /// The chunks as a stream (for a request body).
    pub(crate) fn into_stream(self) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static {
        futures::stream::unfold(self, |mut reader| async move {
            reader.next_chunk().await.map(|chunk| (chunk, reader))
        })
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(std::io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(memory: usize, disk: u64) -> PipeLimits {
        PipeLimits { memory, disk }
    }

    fn chunk(index: usize, len: usize) -> Bytes {
        Bytes::from(vec![index as u8; len])
    }

    async fn read_all(mut reader: SpillReader) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(chunk) = reader.next_chunk().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn a_writer_far_ahead_of_its_reader_spills_and_everything_comes_back_in_order() {
        let (mut writer, handle) = pipe(limits(3 * 1000, u64::MAX));
        let reader = handle.reader();
        let mut expected = Vec::new();
        // Nobody reads yet: 3 chunks fit in memory, the other 17 are only in the file.
        for i in 0..20 {
            let c = chunk(i, 1000);
            expected.extend_from_slice(&c);
            writer.send(c).await.unwrap();
        }
        {
            let state = reader.shared.lock();
            assert_eq!(state.queue.len(), 3);
            assert_eq!(state.written, 20 * 1000);
        }
        writer.close();
        assert_eq!(read_all(reader).await.unwrap(), expected);
    }

    #[tokio::test]
    async fn reading_while_writing_keeps_the_order() {
        let (mut writer, handle) = pipe(limits(2500, 4000));
        let reading = tokio::spawn(read_all(handle.reader()));
        let mut expected = Vec::new();
        for i in 0..50 {
            let c = chunk(i, 700 + i);
            expected.extend_from_slice(&c);
            writer.send(c).await.unwrap();
            if i % 7 == 0 {
                tokio::task::yield_now().await;
            }
        }
        writer.close();
        assert_eq!(reading.await.unwrap().unwrap(), expected);
        drop(handle);
    }

    #[tokio::test]
    async fn a_new_reader_reads_from_the_start_and_the_old_one_fails() {
        let (mut writer, handle) = pipe(limits(1500, u64::MAX));
        let mut first = handle.reader();
        let mut expected = Vec::new();
        for i in 0..5 {
            let c = chunk(i, 1000);
            expected.extend_from_slice(&c);
            writer.send(c).await.unwrap();
        }
        assert_eq!(first.next_chunk().await.unwrap().unwrap(), chunk(0, 1000));
        let second = handle.reader();
        assert_eq!(
            first.next_chunk().await.unwrap().unwrap_err().kind(),
            std::io::ErrorKind::Interrupted,
            "an attempt given up reads nothing more"
        );
        let reading = tokio::spawn(read_all(second));
        for i in 5..9 {
            let c = chunk(i, 1000);
            expected.extend_from_slice(&c);
            writer.send(c).await.unwrap();
        }
        writer.close();
        assert_eq!(reading.await.unwrap().unwrap(), expected);
    }

    #[tokio::test]
    async fn a_cancelled_reader_waiting_for_data_fails_at_once() {
        let (_writer, handle) = pipe(limits(1000, u64::MAX));
        let mut reader = handle.reader();
        let mut waiting = Box::pin(reader.next_chunk());
        assert!(futures::poll!(waiting.as_mut()).is_pending());
        handle.cancel();
        assert_eq!(
            waiting.await.unwrap().unwrap_err().kind(),
            std::io::ErrorKind::Interrupted
        );
    }

    #[tokio::test]
    async fn a_writer_that_fails_or_vanishes_fails_the_reader() {
        let (mut writer, handle) = pipe(limits(10, u64::MAX));
        writer.send(chunk(1, 5)).await.unwrap();
        writer.fail(std::io::Error::other("export broke"));
        assert_eq!(
            read_all(handle.reader()).await.unwrap_err().to_string(),
            "export broke"
        );

        let (mut writer, handle) = pipe(limits(10, u64::MAX));
        writer.send(chunk(1, 50)).await.unwrap();
        drop(writer);
        assert_eq!(
            read_all(handle.reader()).await.unwrap_err().kind(),
            std::io::ErrorKind::UnexpectedEof
        );
    }

    #[tokio::test]
    async fn a_writer_whose_upload_is_given_up_gets_broken_pipe_and_readers_fail() {
        let (mut writer, handle) = pipe(limits(10, u64::MAX));
        let mut reader = handle.reader();
        drop(handle);
        assert_eq!(
            writer.send(chunk(1, 5)).await.unwrap_err().kind(),
            std::io::ErrorKind::BrokenPipe
        );
        assert!(reader.next_chunk().await.unwrap().is_err());
    }

    #[tokio::test]
    async fn without_disk_budget_a_full_pipe_makes_the_writer_wait_for_the_reader() {
        let (mut writer, handle) = pipe(limits(2000, 0));
        let mut reader = handle.reader();
        writer.send(chunk(1, 1500)).await.unwrap();
        let mut second = Box::pin(writer.send(chunk(2, 1500)));
        assert!(
            futures::poll!(second.as_mut()).is_pending(),
            "no room: the writer waits"
        );
        // Waiting for the reader, not for the disk: still waiting once any write is done.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(
            futures::poll!(second.as_mut()).is_pending(),
            "no room: the writer still waits"
        );
        assert_eq!(reader.next_chunk().await.unwrap().unwrap(), chunk(1, 1500));
        second.await.unwrap();
        writer.close();
        assert_eq!(reader.next_chunk().await.unwrap().unwrap(), chunk(2, 1500));
        assert!(reader.next_chunk().await.is_none());
    }

    #[tokio::test]
    async fn a_full_disk_budget_makes_the_writer_wait_for_the_reader() {
        let (mut writer, handle) = pipe(limits(1000, 2000));
        let mut reader = handle.reader();
        writer.send(chunk(1, 1000)).await.unwrap(); // memory
        writer.send(chunk(2, 1000)).await.unwrap(); // file
        writer.send(chunk(3, 1000)).await.unwrap(); // file: 2000 unread there
        let mut fourth = Box::pin(writer.send(chunk(4, 1000)));
        assert!(futures::poll!(fourth.as_mut()).is_pending());
        assert_eq!(reader.next_chunk().await.unwrap().unwrap(), chunk(1, 1000));
        assert!(
            futures::poll!(fourth.as_mut()).is_pending(),
            "memory freed, but the file's unread bytes are still at the budget"
        );
        // The file is read back in chunks of up to 1 MiB: chunks 2 and 3 come as one.
        let mut expected = chunk(2, 1000).to_vec();
        expected.extend_from_slice(&chunk(3, 1000));
        assert_eq!(reader.next_chunk().await.unwrap().unwrap(), expected);
        fourth.await.unwrap();
        writer.close();
        assert_eq!(read_all(reader).await.unwrap(), chunk(4, 1000).to_vec());
    }

    #[tokio::test]
    async fn taken_bytes_are_reported() {
        let (mut writer, handle) = pipe(limits(100, u64::MAX));
        let (taken, mut sizes) = mpsc::unbounded_channel();
        writer.send(chunk(1, 60)).await.unwrap();
        writer.send(chunk(2, 60)).await.unwrap();
        writer.close();
        read_all(handle.reader().report_taken(taken)).await.unwrap();
        let mut total = 0;
        while let Ok(n) = sizes.try_recv() {
            total += n;
        }
        assert_eq!(total, 120);
    }
}
