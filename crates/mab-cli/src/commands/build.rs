//! `mab build PLAN`: build every (image, platform), push each result by digest to every
//! repository of the image, then publish each image's index under its tags — only when every
//! platform of that image made it. The pipeline itself is `mab-pipeline`; this command parses
//! the command line, connects the builders, renders progress and the outcome (the final table,
//! `--json`), and prints `--dry-run`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use mab_pipeline::{
    FleetBuilders, ImageOutcome, Output, PublishedImage, RegistryBases, RunOptions, RunOutcome,
};
use mab_plan::Plan;
use mab_registry::{LayerCache, RegistryClient, RetryPolicy};
use serde::Serialize;

use crate::cli::BuildArgs;
use crate::exit::{FAILURE, SUCCESS, UsageError};
use crate::progress::Progress;

/// `--output`: `oci:DIR`, or each image's own registry.
fn parse_output(value: Option<&str>) -> Result<Output, UsageError> {
    match value {
        None => Ok(Output::Registries),
        Some(text) => match text.strip_prefix("oci:") {
            Some(dir) if !dir.is_empty() => Ok(Output::Layout(PathBuf::from(dir))),
            _ => Err(UsageError(format!(
                "invalid --output {text:?}: the accepted form is oci:DIR (an OCI image layout folder)"
            ))),
        },
    }
}

