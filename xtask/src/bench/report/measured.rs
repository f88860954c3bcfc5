//! What one benchmark run measured: mab's runs as read from their progress lines, the docker
//! CLI's, and each benchmark's samples.

use super::machine::Machine;
use crate::bench::buildx::Buildx;
use crate::bench::cross::Cross;
use crate::bench::proc::Finished;
use crate::bench::registry_side::Activity;
use std::time::Duration;

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

    pub(crate) fn push_phase(&self) -> Option<f64> {
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
