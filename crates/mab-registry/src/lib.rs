//! Puts images where users pull them from: registries and OCI image layouts.
//!
//! This crate turns a `docker save` stream (either the classic layout of Docker 20.10 or the OCI
//! layout that Docker 25+ writes) into content-addressed blobs and one image manifest per platform,
//! uploading every layer as a stream (never holding a layer in memory), and then assembles the
//! multi-platform index (an OCI image index or a Docker manifest list) and publishes it under each
//! tag, only after every child it names is stored. It also reads manifests back for inspection.
//!
//! Destinations are a registry repository (through `oci-client`, with credentials from the docker
//! config and credential helpers) or a folder holding an OCI image layout.
//!
//! It must not know about plans, Docker daemons or terminals: it takes byte streams and platforms,
//! and reports progress through [`PushReporter`].

#![warn(missing_docs)]

mod adopt;
mod archive;
mod artifact;
mod attestation;
mod bases;
mod cache;
mod elf;
mod error;
mod layout;
mod list;
mod manifest;
mod push;
mod read_back;
mod remote;
mod scan;
mod signature;
mod spill;
mod target;
mod verify;
mod verify_attestation;

pub use adopt::{AdoptSettings, adopt_manifest};
pub use archive::{ManifestOptions, PushedManifest, push_docker_archive};
pub use attestation::{
    ATTESTATION_MANIFEST, IN_TOTO_MEDIA_TYPE, PREDICATE_TYPE_ANNOTATION,
    REFERENCE_DIGEST_ANNOTATION, REFERENCE_TYPE_ANNOTATION, Statement, StoredAttestation,
    store_attestation,
};
pub use bases::BaseImages;
pub use cache::{CachedLayer, LayerCache};
pub use elf::ElfFiles;
pub use error::RegistryError;
pub use layout::OciLayout;
pub use list::{
    FetchedManifest, ListEntry, ManifestList, PlatformChange, PushedList, ResolvedImage,
    fetch_manifest, parse_reference, push_list, resolve_image,
};
pub use mab_vocab::ImageReference;
pub use manifest::{LayerCompression, ManifestFormat, PlatformJson, PublishedIndex, media_types};
pub use push::{ImageFacts, PushOutcome, PushSettings, push_image};
pub use read_back::{
    IMAGE_LIMIT as READ_BACK_IMAGE_LIMIT, LAYER_LIMIT as READ_BACK_LAYER_LIMIT,
    UNCOMPRESSED_LAYER_LIMIT as READ_BACK_UNCOMPRESSED_LAYER_LIMIT, Unread,
};
pub use remote::{DEFAULT_STALL_LIMIT, RegistryClient, RegistryOptions, RetryPolicy, StallLimits};
pub use scan::LayerFindings;
pub use signature::{
    ImageSignature, SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE, Signer, read_signatures,
    signature_tag,
};
pub use target::{
    IndexExtras, IndexOptions, NoReporter, PushReporter, Target, publish_index, publish_index_with,
};
pub use verify::{ParsedDocument, VerifiedImage, VerifyReport, parse_document, verify_image};
pub use verify_attestation::VerifiedAttestation;
