//! Progress on stderr: indicatif bars on a terminal, one plain line per step otherwise (CI logs).

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressStyle};

/// Where progress goes.
pub struct Progress {
    bars: Option<MultiProgress>,
}

impl Progress {
    /// Bars when stderr is a terminal, plain lines otherwise.
    pub fn for_stderr() -> Arc<Self> {
        let bars = std::io::stderr().is_terminal().then(MultiProgress::new);
        Arc::new(Self { bars })
    }

    /// A line that stays (above the bars, if any).
    pub fn println(&self, line: &str) {
        match &self.bars {
            Some(bars) => {
                let _ = bars.println(line);
            }
            None => eprintln!("{line}"),
        }
    }

    /// Progress of one (image, platform) job.
    pub fn job(self: &Arc<Self>, label: String) -> JobProgress {
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
            progress: Arc::clone(self),
            label,
            bar,
            bytes_sent: AtomicU64::new(0),
            first_byte: std::sync::OnceLock::new(),
        }
    }
}

/// Progress of one (image, platform) job; implements the libraries' reporter traits.
pub struct JobProgress {
    progress: Arc<Progress>,
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
            None => eprintln!("{line}"),
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
}
