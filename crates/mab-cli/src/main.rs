//! `mab`: build one multi-arch image tag from one plan.
//!
//! The binary is thin: parse arguments, run the command, print the error chain, return the exit
//! code. Everything else lives in the library crates; this crate is the only one that prints.

mod ci;
mod cli;
mod commands;
mod exit;
mod plan_env;
mod progress;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    let outcome = runtime.block_on(async {
        tokio::select! {
            outcome = commands::run(cli) => Some(outcome),
            _ = tokio::signal::ctrl_c() => None,
        }
    });
    // Dropping the command's future closed its connections: the daemon cancels a build whose
    // client went away, uploads in flight are abandoned before any tag moved, temp files are
    // removed by their guards.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    match outcome {
        Some(Ok(code)) => ExitCode::from(code),
        Some(Err(error)) => {
            eprintln!("{}", exit::render_error(&error));
            ExitCode::from(exit::code_for(&error))
        }
        None => {
            eprintln!("error: interrupted; no image whose index was not yet published was tagged");
            ExitCode::from(exit::INTERRUPTED)
        }
    }
}
