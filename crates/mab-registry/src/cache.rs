//! What mab remembers between runs: for each uncompressed layer (by diff id), the blob it
//! compressed to; for each image config, its size. With it, a rerun whose images did not change
//! checks that the registry has every blob and writes the same manifest, without exporting,
//! compressing or uploading anything.
//!
//! One small JSON file per entry, written atomically (temp file + rename), so concurrent runs
//! never see a half-written entry; a corrupt or missing entry is a cache miss, never an error.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::LayerCompression;

/// A layer as it was stored: the compressed blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedLayer {
    /// `sha256:…` of the compressed blob.
    pub digest: String,
    /// Size of the compressed blob.
    pub size: u64,
    /// Whether the blob is zstd (else gzip).
    #[serde(default)]
    pub zstd: bool,
    /// Repositories (`registry/path`) the blob was stored in, most recent last: a repository of
    /// the same registry can mount it from there instead of uploading it.
    #[serde(default)]
    pub repositories: Vec<String>,
    /// The blob's media type when it was stored (`None` in entries written before it was
    /// recorded: gzip, or zstd per `zstd`).
    #[serde(default)]
    pub media_type: Option<String>,
    /// The ELF files found in the layer (for the platform lint of a reused layer).
    #[serde(default)]
    pub elf: crate::ElfFiles,
    /// The software found in the layer (for the SBOM of a reused layer); `None` in entries
    /// written before it was recorded, or when the layer was not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contents: Option<mab_sbom::LayerContents>,
}

/// How many repositories a cache entry remembers.
const MAX_REPOSITORIES: usize = 8;

impl CachedLayer {
    /// What the layer was found to hold.
    pub(crate) fn findings(&self) -> crate::LayerFindings {
        crate::LayerFindings {
            elf: self.elf.clone(),
            contents: self.contents.clone(),
        }
    }

    /// Remembers what a read of the layer found (an entry that knew less learns it).
    pub(crate) fn remember_contents(&mut self, findings: &crate::LayerFindings) {
        if let Some(contents) = &findings.contents {
            self.elf = findings.elf.clone();
            self.contents = Some(contents.clone());
        }
    }

    /// Notes that the blob is (also) in `repository`.
    pub fn stored_in(&mut self, repository: &str) {
        self.repositories.retain(|r| r != repository);
        self.repositories.push(repository.to_string());
        let excess = self.repositories.len().saturating_sub(MAX_REPOSITORIES);
        self.repositories.drain(..excess);
    }
}

/// The local memory of compressed layers, under a folder.
#[derive(Debug, Clone)]
pub struct LayerCache {
    root: PathBuf,
}

impl LayerCache {
    /// A cache in `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The default place: `$MAB_HOME/cache`, else `$XDG_CACHE_HOME/mab`, else `~/.cache/mab`.
    pub fn default_root() -> Option<PathBuf> {
        if let Some(home) = std::env::var_os("MAB_HOME").filter(|v| !v.is_empty()) {
            return Some(PathBuf::from(home).join("cache"));
        }
        if let Some(xdg) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
            return Some(PathBuf::from(xdg).join("mab"));
        }
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("mab"))
    }

    /// The folder of the cache.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn layer_path(&self, compression: LayerCompression, diff_id: &str) -> Option<PathBuf> {
        let hex = diff_id.strip_prefix("sha256:")?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(
            self.root
                .join("layers")
                .join(crate::manifest::cache_key(compression))
                .join(hex),
        )
    }

    fn config_path(&self, config_digest: &str) -> Option<PathBuf> {
        let hex = config_digest.strip_prefix("sha256:")?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(self.root.join("configs").join(hex))
    }

    /// The blob a layer compressed to, if remembered.
    pub async fn layer(&self, compression: LayerCompression, diff_id: &str) -> Option<CachedLayer> {
        let bytes = tokio::fs::read(self.layer_path(compression, diff_id)?)
            .await
            .ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// The size of an image config, if remembered.
    pub async fn config_size(&self, config_digest: &str) -> Option<u64> {
        self.config_of(config_digest).await.map(|(_, size)| size)
    }

    /// The config digest and size of the image whose id is `image_id`, if remembered: on the
    /// classic image store the id is the config's digest; on the containerd image store it is
    /// the manifest's, remembered beside the config's (see [`Self::remember_image_config`]).
    pub async fn config_of(&self, image_id: &str) -> Option<(String, u64)> {
        let text = tokio::fs::read_to_string(self.config_path(image_id)?)
            .await
            .ok()?;
        let mut words = text.split_whitespace();
        let size = words.next()?.parse().ok()?;
        let digest = words.next().unwrap_or(image_id).to_string();
        Some((digest, size))
    }

    /// Remembers the blob a layer compressed to (best effort: a cache that cannot be written
    /// only costs speed).
    pub async fn remember_layer(
        &self,
        compression: LayerCompression,
        diff_id: &str,
        layer: &CachedLayer,
    ) {
        let path = self.layer_path(compression, diff_id);
        if let (Some(path), Ok(bytes)) = (path, serde_json::to_vec(layer)) {
            write_atomically(path, bytes).await;
        }
    }

    fn manifest_path(&self, digest: &str) -> Option<PathBuf> {
        let hex = digest.strip_prefix("sha256:")?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(self.root.join("manifests").join(hex))
    }

    /// The bytes of a manifest or index, if remembered (and they still hash to `digest`).
    pub async fn manifest(&self, digest: &str) -> Option<bytes::Bytes> {
        let bytes = tokio::fs::read(self.manifest_path(digest)?).await.ok()?;
        (crate::manifest::sha256_digest(&bytes) == digest).then(|| bytes.into())
    }

    /// Remembers the bytes of a manifest or index under their digest (best effort).
    pub async fn remember_manifest(&self, digest: &str, bytes: &[u8]) {
        if let Some(path) = self.manifest_path(digest) {
            write_atomically(path, bytes.to_vec()).await;
        }
    }

    fn attestation_path(&self, key: &str) -> Option<PathBuf> {
        (key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| self.root.join("attestations").join(key))
    }

    /// The in-toto statement remembered under `key` (a digest of what it says, times left
    /// out), if any and if it still reads as a statement.
    pub async fn attestation(&self, key: &str) -> Option<bytes::Bytes> {
        let bytes = tokio::fs::read(self.attestation_path(key)?).await.ok()?;
        let statement: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        statement.get("_type")?.as_str()?;
        Some(bytes.into())
    }

    /// Remembers a statement under `key` (best effort), so that a later run that would say the
    /// same reuses it, times and all.
    pub async fn remember_attestation(&self, key: &str, statement: &[u8]) {
        if let Some(path) = self.attestation_path(key) {
            write_atomically(path, statement.to_vec()).await;
        }
    }

    /// Remembers the size of an image config (best effort).
    pub async fn remember_config(&self, config_digest: &str, size: u64) {
        if let Some(path) = self.config_path(config_digest) {
            write_atomically(path, size.to_string().into_bytes()).await;
        }
    }

    /// Remembers which config the image `image_id` has, when its id is not the config's digest
    /// (the containerd image store names an image by its manifest's digest).
    pub async fn remember_image_config(&self, image_id: &str, config_digest: &str, size: u64) {
        if image_id == config_digest {
            return;
        }
        if let Some(path) = self.config_path(image_id) {
            write_atomically(path, format!("{size} {config_digest}").into_bytes()).await;
        }
    }
}

