//! The engine matrix: which Docker engine the environment runs on.
//!
//! - `20.10`: Debian 12's docker.io (classic image store), the daemon at DOCKER_HOST (started
//!   there when none answers; see [`crate::dockerd`]).
//! - `newest`: the newest Docker engine that runs on Debian 12 from Debian's own packages:
//!   sid's docker.io (28.5) with trixie's containerd (1.7) and Debian 12's runc (trixie's and
//!   sid's runc need a newer glibc), the containerd image store on. Its packages are downloaded
//!   with apt through lists of their own and unpacked into `target/engines/newest/root` (kept as
//!   a cache; nothing is installed). It runs as a private daemon: its own containerd, data
//!   root, exec root, pidfile, sockets (under `/tmp/mab-engine-<key>/`) and bridge, and no
//!   iptables changes, so the machine's own daemon is never touched.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::dockerd::probe;
use crate::paths::Paths;
use crate::sh::{self, Cmd};
use crate::signals;

/// One engine of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Debian 12's Docker 20.10, classic image store.
    System,
    /// sid's Docker 28.5, containerd image store, private daemon.
    Newest,
}

/// The packages of the newest engine (`name/suite`) and a file each must leave.
const NEWEST_PACKAGES: [(&str, &str); 3] = [
    ("docker.io/sid", "usr/sbin/dockerd"),
    ("containerd/trixie", "usr/bin/containerd"),
    (
        "docker-buildx/sid",
        "usr/libexec/docker/cli-plugins/docker-buildx",
    ),
];
/// Debian 12's runc (a dependency of its docker.io): the runtime of the newest engine too.
const SYSTEM_RUNC: &str = "/usr/sbin/runc";
const READY_TIMEOUT: Duration = Duration::from_secs(90);

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::System => "20.10",
            Engine::Newest => "newest",
        }
    }

    /// `20.10`, `newest` or `both` (both: 20.10 first).
    pub fn parse_list(text: &str) -> Result<Vec<Engine>> {
        match text {
            "20.10" => Ok(vec![Engine::System]),
            "newest" => Ok(vec![Engine::Newest]),
            "both" => Ok(vec![Engine::System, Engine::Newest]),
            other => Err(crate::usage(format!(
                "--engine {other:?}: expected 20.10, newest or both"
            ))),
        }
    }

    /// One engine: `20.10` or `newest`.
    pub fn parse_one(text: &str) -> Result<Engine> {
        match Self::parse_list(text)?.as_slice() {
            [one] => Ok(*one),
            _ => Err(crate::usage(format!(
                "--engine {text:?}: this task runs on one engine (20.10 or newest)"
            ))),
        }
    }
}

/// A private newest engine, running.
pub struct PrivateEngine {
    /// `unix:///tmp/mab-engine-<key>/docker.sock`.
    pub host: String,
    /// What `docker version` says.
    pub version: String,
    /// A `DOCKER_CONFIG` folder whose `cli-plugins/` holds sid's docker-buildx: the base
    /// images are built with it, as `docker build` builds on a current engine (BuildKit).
    pub buildx_config: PathBuf,
    containerd: Option<Child>,
    dockerd: Option<Child>,
    run_dir: PathBuf,
    data: PathBuf,
    bridge: String,
}

