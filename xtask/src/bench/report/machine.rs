//! The machine a benchmark ran on, as BENCHMARKS.md describes it.

use std::path::Path;

use crate::sh::Cmd;

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
