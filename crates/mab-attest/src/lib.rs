//! The in-toto statements mab attaches to each platform image it publishes: a SLSA provenance v1
//! statement (how the image was built: [`provenance`]) and an SPDX 2.3 document (what it holds:
//! [`sbom`]), both with the image's manifest digest as their subject, as bytes ready to store.
//!
//! A statement is split in what it says about the build or the image (deterministic: the same
//! inputs always give the same bytes) and when it was made; [`Statement::key`] is a digest of
//! the former, so a caller can keep a statement and reuse it, times and all, when a later run
//! would say the same (the index digest then stays the same).
//!
//! It must not know about registries, daemons or printing: it turns facts into JSON.

#![warn(missing_docs)]

mod provenance;
mod sbom;
mod statement;
mod time;

pub use provenance::{BaseImage, BuilderRun, FileInput, ProvenanceInput, provenance};
pub use sbom::{SBOM_GENERATOR, sbom};
pub use statement::{PREDICATE_PROVENANCE, PREDICATE_SPDX, STATEMENT_TYPE, Statement, Subject};
pub use time::rfc3339;
