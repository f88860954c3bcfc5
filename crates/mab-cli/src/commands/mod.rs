//! One module per subcommand.

mod build;
pub(crate) mod builders;
pub(crate) mod manifest;
mod plan;
mod shell;
pub(crate) mod verify;

use std::sync::OnceLock;

use crate::cli::{Cli, Command};

/// The `--context` of the command line.
static CONTEXT: OnceLock<Option<String>> = OnceLock::new();

/// The daemon the docker CLI would use with this command line's `--context` (the default
/// builder, and the daemon `--load` loads into).
pub(crate) fn local_endpoint() -> Result<mab_build::DaemonEndpoint, mab_build::BuildError> {
    mab_build::DaemonEndpoint::for_context(CONTEXT.get().and_then(|c| c.as_deref()))
}

/// Runs a parsed command line; returns the exit code.
pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    let _ = CONTEXT.set(cli.context);
    match cli.command {
        Command::Build(args) => build::run(args).await,
        Command::Plan(args) => plan::run(args),
        Command::Manifest(args) => manifest::run(args).await,
        Command::Verify(args) => verify::run(args).await,
        Command::Builders(args) => builders::run(args).await,
        Command::Completions { shell } => shell::completions(shell),
        Command::Manpages { dir } => shell::manpages(&dir),
    }
}
