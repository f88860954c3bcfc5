//! `cargo xtask bench [--runs N] [--quick] [--only flow,push,scale,cross] [--mab PATH]`: mab against the docker
//! CLI, side by side in one run on the same daemon and registry, medians over several runs,
//! reported as ratios, written to BENCHMARKS.md. Not a test: nothing here asserts a time.
//!
//! - flow (benchmarks 1 and 2): the seed article's flow by the docker CLI (`docker build
//!   --platform` per platform, `docker push` each, `docker manifest create` + `push`) vs
//!   `mab build` of the same plan, 2 images x 2 platforms; then mab's rerun with nothing
//!   changed vs its first run, with the bytes the registry received.
//! - push (benchmarks 3 and 4): a 512 MiB image (one random 256 MiB layer, one compressible),
//!   built once; `mab build` of it (a cached build: export, compress, upload) vs `docker push`,
//!   each to a fresh repository; the registry's raw ingest (`curl -T` of one 256 MiB blob);
//!   mab's peak RSS.
//! - scale (benchmark 5): 16 small images x 2 platforms vs the longest single (image,
//!   platform) build and push.
//! - cross (benchmark 6): BuildKit, a cross-compiling Dockerfile, 2 images x 2 platforms, mab vs
//!   the docker CLI with BuildKit; and the same work built the emulated way (see [`cross`]).
//! - buildx (benchmark 7, newest engine only): 2 images x 2 platforms with a fresh 48 MiB layer,
//!   `docker buildx build --push` vs mab, with the engine pushing (the default) and `--no-engine-push` (see [`buildx`]).
//!
//! The environment is xtask's (crate::env): the daemon at DOCKER_HOST (started if missing),
//! QEMU binfmt, a throwaway registry and the busybox bases; torn down at the end, with every
//! image the benchmark built.

mod buildx;
mod cross;
mod http;
mod proc;
mod registry_side;
mod report;
mod workload;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};

use crate::dockerd::docker;
use crate::env::{Env, Options};
use crate::paths::Paths;
use crate::registry::Port;
use crate::sh::Cmd;
use crate::signals;
use registry_side::{Activity, RegistryLog};
use report::{DockerFlow, Flow, MabRun, Push, Results, Scale};
use workload::Image;

/// The parts of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Benchmarks 1 and 2.
    Flow,
    /// Benchmarks 3 and 4.
    Push,
    /// Benchmark 5.
    Scale,
    /// Benchmark 6: BuildKit, cross-compiled and emulated.
    Cross,
    /// Benchmark 7: the engine's own multi-platform build (newest engine only).
    Buildx,
}

pub struct Args {
    /// Runs of the flow and push benchmarks.
    pub runs: usize,
    /// Runs of the scale benchmark.
    pub scale_runs: usize,
    /// Empty: all.
    pub only: Vec<Part>,
    /// A mab binary to measure instead of building target/release/mab.
    pub mab: Option<PathBuf>,
    /// The engines both tools run on, one after the other (default: 20.10, then newest).
    pub engines: Vec<crate::engine::Engine>,
    /// The arguments as given, for the "reproduce" line.
    pub argv: Vec<String>,
}

impl Args {
    pub fn parse(rest: &[String]) -> Result<Self> {
        let mut runs = None;
        let mut quick = false;
        let mut only = Vec::new();
        let mut mab = None;
        let mut engines = vec![crate::engine::Engine::System, crate::engine::Engine::Newest];
        let mut it = rest.iter();
        while let Some(a) = it.next() {
            let (flag, inline) = match a.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
                _ => (a.as_str(), None),
            };
            let mut value = |name: &str| -> Result<String> {
                inline
                    .clone()
                    .or_else(|| it.next().cloned())
                    .ok_or_else(|| crate::usage(format!("bench: {name} needs a value")))
            };
            match flag {
                "--quick" => quick = true,
                "--runs" => {
                    let v = value("--runs")?;
                    let n: usize = v.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                        crate::usage(format!("bench: --runs {v:?}: a whole number >= 1"))
                    })?;
                    runs = Some(n);
                }
                "--mab" => mab = Some(PathBuf::from(value("--mab")?)),
                "--engine" => engines = crate::engine::Engine::parse_list(&value("--engine")?)?,
                "--only" => {
                    for name in value("--only")?.split(',') {
                        only.push(match name.trim() {
                            "flow" => Part::Flow,
                            "push" => Part::Push,
                            "scale" => Part::Scale,
                            "cross" => Part::Cross,
                            "buildx" => Part::Buildx,
                            other => {
                                return Err(crate::usage(format!(
                                    "bench: --only {other:?}: one of flow, push, scale, cross, buildx"
                                )));
                            }
                        });
                    }
                }
                other => return Err(crate::usage(format!("bench: unknown argument {other:?}"))),
            }
        }
        let runs = runs.unwrap_or(if quick { 2 } else { 5 });
        Ok(Self {
            runs,
            scale_runs: if quick { 1 } else { runs },
            only,
            mab,
            engines,
            argv: rest.to_vec(),
        })
    }

    fn wants(&self, part: Part) -> bool {
        self.only.is_empty() || self.only.contains(&part)
    }
}

