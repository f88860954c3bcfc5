//! The summary: one row per figure of each benchmark, with its target and verdict, and the
//! table printed on the terminal.

use std::fmt::Write as _;

use super::figures::{fmt_ratio, human, med_opt, median, mib_s, ratio, secs, verdict, walls};
use super::measured::{MabRun, Results};
use crate::bench::workload::HALF;
use crate::bench::{buildx, cross};

/// One line of the summary.
pub(crate) struct Row {
    pub(crate) bench: String,
    pub(crate) figure: String,
    pub(crate) value: String,
    pub(crate) ratio: String,
    pub(crate) target: String,
    pub(crate) result: String,
}

pub(crate) fn row(
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
pub(crate) struct Headline {
    pub(crate) flow_docker: Option<f64>,
    pub(crate) flow_mab: Option<f64>,
    pub(crate) rerun: Option<f64>,
    pub(crate) rerun_bytes_max: Option<u64>,
    pub(crate) push_docker: Option<f64>,
    pub(crate) push_mab: Option<f64>,
    pub(crate) push_engine: Option<f64>,
    pub(crate) push_phase: Option<f64>,
    pub(crate) curl: Option<f64>,
    pub(crate) rss_max: Option<u64>,
    pub(crate) rss_med: Option<f64>,
    pub(crate) single_arm64: Option<f64>,
    pub(crate) single_amd64: Option<f64>,
    pub(crate) scale: Option<f64>,
}

impl Headline {
    pub(crate) fn of(r: &Results) -> Self {
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

pub(crate) fn rows(r: &Results) -> Vec<Row> {
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
