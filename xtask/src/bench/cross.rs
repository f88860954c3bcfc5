//! Benchmark 6, BuildKit: a cross-compiling Dockerfile (its build stage runs on the build
//! platform and does real CPU work, its final stage is of the target platform and copies the
//! result), 2 images x 2 platforms, `mab build` vs the docker CLI with BuildKit (per platform
//! `DOCKER_BUILDKIT=1 docker build --platform`, `docker push` of each per-arch tag, `docker
//! manifest create` + `push`). Then the same workload built the emulated way (the build stage
//! of the target platform, so arm64's work runs under QEMU), by both tools, to show what
//! cross-compilation saves.

use std::fmt::Write as _;
use std::time::Instant;

use anyhow::{Result, bail};

use super::Bench;
use super::report::{MabRun, Row, fmt_ratio, median, ratio, row, secs, verdict, walls};
use super::workload::{self, Image};
use crate::signals;

/// Iterations of the build stage's shell loop: about a second or two natively on this kind
/// of machine, many times that under QEMU.
const WORK: &str = "300000";

/// The benchmark's Dockerfile, one way or the other: the build stage does the CPU work for
/// `$TARGETARCH`, the target stage only copies its output. Cross-compiled, the build stage is
/// on `$BUILDPLATFORM` (native, no QEMU); emulated, it is of the target platform.
fn dockerfile(way: Way) -> String {
    let build_stage = match way {
        Way::Cross => "FROM --platform=$BUILDPLATFORM ${BASE} AS build",
        Way::Emulated => "FROM ${BASE} AS build",
    };
    format!(
        r#"# mab bench: the {way} way of the same work.
ARG BASE
{build_stage}
ARG TARGETARCH
ARG NONCE
ARG WORK
RUN echo "$NONCE" > /nonce && i=0 && while [ $i -lt $WORK ]; do i=$((i+1)); done && echo "built on $(uname -m) for $TARGETARCH" > /out.txt && dd if=/dev/urandom of=/out.bin bs=1024 count=2048 2>/dev/null
FROM ${{BASE}}
COPY --from=build /out.txt /out.bin /
CMD ["cat", "/out.txt"]
"#,
        way = way.name()
    )
}

/// What benchmark 6 measured, per run.
#[derive(Default)]
pub struct Cross {
    /// The docker CLI with BuildKit, cross-compiling Dockerfile: whole flow, seconds.
    pub docker: Vec<f64>,
    pub mab: Vec<MabRun>,
    /// The same with the emulated Dockerfile.
    pub docker_emulated: Vec<f64>,
    pub mab_emulated: Vec<MabRun>,
}

/// The two ways of writing the Dockerfile.
#[derive(Clone, Copy)]
enum Way {
    Cross,
    Emulated,
}

impl Way {
    fn name(self) -> &'static str {
        match self {
            Way::Cross => "cross",
            Way::Emulated => "emulated",
        }
    }
}

impl Bench<'_> {
    /// Benchmark 6.
    pub(super) fn cross(&self, runs: usize) -> Result<Cross> {
        eprintln!(
            "==> bench cross: BuildKit, a cross-compiling Dockerfile, 2 images x 2 platforms, \
             docker CLI vs mab; then the same work emulated"
        );
        for way in [Way::Cross, Way::Emulated] {
            workload::context(&self.work.join(way.name()), &dockerfile(way))?;
        }
        let home = self.work.join("mab-home-cross");
        let mut res = Cross::default();
        for r in 0..runs {
            for way in [Way::Cross, Way::Emulated] {
                let docker_first = r % 2 == 0;
                for docker_turn in [docker_first, !docker_first] {
                    signals::check()?;
                    let nonce = format!("{}-x{r}-{}", self.stamp, way.name());
                    if docker_turn {
                        let took = self.docker_buildkit_flow(way, &nonce, r == 0)?;
                        match way {
                            Way::Cross => res.docker.push(took),
                            Way::Emulated => res.docker_emulated.push(took),
                        }
                    } else {
                        let images: Vec<Image> = ["app1", "app2"]
                            .iter()
                            .map(|app| Image {
                                repository: self
                                    .reg_name(&format!("bench/mab-{}-{app}", way.name())),
                                platforms: vec!["linux/amd64", "linux/arm64"],
                                build_args: vec![
                                    ("BASE", self.env.base_image.clone()),
                                    ("NONCE", format!("{nonce}-m-{app}")),
                                    ("WORK", WORK.into()),
                                ],
                            })
                            .collect();
                        let plan = self.write_plan(
                            &format!("{}-r{r}", way.name()),
                            &format!("../{}", way.name()),
                            &images,
                        )?;
                        let run =
                            self.mab_build(&format!("{}-r{r}-mab", way.name()), &plan, &home)?;
                        match way {
                            Way::Cross => res.mab.push(run),
                            Way::Emulated => res.mab_emulated.push(run),
                        }
                    }
                }
            }
            eprintln!(
                "bench cross run {}/{runs}: cross-compiled: docker CLI {:.1} s, mab {:.1} s; \
                 emulated: docker CLI {:.1} s, mab {:.1} s",
                r + 1,
                res.docker[r],
                res.mab[r].wall,
                res.docker_emulated[r],
                res.mab_emulated[r].wall
            );
        }
        Ok(res)
    }

    /// The per-platform flow by the docker CLI with BuildKit, timed as one script would run
    /// it. With `check`, also checks that the arm64 image is arm64 and says where its build
    /// stage ran.
    fn docker_buildkit_flow(&self, way: Way, nonce: &str, check: bool) -> Result<f64> {
        let ctx = self.work.join(way.name());
        let lists: Vec<(&str, String)> = ["app1", "app2"]
            .iter()
            .map(|a| (*a, self.reg_name(&format!("bench/cli-{}-{a}", way.name()))))
            .collect();
        for (_, list) in &lists {
            let _ = self.docker().args(["manifest", "rm", list]).output();
        }
        let t0 = Instant::now();
        for (app, list) in &lists {
            let mut per_arch = Vec::new();
            for arch in ["amd64", "arm64"] {
                let tag = format!("{list}-{arch}");
                self.docker_build(
                    &ctx,
                    &format!("linux/{arch}"),
                    &[
                        format!("BASE={}", self.env.base_image),
                        format!("NONCE={nonce}-d-{app}"),
                        format!("WORK={WORK}"),
                    ],
                    &tag,
                    super::DockerBuilder::BuildKit,
                )?;
                per_arch.push(tag);
            }
            for tag in &per_arch {
                self.docker().args(["push", "-q", tag]).read()?;
            }
            self.docker()
                .args(["manifest", "create", "--insecure", list])
                .args(&per_arch)
                .read()?;
            self.docker()
                .args(["manifest", "push", "--insecure", list])
                .read()?;
        }
        let took = t0.elapsed().as_secs_f64();
        for (_, list) in &lists {
            let _ = self.docker().args(["manifest", "rm", list]).output();
        }
        if check {
            let tag = format!("{}-arm64", lists[0].1);
            let arch = self
                .docker()
                .args(["image", "inspect", "-f", "{{.Architecture}}", &tag])
                .read()?;
            if arch != "arm64" {
                bail!("the docker CLI's linux/arm64 build made an image of architecture {arch}");
            }
            let said = self
                .docker()
                .args(["run", "--rm", "--platform", "linux/arm64", &tag])
                .read()?;
            let want = match way {
                Way::Cross => "built on x86_64 for arm64",
                Way::Emulated => "built on aarch64 for arm64",
            };
            if said.trim() != want {
                bail!("the {} arm64 image says {said:?}, not {want:?}", way.name());
            }
        }
        Ok(took)
    }
}

