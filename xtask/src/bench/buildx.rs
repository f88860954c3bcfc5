//! Benchmark 7, the engine's own multi-platform build (newest engine only): 2 images x 2
//! platforms, each with a fresh 48 MiB random layer, `docker buildx build --platform
//! linux/amd64,linux/arm64 --push` per image (Debian's docker-buildx, the docker driver: the
//! engine's own BuildKit and image store) vs `mab build` of a plan with both images, and `mab
//! build --no-engine-push` (mab's pusher).

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context as _, Result};

use super::Bench;
use super::report::{MabRun, Row, fmt_ratio, median, ratio, row, secs, verdict, walls};
use super::workload::{self, Image};
use crate::signals;

/// The benchmark's Dockerfile: a fresh 48 MiB random layer per build (the `NONCE`).
const DOCKERFILE: &str = r#"# mab bench: 48 MiB of fresh random data per build.
ARG BASE
FROM ${BASE}
ARG NONCE
RUN echo "$NONCE" > /nonce && head -c 50331648 /dev/urandom > /data.bin
CMD ["uname", "-m"]
"#;

/// What benchmark 7 measured, per run.
#[derive(Default)]
pub struct Buildx {
    /// `docker buildx build --push`, both images one after the other: seconds.
    pub buildx: Vec<f64>,
    pub mab: Vec<MabRun>,
    pub mab_engine: Vec<MabRun>,
}

impl Bench<'_> {
    /// Benchmark 7.
    pub(super) fn buildx(&self, runs: usize) -> Result<Buildx> {
        eprintln!(
            "==> bench buildx: 2 images x 2 platforms with a fresh 48 MiB layer, docker buildx \
             build --push vs mab build (and --no-engine-push)"
        );
        let config = self
            .env
            .oracles
            .as_ref()
            .map(|o| o.buildx_config.clone())
            .context("bench buildx needs docker-buildx (the oracles)")?;
        let ctx = self.work.join("buildx");
        workload::context(&ctx, DOCKERFILE)?;
        let home = self.work.join("mab-home-buildx");
        let mut res = Buildx::default();
        for r in 0..runs {
            // Three contenders; the order turns from run to run.
            for turn in 0..3 {
                signals::check()?;
                let nonce = format!("{}-b{r}-{turn}", self.stamp);
                match (turn + r) % 3 {
                    0 => res.buildx.push(self.buildx_flow(&ctx, &config, &nonce)?),
                    which => {
                        let engine = which == 2;
                        let images: Vec<Image> = ["app1", "app2"]
                            .iter()
                            .map(|app| Image {
                                repository: self.reg_name(&format!(
                                    "bench/mab-bx{}-{app}",
                                    if engine { "-engine" } else { "" }
                                )),
                                platforms: vec!["linux/amd64", "linux/arm64"],
                                build_args: vec![
                                    ("BASE", self.env.base_image.clone()),
                                    ("NONCE", format!("{nonce}-{app}")),
                                ],
                            })
                            .collect();
                        let label =
                            format!("buildx-r{r}-mab{}", if engine { "-engine" } else { "" });
                        let plan = self.write_plan(&label, "../buildx", &images)?;
                        let flags: &[&str] = if engine {
                            &["--engine-push"]
                        } else {
                            &["--no-engine-push"]
                        };
                        let run = self.mab_build_with(&label, &plan, &home, flags)?;
                        if engine {
                            res.mab_engine.push(run);
                        } else {
                            res.mab.push(run);
                        }
                    }
                }
            }
            eprintln!(
                "bench buildx run {}/{runs}: buildx {:.1} s, mab --no-engine-push {:.1} s, mab {:.1} s",
                r + 1,
                res.buildx[r],
                res.mab[r].wall,
                res.mab_engine[r].wall
            );
        }
        Ok(res)
    }

    /// Both images by `docker buildx build --platform linux/amd64,linux/arm64 --push`, one
    /// after the other, timed as one script would run them.
    fn buildx_flow(&self, ctx: &Path, config: &Path, nonce: &str) -> Result<f64> {
        let t0 = Instant::now();
        for app in ["app1", "app2"] {
            let tag = self.reg_name(&format!("bench/buildx-{app}:latest"));
            crate::sh::Cmd::new("docker")
                .env("DOCKER_HOST", &self.env.docker_host)
                .env("DOCKER_CONFIG", config)
                .args(["buildx", "build", "--quiet", "--push"])
                .args(["--platform", "linux/amd64,linux/arm64"])
                .args(["--provenance=false", "--sbom=false"])
                .arg("--build-arg")
                .arg(format!("BASE={}", self.env.base_image))
                .arg("--build-arg")
                .arg(format!("NONCE={nonce}-{app}"))
                .args(["-t", &tag])
                .arg(ctx)
                .read()?;
        }
        Ok(t0.elapsed().as_secs_f64())
    }
}

/// The summary rows of benchmark 7.
pub fn rows(b: &Buildx) -> Vec<Row> {
    let buildx = median(&b.buildx);
    let mab = median(&walls(&b.mab));
    let engine = median(&walls(&b.mab_engine));
    let x = ratio(mab, buildx);
    let e = ratio(engine, buildx);
    vec![
        row(
            "7 2 images x 2 platforms, fresh 48 MiB layer",
            "docker buildx build --platform linux/amd64,linux/arm64 --push, per image",
            secs(buildx),
            String::new(),
            "",
            "",
        ),
        row(
            "",
            "mab build --no-engine-push (mab's pusher)",
            secs(mab),
            fmt_ratio(x),
            "<= 0.80x",
            verdict(x.map(|x| x <= 0.8)),
        ),
        row(
            "",
            "mab build (the engine pushes: the default)",
            secs(engine),
            fmt_ratio(e),
            "<= 0.80x",
            verdict(e.map(|e| e <= 0.8)),
        ),
    ]
}

/// The how and the per-run table of benchmark 7, for BENCHMARKS.md.
pub fn markdown(w: &mut String, b: &Buildx) {
    let _ = writeln!(w, "## 7: the engine's own multi-platform build, per run\n");
    let _ = writeln!(
        w,
        "The Dockerfile (`xtask/src/bench/buildx.rs`) writes 48 MiB of fresh random data (a \
         new `NONCE` per build, so every build runs and every layer is new to the registry). \
         buildx: `docker buildx build --platform linux/amd64,linux/arm64 --push \
         --provenance=false --sbom=false` of each image in turn (Debian's docker-buildx, the \
         docker driver: the engine's own BuildKit). mab: `mab build --no-engine-push` (mab's \
         pusher) of a plan with both images and platforms; then `mab build` (the engine \
         pushes, mab's default where it can). The three take turns in a rotating order.\n"
    );
    let _ = writeln!(
        w,
        "| run | buildx | mab --no-engine-push | / buildx | mab (engine push) | / buildx |"
    );
    let _ = writeln!(w, "|---:|---:|---:|---:|---:|---:|");
    let n = b.buildx.len().min(b.mab.len()).min(b.mab_engine.len());
    for i in 0..n {
        let (d, m, e) = (b.buildx[i], b.mab[i].wall, b.mab_engine[i].wall);
        let _ = writeln!(
            w,
            "| {} | {d:.2} s | {m:.2} s | {} | {e:.2} s | {} |",
            i + 1,
            fmt_ratio(ratio(Some(m), Some(d))),
            fmt_ratio(ratio(Some(e), Some(d))),
        );
    }
    let _ = writeln!(w);
}
