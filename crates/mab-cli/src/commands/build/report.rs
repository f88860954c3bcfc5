//! What `mab build` reports at the end: the errors, the final table and the published
//! references on the terminal, the `--json` document, and the same for CI (`--metadata-file`,
//! GitHub Actions' outputs, summary and annotations).

use std::time::Instant;

use mab_pipeline::{ImageOutcome, PublishedImage, RunOutcome};
use mab_plan::{ImageSpec, Plan};
use serde::Serialize;

use crate::ci::{GitHub, MetadataFile, SummaryRow, error_annotation, output_name};
use crate::exit::{FAILURE, SUCCESS};
use crate::progress::Progress;

/// The JSON document `--json` prints (and `--metadata-file` holds).
#[derive(Serialize, Default)]
pub(super) struct Report {
    images: Vec<ImageReport>,
    /// Images put into the local daemon (`--load`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    loaded: Vec<LoadedReport>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<ErrorReport>,
}

#[derive(Serialize)]
struct ImageReport {
    repository: String,
    tags: Vec<String>,
    digest: String,
    media_type: String,
    platforms: Vec<PlatformReport>,
}

#[derive(Serialize)]
struct PlatformReport {
    platform: String,
    digest: String,
    /// The builder that built it (when the plan declares builders).
    #[serde(skip_serializing_if = "Option::is_none")]
    builder: Option<String>,
    /// Built under emulation.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    emulated: bool,
    /// Size of its layers (compressed) and config, in bytes.
    size: u64,
    /// Seconds from the start of its build to its manifest stored.
    seconds: f64,
    /// Nothing changed: its blobs were already stored and nothing was uploaded.
    reused: bool,
}

/// An image in the local daemon.
#[derive(Serialize)]
struct LoadedReport {
    repository: String,
    tags: Vec<String>,
    /// The local image id.
    image_id: String,
    /// The platforms its tags hold: one on the classic image store, all on the containerd one.
    platforms: Vec<String>,
    /// Its size as the daemon counts it (unpacked), in bytes.
    size: u64,
    /// Seconds from the start of its build to the image loaded.
    seconds: f64,
}

#[derive(Serialize)]
struct ErrorReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    repository: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<String>,
    message: String,
}

impl From<PublishedImage> for ImageReport {
    fn from(image: PublishedImage) -> Self {
        Self {
            repository: image.repository,
            tags: image.tags,
            digest: image.digest,
            media_type: image.media_type,
            platforms: image
                .platforms
                .into_iter()
                .map(|p| PlatformReport {
                    platform: p.platform.to_string(),
                    digest: p.digest,
                    builder: p.builder,
                    emulated: p.emulated,
                    size: p.size,
                    seconds: p.seconds,
                    reused: p.reused,
                })
                .collect(),
        }
    }
}

/// Where the results go besides the terminal.
pub(super) struct Sinks {
    pub json: bool,
    pub metadata: Option<MetadataFile>,
    pub github: Option<GitHub>,
    /// The heading of the GitHub job summary.
    pub title: String,
}

impl Sinks {
    /// The run failed before anything was built: the metadata file and GitHub still hear it.
    pub(super) fn failed(self, message: &str) -> anyhow::Result<()> {
        let report = Report {
            errors: vec![ErrorReport {
                repository: None,
                platform: None,
                message: message.trim_start_matches("error: ").to_string(),
            }],
            ..Report::default()
        };
        if self.github.is_some() {
            eprintln!("{}", error_annotation(None, &report.errors[0].message));
        }
        self.finish(&report, &[], &[], &[])
    }

    /// Writes the document to `--metadata-file` and GitHub's outputs and summary.
    fn finish(
        self,
        report: &Report,
        outputs: &[(String, String)],
        rows: &[SummaryRow],
        errors: &[String],
    ) -> anyhow::Result<()> {
        if let Some(metadata) = self.metadata {
            metadata.write(report)?;
        }
        if let Some(github) = &self.github {
            github.write_outputs(report, outputs)?;
            github.write_summary(&self.title, rows, errors)?;
        }
        Ok(())
    }
}

