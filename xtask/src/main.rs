//! Developer tasks for mab.
//!
//! - `cargo xtask test [--no-lint] [--no-classic] [--engine E] [-- CARGO_TEST_ARGS...]`: on
//!   each engine (default: 20.10, then newest; the newest one runs the end-to-end suite only),
//!   brings up a Docker
//!   daemon (unless one answers at DOCKER_HOST), QEMU binfmt for arm64, a throwaway registry on
//!   a free 127.0.0.1 port and multi-arch busybox base images; runs fmt, clippy, `cargo build -p
//!   mab-cli`, `cargo test --workspace`, and the end-to-end suite again with the classic builder
//!   (`MAB_TEST_BUILDER=classic`); tears down what it started.
//! - `cargo xtask demo [--keep] [--engine E]` (default: newest): the same environment, then `mab build
//!   examples/echo-platform/plan.yaml` and what each platform's container prints.
//! - `cargo xtask env [--engine E]` (default: 20.10): the same environment, kept up until Ctrl-C, for running tests by hand.
//! - `cargo xtask bench [--runs N] [--quick] [--only flow,push,scale,cross] [--mab PATH] [--engine
//!   E]`: mab against the docker CLI on the same environment; writes BENCHMARKS.md (see
//!   [`bench`]).
//!
//! `--engine` picks the Docker engine of the environment (see [`engine`]): `20.10` (Debian 12's,
//! the daemon at DOCKER_HOST), `newest` (a private Docker 28.5 with the containerd image store)
//! or, for `test`, `both` (the default there).

mod base;
mod bench;
mod binfmt;
mod demo;
mod dockerd;
mod engine;
mod env;
mod oracles;
mod paths;
mod registry;
mod sh;
mod signals;
mod test;
mod tools;

use std::process::ExitCode;

use anyhow::Result;

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  test [--no-lint] [--no-classic] [--engine 20.10|newest|both] [-- ARGS...]
                                  bring up the test environment, run fmt, clippy, build mab,
                                  `cargo test --workspace ARGS...`, then the end-to-end suite
                                  again with the classic builder (MAB_TEST_BUILDER=classic;
                                  --no-classic skips it), tear down; then the end-to-end
                                  suite on the newest engine (default: both engines)
  demo [--keep] [--engine 20.10|newest]
                                  build examples/echo-platform with mab into a local registry
                                  and show the result (default engine: newest); --keep leaves
                                  the registry running
  env [--engine 20.10|newest]     bring up the test environment (default engine: 20.10),
                                  print its variables and keep it until Ctrl-C
  schema                          regenerate docs/plan.schema.json (`mab plan schema`)
  bench [--runs N] [--quick] [--only flow,push,scale,cross] [--mab PATH] [--engine 20.10|newest]
                                  benchmark a release build of mab against the docker CLI on
                                  the same environment (medians of N runs, default 5; --quick:
                                  2 runs, 1 for scale) and write BENCHMARKS.md (with --only:
                                  target/mab-bench/BENCHMARKS.partial.md); --mab PATH
                                  measures that binary instead of building one

