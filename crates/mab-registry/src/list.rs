//! Manifest lists made from images already in a registry (`mab manifest`).
//!
//! Three jobs, all registry-side: reading an image reference into list entries (an image
//! manifest gives one entry whose platform is read from its config, field for field as the docker
//! CLI does; an index gives one entry per platform image, attestations left out unless kept), the
//! list document that the CLI keeps in its local store ([`ManifestList`]), and pushing that list
//! (every blob and manifest that lives in another repository of the same registry is mounted or
//! copied into the list's repository first, then the index is stored by digest, then tagged).
//!
//! Every entry keeps the exact bytes of its manifest, checked against its digest whenever they are
//! used, so `inspect -v` works offline and `push` copies exactly what was resolved.

use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use mab_platform::{ParsePlatformError, Platform};
use mab_vocab::ImageReference;
use serde::{Deserialize, Serialize};

use crate::RegistryError;
use crate::manifest::{
    Descriptor, ImageIndex, ImageManifest, ManifestFormat, PlatformJson, PublishedIndex,
    media_types, sha256_digest, to_json_bytes,
};
use crate::remote::{RegistryClient, RemoteRepository};

/// Image configs larger than this are refused.
const MAX_CONFIG_SIZE: u64 = 16 * 1024 * 1024;
/// How many manifests are read, or entries copied, at once.
const CONCURRENCY: usize = 4;
/// The annotation BuildKit puts on attestation manifests in an index.
const REFERENCE_TYPE_ANNOTATION: &str = "vnd.docker.reference.type";
/// The version of the [`ManifestList`] document.
const LIST_DOCUMENT_VERSION: u32 = 1;

/// Parses an image reference ([`ImageReference::parse`]), failing with a [`RegistryError`]
/// that names it.
pub fn parse_reference(text: &str) -> Result<ImageReference, RegistryError> {
    ImageReference::parse(text).map_err(|source| RegistryError::InvalidReference {
        reference: text.to_string(),
        source,
    })
}

/// The repository an image reference names, through `client`.
pub(crate) fn remote_of(image: &ImageReference, client: &RegistryClient) -> RemoteRepository {
    client.repository(image.registry(), image.repository())
}

impl PlatformJson {
    /// The platform in mab's one notion of platform (normalised like containerd).
    pub fn to_platform(&self) -> Result<Platform, ParsePlatformError> {
        Platform::from_parts(&self.os, &self.architecture, self.variant.as_deref())
    }

    /// Whether this is the `unknown/unknown` platform BuildKit gives attestation manifests.
    fn is_unknown(&self) -> bool {
        self.os == "unknown" && self.architecture == "unknown"
    }
}

/// `os/architecture[/variant]` as written (not normalised).
impl fmt::Display for PlatformJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = self.variant.as_deref().filter(|v| !v.is_empty()) {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// The platform fields of an image config (all optional there).
#[derive(Deserialize)]
struct ConfigPlatform {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
    #[serde(rename = "os.version", default)]
    os_version: Option<String>,
    #[serde(rename = "os.features", default)]
    os_features: Option<Vec<String>>,
    #[serde(default)]
    variant: Option<String>,
}

/// Enough of a manifest to tell an image from an index.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestProbe {
    #[serde(default)]
    schema_version: Option<u32>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
    #[serde(default)]
    config: Option<serde_json::Value>,
}

/// An index's bytes, parsed (`reference` names it in the error).
pub(crate) fn parse_index(raw: &[u8], reference: &str) -> Result<ImageIndex, RegistryError> {
    serde_json::from_slice(raw).map_err(|e| RegistryError::MalformedManifest {
        reference: reference.to_string(),
        message: format!("the index does not parse: {e}"),
    })
}

