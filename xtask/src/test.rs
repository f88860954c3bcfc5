//! `cargo xtask test`: environment up, fmt, clippy, build mab, `cargo test --workspace`,
//! teardown, summary.

use std::time::{Duration, Instant};

use anyhow::Result;

use crate::env::{Env, Options};
use crate::paths::Paths;
use crate::registry::Port;
use crate::sh::Cmd;
use crate::signals;

pub struct Args {
    pub no_lint: bool,
    /// Passed through to `cargo test`.
    pub cargo_test_args: Vec<String>,
}

struct Step {
    name: &'static str,
    outcome: Outcome,
    took: Duration,
}

enum Outcome {
    Ok,
    Failed(String),
    Skipped(&'static str),
}

/// Returns whether everything passed.
pub fn run(paths: &Paths, args: Args) -> Result<bool> {
    let total = Instant::now();
    let mut env = Env::up(
        paths,
        Options {
            registry_port: Port::Free,
            sweep_local_images: true,
            oracles: true,
        },
    )?;
    let mut steps: Vec<Step> = Vec::new();
    let mut counts = Counts::default();
    let cargo = |args: &[&str]| Cmd::new(&paths.cargo).current_dir(&paths.root).args(args);

    if args.no_lint {
        steps.push(skipped("fmt", "--no-lint"));
        steps.push(skipped("clippy", "--no-lint"));
    } else {
        steps.push(step("fmt", cargo(&["fmt", "--all", "--", "--check"]))?);
        steps.push(step(
            "clippy",
            cargo(&[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]),
        )?);
    }
    let build = step("build", cargo(&["build", "-p", "mab-cli"]))?;
    let built = matches!(build.outcome, Outcome::Ok);
    steps.push(build);
    if built {
        let mut cmd = cargo(&["test", "--no-fail-fast"]);
        let names_package = args
            .cargo_test_args
            .iter()
            .take_while(|a| *a != "--")
            .any(|a| a.starts_with("-p") || a.starts_with("--package"));
        if !names_package {
            cmd = cmd.arg("--workspace");
        }
        cmd = cmd.args(&args.cargo_test_args);
        for (k, v) in env.test_vars(paths) {
            cmd = cmd.env(k, v);
        }
        signals::check()?;
        eprintln!("==> test: {}", cmd.display());
        let started = Instant::now();
        let status = cmd.status_tee(|line| counts.add(line));
        signals::check()?;
        steps.push(Step {
            name: "test",
            outcome: match status {
                Ok(s) if s.success() => Outcome::Ok,
                Ok(s) => Outcome::Failed(s.to_string()),
                Err(e) => Outcome::Failed(format!("{e:#}")),
            },
            took: started.elapsed(),
        });
    } else {
        steps.push(skipped("test", "mab did not build"));
    }

    env.teardown();
    let ok = steps
        .iter()
        .all(|s| !matches!(s.outcome, Outcome::Failed(_)));
    eprintln!();
    for s in &steps {
        match &s.outcome {
            Outcome::Ok => eprintln!("  {:<7} ok ({:.1} s)", s.name, s.took.as_secs_f64()),
            Outcome::Failed(why) => eprintln!(
                "  {:<7} FAILED ({:.1} s): {why}",
                s.name,
                s.took.as_secs_f64()
            ),
            Outcome::Skipped(why) => eprintln!("  {:<7} skipped ({why})", s.name),
        }
    }
    eprintln!(
        "xtask test: {} in {:.1} s",
        if ok { "all passed" } else { "FAILED" },
        total.elapsed().as_secs_f64()
    );
    // The plain closing line: the sum of cargo test's `test result:` lines.
    println!(
        "tests: {} passed, {} failed, {} skipped",
        counts.passed, counts.failed, counts.ignored
    );
    Ok(ok)
}

/// The sum of libtest's `test result: ok. 3 passed; 0 failed; 1 ignored; ...` lines.
#[derive(Default)]
struct Counts {
    passed: u64,
    failed: u64,
    ignored: u64,
}

impl Counts {
    fn add(&mut self, line: &str) {
        let Some(rest) = line.strip_prefix("test result: ") else {
            return;
        };
        for part in rest.split([';', '.']) {
            let mut words = part.split_whitespace();
            let (Some(n), Some(what)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = n.parse::<u64>() else { continue };
            match what {
                "passed" => self.passed += n,
                "failed" => self.failed += n,
                "ignored" => self.ignored += n,
                _ => {}
            }
        }
    }
}

fn skipped(name: &'static str, why: &'static str) -> Step {
    Step {
        name,
        outcome: Outcome::Skipped(why),
        took: Duration::ZERO,
    }
}

/// Runs one step with its output streamed; an interruption ends the whole run.
fn step(name: &'static str, cmd: Cmd) -> Result<Step> {
    signals::check()?;
    eprintln!("==> {name}: {}", cmd.display());
    let started = Instant::now();
    let outcome = match cmd.status() {
        Ok(status) if status.success() => Outcome::Ok,
        Ok(status) => Outcome::Failed(status.to_string()),
        Err(e) => Outcome::Failed(format!("{e:#}")),
    };
    signals::check()?;
    Ok(Step {
        name,
        outcome,
        took: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::Counts;

    #[test]
    fn counts_sum_libtest_result_lines() {
        let mut c = Counts::default();
        c.add("test result: ok. 85 passed; 0 failed; 2 ignored; 0 measured; 0 filtered out; finished in 0.08s");
        c.add("test result: FAILED. 3 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 16.78s");
        c.add("test foo ... ok");
        assert_eq!((c.passed, c.failed, c.ignored), (88, 1, 2));
    }
}