impl PrivateEngine {
    /// Fetches the packages if they are not cached, then starts containerd and dockerd.
    pub fn up(paths: &Paths) -> Result<Self> {
        let started = Instant::now();
        let dir = paths.target.join("engines").join("newest");
        let root = dir.join("root");
        ensure_packages(paths, &dir, &root)?;
        if !Path::new(SYSTEM_RUNC).is_file() {
            bail!(
                "{SYSTEM_RUNC} is missing (Debian 12's runc, which the newest engine runs its \
                 containers with; install the package runc)"
            );
        }
        // Short, per-checkout paths: unix socket paths are limited to 108 bytes, and two
        // checkouts on one machine must not share a daemon.
        let key = short_hash(&paths.target.to_string_lossy());
        let run_dir = PathBuf::from(format!("/tmp/mab-engine-{key}"));
        let bridge = format!("mabe{key}");
        let data = dir.join("data");
        // What a run killed by SIGKILL left: its processes are found by their folders.
        kill_leftovers(&run_dir);
        let _ = std::fs::remove_dir_all(&run_dir);
        // A fresh data root each time (images, build cache, containerd's content): what the
        // tests leave there goes at teardown, and disk here is limited.
        remove_data(&data);
        std::fs::create_dir_all(&run_dir)?;
        std::fs::create_dir_all(&data)?;
        delete_bridge(&bridge);
        create_bridge(&bridge)?;
        let mut this = Self {
            host: format!("unix://{}", run_dir.join("docker.sock").display()),
            version: String::new(),
            buildx_config: dir.join("docker-config"),
            containerd: None,
            dockerd: None,
            run_dir: run_dir.clone(),
            data: data.clone(),
            bridge,
        };
        let plugins = this.buildx_config.join("cli-plugins");
        std::fs::create_dir_all(&plugins)?;
        std::fs::copy(
            root.join(NEWEST_PACKAGES[2].1),
            plugins.join("docker-buildx"),
        )
        .context("copying docker-buildx")?;
        let path = format!(
            "{}:{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            root.join("usr/bin").display(),
            root.join("usr/sbin").display()
        );
        let containerd_sock = run_dir.join("containerd.sock");
        let containerd_config = run_dir.join("containerd.toml");
        std::fs::write(
            &containerd_config,
            format!(
                "version = 2\nroot = \"{}\"\nstate = \"{}\"\n[grpc]\n  address = \"{}\"\n\
                 [ttrpc]\n  address = \"{}.ttrpc\"\n[debug]\n  address = \"\"\n\
                 [metrics]\n  address = \"\"\n",
                data.join("containerd").display(),
                run_dir.join("containerd-state").display(),
                containerd_sock.display(),
                containerd_sock.display(),
            ),
        )?;
        let daemon_config = run_dir.join("daemon.json");
        std::fs::write(
            &daemon_config,
            "{\"features\": {\"containerd-snapshotter\": true}}\n",
        )?;
        let containerd_log = paths.state.join("engine-newest-containerd.log");
        let dockerd_log = paths.state.join("engine-newest-dockerd.log");
        let containerd = Cmd::new(root.join("usr/bin/containerd"))
            .env("PATH", &path)
            .arg("--config")
            .arg(&containerd_config)
            .spawn_logged(&containerd_log)?;
        this.containerd = Some(containerd);
        wait_for(
            || containerd_sock.exists(),
            this.containerd.as_mut().expect("started"),
            "containerd",
            &containerd_log,
        )?;
        let dockerd = Cmd::new(root.join("usr/sbin/dockerd"))
            .env("PATH", &path)
            .arg("--config-file")
            .arg(&daemon_config)
            .arg("--containerd")
            .arg(&containerd_sock)
            .arg("--data-root")
            .arg(data.join("docker"))
            .arg("--exec-root")
            .arg(run_dir.join("exec"))
            .arg("--pidfile")
            .arg(run_dir.join("docker.pid"))
            .arg("-H")
            .arg(&this.host)
            .args(["--bridge", &this.bridge])
            .args(["--iptables=false", "--ip-masq=false", "--ip-forward=false"])
            .spawn_logged(&dockerd_log)?;
        this.dockerd = Some(dockerd);
        let host = this.host.clone();
        wait_for(
            || probe(&host).is_ok(),
            this.dockerd.as_mut().expect("started"),
            "dockerd",
            &dockerd_log,
        )?;
        this.version = probe(&this.host).map_err(anyhow::Error::msg)?;
        let store = Cmd::new("docker")
            .env("DOCKER_HOST", &this.host)
            .args(["info", "--format", "{{json .DriverStatus}}"])
            .read()?;
        if !store.contains("io.containerd.snapshotter") {
            bail!(
                "the newest engine ({}) did not turn the containerd image store on (driver \
                 status {store}); see {}",
                this.version,
                paths.rel(&dockerd_log)
            );
        }
        eprintln!(
            "engine newest: Docker {} (containerd image store) at {} (ready in {:.1} s; logs \
             {}, {})",
            this.version,
            this.host,
            started.elapsed().as_secs_f64(),
            paths.rel(&dockerd_log),
            paths.rel(&containerd_log)
        );
        Ok(this)
    }