/// The media type of manifest bytes, and whether they are an index.
pub(crate) fn classify(raw: &[u8], reference: &str) -> Result<(String, bool), RegistryError> {
    let malformed = |message: String| RegistryError::MalformedManifest {
        reference: reference.to_string(),
        message,
    };
    let probe: ManifestProbe = serde_json::from_slice(raw)
        .map_err(|e| malformed(format!("the manifest is not valid json: {e}")))?;
    if probe.schema_version != Some(2) {
        return Err(malformed(format!(
            "schema version {:?} is not supported (only 2)",
            probe.schema_version
        )));
    }
    let media_type = match probe.media_type.filter(|m| !m.is_empty()) {
        Some(media_type) => media_type,
        None if probe.manifests.is_some() => media_types::OCI_INDEX.to_string(),
        None if probe.config.is_some() => media_types::OCI_MANIFEST.to_string(),
        None => return Err(malformed("it has no mediaType, config or manifests".into())),
    };
    match media_type.as_str() {
        media_types::DOCKER_LIST | media_types::OCI_INDEX => Ok((media_type, true)),
        media_types::DOCKER_MANIFEST | media_types::OCI_MANIFEST => Ok((media_type, false)),
        other => Err(malformed(format!(
            "media type {other} is neither an image manifest nor an index"
        ))),
    }
}

/// The platform an image manifest's config declares.
pub(crate) async fn config_platform(
    repository: &RemoteRepository,
    raw: &[u8],
    reference: &str,
) -> Result<PlatformJson, RegistryError> {
    let malformed = |message: String| RegistryError::MalformedManifest {
        reference: reference.to_string(),
        message,
    };
    let manifest: ImageManifest = serde_json::from_slice(raw)
        .map_err(|e| malformed(format!("the image manifest does not parse: {e}")))?;
    let config = repository
        .pull_small_blob(&manifest.config.digest, MAX_CONFIG_SIZE)
        .await?;
    if config.len() as u64 != manifest.config.size {
        return Err(malformed(format!(
            "its config is {} bytes, the manifest says {}",
            config.len(),
            manifest.config.size
        )));
    }
    let declared: ConfigPlatform = serde_json::from_slice(&config)
        .map_err(|e| malformed(format!("its config does not parse: {e}")))?;
    if declared.os.is_empty() || declared.architecture.is_empty() {
        return Err(malformed(format!(
            "its config ({}) declares no os/architecture, so it is not a runnable image",
            manifest.config.media_type
        )));
    }
    Ok(PlatformJson {
        architecture: declared.architecture,
        os: declared.os,
        os_version: declared.os_version.filter(|v| !v.is_empty()),
        os_features: declared.os_features.unwrap_or_default(),
        variant: declared.variant.filter(|v| !v.is_empty()),
    })
}

/// One image of a manifest list: a descriptor, its platform, and the manifest bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListEntry {
    /// `registry/repo:tag` as given, or `registry/repo@digest` for an image taken from an index.
    reference: String,
    /// The reference the user gave that this entry came from (what `--amend` reads again).
    source: String,
    media_type: String,
    digest: String,
    size: u64,
    /// The platform read from the image's config (or from the index that listed it).
    config_platform: PlatformJson,
    /// The platform set with `annotate`; it wins over the config's and survives `--amend`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    annotated_platform: Option<PlatformJson>,
    /// Descriptor annotations (kept from an index, e.g. attestation links).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
    /// The manifest, byte for byte (JSON is UTF-8).
    manifest: String,
}

impl ListEntry {
    /// The reference this entry is named by.
    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// The reference given to `create` that this entry came from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The entry's manifest media type.
    pub fn media_type(&self) -> &str {
        &self.media_type
    }

    /// The entry's manifest digest.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The size of the entry's manifest in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The platform the list publishes for this entry.
    pub fn platform(&self) -> &PlatformJson {
        self.annotated_platform
            .as_ref()
            .unwrap_or(&self.config_platform)
    }

    /// Whether `annotate` changed the platform.
    pub fn is_annotated(&self) -> bool {
        self.annotated_platform.is_some()
    }

    /// Descriptor annotations.
    pub fn annotations(&self) -> &BTreeMap<String, String> {
        &self.annotations
    }

    /// The manifest bytes, after checking they still hash to the entry's digest.
    pub fn manifest_bytes(&self) -> Result<&[u8], RegistryError> {
        let bytes = self.manifest.as_bytes();
        let actual = sha256_digest(bytes);
        if actual != self.digest || bytes.len() as u64 != self.size {
            return Err(RegistryError::MalformedManifest {
                reference: self.reference.clone(),
                message: format!(
                    "the stored manifest has digest {actual} and {} bytes, the entry says {} and {} (was the store edited?)",
                    bytes.len(),
                    self.digest,
                    self.size
                ),
            });
        }
        Ok(bytes)
    }

