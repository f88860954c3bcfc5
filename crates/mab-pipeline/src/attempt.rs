//! One attempt of a job on one builder: build there (holding the builder's job slot and the
//! run's, if any, until the build's steps are done), then export from that builder and store in
//! every destination (holding neither).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use futures::future::join_all;
use mab_attest::BaseImage;
use mab_build::{BuildError, BuildReporter as _, BuiltImage, Fit, ImageExport};
use mab_registry::{AdoptSettings, ImageFacts, PushSettings};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::SemaphorePermit;

use crate::job::PlatformJob;
use crate::memo::RememberedBuild;
use crate::record::BaseRecorder;
use crate::schedule::Run;
use crate::{
    BuilderLease, BuilderPool, Destination, Events, JobEvent, JobEvents, JobFailure, PipelineError,
    Placement,
};

/// How one attempt of a job failed.
pub(crate) enum Attempt {
    /// The builder failed (daemon gone, connection lost, export broken, cannot emulate): the
    /// job may succeed on another builder.
    Builder(PipelineError),
    /// The job failed (a Dockerfile step, a missing file, the registry): it would fail anywhere.
    Job(PipelineError),
}

/// What one successful attempt stored.
pub(crate) struct Stored<S> {
    /// What each destination stored, in order.
    pub stored: Vec<S>,
    /// Whether every destination already had it.
    pub reused: bool,
    /// The base images the build used.
    pub bases: Vec<BaseImage>,
    /// Whether the engine pushed it (as it built it) to every registry destination.
    pub by_engine: bool,
}

