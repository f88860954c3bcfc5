//! The words every mab crate shares, each defined once: the manifest formats and layer
//! compressions an image is published in, with their media types ([`media`]); which builder
//! of a Docker daemon builds ([`BuilderKind`]).
//!
//! The plan reads these words, the build driver and the registry layer act on them; defining
//! them here keeps the three from depending on each other for them. This crate does no IO and
//! knows nothing of plans, daemons or registries beyond their names for things.

#![warn(missing_docs)]

mod builder;
pub mod media;

pub use builder::BuilderKind;
pub use media::{LayerCompression, ManifestFormat};
