//! A layer's bytes into its upload's pipe: compressed in deterministic blocks, or passed through
//! as they are; either way fed to the layer scanners on the way.

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::CHUNK;
use super::gzip::gzip_member;
#[cfg(test)]
use super::gzip::stored_gzip_member;
use super::read::LayerEncoding;
use super::upload::{LayerWriter, upload_gone};
use crate::RegistryError;
use crate::manifest::LayerCompression;
use crate::scan::{LayerFindings, LayerScan};

/// How much uncompressed data the compressor is given at a time.
pub(super) const COMPRESSION_BLOCK: usize = 1024 * 1024;

/// Compresses (unless it already is) one layer into its upload's pipe. A failure to read the
/// export fails the upload too (no truncated blob is committed); a failed upload shows here as
/// `upload_gone`, its own error being reported by `drive_uploads`.
pub(super) async fn produce_layer<R: AsyncRead + Unpin>(
    reader: R,
    encoding: LayerEncoding,
    compression: LayerCompression,
    writer: LayerWriter,
) -> Result<(), RegistryError> {
    let LayerWriter { mut pipe, findings } = writer;
    let produced = match encoding {
        LayerEncoding::Tar => send_compressed(reader, compression, &mut pipe).await,
        LayerEncoding::Gzip if compression != LayerCompression::Gzip => {
            let (decoded_writer, decoded_reader) = tokio::io::duplex(COMPRESSION_BLOCK);
            let (decoded, compressed) = tokio::join!(
                gunzip_into(reader, decoded_writer),
                send_compressed(decoded_reader, compression, &mut pipe)
            );
            // A broken gzip stream ends the decoded one early: its error wins.
            decoded.and(compressed)
        }
        LayerEncoding::Gzip | LayerEncoding::Zstd => {
            pass_through(reader, encoding, Some(&mut pipe)).await
        }
    };
    match produced {
        Ok(found) => {
            pipe.close();
            let _ = findings.send(found);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(upload_gone()),
        Err(e) => {
            pipe.fail(std::io::Error::new(e.kind(), e.to_string()));
            Err(RegistryError::ArchiveRead { source: e })
        }
    }
}

/// Decompresses a gzip stream (of one or more members) into `out`, a chunk at a time.
async fn gunzip_into<R, W>(mut reader: R, mut out: W) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    use std::io::Write as _;
    use tokio::io::AsyncWriteExt as _;
    let mut decoder = flate2::write::MultiGzDecoder::new(Vec::new());
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        decoder.write_all(&buf[..n])?;
        let decoded = std::mem::take(decoder.get_mut());
        out.write_all(&decoded).await?;
    }
    decoder.try_finish()?;
    let rest = std::mem::take(decoder.get_mut());
    out.write_all(&rest).await?;
    out.shutdown().await
}

/// Gzip-compresses `reader` and sends the result in chunks.
///
/// The layer is cut into fixed 1 MiB blocks whatever sizes the reads return, and each block
/// becomes one gzip member (a gzip file may hold several; every gzip reader, Docker's and
/// containerd's included, reads them as one stream). So the same layer always compresses to the
/// same bytes (and digest), whatever the timing, and blocks compress in parallel on the blocking
/// pool, as many at once as there are cores, while the output keeps their order. A block whose
/// sample does not compress (random or already compressed data) is stored instead of deflated:
/// no time spent for nothing.
///
/// zstd works the same way (one zstd frame per block: a zstd stream may hold several); `none`
/// sends the blocks as they are.
async fn send_compressed<R: AsyncRead + Unpin>(
    mut reader: R,
    compression: LayerCompression,
    pipe: &mut crate::spill::SpillWriter,
) -> std::io::Result<LayerFindings> {
    use futures::stream::FuturesOrdered;
    let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut scanner = LayerScan::new();
    let mut in_flight = FuturesOrdered::new();
    let mut finished_reading = false;
    loop {
        while !finished_reading && in_flight.len() < parallel {
            let mut block = Vec::with_capacity(COMPRESSION_BLOCK);
            while block.len() < COMPRESSION_BLOCK {
                let limit = (COMPRESSION_BLOCK - block.len()) as u64;
                if (&mut reader).take(limit).read_to_end(&mut block).await? == 0 {
                    break;
                }
            }
            finished_reading = block.len() < COMPRESSION_BLOCK;
            if block.is_empty() && !in_flight.is_empty() {
                break;
            }
            scanner.feed(&block);
            in_flight.push_back(tokio::task::spawn_blocking(move || match compression {
                LayerCompression::Gzip => gzip_member(&block),
                LayerCompression::Zstd => zstd::bulk::compress(&block, 3),
                LayerCompression::None => Ok(block),
            }));
        }
        match in_flight.next().await {
            Some(compressed) => {
                let compressed = compressed.map_err(std::io::Error::other)??;
                // The block as it is: one chunk, no copy.
                pipe.send(Bytes::from(compressed)).await?;
            }
            None => return Ok(scanner.finish()),
        }
    }
}

