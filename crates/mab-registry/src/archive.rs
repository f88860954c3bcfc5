//! Reads a `docker save` stream and stores its image as blobs plus one image manifest.
//!
//! Two layouts exist: Docker 20.10 writes `manifest.json`, `<config-hex>.json` and
//! `<layer-id>/layer.tar` (uncompressed); Docker 25+ writes an OCI layout inside the tar
//! (`blobs/sha256/<hex>`, uncompressed or already compressed layers) beside the same
//! `manifest.json`. Entries arrive in an order we do not control, so every layer is compressed
//! (when it is not already) and uploaded as it passes, and `manifest.json` (which names the config
//! and the layer order) is applied at the end.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::{FutureExt as _, StreamExt};
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use tokio_util::either::Either;

use crate::RegistryError;
use crate::elf::ElfFiles;
use crate::manifest::{
    Descriptor, ImageManifest, LayerCompression, ManifestFormat, media_types, sha256_digest,
    to_json_bytes,
};
use crate::remote::RetryPolicy;
use crate::scan::{LayerFindings, LayerScan};
use crate::target::{PushReporter, Target};

/// JSON entries larger than this are not configs or manifests.
const MAX_JSON_ENTRY: u64 = 64 * 1024 * 1024;
/// Size of the chunks sent to the uploader.
const CHUNK: usize = 256 * 1024;
/// How much uncompressed data the compressor is given at a time.
const COMPRESSION_BLOCK: usize = 1024 * 1024;
/// How much of one layer, compressed, may wait for its upload (see `crate::spill`): 8 MiB in
/// memory, then up to 512 MiB in an unlinked temporary file; beyond that the export waits.
const WAITING: crate::spill::PipeLimits = crate::spill::PipeLimits {
    memory: 8 * 1024 * 1024,
    disk: 512 * 1024 * 1024,
};
/// How many layers of one image upload at once (as docker's default
/// `max-concurrent-uploads`, 5, give or take).
const UPLOADS_AT_ONCE: usize = 4;

/// One platform's image, stored: its manifest is in the target under its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedManifest {
    /// `sha256:…` of the manifest bytes.
    pub digest: String,
    /// Size of the manifest in bytes.
    pub size: u64,
    /// Media type of the manifest.
    pub media_type: String,
    /// `sha256:…` of the image config (the image id).
    pub config_digest: String,
    /// Size of the image config.
    pub config_size: u64,
    /// Total size of the (compressed) layers.
    pub layers_size: u64,
    /// The ELF files of the image's layers, by machine (empty when the layers were not read:
    /// already compressed, or reused from an earlier run).
    pub elf_files: ElfFiles,
    /// The layer blobs, in order.
    pub(crate) layers: Vec<StoredLayer>,
}

/// One element of `manifest.json`.
#[derive(Deserialize)]
struct SaveManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// How a layer entry is encoded in the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LayerEncoding {
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
}

/// How [`push_docker_archive`] writes an image manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManifestOptions {
    /// OCI or Docker schema 2 media types.
    pub format: ManifestFormat,
    /// Annotations of the image manifest (OCI format only; asking them of the Docker format is
    /// an error).
    pub annotations: BTreeMap<String, String>,
    /// How uncompressed layers are stored (zstd and none: OCI format only).
    pub compression: LayerCompression,
}

impl ManifestOptions {
    /// A manifest of `format` without annotations, gzip layers.
    pub fn new(format: ManifestFormat) -> Self {
        Self {
            format,
            annotations: BTreeMap::new(),
            compression: LayerCompression::Gzip,
        }
    }
}

/// An image manifest with annotations (the shared [`ImageManifest`] has none).
#[derive(serde::Serialize)]
struct AnnotatedManifest<'a> {
    #[serde(flatten)]
    manifest: &'a ImageManifest,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
}

/// One layer as stored: the blob, the diff id (uncompressed digest; empty when unknown) it
/// holds, and what was found in it (ELF files, software).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredLayer {
    pub diff_id: String,
    pub blob: Descriptor,
    pub findings: LayerFindings,
}

/// Layers already stored in the target, by diff id: the blob each one is, and what it holds.
pub(crate) type KnownLayers = HashMap<String, (Descriptor, LayerFindings)>;

/// Reads the `docker save` stream of ONE image and stores it in `target`: layers (gzip-compressed
/// unless they already are), config, and the image manifest (by digest, untagged).
pub async fn push_docker_archive<R>(
    archive: R,
    target: &Target,
    options: &ManifestOptions,
    reporter: &dyn PushReporter,
) -> Result<PushedManifest, RegistryError>
where
    R: AsyncRead + Unpin + Send,
{
    push_archive_reusing(
        archive,
        target,
        options,
        &KnownLayers::new(),
        RetryPolicy::default(),
        reporter,
    )
    .await
}

