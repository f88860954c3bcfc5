//! The mab build pipeline, as a library: given a validated [`mab_plan::Plan`], the builders to
//! build on and the destinations of every image, it runs every (image, platform) job, pushes each
//! result by digest, and publishes each image's index under its tags — only when every platform
//! of that image made it — then reads every tag back and verifies it.
//!
//! - Images run at the same time, except that an image waits for the images it `depends_on` to
//!   be published, and is not built if one of them failed ([`run`]).
//! - Each job takes a builder of the pool ([`BuilderPool`], implemented for `mab-build`'s fleet
//!   by [`FleetBuilders`]): when the builder fails under the job (daemon gone, connection lost,
//!   its export broken), the job runs again on another able builder; a failing Dockerfile does
//!   not.
//! - Each platform's image is exported from the builder that built it and pushed to every
//!   [`Destination`] of its image (implemented for `mab-registry`'s [`mab_registry::Target`]);
//!   builders need no registry credentials.
//! - When the plan asks, each platform's image gets an attestation manifest (SLSA provenance,
//!   SPDX SBOM: `attest.rs`) and the index is signed cosign's way (`sign.rs`); both are stored
//!   before any tag moves.
//! - No tag moves unless every platform of the image is stored; after the tags move, each is
//!   read back and the whole image checked.
//!
//! Progress goes to an [`Events`] implementation; the outcome ([`RunOutcome`]) says, per image,
//! what was published or why it failed. This crate prints nothing, parses no command line and
//! renders nothing: the CLI does. It knows `mab-build` and `mab-registry` (which do not know each
//! other) and wires them; it must not know about terminals, JSON or exit codes.

#![warn(missing_docs)]

mod attempt;
mod attest;
mod bases;
mod builders;
mod check;
mod contexts;
mod destination;
mod engine_refusals;
mod error;
mod events;
mod image;
mod inputs;
mod job;
mod lint;
mod local;
mod memo;
mod options;
mod outcome;
mod output;
mod publish;
mod record;
mod run_destination;
mod schedule;
mod select;
mod sign;

pub use bases::RegistryBases;
pub use builders::{BuilderLease, BuilderPool, FleetBuilders};
pub use check::unbuildable_platforms;
pub use destination::{Destination, EnginePushTarget, Pushed, StoredImage};
pub use engine_refusals::EnginePushRefusals;
pub use error::{DestinationError, PipelineError};
pub use events::{Events, JobEvent, JobEvents, JobFailure, Notice, Placement};
pub use inputs::check_build_inputs;
pub use lint::foreign_executables;
pub use local::{LoadedImage, LocalDaemon, local_destinations};
pub use memo::BuildMemo;
pub use options::{EnginePushMode, RunOptions};
pub use outcome::{Failure, ImageOutcome, PublishedImage, PublishedPlatform, RunOutcome};
pub use output::{Output, check_writable, destinations, registry_options};
pub use run_destination::{RunDestination, RunStored, run_destinations};
pub use schedule::run;
pub use select::{DependencyChoice, DependencyState, RunPlan, select_run};
pub use sign::{SigningKeys, signing_keys};
