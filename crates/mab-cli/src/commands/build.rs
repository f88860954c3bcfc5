//! `mab build PLAN`: build every (image, platform), push each result by digest to every
//! repository of the image, then publish each image's index under its tags — only when every
//! platform of that image made it. The pipeline itself is `mab-pipeline`; this command parses
//! the command line, connects the builders, renders progress and the outcome (the final table,
//! `--json`), and prints `--dry-run`.

mod report;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use mab_pipeline::{DependencyState, FleetBuilders, Output, RegistryBases, RunOptions, RunPlan};
use mab_plan::{Plan, Selected, Selection};
use mab_registry::{LayerCache, RegistryClient, RetryPolicy};
use serde::Serialize;

use crate::ci::{GitHub, MetadataFile};
use crate::cli::BuildArgs;
use crate::exit::{SUCCESS, UsageError};
use crate::progress::{Progress, ProgressMode};
use report::Sinks;

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

pub async fn run(args: BuildArgs) -> anyhow::Result<u8> {
    // Checked first: an unwritable metadata file is a usage error, and nothing is built.
    let metadata = args
        .metadata_file
        .as_deref()
        .map(MetadataFile::open)
        .transpose()?;
    let sinks = Sinks {
        json: args.json,
        metadata,
        github: GitHub::from_env(),
        title: format!("mab build {}", args.plan.display()),
    };
    let mut sinks = Some(sinks);
    match build(args, &mut sinks).await {
        Ok(code) => Ok(code),
        Err(error) => {
            // The run ended before its outcome was rendered: CI still hears why.
            if let Some(sinks) = sinks.take() {
                sinks.failed(&crate::exit::render_error(&error))?;
            }
            Err(error)
        }
    }
}

/// `mab build` up to its outcome; `sinks` is taken when the outcome is rendered.
async fn build(args: BuildArgs, sinks: &mut Option<Sinks>) -> anyhow::Result<u8> {
    let output = parse_output(args.output.as_deref())?;
    if args.jobs == Some(0) {
        return Err(UsageError("--jobs must be at least 1".to_string()).into());
    }
    if args.no_push && !args.load && output == Output::Registries {
        return Err(UsageError(
            "--no-push needs --load or --output: without them the images would go nowhere"
                .to_string(),
        )
        .into());
    }
    let plan = super::plan::load_with(&args.plan, &args.set)?;
    let selected = plan.select(&Selection {
        images: args.images.clone(),
        platforms: args.platforms.clone(),
    })?;
    let layer_cache = LayerCache::default_root().map(LayerCache::new);
    let mut options = RunOptions {
        no_cache: args.no_cache,
        pull: args.pull,
        strict: args.strict,
        jobs: args.jobs,
        layer_cache: layer_cache.clone(),
        // Next to the layer cache: `$MAB_HOME/cache/builds`, else the user's cache folder.
        build_memo: LayerCache::default_root()
            .map(|root| mab_pipeline::BuildMemo::new(root.join("builds"))),
        retry: RetryPolicy::default(),
        push_limit: Some(args.push_limit),
        signing_keys: Default::default(),
        mab_version: env!("CARGO_PKG_VERSION").to_string(),
        engine_push: if args.no_engine_push {
            mab_pipeline::EnginePushMode::Never
        } else {
            mab_pipeline::EnginePushMode::WhenPossible
        },
        // Next to the layer cache too: `$MAB_HOME/cache/engine-push-refused`.
        engine_push_refusals: LayerCache::default_root()
            .map(|root| mab_pipeline::EnginePushRefusals::new(root.join("engine-push-refused")))
            .unwrap_or_default(),
    };
    let mut registry_options = mab_pipeline::registry_options(&plan)?;
    if let Some(limit) = args.stall_limit {
        registry_options.stall_limits = mab_registry::StallLimits {
            default: limit,
            per_registry: Default::default(),
        };
    }
    if args.dry_run {
        let run_plan = select(&plan, &selected, None).await?;
        let progress = Progress::new(ProgressMode::Plain);
        note_dependencies(&run_plan, &progress);
        print_dry_run(&run_plan.plan, &output, &options, args.json)?;
        return Ok(SUCCESS);
    }
    // Signing keys are opened before anything is built: a wrong password builds nothing.
    let password = std::env::var("COSIGN_PASSWORD").ok();
    options.signing_keys = mab_pipeline::signing_keys(&plan, password.as_deref())?;

    let progress = Progress::new(args.progress);
    // Whether the images a selected one depends on are published is asked once, without
    // retries: an unreachable registry means "build them".
    let client = RegistryClient::new(&registry_options);
    let lookup = client.with_retry(RetryPolicy {
        attempts: 1,
        ..RetryPolicy::default()
    });
    let run_plan = select(&plan, &selected, Some(&lookup)).await?;
    note_dependencies(&run_plan, &progress);
    let pushes = !(args.no_push && output == Output::Registries);
    if pushes && !selected.platforms().is_empty() {
        note_partial_indexes(&plan, &run_plan.plan, &progress);
    }
    let plan = run_plan.plan;
    check_build_inputs(&plan, &progress)?;
    let local = if args.load {
        let daemon = mab_build::Daemon::connect(&crate::commands::local_endpoint()?).await?;
        match mab_pipeline::local_destinations(&plan, &daemon).await {
            Ok(local) => Some(local),
            Err(error @ mab_pipeline::PipelineError::NoPlatformToLoad { .. }) => {
                return Err(UsageError(error.to_string()).into());
            }
            Err(error) => return Err(error.into()),
        }
    } else {
        None
    };
    let builders = super::builders::connect(Some(&plan)).await?;
    super::builders::report(&builders, &progress)?;
    check_platforms(&plan, &builders, &progress)?;

    let bases = RegistryBases::new(&client, layer_cache);
    let targets = if pushes {
        mab_pipeline::destinations(&plan, &output, &client).await?
    } else {
        Vec::new()
    };
    mab_pipeline::check_writable(&targets).await?;
    let destinations = mab_pipeline::run_destinations(targets, local, plan.images().len());

    let started = Instant::now();
    let outcome =
        mab_pipeline::run(&plan, &destinations, &builders, &bases, &options, &progress).await;
    let sinks = sinks.take().expect("the outcome is rendered once");
    report::render_outcome(&plan, outcome, &progress, started, sinks)
}

