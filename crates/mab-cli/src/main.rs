//! `mab`: build one multi-arch image tag from one plan.
//!
//! The binary is thin: parse arguments, run the command, print the error chain, return the exit
//! code. Everything else lives in the library crates; this crate is the only one that prints.

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
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("{}", exit::render_error(&error));
            ExitCode::from(exit::code_for(&error))
        }
    }
}
