//! The words every mab crate shares, each defined once: the manifest formats and layer
//! compressions an image is published in, with their media types ([`media`]); repositories and
//! image references, normalised as Docker does ([`Repository`], [`ImageReference`]); the docker
//! config's name for a registry ([`docker_config_key`]); the daemon endpoints mab accepts
//! ([`check_endpoint`]); which builder of a Docker daemon builds
//! ([`BuilderKind`]); durations such as `90s` or `5m` ([`parse_duration`]); `sha256:` digests
//! ([`sha256_hex`]).
//!
//! The plan reads these words, the build driver and the registry layer act on them; defining
//! them here keeps the three from depending on each other for them. This crate does no IO and
//! knows nothing of plans, daemons or registries beyond their names for things.

#![warn(missing_docs)]

mod builder;
mod digest;
mod duration;
mod endpoint;
mod image_reference;
pub mod media;
mod registry;
mod repository;

pub use builder::BuilderKind;
pub use digest::sha256_hex;
pub use duration::parse_duration;
pub use endpoint::{ACCEPTED_FORMS, check_endpoint, password_of, redacted};
pub use image_reference::{ImageReference, InvalidReference};
pub use media::{LayerCompression, ManifestFormat};
pub use registry::docker_config_key;
pub use repository::{InvalidRepository, Repository, check_registry};
