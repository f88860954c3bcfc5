//! The figures: what was measured, the summary table (terminal) and BENCHMARKS.md.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use super::buildx::{self, Buildx};
use super::cross::{self, Cross};
use super::proc::Finished;
use super::registry_side::Activity;
use super::workload::HALF;
use crate::sh::Cmd;

/// Where mab's time went in one run, from its plain progress lines: seconds since start when
/// the last platform was built (`built …; pushing`) and when the last was done (`pushed …`, or
/// any final line of a job, `… (N MiB sent) in T s`).
#[derive(Debug, Default, Clone, Copy)]
pub struct Split {
    pub build_end: Option<f64>,
    pub push_end: Option<f64>,
}

/// One measured `mab build`.
#[derive(Debug, Default, Clone)]
pub struct MabRun {
    pub wall: f64,
    pub maxrss_kib: u64,
    /// User + system CPU seconds of mab itself.
    pub cpu: f64,
    pub split: Split,
    /// `blob …` lines: (seconds since start, line).
    pub blobs: Vec<(f64, String)>,
    /// Image ids from `built sha256:…` lines.
    pub built_ids: Vec<String>,
    /// Lines that say something was reused / cached / skipped (the rerun's report).
    pub reuse_lines: usize,
}

impl MabRun {
    pub fn from_finished(f: &Finished) -> Self {
        let mut run = MabRun {
            wall: f.wall.as_secs_f64(),
            maxrss_kib: f.maxrss_kib,
            cpu: f.cpu.as_secs_f64(),
            ..MabRun::default()
        };
        let max = |slot: &mut Option<f64>, t: f64| *slot = Some(slot.map_or(t, |s: f64| s.max(t)));
        for (t, line) in &f.lines {
            let msg = match line.strip_prefix('[').and_then(|l| l.split_once("] ")) {
                Some((_, msg)) => msg,
                None => line.as_str(),
            };
            let lower = msg.to_ascii_lowercase();
            if let Some(rest) = msg.strip_prefix("built ") {
                if msg.contains("pushing") {
                    max(&mut run.split.build_end, *t);
                }
                let id = rest.split([';', ' ', ',']).next().unwrap_or("");
                if id.starts_with("sha256:") {
                    run.built_ids.push(id.to_string());
                }
            } else if msg.starts_with("pushed ") || msg.contains(" sent) in ") {
                max(&mut run.split.push_end, *t);
            }
            if msg.starts_with("blob ") {
                run.blobs.push((*t, msg.to_string()));
            }
            if [
                "reused",
                "already present",
                "cached",
                "skipped",
                "unchanged",
                "not built again",
            ]
            .iter()
            .any(|w| lower.contains(w))
            {
                run.reuse_lines += 1;
            }
        }
        run
    }

    fn push_phase(&self) -> Option<f64> {
        Some(self.split.push_end? - self.split.build_end?)
    }
}

/// One run of the article's flow by the docker CLI.
#[derive(Debug, Default, Clone)]
pub struct DockerFlow {
    pub total: f64,
    pub build: f64,
    pub push: f64,
    pub manifest: f64,
    pub activity: Activity,
}

#[derive(Default)]
pub struct Flow {
    pub docker: Vec<DockerFlow>,
    pub mab: Vec<MabRun>,
    pub mab_activity: Vec<Activity>,
    pub rerun: Vec<MabRun>,
    pub rerun_activity: Vec<Activity>,
    /// Growth of the registry's storage folder during the rerun (bytes), if it was found.
    pub rerun_du: Vec<Option<i64>>,
}

#[derive(Default)]
pub struct Push {
    /// Uncompressed size of the image (`docker image inspect .Size`).
    pub image_bytes: u64,
    pub docker: Vec<f64>,
    pub docker_activity: Vec<Activity>,
    pub docker_dockerd_cpu: Vec<Option<f64>>,
    pub docker_registry_cpu: Vec<Option<f64>>,
    pub mab: Vec<MabRun>,
    pub mab_activity: Vec<Activity>,
    pub mab_dockerd_cpu: Vec<Option<f64>>,
    pub mab_registry_cpu: Vec<Option<f64>>,
    /// Whether mab's build was a cache hit (the image id built once before).
    pub mab_cache_hit: Vec<bool>,
    /// `mab build` where the engine pushes what it built (the default; containerd image store
    /// only).
    pub mab_engine: Vec<MabRun>,
    pub mab_engine_activity: Vec<Activity>,
    /// `curl -T` of one 256 MiB blob (POST + PUT).
    pub curl: Vec<f64>,
    /// `docker save` of the image to nothing.
    pub save: Vec<f64>,
    /// The same export through the API: seconds until its first byte (when the daemon is on a
    /// unix socket).
    pub save_first_byte: Vec<f64>,
}

#[derive(Default)]
pub struct Scale {
    pub single_arm64: Vec<f64>,
    pub single_amd64: Vec<f64>,
    pub total: Vec<MabRun>,
}

pub struct Machine {
    pub date: String,
    pub nproc: usize,
    pub mem: String,
    pub cpu: String,
    pub os: String,
    pub kernel: String,
    pub docker: String,
    pub registry: String,
    pub mab: String,
    pub load_start: String,
    pub load_end: String,
}

