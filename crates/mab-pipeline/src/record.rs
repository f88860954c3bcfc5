//! What a build used, recorded as it happens for its provenance: each base image the build
//! resolved (by digest when its registry said, and the image id the daemon built from). It
//! stands between the build and the run's [`BaseResolver`] and the job's [`BuildReporter`],
//! passing everything on.

use std::collections::BTreeMap;
use std::sync::Mutex;

use futures::future::BoxFuture;
use mab_attest::BaseImage;
use mab_build::{BaseResolver, BuildReporter};
use mab_platform::Platform;

/// Records the bases of one build.
pub(crate) struct BaseRecorder<'a> {
    reporter: &'a dyn BuildReporter,
    bases: &'a dyn BaseResolver,
    seen: Mutex<BTreeMap<String, BaseImage>>,
    steps_done: Option<&'a (dyn Fn() + Send + Sync)>,
}

impl<'a> BaseRecorder<'a> {
    pub(crate) fn new(reporter: &'a dyn BuildReporter, bases: &'a dyn BaseResolver) -> Self {
        Self {
            reporter,
            bases,
            seen: Mutex::new(BTreeMap::new()),
            steps_done: None,
        }
    }

    /// Also calls `then` when the build says its steps are done.
    pub(crate) fn on_steps_done(self, then: &'a (dyn Fn() + Send + Sync)) -> Self {
        Self {
            steps_done: Some(then),
            ..self
        }
    }

    /// The bases the build used (resolved to an image), by reference.
    pub(crate) fn into_bases(self) -> Vec<BaseImage> {
        self.seen
            .into_inner()
            .expect("the base record's lock")
            .into_values()
            .filter(|base| base.image_id.is_some() || base.by_digest.is_some())
            .collect()
    }

    fn note(&self, reference: &str, update: impl FnOnce(&mut BaseImage)) {
        let mut seen = self.seen.lock().expect("the base record's lock");
        let base = seen
            .entry(reference.to_string())
            .or_insert_with(|| BaseImage {
                reference: reference.to_string(),
                platform: String::new(),
                by_digest: None,
                image_id: None,
            });
        update(base);
    }
}

impl BuildReporter for BaseRecorder<'_> {
    fn line(&self, line: &str) {
        self.reporter.line(line);
    }

    fn base_resolved(&self, reference: &str, image_id: &str) {
        self.note(reference, |base| base.image_id = Some(image_id.to_string()));
        self.reporter.base_resolved(reference, image_id);
    }

    fn warning(&self, message: &str) {
        self.reporter.warning(message);
    }

    fn steps_done(&self) {
        if let Some(then) = self.steps_done {
            then();
        }
        self.reporter.steps_done();
    }
}

impl BaseResolver for BaseRecorder<'_> {
    fn platform_image<'b>(
        &'b self,
        reference: &'b str,
        platform: &'b Platform,
    ) -> BoxFuture<'b, Option<String>> {
        Box::pin(async move {
            let found = self.bases.platform_image(reference, platform).await;
            self.note(reference, |base| {
                base.platform = platform.to_string();
                base.by_digest = found.clone();
            });
            found
        })
    }
}
