//! One module per subcommand.

mod build;
pub(crate) mod builders;
pub(crate) mod manifest;
mod plan;
mod shell;
pub(crate) mod verify;

use crate::cli::{Cli, Command};

/// Runs a parsed command line; returns the exit code.
pub async fn run(cli: Cli) -> anyhow::Result<u8> {
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
