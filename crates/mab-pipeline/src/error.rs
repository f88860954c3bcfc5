//! The one error type of the pipeline.

use mab_build::BuildError;
use mab_registry::RegistryError;

/// Why a destination failed: a registry's error, or the local daemon's.
pub type DestinationError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a job, an image or the preparation of a run failed.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A secret or ssh agent of a build cannot be given to it (never names a value).
    #[error("{image} ({platform}): {message}")]
    BuildInput {
        /// The image, as the plan names it.
        image: String,
        /// The platform.
        platform: String,
        /// What is wrong.
        message: String,
    },

    /// An image was not built because an image it depends on failed.
    #[error("{image} was not built: it depends on {dependencies}, which failed")]
    DependencyFailed {
        /// The image, as the plan names it.
        image: String,
        /// The images that failed, comma-separated.
        dependencies: String,
    },

    /// A build failed for a reason that would fail it on any builder (a Dockerfile step, a
    /// missing file, a base image the registry lacks), or no builder could take it.
    #[error(transparent)]
    Build(Box<BuildError>),

    /// Every builder able to build a platform failed under the job.
    #[error(
        "the {platform} build of {image} failed on every builder that can build it; the last failure: {last}"
    )]
    BuildersExhausted {
        /// The platform.
        platform: String,
        /// The image, as the plan names it.
        image: String,
        /// The last builder failure, with its causes.
        last: String,
        /// Why no builder is left.
        #[source]
        source: Box<BuildError>,
    },

    /// A builder that may emulate a platform could not run its programs.
    #[error("{endpoint} cannot run {platform} programs (no emulation there)")]
    CannotEmulate {
        /// The builder's daemon endpoint.
        endpoint: String,
        /// The platform.
        platform: String,
        /// What the build said.
        #[source]
        source: Box<BuildError>,
    },

    /// Storing a platform's image in a destination failed.
    #[error("pushing the {platform} image of {destination}")]
    Push {
        /// The platform.
        platform: String,
        /// The destination (`registry/path`, an OCI layout, the local daemon).
        destination: String,
        /// Why.
        #[source]
        source: DestinationError,
    },

    /// A platform's image holds executables for another machine, and the run is strict.
    #[error(
        "the {platform} image of {image} holds executables for another machine (--strict):\n  {findings}"
    )]
    ForeignExecutables {
        /// The platform.
        platform: String,
        /// The image, as the plan names it.
        image: String,
        /// One line per foreign machine, joined.
        findings: String,
    },

    /// Publishing an image's index failed (no tag moved, or some did: the error says which).
    #[error("publishing the index of {destination}")]
    Publish {
        /// The destination.
        destination: String,
        /// Why.
        #[source]
        source: DestinationError,
    },

    /// A tag could not be read back after publishing.
    #[error("reading back {destination}:{tag}")]
    ReadBack {
        /// The destination.
        destination: String,
        /// The tag.
        tag: String,
        /// Why.
        #[source]
        source: DestinationError,
    },

    /// A tag read back after publishing did not check out.
    #[error("{destination}:{tag} failed verification after the push:\n  {problems}")]
    Verification {
        /// The destination.
        destination: String,
        /// The tag.
        tag: String,
        /// Every problem found, one per line.
        problems: String,
    },

    /// A registry's CA certificate named by the plan could not be read.
    #[error("reading ca_cert {path} of registry {registry}")]
    CaCertificate {
        /// The file.
        path: std::path::PathBuf,
        /// The registry (`host[:port]`).
        registry: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },

    /// The OCI image layout of the run could not be opened.
    #[error(transparent)]
    Layout(Box<RegistryError>),

    /// A destination cannot be written to (unreachable, credentials refused).
    #[error("cannot push to {destination}")]
    NotWritable {
        /// The destination.
        destination: String,
        /// Why.
        #[source]
        source: Box<RegistryError>,
    },

    /// A signing key named by the plan cannot be read.
    #[error("reading signing key {path}")]
    SigningKeyRead {
        /// The key file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },

    /// A signing key cannot be used (not a cosign key, or the password does not open it).
    #[error(
        "cannot use signing key {path}{}",
        if *password_set { "" } else { " (COSIGN_PASSWORD is not set)" }
    )]
    SigningKey {
        /// The key file.
        path: std::path::PathBuf,
        /// Whether `COSIGN_PASSWORD` was set.
        password_set: bool,
        /// Why (never the password).
        #[source]
        source: mab_sign::SignError,
    },

    /// An image is signed with a key the run was not given (see `signing_keys`).
    #[error("{image} is signed with {path}, which was not loaded for this run")]
    SigningKeyNotLoaded {
        /// The image, as the plan names it.
        image: String,
        /// The key file.
        path: std::path::PathBuf,
    },

    /// A file the provenance of an image records cannot be read.
    #[error("reading {path} for the provenance of {image}")]
    AttestationInput {
        /// The image, as the plan names it.
        image: String,
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },

    /// Storing the attestation manifest of a platform's image failed (no tag moved).
    #[error("storing the attestations of the {platform} image of {destination}")]
    Attest {
        /// The platform.
        platform: String,
        /// The destination.
        destination: String,
        /// Why.
        #[source]
        source: DestinationError,
    },

    /// `--load` of an image of several platforms none of which the local daemon runs natively
    /// (its image store holds one platform per tag).
    #[error(
        "--load: {image} has several platforms ({platforms}), and the docker daemon at \
         {endpoint} runs none of them natively ({native}): it holds one platform per tag; choose \
         one with --platform"
    )]
    NoPlatformToLoad {
        /// The image, as the plan names it.
        image: String,
        /// The local daemon's endpoint.
        endpoint: String,
        /// The daemon's own platform.
        native: String,
        /// The image's platforms, comma-separated.
        platforms: String,
    },

    /// What was asked of the plan does not fit it (an image that would have no platform).
    #[error(transparent)]
    Plan(Box<mab_plan::PlanError>),

    /// The local daemon does not hold what `--load` put there.
    #[error("the docker daemon at {endpoint}: {message}")]
    LocalImage {
        /// The local daemon's endpoint.
        endpoint: String,
        /// What is wrong.
        message: String,
    },
}

impl From<BuildError> for PipelineError {
    fn from(error: BuildError) -> Self {
        Self::Build(Box::new(error))
    }
}
