//! What the layers of an image the engine pushed hold (for the platform lint), read back from
//! the registry it pushed them to: mab never saw them on their way there.
//!
//! Reading back is a download of what was just uploaded, so it is bounded: a layer larger than
//! [`LAYER_LIMIT`], or past [`IMAGE_LIMIT`] in all, is left unread and counted (the caller says
//! so). A layer that cannot be read (the registry fails, the blob does not decompress) is also
//! counted as unread rather than failing the image: the platform lint only warns, and the
//! verification that follows every publish checks the blobs themselves.

use std::io::Write as _;

use futures::StreamExt as _;

use crate::archive::StoredLayer;
use crate::manifest::LayerCompression;
use crate::remote::RemoteRepository;
use crate::scan::{LayerFindings, LayerScan};

/// The largest compressed layer read back.
pub const LAYER_LIMIT: u64 = 64 * 1024 * 1024;
/// The most compressed bytes read back of one image.
pub const IMAGE_LIMIT: u64 = 128 * 1024 * 1024;
/// How many layers of one image are read at once.
const READS_AT_ONCE: usize = 4;

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

/// What one layer holds; `None` when it could not be read.
async fn read_layer(repository: &RemoteRepository, layer: &StoredLayer) -> Option<LayerFindings> {
    let compression = LayerCompression::of_media_type(&layer.blob.media_type)?;
    let mut decoder = Decoder::new(compression)?;
    let mut scanner = LayerScan::new();
    let mut broken = false;
    repository
        .read_blob(&layer.blob.digest, |chunk| {
            if !broken {
                match decoder.feed(chunk) {
                    Ok(data) => scanner.feed(&data),
                    Err(_) => broken = true,
                }
            }
            Ok(())
        })
        .await
        .ok()?;
    if broken {
        return None;
    }
    scanner.feed(&decoder.finish().ok()?);
    Some(scanner.finish())
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

    /// The tar bytes that `chunk` completes.
    fn feed(&mut self, chunk: &[u8]) -> std::io::Result<Vec<u8>> {
        match self {
            Self::Gzip(d) => {
                d.write_all(chunk)?;
                Ok(std::mem::take(d.get_mut()))
            }
            Self::Zstd(d) => {
                d.write_all(chunk)?;
                d.flush()?;
                Ok(std::mem::take(d.get_mut()))
            }
            Self::Tar => Ok(chunk.to_vec()),
        }
    }

    /// The rest of the tar, once every chunk is in.
    fn finish(self) -> std::io::Result<Vec<u8>> {
        match self {
            Self::Gzip(d) => d.finish(),
            Self::Zstd(mut d) => {
                d.flush()?;
                Ok(std::mem::take(d.get_mut()))
            }
            Self::Tar => Ok(Vec::new()),
        }
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
            out.extend(decoder.feed(piece).unwrap());
        }
        out.extend(decoder.finish().unwrap());
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
    fn a_broken_stream_is_an_error_not_a_short_tar() {
        let mut decoder = Decoder::new(LayerCompression::Gzip).unwrap();
        assert!(
            decoder
                .feed(b"\x1f\x8b\x08\x00 not really gzip")
                .and_then(|_| decoder.finish())
                .is_err()
        );
    }
}