/// The JSON document `--json` prints.
#[derive(Serialize)]
struct Report {
    images: Vec<ImageReport>,
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

#[derive(Serialize)]
struct ErrorReport {
    repository: String,
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

pub async fn run(args: BuildArgs) -> anyhow::Result<u8> {
    let plan = super::plan::load(&args.plan)?;
    let output = parse_output(args.output.as_deref())?;
    if args.jobs == Some(0) {
        return Err(UsageError("--jobs must be at least 1".to_string()).into());
    }
    let layer_cache = LayerCache::default_root().map(LayerCache::new);
    let mut options = RunOptions {
        no_cache: args.no_cache,
        pull: args.pull,
        strict: args.strict,
        jobs: args.jobs,
        layer_cache: layer_cache.clone(),
        retry: RetryPolicy::default(),
        signing_keys: Default::default(),
        mab_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    if args.dry_run {
        print_dry_run(&plan, &output, &options, args.json)?;
        return Ok(SUCCESS);
    }
    // Signing keys are opened before anything is built: a wrong password builds nothing.
    let password = std::env::var("COSIGN_PASSWORD").ok();
    options.signing_keys = mab_pipeline::signing_keys(&plan, password.as_deref())?;

    let progress = Progress::for_stderr();
    check_build_inputs(&plan, &progress)?;
    let builders = super::builders::connect(Some(&plan)).await?;
    super::builders::report(&builders, &progress)?;
    check_platforms(&plan, &builders, &progress)?;

    let registry_options = mab_pipeline::registry_options(&plan)?;
    let client = RegistryClient::new(&registry_options);
    let bases = RegistryBases::new(&registry_options, layer_cache);
    let destinations = mab_pipeline::destinations(&plan, &output, &client).await?;
    mab_pipeline::check_writable(&destinations).await?;

    let started = Instant::now();
    let outcome =
        mab_pipeline::run(&plan, &destinations, &builders, &bases, &options, &progress).await;
    render_outcome(&plan, outcome, &progress, started, args.json)
}

/// Prints the errors, the final table and the published references (or `--json`); the exit
/// code.
fn render_outcome(
    plan: &Plan,
    outcome: RunOutcome,
    progress: &Progress,
    started: Instant,
    json: bool,
) -> anyhow::Result<u8> {
    let mut report = Report {
        images: Vec::new(),
        errors: Vec::new(),
    };
    let mut published = 0;
    for ImageOutcome { index, result } in outcome.images {
        let image = &plan.images()[index];
        match result {
            Ok(images) => {
                published += 1;
                report
                    .images
                    .extend(images.into_iter().map(ImageReport::from));
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
                    report.errors.push(ErrorReport {
                        repository: image.repository().to_string(),
                        platform: failure.platform.map(|p| p.to_string()),
                        message: message.trim_start_matches("error: ").to_string(),
                    });
                }
                progress.println(&format!(
                    "error: {}: nothing was tagged (no index published)",
                    image.label()
                ));
            }
        }
    }
    if !report.images.is_empty() {
        progress.println(&summary_table(&report.images));
    }
    progress.println(&format!(
        "{published} of {} images published in {:.1}s",
        plan.images().len(),
        started.elapsed().as_secs_f64()
    ));
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for image in &report.images {
            for tag in &image.tags {
                println!("{}:{tag}@{}", image.repository, image.digest);
            }
        }
    }
    Ok(if report.errors.is_empty() {
        SUCCESS
    } else {
        FAILURE
    })
}

/// Checks before anything is built that every secret and ssh agent of the plan's builds can be
/// given (a missing variable is the user's to fix: exit code 2).
fn check_build_inputs(plan: &Plan, progress: &Progress) -> anyhow::Result<()> {
    let mut errors = mab_pipeline::check_build_inputs(plan);
    let Some(last) = errors.pop() else {
        return Ok(());
    };
    for error in errors {
        progress.println(&format!("error: {error}"));
    }
    Err(UsageError(format!(
        "{last}\nnothing was built and no index was published"
    ))
    .into())
}

/// Checks before anything is built that every platform of the plan has a builder that can
/// build it (natively or emulated); otherwise nothing is built and nothing is published.
fn check_platforms(
    plan: &Plan,
    builders: &FleetBuilders,
    progress: &Progress,
) -> anyhow::Result<()> {
    let mut errors = mab_pipeline::unbuildable_platforms(plan, builders);
    let Some(last) = errors.pop() else {
        return Ok(());
    };
    for error in errors {
        progress.println(&format!("error: {error}"));
    }
    Err(anyhow::anyhow!(
        "{last}\nnothing was built and no index was published"
    ))
}

/// The final table: one line per (repository, platform) published.
fn summary_table(images: &[ImageReport]) -> String {
    let mut rows = vec![[
        "image".to_string(),
        "platform".to_string(),
        "digest".to_string(),
        "size".to_string(),
        "time".to_string(),
        "".to_string(),
    ]];
    for image in images {
        for platform in &image.platforms {
            let digest = platform.digest.trim_start_matches("sha256:");
            let mut how = if platform.reused { "reused" } else { "built" }.to_string();
            if let Some(builder) = &platform.builder {
                how.push_str(&format!(" on {builder}"));
            }
            if platform.emulated {
                how.push_str(" (emulated)");
            }
            rows.push([
                image.repository.clone(),
                platform.platform.clone(),
                format!("sha256:{}", &digest[..digest.len().min(12)]),
                indicatif::HumanBytes(platform.size).to_string(),
                format!("{:.1}s", platform.seconds),
                how,
            ]);
        }
    }
    let widths: Vec<usize> = (0..6)
        .map(|column| rows.iter().map(|row| row[column].len()).max().unwrap_or(0))
        .collect();
    rows.iter()
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

/// `--dry-run`: the jobs in the order they would start (every image after those it depends
/// on), with resolved settings, tags and destinations.
fn print_dry_run(
    plan: &Plan,
    output: &Output,
    options: &RunOptions,
    json: bool,
) -> anyhow::Result<()> {
    #[derive(Serialize)]
    struct Job<'a> {
        repository: String,
        platform: String,
        context: &'a std::path::Path,
        dockerfile: &'a std::path::Path,
        #[serde(skip_serializing_if = "Option::is_none")]
        target: Option<&'a str>,
        build_args: &'a BTreeMap<String, String>,
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        labels: &'a BTreeMap<String, String>,
        no_cache: bool,
        pull: bool,
        tags: &'a [String],
        format: &'static str,
        #[serde(skip_serializing_if = "mab_plan::Annotations::is_empty")]
        annotations: &'a mab_plan::Annotations,
        destination: String,
        destinations: Vec<String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        after: Vec<String>,
    }
    let mut jobs: Vec<Job> = Vec::new();
    for (_, image) in plan.images_in_order() {
        let destinations: Vec<String> = match output {
            Output::Registries => image.repositories().iter().map(|r| r.to_string()).collect(),
            Output::Layout(dir) => image
                .repositories()
                .iter()
                .map(|r| format!("oci:{} ({r})", dir.display()))
                .collect(),
        };
        let after: Vec<String> = image
            .depends_on()
            .iter()
            .map(|&d| plan.images()[d].repository().to_string())
            .collect();
        for (platform, settings) in image.builds() {
            jobs.push(Job {
                repository: image.repository().to_string(),
                platform: platform.to_string(),
                context: settings.context_dir(),
                dockerfile: settings.dockerfile(),
                target: settings.target(),
                build_args: settings.build_args(),
                labels: settings.labels(),
                no_cache: settings.no_cache() || options.no_cache,
                pull: settings.pull() || options.pull,
                tags: image.tags(),
                format: image.format().as_str(),
                annotations: image.annotations(),
                destination: destinations.join(", "),
                destinations: destinations.clone(),
                after: after.clone(),
            });
        }
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "jobs": jobs }))?
        );
        return Ok(());
    }
    let pairs = |map: &BTreeMap<String, String>| {
        map.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    for (n, job) in jobs.iter().enumerate() {
        let mut line = format!(
            "{}. build {} for {} from {} (context {})",
            n + 1,
            job.repository,
            job.platform,
            job.dockerfile.display(),
            job.context.display(),
        );
        if let Some(target) = job.target {
            line.push_str(&format!(" target {target}"));
        }
        if !job.build_args.is_empty() {
            line.push_str(&format!(" args: {}", pairs(job.build_args)));
        }
        if !job.labels.is_empty() {
            line.push_str(&format!(" labels: {}", pairs(job.labels)));
        }
        if job.no_cache {
            line.push_str(" no-cache");
        }
        if job.pull {
            line.push_str(" pull");
        }
        println!("{line}");
        if !job.after.is_empty() {
            println!("   after {} is published", job.after.join(", "));
        }
        println!(
            "   then push to {} and tag {} ({})",
            job.destination,
            job.tags.join(", "),
            job.format
        );
        if !job.annotations.is_empty() {
            println!(
                "   annotations: index {{{}}} manifest {{{}}}",
                pairs(job.annotations.index()),
                pairs(job.annotations.manifest())
            );
        }
    }
    Ok(())
}
