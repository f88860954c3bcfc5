//! What the layers of an image the engine pushed hold (for the platform lint), read back from
//! the registry it pushed them to: mab never saw them on their way there.
//!
//! Reading back is a download of what was just uploaded, so it is bounded: a layer larger than
//! [`LAYER_LIMIT`] compressed or [`UNCOMPRESSED_LAYER_LIMIT`] uncompressed (the read stops
//! there), or past [`IMAGE_LIMIT`] in all, is left unread and counted (the caller says so).
//! Memory is bounded too: the compressed bytes are decompressed a few KiB at a time, so a layer
//! that compresses a thousandfold never expands in memory. A layer that cannot be read (the
//! registry fails, the blob does not decompress) is also counted as unread rather than failing
//! the image: the platform lint only warns, and the verification that follows every publish
//! checks the blobs themselves.

use std::io::Write as _;

use futures::StreamExt as _;

use crate::archive::StoredLayer;
use crate::manifest::LayerCompression;
use crate::remote::RemoteRepository;
use crate::scan::{LayerFindings, LayerScan};

/// The largest compressed layer read back.
pub const LAYER_LIMIT: u64 = 64 * 1024 * 1024;
/// The largest uncompressed layer read back: the read of a larger one stops there.
pub const UNCOMPRESSED_LAYER_LIMIT: u64 = 128 * 1024 * 1024;
/// The most compressed bytes read back of one image.
pub const IMAGE_LIMIT: u64 = 128 * 1024 * 1024;
/// How many layers of one image are read at once.
const READS_AT_ONCE: usize = 4;
/// How many compressed bytes are decompressed at a time: gzip expands at most ~1000-fold, so
/// each step makes at most a few MiB.
const DECOMPRESS_STEP: usize = 4096;
/// How many times its compressed size a gzip stream can be at most (deflate's limit).
const GZIP_MOST_EXPANSION: u64 = 1032;

/// The layers that were left unread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unread {
    /// How many.
    pub layers: usize,
    /// Their compressed size in all.
    pub bytes: u64,
}

/// Reads back each layer of `layers` whose contents are not known yet (its findings say it was
/// not read) from `repository`, and sets its findings.
pub(crate) async fn read_back(repository: &RemoteRepository, layers: &mut [StoredLayer]) -> Unread {
    let mut unread = Unread::default();
    let mut budget = IMAGE_LIMIT;
    let mut wanted = Vec::new();
    for (index, layer) in layers.iter().enumerate() {
        if layer.findings.contents.is_some() {
            continue;
        }
        let size = layer.blob.size;
        let readable = LayerCompression::of_media_type(&layer.blob.media_type).is_some();
        if readable && size <= LAYER_LIMIT && size <= budget {
            budget -= size;
            wanted.push(index);
        } else {
            unread.layers += 1;
            unread.bytes += size;
        }
    }
    // Built in a loop, not by a closure over the indexes: a closure's future is not `Send` for
    // every lifetime the caller's `Send` bound asks about.
    let mut reads = Vec::with_capacity(wanted.len());
    for &index in &wanted {
        let layer = &layers[index];
        reads.push(async move { (index, read_layer(repository, layer).await) });
    }
    let reads = futures::stream::iter(reads)
        .buffer_unordered(READS_AT_ONCE)
        .collect::<Vec<_>>()
        .await;
    for (index, findings) in reads {
        match findings {
            Some(findings) => layers[index].findings = findings,
            None => {
                unread.layers += 1;
                unread.bytes += layers[index].blob.size;
            }
        }
    }
    unread
}

/// What one layer holds; `None` when it could not be read whole within
/// [`UNCOMPRESSED_LAYER_LIMIT`].
async fn read_layer(repository: &RemoteRepository, layer: &StoredLayer) -> Option<LayerFindings> {
    let compression = LayerCompression::of_media_type(&layer.blob.media_type)?;
    if compression == LayerCompression::Gzip
        && layer.blob.size > UNCOMPRESSED_LAYER_LIMIT / GZIP_MOST_EXPANSION
    {
        // A gzip stream ends with its size (modulo 4 GiB): 8 bytes asked for by range save
        // decompressing 128 MiB of a layer that would be left unread anyway. A registry that
        // does not answer ranges, or fails, leaves the read to find out.
        let tail = repository
            .read_blob_tail(&layer.blob.digest, layer.blob.size, GZIP_TRAILER)
            .await;
        if let Ok(Some(tail)) = tail
            && gzip_uncompressed_size(&tail).is_some_and(|size| size > UNCOMPRESSED_LAYER_LIMIT)
        {
            return None;
        }
    }
    let mut decoder = Decoder::new(compression)?;
    let mut scanner = LayerScan::new();
    let mut tar_bytes = 0u64;
    let mut whole = true;
    repository
        .read_blob(&layer.blob.digest, |chunk| {
            let fed = decoder.feed(chunk, &mut |tar| {
                tar_bytes += tar.len() as u64;
                scanner.feed(tar);
            });
            // Read on while the layer decompresses and stays within the limit.
            whole = fed.is_ok() && tar_bytes <= UNCOMPRESSED_LAYER_LIMIT;
            Ok(whole)
        })
        .await
        .ok()?;
    if !whole {
        return None;
    }
    decoder.finish(&mut |tar| scanner.feed(tar)).ok()?;
    Some(scanner.finish())
}

/// The length of a gzip stream's trailer: its CRC-32, then its size modulo 2^32.
const GZIP_TRAILER: u64 = 8;