    fn descriptor(&self) -> Descriptor {
        Descriptor {
            media_type: self.media_type.clone(),
            digest: self.digest.clone(),
            size: self.size,
            platform: Some(self.platform().clone()),
            annotations: self.annotations.clone(),
        }
    }

    fn new(
        reference: String,
        source: String,
        media_type: String,
        digest: String,
        raw: &[u8],
        platform: PlatformJson,
        annotations: BTreeMap<String, String>,
    ) -> Result<Self, RegistryError> {
        let manifest =
            String::from_utf8(raw.to_vec()).map_err(|_| RegistryError::MalformedManifest {
                reference: reference.clone(),
                message: "the manifest is not UTF-8 text".to_string(),
            })?;
        Ok(Self {
            reference,
            source,
            media_type,
            digest,
            size: raw.len() as u64,
            config_platform: platform,
            annotated_platform: None,
            annotations,
            manifest,
        })
    }

    /// Applies a platform change (`mab manifest annotate`). The result must be a valid platform
    /// and an os/architecture pair that images exist for; fields that are given are stored in
    /// their normalised spelling (`aarch64` → `arm64`). A new architecture without a new variant
    /// drops the old variant (it belonged to the old architecture). `os_features` are added.
    pub fn annotate(&mut self, list: &str, change: &PlatformChange) -> Result<(), RegistryError> {
        let invalid = |message: String| RegistryError::InvalidPlatform {
            list: list.to_string(),
            image: self.reference.clone(),
            message,
        };
        let mut next = self.platform().clone();
        if let Some(os) = &change.os {
            next.os = os.trim().to_string();
        }
        if let Some(architecture) = &change.architecture {
            if architecture.trim() != next.architecture && change.variant.is_none() {
                next.variant = None;
            }
            next.architecture = architecture.trim().to_string();
        }
        if let Some(variant) = &change.variant {
            next.variant = Some(variant.trim().to_string()).filter(|v| !v.is_empty());
        }
        let platform = next.to_platform().map_err(|e| invalid(e.to_string()))?;
        if !platform.is_supported_pair() {
            return Err(invalid(format!(
                "{}/{} is not an os/architecture pair that images exist for",
                platform.os(),
                platform.architecture()
            )));
        }
        if change.os.is_some() {
            next.os = platform.os().to_string();
        }
        if change.architecture.is_some() {
            next.architecture = platform.architecture().to_string();
        }
        if change.variant.is_some() {
            next.variant = platform.variant().map(str::to_string);
        }
        if let Some(version) = &change.os_version {
            next.os_version = Some(version.trim().to_string()).filter(|v| !v.is_empty());
        }
        for feature in &change.os_features {
            let feature = feature.trim();
            if !feature.is_empty() && !next.os_features.iter().any(|f| f == feature) {
                next.os_features.push(feature.to_string());
            }
        }
        self.annotated_platform = Some(next);
        Ok(())
    }
}

/// What `mab manifest annotate` changes in an entry's platform; `None` keeps a field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlatformChange {
    /// The new os, if it changes.
    pub os: Option<String>,
    /// The new architecture, if it changes.
    pub architecture: Option<String>,
    /// The new variant, if it changes.
    pub variant: Option<String>,
    /// An empty string removes `os.version`.
    pub os_version: Option<String>,
    /// Added to `os.features` (each once).
    pub os_features: Vec<String>,
}

impl PlatformChange {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// An image read from a registry: its manifest as stored, and the list entries it stands for.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// The manifest or index bytes as stored.
    pub raw: Bytes,
    /// `sha256:…` of `raw`.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// Whether it is an index (or manifest list).
    pub is_index: bool,
    /// One entry for an image manifest; one per platform image for an index.
    pub entries: Vec<ListEntry>,
}

/// A manifest or index read from a registry, as stored.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    /// The bytes as stored.
    pub raw: Bytes,
    /// `sha256:…` of `raw` (checked).
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// Whether it is an index (or manifest list).
    pub is_index: bool,
}

/// Reads a manifest or index exactly as stored (not its children). An image that is not there is
/// [`RegistryError::ManifestNotFound`] naming it.
pub async fn fetch_manifest(
    client: &RegistryClient,
    image: &ImageReference,
) -> Result<FetchedManifest, RegistryError> {
    let repository = remote_of(image, client);
    let (raw, digest) = repository.pull_manifest_raw(image.tag_or_digest()).await?;
    let (media_type, is_index) = classify(&raw, &image.to_string())?;
    Ok(FetchedManifest {
        raw,
        digest,
        media_type,
        is_index,
    })
}

