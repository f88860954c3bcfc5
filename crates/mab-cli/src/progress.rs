//! Progress on stderr: indicatif bars on a terminal, one plain line per step otherwise (CI logs);
//! `--progress tty|plain|quiet` chooses instead of the terminal test.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use mab_build::{Fit, error_chain};
use mab_pipeline::{Events, JobEvent, JobEvents, JobFailure, Notice, Placement};
use mab_plan::ImageSpec;
use mab_platform::Platform;

/// How progress is shown (`--progress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ProgressMode {
    /// Bars when stderr is a terminal, plain lines otherwise.
    #[default]
    Auto,
    /// Bars, even when stderr is not a terminal.
    Tty,
    /// One plain line per step, even on a terminal.
    Plain,
    /// No progress: only warnings, errors and the results.
    Quiet,
}

/// Where progress goes; cheap to clone.
#[derive(Clone)]
pub struct Progress {
    bars: Option<MultiProgress>,
    quiet: bool,
}

impl Progress {
    /// Progress on stderr as `mode` says.
    pub fn new(mode: ProgressMode) -> Self {
        let bars = match mode {
            ProgressMode::Auto => std::io::stderr().is_terminal().then(MultiProgress::new),
            ProgressMode::Tty => Some(MultiProgress::with_draw_target(
                ProgressDrawTarget::term_like_with_hz(Box::new(console::Term::stderr()), 20),
            )),
            ProgressMode::Plain | ProgressMode::Quiet => None,
        };
        Self {
            bars,
            quiet: mode == ProgressMode::Quiet,
        }
    }

    /// A line that stays (above the bars, if any). Quiet progress keeps only warnings and
    /// errors.
    pub fn println(&self, line: &str) {
        if self.quiet && !(line.starts_with("error") || line.starts_with("warning")) {
            return;
        }
        self.print(line);
    }

    /// A line that stays, whatever the mode (a result the user asked for).
    pub fn print(&self, line: &str) {
        match &self.bars {
            Some(bars) => {
                let _ = bars.println(line);
            }
            None => eprintln!("{line}"),
        }
    }

    /// Progress of one (image, platform) job.
    pub fn job(&self, label: String) -> JobProgress {
        let bar = self.bars.as_ref().map(|bars| {
            let bar = bars.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix:.bold} {wide_msg}")
                    .expect("the template is valid"),
            );
            bar.set_prefix(label.clone());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        JobProgress {
            progress: self.clone(),
            label,
            bar,
            bytes_sent: AtomicU64::new(0),
            first_byte: std::sync::OnceLock::new(),
        }
    }
}

/// Progress of one (image, platform) job; implements the libraries' reporter traits.
pub struct JobProgress {
    progress: Progress,
    label: String,
    bar: Option<ProgressBar>,
    bytes_sent: AtomicU64,
    /// When the first layer byte was sent (for the upload rate).
    first_byte: std::sync::OnceLock<std::time::Instant>,
}

impl JobProgress {
    /// A step of the job (shown as the bar's message, or printed as a line).
    pub fn step(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(text.to_string()),
            None if self.progress.quiet => {}
            None => eprintln!("[{}] {text}", self.label),
        }
    }

    /// The job is over: the bar is replaced by a final line.
    pub fn finish(&self, text: &str) {
        let line = format!("[{}] {text}", self.label);
        match &self.bar {
            Some(bar) => {
                bar.finish_and_clear();
                self.progress.println(&line);
            }
            None => self.progress.println(&line),
        }
    }

    /// Bytes uploaded so far.
    pub fn bytes_sent(&self) -> u64 {
        self.bytes_sent.load(Ordering::Relaxed)
    }
}

impl mab_build::BuildReporter for JobProgress {
    fn line(&self, line: &str) {
        self.step(line.trim_end());
    }

    fn warning(&self, message: &str) {
        self.progress
            .println(&format!("warning: [{}] {message}", self.label));
    }

    fn base_resolved(&self, reference: &str, image_id: &str) {
        let short = image_id.trim_start_matches("sha256:");
        let short = &short[..short.len().min(12)];
        self.step(&format!(
            "base image {reference} is {short} for this platform"
        ));
    }
}

impl mab_registry::PushReporter for JobProgress {
    fn bytes_sent(&self, bytes: u64) {
        let total = self.bytes_sent.fetch_add(bytes, Ordering::Relaxed) + bytes;
        let since = *self.first_byte.get_or_init(std::time::Instant::now);
        if let Some(bar) = &self.bar {
            let seconds = since.elapsed().as_secs_f64();
            let rate = if seconds > 0.2 {
                format!(" at {}/s", HumanBytes((total as f64 / seconds) as u64))
            } else {
                String::new()
            };
            bar.set_message(format!("pushing: {} sent{rate}", HumanBytes(total)));
        }
    }

    fn blob_stored(&self, digest: &str, size: u64, already_present: bool) {
        let what = if already_present {
            "already present"
        } else {
            "stored"
        };
        let line = format!("blob {digest} ({}) {what}", HumanBytes(size));
        if self.bar.is_none() {
            self.step(&line);
        }
    }

