//! A pipe from a layer's compressor to its upload that never makes the compressor wait for the
//! network.
//!
//! `docker save` is one stream: while a layer's upload holds its reading back, no later layer
//! can even start. So the compressed bytes a slower registry has not taken yet wait here: up to
//! a few MiB in memory, the rest in an unlinked temporary file (gone when the pipe is), read back
//! in order. The export is then read at its own speed, and the layers' uploads overlap.

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
    /// Bytes in memory, before the rest goes to the file.
    pub memory: usize,
    /// Bytes in the file not read yet; beyond them the writer waits for the reader. 0: no
    /// file, the writer waits as soon as the memory is full.
    pub disk: u64,
}

/// A pipe that holds up to `limits.memory` bytes in memory, then up to `limits.disk` unread
/// bytes in a file, before its writer waits.
pub(crate) fn pipe(limits: PipeLimits) -> (SpillWriter, SpillReader) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
        readable: Notify::new(),
        taken: Notify::new(),
    });
    (
        SpillWriter {
            shared: Arc::clone(&shared),
            limits,
            spilled: 0,
            finished: false,
        },
        SpillReader {
            shared,
            taken: None,
        },
    )
}

#[derive(Default)]
struct State {
    /// Chunks in memory; they all come before the file's bytes.
    queue: VecDeque<Bytes>,
    queued: usize,
    /// The spill file, once the memory was full; from then on every chunk goes there.
    file: Option<Arc<std::fs::File>>,
    /// Bytes written to the file, and bytes of it handed to the reader.
    written: u64,
    read: u64,
    /// The writer is done: after the last byte, the reader ends.
    closed: bool,
    /// The writer failed (or went away without closing): the reader fails.
    error: Option<std::io::Error>,
    reader_gone: bool,
}

struct Shared {
    state: Mutex<State>,
    readable: Notify,
    /// The reader took a chunk (room in memory).
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
    /// Bytes this writer put in the file (it alone writes there).
    spilled: u64,
    finished: bool,
}

impl SpillWriter {
    /// Hands over a chunk; waits for the disk at most, never for the reader. Fails with
    /// `BrokenPipe` once the reader is gone (the upload ended).
    pub(crate) async fn send(&mut self, chunk: Bytes) -> std::io::Result<()> {
        let len = chunk.len();
        let file = loop {
            let taken = self.shared.taken.notified();
            {
                let mut state = self.shared.lock();
                if state.reader_gone {
                    return Err(std::io::ErrorKind::BrokenPipe.into());
                }
                if state.file.is_none()
                    && (state.queue.is_empty() || state.queued + len <= self.limits.memory)
                {
                    state.queued += len;
                    state.queue.push_back(chunk);
                    drop(state);
                    self.shared.readable.notify_one();
                    return Ok(());
                }
                let unread_on_disk = state.written - state.read;
                if self.limits.disk > 0
                    && (unread_on_disk == 0 || unread_on_disk + len as u64 <= self.limits.disk)
                {
                    break state.file.clone();
                }
            }
            // Memory (and disk) full: wait for the reader.
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
        let offset = self.spilled;
        blocking(move || file.write_all_at(&chunk, offset)).await?;
        self.spilled += len as u64;
        self.shared.lock().written = self.spilled;
        self.shared.readable.notify_one();
        Ok(())
    }

    /// Everything was sent: the reader ends after the last byte.
    pub(crate) fn close(mut self) {
        self.finished = true;
        self.shared.lock().closed = true;
        self.shared.readable.notify_one();
    }

    /// The data cannot be completed: the reader fails with `error` (and the upload with it,
    /// rather than store a truncated blob).
    pub(crate) fn fail(mut self, error: std::io::Error) {
        self.finished = true;
        self.shared.lock().error = Some(error);
        self.shared.readable.notify_one();
    }
}

impl Drop for SpillWriter {
    fn drop(&mut self) {
        if !self.finished {
            self.shared.lock().error = Some(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the layer's data stopped before its end",
            ));
            self.shared.readable.notify_one();
        }
    }
}