/// Reads `image` and the list entries it stands for: an image manifest gives one entry with the
/// platform its config declares; an index gives one entry per platform image it lists (each
/// manifest read and checked), leaving out `unknown/unknown` attestation manifests unless
/// `keep_attestations`.
pub async fn resolve_image(
    client: &RegistryClient,
    image: &ImageReference,
    keep_attestations: bool,
) -> Result<ResolvedImage, RegistryError> {
    let repository = remote_of(image, client);
    let reference = image.to_string();
    let (raw, digest) = repository.pull_manifest_raw(image.tag_or_digest()).await?;
    let (media_type, is_index) = classify(&raw, &reference)?;
    let entries = if is_index {
        let index = parse_index(&raw, &reference)?;
        let wanted: Vec<Descriptor> = index
            .manifests
            .into_iter()
            .filter(|d| keep_attestations || !is_attestation(d))
            .collect();
        if wanted.is_empty() {
            return Err(RegistryError::NoPlatformImages { reference });
        }
        stream::iter(wanted)
            .map(|descriptor| index_child(&repository, image, descriptor))
            .buffered(CONCURRENCY)
            .try_collect()
            .await?
    } else {
        let platform = config_platform(&repository, &raw, &reference).await?;
        vec![ListEntry::new(
            reference.clone(),
            reference,
            media_type.clone(),
            digest.clone(),
            &raw,
            platform,
            BTreeMap::new(),
        )?]
    };
    Ok(ResolvedImage {
        raw,
        digest,
        media_type,
        is_index,
        entries,
    })
}

fn is_attestation(descriptor: &Descriptor) -> bool {
    descriptor
        .platform
        .as_ref()
        .is_some_and(PlatformJson::is_unknown)
        || descriptor
            .annotations
            .get(REFERENCE_TYPE_ANNOTATION)
            .is_some_and(|t| t == "attestation-manifest")
}

/// The entry for one manifest an index lists.
async fn index_child(
    repository: &RemoteRepository,
    index: &ImageReference,
    descriptor: Descriptor,
) -> Result<ListEntry, RegistryError> {
    let reference = format!("{}@{}", index.name(), descriptor.digest);
    let (raw, digest) = repository.pull_manifest_raw(&descriptor.digest).await?;
    let (media_type, is_index) = classify(&raw, &reference)?;
    if is_index {
        return Err(RegistryError::MalformedManifest {
            reference,
            message: format!("index {index} lists another index; nested indexes are not supported"),
        });
    }
    if raw.len() as u64 != descriptor.size {
        return Err(RegistryError::MalformedManifest {
            reference,
            message: format!(
                "the manifest is {} bytes, index {index} says {}",
                raw.len(),
                descriptor.size
            ),
        });
    }
    let platform = match descriptor.platform {
        Some(platform) => platform,
        None => config_platform(repository, &raw, &reference).await?,
    };
    ListEntry::new(
        reference,
        index.to_string(),
        media_type,
        digest,
        &raw,
        platform,
        descriptor.annotations,
    )
}

/// A manifest list kept locally until it is pushed: where it goes, in which format, how to reach
/// the registry, and its entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestList {
    /// The version of this document.
    mab_manifest_list: u32,
    /// The full reference the list is pushed to (`registry/repo:tag`).
    name: String,
    /// The media type of the index: a Docker manifest list or an OCI image index.
    media_type: String,
    /// Plain HTTP to the registry (remembered from `create --insecure`).
    #[serde(default)]
    insecure: bool,
    /// Attestation manifests of indexes are kept (remembered for `--amend`).
    #[serde(default)]
    keep_attestations: bool,
    /// Index-level annotations (OCI format only).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
    entries: Vec<ListEntry>,
}

impl ManifestList {
    /// An empty list to be pushed to `name`.
    pub fn new(name: &ImageReference, format: ManifestFormat) -> Self {
        Self {
            mab_manifest_list: LIST_DOCUMENT_VERSION,
            name: name.to_string(),
            media_type: format.index_media_type().to_string(),
            insecure: false,
            keep_attestations: false,
            annotations: BTreeMap::new(),
            entries: Vec::new(),
        }
    }

