//! The bridge from the blocking tar writer to the async body: a [`Write`] that hands what it is
//! given over as [`Bytes`] chunks of at most [`CHUNK_SIZE`] through a bounded channel, waiting
//! while the channel is full, and noticing when the receiver is gone.
//!
//! It must not know what the bytes are (a tar, a context) or who reads them.

use std::io::{self, Write};

use bytes::Bytes;
use tokio::sync::mpsc;

/// The size of the chunks the body stream yields.
pub(super) const CHUNK_SIZE: usize = 64 * 1024;
/// How many chunks may wait in the channel before the producer blocks.
pub(super) const CHANNEL_CHUNKS: usize = 8;

/// Whether a [`ChunkWriter`] still sends what it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriterState {
    Open,
    /// The receiver was dropped: every write fails.
    ReceiverGone,
    /// The tar failed: further writes (the tar builder finishing on drop) are refused.
    Abandoned,
}

/// A [`Write`] that sends what it is given as [`Bytes`] chunks of [`CHUNK_SIZE`] over a
/// bounded channel, waiting while the channel is full (so only for blocking threads).
pub(super) struct ChunkWriter {
    sender: mpsc::Sender<Result<Bytes, io::Error>>,
    buffer: Vec<u8>,
    state: WriterState,
}

impl ChunkWriter {
    pub(super) fn new(sender: mpsc::Sender<Result<Bytes, io::Error>>) -> Self {
        ChunkWriter {
            sender,
            buffer: Vec::with_capacity(CHUNK_SIZE),
            state: WriterState::Open,
        }
    }

    pub(super) fn receiver_gone(&self) -> bool {
        self.state == WriterState::ReceiverGone
    }

    pub(super) fn abandon(&mut self) {
        if self.state == WriterState::Open {
            self.state = WriterState::Abandoned;
        }
    }

    fn check_open(&self) -> io::Result<()> {
        match self.state {
            WriterState::Open => Ok(()),
            WriterState::ReceiverGone => Err(receiver_gone_error()),
            WriterState::Abandoned => Err(io::Error::other("the context tar was abandoned")),
        }
    }

    fn send_buffer(&mut self) -> io::Result<()> {
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK_SIZE));
        if self.sender.blocking_send(Ok(Bytes::from(chunk))).is_err() {
            self.state = WriterState::ReceiverGone;
            return Err(receiver_gone_error());
        }
        Ok(())
    }
}

fn receiver_gone_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the receiver of the build context stream was dropped",
    )
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.check_open()?;
        let taken = data.len().min(CHUNK_SIZE - self.buffer.len());
        self.buffer.extend_from_slice(&data[..taken]);
        if self.buffer.len() == CHUNK_SIZE {
            self.send_buffer()?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.check_open()?;
        if self.buffer.is_empty() {
            return Ok(());
        }
        self.send_buffer()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_writer_sends_full_chunks_then_the_rest() {
        let (sender, mut receiver) = mpsc::channel(16);
        let mut writer = ChunkWriter::new(sender);
        writer
            .write_all(&vec![7u8; CHUNK_SIZE * 2 + 10])
            .expect("write");
        writer.flush().expect("flush");
        drop(writer);
        let mut sizes = Vec::new();
        while let Ok(chunk) = receiver.try_recv() {
            sizes.push(chunk.expect("chunk").len());
        }
        assert_eq!(sizes, vec![CHUNK_SIZE, CHUNK_SIZE, 10]);
    }

    #[test]
    fn chunk_writer_fails_once_the_receiver_is_gone() {
        let (sender, receiver) = mpsc::channel(1);
        drop(receiver);
        let mut writer = ChunkWriter::new(sender);
        let result = writer.write_all(&vec![0u8; CHUNK_SIZE]);
        assert_eq!(
            result.map_err(|error| error.kind()),
            Err(io::ErrorKind::BrokenPipe)
        );
        assert!(writer.receiver_gone());
    }
}