/// [`push_docker_archive`], skipping the layers in `known`: when some layers may be known, each
/// uncompressed layer is first spooled to an unlinked temporary file to learn its diff id, and
/// only uploaded when it is not known. Each layer's upload is tried again as `retry` says.
pub(crate) async fn push_archive_reusing<R>(
    archive: R,
    target: &Target,
    options: &ManifestOptions,
    known: &KnownLayers,
    retry: RetryPolicy,
    reporter: &dyn PushReporter,
) -> Result<PushedManifest, RegistryError>
where
    R: AsyncRead + Unpin + Send,
{
    let format = options.format;
    if format == ManifestFormat::Docker && !options.annotations.is_empty() {
        return Err(crate::target::annotations_need_oci(target));
    }
    // The export is read here; each layer's upload runs beside it (see `crate::spill`), up to
    // UPLOADS_AT_ONCE at a time, driven by `uploading`.
    let (start_upload, uploads) = mpsc::unbounded_channel::<Upload<'_>>();
    let reading = read_layers(
        archive,
        target,
        options,
        known,
        retry,
        reporter,
        start_upload,
    );
    let (read, uploaded) = read_and_upload(reading, drive_uploads(uploads)).await?;
    let Read {
        json_entries,
        mut layers,
    } = read;
    layers.extend(uploaded);

    let save_manifest =
        json_entries
            .get("manifest.json")
            .ok_or_else(|| RegistryError::MalformedArchive {
                message: "it has no manifest.json".to_string(),
            })?;
    let save_manifest: Vec<SaveManifestEntry> =
        serde_json::from_slice(save_manifest).map_err(|e| RegistryError::MalformedArchive {
            message: format!("manifest.json does not parse: {e}"),
        })?;
    let [image] = save_manifest.as_slice() else {
        return Err(RegistryError::MalformedArchive {
            message: format!(
                "manifest.json describes {} images, expected exactly one",
                save_manifest.len()
            ),
        });
    };
    let config = json_entries
        .get(image.config.trim_start_matches("./"))
        .ok_or_else(|| RegistryError::MalformedArchive {
            message: format!(
                "the config {} named by manifest.json is missing",
                image.config
            ),
        })?;
    let config_digest = sha256_digest(config);
    let present = target
        .put_blob(Bytes::copy_from_slice(config), &config_digest)
        .await?;
    reporter.blob_stored(&config_digest, config.len() as u64, present);

    let layer_descriptors = image
        .layers
        .iter()
        .map(|path| {
            layers
                .get(path.trim_start_matches("./"))
                .cloned()
                .ok_or_else(|| RegistryError::MalformedArchive {
                    message: format!("the layer {path} named by manifest.json is missing"),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut diff_ids = config_diff_ids(config).unwrap_or_default();
    if diff_ids.len() != layer_descriptors.len() {
        // A config without (matching) diff ids: the layers are stored all the same, they just
        // cannot be remembered for a rerun.
        diff_ids = vec![String::new(); layer_descriptors.len()];
    }
    let layers = diff_ids
        .into_iter()
        .zip(layer_descriptors)
        .map(|(diff_id, (blob, findings))| StoredLayer {
            diff_id,
            blob,
            findings,
        })
        .collect();
    store_manifest(target, options, &config_digest, config.len() as u64, layers).await
}

/// What reading the export found: its JSON documents by path, and the layers that needed no
/// upload (already stored), by path.
struct Read {
    json_entries: HashMap<String, Vec<u8>>,
    layers: HashMap<String, (Descriptor, LayerFindings)>,
}

/// One layer's upload, running while the export is read further: it gives the layer's path and
/// what was stored.
type Upload<'a> =
    futures::future::BoxFuture<'a, Result<(String, (Descriptor, LayerFindings)), RegistryError>>;

/// Reads the whole export: JSON documents are kept, each layer is compressed into a spill pipe
/// whose other end an upload (sent to `start_upload`) reads.
async fn read_layers<'a, R>(
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
        let media_type = match (encoding, format) {
            (LayerEncoding::Zstd, ManifestFormat::Oci) => media_types::OCI_LAYER_ZSTD,
            (LayerEncoding::Zstd, ManifestFormat::Docker) => {
                return Err(RegistryError::MalformedArchive {
                    message: format!(
                        "layer {path} is zstd-compressed, which a docker manifest cannot describe; use format: oci"
                    ),
                });
            }
            // Already gzip and gzip asked for: passed through as it is (the digests of the
            // engine's own push). Another compression: decompressed and compressed again.
            (LayerEncoding::Gzip, _) if options.compression == LayerCompression::Gzip => {
                format.gzip_layer_media_type()
            }
            (LayerEncoding::Gzip | LayerEncoding::Tar, _) => options
                .compression
                .media_type(format)
                .ok_or_else(|| RegistryError::MalformedManifest {
                    reference: target.describe(),
                    message: format!(
                        "{:?} layers need the OCI format: a Docker manifest only describes gzip",
                        options.compression
                    ),
                })?,
        };
        // A compressed layer passed through as it is: in an OCI layout its name is its digest,
        // so a blob the target already has (a rerun, a base layer) is not sent again.
        let passed_through = encoding == LayerEncoding::Zstd
            || (encoding == LayerEncoding::Gzip && options.compression == LayerCompression::Gzip);
        if passed_through
            && let Some(digest) = oci_blob_digest(&path)
            && target.has_blob(&digest).await?
        {
            // Not sent, but read all the same (it streams past anyway): what it holds.
            let findings = if encoding == LayerEncoding::Gzip {
                let reader = std::io::Cursor::new(head).chain(&mut entry);
                send_gzip_chunks_scanning(reader, None)
                    .await
                    .map_err(|source| RegistryError::ArchiveRead { source })?
            } else {
                LayerFindings::default()
            };
            reporter.blob_stored(&digest, size, true);
            let descriptor = Descriptor {
                media_type: media_type.to_string(),
                digest,
                size,
                platform: None,
                annotations: Default::default(),
            };
            layers.insert(path, (descriptor, findings));
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

/// Runs the reading of the export and the uploads together. The first error wins, except that
/// reading stopped by a failed upload waits for the upload's own error.
async fn read_and_upload(
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
fn upload_gone() -> RegistryError {
    RegistryError::ArchiveRead {
        source: std::io::ErrorKind::BrokenPipe.into(),
    }
}

/// Runs the uploads as they start, all at once; the first failure ends everything.
async fn drive_uploads(
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
fn upload_layer<'a>(
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
        Ok((
            path,
            (
                Descriptor {
                    media_type: media_type.to_string(),
                    digest,
                    size,
                    platform: None,
                    annotations: Default::default(),
                },
                findings,
            ),
        ))
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
struct LayerWriter {
    pipe: crate::spill::SpillWriter,
    findings: tokio::sync::oneshot::Sender<LayerFindings>,
}

/// Compresses (unless it already is) one layer into its upload's pipe. A failure to read the
/// export fails the upload too (no truncated blob is committed); a failed upload shows here as
/// `upload_gone`, its own error being reported by `drive_uploads`.
async fn produce_layer<R: AsyncRead + Unpin>(
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
        LayerEncoding::Gzip => send_gzip_chunks_scanning(reader, Some(&mut pipe)).await,
        LayerEncoding::Zstd => send_chunks(reader, &mut pipe)
            .await
            .map(|()| LayerFindings::default()),
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

/// `sha256:<hex>` of an OCI layout's `blobs/sha256/<hex>` entry.
fn oci_blob_digest(path: &str) -> Option<String> {
    let hex = path.strip_prefix("blobs/sha256/")?;
    (hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .then(|| format!("sha256:{hex}"))
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

/// `rootfs.diff_ids` of an image config.
fn config_diff_ids(config: &[u8]) -> Option<Vec<String>> {
    #[derive(Deserialize)]
    struct Config {
        rootfs: RootFs,
    }
    #[derive(Deserialize)]
    struct RootFs {
        diff_ids: Vec<String>,
    }
    serde_json::from_slice::<Config>(config)
        .ok()
        .map(|c| c.rootfs.diff_ids)
}

/// Writes the image manifest of a config and layers that are already stored in `target`.
pub(crate) async fn store_manifest(
    target: &Target,
    options: &ManifestOptions,
    config_digest: &str,
    config_size: u64,
    layers: Vec<StoredLayer>,
) -> Result<PushedManifest, RegistryError> {
    let format = options.format;
    let layers_size = layers.iter().map(|l| l.blob.size).sum();
    let mut elf_files = ElfFiles::default();
    for layer in &layers {
        elf_files.merge(&layer.findings.elf);
    }
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: format.manifest_media_type().to_string(),
        config: Descriptor {
            media_type: format.config_media_type().to_string(),
            digest: config_digest.to_string(),
            size: config_size,
            platform: None,
            annotations: Default::default(),
        },
        layers: layers.iter().map(|l| l.blob.clone()).collect(),
    };
    let bytes = to_json_bytes(&AnnotatedManifest {
        manifest: &manifest,
        annotations: &options.annotations,
    })?;
    let digest = sha256_digest(&bytes);
    target
        .put_manifest_by_digest(&bytes, &digest, &manifest.media_type)
        .await?;
    Ok(PushedManifest {
        digest,
        size: bytes.len() as u64,
        media_type: manifest.media_type,
        config_digest: config_digest.to_string(),
        config_size,
        layers_size,
        elf_files,
        layers,
    })
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

/// One block as a complete gzip member: deflated, or stored when a sample shows it does not
/// compress. No name, no timestamp: the same block always gives the same bytes.
fn gzip_member(block: &[u8]) -> std::io::Result<Vec<u8>> {
    const SAMPLE: usize = 16 * 1024;
    let sample = &block[..block.len().min(SAMPLE)];
    if sample.len() >= 4096 && deflated_size(sample)? * 100 > sample.len() * 97 {
        return Ok(stored_gzip_member(block));
    }
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(block.len() / 2 + 64),
        flate2::Compression::fast(),
    );
    std::io::Write::write_all(&mut encoder, block)?;
    encoder.finish()
}

/// A gzip member holding `block` in stored deflate blocks (RFC 1951 3.2.4): the bytes as they
/// are, framed, at the speed of a copy (a deflater's stored mode still walks its matcher).
fn stored_gzip_member(block: &[u8]) -> Vec<u8> {
    const MAX_STORED: usize = u16::MAX as usize;
    // RFC 1952: magic, deflate, no flags, no mtime, no extra flags, OS unknown.
    const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let blocks = block.len().div_ceil(MAX_STORED).max(1);
    let mut out = Vec::with_capacity(HEADER.len() + block.len() + blocks * 5 + 8);
    out.extend_from_slice(&HEADER);
    let mut pieces = block.chunks(MAX_STORED).peekable();
    if pieces.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(piece) = pieces.next() {
        let last = pieces.peek().is_none();
        let len = piece.len() as u16;
        out.push(u8::from(last)); // BFINAL, BTYPE 00 (stored), padded to the byte
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(piece);
    }
    out.extend_from_slice(&crc32fast::hash(block).to_le_bytes());
    out.extend_from_slice(&(block.len() as u32).to_le_bytes());
    out
}

fn deflated_size(data: &[u8]) -> std::io::Result<usize> {
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut encoder, data)?;
    Ok(encoder.finish()?.len())
}

/// Reads `reader` to the end and sends it in chunks; a gone upload is `BrokenPipe`.
async fn send_chunks<R: AsyncRead + Unpin>(
    mut reader: R,
    pipe: &mut crate::spill::SpillWriter,
) -> std::io::Result<()> {
    loop {
        let mut buffer = BytesMut::with_capacity(CHUNK);
        while buffer.len() < CHUNK {
            if reader.read_buf(&mut buffer).await? == 0 {
                break;
            }
        }
        if buffer.is_empty() {
            return Ok(());
        }
        pipe.send(buffer.freeze()).await?;
    }
}

/// Sends a gzip layer as it is, in chunks (to `pipe`; nowhere when the target has it), and
/// reads what it holds on the way: each chunk is also decompressed and fed to the layer
/// scanners (the platform lint, the SBOM). A stream that does not decompress is still sent;
/// its findings then say it was not read.
async fn send_gzip_chunks_scanning<R: AsyncRead + Unpin>(
    mut reader: R,
    mut pipe: Option<&mut crate::spill::SpillWriter>,
) -> std::io::Result<LayerFindings> {
    use std::io::Write as _;
    let mut scanner = LayerScan::new();
    let mut decoder = Some(flate2::write::MultiGzDecoder::new(Vec::new()));
    loop {
        let mut buffer = BytesMut::with_capacity(CHUNK);
        while buffer.len() < CHUNK {
            if reader.read_buf(&mut buffer).await? == 0 {
                break;
            }
        }
        if buffer.is_empty() {
            break;
        }
        if let Some(d) = decoder.as_mut() {
            if d.write_all(&buffer).is_ok() {
                scanner.feed(&std::mem::take(d.get_mut()));
            } else {
                decoder = None;
            }
        }
        if let Some(pipe) = pipe.as_mut() {
            pipe.send(buffer.freeze()).await?;
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