/// Prints the errors, the final table and the published references (or `--json`), writes the
/// CI files; the exit code.
pub(super) fn render_outcome(
    plan: &Plan,
    outcome: RunOutcome,
    progress: &Progress,
    started: Instant,
    sinks: Sinks,
) -> anyhow::Result<u8> {
    let mut report = Report::default();
    let mut outputs = Vec::new();
    let mut published = 0;
    let mut error_lines = Vec::new();
    for ImageOutcome { index, result } in outcome.images {
        let image = &plan.images()[index];
        match result {
            Ok(images) => {
                published += 1;
                if let Some(first) = images.iter().find(|i| !i.loaded) {
                    outputs.push((
                        format!("{}-digest", output_key(plan, image)),
                        first.digest.clone(),
                    ));
                    if plan.images().len() == 1 {
                        outputs.push(("digest".to_string(), first.digest.clone()));
                    }
                }
                for published in images {
                    if published.loaded {
                        report.loaded.push(loaded_report(published));
                    } else {
                        report.images.push(ImageReport::from(published));
                    }
                }
            }
            Err(failures) => {
                for failure in failures {
                    let message = crate::exit::render_error(&anyhow::Error::new(failure.error));
                    // Each line says which image and platform failed.
                    let shown = match &failure.platform {
                        Some(platform) => message.replacen(
                            "error: ",
                            &format!("error: [{} {platform}] ", image.repository()),
                            1,
                        ),
                        None => message.clone(),
                    };
                    progress.println(&shown);
                    let message = message.trim_start_matches("error: ").to_string();
                    if sinks.github.is_some() {
                        let title = match &failure.platform {
                            Some(platform) => format!("{} {platform}", image.repository()),
                            None => image.repository().to_string(),
                        };
                        eprintln!("{}", error_annotation(Some(&title), &message));
                    }
                    error_lines.push(shown.trim_start_matches("error: ").to_string());
                    report.errors.push(ErrorReport {
                        repository: Some(image.repository().to_string()),
                        platform: failure.platform.map(|p| p.to_string()),
                        message,
                    });
                }
                progress.println(&format!(
                    "error: {}: nothing was tagged (no index published)",
                    image.label()
                ));
            }
        }
    }
    let rows = summary_rows(&report);
    if !rows.is_empty() {
        progress.println(&summary_table(&rows));
    }
    let done = if report.images.is_empty() && !report.loaded.is_empty() {
        "built and loaded"
    } else {
        "published"
    };
    progress.println(&format!(
        "{published} of {} images {done} in {:.1}s",
        plan.images().len(),
        started.elapsed().as_secs_f64()
    ));
    if sinks.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for image in &report.images {
            for tag in &image.tags {
                println!("{}:{tag}@{}", image.repository, image.digest);
            }
        }
    }
    let code = if report.errors.is_empty() {
        SUCCESS
    } else {
        FAILURE
    };
    sinks.finish(&report, &outputs, &rows, &error_lines)?;
    Ok(code)
}

/// `NAME` of the image's `NAME-digest` output: its `name`, else the last part of its
/// repository; the whole repository path when two images of the plan would share it.
fn output_key(plan: &Plan, image: &ImageSpec) -> String {
    let short = |image: &ImageSpec| -> String {
        image.name().map(str::to_string).unwrap_or_else(|| {
            let path = image.repository().path();
            path.rsplit('/').next().unwrap_or(path).to_string()
        })
    };
    let key = short(image);
    let shared = plan.images().iter().filter(|i| short(i) == key).count() > 1;
    output_name(&if shared {
        image.repository().path().to_string()
    } else {
        key
    })
}

fn loaded_report(image: PublishedImage) -> LoadedReport {
    // One platform's image (the classic image store), or an index of them all.
    let held: Vec<&mab_pipeline::PublishedPlatform> =
        match image.platforms.iter().find(|p| p.digest == image.digest) {
            Some(one) => vec![one],
            None => image.platforms.iter().collect(),
        };
    LoadedReport {
        platforms: held.iter().map(|p| p.platform.to_string()).collect(),
        size: held.iter().map(|p| p.size).sum(),
        seconds: held.iter().map(|p| p.seconds).fold(0.0, f64::max),
        repository: image.repository,
        tags: image.tags,
        image_id: image.digest,
    }
}

/// One row per (repository, platform) published, and one per image loaded.
fn summary_rows(report: &Report) -> Vec<SummaryRow> {
    let mut rows = Vec::new();
    for image in &report.images {
        for platform in &image.platforms {
            let mut how = if platform.reused { "reused" } else { "built" }.to_string();
            if let Some(builder) = &platform.builder {
                how.push_str(&format!(" on {builder}"));
            }
            if platform.emulated {
                how.push_str(" (emulated)");
            }
            rows.push(SummaryRow {
                image: image.repository.clone(),
                platform: platform.platform.clone(),
                digest: short_digest(&platform.digest),
                size: indicatif::HumanBytes(platform.size).to_string(),
                time: format!("{:.1}s", platform.seconds),
                how,
            });
        }
    }
    for loaded in &report.loaded {
        rows.push(SummaryRow {
            image: loaded.repository.clone(),
            platform: loaded.platforms.join(", "),
            digest: short_digest(&loaded.image_id),
            size: indicatif::HumanBytes(loaded.size).to_string(),
            time: format!("{:.1}s", loaded.seconds),
            how: "loaded".to_string(),
        });
    }
    rows
}

fn short_digest(digest: &str) -> String {
    let hex = digest.trim_start_matches("sha256:");
    format!("sha256:{}", &hex[..hex.len().min(12)])
}

/// The final table: one line per row, columns aligned.
fn summary_table(rows: &[SummaryRow]) -> String {
    let mut cells = vec![[
        "image".to_string(),
        "platform".to_string(),
        "digest".to_string(),
        "size".to_string(),
        "time".to_string(),
        "".to_string(),
    ]];
    for row in rows {
        cells.push([
            row.image.clone(),
            row.platform.clone(),
            row.digest.clone(),
            row.size.clone(),
            row.time.clone(),
            row.how.clone(),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|column| cells.iter().map(|row| row[column].len()).max().unwrap_or(0))
        .collect();
    cells
        .iter()
        .map(|row| {
            row.iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}