/// The next chunk of `reader` (up to [`CHUNK`] bytes); `None` at its end.
async fn next_chunk<R: AsyncRead + Unpin>(reader: &mut R) -> std::io::Result<Option<Bytes>> {
    let mut buffer = BytesMut::with_capacity(CHUNK);
    while buffer.len() < CHUNK {
        if reader.read_buf(&mut buffer).await? == 0 {
            break;
        }
    }
    Ok((!buffer.is_empty()).then(|| buffer.freeze()))
}

/// Sends an already compressed layer as it is, in chunks (to `pipe`; nowhere when the target
/// has it); a gone upload is `BrokenPipe`. A gzip layer is read on the way: each chunk is also
/// decompressed and fed to the layer scanners (the platform lint, the SBOM). A gzip stream that
/// does not decompress is still sent, and a zstd one is not read: their findings then say the
/// layer was not read.
pub(super) async fn pass_through<R: AsyncRead + Unpin>(
    mut reader: R,
    encoding: LayerEncoding,
    mut pipe: Option<&mut crate::spill::SpillWriter>,
) -> std::io::Result<LayerFindings> {
    use std::io::Write as _;
    let mut scanner = LayerScan::new();
    let mut decoder =
        (encoding == LayerEncoding::Gzip).then(|| flate2::write::MultiGzDecoder::new(Vec::new()));
    while let Some(chunk) = next_chunk(&mut reader).await? {
        if let Some(d) = decoder.as_mut() {
            if d.write_all(&chunk).is_ok() {
                scanner.feed(&std::mem::take(d.get_mut()));
            } else {
                decoder = None;
            }
        }
        if let Some(pipe) = pipe.as_mut() {
            pipe.send(chunk).await?;
        }
    }
    let Some(mut d) = decoder else {
        return Ok(LayerFindings::default());
    };
    if d.try_finish().is_err() {
        return Ok(LayerFindings::default());
    }
    scanner.feed(&std::mem::take(d.get_mut()));
    Ok(scanner.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn gzip_all(data: &[u8]) -> Vec<u8> {
        let (mut writer, handle) = crate::spill::pipe(crate::spill::PipeLimits {
            memory: usize::MAX,
            disk: 0,
        });
        let mut reader = handle.reader();
        send_compressed(data, LayerCompression::Gzip, &mut writer)
            .await
            .unwrap();
        writer.close();
        let mut out = Vec::new();
        while let Some(chunk) = reader.next_chunk().await {
            out.extend_from_slice(&chunk.unwrap());
        }
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn blocks_become_gzip_members_that_read_back_as_one_stream() {
        // 3.5 blocks: text that compresses, then noise that does not.
        let mut data: Vec<u8> = b"all work and no play makes jack a dull boy\n"
            .iter()
            .copied()
            .cycle()
            .take(2 * COMPRESSION_BLOCK)
            .collect();
        let mut state = 0x2545f4914f6cdd1du64;
        data.extend((0..COMPRESSION_BLOCK * 3 / 2).map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        }));
        let first = gzip_all(&data).await;
        let second = gzip_all(&data).await;
        assert_eq!(
            first, second,
            "the same input always compresses to the same bytes"
        );
        let mut decoded = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::MultiGzDecoder::new(&first[..]),
            &mut decoded,
        )
        .unwrap();
        assert_eq!(decoded, data);
        // The text shrank; the noise was stored, not inflated by more than the framing.
        assert!(
            first.len() < data.len() - COMPRESSION_BLOCK,
            "{}",
            first.len()
        );
        assert!(first.len() > COMPRESSION_BLOCK * 3 / 2);
    }

    #[tokio::test]
    async fn a_gzip_layer_of_several_members_decodes_whole() {
        let data: Vec<u8> = (0..3 * COMPRESSION_BLOCK + 17)
            .map(|i| (i % 251) as u8)
            .collect();
        let gz = gzip_all(&data).await;
        let mut decoded = Vec::new();
        let (writer, mut reader) = tokio::io::duplex(4096);
        let (done, read) = tokio::join!(
            gunzip_into(std::io::Cursor::new(gz.clone()), writer),
            reader.read_to_end(&mut decoded)
        );
        done.unwrap();
        read.unwrap();
        assert_eq!(decoded, data);
        let (writer, _) = tokio::io::duplex(4096);
        let cut = gz[..gz.len() / 2].to_vec();
        assert!(
            gunzip_into(std::io::Cursor::new(cut), writer)
                .await
                .is_err()
        );
    }

    #[test]
    fn stored_members_read_back_with_flate2() {
        for len in [
            0,
            1,
            65_534,
            65_535,
            65_536,
            3 * 65_535 + 7,
            COMPRESSION_BLOCK,
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + i / 3) as u8).collect();
            let member = stored_gzip_member(&data);
            let mut decoded = Vec::new();
            std::io::Read::read_to_end(
                &mut flate2::read::GzDecoder::new(&member[..]),
                &mut decoded,
            )
            .unwrap_or_else(|e| panic!("{len} bytes: {e}"));
            assert_eq!(decoded, data, "{len} bytes");
        }
    }
}
