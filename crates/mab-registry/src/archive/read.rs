//! Reading the export: JSON documents kept, each layer sniffed, passed through or compressed
//! into the pipe of its upload, or skipped when the target has it.

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use tokio_util::either::Either;

use super::compress::{pass_through, produce_layer};
use super::upload::{Upload, upload_gone, upload_layer};
use super::{CHUNK, KnownLayers, ManifestOptions, layer_descriptor};
use crate::RegistryError;
use crate::manifest::{Descriptor, LayerCompression};
use crate::remote::RetryPolicy;
use crate::scan::LayerFindings;
use crate::target::{PushReporter, Target};

/// JSON entries larger than this are not configs or manifests.
const MAX_JSON_ENTRY: u64 = 64 * 1024 * 1024;
/// How many layers of one image upload at once (as docker's default
/// `max-concurrent-uploads`, 5, give or take).
const UPLOADS_AT_ONCE: usize = 4;

/// How a layer entry is encoded in the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LayerEncoding {
    Tar,
    Gzip,
    Zstd,
}

impl LayerEncoding {
    fn sniff(head: &[u8]) -> Self {
        match head {
            [0x1f, 0x8b, ..] => Self::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Self::Zstd,
            _ => Self::Tar,
        }
    }

    /// The compression the layer keeps when `asked` is wanted, when it is passed through as it
    /// is: a zstd layer always, a gzip one when gzip is asked for (the digests of the engine's
    /// own push); `None` when it is (decompressed and) compressed as asked.
    fn kept(self, asked: LayerCompression) -> Option<LayerCompression> {
        match self {
            Self::Zstd => Some(LayerCompression::Zstd),
            Self::Gzip if asked == LayerCompression::Gzip => Some(LayerCompression::Gzip),
            Self::Gzip | Self::Tar => None,
        }
    }
}

/// What reading the export found: its JSON documents by path, and the layers that needed no
/// upload (already stored), by path.
pub(super) struct Read {
    pub(super) json_entries: HashMap<String, Vec<u8>>,
    pub(super) layers: HashMap<String, (Descriptor, LayerFindings)>,
}

