//! What the caller adds to every job of a run.

use mab_registry::{LayerCache, RetryPolicy};

/// Settings of one run that are not in the plan (the command line's, for `mab build`).
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Build every image without the daemon's build cache (as `no_cache: true` in the plan).
    pub no_cache: bool,
    /// Pull every base image for its platform even when the daemon has it (as `pull: true`).
    pub pull: bool,
    /// Fail an image whose platform image holds executables built for another machine, rather
    /// than warn about them.
    pub strict: bool,
    /// How many builds may run at once in all; `None`: only each builder's own limit.
    pub jobs: Option<usize>,
    /// Where compressed layers are remembered between runs; `None`: nothing is reused.
    pub layer_cache: Option<LayerCache>,
    /// Where the images of earlier builds are remembered by build key, so that a build whose
    /// inputs did not change is not run again while its daemon still has the image; `None`:
    /// every build runs.
    pub build_memo: Option<crate::BuildMemo>,
    /// How often a layer's upload, and a whole image push, are tried again after a passing
    /// registry failure.
    pub retry: RetryPolicy,
    /// How long storing one platform's image in one destination may take in all, retries
    /// included (`None`: no limit beyond each request's stall limit).
    pub push_limit: Option<std::time::Duration>,
    /// The plan's signing keys, decrypted (see [`crate::signing_keys`]).
    pub signing_keys: crate::SigningKeys,
    /// mab's version, as provenance and SBOMs record it.
    pub mab_version: String,
    /// Whether an engine that can push the image it builds (BuildKit on the containerd image
    /// store) pushes it, instead of mab reading it out with `docker save` and pushing it.
    pub engine_push: EnginePushMode,
    /// The daemons and registries where the engine's push failed, so that it is not asked
    /// again there (by default for the run only; [`EnginePushRefusals::new`] for longer).
    pub engine_push_refusals: crate::EnginePushRefusals,
}

#[cfg(doc)]
use crate::EnginePushRefusals;

/// Who uploads a built image's layers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EnginePushMode {
    /// mab reads every image out of its engine and pushes it (its layers are read: the platform
    /// lint and the SBOM see them; mab's retries and stall limits apply to every upload).
    Never,
    /// The engine pushes the images it can (BuildKit on the containerd image store, every
    /// destination a registry, no SBOM asked, not `--strict`), by digest, as it builds them;
    /// mab reads each manifest back (and, for the platform lint, the layers the layer cache
    /// does not know, within `mab_registry::READ_BACK_LAYER_LIMIT`) and assembles the index.
    /// The engine sends the compressed blobs its store holds: no `docker save`, no
    /// recompression. A push that fails or stalls falls back to mab's.
    #[default]
    WhenPossible,
}
