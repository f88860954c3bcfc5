//! `cargo xtask test`: on each engine of the matrix (default: 20.10, then newest), the
//! environment up, then on the first one fmt, clippy, build mab, `cargo test --workspace` and
//! the end-to-end suite again with the classic builder; on the next one the end-to-end suite
//! (BuildKit, the default builder); teardown, summary per engine.

use std::time::{Duration, Instant};

use anyhow::Result;

use crate::engine::Engine;
use crate::env::{Env, Options};
use crate::paths::Paths;
use crate::registry::Port;
use crate::sh::Cmd;
use crate::signals;

pub struct Args {
    pub no_lint: bool,
    /// Skip the end-to-end suite's second pass with the classic builder.
    pub no_classic: bool,
    /// The engines to run on, in order.
    pub engines: Vec<Engine>,
    /// Passed through to `cargo test`.
    pub cargo_test_args: Vec<String>,
}

/// The end-to-end tests the classic builder's pass leaves out: those of what only BuildKit
/// does (`buildkit::`: secrets, ssh, cache mounts, BUILDPLATFORM stages), and, to keep it
/// short, those that build no image (`mab manifest`, completions and man pages, dry runs, usage errors) and those
/// whose images are incidental to what they test on the registry's side or in the output
/// (layer compression, credentials, the docker format, the engine's push, registry faults and the soak under
/// random faults, malformed registries,
/// OCI layouts, verification, many images at once, the platform lint, CI's files). What the
/// builder does — building both platforms, `FROM` another image of the plan, builders,
/// reruns, Ctrl-C, the build cache, `--load`, selections — runs with both builders.
const CLASSIC_PASS_SKIPS: &[&str] = &[
    "buildkit::",
    "manifest::",
    "shell::",
    "dry_run::",
    "bad_input::",
    "compression::",
    "credentials::",
    "docker_format::",
    "engine_push::",
    "faults::",
    "soak::",
    "malformed_registry::",
    "oci_output::",
    "verify::",
    "many_images::",
    "lint::",
    "ci::",
];

/// The end-to-end tests the newest engine's pass leaves out, and why: each one tests
/// something across engines that this environment cannot give it.
const NEWEST_PASS_SKIPS: &[(&str, &str)] = &[
    (
        "cache::a_fresh_daemon_takes_the_cached_steps_from_the_registry",
        "its fresh daemon is one of the tests' extra daemons, Debian 12's dockerd 20.10, \
         whose BuildKit 0.8 does not take the inline cache the newest engine's BuildKit writes",
    ),
    (
        "many_images::a_rerun_reads_no_base_manifest_and_a_run_asks_each_base_once",
        "the daemon pulls the base through the tests' counting proxy on 127.0.0.1: the \
         containerd store's resolver tries HTTPS first and falls back to plain HTTP only when \
         the server answers in HTTP, and the proxy closes the connection instead (EOF), even \
         with 127.0.0.0/8 listed as insecure",
    ),
];

struct Step {
    name: String,
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
    let mut steps: Vec<Step> = Vec::new();
    let mut per_engine: Vec<(Engine, Counts, Duration)> = Vec::new();
    let mut built = None;
    for (i, &engine) in args.engines.iter().enumerate() {
        let started = Instant::now();
        let mut counts = Counts::default();
        let mut env = Env::up(
            paths,
            Options {
                registry_port: Port::Free,
                sweep_local_images: true,
                oracles: true,
                engine,
            },
        )?;
        if i == 0 {
            built = Some(first_engine(
                paths,
                &args,
                &env,
                engine,
                &mut steps,
                &mut counts,
            )?);
        } else if built == Some(true) {
            match e2e_args(&args) {
                Err(why) => steps.push(skipped(format!("e2e ({})", engine.name()), why)),
                Ok(e2e) => {
                    let mut cmd = Cmd::new(&paths.cargo)
                        .current_dir(&paths.root)
                        .args(["test", "--no-fail-fast"])
                        .args(&e2e);
                    for (k, v) in env.test_vars(paths) {
                        cmd = cmd.env(k, v);
                    }
                    steps.push(test_step(
                        format!("e2e ({})", engine.name()),
                        cmd,
                        &mut counts,
                    )?);
                }
            }
        } else {
            steps.push(skipped(
                format!("e2e ({})", engine.name()),
                "mab did not build",
            ));
        }
        env.teardown();
        per_engine.push((engine, counts, started.elapsed()));
    }
    let ok = steps
        .iter()
        .all(|s| !matches!(s.outcome, Outcome::Failed(_)));
    eprintln!();
    for s in &steps {
        match &s.outcome {
            Outcome::Ok => eprintln!("  {:<16} ok ({:.1} s)", s.name, s.took.as_secs_f64()),
            Outcome::Failed(why) => eprintln!(
                "  {:<16} FAILED ({:.1} s): {why}",
                s.name,
                s.took.as_secs_f64()
            ),
            Outcome::Skipped(why) => eprintln!("  {:<16} skipped ({why})", s.name),
        }
    }
    eprintln!(
        "xtask test: {} in {:.1} s",
        if ok { "all passed" } else { "FAILED" },
        total.elapsed().as_secs_f64()
    );
    // The plain closing lines: the sums of cargo test's `test result:` lines, per engine.
    let mut all = Counts::default();
    for (engine, counts, took) in &per_engine {
        println!(
            "tests on {}: {} passed, {} failed, {} skipped ({:.1} min)",
            engine.name(),
            counts.passed,
            counts.failed,
            counts.ignored,
            took.as_secs_f64() / 60.0
        );
        all.passed += counts.passed;
        all.failed += counts.failed;
        all.ignored += counts.ignored;
    }
    println!(
        "tests: {} passed, {} failed, {} skipped",
        all.passed, all.failed, all.ignored
    );
    Ok(ok)
}

