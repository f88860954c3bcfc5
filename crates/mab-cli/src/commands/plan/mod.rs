//! `mab plan check PLAN` and `mab plan schema`, and reading a plan for every command.

mod check;

use std::path::Path;

use mab_plan::{Plan, PlanOverride};

use crate::cli::{PlanArgs, PlanCommand};
use crate::exit::{SUCCESS, UsageError};
use crate::plan_env::ProcessEnv;

/// Runs a `mab plan` command; returns the exit code.
pub fn run(args: PlanArgs) -> anyhow::Result<u8> {
    match args.command {
        PlanCommand::Check { plan, json } => check::run(&plan, json),
        PlanCommand::Schema => {
            print!("{}", mab_plan::json_schema());
            Ok(SUCCESS)
        }
    }
}

/// Reads and validates the plan at `path` with the real environment (a plan error is exit
/// code 2).
pub fn load(path: &Path) -> anyhow::Result<Plan> {
    load_with(path, &[])
}

/// Reads and validates the plan at `path` with `overrides` (`--set`) laid over it.
pub fn load_with(path: &Path, overrides: &[PlanOverride]) -> anyhow::Result<Plan> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("cannot read plan {}: {e}", path.display())))?;
    Ok(mab_plan::parse_plan_with(
        path,
        &text,
        &ProcessEnv::for_plan(path),
        overrides,
    )?)
}