    /// Stops dockerd, then containerd, and removes the bridge and the run folder. Idempotent.
    pub fn teardown(&mut self) {
        let mut stopped = false;
        for (name, child) in [
            ("dockerd", self.dockerd.take()),
            ("containerd", self.containerd.take()),
        ] {
            let Some(mut child) = child else { continue };
            stopped = true;
            let pid = child.id();
            if sh::stop_child(&mut child, Duration::from_secs(30)) {
                eprintln!("engine newest: {name} did not stop within 30 s; killed (pid {pid})");
            }
        }
        if !stopped {
            return;
        }
        // The shims of containers still running (none, normally) go with their folder.
        kill_leftovers(&self.run_dir);
        let _ = Cmd::new("umount")
            .arg("-R")
            .arg(&self.run_dir)
            .shielded()
            .output();
        let _ = std::fs::remove_dir_all(&self.run_dir);
        remove_data(&self.data);
        delete_bridge(&self.bridge);
        eprintln!("engine newest: stopped");
    }
}

impl Drop for PrivateEngine {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// Removes the data root, unmounting what is still mounted under it first.
fn remove_data(data: &Path) {
    if !data.exists() {
        return;
    }
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let prefix = data.to_string_lossy();
    let mut under: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|m| m.starts_with(prefix.as_ref()))
        .collect();
    // Deepest first.
    under.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for mount in under {
        let _ = Cmd::new("umount").arg(mount).shielded().output();
    }
    let _ = std::fs::remove_dir_all(data);
}

fn ensure_packages(paths: &Paths, dir: &Path, root: &Path) -> Result<()> {
    let present = || {
        NEWEST_PACKAGES
            .iter()
            .all(|(_, file)| root.join(file).is_file())
    };
    if present() {
        return Ok(());
    }
    let names = NEWEST_PACKAGES.map(|(p, _)| p);
    if !signals::is_root() || sh::which("apt-get").is_none() {
        bail!(
            "the newest engine ({}) is not in {}; xtask downloads it with apt-get only when \
             it runs as root on Debian",
            names.join(", "),
            paths.rel(root)
        );
    }
    let log = paths.state.join("engine-newest-apt.log");
    eprintln!(
        "engine newest: downloading {} (log: {})",
        names.join(", "),
        paths.rel(&log)
    );
    let _ = std::fs::remove_dir_all(root);
    let _ = std::fs::remove_dir_all(dir.join("debs"));
    crate::oracles::fetch_debs(dir, root, &names, &log)?;
    if !present() {
        bail!(
            "the packages {} left no {} under {}",
            names.join(", "),
            NEWEST_PACKAGES.map(|(_, f)| f).join(", "),
            paths.rel(root)
        );
    }
    Ok(())
}

fn wait_for(
    mut ready: impl FnMut() -> bool,
    child: &mut Child,
    name: &str,
    log: &Path,
) -> Result<()> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            bail!(
                "{name} of the newest engine exited ({status}) before it was ready; last lines \
                 of {}:\n{}",
                log.display(),
                sh::tail(log, 30)
            );
        }
        if ready() {
            return Ok(());
        }
        signals::check()?;
        if started.elapsed() > READY_TIMEOUT {
            bail!(
                "{name} of the newest engine was not ready within {} s; last lines of {}:\n{}",
                READY_TIMEOUT.as_secs(),
                log.display(),
                sh::tail(log, 30)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Creates `name` with a free 172.30.X.1/24.
fn create_bridge(name: &str) -> Result<()> {
    let used = Cmd::new("ip")
        .args(["-4", "-o", "addr", "show"])
        .read()
        .context("running `ip` (package iproute2)")?;
    let subnet = (10..250)
        .find(|x| !used.contains(&format!("172.30.{x}.")))
        .context("no free 172.30.X.0/24 for the newest engine's bridge")?;
    Cmd::new("ip")
        .args(["link", "add", name, "type", "bridge"])
        .read()?;
    let added = Cmd::new("ip")
        .args(["addr", "add", &format!("172.30.{subnet}.1/24"), "dev", name])
        .read()
        .and_then(|_| Cmd::new("ip").args(["link", "set", name, "up"]).read());
    if let Err(e) = added {
        delete_bridge(name);
        return Err(e);
    }
    Ok(())
}

fn delete_bridge(name: &str) {
    let _ = Cmd::new("ip")
        .args(["link", "delete", name])
        .shielded()
        .output();
}

/// SIGKILLs every process whose command line mentions `dir` (a containerd, dockerd or shim
/// of this checkout's newest engine left by a run that was killed).
fn kill_leftovers(dir: &Path) {
    let needle = dir.to_string_lossy().into_owned();
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(&needle) {
            signals::kill(pid, libc::SIGKILL);
        }
    }
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
