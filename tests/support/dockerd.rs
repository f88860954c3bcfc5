//! Extra Docker daemons for tests of builders: each a `dockerd` of its own on this machine, with
//! its own `--data-root`, `--exec-root`, `--pidfile`, unix socket and bridge, stopped and wiped
//! when dropped.
//!
//! Like xtask's private daemon (`xtask/src/dockerd.rs`), each one leaves the machine's networking
//! alone: it gets a bridge of its own (`mabd…`, created here with an unused 172.31.X.1/24) and
//! runs with `--iptables=false --ip-masq=false --ip-forward=false`. A second dockerd with the
//! default bridge (or `--bridge none`) would reconfigure `docker0` under the main daemon and
//! break its containers' networking. Build steps in these daemons have no outside network, which
//! tests do not need; the daemon itself pulls base images from the test registry on 127.0.0.1
//! (plain HTTP, allowed for 127.0.0.0/8 by default).

use std::ffi::OsStr;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::{Output, run_command, unique_name};

/// How long a daemon may take to answer after it was started.
const READY_TIMEOUT: Duration = Duration::from_secs(90);
/// How long one docker command against it may take.
const TOOL_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Bridges are picked one at a time (within this test process).
static BRIDGES: Mutex<()> = Mutex::new(());

/// A TCP listener of the daemon, with TLS (`--tlsverify`) when `tls` is given.
#[derive(Debug, Clone)]
pub struct TcpListener {
    pub port: u16,
    pub tls: Option<ServerTls>,
}

/// The daemon's side of TLS: the CA its clients' certificates must be signed by, and its own
/// certificate and key (PEM files).
#[derive(Debug, Clone)]
pub struct ServerTls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A running extra daemon.
pub struct ExtraDaemon {
    /// `unix://<dir>/docker.sock`.
    pub host: String,
    /// `tcp://127.0.0.1:PORT` when it also listens on TCP.
    pub tcp_host: Option<String>,
    child: Option<Child>,
    pid: u32,
    /// Everything of the daemon: sockets, exec root, data root, log.
    dir: PathBuf,
    bridge: String,
}

impl ExtraDaemon {
    /// Starts a daemon on a unix socket only; panics (with its log) if it does not come up.
    pub fn start(name: &str) -> Self {
        Self::start_with(name, None)
    }

