//! Embedding mab: a program that builds one multi-arch image with the pipeline library, without
//! the `mab` command line.
//!
//! ```sh
//! cargo run -p mab-pipeline --example embed -- 127.0.0.1:5000/demo/embedded ./context
//! ```
//!
//! It makes the plan in code (one image, two platforms, from the context folder given), builds
//! it on the daemon of `DOCKER_HOST` (else the local socket), pushes it to the repository given
//! (plain HTTP for a registry on 127.0.0.1), and prints each step and the outcome on stdout.

use std::path::Path;
use std::process::ExitCode;

use mab_build::{BuildReporter, BuilderConfig, DaemonEndpoint, Fleet};
use mab_pipeline::{
    Events, FleetBuilders, JobEvent, JobEvents, Notice, Output, RegistryBases, RunOptions,
};
use mab_plan::{ImageSpec, PlanEnv, Platform, parse_plan};
use mab_registry::{PushReporter, RegistryClient};

/// The plan's view of this program's surroundings: no variables; paths as they are on disk.
struct Surroundings;

impl PlanEnv for Surroundings {
    fn var(&self, _name: &str) -> Option<String> {
        None
    }
    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }
    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }
}

/// Progress as lines on stdout.
struct Printer;

struct JobPrinter(String);

impl BuildReporter for JobPrinter {
    fn line(&self, line: &str) {
        println!("[{}] {line}", self.0);
    }
}

impl PushReporter for JobPrinter {}

impl JobEvents for JobPrinter {
    fn event(&self, event: JobEvent<'_>) {
        match event {
            JobEvent::Building(placement) => {
                println!("[{}] building ({:?})", self.0, placement.fit)
            }
            JobEvent::Built { image_id } => println!("[{}] built {image_id}", self.0),
            JobEvent::Stored {
                digest, seconds, ..
            } => {
                println!("[{}] stored {digest} in {seconds:.1}s", self.0)
            }
            JobEvent::Failed(step) => println!("[{}] failed: {step:?}", self.0),
        }
    }
}

impl Events for Printer {
    type Job = JobPrinter;

    fn job(&self, image: &ImageSpec, platform: &Platform) -> JobPrinter {
        JobPrinter(format!("{} {platform}", image.repository()))
    }

    fn notice(&self, notice: Notice<'_>) {
        if let Notice::Published {
            repository,
            digest,
            tags,
        } = notice
        {
            println!("published {repository}@{digest} as {}", tags.join(", "));
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(repository), Some(context)) = (args.next(), args.next()) else {
        eprintln!("usage: embed REGISTRY/REPOSITORY CONTEXT_DIR");
        return ExitCode::from(2);
    };
    match build(&repository, &context).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn build(repository: &str, context: &str) -> Result<bool, Box<dyn std::error::Error>> {
    // The plan, made in code: as a YAML text, then parsed and validated like any plan file.
    let registry = repository.split('/').next().unwrap_or_default();
    let yaml = format!(
        "version: 1\n\
         registries:\n  {registry:?}: {{ insecure: {insecure} }}\n\
         images:\n\
         \x20 - repository: {repository}\n\
         \x20   context: {context:?}\n\
         \x20   platforms: [linux/amd64, linux/arm64]\n\
         \x20   tags: [latest]\n",
        insecure = registry.starts_with("127.0.0.1")
    );
    let plan = parse_plan(Path::new("embedded-plan.yaml"), &yaml, &Surroundings)?;

    // The builders: the daemon of DOCKER_HOST.
    let builders = FleetBuilders {
        fleet: Fleet::connect(vec![BuilderConfig {
            name: "default".to_string(),
            endpoint: DaemonEndpoint::from_env()?,
            platforms: Vec::new(),
            max_jobs: None,
        }])
        .await,
        declared: false,
    };
    if let Some(error) = mab_pipeline::unbuildable_platforms(&plan, &builders).pop() {
        return Err(error.into());
    }

    // The destinations: each image's repository, reached as the plan says.
    let registry_options = mab_pipeline::registry_options(&plan)?;
    let client = RegistryClient::new(&registry_options);
    let destinations = mab_pipeline::destinations(&plan, &Output::Registries, &client).await?;
    mab_pipeline::check_writable(&destinations).await?;
    let bases = RegistryBases::new(&client, None);

    let outcome = mab_pipeline::run(
        &plan,
        &destinations,
        &builders,
        &bases,
        &RunOptions::default(),
        &Printer,
    )
    .await;
    for image in &outcome.images {
        match &image.result {
            Ok(published) => {
                for repository in published {
                    println!("{} {}", repository.repository, repository.digest);
                }
            }
            Err(failures) => {
                for failure in failures {
                    println!("failed: {}", failure.error);
                }
            }
        }
    }
    Ok(outcome.all_published())
}
