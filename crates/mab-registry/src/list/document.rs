//! The list document the CLI keeps in its local store until the list is pushed.

use super::*;

/// A manifest list kept locally until it is pushed: where it goes, in which format, how to reach
/// the registry, and its entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestList {
    /// The version of this document.
    pub(super) mab_manifest_list: u32,
    /// The full reference the list is pushed to (`registry/repo:tag`).
    pub(super) name: String,
    /// The media type of the index: a Docker manifest list or an OCI image index.
    pub(super) media_type: String,
    /// Plain HTTP to the registry (remembered from `create --insecure`).
    #[serde(default)]
    pub(super) insecure: bool,
    /// Attestation manifests of indexes are kept (remembered for `--amend`).
    #[serde(default)]
    pub(super) keep_attestations: bool,
    /// Index-level annotations (OCI format only).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) annotations: BTreeMap<String, String>,
    pub(super) entries: Vec<ListEntry>,
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

    pub(super) fn matching(&self, image: &ImageReference) -> Vec<usize> {
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

    pub(super) fn entry_index(&self, image: &ImageReference) -> Result<usize, RegistryError> {
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
