//! The command line (clap).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Build one multi-arch image tag from one plan: every platform built by Docker, pushed, and
/// published as one index.
#[derive(Debug, Parser)]
#[command(name = "mab", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build every image of a plan for each of its platforms, push, and publish the indexes.
    Build(BuildArgs),
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The plan file (YAML).
    pub plan: PathBuf,

    /// Write everything into an OCI image layout instead of pushing: `oci:DIR`.
    #[arg(long, value_name = "oci:DIR")]
    pub output: Option<String>,

    /// Print one JSON document with the results on stdout (progress stays on stderr).
    #[arg(long)]
    pub json: bool,

    /// Validate the plan and print the jobs it would run; needs no daemon and no registry.
    #[arg(long)]
    pub dry_run: bool,

    /// How many builds may run at once.
    #[arg(long, short = 'j', value_name = "N", default_value_t = default_jobs())]
    pub jobs: usize,
}

fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get().max(2))
        .unwrap_or(2)
}