/// The summary rows of benchmark 6.
pub fn rows(c: &Cross) -> Vec<Row> {
    let docker = median(&c.docker);
    let mab = median(&walls(&c.mab));
    let docker_emulated = median(&c.docker_emulated);
    let mab_emulated = median(&walls(&c.mab_emulated));
    let x = ratio(mab, docker);
    vec![
        row(
            "6 BuildKit cross-compilation, 2 images x 2 platforms",
            "docker CLI with BuildKit: build, push, manifest create + push",
            secs(docker),
            String::new(),
            "",
            "",
        ),
        row(
            "",
            "mab build",
            secs(mab),
            fmt_ratio(x),
            "<= 0.60x",
            verdict(x.map(|x| x <= 0.6)),
        ),
        row(
            "",
            "the same work emulated: docker CLI with BuildKit",
            secs(docker_emulated),
            fmt_ratio(ratio(docker_emulated, docker)),
            "",
            "info",
        ),
        row(
            "",
            "the same work emulated: mab build",
            secs(mab_emulated),
            fmt_ratio(ratio(mab_emulated, mab)),
            "",
            "info",
        ),
    ]
}

/// The how and the per-run table of benchmark 6, for BENCHMARKS.md.
pub fn markdown(w: &mut String, c: &Cross) {
    let _ = writeln!(w, "## 6: BuildKit, cross-compiled and emulated, per run\n");
    let _ = writeln!(
        w,
        "Two Dockerfiles (`xtask/src/bench/cross.rs`) doing the same work: a {WORK}-iteration \
         shell loop and 2 MiB of random data in a build stage, copied into a final stage of the \
         target platform. *Cross-compiled*: the build stage is `FROM --platform=$BUILDPLATFORM`, \
         so it runs natively for both targets. *Emulated*: the build stage is of the target \
         platform, so arm64's loop runs under QEMU. Both tools use the daemon's BuildKit and \
         the multi-arch base tag, with a fresh `NONCE` per build. docker CLI, timed as one \
         script: per image, `DOCKER_BUILDKIT=1 docker build --platform linux/ARCH -t \
         REG/bench/cli-WAY-appN-ARCH` for amd64 then arm64, `docker push` of each, `docker \
         manifest create --insecure` + `docker manifest push --insecure`. The first run checks \
         the CLI's arm64 image: its architecture, and what it prints (`built on x86_64 for \
         arm64` when cross-compiled). mab: `mab build` of a plan with both images and \
         platforms. In the table, *emulated / cross* is what cross-compilation saves.\n"
    );
    let _ = writeln!(
        w,
        "| run | cross: docker CLI | cross: mab | mab / CLI | emulated: docker CLI | emulated: mab | mab / CLI | mab: emulated / cross |"
    );
    let _ = writeln!(w, "|---:|---:|---:|---:|---:|---:|---:|---:|");
    let n = c
        .docker
        .len()
        .min(c.mab.len())
        .min(c.docker_emulated.len())
        .min(c.mab_emulated.len());
    for i in 0..n {
        let (d, m) = (c.docker[i], c.mab[i].wall);
        let (de, me) = (c.docker_emulated[i], c.mab_emulated[i].wall);
        let _ = writeln!(
            w,
            "| {} | {d:.2} s | {m:.2} s | {} | {de:.2} s | {me:.2} s | {} | {} |",
            i + 1,
            fmt_ratio(ratio(Some(m), Some(d))),
            fmt_ratio(ratio(Some(me), Some(de))),
            fmt_ratio(ratio(Some(me), Some(m))),
        );
    }
    let _ = writeln!(w);
}
