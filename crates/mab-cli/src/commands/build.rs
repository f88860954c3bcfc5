//! `mab build PLAN`: build every (image, platform), push each result by digest, then publish each
//! image's index under its tags — only when every platform of that image made it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use futures::future::join_all;
use mab_build::{BuildRequest, Daemon};
use mab_plan::{ImageSpec, ManifestFormat as PlanFormat, Plan};
use mab_platform::Platform;
use mab_registry::{
    ManifestFormat, OciLayout, PushedManifest, RegistryClient, RegistryOptions, Target,
    publish_index, push_docker_archive,
};
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::cli::BuildArgs;
use crate::exit::{FAILURE, SUCCESS, UsageError};
use crate::plan_env::ProcessEnv;
use crate::progress::Progress;

/// Where results go.
enum Output {
    /// Each image's own registry.
    Registries,
    /// One OCI image layout folder.
    Layout(PathBuf),
}

impl Output {
    fn parse(value: Option<&str>) -> Result<Self, UsageError> {
        match value {
            None => Ok(Self::Registries),
            Some(text) => match text.strip_prefix("oci:") {
                Some(dir) if !dir.is_empty() => Ok(Self::Layout(PathBuf::from(dir))),
                _ => Err(UsageError(format!(
                    "invalid --output {text:?}: the accepted form is oci:DIR (an OCI image layout folder)"
                ))),
            },
        }
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
}

#[derive(Serialize)]
struct ErrorReport {
    repository: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<String>,
    message: String,
}

pub async fn run(args: BuildArgs) -> anyhow::Result<u8> {
    let text = std::fs::read_to_string(&args.plan)
        .map_err(|e| UsageError(format!("cannot read plan {}: {e}", args.plan.display())))?;
    let plan = mab_plan::parse_plan(&args.plan, &text, &ProcessEnv)?;
    let output = Output::parse(args.output.as_deref())?;
    if args.jobs == 0 {
        return Err(UsageError("--jobs must be at least 1".to_string()).into());
    }
    if args.dry_run {
        print_dry_run(&plan, &output, args.json)?;
        return Ok(SUCCESS);
    }

    let progress = Progress::for_stderr();
    let daemon = Daemon::connect(None).await?;
    progress.println(&format!(
        "daemon: {}{}",
        daemon.endpoint(),
        daemon
            .native_platform()
            .map(|p| format!(" ({p})"))
            .unwrap_or_default()
    ));

    let targets = targets_for(&plan, &output).await?;
    for target in &targets {
        target
            .check_writable()
            .await
            .with_context(|| format!("cannot push to {}", target.describe()))?;
    }

    let jobs = Arc::new(Semaphore::new(args.jobs));
    let started = Instant::now();
    let outcomes = join_all(
        plan.images()
            .iter()
            .zip(&targets)
            .map(|(image, target)| build_image(image, target, &daemon, &progress, &jobs)),
    )
    .await;

    let mut report = Report {
        images: Vec::new(),
        errors: Vec::new(),
    };
    for (image, outcome) in plan.images().iter().zip(outcomes) {
        match outcome {
            Ok(image_report) => report.images.push(image_report),
            Err(failures) => {
                for (platform, error) in failures {
                    let message = crate::exit::render_error(&error);
                    progress.println(&message);
                    report.errors.push(ErrorReport {
                        repository: image.repository().to_string(),
                        platform: platform.map(|p| p.to_string()),
                        message: message.trim_start_matches("error: ").to_string(),
                    });
                }
                progress.println(&format!(
                    "error: {}: nothing was tagged (no index published)",
                    image.repository()
                ));
            }
        }
    }
    progress.println(&format!(
        "{} of {} images published in {:.1}s",
        report.images.len(),
        plan.images().len(),
        started.elapsed().as_secs_f64()
    ));
    if args.json {
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

/// One target per image of the plan.
async fn targets_for(plan: &Plan, output: &Output) -> anyhow::Result<Vec<Target>> {
    match output {
        Output::Registries => {
            let client = RegistryClient::new(&RegistryOptions {
                insecure_registries: plan
                    .registries()
                    .filter(|(_, settings)| settings.insecure())
                    .map(|(host, _)| host.to_string())
                    .collect(),
            });
            Ok(plan
                .images()
                .iter()
                .map(|image| {
                    let repo = image.repository();
                    Target::registry(client.repository(repo.registry(), repo.path()))
                })
                .collect())
        }
        Output::Layout(dir) => {
            let layout = OciLayout::open(dir).await?;
            Ok(plan
                .images()
                .iter()
                .map(|image| Target::layout(layout.clone(), image.repository().to_string()))
                .collect())
        }
    }
}

fn manifest_format(format: PlanFormat) -> ManifestFormat {
    match format {
        PlanFormat::Oci => ManifestFormat::Oci,
        PlanFormat::Docker => ManifestFormat::Docker,
    }
}

type Failures = Vec<(Option<Platform>, anyhow::Error)>;

/// Builds and pushes every platform of one image, then publishes its index.
async fn build_image(
    image: &ImageSpec,
    target: &Target,
    daemon: &Daemon,
    progress: &Arc<Progress>,
    jobs: &Semaphore,
) -> Result<ImageReport, Failures> {
    let format = manifest_format(image.format());
    let results =
        join_all(image.platforms().iter().map(|platform| {
            build_platform(image, platform, target, daemon, progress, jobs, format)
        }))
        .await;
    let mut manifests = Vec::new();
    let mut failures = Vec::new();
    for (platform, result) in image.platforms().iter().zip(results) {
        match result {
            Ok(pushed) => manifests.push((platform.clone(), pushed)),
            Err(error) => failures.push((Some(platform.clone()), error)),
        }
    }
    if !failures.is_empty() {
        return Err(failures);
    }
    let index = publish_index(target, &manifests, image.tags(), format)
        .await
        .with_context(|| format!("publishing the index of {}", target.describe()))
        .map_err(|e| vec![(None, e)])?;
    progress.println(&format!(
        "[{}] published {} as {}",
        image.repository(),
        index.digest,
        image.tags().join(", ")
    ));
    Ok(ImageReport {
        repository: image.repository().to_string(),
        tags: image.tags().to_vec(),
        digest: index.digest,
        media_type: index.media_type,
        platforms: manifests
            .into_iter()
            .map(|(platform, pushed)| PlatformReport {
                platform: platform.to_string(),
                digest: pushed.digest,
            })
            .collect(),
    })
}

/// Builds one platform of one image and stores its manifest (untagged) in the target.
async fn build_platform(
    image: &ImageSpec,
    platform: &Platform,
    target: &Target,
    daemon: &Daemon,
    progress: &Arc<Progress>,
    jobs: &Semaphore,
    format: ManifestFormat,
) -> anyhow::Result<PushedManifest> {
    let _slot = jobs.acquire().await.context("the job queue closed")?;
    let job = progress.job(format!("{} {platform}", image.repository()));
    let started = Instant::now();
    job.step("building");
    let request = BuildRequest {
        context_dir: image.context_dir().to_path_buf(),
        dockerfile: image.dockerfile().to_path_buf(),
        platform: platform.clone(),
        build_args: image.build_args().clone(),
    };
    let built = match daemon.build(&request, &job).await {
        Ok(built) => built,
        Err(e) => {
            job.finish("build failed");
            return Err(e.into());
        }
    };
    job.step(&format!("built {}; pushing", built.id));
    let pushed = match push_docker_archive(daemon.export(&built.id), target, format, &job).await {
        Ok(pushed) => pushed,
        Err(e) => {
            job.finish("push failed");
            return Err(anyhow::Error::new(e).context(format!(
                "pushing the {platform} image of {}",
                target.describe()
            )));
        }
    };
    job.finish(&format!(
        "pushed {} ({} sent) in {:.1}s",
        pushed.digest,
        indicatif::HumanBytes(job.bytes_sent()),
        started.elapsed().as_secs_f64()
    ));
    Ok(pushed)
}

/// `--dry-run`: the jobs in the order they would start, with resolved tags and args.
fn print_dry_run(plan: &Plan, output: &Output, json: bool) -> anyhow::Result<()> {
    #[derive(Serialize)]
    struct Job<'a> {
        repository: String,
        platform: String,
        context: &'a std::path::Path,
        dockerfile: &'a std::path::Path,
        build_args: &'a std::collections::BTreeMap<String, String>,
        tags: &'a [String],
        destination: String,
    }
    let jobs: Vec<Job> = plan
        .images()
        .iter()
        .flat_map(|image| {
            image.platforms().iter().map(move |platform| Job {
                repository: image.repository().to_string(),
                platform: platform.to_string(),
                context: image.context_dir(),
                dockerfile: image.dockerfile(),
                build_args: image.build_args(),
                tags: image.tags(),
                destination: match output {
                    Output::Registries => image.repository().to_string(),
                    Output::Layout(dir) => format!("oci:{}", dir.display()),
                },
            })
        })
        .collect();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "jobs": jobs }))?
        );
        return Ok(());
    }
    for (n, job) in jobs.iter().enumerate() {
        let args = job
            .build_args
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        println!(
            "{}. build {} for {} from {} (context {}){}",
            n + 1,
            job.repository,
            job.platform,
            job.dockerfile.display(),
            job.context.display(),
            if args.is_empty() {
                String::new()
            } else {
                format!(" args: {args}")
            }
        );
        println!(
            "   then push to {} and tag {}",
            job.destination,
            job.tags.join(", ")
        );
    }
    Ok(())
}