    /// The full reference the list is pushed to.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The reference the list is pushed to, parsed.
    pub fn reference(&self) -> Result<ImageReference, RegistryError> {
        parse_reference(&self.name)
    }

    /// The list's format (Docker manifest list or OCI index).
    pub fn format(&self) -> ManifestFormat {
        if self.media_type == media_types::DOCKER_LIST {
            ManifestFormat::Docker
        } else {
            ManifestFormat::Oci
        }
    }

    /// Sets the list's format.
    pub fn set_format(&mut self, format: ManifestFormat) {
        self.media_type = format.index_media_type().to_string();
    }

    /// The media type of the index the list becomes.
    pub fn media_type(&self) -> &str {
        &self.media_type
    }

    /// Whether the registry is spoken to over plain HTTP.
    pub fn insecure(&self) -> bool {
        self.insecure
    }

    /// Sets whether the registry is spoken to over plain HTTP.
    pub fn set_insecure(&mut self, insecure: bool) {
        self.insecure = insecure;
    }

    /// Whether attestation manifests of indexes are kept as entries.
    pub fn keep_attestations(&self) -> bool {
        self.keep_attestations
    }

    /// Sets whether attestation manifests of indexes are kept as entries.
    pub fn set_keep_attestations(&mut self, keep: bool) {
        self.keep_attestations = keep;
    }

    /// Index-level annotations.
    pub fn annotations(&self) -> &BTreeMap<String, String> {
        &self.annotations
    }

    /// Sets an index-level annotation.
    pub fn set_annotation(&mut self, key: &str, value: &str) {
        self.annotations.insert(key.to_string(), value.to_string());
    }

    /// The entries, in order.
    pub fn entries(&self) -> &[ListEntry] {
        &self.entries
    }

    /// The references given to `create` that the entries came from, each once, in order.
    pub fn sources(&self) -> Vec<String> {
        let mut sources: Vec<String> = Vec::new();
        for entry in &self.entries {
            if !sources.contains(&entry.source) {
                sources.push(entry.source.clone());
            }
        }
        sources
    }

    /// Puts the entries just read from `source` in the list: they replace that source's old
    /// entries (in place), or are added at the end. A platform set with `annotate` is kept for the
    /// new entry of the same config platform.
    pub fn put_entries(&mut self, source: &str, mut entries: Vec<ListEntry>) {
        for entry in &mut entries {
            let annotated = self
                .entries
                .iter()
                .find(|old| old.source == source && old.config_platform == entry.config_platform)
                .and_then(|old| old.annotated_platform.clone());
            entry.annotated_platform = annotated;
        }
        match self.entries.iter().position(|e| e.source == source) {
            Some(at) => {
                self.entries.retain(|e| e.source != source);
                let tail = self.entries.split_off(at.min(self.entries.len()));
                self.entries.extend(entries);
                self.entries.extend(tail);
            }
            None => self.entries.extend(entries),
        }
    }

    fn matching(&self, image: &ImageReference) -> Vec<usize> {
        let whole = image.to_string();
        let by = |pred: &dyn Fn(&ListEntry) -> bool| -> Vec<usize> {
            self.entries
                .iter()
                .enumerate()
                .filter(|(_, e)| pred(e))
                .map(|(i, _)| i)
                .collect()
        };
        let found = by(&|e| e.reference == whole);
        if !found.is_empty() {
            return found;
        }
        if let Some(digest) = image.digest() {
            let name = image.name();
            let found = by(&|e| {
                e.digest == digest
                    && ImageReference::parse(&e.reference).is_ok_and(|r| r.name() == name)
            });
            if !found.is_empty() {
                return found;
            }
        }
        by(&|e| e.source == whole)
    }

