//! An OCI image layout on disk (`oci-layout`, `index.json`, `blobs/sha256/…`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

use crate::RegistryError;
use crate::manifest::{Descriptor, ImageIndex, media_types, to_json_bytes};

/// Annotation naming an index.json entry (the reference it was tagged as).
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";
/// The annotation containerd and `docker load` use for the full image name.
pub const CONTAINERD_NAME_ANNOTATION: &str = "io.containerd.image.name";

/// A folder holding an OCI image layout; cheap to clone, safe to share between tasks.
#[derive(Clone, Debug)]
pub struct OciLayout {
    inner: Arc<LayoutInner>,
}

#[derive(Debug)]
struct LayoutInner {
    root: PathBuf,
    index_lock: Mutex<()>,
}

impl OciLayout {
    /// Opens (creating if needed) an OCI image layout at `root`.
    pub async fn open(root: &Path) -> Result<Self, RegistryError> {
        let layout = Self {
            inner: Arc::new(LayoutInner {
                root: root.to_path_buf(),
                index_lock: Mutex::new(()),
            }),
        };
        let blobs = layout.blobs_dir();
        tokio::fs::create_dir_all(&blobs)
            .await
            .map_err(|source| layout.error("creating the blobs folder", source))?;
        let marker = root.join("oci-layout");
        if !tokio::fs::try_exists(&marker).await.unwrap_or(false) {
            tokio::fs::write(&marker, br#"{"imageLayoutVersion":"1.0.0"}"#)
                .await
                .map_err(|source| layout.error("writing oci-layout", source))?;
        }
        Ok(layout)
    }

    /// The layout's folder.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    fn blobs_dir(&self) -> PathBuf {
        self.inner.root.join("blobs").join("sha256")
    }

    fn blob_path(&self, digest: &str) -> PathBuf {
        self.blobs_dir()
            .join(digest.strip_prefix("sha256:").unwrap_or(digest))
    }

    fn error(&self, action: impl Into<String>, source: std::io::Error) -> RegistryError {
        RegistryError::Layout {
            path: self.inner.root.clone(),
            action: action.into(),
            source,
        }
    }

    /// Whether the layout has the blob.
    pub async fn blob_exists(&self, digest: &str) -> bool {
        tokio::fs::try_exists(self.blob_path(digest))
            .await
            .unwrap_or(false)
    }

    /// Writes a blob from a stream, computing its digest; returns (digest, size).
    pub async fn put_blob_stream(
        &self,
        stream: impl Stream<Item = Result<Bytes, std::io::Error>>,
    ) -> Result<(String, u64), RegistryError> {
        let temp = tempfile::Builder::new()
            .prefix(".upload-")
            .tempfile_in(self.blobs_dir())
            .map_err(|source| self.error("creating a temporary blob file", source))?;
        let (file, temp_path) = temp.into_parts();
        let mut file = tokio::fs::File::from_std(file);
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut stream = std::pin::pin!(stream);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|source| self.error("reading blob data", source))?;
            hasher.update(&chunk);
            size += chunk.len() as u64;
            file.write_all(&chunk)
                .await
                .map_err(|source| self.error("writing a blob", source))?;
        }
        file.flush()
            .await
            .map_err(|source| self.error("writing a blob", source))?;
        drop(file);
        let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
        temp_path
            .persist(self.blob_path(&digest))
            .map_err(|e| self.error("storing a blob", e.error))?;
        Ok((digest, size))
    }

    /// Writes a blob whose digest is known.
    pub async fn put_blob(&self, data: &[u8], digest: &str) -> Result<(), RegistryError> {
        if self.blob_exists(digest).await {
            return Ok(());
        }
        self.write_atomically(&self.blob_path(digest), data).await
    }

    async fn write_atomically(&self, path: &Path, data: &[u8]) -> Result<(), RegistryError> {
        let dir = path.parent().unwrap_or(self.root()).to_path_buf();
        let data = data.to_vec();
        let target = path.to_path_buf();
        tokio::task::spawn_blocking(move || {
            let mut temp = tempfile::Builder::new()
                .prefix(".write-")
                .tempfile_in(&dir)?;
            std::io::Write::write_all(&mut temp, &data)?;
            temp.persist(&target).map_err(|e| e.error)?;
            Ok(())
        })
        .await
        .map_err(|e| self.error("writing a file", std::io::Error::other(e)))?
        .map_err(|source| self.error(format!("writing {}", path.display()), source))
    }

    /// Adds (or replaces) the `index.json` entry named `reference`.
    pub(crate) async fn set_reference(
        &self,
        reference: &str,
        mut descriptor: Descriptor,
    ) -> Result<(), RegistryError> {
        let _guard = self.inner.index_lock.lock().await;
        let path = self.inner.root.join("index.json");
        let mut index = match tokio::fs::read(&path).await {
            Ok(bytes) => serde_json::from_slice::<ImageIndex>(&bytes).map_err(|e| {
                self.error(
                    "reading index.json",
                    std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ImageIndex {
                schema_version: 2,
                media_type: media_types::OCI_INDEX.to_string(),
                manifests: Vec::new(),
                annotations: Default::default(),
            },
            Err(source) => return Err(self.error("reading index.json", source)),
        };
        index.manifests.retain(|d| {
            d.annotations.get(REF_NAME_ANNOTATION).map(String::as_str) != Some(reference)
        });
        descriptor
            .annotations
            .insert(REF_NAME_ANNOTATION.to_string(), reference.to_string());
        descriptor.annotations.insert(
            CONTAINERD_NAME_ANNOTATION.to_string(),
            reference.to_string(),
        );
        index.manifests.push(descriptor);
        let bytes = to_json_bytes(&index)?;
        self.write_atomically(&path, &bytes).await
    }
}
