//! The command line (clap).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Build one multi-arch image tag from one plan: every platform built by Docker, pushed, and
/// published as one index.
#[derive(Debug, Parser)]
#[command(name = "mab", version, about, propagate_version = true)]
pub struct Cli {
    /// The docker context whose daemon builds, as `docker --context NAME` (`docker context
    /// ls`); without it, as the docker CLI: DOCKER_HOST, else DOCKER_CONTEXT, else the docker
    /// config's currentContext, else the local socket.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build every image of a plan for each of its platforms, push, and publish the indexes.
    Build(BuildArgs),
    /// Check a plan (`mab plan check PLAN`) or print the JSON Schema of plans (`mab plan schema`).
    Plan(PlanArgs),
    /// Create, annotate, inspect and push manifest lists of images already in a registry (the
    /// `docker manifest` verbs and flags).
    Manifest(crate::commands::manifest::ManifestArgs),
    /// Read an image or index back from its registry and check every digest, size, media type,
    /// blob and platform.
    Verify(crate::commands::verify::VerifyArgs),
    /// The builders (Docker daemons) of a plan, or the default one: `mab builders ls [PLAN]`.
    Builders(crate::commands::builders::BuildersArgs),
    /// Print a shell completion script, e.g. `mab completions bash >
    /// ~/.local/share/bash-completion/completions/mab`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages (`mab.1`, `mab-build.1`, ...) into DIR, e.g. `mab manpages
    /// /usr/local/share/man/man1`.
    Manpages {
        /// The folder (created if missing).
        dir: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The plan file (YAML).
    pub plan: PathBuf,

    /// Build only these images (each by its `name` or a repository), and the images they
    /// depend on that are not published yet.
    #[arg(value_name = "IMAGE")]
    pub images: Vec<String>,

    /// Build only this platform (repeatable, or comma-separated); each image built must have
    /// it.
    #[arg(long = "platform", value_name = "PLATFORM", value_delimiter = ',', value_parser = parse_platform)]
    pub platforms: Vec<mab_plan::Platform>,

    /// Set a plan value for this run: TARGET.KEY=VALUE, TARGET an image's name or repository,
    /// or `*` (repeatable), e.g. `app.build_args.MSG=hi`, `*.platforms=linux/amd64`,
    /// `*.builder=classic`.
    #[arg(long = "set", value_name = "TARGET.KEY=VALUE", value_parser = parse_override)]
    pub set: Vec<mab_plan::PlanOverride>,

    /// Also put each image into the local Docker daemon (DOCKER_HOST) under its tags: the
    /// platform the daemon runs natively, or the one platform built.
    #[arg(long)]
    pub load: bool,

    /// Push nothing to registries (with --load or --output).
    #[arg(long)]
    pub no_push: bool,

    /// Write everything into an OCI image layout instead of pushing: `oci:DIR`.
    #[arg(long, value_name = "oci:DIR")]
    pub output: Option<String>,

    /// Also write the --json document to FILE (atomically; also when the run fails, with
    /// `errors`).
    #[arg(long, value_name = "FILE")]
    pub metadata_file: Option<PathBuf>,

    /// How progress is shown on stderr.
    #[arg(long, value_enum, default_value_t, value_name = "MODE")]
    pub progress: crate::progress::ProgressMode,

    /// Print one JSON document with the results on stdout (progress stays on stderr).
    #[arg(long)]
    pub json: bool,

    /// Validate the plan and print the jobs it would run; needs no daemon and no registry.
    #[arg(long)]
    pub dry_run: bool,

    /// Build every image without the daemon's build cache (as `no_cache: true` in the plan).
    #[arg(long)]
    pub no_cache: bool,

    /// Pull every base image for its platform even when the daemon has it (as `pull: true`).
    #[arg(long)]
    pub pull: bool,

    /// Fail an image whose platform image holds executables built for another machine (an
    /// x86-64 binary in an arm64 image); without it they are reported as warnings.
    #[arg(long)]
    pub strict: bool,

    /// Let the engine push the images it builds where it can (the default): BuildKit on the
    /// containerd image store (Docker 24+) sends the compressed layers its store holds, by
    /// digest, with no `docker save` and no recompression; mab reads each manifest back (and
    /// the layers, up to 64 MiB each, for the platform lint) and publishes the index. Not with
    /// an SBOM, `--strict`, manifest annotations, `--load` or `--output` (those need mab to read
    /// every layer); a push that fails or stalls falls back to mab's.
    #[arg(long, overrides_with = "no_engine_push")]
    pub engine_push: bool,

    /// mab reads every image out of its engine (`docker save`) and pushes it itself, also where
    /// the engine could push it: every layer is read (the platform lint sees all of them), and
    /// mab's retries and stall limits apply to every upload.
    #[arg(long, overrides_with = "engine_push")]
    pub no_engine_push: bool,

    /// How many builds may run at once in all (default: no limit but each builder's
    /// `max_jobs`, which defaults to the CPUs its daemon has, at least 2).
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,

    /// How long a registry request may move no bytes (none of its body taken, no answer)
    /// before it is given up and tried again: `90`, `30s`, `2m` (default: each registry's
    /// `stall_limit` in the plan, else 60s). Given here, it is every registry's.
    #[arg(long, value_name = "DURATION", value_parser = mab_vocab::parse_duration)]
    pub stall_limit: Option<std::time::Duration>,

    /// How long storing one platform's image in one repository may take in all, retries
    /// included, before it fails.
    #[arg(long, value_name = "DURATION", value_parser = mab_vocab::parse_duration, default_value = "1h")]
    pub push_limit: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(subcommand)]
    pub command: PlanCommand,
}

#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// Validate a plan and print what it builds (images x platforms x tags); exit code 0 when
    /// it is valid, 2 when it is not (every problem is listed). Needs no daemon or registry.
    Check {
        /// The plan file (YAML).
        plan: PathBuf,
        /// Print the summary as one JSON document on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Print the JSON Schema of the plan format, for editors (docs/plan.schema.json is a copy).
    Schema,
}

fn parse_platform(text: &str) -> Result<mab_plan::Platform, String> {
    text.parse::<mab_plan::Platform>()
        .map_err(|e| e.to_string())
}

fn parse_override(text: &str) -> Result<mab_plan::PlanOverride, String> {
    text.parse()
}
