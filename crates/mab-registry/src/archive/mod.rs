//! Reads a `docker save` stream and stores its image as blobs plus one image manifest.
//!
//! Two layouts exist: Docker 20.10 writes `manifest.json`, `<config-hex>.json` and
//! `<layer-id>/layer.tar` (uncompressed); Docker 25+ writes an OCI layout inside the tar
//! (`blobs/sha256/<hex>`, uncompressed or already compressed layers) beside the same
//! `manifest.json`. Entries arrive in an order we do not control, so every layer is compressed
//! (when it is not already) and uploaded as it passes, and `manifest.json` (which names the config
//! and the layer order) is applied at the end.

//!
//! Here: the image's manifest from what was read and uploaded. The export is read in `read.rs`,
//! each layer goes through `compress.rs` (gzip members: `gzip.rs`) into the spill pipe its
//! upload reads (`upload.rs`).

mod compress;
mod gzip;
mod read;
mod upload;

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use serde::Deserialize;
use tokio::io::AsyncRead;
use tokio::sync::mpsc;

use crate::RegistryError;
use crate::elf::ElfFiles;
use crate::manifest::{
    Descriptor, ImageManifest, LayerCompression, ManifestFormat, sha256_digest, to_json_bytes,
};
use crate::remote::RetryPolicy;
use crate::scan::LayerFindings;
use crate::target::{PushReporter, Target};
use read::{Read, read_layers};
use upload::{Upload, drive_uploads, read_and_upload};

/// Size of the chunks sent to the uploader.
const CHUNK: usize = 256 * 1024;

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

/// The descriptor of a layer blob in an image manifest.
pub(crate) fn layer_descriptor(media_type: &str, digest: String, size: u64) -> Descriptor {
    Descriptor {
        media_type: media_type.to_string(),
        digest,
        size,
        platform: None,
        annotations: Default::default(),
    }
}

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