/// Builds `job` on `lease`'s builder and stores it in every destination.
pub(crate) async fn attempt<B, D, E>(
    job: &PlatformJob<'_, D, E::Job>,
    lease: &B::Lease,
    job_slot: Option<SemaphorePermit<'_>>,
    run: Run<'_, B, E>,
    placement: Placement<'_>,
) -> Result<Stored<D::Stored>, Attempt>
where
    B: BuilderPool,
    D: Destination,
    E: Events,
{
    let platform = job.platform;
    let events = &job.events;
    events.event(JobEvent::Building(placement));
    // The build slots are given back once the build's steps are done (its export started), or
    // at the latest once it is built: another job may build there while this one exports.
    let job_slot = std::sync::Mutex::new(job_slot);
    let release_slots = || {
        drop(
            job_slot
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .take(),
        );
        lease.release_slot();
    };
    let recorder = BaseRecorder::new(events, job.bases).on_steps_done(&release_slots);
    // Where this builder's engine failed to push before (this run or the last day), mab pushes.
    let daemon = format!("{} {}", lease.endpoint(), lease.engine_version());
    let refusals = &run.options.engine_push_refusals;
    let without_engine_push = refusals.without_refused_push(&daemon, &job.request);
    if let Some(push) = without_engine_push
        .as_ref()
        .and(job.request.engine_push.as_ref())
    {
        recorder.line(&format!(
            "the engine of this builder failed to push to {} before (remembered for a day): mab \
             pushes the image",
            push.repositories.join(", ")
        ));
    }
    let request = without_engine_push.as_ref().unwrap_or(&job.request);
    // An earlier run made this very build (the same build key) on this builder, and the image
    // is still there: building again could only give it back.
    let memo = run.options.build_memo.as_ref().filter(|_| job.memo);
    let context = match memo {
        Some(_) => run.contexts.digest(&request.context_dir).await,
        None => None,
    };
    let key = match &context {
        Some(context) => lease.build_key(request, &recorder, context).await,
        None => None,
    };
    let remembered_build = memo
        .zip(key.as_deref())
        .and_then(|(memo, key)| memo.image(key));
    let remembered = match &remembered_build {
        Some(build) => lease
            .remembered(&build.image_id, request)
            .await
            .map(|built| BuiltImage {
                // Then its manifest is read back from each registry below (one that does not
                // have it gets it pushed by mab).
                pushed_by_engine: build.pushed_by_engine,
                ..built
            }),
        None => None,
    };
    // An image remembered from an earlier run's engine push is not uploaded by this one.
    let from_memo = remembered.is_some();
    let built = match remembered {
        Some(built) => {
            recorder.line(&format!(
                "nothing changed since image {} was built here: not built again",
                short_id(&built.id)
            ));
            built
        }
        None => match lease.build(request, &recorder, &recorder).await {
            Ok(built) => {
                if built.engine_push_failed
                    && let Some(push) = &request.engine_push
                {
                    refusals.remember(&daemon, &push.repositories);
                }
                if let (Some(memo), Some(key)) = (memo, &key) {
                    memo.remember(
                        key,
                        &RememberedBuild {
                            image_id: built.id.clone(),
                            pushed_by_engine: built.pushed_by_engine,
                        },
                    );
                }
                built
            }
            Err(e) if e.is_builder_failure() => return Err(Attempt::Builder(e.into())),
            Err(e) if lease.fit() != Fit::Native && cannot_run_binaries(&e) => {
                return Err(Attempt::Builder(PipelineError::CannotEmulate {
                    endpoint: lease.endpoint().to_string(),
                    platform: platform.to_string(),
                    source: Box::new(e),
                }));
            }
            Err(e) => {
                events.event(JobEvent::Failed(JobFailure::BuildFailed));
                return Err(Attempt::Job(e.into()));
            }
        },
    };
    release_slots();
    events.event(JobEvent::Built {
        image_id: &built.id,
    });
    // One export per destination: `docker save` and the layer compression are deterministic,
    // so every repository gets the same blobs and manifest digests. A destination that already
    // has every blob of this image (a rerun with nothing changed) gets its manifest without
    // any export.
    let settings = PushSettings {
        manifest: job.manifest,
        cache: run.options.layer_cache.as_ref(),
        retry: run.options.retry,
        limit: run.options.push_limit,
    };
    let facts = ImageFacts {
        config_digest: &built.id,
        diff_ids: &built.diff_ids,
    };
    // Set when reading an export from the builder failed: then a failed push is the builder's.
    let export_broke = Arc::new(AtomicBool::new(false));
    let export = || -> ImageExport {
        Box::new(WatchedExport {
            inner: lease.export(&built),
            broke: Arc::clone(&export_broke),
        })
    };
    // The engine pushed it by digest as it built it: each destination reads its manifest back
    // (one that does not have it gets it pushed by mab).
    let built = &built;
    let adopted = AtomicUsize::new(0);
    let pushes = join_all(
        job.destinations
            .iter()
            .enumerate()
            .map(|(index, destination)| {
                let export = &export;
                let adopted = &adopted;
                let adopt = AdoptSettings {
                    manifest: job.manifest,
                    cache: run.options.layer_cache.as_ref(),
                    // What the layers hold is read once, from the first destination: the
                    // platform lint reads the first one's.
                    read_layers: index == 0,
                };
                async move {
                    if built.pushed_by_engine {
                        match destination
                            .adopt(platform, &built.id, facts, adopt, events)
                            .await
                        {
                            Ok(Some(mut pushed)) => {
                                adopted.fetch_add(1, Ordering::Relaxed);
                                pushed.reused = from_memo;
                                return Ok(pushed);
                            }
                            Ok(None) => {}
                            Err(source) => {
                                return Err(PipelineError::Push {
                                    platform: platform.to_string(),
                                    destination: destination.describe(),
                                    source: source.into(),
                                });
                            }
                        }
                    }
                    destination
                        .push(platform, export, facts, settings, events)
                        .await
                        .map_err(|source| PipelineError::Push {
                            platform: platform.to_string(),
                            destination: destination.describe(),
                            source: source.into(),
                        })
                }
            }),
    )
    .await;
    // Reused: every registry (or layout) already had it. The local daemon does not count: an
    // image loaded there is not an upload.
    let mut stores = pushes
        .iter()
        .zip(job.destinations)
        .filter(|(_, destination)| !destination.is_local_daemon())
        .peekable();
    let reused = stores.peek().is_some()
        && stores.all(|(p, _)| p.as_ref().is_ok_and(|pushed| pushed.reused));
    match pushes.into_iter().collect::<Result<Vec<_>, _>>() {
        Ok(pushed) => Ok(Stored {
            by_engine: adopted.into_inner() == pushed.len() && !pushed.is_empty(),
            stored: pushed.into_iter().map(|p| p.stored).collect(),
            reused,
            bases: recorder.into_bases(),
        }),
        Err(e) if export_broke.load(Ordering::Relaxed) => Err(Attempt::Builder(e)),
        Err(e) => {
            events.event(JobEvent::Failed(JobFailure::PushFailed));
            Err(Attempt::Job(e))
        }
    }
}

/// Whether a failed build says that the daemon could not run the platform's programs at all
/// (no QEMU handler for it there): a builder that only *may* emulate did not.
fn cannot_run_binaries(error: &BuildError) -> bool {
    matches!(error, BuildError::BuildFailed { message, .. } if message.contains("exec format error"))
}

/// A `docker save` stream that remembers whether reading it failed.
struct WatchedExport {
    inner: ImageExport,
    broke: Arc<AtomicBool>,
}

impl AsyncRead for WatchedExport {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Err(_)) = &polled {
            self.broke.store(true, Ordering::Relaxed);
        }
        polled
    }
}

/// The first 12 hex digits of an image id, as `docker images` shows it.
fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.get(..12).unwrap_or(hex)
}