/// The run's plan for what was selected; a selection that does not fit the plan is a usage
/// error.
async fn select(
    plan: &Plan,
    selected: &Selected,
    lookup: Option<&RegistryClient>,
) -> anyhow::Result<RunPlan> {
    match mab_pipeline::select_run(plan, selected, lookup).await {
        Ok(run_plan) => Ok(run_plan),
        Err(mab_pipeline::PipelineError::Plan(error)) => Err((*error).into()),
        Err(error) => Err(error.into()),
    }
}

/// Says which images the selected ones depend on are built too, and which are used as
/// published.
fn note_dependencies(run_plan: &RunPlan, progress: &Progress) {
    for choice in &run_plan.dependencies {
        let what = match &choice.state {
            DependencyState::Published => {
                "is already published (every tag in every repository): not built".to_string()
            }
            DependencyState::NotPublished(reason) => format!("is built too: {reason}"),
            DependencyState::Unchecked => {
                "is built too, unless it is already published".to_string()
            }
        };
        progress.println(&format!(
            "note: {} (needed by {}) {what}",
            choice.image, choice.needed_by
        ));
    }
}

/// Says which images get an index of fewer platforms than the plan gives them (`--platform`).
fn note_partial_indexes(plan: &Plan, run: &Plan, progress: &Progress) {
    for image in run.images() {
        let Some(full) = plan
            .images()
            .iter()
            .find(|i| i.repository() == image.repository())
        else {
            continue;
        };
        if full.platforms().len() != image.platforms().len() {
            let platforms: Vec<String> = image.platforms().iter().map(|p| p.to_string()).collect();
            progress.println(&format!(
                "note: {} is built for {} only (--platform): its tags will name an index of {}",
                image.label(),
                platforms.join(", "),
                if platforms.len() == 1 {
                    "that platform alone"
                } else {
                    "those platforms alone"
                }
            ));
        }
    }
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