impl Machine {
    pub fn probe(root: &Path, docker_host: &str, load_start: String) -> Self {
        let read = |cmd: Cmd| cmd.read().unwrap_or_else(|_| "?".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kib: u64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_string())
            .unwrap_or_else(|| "?".into());
        let os = std::fs::read_to_string("/etc/os-release")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_else(|| "?".into());
        let docker = read(crate::dockerd::docker(docker_host).args([
            "version",
            "--format",
            "dockerd {{.Server.Version}} (API {{.Server.APIVersion}}), client {{.Client.Version}}",
        ]));
        let registry = read(Cmd::new("docker-registry").arg("--version"));
        let commit = read(
            Cmd::new("git")
                .current_dir(root)
                .args(["rev-parse", "--short", "HEAD"]),
        );
        let dirty = Cmd::new("git")
            .current_dir(root)
            .args(["status", "--porcelain", "--untracked-files=no"])
            .read()
            .map(|s| !s.is_empty())
            .unwrap_or(false);
        Machine {
            date: read(Cmd::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"])),
            nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
            mem: format!("{:.1} GiB", mem_kib as f64 / 1024.0 / 1024.0),
            cpu,
            os,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_string(),
            docker,
            registry,
            mab: format!(
                "commit {commit}{}, release build",
                if dirty {
                    " plus uncommitted changes in the working tree"
                } else {
                    ""
                }
            ),
            load_start,
            load_end: String::new(),
        }
    }
}

/// /proc/loadavg's three averages.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

pub struct Results {
    pub machine: Machine,
    pub command: String,
    pub runs: usize,
    pub scale_runs: usize,
    pub flow: Option<Flow>,
    pub push: Option<Push>,
    pub scale: Option<Scale>,
    pub cross: Option<Cross>,
    pub buildx: Option<Buildx>,
    pub took: Duration,
}

/// Bytes for people.
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if bytes < 1024 {
        format!("{bytes} B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / 1024.0 / 1024.0)
    } else {
        format!("{:.2} GiB", b / 1024.0 / 1024.0 / 1024.0)
    }
}

pub(super) fn median(v: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn med_opt(v: &[Option<f64>]) -> Option<f64> {
    median(&v.iter().flatten().copied().collect::<Vec<_>>())
}

pub(super) fn secs(x: Option<f64>) -> String {
    x.map_or("n/a".into(), |x| format!("{x:.2} s"))
}

pub(super) fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

pub(super) fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or("n/a".into(), |r| format!("{r:.2}x"))
}

pub(super) fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "PASS",
        Some(false) => "MISS",
        None => "n/a",
    }
}

fn mib_s(bytes: u64, secs: Option<f64>) -> String {
    match secs {
        Some(s) if s > 0.0 => format!("{:.0} MiB/s", bytes as f64 / 1024.0 / 1024.0 / s),
        _ => "n/a".into(),
    }
}

pub(super) fn walls(v: &[MabRun]) -> Vec<f64> {
    v.iter().map(|r| r.wall).collect()
}

/// One line of the summary.
pub(super) struct Row {
    bench: String,
    figure: String,
    value: String,
    ratio: String,
    target: String,
    result: String,
}

pub(super) fn row(
    bench: &str,
    figure: &str,
    value: String,
    ratio: String,
    target: &str,
    result: &str,
) -> Row {
    Row {
        bench: bench.into(),
        figure: figure.into(),
        value,
        ratio,
        target: target.into(),
        result: result.into(),
    }
}

/// The headline figures of each benchmark.
struct Headline {
    flow_docker: Option<f64>,
    flow_mab: Option<f64>,
    rerun: Option<f64>,
    rerun_bytes_max: Option<u64>,
    push_docker: Option<f64>,
    push_mab: Option<f64>,
    push_engine: Option<f64>,
    push_phase: Option<f64>,
    curl: Option<f64>,
    rss_max: Option<u64>,
    rss_med: Option<f64>,
    single_arm64: Option<f64>,
    single_amd64: Option<f64>,
    scale: Option<f64>,
}

impl Headline {
    fn of(r: &Results) -> Self {
        let flow = r.flow.as_ref();
        let push = r.push.as_ref();
        let scale = r.scale.as_ref();
        Headline {
            flow_docker: flow
                .and_then(|f| median(&f.docker.iter().map(|d| d.total).collect::<Vec<_>>())),
            flow_mab: flow.and_then(|f| median(&walls(&f.mab))),
            rerun: flow.and_then(|f| median(&walls(&f.rerun))),
            rerun_bytes_max: flow.and_then(|f| f.rerun_activity.iter().map(|a| a.blob_bytes).max()),
            push_docker: push.and_then(|p| median(&p.docker)),
            push_mab: push.and_then(|p| median(&walls(&p.mab))),
            push_engine: push.and_then(|p| median(&walls(&p.mab_engine))),
            push_phase: push
                .and_then(|p| med_opt(&p.mab.iter().map(MabRun::push_phase).collect::<Vec<_>>())),
            curl: push.and_then(|p| median(&p.curl)),
            rss_max: push.and_then(|p| p.mab.iter().map(|m| m.maxrss_kib).max()),
            rss_med: push.and_then(|p| {
                median(
                    &p.mab
                        .iter()
                        .map(|m| m.maxrss_kib as f64)
                        .collect::<Vec<_>>(),
                )
            }),
            single_arm64: scale.and_then(|s| median(&s.single_arm64)),
            single_amd64: scale.and_then(|s| median(&s.single_amd64)),
            scale: scale.and_then(|s| median(&walls(&s.total))),
        }
    }
}