pub fn run(paths: &Paths, args: Args) -> Result<()> {
    let started = Instant::now();
    let out = paths.target.join("mab-bench");
    let logs = out.join("logs");
    let _ = std::fs::remove_dir_all(&logs);
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;

    let mab = match &args.mab {
        Some(path) => std::path::absolute(path)?,
        None => {
            eprintln!("==> cargo build --release -p mab-cli");
            Cmd::new(&paths.cargo)
                .current_dir(&paths.root)
                .args(["build", "--release", "-p", "mab-cli"])
                .run()?;
            paths.target.join("release").join("mab")
        }
    };
    if !mab.is_file() {
        bail!("no mab binary at {}", mab.display());
    }
    let mut all = Vec::new();
    for &engine in &args.engines {
        let results = run_on(paths, &args, engine, &mab, &logs, &out)?;
        println!("{}", report::table(&results));
        all.push(results);
    }
    // One report: every engine's summary side by side, then each engine's details.
    let file = if args.only.is_empty() {
        paths.root.join("BENCHMARKS.md")
    } else {
        out.join("BENCHMARKS.partial.md")
    };
    std::fs::write(&file, report::markdown_all(&all))
        .with_context(|| format!("writing {}", file.display()))?;
    eprintln!(
        "bench: wrote {} (logs of every measured command in {}); took {:.0} s",
        paths.rel(&file),
        paths.rel(&logs),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Measures every part asked for on `engine`.
fn run_on(
    paths: &Paths,
    args: &Args,
    engine: crate::engine::Engine,
    mab: &Path,
    logs: &Path,
    out: &Path,
) -> Result<Results> {
    let started = Instant::now();
    signals::check()?;
    let load_start = report::loadavg();

    let mut env = Env::up(
        paths,
        Options {
            registry_port: Port::Free,
            sweep_local_images: true,
            // docker-buildx, for benchmark 7 on the newest engine.
            oracles: engine == crate::engine::Engine::Newest && args.wants(Part::Buildx),
            engine,
        },
    )?;
    let work = tempfile::Builder::new()
        .prefix("work-")
        .tempdir_in(out)
        .context("creating the work folder")?;
    let port = env
        .registry
        .rsplit_once(':')
        .map(|(_, p)| p.to_string())
        .unwrap_or_default();
    let bench = Bench {
        env: &env,
        mab: mab.to_path_buf(),
        work: work.path().to_path_buf(),
        logs: logs.to_path_buf(),
        reg: RegistryLog::new(
            paths.state.join(format!("registry-{port}.log")),
            env.registry.clone(),
        ),
        storage: registry_side::storage_dir(&port),
        stamp: format!(
            "{:x}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
                % 0x100_0000
        ),
        dockerd: proc::find_dockerd(&env.docker_host),
        registry_pid: proc::find_pid("docker-registry", &format!("mab-registry-{port}-")),
        built: RefCell::default(),
    };
    let mut machine = report::Machine::probe(&paths.root, &env.docker_host, load_start);
    if let Some(path) = &args.mab {
        machine.mab = format!("the binary {} (--mab)", path.display());
    }

    type Measured = (
        Option<Flow>,
        Option<Push>,
        Option<Scale>,
        Option<cross::Cross>,
        Option<buildx::Buildx>,
    );
    let measured = (|| -> Result<Measured> {
        let flow = if args.wants(Part::Flow) {
            Some(bench.flow(args.runs)?)
        } else {
            None
        };
        let push = if args.wants(Part::Push) {
            Some(bench.push(args.runs)?)
        } else {
            None
        };
        let scale = if args.wants(Part::Scale) {
            Some(bench.scale(args.scale_runs)?)
        } else {
            None
        };
        let cross = if args.wants(Part::Cross) {
            Some(bench.cross(args.runs)?)
        } else {
            None
        };
        // buildx's docker driver pushes several platforms only from the containerd store.
        let buildx = if args.wants(Part::Buildx) && engine == crate::engine::Engine::Newest {
            Some(bench.buildx(args.runs)?)
        } else {
            None
        };
        Ok((flow, push, scale, cross, buildx))
    })();
    bench.remove_built_images();
    drop(bench);
    drop(work);
    env.teardown();
    let (flow, push, scale, cross, buildx) = measured?;

    machine.load_end = report::loadavg();
    Ok(Results {
        machine,
        command: std::iter::once("cargo xtask bench".to_string())
            .chain(args.argv.iter().cloned())
            .collect::<Vec<_>>()
            .join(" "),
        runs: args.runs,
        scale_runs: args.scale_runs,
        flow,
        push,
        scale,
        cross,
        buildx,
        took: started.elapsed(),
    })
}

/// Debian's docker.io client, whose `docker build` speaks BuildKit without the buildx plugin.
const BUILDKIT_CLIENT: &str = "/usr/bin/docker";

/// Which of the daemon's builders a `docker build` of the benchmarks uses.
#[derive(Clone, Copy)]
enum DockerBuilder {
    Classic,
    BuildKit,
}

struct Bench<'a> {
    env: &'a Env,
    mab: PathBuf,
    work: PathBuf,
    logs: PathBuf,
    reg: RegistryLog,
    /// The registry's storage folder, for `du`-style size deltas (if found).
    storage: Option<PathBuf>,
    /// Makes this invocation's nonces and repositories unique.
    stamp: String,
    dockerd: Option<u32>,
    registry_pid: Option<u32>,
    /// Image ids built during the benchmark, removed at the end.
    built: RefCell<Vec<String>>,
}

impl Bench<'_> {
    fn docker(&self) -> Cmd {
        docker(&self.env.docker_host)
    }

    /// `docker build` with `builder`, returning the image id.
    fn docker_build(
        &self,
        ctx: &Path,
        platform: &str,
        args: &[String],
        tag: &str,
        builder: DockerBuilder,
    ) -> Result<String> {
        let mut cmd = match builder {
            DockerBuilder::Classic => self.docker().env("DOCKER_BUILDKIT", "0"),
            // The docker CLI on PATH may be one (23+) whose `docker build` needs the buildx
            // plugin for BuildKit; Debian's 20.10 client (docker.io) has BuildKit built in.
            DockerBuilder::BuildKit => {
                let client = if Path::new(BUILDKIT_CLIENT).is_file() {
                    BUILDKIT_CLIENT
                } else {
                    "docker"
                };
                Cmd::new(client)
                    .env("DOCKER_HOST", &self.env.docker_host)
                    .env("DOCKER_BUILDKIT", "1")
            }
        }
        .args(["build", "-q", "--platform", platform]);
        for a in args {
            cmd = cmd.arg("--build-arg").arg(a);
        }
        let out = cmd.args(["-t", tag]).arg(ctx).read()?;
        let id = out.lines().last().unwrap_or("").trim().to_string();
        self.built.borrow_mut().push(id.clone());
        Ok(id)
    }

    fn reg_name(&self, path: &str) -> String {
        format!("{}/{path}", self.env.registry)
    }

    fn write_plan(&self, name: &str, context: &str, images: &[Image]) -> Result<PathBuf> {
        let dir = self.work.join("plans");
        std::fs::create_dir_all(&dir)?;
        let file = dir.join(format!("{name}.yaml"));
        std::fs::write(&file, workload::plan(&self.env.registry, context, images))?;
        Ok(file)
    }

    /// `mab build PLAN` with MAB_HOME=`home`, measured.
    fn mab_build(&self, label: &str, plan: &Path, home: &Path) -> Result<MabRun> {
        self.mab_build_with(label, plan, home, &[])
    }

    /// `mab build PLAN FLAGS...` with MAB_HOME=`home`, measured.
    fn mab_build_with(
        &self,
        label: &str,
        plan: &Path,
        home: &Path,
        flags: &[&str],
    ) -> Result<MabRun> {
        let mut cmd = Command::new(&self.mab);
        cmd.arg("build")
            .arg(plan)
            .args(flags)
            .env("MAB_HOME", home)
            .env("DOCKER_HOST", &self.env.docker_host);
        let display = format!(
            "MAB_HOME={} {} build {}",
            home.display(),
            self.mab.display(),
            plan.display()
        );
        let f = proc::run(
            cmd,
            &display,
            &self.logs.join(format!("{label}.log")),
            false,
        )?;
        let run = MabRun::from_finished(&f);
        self.built
            .borrow_mut()
            .extend(run.built_ids.iter().cloned());
        Ok(run)
    }

    fn storage_bytes(&self) -> Option<u64> {
        self.storage.as_deref().map(registry_side::tree_bytes)
    }

    /// Benchmarks 1 and 2.
    fn flow(&self, runs: usize) -> Result<Flow> {
        eprintln!("==> bench flow: docker CLI vs mab build, 2 images x 2 platforms; mab rerun");
        let ctx = self.work.join("small");
        workload::context(&ctx, workload::SMALL_DOCKERFILE)?;
        let home = self.work.join("mab-home-flow");
        let mut res = Flow::default();
        for r in 0..runs {
            let docker_first = r % 2 == 0;
            for docker_turn in [docker_first, !docker_first] {
                signals::check()?;
                if docker_turn {
                    let nonce = format!("{}-d{r}", self.stamp);
                    res.docker.push(self.docker_flow(&ctx, &nonce, r == 0)?);
                } else {
                    let images: Vec<Image> = ["app1", "app2"]
                        .iter()
                        .map(|app| Image {
                            repository: self.reg_name(&format!("bench/mab-{app}")),
                            platforms: vec!["linux/amd64", "linux/arm64"],
                            build_args: vec![
                                ("BASE", self.env.base_image.clone()),
                                ("NONCE", format!("{}-m{r}-{app}", self.stamp)),
                                ("DATA_KB", "4096".into()),
                            ],
                        })
                        .collect();
                    let plan = self.write_plan(&format!("flow-r{r}"), "../small", &images)?;
                    let mark = self.reg.mark()?;
                    let first = self.mab_build(&format!("flow-r{r}-mab"), &plan, &home)?;
                    res.mab_activity.push(self.reg.since(mark)?);
                    let du0 = self.storage_bytes();
                    let mark = self.reg.mark()?;
                    let again = self.mab_build(&format!("flow-r{r}-mab-rerun"), &plan, &home)?;
                    res.rerun_activity.push(self.reg.since(mark)?);
                    let du1 = self.storage_bytes();
                    res.rerun_du
                        .push(du0.zip(du1).map(|(a, b)| b as i64 - a as i64));
                    res.mab.push(first);
                    res.rerun.push(again);
                }
            }
            eprintln!(
                "bench flow run {}/{runs}: docker CLI {:.1} s, mab {:.1} s, mab rerun {:.1} s \
                 ({} of blobs uploaded by the rerun)",
                r + 1,
                res.docker[r].total,
                res.mab[r].wall,
                res.rerun[r].wall,
                report::human(res.rerun_activity[r].blob_bytes)
            );
        }
        Ok(res)
    }

    /// The article's flow by the docker CLI, timed as one script would run it: build each
    /// platform, push each per-arch tag, `docker manifest create`, `docker manifest push`.
    fn docker_flow(&self, ctx: &Path, nonce: &str, check: bool) -> Result<DockerFlow> {
        let lists: Vec<(String, String)> = ["app1", "app2"]
            .iter()
            .map(|a| (a.to_string(), self.reg_name(&format!("bench/cli-{a}"))))
            .collect();
        // A local list left by the previous run would be amended: drop it first (untimed).
        for (_, list) in &lists {
            let _ = self.docker().args(["manifest", "rm", list]).output();
        }
        let mark = self.reg.mark()?;
        let mut res = DockerFlow::default();
        let t0 = Instant::now();
        for (app, list) in &lists {
            let mut per_arch = Vec::new();
            let t = Instant::now();
            for (arch, base) in [
                ("amd64", &self.env.amd64_base),
                ("arm64", &self.env.arm64_base),
            ] {
                let tag = format!("{list}-{arch}");
                self.docker_build(
                    ctx,
                    &format!("linux/{arch}"),
                    &[
                        format!("BASE={base}"),
                        format!("NONCE={nonce}-{app}"),
                        "DATA_KB=4096".into(),
                    ],
                    &tag,
                    DockerBuilder::Classic,
                )?;
                per_arch.push(tag);
            }
            res.build += t.elapsed().as_secs_f64();
            let t = Instant::now();
            for tag in &per_arch {
                self.docker().args(["push", "-q", tag]).read()?;
            }
            res.push += t.elapsed().as_secs_f64();
            let t = Instant::now();
            self.docker()
                .args(["manifest", "create", "--insecure", list])
                .args(&per_arch)
                .read()?;
            self.docker()
                .args(["manifest", "push", "--insecure", list])
                .read()?;
            res.manifest += t.elapsed().as_secs_f64();
        }
        res.total = t0.elapsed().as_secs_f64();
        res.activity = self.reg.since(mark)?;
        for (_, list) in &lists {
            let _ = self.docker().args(["manifest", "rm", list]).output();
        }
        if check {
            // The docker CLI gets per-architecture base tags: with one multi-arch tag the
            // classic builder of 20.10 silently builds "arm64" on the local amd64 base.
            let arch = self
                .docker()
                .args(["image", "inspect", "-f", "{{.Architecture}}"])
                .arg(format!("{}-arm64", lists[0].1))
                .read()?;
            if arch != "arm64" {
                bail!("the docker CLI's linux/arm64 build made an image of architecture {arch}");
            }
        }
        Ok(res)
    }

    /// Benchmarks 3 and 4.
    fn push(&self, runs: usize) -> Result<Push> {
        eprintln!("==> bench push: a 512 MiB image, mab build (cached) vs docker push");
        let ctx = self.work.join("big");
        workload::context(&ctx, workload::BIG_DOCKERFILE)?;
        let base_arg = format!("BASE={}", self.env.amd64_base);
        let big_tag = self.reg_name(&format!("bench/big:{}", self.stamp));
        let t0 = Instant::now();
        // With BuildKit, as mab builds by default: mab's build of it is then a cache hit.
        let big_id = self.docker_build(
            &ctx,
            "linux/amd64",
            std::slice::from_ref(&base_arg),
            &big_tag,
            DockerBuilder::BuildKit,
        )?;
        let image_bytes: u64 = self
            .docker()
            .args(["image", "inspect", "-f", "{{.Size}}", &big_tag])
            .read()?
            .parse()
            .context("the size of the 512 MiB image")?;
        eprintln!(
            "bench push: built {big_tag} ({}) once in {:.1} s",
            report::human(image_bytes),
            t0.elapsed().as_secs_f64()
        );

        // The raw-ingest blob: 256 MiB of random data, uploaded as is.
        let raw = self.work.join("raw-256MiB.bin");
        {
            let mut src = std::fs::File::open("/dev/urandom")?;
            let mut dst = std::fs::File::create(&raw)?;
            std::io::copy(&mut std::io::Read::take(&mut src, workload::HALF), &mut dst)?;
        }
        let sha = Cmd::new("sha256sum").arg(&raw).read()?;
        let raw_digest = format!("sha256:{}", sha.split_whitespace().next().unwrap_or(""));

        let mut res = Push {
            image_bytes,
            ..Push::default()
        };
        for r in 0..runs {
            let docker_first = r % 2 == 0;
            for docker_turn in [docker_first, !docker_first] {
                signals::check()?;
                if docker_turn {
                    let repo = format!("bench/push-docker-{}-r{r}", self.stamp);
                    let tag = format!("{}:latest", self.reg_name(&repo));
                    self.docker().args(["tag", &big_tag, &tag]).read()?;
                    let mark = self.reg.mark()?;
                    let (d, g) = self.meters();
                    let t0 = Instant::now();
                    self.docker().args(["push", "-q", &tag]).read()?;
                    res.docker.push(t0.elapsed().as_secs_f64());
                    res.docker_dockerd_cpu.push(d.stop());
                    res.docker_registry_cpu.push(g.stop());
                    let a = self.reg.since(mark)?;
                    self.docker().args(["rmi", &tag]).read()?;
                    self.unlink_all(&a)?;
                    res.docker_activity.push(a);
                } else {
                    let plan = self.big_plan(&format!("push-r{r}"), "mab", r)?;
                    // A fresh MAB_HOME: mab has no local memory of these layers, and the
                    // repository is new, so every blob is really compressed and uploaded.
                    let home = self.work.join(format!("mab-home-push-r{r}"));
                    let mark = self.reg.mark()?;
                    let (d, g) = self.meters();
                    // mab's own pusher (which the engine's push, the default where it can,
                    // replaces on the containerd store: measured below).
                    let run = self.mab_build_with(
                        &format!("push-r{r}-mab"),
                        &plan,
                        &home,
                        &["--no-engine-push"],
                    )?;
                    res.mab_dockerd_cpu.push(d.stop());
                    res.mab_registry_cpu.push(g.stop());
                    let a = self.reg.since(mark)?;
                    self.unlink_all(&a)?;
                    res.mab_cache_hit.push(run.built_ids.contains(&big_id));
                    res.mab_activity.push(a);
                    res.mab.push(run);
                }
            }
            // The engine's own push (mab's default), where its image store keeps compressed
            // blobs.
            if self.env.engine == Some(crate::engine::Engine::Newest) {
                signals::check()?;
                let plan = self.big_plan(&format!("push-engine-r{r}"), "engine", r)?;
                let home = self.work.join(format!("mab-home-push-engine-r{r}"));
                let mark = self.reg.mark()?;
                let run = self.mab_build_with(
                    &format!("push-engine-r{r}-mab"),
                    &plan,
                    &home,
                    &["--engine-push"],
                )?;
                let a = self.reg.since(mark)?;
                self.unlink_all(&a)?;
                res.mab_engine_activity.push(a);
                res.mab_engine.push(run);
            }
            // The registry's raw ingest: one monolithic upload of 256 MiB.
            let repo = format!("bench/ingest-{}-r{r}", self.stamp);
            let t0 = Instant::now();
            let session = http::request(
                &self.env.registry,
                "POST",
                &format!("/v2/{repo}/blobs/uploads/"),
            )?;
            let location = session
                .header("location")
                .filter(|_| session.status == 202)
                .with_context(|| {
                    format!("POST /v2/{repo}/blobs/uploads/ answered {}", session.status)
                })?;
            let mut url = if location.starts_with('/') {
                format!("http://{}{location}", self.env.registry)
            } else {
                location.to_string()
            };
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&format!("digest={raw_digest}"));
            Cmd::new("curl")
                .args(["-sS", "-f", "-o", "/dev/null", "-T"])
                .arg(&raw)
                .args(["-H", "Content-Type: application/octet-stream", &url])
                .read()?;
            res.curl.push(t0.elapsed().as_secs_f64());
            self.reg.unlink(&[(repo, raw_digest.clone())])?;

            // The export alone: `docker save` of the image into nothing.
            let mut save = Command::new("docker");
            save.args(["save", &big_tag])
                .env("DOCKER_HOST", &self.env.docker_host);
            let f = proc::run(
                save,
                &format!("docker save {big_tag} >/dev/null"),
                &self.logs.join(format!("push-r{r}-docker-save.log")),
                true,
            )?;
            res.save.push(f.wall.as_secs_f64());
            // The same export through the API, for when its first byte comes.
            if let Some(socket) = self.env.docker_host.strip_prefix("unix://") {
                let timing = Cmd::new("curl")
                    .args([
                        "-sS",
                        "-f",
                        "-o",
                        "/dev/null",
                        "-w",
                        "%{time_starttransfer}",
                    ])
                    .args(["--unix-socket", socket])
                    .arg(format!("http://docker/images/{big_id}/get"))
                    .read()?;
                res.save_first_byte.push(
                    timing
                        .trim()
                        .parse()
                        .with_context(|| format!("curl's time to first byte: {timing:?}"))?,
                );
            }

            eprintln!(
                "bench push run {}/{runs}: docker push {:.1} s, mab build {:.1} s (peak RSS {}), \
                 curl -T 256 MiB {:.1} s, docker save {:.1} s",
                r + 1,
                res.docker[r],
                res.mab[r].wall,
                report::human(res.mab[r].maxrss_kib * 1024),
                res.curl[r],
                res.save[r]
            );
        }
        Ok(res)
    }

    /// A plan of the 512 MiB image alone, for linux/amd64, into a fresh repository
    /// (`bench/push-WHO-STAMP-rRUN`).
    fn big_plan(&self, name: &str, who: &str, run: usize) -> Result<PathBuf> {
        let repo = format!("bench/push-{who}-{}-r{run}", self.stamp);
        self.write_plan(
            name,
            "../big",
            &[Image {
                repository: self.reg_name(&repo),
                platforms: vec!["linux/amd64"],
                build_args: vec![("BASE", self.env.amd64_base.clone())],
            }],
        )
    }

    /// CPU meters of dockerd and of the registry.
    fn meters(&self) -> (proc::CpuMeter, proc::CpuMeter) {
        (
            proc::CpuMeter::start(self.dockerd),
            proc::CpuMeter::start(self.registry_pid),
        )
    }

    /// Unlinks every blob a window committed or mounted, so no later push mounts it.
    fn unlink_all(&self, a: &Activity) -> Result<()> {
        let blobs: Vec<(String, String)> = a.committed.iter().chain(&a.mounted).cloned().collect();
        self.reg.unlink(&blobs)
    }

    /// Benchmark 5.
    fn scale(&self, runs: usize) -> Result<Scale> {
        eprintln!("==> bench scale: 16 images x 2 platforms vs one (image, platform)");
        let ctx = self.work.join("small");
        workload::context(&ctx, workload::SMALL_DOCKERFILE)?;
        let home = self.work.join("mab-home-scale");
        let mut res = Scale::default();
        let small = |name: String, platforms: Vec<&'static str>, nonce: String| Image {
            repository: self.reg_name(&name),
            platforms,
            build_args: vec![
                ("BASE", self.env.base_image.clone()),
                ("NONCE", nonce),
                ("DATA_KB", "1024".into()),
            ],
        };
        for r in 0..runs {
            let singles_first = r % 2 == 0;
            for singles_turn in [singles_first, !singles_first] {
                signals::check()?;
                if singles_turn {
                    for (arch, out) in [
                        ("arm64", &mut res.single_arm64),
                        ("amd64", &mut res.single_amd64),
                    ] {
                        let image = small(
                            format!("bench/scale-single-{arch}"),
                            vec![if arch == "arm64" {
                                "linux/arm64"
                            } else {
                                "linux/amd64"
                            }],
                            format!("{}-s{r}-single-{arch}", self.stamp),
                        );
                        let plan = self.write_plan(
                            &format!("scale-r{r}-single-{arch}"),
                            "../small",
                            &[image],
                        )?;
                        let run =
                            self.mab_build(&format!("scale-r{r}-single-{arch}"), &plan, &home)?;
                        out.push(run.wall);
                    }
                } else {
                    let images: Vec<Image> = (1..=16)
                        .map(|i| {
                            small(
                                format!("bench/scale-{i:02}"),
                                vec!["linux/amd64", "linux/arm64"],
                                format!("{}-s{r}-{i:02}", self.stamp),
                            )
                        })
                        .collect();
                    let plan = self.write_plan(&format!("scale-r{r}"), "../small", &images)?;
                    let run = self.mab_build(&format!("scale-r{r}-all"), &plan, &home)?;
                    res.total.push(run);
                }
            }
            eprintln!(
                "bench scale run {}/{runs}: 16 x 2 in {:.1} s; single arm64 {:.1} s, single \
                 amd64 {:.1} s",
                r + 1,
                res.total[r].wall,
                res.single_arm64[r],
                res.single_amd64[r]
            );
        }
        Ok(res)
    }

    /// Removes the images the benchmark built (tags under the registry go with the
    /// environment's teardown).
    fn remove_built_images(&self) {
        let mut ids = std::mem::take(&mut *self.built.borrow_mut());
        ids.retain(|id| id.starts_with("sha256:"));
        ids.sort();
        ids.dedup();
        if ids.is_empty() {
            return;
        }
        let mut removed = 0;
        for chunk in ids.chunks(50) {
            // Quietly: an id already gone, or still tagged elsewhere, is not a problem.
            if let Ok(o) = self.docker().arg("rmi").args(chunk).shielded().output() {
                removed += String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .filter(|l| l.starts_with("Deleted:"))
                    .count();
            }
        }
        eprintln!(
            "bench: removing the {} images built by the benchmark deleted {removed} images and \
             layers",
            ids.len()
        );
    }
}