Engines: 20.10 is Debian 12's docker.io: DOCKER_HOST picks that daemon (default
unix:///var/run/docker.sock); when none answers there, xtask starts dockerd on that socket
and stops it at the end. newest is sid's docker.io (28.5) with the containerd image store,
downloaded into target/engines/newest and run as a private daemon with its own containerd,
sockets, data root and bridge (DOCKER_HOST is not used for it).";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) if e.is::<signals::Interrupted>() || signals::interrupted() => {
            eprintln!("xtask: interrupted");
            ExitCode::from(130)
        }
        Err(e) if e.is::<Usage>() => {
            eprintln!("xtask: {e}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug)]
struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

fn usage(msg: impl Into<String>) -> anyhow::Error {
    Usage(msg.into()).into()
}

fn run(args: Vec<String>) -> Result<bool> {
    let Some((task, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return Ok(false);
    };
    match task.as_str() {
        "test" => {
            let mut no_lint = false;
            let mut no_classic = false;
            let mut engines = vec![engine::Engine::System, engine::Engine::Newest];
            let mut cargo_test_args = Vec::new();
            let mut it = rest.iter();
            while let Some(a) = it.next() {
                match a.as_str() {
                    "--no-lint" => no_lint = true,
                    "--no-classic" => no_classic = true,
                    "--engine" => engines = engine::Engine::parse_list(&engine_value(&mut it)?)?,
                    e if e.starts_with("--engine=") => {
                        engines = engine::Engine::parse_list(&e["--engine=".len()..])?
                    }
                    "--" => {
                        cargo_test_args.extend(it.by_ref().cloned());
                    }
                    _ => cargo_test_args.push(a.clone()),
                }
            }
            signals::install()?;
            let paths = paths::Paths::discover()?;
            test::run(
                &paths,
                test::Args {
                    no_lint,
                    no_classic,
                    engines,
                    cargo_test_args,
                },
            )
        }
        "demo" => {
            let mut keep = false;
            let mut engine = engine::Engine::Newest;
            let mut it = rest.iter();
            while let Some(a) = it.next() {
                match a.as_str() {
                    "--keep" => keep = true,
                    "--engine" => engine = engine::Engine::parse_one(&engine_value(&mut it)?)?,
                    e if e.starts_with("--engine=") => {
                        engine = engine::Engine::parse_one(&e["--engine=".len()..])?
                    }
                    other => return Err(usage(format!("demo: unknown argument {other:?}"))),
                }
            }
            signals::install()?;
            let paths = paths::Paths::discover()?;
            demo::run(&paths, demo::Args { keep, engine })?;
            Ok(true)
        }
        "env" => {
            let mut engine = engine::Engine::System;
            let mut it = rest.iter();
            while let Some(a) = it.next() {
                match a.as_str() {
                    "--engine" => engine = engine::Engine::parse_one(&engine_value(&mut it)?)?,
                    e if e.starts_with("--engine=") => {
                        engine = engine::Engine::parse_one(&e["--engine=".len()..])?
                    }
                    other => return Err(usage(format!("env: unknown argument {other:?}"))),
                }
            }
            signals::install()?;
            let paths = paths::Paths::discover()?;
            hold_env(&paths, engine)?;
            Ok(true)
        }
        "bench" => {
            let args = bench::Args::parse(rest)?;
            signals::install()?;
            let paths = paths::Paths::discover()?;
            bench::run(&paths, args)?;
            Ok(true)
        }
        "schema" => {
            if let Some(other) = rest.first() {
                return Err(usage(format!("schema: unknown argument {other:?}")));
            }
            let paths = paths::Paths::discover()?;
            write_schema(&paths)?;
            Ok(true)
        }
        "help" | "-h" | "--help" => {
            eprintln!("{USAGE}");
            Ok(true)
        }
        other => Err(usage(format!("unknown task {other:?}"))),
    }
}

/// `cargo xtask schema`: regenerates docs/plan.schema.json from the code (`mab plan schema`); a
/// test in mab-plan fails while the committed copy is stale.
fn write_schema(paths: &paths::Paths) -> Result<()> {
    let output = std::process::Command::new(&paths.cargo)
        .current_dir(&paths.root)
        .args(["run", "--quiet", "-p", "mab-cli", "--", "plan", "schema"])
        .stderr(std::process::Stdio::inherit())
        .output()?;
    if !output.status.success() {
        anyhow::bail!("`mab plan schema` failed ({})", output.status);
    }
    let file = paths.root.join("docs").join("plan.schema.json");
    std::fs::create_dir_all(file.parent().expect("docs/"))?;
    std::fs::write(&file, &output.stdout)?;
    eprintln!("xtask: wrote {}", paths.rel(&file));
    Ok(())
}

/// The value of `--engine`.
fn engine_value(it: &mut std::slice::Iter<'_, String>) -> Result<String> {
    it.next()
        .cloned()
        .ok_or_else(|| usage("--engine needs a value: 20.10, newest or both"))
}

/// `cargo xtask env`: the environment until a signal arrives.
fn hold_env(paths: &paths::Paths, engine: engine::Engine) -> Result<()> {
    let mut env = env::Env::up(
        paths,
        env::Options {
            registry_port: registry::Port::Free,
            sweep_local_images: true,
            oracles: true,
            engine,
        },
    )?;
    println!("# the test environment is up; in another shell:");
    for (k, v) in env.test_vars(paths) {
        println!("export {k}={v}");
    }
    println!("# then e.g.: cargo build -p mab-cli && cargo test -p mab-tests");
    println!("# Ctrl-C here tears it down.");
    while !signals::interrupted() {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // A requested stop, not a failure.
    env.teardown();
    Ok(())
}