fn rows(r: &Results) -> Vec<Row> {
    let h = Headline::of(r);
    let mut rows = Vec::new();
    if r.flow.is_some() {
        let x = ratio(h.flow_mab, h.flow_docker);
        rows.push(row(
            "1 article flow, 2 images x 2 platforms",
            "docker CLI: build, push, manifest create + push",
            secs(h.flow_docker),
            String::new(),
            "",
            "",
        ));
        rows.push(row(
            "",
            "mab build",
            secs(h.flow_mab),
            fmt_ratio(x),
            "<= 0.60x",
            verdict(x.map(|x| x <= 0.6)),
        ));
        let y = ratio(h.rerun, h.flow_mab);
        rows.push(row(
            "2 rerun, nothing changed",
            "mab first run (as in 1)",
            secs(h.flow_mab),
            String::new(),
            "",
            "",
        ));
        rows.push(row(
            "",
            "mab rerun",
            secs(h.rerun),
            fmt_ratio(y),
            "<= 0.10x",
            verdict(y.map(|y| y <= 0.1)),
        ));
        rows.push(row(
            "",
            "blob bytes the registry received in the rerun (max of runs)",
            h.rerun_bytes_max.map_or("n/a".into(), human),
            String::new(),
            "0 B",
            verdict(h.rerun_bytes_max.map(|b| b == 0)),
        ));
    }
    if let Some(p) = &r.push {
        let x = ratio(h.push_mab, h.push_docker);
        rows.push(row(
            "3 push of a 512 MiB image",
            "docker push, fresh repository",
            secs(h.push_docker),
            String::new(),
            "",
            "",
        ));
        rows.push(row(
            "",
            "mab build --no-engine-push (cached build, export, compress, upload)",
            secs(h.push_mab),
            fmt_ratio(x),
            "<= 0.50x",
            verdict(x.map(|x| x <= 0.5)),
        ));
        if !p.mab_engine.is_empty() {
            let e = ratio(h.push_engine, h.push_docker);
            rows.push(row(
                "",
                "mab build, the engine pushes (the default there; cached build, blobs by digest)",
                secs(h.push_engine),
                fmt_ratio(e),
                "<= 1.00x",
                verdict(e.map(|e| e <= 1.0)),
            ));
            let bytes = p
                .mab_engine_activity
                .iter()
                .map(|a| a.blob_bytes)
                .max()
                .unwrap_or(0);
            // mab's rate (blob bytes the registry took, over its wall time) as a share of the
            // registry's raw ingest rate.
            let rate_share = ratio(
                h.push_engine.map(|t| bytes as f64 / t),
                h.curl.map(|c| HALF as f64 / c),
            );
            rows.push(row(
                "",
                "  its rate of the blobs sent / the registry's raw ingest (curl -T)",
                format!("{} / {}", mib_s(bytes, h.push_engine), mib_s(HALF, h.curl)),
                fmt_ratio(rate_share),
                ">= 0.70x",
                verdict(rate_share.map(|x| x >= 0.7)),
            ));
        }
        rows.push(row(
            "",
            "  of which mab's push phase (after `built`)",
            secs(h.push_phase),
            fmt_ratio(ratio(h.push_phase, h.push_docker)),
            "",
            "info",
        ));
        rows.push(row(
            "",
            "rate of 512 MiB: mab / docker push",
            format!(
                "{} / {}",
                mib_s(p.image_bytes, h.push_mab),
                mib_s(p.image_bytes, h.push_docker)
            ),
            String::new(),
            "",
            "info",
        ));
        rows.push(row(
            "",
            "registry raw ingest, curl -T of a 256 MiB blob",
            mib_s(HALF, h.curl),
            String::new(),
            "",
            "info",
        ));
        rows.push(row(
            "4 peak RSS of mab pushing it",
            "max over runs (median)",
            match (h.rss_max, h.rss_med) {
                (Some(m), Some(d)) => format!("{} ({})", human(m * 1024), human(d as u64 * 1024)),
                _ => "n/a".into(),
            },
            String::new(),
            "<= 100 MiB",
            verdict(h.rss_max.map(|m| m * 1024 <= 100 * 1024 * 1024)),
        ));
        if let Some(max) = p.mab_engine.iter().map(|m| m.maxrss_kib).max() {
            rows.push(row(
                "",
                "when the engine pushes (the default there), max over runs",
                human(max * 1024),
                String::new(),
                "<= 64 MiB",
                verdict(Some(max * 1024 <= 64 * 1024 * 1024)),
            ));
        }
    }
    if r.scale.is_some() {
        let x = ratio(h.scale, h.single_arm64);
        rows.push(row(
            "5 scale, 16 images x 2 platforms",
            "longest single job: 1 image, linux/arm64",
            secs(h.single_arm64),
            String::new(),
            "",
            "",
        ));
        rows.push(row(
            "",
            "mab build of all 32 (image, platform)",
            secs(h.scale),
            fmt_ratio(x),
            "none (issue: ~1x)",
            "info",
        ));
        let bound = match (h.single_arm64, h.single_amd64) {
            (Some(a), Some(b)) if r.machine.nproc > 0 => {
                Some(16.0 * (a + b) / r.machine.nproc as f64)
            }
            _ => None,
        };
        rows.push(row(
            "",
            &format!(
                "rough floor on {} cores: 16 x (arm64 + amd64 single) / {}",
                r.machine.nproc, r.machine.nproc
            ),
            secs(bound),
            fmt_ratio(ratio(h.scale, bound)),
            "",
            "info",
        ));
    }
    if let Some(c) = &r.cross {
        rows.extend(cross::rows(c));
    }
    if let Some(b) = &r.buildx {
        rows.extend(buildx::rows(b));
    }
    rows
}

