//! The builders a run builds on, as the pipeline sees them: a pool that leases a builder for a
//! platform, and the lease that builds and exports. [`FleetBuilders`] is the real pool
//! (`mab-build`'s [`Fleet`] of Docker daemons); tests use fakes.

use std::future::Future;
use std::sync::Arc;

use mab_build::{
    BaseResolver, BuildError, BuildReporter, BuildRequest, BuiltImage, Fit, Fleet, ImageExport,
    Lease,
};
use mab_platform::Platform;

/// Where jobs get a builder.
pub trait BuilderPool: Send + Sync {
    /// A job slot on one builder.
    type Lease: BuilderLease;

    /// Whether builders are named in messages and outcomes (the plan declares them).
    fn names_builders(&self) -> bool;

    /// Whether some usable builder can build `platform`; the error names every builder and why
    /// it cannot.
    fn check(&self, platform: &Platform) -> Result<Fit, BuildError>;

    /// Waits for a builder of `platform` (but those in `excluded`, which failed this job) and
    /// takes one of its job slots.
    fn acquire<'a>(
        &'a self,
        platform: &'a Platform,
        excluded: &'a [usize],
    ) -> impl Future<Output = Result<Self::Lease, BuildError>> + Send + 'a;

    /// After a builder failure under a job: whether the builder still answers; `Some(reason)`
    /// when it does not (it is then not used again).
    fn probe_after_failure<'a>(
        &'a self,
        lease: &'a Self::Lease,
    ) -> impl Future<Output = Option<String>> + Send + 'a;
}

/// One builder, leased for one job.
pub trait BuilderLease: Send + Sync {
    /// The builder's name.
    fn name(&self) -> &str;
    /// Its daemon's endpoint.
    fn endpoint(&self) -> &str;
    /// Its position in the pool (what `excluded` lists).
    fn index(&self) -> usize;
    /// How it builds the job's platform.
    fn fit(&self) -> Fit;
    /// Its engine's version (for provenance; empty when unknown).
    fn engine_version(&self) -> String {
        String::new()
    }

    /// Builds `request` there.
    fn build<'a>(
        &'a self,
        request: &'a BuildRequest,
        reporter: &'a dyn BuildReporter,
        bases: &'a dyn BaseResolver,
    ) -> impl Future<Output = Result<BuiltImage, BuildError>> + Send + 'a;

    /// A fresh `docker save` stream of an image it built.
    fn export(&self, image: &BuiltImage) -> ImageExport;

    /// Gives the job slot back (the build is done); the builder stays usable for the export.
    fn release_slot(&self);

    /// The key of `request`'s build there ([`mab_build::Daemon::build_key`]), its context
    /// folder's digest being `context`; `None`: it has none, or it could not be worked out
    /// (then the build runs and says what fails).
    fn build_key<'a>(
        &'a self,
        _request: &'a BuildRequest,
        _bases: &'a dyn BaseResolver,
        _context: &'a str,
    ) -> impl Future<Output = Option<String>> + Send + 'a {
        std::future::ready(None)
    }

    /// The image `image_id` an earlier build of `request` made there, if the builder still has
    /// it (of the request's platform).
    fn remembered<'a>(
        &'a self,
        _image_id: &'a str,
        _request: &'a BuildRequest,
    ) -> impl Future<Output = Option<BuiltImage>> + Send + 'a {
        std::future::ready(None)
    }
}

/// The builders of a run: a [`Fleet`] of Docker daemons.
pub struct FleetBuilders {
    /// The daemons.
    pub fleet: Arc<Fleet>,
    /// Whether the plan declared them (messages then name each builder).
    pub declared: bool,
}

impl BuilderPool for FleetBuilders {
    type Lease = Lease;

    fn names_builders(&self) -> bool {
        self.declared
    }

    fn check(&self, platform: &Platform) -> Result<Fit, BuildError> {
        self.fleet.check(platform)
    }

    fn acquire<'a>(
        &'a self,
        platform: &'a Platform,
        excluded: &'a [usize],
    ) -> impl Future<Output = Result<Lease, BuildError>> + Send + 'a {
        self.fleet.acquire(platform, excluded)
    }

    fn probe_after_failure<'a>(
        &'a self,
        lease: &'a Lease,
    ) -> impl Future<Output = Option<String>> + Send + 'a {
        self.fleet.probe_after_failure(lease)
    }
}

impl BuilderLease for Lease {
    fn name(&self) -> &str {
        Lease::name(self)
    }

    fn endpoint(&self) -> &str {
        self.daemon().endpoint()
    }

    fn index(&self) -> usize {
        Lease::index(self)
    }

    fn fit(&self) -> Fit {
        Lease::fit(self)
    }

    fn engine_version(&self) -> String {
        self.daemon().engine_version().to_string()
    }

    fn build<'a>(
        &'a self,
        request: &'a BuildRequest,
        reporter: &'a dyn BuildReporter,
        bases: &'a dyn BaseResolver,
    ) -> impl Future<Output = Result<BuiltImage, BuildError>> + Send + 'a {
        self.daemon().build(request, reporter, bases)
    }

    fn export(&self, image: &BuiltImage) -> ImageExport {
        self.daemon().export_built(image)
    }

    async fn build_key<'a>(
        &'a self,
        request: &'a BuildRequest,
        bases: &'a dyn BaseResolver,
        context: &'a str,
    ) -> Option<String> {
        self.daemon()
            .build_key(request, bases, context)
            .await
            .ok()
            .flatten()
    }

    async fn remembered<'a>(
        &'a self,
        image_id: &'a str,
        request: &'a BuildRequest,
    ) -> Option<BuiltImage> {
        self.daemon().remembered_image(image_id, request).await
    }

    fn release_slot(&self) {
        Lease::release_slot(self)
    }
}