/// The first engine's steps: lints, the build, the whole workspace's tests and the classic
/// builder's pass. Returns whether mab built.
fn first_engine(
    paths: &Paths,
    args: &Args,
    env: &Env,
    engine: Engine,
    steps: &mut Vec<Step>,
    counts: &mut Counts,
) -> Result<bool> {
    let cargo = |args: &[&str]| Cmd::new(&paths.cargo).current_dir(&paths.root).args(args);
    let on = |name: &str| format!("{name} ({})", engine.name());

    if args.no_lint {
        steps.push(skipped("fmt".into(), "--no-lint"));
        steps.push(skipped("clippy".into(), "--no-lint"));
    } else {
        steps.push(step(
            "fmt".into(),
            cargo(&["fmt", "--all", "--", "--check"]),
        )?);
        steps.push(step(
            "clippy".into(),
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
    let build = step("build".into(), cargo(&["build", "-p", "mab-cli"]))?;
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
        let mut test_args = args.cargo_test_args.clone();
        if engine == Engine::Newest {
            add_newest_skips(&mut test_args);
        }
        cmd = cmd.args(&test_args);
        for (k, v) in env.test_vars(paths) {
            cmd = cmd.env(k, v);
        }
        steps.push(test_step(on("test"), cmd, counts)?);
    } else {
        steps.push(skipped(on("test"), "mab did not build"));
    }
    // The end-to-end suite again with every plan's images built by the classic builder
    // (`--set '*.builder=classic'`), so that builder keeps being tested on every run.
    match classic_pass_args(args) {
        _ if !built => steps.push(skipped(on("classic"), "mab did not build")),
        Err(why) => steps.push(skipped(on("classic"), why)),
        Ok(mut pass_args) => {
            if engine == Engine::Newest {
                add_newest_skips(&mut pass_args);
            }
            let mut cmd = cargo(&["test", "--no-fail-fast"])
                .args(&pass_args)
                .env("MAB_TEST_BUILDER", "classic");
            for (k, v) in env.test_vars(paths) {
                cmd = cmd.env(k, v);
            }
            steps.push(test_step(on("classic"), cmd, counts)?);
        }
    }
    Ok(built)
}

/// The `cargo test` arguments of the end-to-end suite on a later engine: the suite, with the
/// test filter asked for, if any; why there is none when the tests asked for are not the suite.
fn e2e_args(args: &Args) -> Result<Vec<String>, &'static str> {
    let asked = &args.cargo_test_args;
    let mut pass = if asked.is_empty() {
        ["-p", "mab-tests", "--test", "e2e", "--"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        let mut pass = suite_args(asked)?;
        if !pass.iter().any(|a| a == "--") {
            pass.push("--".to_string());
        }
        pass
    };
    add_newest_skips(&mut pass);
    Ok(pass)
}

/// Adds `--skip` for each of [`NEWEST_PASS_SKIPS`] to `cargo test` arguments.
fn add_newest_skips(args: &mut Vec<String>) {
    if !args.iter().any(|a| a == "--") {
        args.push("--".to_string());
    }
    for (skip, _why) in NEWEST_PASS_SKIPS {
        args.extend(["--skip".to_string(), skip.to_string()]);
    }
}

/// The `cargo test` arguments of the classic builder's pass: the end-to-end suite, with the
/// test filter asked for, if any; why there is none when the tests asked for are not the suite.
fn classic_pass_args(args: &Args) -> Result<Vec<String>, &'static str> {
    if args.no_classic {
        return Err("--no-classic");
    }
    let asked = &args.cargo_test_args;
    if asked.is_empty() {
        let mut pass: Vec<String> = ["-p", "mab-tests", "--test", "e2e", "--"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for skip in CLASSIC_PASS_SKIPS {
            pass.push("--skip".to_string());
            pass.push(skip.to_string());
        }
        return Ok(pass);
    }
    suite_args(asked)
}

/// The test filter asked for, as arguments of a run of the end-to-end suite; an error when
/// the tests asked for are not the suite.
fn suite_args(asked: &[String]) -> Result<Vec<String>, &'static str> {
    let names_e2e = asked.windows(2).any(|w| w[0] == "--test" && w[1] == "e2e")
        || asked.iter().any(|a| a == "--test=e2e");
    if !names_e2e {
        return Err("the tests asked for are not the end-to-end suite");
    }
    let names_package = asked
        .iter()
        .take_while(|a| *a != "--")
        .any(|a| a.starts_with("-p") || a.starts_with("--package"));
    let mut pass = Vec::new();
    if !names_package {
        pass.extend(["-p".to_string(), "mab-tests".to_string()]);
    }
    pass.extend(asked.iter().cloned());
    Ok(pass)
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

fn skipped(name: String, why: &'static str) -> Step {
    Step {
        name,
        outcome: Outcome::Skipped(why),
        took: Duration::ZERO,
    }
}

/// Runs `cargo test` as a step, its output streamed and its result lines counted.
fn test_step(name: String, cmd: Cmd, counts: &mut Counts) -> Result<Step> {
    signals::check()?;
    eprintln!("==> {name}: {}", cmd.display());
    let started = Instant::now();
    let status = cmd.status_tee(|line| counts.add(line));
    signals::check()?;
    Ok(Step {
        name,
        outcome: match status {
            Ok(s) if s.success() => Outcome::Ok,
            Ok(s) => Outcome::Failed(s.to_string()),
            Err(e) => Outcome::Failed(format!("{e:#}")),
        },
        took: started.elapsed(),
    })
}

/// Runs one step with its output streamed; an interruption ends the whole run.
fn step(name: String, cmd: Cmd) -> Result<Step> {
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
    use super::{Args, Counts, classic_pass_args};

    fn args(cargo_test_args: &[&str], no_classic: bool) -> Args {
        Args {
            no_lint: false,
            no_classic,
            engines: vec![super::Engine::System],
            cargo_test_args: cargo_test_args.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn the_classic_pass_runs_the_end_to_end_suite() {
        let whole = classic_pass_args(&args(&[], false)).unwrap();
        assert_eq!(whole[..5], ["-p", "mab-tests", "--test", "e2e", "--"]);
        assert_eq!(whole[5..7], ["--skip", "buildkit::"]);
        assert_eq!(whole.len(), 5 + 2 * super::CLASSIC_PASS_SKIPS.len());
        assert_eq!(
            classic_pass_args(&args(&["--test", "e2e", "cache::"], false)).unwrap(),
            ["-p", "mab-tests", "--test", "e2e", "cache::"]
        );
        assert!(classic_pass_args(&args(&["-p", "mab-plan"], false)).is_err());
        assert!(classic_pass_args(&args(&[], true)).is_err());
    }

    #[test]
    fn the_newest_engines_pass_runs_the_suite_without_its_skips() {
        let whole = super::e2e_args(&args(&[], false)).unwrap();
        assert_eq!(whole[..5], ["-p", "mab-tests", "--test", "e2e", "--"]);
        assert_eq!(whole.len(), 5 + 2 * super::NEWEST_PASS_SKIPS.len());
        let some = super::e2e_args(&args(&["--test", "e2e", "rerun::"], false)).unwrap();
        assert_eq!(some[..5], ["-p", "mab-tests", "--test", "e2e", "rerun::"]);
        assert!(some.contains(&"--".to_string()) && some.contains(&"--skip".to_string()));
    }

    #[test]
    fn counts_sum_libtest_result_lines() {
        let mut c = Counts::default();
        c.add("test result: ok. 85 passed; 0 failed; 2 ignored; 0 measured; 0 filtered out; finished in 0.08s");
        c.add("test result: FAILED. 3 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 16.78s");
        c.add("test foo ... ok");
        assert_eq!((c.passed, c.failed, c.ignored), (88, 1, 2));
    }
}