/// The summary for the terminal.
pub fn table(r: &Results) -> String {
    let rows = rows(r);
    let head = ["benchmark", "figure", "median", "ratio", "target", "result"];
    let cells: Vec<[&str; 6]> = rows
        .iter()
        .map(|x| {
            [
                x.bench.as_str(),
                &x.figure,
                &x.value,
                &x.ratio,
                &x.target,
                &x.result,
            ]
        })
        .collect();
    let mut width = head.map(str::len);
    for c in &cells {
        for (w, s) in width.iter_mut().zip(c) {
            *w = (*w).max(s.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |c: [&str; 6]| {
        let mut l = String::new();
        for (i, s) in c.iter().enumerate() {
            let pad = width[i] - s.chars().count();
            l.push_str(s);
            if i + 1 < c.len() {
                l.push_str(&" ".repeat(pad + 2));
            }
        }
        let _ = writeln!(out, "{}", l.trim_end());
    };
    line(head);
    let rules = width.map(|n| "-".repeat(n));
    line([0, 1, 2, 3, 4, 5].map(|i| rules[i].as_str()));
    for c in cells {
        line(c);
    }
    let _ = write!(
        out,
        "medians of {} run(s) ({} for scale); took {:.0} s; details in BENCHMARKS.md",
        r.runs,
        r.scale_runs,
        r.took.as_secs_f64()
    );
    out
}

/// BENCHMARKS.md.
/// BENCHMARKS.md: each engine's summary side by side (when there are several), then each
/// engine's whole report, its headings one level down.
pub fn markdown_all(all: &[Results]) -> String {
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(w, "# Benchmarks\n");
    let engines: Vec<String> = all.iter().map(|r| r.machine.docker.clone()).collect();
    let _ = writeln!(
        w,
        "Written by `{}`: the same benchmarks on {} engine(s), one after the other: {}. \
         Reproduce with `cargo xtask bench` (both engines, medians of 5 runs), `--quick` (2 \
         runs), `--engine 20.10|newest` (one).\n",
        all.first()
            .map_or("cargo xtask bench", |r| r.command.as_str()),
        all.len(),
        engines.join("; ")
    );
    if all.len() > 1 {
        let _ = writeln!(w, "## Both engines side by side\n");
        // Rows by (benchmark, figure), in the order they first appear.
        let mut keys: Vec<(String, String, String)> = Vec::new();
        let mut cells: Vec<std::collections::HashMap<(String, String), Row>> = Vec::new();
        for r in all {
            let mut of_engine = std::collections::HashMap::new();
            let mut group = String::new();
            let mut after: Option<usize> = None;
            for x in rows(r) {
                if !x.bench.is_empty() {
                    group = x.bench.clone();
                }
                let key = (group.clone(), x.figure.trim().to_string());
                match keys.iter().position(|(g, f, _)| (g, f) == (&key.0, &key.1)) {
                    Some(at) => after = Some(at),
                    // A row only this engine has goes right after the row before it here.
                    None => {
                        let at = after.map_or(keys.len(), |a| a + 1);
                        keys.insert(at, (key.0.clone(), key.1.clone(), x.target.clone()));
                        after = Some(at);
                    }
                }
                of_engine.insert(key, x);
            }
            cells.push(of_engine);
        }
        let heads: Vec<String> = all
            .iter()
            .map(|r| {
                let short = r
                    .machine
                    .docker
                    .split(" (")
                    .next()
                    .unwrap_or("")
                    .to_string();
                format!("{short}: median | ratio | result")
            })
            .collect();
        let _ = writeln!(w, "| benchmark | figure | target | {} |", heads.join(" | "));
        let _ = writeln!(w, "|---|---|---|{}", "---:|---:|---|".repeat(all.len()));
        let mut last_group = String::new();
        for (group, figure, target) in &keys {
            let shown = if *group == last_group {
                ""
            } else {
                group.as_str()
            };
            last_group = group.clone();
            let mut line = format!("| {shown} | {figure} | {target} |");
            for of_engine in &cells {
                match of_engine.get(&(group.clone(), figure.clone())) {
                    Some(x) => {
                        let result = if x.result == "PASS" || x.result == "MISS" {
                            format!("**{}**", x.result)
                        } else {
                            x.result.clone()
                        };
                        let _ = write!(line, " {} | {} | {result} |", x.value, x.ratio);
                    }
                    None => line.push_str(" n/a | | not measured on this engine |"),
                }
            }
            let _ = writeln!(w, "{line}");
        }
        let _ = writeln!(w);
    }
    for r in all {
        let one = markdown(r);
        let title = format!(
            "## {}",
            r.machine.docker.split(" (").next().unwrap_or("engine")
        );
        let body = one
            .replace("\n## ", "\n### ")
            .replacen("# Benchmarks", &title, 1);
        w.push_str(&body);
        w.push('\n');
    }
    s
}

pub fn markdown(r: &Results) -> String {
    let m = &r.machine;
    let h = Headline::of(r);
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(w, "# Benchmarks\n");
    let _ = writeln!(
        w,
        "Written by `{}` on {} (medians of {} runs, {} for the scale benchmark; the whole \
         benchmark took {:.1} min, environment and release build included). Reproduce with:\n\n\
         ```sh\ncargo xtask bench            # both engines, medians of 5 runs\n\
         cargo xtask bench --quick    # 2 runs, 1 for scale\n\
         cargo xtask bench --engine newest   # Docker 28.5 only\n```\n",
        r.command,
        m.date,
        r.runs,
        r.scale_runs,
        r.took.as_secs_f64() / 60.0
    );
    let _ = writeln!(
        w,
        "Absolute times on these machines are noise; compare the ratios, which come from runs \
         interleaved on the same daemon and registry within the same minutes (the order of the \
         two tools alternates from run to run).\n"
    );
    let _ = writeln!(
        w,
        "**Machine**: {}, {} cores ({}), {} memory, kernel {}; {}; registry: {} on 127.0.0.1 \
         (plain HTTP, filesystem storage); arm64 under QEMU user emulation (binfmt). Load average \
         (1/5/15 min) {} at the start, {} at the end.  ",
        m.os, m.nproc, m.cpu, m.mem, m.kernel, m.docker, m.registry, m.load_start, m.load_end
    );
    let _ = writeln!(w, "**mab**: {}.\n", m.mab);

    let _ = writeln!(w, "## Summary\n");
    let _ = writeln!(
        w,
        "| benchmark | figure | median | ratio | target | result |"
    );
    let _ = writeln!(w, "|---|---|---:|---:|---|---|");
    for x in rows(r) {
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} |",
            x.bench,
            x.figure.trim(),
            x.value,
            x.ratio,
            x.target,
            if x.result == "PASS" || x.result == "MISS" {
                format!("**{}**", x.result)
            } else {
                x.result.clone()
            }
        );
    }
    let _ = writeln!(w);

    let _ = writeln!(w, "## What is measured, and how\n");
    let _ = writeln!(
        w,
        "Everything runs on xtask's test environment (`cargo xtask env`): the daemon at \
         DOCKER_HOST, a throwaway `docker-registry` on a free 127.0.0.1 port, the busybox base \
         images `REG/mab-base/busybox` (one multi-arch tag, plus `:amd64` and `:arm64`). mab is \
         `target/release/mab` (`cargo build --release -p mab-cli` first), run with `MAB_HOME` in \
         the benchmark's work folder and stderr not a terminal (plain progress lines, each \
         stamped on arrival to split build from push). Peak RSS and CPU time of mab come from \
         `wait4`'s rusage; dockerd's and the registry's CPU time from /proc. Bytes uploaded are \
         counted on the registry side: its log has one line per request (method, URI, status); \
         every committed blob upload (PUT or POST with `digest=` answered 201) is sized with a \
         HEAD. The logs of every measured command are in `target/mab-bench/logs/`.\n"
    );
    let _ = writeln!(
        w,
        "1. **Article flow** — the Dockerfile (`xtask/src/bench/workload.rs`) does a \
         little real work: a 20000-iteration shell loop (slow under QEMU) and 4 MiB of random \
         data in a second RUN. Caches: both tools run against the same warm daemon, base image \
         cached, and every build gets a fresh `NONCE` build arg used by the first RUN, so both \
         tools really run every RUN step every time (no `docker builder prune`, which would also \
         hit other users of the daemon). Both use the classic builder (mab drives it; the CLI \
         with `DOCKER_BUILDKIT=0`). docker CLI, timed as one script: per image, `docker build \
         --platform linux/ARCH -t REG/bench/cli-appN-ARCH` for amd64 then arm64, `docker push` \
         of each, `docker manifest create --insecure` and `docker manifest push --insecure` \
         (`docker manifest rm`, untimed, before and after). The CLI gets the per-architecture \
         base tags (`BASE=REG/mab-base/busybox:amd64|arm64`): given the one multi-arch tag, the \
         20.10 classic builder silently builds the arm64 image on the amd64 base it has locally \
         (checked, and it does), so that is the fastest correct CLI flow. mab: `mab build` of a \
         plan with both images, both platforms, the multi-arch base tag (mab resolves it per \
         platform), and no per-arch tags."
    );
    let _ = writeln!(
        w,
        "2. **Rerun** — right after each first run of 1, `mab build` again with the \
         identical plan and MAB_HOME (nothing changed: mab builds nothing while the daemon still \
         has the images its build keys name, and uploads nothing). Bytes: the committed blob uploads the \
         registry logged during the rerun; also the growth of the registry's storage folder \
         (`du`), which alone would not do: the registry keeps one copy of a blob, so an \
         identical blob uploaded again does not grow it."
    );
    let _ = writeln!(
        w,
        "3. **512 MiB push** — `FROM scratch` with two 256 MiB layers \
         (`head -c 256M /dev/urandom` and repeated text, made in a build stage), built once \
         for linux/amd64 with `docker build`. Per run: `docker push` of it tagged into a fresh \
         repository, and `mab build --no-engine-push` of a one-platform plan of the same Dockerfile \
         into another fresh repository, with a fresh MAB_HOME (and on the containerd store \
         `mab build`, where the engine pushes, its default) (mab's build is a cache hit, so this is mostly \
         export + compress + upload; the whole `mab build` is timed, and split at its `built \
         …; pushing` line). After each push, every blob it stored is unlinked from its \
         repository (`DELETE /v2/REPO/blobs/DIGEST`), so no later run can skip or \
         cross-mount it: each run really uploads (the registry-side counts below show \
         it). Raw ingest: `POST /v2/REPO/blobs/uploads/` then `curl -T` (PUT `?digest=`) of a \
         256 MiB random file. Also `docker save` of the image into /dev/null: what exporting \
         alone costs."
    );
    let _ = writeln!(
        w,
        "4. **Peak RSS** — mab's maximum resident set size in the runs of 3."
    );
    let _ = writeln!(
        w,
        "5. **Scale** — a plan of 16 images (the small Dockerfile with 1 MiB of data, \
         fresh NONCE per image and run) x 2 platforms, vs the longest single (image, platform) \
         job: `mab build` of a plan with one image and only linux/arm64 (the slowest, under \
         QEMU); the same for linux/amd64 gives a rough floor for {} cores: \
         16 x (arm64 + amd64) / {}.\n",
        m.nproc, m.nproc
    );

    if let Some(f) = &r.flow {
        let _ = writeln!(w, "## 1 and 2: per run\n");
        let _ = writeln!(
            w,
            "| run | docker CLI (build / push / manifest) | mab (all built at / all pushed at) | mab rerun (built at / pushed at) | rerun / first | rerun: blobs committed, bytes, manifests stored | rerun: storage growth |"
        );
        let _ = writeln!(w, "|---:|---|---|---|---:|---|---:|");
        for i in 0..f.mab.len().min(f.docker.len()) {
            let d = &f.docker[i];
            let (a, b) = (&f.mab[i], &f.rerun[i]);
            let ra = &f.rerun_activity[i];
            let _ = writeln!(
                w,
                "| {} | {:.2} s ({:.2} / {:.2} / {:.2}) | {:.2} s ({} / {}) | {:.2} s ({} / {}) | {} | {}, {}, {} | {} |",
                i + 1,
                d.total,
                d.build,
                d.push,
                d.manifest,
                a.wall,
                secs(a.split.build_end),
                secs(a.split.push_end),
                b.wall,
                secs(b.split.build_end),
                secs(b.split.push_end),
                fmt_ratio(ratio(Some(b.wall), Some(a.wall))),
                ra.committed.len(),
                human(ra.blob_bytes),
                ra.manifest_puts,
                f.rerun_du[i].map_or("n/a".into(), |d| if d < 0 {
                    format!("-{}", human(d.unsigned_abs()))
                } else {
                    human(d as u64)
                }),
            );
        }
        let sum = |v: &[Activity]| -> (usize, u64, usize) {
            (
                v.iter().map(|a| a.committed.len()).sum(),
                v.iter().map(|a| a.blob_bytes).sum(),
                v.iter().map(|a| a.mounted.len()).sum(),
            )
        };
        let (dc, db, dm) = sum(&f
            .docker
            .iter()
            .map(|d| d.activity.clone())
            .collect::<Vec<_>>());
        let (mc, mb, mm) = sum(&f.mab_activity);
        let n = f.mab.len().max(1);
        let _ = writeln!(
            w,
            "\nPer first run, the registry received: docker CLI {} blobs ({}; {} mounts), \
             mab {} blobs ({}; {} mounts). The rerun printed {} line(s) saying something was \
             reused, cached or already present (median).\n",
            dc / n,
            human(db / n as u64),
            dm / n,
            mc / n,
            human(mb / n as u64),
            mm / n,
            median(
                &f.rerun
                    .iter()
                    .map(|x| x.reuse_lines as f64)
                    .collect::<Vec<_>>()
            )
            .unwrap_or(0.0)
        );
    }

    if let Some(f) = &r.flow {
        let built = med_opt(&f.mab.iter().map(|m| m.split.build_end).collect::<Vec<_>>());
        let done = med_opt(&f.mab.iter().map(|m| m.split.push_end).collect::<Vec<_>>());
        let col = |g: fn(&DockerFlow) -> f64| median(&f.docker.iter().map(g).collect::<Vec<_>>());
        let _ = writeln!(
            w,
            "Where the time goes in 1 (medians): mab had built every platform at {} and pushed \
             every platform at {} of its {}; the docker CLI spent {} in `docker build` (one \
             platform after the other), {} in `docker push` and {} in `docker manifest`. mab's \
             CPU time: {}.\n",
            secs(built),
            secs(done),
            secs(h.flow_mab),
            secs(col(|d| d.build)),
            secs(col(|d| d.push)),
            secs(col(|d| d.manifest)),
            secs(median(&f.mab.iter().map(|m| m.cpu).collect::<Vec<_>>())),
        );
    }

    if let Some(p) = &r.push {
        let _ = writeln!(w, "## 3 and 4: per run\n");
        let _ = writeln!(
            w,
            "| run | docker push | mab build (build / push phase) | mab peak RSS | mab CPU | dockerd CPU during docker push / mab | curl -T 256 MiB | docker save |"
        );
        let _ = writeln!(w, "|---:|---:|---|---:|---:|---|---:|---:|");
        for i in 0..p.mab.len().min(p.docker.len()) {
            let m = &p.mab[i];
            let _ = writeln!(
                w,
                "| {} | {:.2} s | {:.2} s ({} / {}){} | {} | {:.2} s | {} / {} | {:.2} s | {:.2} s |",
                i + 1,
                p.docker[i],
                m.wall,
                secs(m.split.build_end),
                secs(m.push_phase()),
                if p.mab_cache_hit.get(i).copied().unwrap_or(false) {
                    ""
                } else {
                    " (build not a cache hit)"
                },
                human(m.maxrss_kib * 1024),
                m.cpu,
                secs(p.docker_dockerd_cpu[i]),
                secs(p.mab_dockerd_cpu[i]),
                p.curl[i],
                p.save[i],
            );
        }
        let _ = writeln!(w, "\nWhat the registry saw per push (run 1):\n");
        let _ = writeln!(
            w,
            "| client | upload sessions | PATCH requests | blobs committed | bytes committed | mounts | bytes per PATCH | time inside upload requests |"
        );
        let _ = writeln!(w, "|---|---:|---:|---:|---:|---:|---:|---:|");
        for (name, a) in [
            ("docker push", p.docker_activity.first()),
            ("mab build", p.mab_activity.first()),
        ] {
            if let Some(a) = a {
                let _ = writeln!(
                    w,
                    "| {name} | {} | {} | {} | {} | {} | {} | {:.2} s |",
                    a.sessions,
                    a.patches,
                    a.committed.len(),
                    human(a.blob_bytes),
                    a.mounted.len(),
                    if a.patches > 0 {
                        human(a.blob_bytes / a.patches as u64)
                    } else {
                        "n/a".into()
                    },
                    a.upload_secs
                );
            }
        }
        let _ = writeln!(w);
        if let Some(m) = p.mab.first().filter(|m| !m.blobs.is_empty()) {
            let _ = writeln!(
                w,
                "mab's blob lines in run 1 (seconds since `mab build` started; it said `built` at {}):\n",
                secs(m.split.build_end)
            );
            let _ = writeln!(w, "```");
            for (t, l) in &m.blobs {
                let _ = writeln!(w, "{t:7.2} s  {l}");
            }
            let _ = writeln!(w, "```\n");
        }
        let _ = writeln!(w, "## Where mab's push time goes\n");
        let push_phase = h.push_phase;
        let cpu = median(&p.mab.iter().map(|m| m.cpu).collect::<Vec<_>>());
        let save = median(&p.save);
        let dcpu = med_opt(&p.mab_dockerd_cpu);
        let gcpu = med_opt(&p.mab_registry_cpu);
        let build = med_opt(&p.mab.iter().map(|m| m.split.build_end).collect::<Vec<_>>());
        let patches = median(
            &p.mab_activity
                .iter()
                .map(|a| a.patches as f64)
                .collect::<Vec<_>>(),
        );
        let wire = median(
            &p.mab_activity
                .iter()
                .map(|a| a.blob_bytes as f64)
                .collect::<Vec<_>>(),
        );
        let dwire = median(
            &p.docker_activity
                .iter()
                .map(|a| a.blob_bytes as f64)
                .collect::<Vec<_>>(),
        );
        let _ = writeln!(
            w,
            "Medians. `mab build` of the 512 MiB image: {} in all; the (cached) build phase \
             until `built …; pushing` {}; the push phase (export, compress and upload, streamed \
             together) {}; the rest (index, tags, exit) {}.",
            secs(h.push_mab),
            secs(build),
            secs(push_phase),
            secs(med_opt(
                &p.mab
                    .iter()
                    .map(|m| m.split.push_end.map(|e| m.wall - e))
                    .collect::<Vec<_>>()
            ))
        );
        let _ = writeln!(
            w,
            "- Export alone (`docker save` into /dev/null) takes {} ({}): the floor for any \
             client that reads the image through the daemon's export; the push phase is {} that.",
            secs(save),
            mib_s(p.image_bytes, save),
            fmt_ratio(ratio(push_phase, save))
        );
        if !p.save_first_byte.is_empty() {
            let first = median(&p.save_first_byte);
            let _ = writeln!(
                w,
                "- Of that, the daemon sends nothing for {} ({} of the export) (the classic \
                 image store, as Docker 20.10's, writes the whole export to a temporary folder \
                 first, then streams it; the containerd image store streams it as it goes). \
                 No client of the export can start before its first byte; the push phase is {} \
                 of the time the daemon keeps the image to itself.",
                secs(first),
                ratio(first, save).map_or("n/a".into(), |x| format!("{:.0}%", x * 100.0)),
                fmt_ratio(ratio(push_phase, first))
            );
        }
        let _ = writeln!(
            w,
            "- CPU: mab used {} of CPU for the whole run ({} of one core over its wall time); \
             dockerd {} (export); the registry {}. docker push: dockerd {} (export + gzip), registry {}.",
            secs(cpu),
            ratio(cpu, h.push_mab).map_or("n/a".into(), |x| format!("{:.0}%", x * 100.0)),
            secs(dcpu),
            secs(gcpu),
            secs(med_opt(&p.docker_dockerd_cpu)),
            secs(med_opt(&p.docker_registry_cpu))
        );
        let _ = writeln!(
            w,
            "- On the wire: mab sent {} of blobs in {} PATCH requests; docker push sent {}. \
             Raw ingest of 256 MiB by `curl -T`: {} ({}).",
            wire.map_or("n/a".into(), |b| human(b as u64)),
            patches.map_or("n/a".into(), |p| format!("{p:.0}")),
            dwire.map_or("n/a".into(), |b| human(b as u64)),
            secs(h.curl),
            mib_s(HALF, h.curl)
        );
        let inside = median(
            &p.mab_activity
                .iter()
                .map(|a| a.upload_secs)
                .collect::<Vec<_>>(),
        );
        let dinside = median(
            &p.docker_activity
                .iter()
                .map(|a| a.upload_secs)
                .collect::<Vec<_>>(),
        );
        let _ = writeln!(
            w,
            "- Time inside upload requests, from the registry's per-request durations (which \
             include receiving each body): mab {} of its {} push phase ({}); the rest of the \
             push phase, {}, no upload request was open (waiting for the export's first byte, \
             then reading and compressing ahead). docker push: {}. Both send the layers of an \
             image at the same time, one streamed PATCH each, so this can exceed the wall time.",
            secs(inside),
            secs(push_phase),
            ratio(inside, push_phase).map_or("n/a".into(), |x| format!("{:.0}%", x * 100.0)),
            secs(push_phase.zip(inside).map(|(p, i)| (p - i).max(0.0))),
            secs(dinside),
        );
        let per_patch = median(
            &p.mab_activity
                .iter()
                .filter(|a| a.patches > 0)
                .map(|a| a.upload_secs / a.patches as f64)
                .collect::<Vec<_>>(),
        );
        let _ = writeln!(
            w,
            "- Per upload request, mab's median cost inside the registry was {}; mab and docker \
             push stream each layer in one PATCH, curl sends the blob in one PUT.",
            per_patch.map_or("n/a".into(), |x| format!("{:.1} ms", x * 1000.0)),
        );
        let _ = writeln!(
            w,
            "- Rates over the whole 512 MiB: mab {} (push phase alone: {}), docker push {}.\n",
            mib_s(p.image_bytes, h.push_mab),
            mib_s(p.image_bytes, push_phase),
            mib_s(p.image_bytes, h.push_docker)
        );
    }

    if let Some(sc) = &r.scale {
        let _ = writeln!(w, "## 5: per run\n");
        let _ = writeln!(
            w,
            "| run | 16 x 2 with mab | single arm64 | single amd64 | total / single arm64 | mab peak RSS | mab CPU |"
        );
        let _ = writeln!(w, "|---:|---:|---:|---:|---:|---:|---:|");
        for i in 0..sc.total.len().min(sc.single_arm64.len()) {
            let t = &sc.total[i];
            let _ = writeln!(
                w,
                "| {} | {:.2} s | {:.2} s | {:.2} s | {} | {} | {:.2} s |",
                i + 1,
                t.wall,
                sc.single_arm64[i],
                sc.single_amd64[i],
                fmt_ratio(ratio(Some(t.wall), Some(sc.single_arm64[i]))),
                human(t.maxrss_kib * 1024),
                t.cpu
            );
        }
        let _ = writeln!(
            w,
            "\nThe issue asks that N images x M platforms take about as long as the slowest \
             build plus one push. Every job here spends most of its time in the daemon \
             (containers for the RUN steps, QEMU for arm64, commits), so on {} cores the 32 jobs \
             cannot overlap much; the rough floor above (the single jobs' times summed and divided \
             by the cores) is the fairer yardstick on this machine.\n",
            r.machine.nproc
        );
    }
    if let Some(c) = &r.cross {
        cross::markdown(w, c);
    }
    if let Some(b) = &r.buildx {
        buildx::markdown(w, b);
    }
    s
}