async fn write_atomically(path: PathBuf, bytes: Vec<u8>) {
    let _ = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let mut temp = tempfile::Builder::new()
            .prefix(".entry-")
            .tempfile_in(dir)?;
        std::io::Write::write_all(&mut temp, &bytes)?;
        temp.persist(&path).map_err(|e| e.error)?;
        Ok(())
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    const GZ: LayerCompression = LayerCompression::Gzip;
    const DIFF_ID: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    #[tokio::test]
    async fn remembers_layers_and_configs() {
        let dir = tempfile::tempdir().unwrap();
        let cache = LayerCache::new(dir.path());
        assert_eq!(cache.layer(GZ, DIFF_ID).await, None);
        let layer = CachedLayer {
            digest: "sha256:22".to_string(),
            size: 42,
            zstd: false,
            repositories: vec!["r/a".to_string()],
            media_type: None,
            elf: Default::default(),
            contents: None,
        };
        cache.remember_layer(GZ, DIFF_ID, &layer).await;
        assert_eq!(cache.layer(GZ, DIFF_ID).await, Some(layer));
        cache.remember_config(DIFF_ID, 1234).await;
        assert_eq!(cache.config_size(DIFF_ID).await, Some(1234));
        let index = br#"{"schemaVersion":2,"manifests":[]}"#;
        let digest = crate::manifest::sha256_digest(index);
        assert_eq!(cache.manifest(&digest).await, None);
        cache.remember_manifest(&digest, index).await;
        assert_eq!(cache.manifest(&digest).await.as_deref(), Some(&index[..]));
        // Bytes that no longer hash to their name are a miss.
        std::fs::write(cache.manifest_path(&digest).unwrap(), b"{}").unwrap();
        assert_eq!(cache.manifest(&digest).await, None);
    }

    #[tokio::test]
    async fn a_layer_remembers_what_it_holds_and_an_older_entry_learns_it() {
        let dir = tempfile::tempdir().unwrap();
        let cache = LayerCache::new(dir.path());
        // An entry written before contents were recorded reads as "not read".
        let old = br#"{"digest":"sha256:22","size":42}"#;
        let path = cache.layer_path(GZ, DIFF_ID).unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, old).unwrap();
        let mut entry = cache.layer(GZ, DIFF_ID).await.unwrap();
        assert_eq!(entry.findings().contents, None);
        let mut contents = mab_sbom::LayerContents::default();
        contents.files.insert(
            "lib/apk/db/installed".into(),
            mab_sbom::Finding::Apk {
                packages: vec![mab_sbom::Package::new("musl", "1.2.5-r0")],
            },
        );
        entry.remember_contents(&crate::LayerFindings {
            elf: Default::default(),
            contents: Some(contents.clone()),
        });
        cache.remember_layer(GZ, DIFF_ID, &entry).await;
        let read = cache.layer(GZ, DIFF_ID).await.unwrap();
        assert_eq!(read.findings().contents, Some(contents));
        // A statement is kept under its key, and only if it reads as one.
        let key = "ab".repeat(32);
        assert_eq!(cache.attestation(&key).await, None);
        cache.remember_attestation(&key, br#"{"_type":"x"}"#).await;
        assert!(cache.attestation(&key).await.is_some());
        cache.remember_attestation(&key, b"not json").await;
        assert_eq!(cache.attestation(&key).await, None);
        assert_eq!(cache.attestation("../../etc").await, None);
    }

    #[tokio::test]
    async fn odd_keys_and_corrupt_entries_are_misses() {
        let dir = tempfile::tempdir().unwrap();
        let cache = LayerCache::new(dir.path());
        assert_eq!(cache.layer(GZ, "sha256:../../etc/passwd").await, None);
        assert_eq!(cache.layer(GZ, "md5:abc").await, None);
        let path = cache.layer_path(GZ, DIFF_ID).unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"{not json").unwrap();
        assert_eq!(cache.layer(GZ, DIFF_ID).await, None);
    }
}