/// The uncompressed size a gzip stream's trailer gives, modulo 2^32 (of its last member, when
/// it has several). It never says more than the stream holds: a size over the limit here is
/// over it for sure, one under it may not be (the read stops at the limit then).
fn gzip_uncompressed_size(trailer: &[u8]) -> Option<u64> {
    let size: [u8; 4] = trailer
        .get(trailer.len().checked_sub(4)?..)?
        .try_into()
        .ok()?;
    Some(u64::from(u32::from_le_bytes(size)))
}

/// A layer's compressed bytes in, its tar out.
enum Decoder {
    Gzip(Box<flate2::write::MultiGzDecoder<Vec<u8>>>),
    Zstd(Box<zstd::stream::write::Decoder<'static, Vec<u8>>>),
    Tar,
}

impl Decoder {
    fn new(compression: LayerCompression) -> Option<Self> {
        Some(match compression {
            LayerCompression::Gzip => {
                Self::Gzip(Box::new(flate2::write::MultiGzDecoder::new(Vec::new())))
            }
            LayerCompression::Zstd => Self::Zstd(Box::new(
                zstd::stream::write::Decoder::new(Vec::new()).ok()?,
            )),
            LayerCompression::None => Self::Tar,
        })
    }

    /// Decompresses `chunk`, handing the tar bytes it completes to `out` a little at a time.
    fn feed(&mut self, chunk: &[u8], out: &mut dyn FnMut(&[u8])) -> std::io::Result<()> {
        for step in chunk.chunks(DECOMPRESS_STEP) {
            match self {
                Self::Gzip(d) => {
                    d.write_all(step)?;
                    out(d.get_ref());
                    d.get_mut().clear();
                }
                Self::Zstd(d) => {
                    d.write_all(step)?;
                    d.flush()?;
                    out(d.get_ref());
                    d.get_mut().clear();
                }
                Self::Tar => out(step),
            }
        }
        Ok(())
    }

    /// Hands the rest of the tar to `out`, once every chunk is in; an error when the stream
    /// ended early.
    fn finish(self, out: &mut dyn FnMut(&[u8])) -> std::io::Result<()> {
        match self {
            Self::Gzip(d) => out(&d.finish()?),
            Self::Zstd(mut d) => {
                d.flush()?;
                out(d.get_ref());
            }
            Self::Tar => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(name: &str, data: &[u8]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o755);
        header.set_cksum();
        builder.append_data(&mut header, name, data).unwrap();
        builder.into_inner().unwrap()
    }

    fn decode_in_chunks(compression: LayerCompression, bytes: &[u8], chunk: usize) -> Vec<u8> {
        let mut decoder = Decoder::new(compression).unwrap();
        let mut out = Vec::new();
        for piece in bytes.chunks(chunk) {
            decoder
                .feed(piece, &mut |tar| out.extend_from_slice(tar))
                .unwrap();
        }
        decoder
            .finish(&mut |tar| out.extend_from_slice(tar))
            .unwrap();
        out
    }

    #[test]
    fn every_compression_decodes_to_the_same_tar_in_any_chunking() {
        let tar = tar_of("bin/app", &vec![7u8; 100_000]);
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gzip.write_all(&tar).unwrap();
        let gzip = gzip.finish().unwrap();
        let zstd = zstd::encode_all(&tar[..], 3).unwrap();
        for chunk in [1, 7, 4096, 1 << 20] {
            assert_eq!(decode_in_chunks(LayerCompression::Gzip, &gzip, chunk), tar);
            assert_eq!(decode_in_chunks(LayerCompression::Zstd, &zstd, chunk), tar);
            assert_eq!(decode_in_chunks(LayerCompression::None, &tar, chunk), tar);
        }
    }

    #[test]
    fn a_gzip_trailer_gives_the_uncompressed_size() {
        let tar = tar_of("text", &vec![b'a'; 3 * 1024 * 1024]);
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gzip.write_all(&tar).unwrap();
        let gzip = gzip.finish().unwrap();
        let trailer = &gzip[gzip.len() - GZIP_TRAILER as usize..];
        assert_eq!(gzip_uncompressed_size(trailer), Some(tar.len() as u64));
        assert_eq!(gzip_uncompressed_size(&trailer[..3]), None);
        // Deflate's most expansion bounds what the trailer is asked of.
        assert!(tar.len() as u64 <= gzip.len() as u64 * GZIP_MOST_EXPANSION);
    }

    #[test]
    fn a_broken_stream_is_an_error_not_a_short_tar() {
        let mut decoder = Decoder::new(LayerCompression::Gzip).unwrap();
        let mut ignore = |_: &[u8]| {};
        assert!(
            decoder
                .feed(b"\x1f\x8b\x08\x00 not really gzip", &mut ignore)
                .and_then(|_| decoder.finish(&mut ignore))
                .is_err()
        );
    }

    #[test]
    fn a_layer_that_compresses_a_thousandfold_comes_out_a_little_at_a_time() {
        let tar = tar_of("text", &vec![b'a'; 64 * 1024 * 1024]);
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gzip.write_all(&tar).unwrap();
        let gzip = gzip.finish().unwrap();
        assert!(gzip.len() < 256 * 1024, "{}", gzip.len());
        let mut decoder = Decoder::new(LayerCompression::Gzip).unwrap();
        let (mut largest, mut total) = (0, 0);
        let mut out = |tar: &[u8]| {
            largest = largest.max(tar.len());
            total += tar.len();
        };
        // The whole compressed layer in one chunk, as a registry may send it.
        decoder.feed(&gzip, &mut out).unwrap();
        decoder.finish(&mut out).unwrap();
        assert_eq!(total, tar.len());
        assert!(largest <= 8 * 1024 * 1024, "{largest} bytes at once");
    }
}
