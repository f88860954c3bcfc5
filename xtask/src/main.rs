//! Developer tasks for mab.
//!
//! - `cargo xtask test [--no-lint] [--no-classic] [-- CARGO_TEST_ARGS...]`: brings up a Docker
//!   daemon (unless one answers at DOCKER_HOST), QEMU binfmt for arm64, a throwaway registry on
//!   a free 127.0.0.1 port and multi-arch busybox base images; runs fmt, clippy, `cargo build -p
//!   mab-cli`, `cargo test --workspace`, and the end-to-end suite again with the classic builder
//!   (`MAB_TEST_BUILDER=classic`); tears down what it started.
//! - `cargo xtask demo [--keep]`: the same environment, then `mab build
//!   examples/echo-platform/plan.yaml` and what each platform's container prints.
//! - `cargo xtask env`: the same environment, kept up until Ctrl-C, for running tests by hand.
//! - `cargo xtask bench [--runs N] [--quick] [--only flow,push,scale,cross] [--mab PATH]`: mab
//!   against the docker CLI on the same environment; writes BENCHMARKS.md (see [`bench`]).

mod base;
mod bench;
mod binfmt;
mod demo;
mod dockerd;
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
  test [--no-lint] [--no-classic] [-- ARGS...]
                                  bring up the test environment, run fmt, clippy, build mab,
                                  `cargo test --workspace ARGS...`, then the end-to-end suite
                                  again with the classic builder (MAB_TEST_BUILDER=classic;
                                  --no-classic skips it), tear down
  demo [--keep]                   build examples/echo-platform with mab into a local registry
                                  and show the result; --keep leaves the registry running
  env                             bring up the test environment, print its variables and keep
                                  it until Ctrl-C
  schema                          regenerate docs/plan.schema.json (`mab plan schema`)
  bench [--runs N] [--quick] [--only flow,push,scale,cross] [--mab PATH]
                                  benchmark a release build of mab against the docker CLI on
                                  the same environment (medians of N runs, default 5; --quick:
                                  2 runs, 1 for scale) and write BENCHMARKS.md (with --only:
                                  target/mab-bench/BENCHMARKS.partial.md); --mab PATH
                                  measures that binary instead of building one

Environment: DOCKER_HOST picks the daemon (default unix:///var/run/docker.sock); when none
answers there, xtask starts dockerd on that socket and stops it at the end.";

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
            let mut cargo_test_args = Vec::new();
            let mut it = rest.iter();
            while let Some(a) = it.next() {
                match a.as_str() {
                    "--no-lint" => no_lint = true,
                    "--no-classic" => no_classic = true,
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
                    cargo_test_args,
                },
            )
        }
        "demo" => {
            let mut keep = false;
            for a in rest {
                match a.as_str() {
                    "--keep" => keep = true,
                    other => return Err(usage(format!("demo: unknown argument {other:?}"))),
                }
            }
            signals::install()?;
            let paths = paths::Paths::discover()?;
            demo::run(&paths, demo::Args { keep })?;
            Ok(true)
        }
        "env" => {
            if let Some(other) = rest.first() {
                return Err(usage(format!("env: unknown argument {other:?}")));
            }
            signals::install()?;
            let paths = paths::Paths::discover()?;
            hold_env(&paths)?;
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

/// `cargo xtask env`: the environment until a signal arrives.
fn hold_env(paths: &paths::Paths) -> Result<()> {
    let mut env = env::Env::up(
        paths,
        env::Options {
            registry_port: registry::Port::Free,
            sweep_local_images: true,
            oracles: true,
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