    fn entry_index(&self, image: &ImageReference) -> Result<usize, RegistryError> {
        match self.matching(image).as_slice() {
            [one] => Ok(*one),
            [] => Err(RegistryError::NotInList {
                list: self.name.clone(),
                image: image.to_string(),
                entries: if self.entries.is_empty() {
                    "none".to_string()
                } else {
                    self.entries
                        .iter()
                        .map(|e| e.reference.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            }),
            many => Err(RegistryError::AmbiguousEntry {
                list: self.name.clone(),
                image: image.to_string(),
                count: many.len(),
                candidates: many
                    .iter()
                    .map(|&i| {
                        format!(
                            "{} ({})",
                            self.entries[i].reference,
                            self.entries[i].platform()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// The entry for `image`: by reference, by digest, or by the reference it came from when
    /// that names exactly one entry.
    pub fn entry(&self, image: &ImageReference) -> Result<&ListEntry, RegistryError> {
        self.entry_index(image).map(|i| &self.entries[i])
    }

    /// The entry for `image`, to change it.
    pub fn entry_mut(&mut self, image: &ImageReference) -> Result<&mut ListEntry, RegistryError> {
        self.entry_index(image).map(|i| &mut self.entries[i])
    }

    /// The index document exactly as `push` stores it, and its digest.
    pub fn index_bytes(&self) -> Result<(Vec<u8>, String), RegistryError> {
        if self.entries.is_empty() {
            return Err(RegistryError::EmptyManifestList {
                list: self.name.clone(),
            });
        }
        let index = ImageIndex {
            schema_version: 2,
            media_type: self.media_type.clone(),
            manifests: self.entries.iter().map(ListEntry::descriptor).collect(),
            annotations: if self.format() == ManifestFormat::Oci {
                self.annotations.clone()
            } else {
                BTreeMap::new()
            },
        };
        let bytes = to_json_bytes(&index)?;
        let digest = sha256_digest(&bytes);
        Ok((bytes, digest))
    }
}

/// What `push_list` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedList {
    /// The index as stored.
    pub index: PublishedIndex,
    /// Blobs the registry mounted from another repository.
    pub blobs_mounted: usize,
    /// Blobs copied (streamed) from another repository.
    pub blobs_copied: usize,
    /// Manifests stored in the list's repository.
    pub manifests: usize,
}

/// Pushes a manifest list: every entry's blobs and manifest are put in the list's repository
/// (mounted, else copied, from the entry's repository of the same registry; skipped if there),
/// then the index is stored by digest, then tagged.
pub async fn push_list(
    client: &RegistryClient,
    list: &ManifestList,
) -> Result<PushedList, RegistryError> {
    let target_reference = list.reference()?;
    let (bytes, digest) = list.index_bytes()?;
    let mut sources = Vec::new();
    for entry in list.entries() {
        let source = parse_reference(entry.reference())?;
        if source.registry() != target_reference.registry() {
            return Err(RegistryError::CrossRegistry {
                list: list.name().to_string(),
                image: entry.reference().to_string(),
                list_registry: target_reference.registry().to_string(),
                image_registry: source.registry().to_string(),
            });
        }
        sources.push((entry, remote_of(&source, client)));
    }
    let target = remote_of(&target_reference, client);
    target.authenticate_for_push().await?;
    let copied: Vec<(usize, usize)> = stream::iter(sources)
        .map(|(entry, source)| {
            let target = &target;
            async move { put_entry(target, &source, entry).await }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    target
        .push_manifest(&digest, bytes.clone(), list.media_type())
        .await?;
    if let Some(tag) = target_reference.tag() {
        target
            .push_manifest(tag, bytes.clone(), list.media_type())
            .await?;
    }
    Ok(PushedList {
        index: PublishedIndex {
            digest,
            media_type: list.media_type().to_string(),
            size: bytes.len() as u64,
        },
        blobs_mounted: copied.iter().map(|c| c.0).sum(),
        blobs_copied: copied.iter().map(|c| c.1).sum(),
        manifests: list.entries().len(),
    })
}

/// Puts one entry's blobs (if it lives in another repository) and manifest in `target`; returns
/// (blobs mounted, blobs copied).
async fn put_entry(
    target: &RemoteRepository,
    source: &RemoteRepository,
    entry: &ListEntry,
) -> Result<(usize, usize), RegistryError> {
    let raw = entry.manifest_bytes()?;
    let (mut mounted, mut copied) = (0, 0);
    if source.path() != target.path() {
        let manifest: ImageManifest =
            serde_json::from_slice(raw).map_err(|e| RegistryError::MalformedManifest {
                reference: entry.reference().to_string(),
                message: format!("the image manifest does not parse: {e}"),
            })?;
        let blobs = std::iter::once(&manifest.config)
            .chain(&manifest.layers)
            .filter(|b| {
                !b.media_type.contains("foreign") && !b.media_type.contains("nondistributable")
            });
        for blob in blobs {
            if target.blob_exists(&blob.digest).await? {
                continue;
            }
            if target.mount_blob_from(source, &blob.digest).await? {
                mounted += 1;
            } else {
                target
                    .copy_blob_from(source, &blob.digest, blob.size)
                    .await?;
                copied += 1;
            }
        }
    }
    target
        .push_manifest(entry.digest(), raw.to_vec(), entry.media_type())
        .await?;
    Ok((mounted, copied))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform(os: &str, arch: &str, variant: Option<&str>) -> PlatformJson {
        PlatformJson {
            architecture: arch.to_string(),
            os: os.to_string(),
            os_version: None,
            os_features: Vec::new(),
            variant: variant.map(str::to_string),
        }
    }

    fn entry(reference: &str, source: &str, raw: &str, p: PlatformJson) -> ListEntry {
        ListEntry::new(
            reference.to_string(),
            source.to_string(),
            media_types::DOCKER_MANIFEST.to_string(),
            sha256_digest(raw.as_bytes()),
            raw.as_bytes(),
            p,
            BTreeMap::new(),
        )
        .unwrap()
    }

    fn list() -> ManifestList {
        let name = ImageReference::parse("127.0.0.1:5000/app:1").unwrap();
        let mut list = ManifestList::new(&name, ManifestFormat::Docker);
        let amd = "127.0.0.1:5000/app-src:amd64";
        let arm = "127.0.0.1:5000/app-src:arm64";
        list.put_entries(
            amd,
            vec![entry(
                amd,
                amd,
                "{\"a\":1}",
                platform("linux", "amd64", None),
            )],
        );
        list.put_entries(
            arm,
            vec![entry(
                arm,
                arm,
                "{\"a\":2}",
                platform("linux", "arm64", None),
            )],
        );
        list
    }

    fn image(text: &str) -> ImageReference {
        ImageReference::parse(text).unwrap()
    }

    #[test]
    fn references_are_normalised_like_docker() {
        assert_eq!(
            image("busybox").to_string(),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            image("127.0.0.1:5000/a/b").to_string(),
            "127.0.0.1:5000/a/b:latest"
        );
        assert!(ImageReference::parse("127.0.0.1:5000/UPPER").is_err());
    }

    #[test]
    fn annotate_sets_fields_and_validates_the_pair() {
        let mut list = list();
        let name = list.name().to_string();
        let arm = list
            .entry_mut(&image("127.0.0.1:5000/app-src:arm64"))
            .unwrap();
        arm.annotate(
            &name,
            &PlatformChange {
                variant: Some("8".into()),
                os_version: Some("5.10".into()),
                os_features: vec!["a".into(), "b".into(), "a".into()],
                ..Default::default()
            },
        )
        .unwrap();
        let p = arm.platform().clone();
        assert_eq!(p.variant.as_deref(), Some("v8"));
        assert_eq!(p.os_version.as_deref(), Some("5.10"));
        assert_eq!(p.os_features, vec!["a", "b"]);
        assert_eq!(p.to_string(), "linux/arm64/v8");

        // --arch alone: the pair with the entry's os must be one images exist for.
        let before = arm.clone();
        let err = arm
            .annotate(
                &name,
                &PlatformChange {
                    architecture: Some("wasm".into()),
                    ..Default::default()
                },
            )
            .unwrap_err()
            .to_string();
        assert!(err.contains("linux/wasm"), "{err}");
        assert!(err.contains("127.0.0.1:5000/app-src:arm64"), "{err}");
        assert!(err.contains("127.0.0.1:5000/app:1"), "{err}");
        assert_eq!(arm, &before, "a refused change changes nothing");

        // Unknown names are refused with the accepted forms.
        let err = arm
            .annotate(
                &name,
                &PlatformChange {
                    os: Some("lunix".into()),
                    ..Default::default()
                },
            )
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown os"), "{err}");

        // A new architecture drops the old variant; aliases are normalised.
        arm.annotate(
            &name,
            &PlatformChange {
                architecture: Some("x86_64".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(arm.platform().to_string(), "linux/amd64");
        // The config's platform is still there underneath.
        assert_eq!(arm.config_platform.to_string(), "linux/arm64");
    }

    #[test]
    fn amend_keeps_annotations_and_replaces_in_place() {
        let mut list = list();
        let name = list.name().to_string();
        let amd = "127.0.0.1:5000/app-src:amd64";
        list.entry_mut(&image(amd))
            .unwrap()
            .annotate(
                &name,
                &PlatformChange {
                    os_version: Some("1".into()),
                    ..Default::default()
                },
            )
            .unwrap();
        // The image was re-pushed: a new digest for the same source.
        list.put_entries(
            amd,
            vec![entry(
                amd,
                amd,
                "{\"a\":3}",
                platform("linux", "amd64", None),
            )],
        );
        assert_eq!(list.entries().len(), 2);
        assert_eq!(list.entries()[0].reference(), amd, "order is kept");
        assert_eq!(list.entries()[0].digest(), sha256_digest(b"{\"a\":3}"));
        assert_eq!(
            list.entries()[0].platform().os_version.as_deref(),
            Some("1")
        );
    }

    #[test]
    fn entries_are_found_by_reference_digest_or_source() {
        let mut list = list();
        let index = "127.0.0.1:5000/multi:1";
        let child = |raw: &str, arch: &str| {
            let reference = format!("127.0.0.1:5000/multi@{}", sha256_digest(raw.as_bytes()));
            entry(&reference, index, raw, platform("linux", arch, None))
        };
        let a = child("{\"b\":1}", "amd64");
        let b = child("{\"b\":2}", "arm64");
        let digest_a = a.digest().to_string();
        list.put_entries(index, vec![a, b]);
        assert!(list.entry(&image("127.0.0.1:5000/app-src:amd64")).is_ok());
        assert!(list.entry(&image("127.0.0.1:5000/app-src")).is_err());
        let by_digest = format!("127.0.0.1:5000/multi@{digest_a}");
        assert_eq!(list.entry(&image(&by_digest)).unwrap().digest(), digest_a);
        let err = list.entry(&image(index)).unwrap_err().to_string();
        assert!(err.contains("names 2 entries"), "{err}");
        let err = list
            .entry(&image("127.0.0.1:5000/other:1"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("has no entry for 127.0.0.1:5000/other:1"),
            "{err}"
        );
    }

    #[test]
    fn index_bytes_follow_the_format() {
        let mut list = list();
        list.set_annotation("org.opencontainers.image.source", "x");
        let (bytes, digest) = list.index_bytes().unwrap();
        assert_eq!(digest, sha256_digest(&bytes));
        let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(doc["mediaType"], media_types::DOCKER_LIST);
        assert!(doc.get("annotations").is_none(), "a docker list has none");
        assert_eq!(doc["manifests"][1]["platform"]["architecture"], "arm64");
        assert!(doc["manifests"][1]["platform"].get("variant").is_none());
        list.set_format(ManifestFormat::Oci);
        let (bytes, _) = list.index_bytes().unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(doc["mediaType"], media_types::OCI_INDEX);
        assert_eq!(doc["annotations"]["org.opencontainers.image.source"], "x");

        let empty = ManifestList::new(&image("127.0.0.1:5000/e:1"), ManifestFormat::Oci);
        let err = empty.index_bytes().unwrap_err().to_string();
        assert_eq!(err, "manifest list 127.0.0.1:5000/e:1 has no entries");
    }

    #[test]
    fn a_tampered_manifest_is_refused() {
        let mut list = list();
        let text = serde_json::to_string(&list).unwrap();
        let text = text.replace("{\\\"a\\\":1}", "{\\\"a\\\":9}");
        list = serde_json::from_str(&text).unwrap();
        let err = list.entries()[0].manifest_bytes().unwrap_err().to_string();
        assert!(err.contains("was the store edited"), "{err}");
    }

    #[test]
    fn media_types_are_told_apart() {
        let index = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert_eq!(
            classify(index, "x").unwrap(),
            (media_types::OCI_INDEX.to_string(), true)
        );
        let image = br#"{"schemaVersion":2,"config":{},"layers":[]}"#;
        assert_eq!(
            classify(image, "x").unwrap(),
            (media_types::OCI_MANIFEST.to_string(), false)
        );
        let v1 = br#"{"schemaVersion":1}"#;
        assert!(classify(v1, "x").is_err());
    }
}
