//! Manifest lists made from images already in a registry (`mab manifest`).
//!
//! Three jobs, all registry-side, one file each (plus `read.rs`, what they share: reading a
//! manifest's kind and an image config's platform): reading an image reference into list entries (an image
//! manifest gives one entry whose platform is read from its config, field for field as the docker
//! CLI does; an index gives one entry per platform image, attestations left out unless kept), the
//! list document that the CLI keeps in its local store ([`ManifestList`]), and pushing that list
//! (every blob and manifest that lives in another repository of the same registry is mounted or
//! copied into the list's repository first, then the index is stored by digest, then tagged).
//!
//! Reading an image reference into entries is `resolve.rs` (one entry is `entry.rs`), the list
//! document is `document.rs`, pushing it is `push.rs`.
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

mod document;
mod entry;
mod push;
mod read;
mod resolve;
#[cfg(test)]
mod tests;

pub use document::ManifestList;
pub use entry::{ListEntry, PlatformChange};
pub use push::{PushedList, push_list};
pub(crate) use read::{classify, config_platform, parse_index};
pub use resolve::{FetchedManifest, ResolvedImage, fetch_manifest, resolve_image};