/// Reads the whole export: JSON documents are kept, each layer is compressed into a spill pipe
/// whose other end an upload (sent to `start_upload`) reads.
pub(super) async fn read_layers<'a, R>(
    archive: R,
    target: &'a Target,
    options: &ManifestOptions,
    known: &KnownLayers,
    retry: RetryPolicy,
    reporter: &'a dyn PushReporter,
    start_upload: mpsc::UnboundedSender<Upload<'a>>,
) -> Result<Read, RegistryError>
where
    R: AsyncRead + Unpin + Send,
{
    let format = options.format;
    let uploads_at_once = Arc::new(tokio::sync::Semaphore::new(UPLOADS_AT_ONCE));
    let mut archive = tokio_tar::Archive::new(archive);
    let mut entries = archive
        .entries()
        .map_err(|source| RegistryError::ArchiveRead { source })?;
    let mut json_entries: HashMap<String, Vec<u8>> = HashMap::new();
    let mut layers: HashMap<String, (Descriptor, LayerFindings)> = HashMap::new();

    while let Some(entry) = entries.next().await {
        let mut entry = entry.map_err(|source| RegistryError::ArchiveRead { source })?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|source| RegistryError::ArchiveRead { source })?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        let size = entry
            .header()
            .size()
            .map_err(|source| RegistryError::ArchiveRead { source })?;

        let top_level_json = !path.contains('/') && path.ends_with(".json");
        let maybe_layer = path.ends_with("/layer.tar") || path.starts_with("blobs/");
        if !top_level_json && !maybe_layer {
            continue; // VERSION, per-layer json, repositories, oci-layout
        }
        let mut head = vec![0u8; size.min(512) as usize];
        entry
            .read_exact(&mut head)
            .await
            .map_err(|source| RegistryError::ArchiveRead { source })?;
        if top_level_json || (head.first() == Some(&b'{') && size <= MAX_JSON_ENTRY) {
            if size > MAX_JSON_ENTRY {
                return Err(RegistryError::MalformedArchive {
                    message: format!("{path} is {size} bytes, too large for a json document"),
                });
            }
            let mut bytes = head;
            entry
                .read_to_end(&mut bytes)
                .await
                .map_err(|source| RegistryError::ArchiveRead { source })?;
            json_entries.insert(path, bytes);
            continue;
        }
        let encoding = LayerEncoding::sniff(&head);
        let kept = encoding.kept(options.compression);
        let media_type = kept
            .unwrap_or(options.compression)
            .media_type(format)
            .ok_or_else(|| match kept {
                Some(LayerCompression::Zstd) => RegistryError::MalformedArchive {
                    message: format!(
                        "layer {path} is zstd-compressed, which a docker manifest cannot describe; use format: oci"
                    ),
                },
                _ => RegistryError::MalformedManifest {
                    reference: target.describe(),
                    message: format!(
                        "{:?} layers need the OCI format: a Docker manifest only describes gzip",
                        options.compression
                    ),
                },
            })?;
        // A compressed layer passed through as it is: in an OCI layout its name is its digest,
        // so a blob the target already has (a rerun, a base layer) is not sent again.
        if kept.is_some()
            && let Some(digest) = oci_blob_digest(&path)
            && target.has_blob(&digest).await?
        {
            // Not sent, but read all the same (it streams past anyway): what it holds.
            let reader = std::io::Cursor::new(head).chain(&mut entry);
            let findings = pass_through(reader, encoding, None)
                .await
                .map_err(|source| RegistryError::ArchiveRead { source })?;
            reporter.blob_stored(&digest, size, true);
            layers.insert(path, (layer_descriptor(media_type, digest, size), findings));
            continue;
        }
        let reader = std::io::Cursor::new(head).chain(&mut entry);
        // When some layers may be known, an uncompressed one is spooled first to learn its
        // diff id, and skipped when the target has it.
        let source = if known.is_empty() || encoding != LayerEncoding::Tar {
            Either::Left(reader)
        } else {
            let (diff_id, spooled) = spool(reader).await?;
            if let Some((blob, findings)) = known.get(&diff_id) {
                reporter.blob_stored(&blob.digest, blob.size, true);
                layers.insert(path, (blob.clone(), findings.clone()));
                continue;
            }
            Either::Right(spooled)
        };
        let permit = Arc::clone(&uploads_at_once)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let (writer, upload) = upload_layer(target, path, media_type, reporter, permit, retry);
        start_upload.send(upload).map_err(|_| upload_gone())?;
        produce_layer(source, encoding, options.compression, writer).await?;
    }
    Ok(Read {
        json_entries,
        layers,
    })
}

/// `sha256:<hex>` of an OCI layout's `blobs/sha256/<hex>` entry.
fn oci_blob_digest(path: &str) -> Option<String> {
    let hex = path.strip_prefix("blobs/sha256/")?;
    (hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .then(|| format!("sha256:{hex}"))
}

/// Copies a layer into an unlinked temporary file while hashing it; returns its diff id and the
/// file, rewound.
async fn spool<R: AsyncRead + Unpin>(
    mut reader: R,
) -> Result<(String, tokio::fs::File), RegistryError> {
    use sha2::Digest as _;
    use tokio::io::{AsyncSeekExt, AsyncWriteExt};
    let io = |source| RegistryError::ArchiveRead { source };
    let file = tokio::task::spawn_blocking(tempfile::tempfile)
        .await
        .map_err(|e| io(std::io::Error::other(e)))?
        .map_err(io)?;
    let mut file = tokio::fs::File::from_std(file);
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; CHUNK];
    loop {
        let n = reader.read(&mut buffer).await.map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        file.write_all(&buffer[..n]).await.map_err(io)?;
    }
    file.flush().await.map_err(io)?;
    file.rewind().await.map_err(io)?;
    Ok((format!("sha256:{}", hex::encode(hasher.finalize())), file))
}