/// The upload's end.
pub(crate) struct SpillReader {
    shared: Arc<Shared>,
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
                if let Some(error) = state.error.take() {
                    return Some(Err(error));
                }
                if let Some(chunk) = state.queue.pop_front() {
                    state.queued -= chunk.len();
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

impl Drop for SpillReader {
    fn drop(&mut self) {
        self.shared.lock().reader_gone = true;
        self.shared.taken.notify_one();
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
        let (mut writer, reader) = pipe(limits(3 * 1000, u64::MAX));
        let mut expected = Vec::new();
        // Nobody reads yet: 3 chunks fit in memory, the other 17 go to the file.
        for i in 0..20 {
            let c = chunk(i, 1000);
            expected.extend_from_slice(&c);
            writer.send(c).await.unwrap();
        }
        {
            let state = reader.shared.lock();
            assert_eq!(state.queue.len(), 3);
            assert_eq!(state.written, 17 * 1000);
        }
        writer.close();
        assert_eq!(read_all(reader).await.unwrap(), expected);
    }

    #[tokio::test]
    async fn reading_while_writing_keeps_the_order() {
        let (mut writer, reader) = pipe(limits(2500, 4000));
        let reading = tokio::spawn(read_all(reader));
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
    }

    #[tokio::test]
    async fn a_writer_that_fails_or_vanishes_fails_the_reader() {
        let (mut writer, reader) = pipe(limits(10, u64::MAX));
        writer.send(chunk(1, 5)).await.unwrap();
        writer.fail(std::io::Error::other("export broke"));
        assert_eq!(
            read_all(reader).await.unwrap_err().to_string(),
            "export broke"
        );

        let (mut writer, reader) = pipe(limits(10, u64::MAX));
        writer.send(chunk(1, 50)).await.unwrap();
        drop(writer);
        assert_eq!(
            read_all(reader).await.unwrap_err().kind(),
            std::io::ErrorKind::UnexpectedEof
        );
    }

    #[tokio::test]
    async fn a_writer_whose_reader_is_gone_gets_broken_pipe() {
        let (mut writer, reader) = pipe(limits(10, u64::MAX));
        drop(reader);
        assert_eq!(
            writer.send(chunk(1, 5)).await.unwrap_err().kind(),
            std::io::ErrorKind::BrokenPipe
        );
    }

    #[tokio::test]
    async fn without_spilling_a_full_pipe_makes_the_writer_wait_for_the_reader() {
        let (mut writer, mut reader) = pipe(limits(2000, 0));
        writer.send(chunk(1, 1500)).await.unwrap();
        let mut second = Box::pin(writer.send(chunk(2, 1500)));
        assert!(
            futures::poll!(second.as_mut()).is_pending(),
            "no room: the writer waits"
        );
        assert_eq!(reader.next_chunk().await.unwrap().unwrap(), chunk(1, 1500));
        second.await.unwrap();
        writer.close();
        assert_eq!(reader.next_chunk().await.unwrap().unwrap(), chunk(2, 1500));
        assert!(reader.next_chunk().await.is_none());
        assert!(
            reader.shared.lock().file.is_none(),
            "nothing went to a file"
        );
    }

    #[tokio::test]
    async fn a_full_disk_budget_makes_the_writer_wait_for_the_reader() {
        let (mut writer, mut reader) = pipe(limits(1000, 2000));
        writer.send(chunk(1, 1000)).await.unwrap(); // memory
        writer.send(chunk(2, 1000)).await.unwrap(); // file
        writer.send(chunk(3, 1000)).await.unwrap(); // file: 2000 unread there
        let mut fourth = Box::pin(writer.send(chunk(4, 1000)));
        assert!(futures::poll!(fourth.as_mut()).is_pending());
        assert_eq!(reader.next_chunk().await.unwrap().unwrap(), chunk(1, 1000));
        assert!(
            futures::poll!(fourth.as_mut()).is_pending(),
            "memory freed, but later chunks go to the file (order), which is still full"
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
        let (mut writer, reader) = pipe(limits(100, u64::MAX));
        let (taken, mut sizes) = mpsc::unbounded_channel();
        writer.send(chunk(1, 60)).await.unwrap();
        writer.send(chunk(2, 60)).await.unwrap();
        writer.close();
        read_all(reader.report_taken(taken)).await.unwrap();
        let mut total = 0;
        while let Ok(n) = sizes.try_recv() {
            total += n;
        }
        assert_eq!(total, 120);
    }
}
