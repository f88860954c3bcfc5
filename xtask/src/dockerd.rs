//! The Docker daemon: use the one that answers at DOCKER_HOST (default
//! unix:///var/run/docker.sock), or start `dockerd` there and stop it at the end.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::paths::Paths;
use crate::sh::{self, Cmd};
use crate::signals;

pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";
const DEFAULT_SOCKETS: &[&str] = &["/var/run/docker.sock", "/run/docker.sock"];
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// The bridge a private daemon (one on a socket that is not the default) uses, so that it
/// leaves docker0 and the iptables chains of a default daemon alone. Created and removed by us.
const PRIVATE_BRIDGE: &str = "mabtest0";
const PRIVATE_BRIDGE_ADDR: &str = "172.31.254.1/24";

/// The daemon the environment uses.
pub struct Daemon {
    /// The DOCKER_HOST value every docker client of the run gets.
    pub host: String,
    started: Option<Started>,
}

struct Started {
    child: Child,
    log: PathBuf,
    /// Private daemons only: their exec root (removed at the end) and the bridge we created.
    exec_root: Option<PathBuf>,
    bridge_created: bool,
}

/// The DOCKER_HOST to use: the environment's, else the default socket.
pub fn docker_host() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_HOST.to_string())
}

/// A docker client command talking to `host`.
pub fn docker(host: &str) -> Cmd {
    Cmd::new("docker")
        .env("DOCKER_HOST", host)
        .env("DOCKER_CLI_EXPERIMENTAL", "enabled")
}

/// The server version if a daemon answers at `host`, else the client's error text.
pub fn probe(host: &str) -> std::result::Result<String, String> {
    match docker(host)
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
    {
        Ok(out) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout).trim().into()),
        Ok(out) => Err(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        Err(e) => Err(format!("{e:#}")),
    }
}

impl Daemon {
    /// Uses the daemon at `host` if it answers (`probe` is the result of [`probe`]), else
    /// starts one there.
    pub fn up(
        paths: &Paths,
        host: String,
        probe_result: std::result::Result<String, String>,
    ) -> Result<Self> {
        let why = match probe_result {
            Ok(version) => {
                eprintln!("dockerd: already running at {host} (version {version})");
                return Ok(Self {
                    host,
                    started: None,
                });
            }
            Err(why) => why,
        };
        let Some(socket) = host.strip_prefix("unix://") else {
            bail!(
                "no Docker daemon answers at DOCKER_HOST={host} ({why}); xtask starts one \
                 only on a unix:// socket"
            );
        };
        if !signals::is_root() {
            bail!(
                "no Docker daemon answers at {host} ({why}), and starting dockerd needs root: \
                 start it yourself or point DOCKER_HOST at a running one"
            );
        }
        let socket = PathBuf::from(socket);
        let log = paths.state.join("dockerd.log");
        let mut cmd = Cmd::new("dockerd").arg("-H").arg(&host);
        let mut exec_root = None;
        let mut bridge_created = false;
        if !DEFAULT_SOCKETS.iter().any(|s| Path::new(s) == socket) {
            // A second daemon beside a possible default one: its own state everywhere, its own
            // bridge, no iptables changes.
            let key = short_hash(&host);
            let exec = PathBuf::from(format!("/tmp/mab-dockerd-{key}"));
            let data = paths.state.join(format!("dockerd-data-{key}"));
            std::fs::create_dir_all(&exec)?;
            std::fs::create_dir_all(&data)?;
            if let Some(dir) = socket.parent() {
                std::fs::create_dir_all(dir)?;
            }
            bridge_created = ensure_bridge()?;
            cmd = cmd
                .arg("--exec-root")
                .arg(&exec)
                .arg("--data-root")
                .arg(&data)
                .arg("--pidfile")
                .arg(exec.join("docker.pid"))
                .args(["--bridge", PRIVATE_BRIDGE])
                .args(["--iptables=false", "--ip-masq=false", "--ip-forward=false"]);
            exec_root = Some(exec);
        }
        let started_at = Instant::now();
        let child = match cmd.spawn_logged(&log) {
            Ok(child) => child,
            Err(e) => {
                if bridge_created {
                    delete_bridge();
                }
                return Err(e);
            }
        };
        let pid = child.id();
        let mut daemon = Self {
            host,
            started: Some(Started {
                child,
                log: log.clone(),
                exec_root,
                bridge_created,
            }),
        };
        daemon.wait_ready(started_at)?;
        eprintln!(
            "dockerd: started at {} (pid {pid}, ready in {:.1} s, log {})",
            daemon.host,
            started_at.elapsed().as_secs_f64(),
            paths.rel(&log)
        );
        Ok(daemon)
    }

    fn wait_ready(&mut self, started_at: Instant) -> Result<()> {
        let started = self.started.as_mut().expect("started");
        loop {
            if let Some(status) = started.child.try_wait()? {
                bail!(
                    "dockerd exited ({status}) before it was ready; last lines of {}:\n{}",
                    started.log.display(),
                    sh::tail(&started.log, 30)
                );
            }
            let last = match probe(&self.host) {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            signals::check()?;
            if started_at.elapsed() > READY_TIMEOUT {
                bail!(
                    "dockerd did not answer at {} within {} s ({last}); last lines of {}:\n{}",
                    self.host,
                    READY_TIMEOUT.as_secs(),
                    started.log.display(),
                    sh::tail(&started.log, 30)
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Stops the daemon if we started it.
    pub fn teardown(&mut self) {
        let Some(mut s) = self.started.take() else {
            return;
        };
        let pid = s.child.id();
        let killed = sh::stop_child(&mut s.child, Duration::from_secs(30));
        if killed {
            eprintln!("dockerd: did not stop within 30 s; killed (pid {pid})");
        } else {
            eprintln!("dockerd: stopped (pid {pid})");
        }
        if let Some(exec) = s.exec_root {
            let _ = std::fs::remove_dir_all(exec);
        }
        if s.bridge_created {
            delete_bridge();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// Creates [`PRIVATE_BRIDGE`] unless it exists; returns whether it created it.
fn ensure_bridge() -> Result<bool> {
    let exists = Cmd::new("ip")
        .args(["link", "show", PRIVATE_BRIDGE])
        .output()
        .context("running `ip` (package iproute2)")?
        .status
        .success();
    if exists {
        return Ok(false);
    }
    Cmd::new("ip")
        .args(["link", "add", PRIVATE_BRIDGE, "type", "bridge"])
        .read()?;
    Cmd::new("ip")
        .args(["addr", "add", PRIVATE_BRIDGE_ADDR, "dev", PRIVATE_BRIDGE])
        .read()?;
    Cmd::new("ip")
        .args(["link", "set", PRIVATE_BRIDGE, "up"])
        .read()?;
    Ok(true)
}

fn delete_bridge() {
    let _ = Cmd::new("ip")
        .args(["link", "delete", PRIVATE_BRIDGE])
        .shielded()
        .output();
}

fn short_hash(s: &str) -> String {
    // FNV-1a: stable across runs, unlike std's hasher.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{:08x}", h as u32)
}
