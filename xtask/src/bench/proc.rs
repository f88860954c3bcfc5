//! Running a measured process: wall time, its own peak RSS and CPU time (from `wait4`'s
//! rusage, so no `/usr/bin/time` is needed), and its output lines stamped with the time they
//! arrived (mab prints one plain line per step when stderr is not a terminal, which gives the
//! split between build and push). Also the CPU time of other processes (dockerd, the registry)
//! from /proc.

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::sh;
use crate::signals;

/// A process that ran to the end.
pub struct Finished {
    pub wall: Duration,
    /// Peak resident set size of the process itself, KiB.
    pub maxrss_kib: u64,
    /// User + system CPU time of the process itself.
    pub cpu: Duration,
    /// Output lines (stdout and stderr interleaved as they came), with the seconds since start.
    pub lines: Vec<(f64, String)>,
}

/// Runs `cmd` to the end, capturing its stdout and stderr line by line (also written, stamped,
/// to `log`), or discarding its stdout if `discard_stdout` (for `docker save`). Fails unless it
/// exits 0.
pub fn run(mut cmd: Command, display: &str, log: &Path, discard_stdout: bool) -> Result<Finished> {
    cmd.stdin(Stdio::null())
        .stdout(if discard_stdout {
            Stdio::null()
        } else {
            Stdio::piped()
        })
        .stderr(Stdio::piped())
        .process_group(0);
    signals::check()?;
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot run `{display}`"))?;
    let pid = child.id();
    signals::register(pid);
    let lines: Arc<Mutex<Vec<(f64, String)>>> = Arc::default();
    let mut readers = Vec::new();
    let pipes: Vec<Box<dyn std::io::Read + Send>> = [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    .collect();
    for pipe in pipes {
        let lines = Arc::clone(&lines);
        readers.push(std::thread::spawn(move || {
            let mut r = BufReader::new(pipe);
            let mut buf = Vec::new();
            while r.read_until(b'\n', &mut buf).unwrap_or(0) > 0 {
                let t = started.elapsed().as_secs_f64();
                let text = String::from_utf8_lossy(&buf).trim_end().to_string();
                if let Ok(mut l) = lines.lock() {
                    l.push((t, text));
                }
                buf.clear();
            }
        }));
    }
    let waited = wait4(pid);
    let wall = started.elapsed();
    signals::unregister(pid);
    // Reaped by wait4 above; dropping the handle neither waits nor kills.
    drop(child);
    for r in readers {
        let _ = r.join();
    }
    let (status, rusage) = waited?;
    let mut lines = std::mem::take(&mut *lines.lock().expect("no reader panicked"));
    lines.sort_by(|a, b| a.0.total_cmp(&b.0));
    write_log(log, display, &lines, status, wall);
    signals::check()?;
    if status != 0 {
        bail!(
            "`{display}` failed (wait status {status}); last lines of {}:\n{}",
            log.display(),
            sh::tail(log, 25)
        );
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    Ok(Finished {
        wall,
        maxrss_kib: rusage.ru_maxrss.max(0) as u64,
        cpu: tv(rusage.ru_utime) + tv(rusage.ru_stime),
        lines,
    })
}

/// Waits for `pid` and returns its raw wait status and resource usage.
fn wait4(pid: u32) -> Result<(i32, libc::rusage)> {
    loop {
        let mut status = 0;
        // SAFETY: rusage is plain data; zeroed is a valid value and wait4 overwrites it.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: wait4 writes only into the two out-pointers, which live for the call.
        let r = unsafe { libc::wait4(pid as i32, &mut status, 0, &mut usage) };
        if r == pid as i32 {
            return Ok((status, usage));
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err).context("wait4");
        }
    }
}

fn write_log(log: &Path, display: &str, lines: &[(f64, String)], status: i32, wall: Duration) {
    let Ok(mut f) = std::fs::File::create(log) else {
        return;
    };
    let _ = writeln!(f, "$ {display}");
    for (t, l) in lines {
        let _ = writeln!(f, "{t:8.3} {l}");
    }
    let _ = writeln!(f, "# wait status {status}, {:.3} s", wall.as_secs_f64());
}

/// User + system CPU seconds of a process so far.
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start with field 3 (state);
    // utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if tick <= 0 {
        return None;
    }
    Some((utime + stime) / tick as f64)
}

/// The pid of the one process named `comm` whose command line contains `needle` (any, if
/// `needle` is empty); None if there is not exactly one.
pub fn find_pid(comm: &str, needle: &str) -> Option<u32> {
    let found: Vec<u32> = pids_named(comm)
        .into_iter()
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            needle.is_empty()
                || String::from_utf8_lossy(&cmdline)
                    .replace('\0', " ")
                    .contains(needle)
        })
        .collect();
    (found.len() == 1).then(|| found[0])
}

/// The pid of the daemon serving `docker_host`: for a unix socket, the `dockerd` process that
/// holds a socket bound to that path (from /proc/net/unix and the processes' fds); else, or if
/// that finds nothing, the only `dockerd` there is.
pub fn find_dockerd(docker_host: &str) -> Option<u32> {
    let by_socket = docker_host.strip_prefix("unix://").and_then(|path| {
        let net = std::fs::read_to_string("/proc/net/unix").ok()?;
        let inodes: Vec<String> = net
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() >= 8 && f[7] == path).then(|| format!("socket:[{}]", f[6]))
            })
            .collect();
        if inodes.is_empty() {
            return None;
        }
        pids_named("dockerd").into_iter().find(|pid| {
            std::fs::read_dir(format!("/proc/{pid}/fd"))
                .map(|fds| {
                    fds.flatten().any(|fd| {
                        std::fs::read_link(fd.path())
                            .map(|l| inodes.iter().any(|i| l.as_os_str() == i.as_str()))
                            .unwrap_or(false)
                    })
                })
                .unwrap_or(false)
        })
    });
    by_socket.or_else(|| find_pid("dockerd", ""))
}

fn pids_named(comm: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .map(|c| c.trim() == comm)
                .unwrap_or(false)
        })
        .collect()
}

/// CPU seconds a set of processes used between two readings.
#[derive(Clone, Copy)]
pub struct CpuMeter {
    pid: Option<u32>,
    start: Option<f64>,
}

impl CpuMeter {
    pub fn start(pid: Option<u32>) -> Self {
        Self {
            pid,
            start: pid.and_then(cpu_secs),
        }
    }

    pub fn stop(self) -> Option<f64> {
        Some(cpu_secs(self.pid?)? - self.start?)
    }
}