    /// Starts a daemon on a unix socket and, if given, a TCP port.
    pub fn start_with(name: &str, tcp: Option<TcpListener>) -> Self {
        // Short paths: containerd's socket under the exec root must fit in a sockaddr_un.
        let id = unique_name("d");
        let id = id.trim_start_matches("d-").to_string();
        let dir = PathBuf::from(format!("/tmp/mabd-{id}"));
        std::fs::create_dir_all(&dir).expect("creating the daemon's folder");
        let bridge = format!("mabd{}", &id[..id.len().min(8)]);
        create_bridge(&bridge);
        let socket = dir.join("docker.sock");
        let host = format!("unix://{}", socket.display());
        let log_path = dir.join("dockerd.log");
        let log = std::fs::File::create(&log_path).expect("creating the daemon's log");
        let mut cmd = Command::new("dockerd");
        cmd.arg("-H")
            .arg(&host)
            .arg("--data-root")
            .arg(dir.join("d"))
            .arg("--exec-root")
            .arg(dir.join("x"))
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            .args(["--bridge", &bridge])
            .args(["--iptables=false", "--ip-masq=false", "--ip-forward=false"]);
        let mut tcp_host = None;
        if let Some(tcp) = &tcp {
            let address = format!("tcp://127.0.0.1:{}", tcp.port);
            cmd.arg("-H").arg(&address);
            if let Some(tls) = &tcp.tls {
                cmd.arg("--tlsverify")
                    .arg("--tlscacert")
                    .arg(&tls.ca)
                    .arg("--tlscert")
                    .arg(&tls.cert)
                    .arg("--tlskey")
                    .arg(&tls.key);
            }
            tcp_host = Some(address);
        }
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        let child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) => {
                delete_bridge(&bridge);
                panic!("cannot start dockerd (is docker.io installed?): {e}");
            }
        };
        let pid = child.id();
        let mut daemon = Self {
            host,
            tcp_host,
            child: Some(child),
            pid,
            dir,
            bridge,
        };
        daemon.wait_ready(name);
        daemon
    }

    fn wait_ready(&mut self, name: &str) {
        let started = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "dockerd {name} exited ({status}) before it was ready; its log:\n{}",
                    self.log_tail()
                );
            }
            if self
                .docker(["version", "--format", "{{.Server.Version}}"])
                .success()
            {
                return;
            }
            if started.elapsed() > READY_TIMEOUT {
                panic!(
                    "dockerd {name} did not answer at {} within {} s; its log:\n{}",
                    self.host,
                    READY_TIMEOUT.as_secs(),
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The last lines of the daemon's log.
    pub fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(self.dir.join("dockerd.log")) {
            let _ = file.read_to_string(&mut text);
        }
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// The dockerd process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// `docker -H <unix socket> ARGS`.
    pub fn docker<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new("docker");
        cmd.env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .env_remove("DOCKER_CONTEXT")
            .arg("-H")
            .arg(&self.host)
            .args(args);
        run_command(cmd, TOOL_TIMEOUT)
    }

    /// Whether the daemon has an image with this id (`sha256:…`, the config digest).
    pub fn has_image(&self, id: &str) -> bool {
        self.docker(["image", "inspect", "--format", "{{.Id}}", id])
            .success()
    }

    /// Kills dockerd with SIGKILL, as a crash or a power cut would (its containerd and
    /// containers are cleaned up when this value is dropped).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
        }
    }
}

impl Drop for ExtraDaemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        // What dockerd started and left behind (its containerd and shims, after a SIGKILL):
        // the processes whose command line names this daemon's folder.
        kill_processes_mentioning(&self.dir);
        unmount_under(&self.dir);
        delete_bridge(&self.bridge);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Creates bridge `name` with an unused 172.31.X.1/24 (X in 100..=250; xtask's `mabtest0` has
/// 254), up.
fn create_bridge(name: &str) {
    let _one_at_a_time = BRIDGES.lock().unwrap_or_else(|e| e.into_inner());
    let used = ip(["-4", "-o", "addr", "show"]).stdout;
    let start = (std::process::id() as usize + name.len() * 7) % 151;
    let subnet = (0..151)
        .map(|n| 100 + (start + n) % 151)
        .find(|x| !used.contains(&format!("172.31.{x}.")))
        .expect("a free 172.31.X.0/24 for a test bridge");
    ip(["link", "add", name, "type", "bridge"]).assert_success();
    let address = format!("172.31.{subnet}.1/24");
    let added = ip(["addr", "add", &address, "dev", name]);
    if !added.success() {
        delete_bridge(name);
        panic!("cannot give {address} to bridge {name}\n{added}");
    }
    ip(["link", "set", name, "up"]).assert_success();
}

fn delete_bridge(name: &str) {
    let _ = ip(["link", "delete", name]);
}

fn ip<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new("ip");
    cmd.args(args);
    run_command(cmd, Duration::from_secs(30))
}

/// SIGKILLs every process whose command line contains `dir` (never this process).
fn kill_processes_mentioning(dir: &Path) {
    let needle = dir.to_string_lossy().into_owned();
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
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
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

/// Lazily unmounts every mount point under `dir`, deepest first (overlay layers, netns files).
fn unmount_under(dir: &Path) {
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let prefix = dir.to_string_lossy().into_owned();
    let mut points: Vec<&str> = mounts
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .filter(|point| point.starts_with(&prefix))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for point in points {
        let _ = Command::new("umount")
            .args(["-l", point])
            .stderr(Stdio::null())
            .status();
    }
}