    fn layers_not_read(&self, unread: mab_registry::Unread) {
        self.step(&format!(
            "platform lint: {} layer(s) ({}) the engine pushed were not read back (over {} \
             compressed or {} uncompressed each, past {} in all, or unreadable); \
             --no-engine-push reads every layer",
            unread.layers,
            HumanBytes(unread.bytes),
            HumanBytes(mab_registry::READ_BACK_LAYER_LIMIT),
            HumanBytes(mab_registry::READ_BACK_UNCOMPRESSED_LAYER_LIMIT),
            HumanBytes(mab_registry::READ_BACK_IMAGE_LIMIT),
        ));
    }

    fn retrying(&self, what: &str, error: &mab_registry::RegistryError) {
        if self.bar.is_none() {
            self.step(&format!(
                "pushing {what} failed for a passing reason (tried again while tries and the \
                 push limit allow): {}",
                mab_build::error_chain(error)
            ));
        }
    }
}

/// The run's progress, as the pipeline reports it.
impl Events for Progress {
    type Job = JobProgress;

    fn job(&self, image: &ImageSpec, platform: &Platform) -> JobProgress {
        Progress::job(self, format!("{} {platform}", image.repository()))
    }

    fn notice(&self, notice: Notice<'_>) {
        let line = match notice {
            Notice::BuilderFailed {
                image,
                platform,
                builder,
                endpoint,
                lost,
                error,
            } => format!(
                "warning: [{} {platform}] builder {builder} ({endpoint}) failed under the job{}: \
                 {}; trying another builder",
                image.repository(),
                if lost { " and is no longer used" } else { "" },
                error_chain(error)
            ),
            Notice::ForeignExecutables {
                image,
                platform,
                findings,
            } => findings
                .iter()
                .map(|line| format!("warning: [{} {platform}] {line}", image.repository()))
                .collect::<Vec<_>>()
                .join("\n"),
            Notice::Published {
                repository,
                digest,
                tags,
            } => format!("[{repository}] published {digest} as {}", tags.join(", ")),
            Notice::Loaded {
                repository,
                tags,
                image_id,
                platform,
            } => format!(
                "[{repository}] loaded {} into the docker daemon as {} ({image_id})",
                platform.map_or_else(|| "every platform".to_string(), |p| p.to_string()),
                tags.iter()
                    .map(|tag| format!("{repository}:{tag}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Notice::DigestsDiffer { image, digests } => format!(
                "warning: {}: the repositories got different index digests ({}); the same \
                 image was exported differently for each",
                image.label(),
                digests
                    .iter()
                    .map(|(repository, digest)| format!("{repository} {digest}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        self.println(&line);
    }
}

impl JobEvents for JobProgress {
    fn event(&self, event: JobEvent<'_>) {
        match event {
            JobEvent::Building(placement) => {
                self.step(&format!("building{}", describe_placement(placement)))
            }
            JobEvent::Built { image_id } => self.step(&format!("built {image_id}")),
            JobEvent::Stored {
                digest,
                pushed: false,
                seconds,
                placement,
                ..
            } => self.finish(&format!(
                "built {digest} in {seconds:.1}s{}; nothing pushed",
                describe_placement(placement)
            )),
            JobEvent::Stored {
                digest,
                by_engine: true,
                reused: true,
                seconds,
                placement,
                ..
            } => self.finish(&format!(
                "unchanged, reused {digest} (pushed by the engine in an earlier run) in \
                 {seconds:.1}s{}",
                describe_placement(placement)
            )),
            JobEvent::Stored {
                digest,
                by_engine: true,
                seconds,
                placement,
                ..
            } => self.finish(&format!(
                "pushed {digest} by the engine in {seconds:.1}s{}",
                describe_placement(placement)
            )),
            JobEvent::Stored {
                digest,
                reused,
                seconds,
                placement,
                ..
            } => self.finish(&format!(
                "{} {digest} ({} sent) in {seconds:.1}s{}",
                if reused {
                    "unchanged, reused"
                } else {
                    "pushed"
                },
                HumanBytes(self.bytes_sent()),
                describe_placement(placement)
            )),
            JobEvent::Failed(failure) => self.finish(match failure {
                JobFailure::NoBuilderLeft => "no builder left for this platform",
                JobFailure::BuildFailed => "build failed",
                JobFailure::PushFailed => "push failed",
                JobFailure::ForeignExecutables => "foreign executables (--strict)",
            }),
        }
    }
}

/// ` on NAME`, ` on NAME (emulated)`, ` (emulated)` or nothing.
fn describe_placement(placement: Placement<'_>) -> String {
    match (placement.builder, placement.fit) {
        (Some(name), Fit::Native) => format!(" on {name}"),
        (Some(name), fit) => format!(" on {name} ({})", fit.describe()),
        (None, Fit::Native) => String::new(),
        (None, fit) => format!(" ({})", fit.describe()),
    }
}
