//! A throwaway registry: `docker-registry serve` on 127.0.0.1, storage in a temporary
//! directory, configured from docker/registry/config.yml.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::paths::Paths;
use crate::sh::{self, Cmd};
use crate::signals;

const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Which port to serve on.
#[derive(Clone, Copy)]
pub enum Port {
    /// Any free port.
    Free,
    /// This one if it is free, else any free port.
    Prefer(u16),
}

pub struct Registry {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    child: Option<Child>,
    dir: Option<tempfile::TempDir>,
    log: PathBuf,
}

impl Registry {
    pub fn up(paths: &Paths, port: Port) -> Result<Self> {
        let template_path = paths.root.join("docker/registry/config.yml");
        let template = std::fs::read_to_string(&template_path)
            .with_context(|| format!("reading {}", template_path.display()))?;
        let mut last_error = None;
        // A free port can be taken by someone else before the registry binds it: try again.
        for attempt in 0..3 {
            let port = match (port, attempt) {
                (Port::Prefer(p), 0) if port_is_free(p) => p,
                _ => free_port()?,
            };
            match Self::start(paths, &template, port) {
                Ok(r) => return Ok(r),
                Err(e) => {
                    signals::check()?;
                    last_error = Some(e);
                }
            }
        }
        Err(last_error.expect("three attempts"))
    }

    fn start(paths: &Paths, template: &str, port: u16) -> Result<Self> {
        let addr = format!("127.0.0.1:{port}");
        let dir = tempfile::Builder::new()
            .prefix(&format!("mab-registry-{port}-"))
            .tempdir()?;
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage)?;
        let config = template
            .replace("{{addr}}", &addr)
            .replace("{{rootdirectory}}", &storage.to_string_lossy());
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config)?;
        let log = paths.state.join(format!("registry-{port}.log"));
        let started_at = Instant::now();
        let child = Cmd::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .spawn_logged(&log)?;
        let mut this = Self {
            addr,
            child: Some(child),
            dir: Some(dir),
            log,
        };
        this.wait_ready(started_at)?;
        eprintln!(
            "registry: started on {} (pid {}, storage {}, log {})",
            this.addr,
            this.pid().unwrap_or(0),
            storage.display(),
            paths.rel(&this.log)
        );
        Ok(this)
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn wait_ready(&mut self, started_at: Instant) -> Result<()> {
        let child = self.child.as_mut().expect("started");
        loop {
            if let Some(status) = child.try_wait()? {
                bail!(
                    "docker-registry exited ({status}) before it was ready; last lines of {}:\n{}",
                    self.log.display(),
                    sh::tail(&self.log, 20)
                );
            }
            let last = match get_v2(&self.addr) {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            signals::check()?;
            if started_at.elapsed() > READY_TIMEOUT {
                bail!(
                    "the registry on {} did not answer GET /v2/ within {} s ({last:#}); last \
                     lines of {}:\n{}",
                    self.addr,
                    READY_TIMEOUT.as_secs(),
                    self.log.display(),
                    sh::tail(&self.log, 20)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Its log: one line per request (method, URI, status, bytes written), which tests read
    /// as the registry's side of what mab asked.
    pub fn log(&self) -> &std::path::Path {
        &self.log
    }

    /// Leaves the registry running after xtask exits; returns how to stop it.
    pub fn keep(&mut self) -> Option<String> {
        let child = self.child.take()?;
        let dir = self.dir.take()?.keep();
        Some(format!(
            "registry: left running on {} (pid {}, storage {}); stop it with: kill {} && rm -rf {}",
            self.addr,
            child.id(),
            dir.display(),
            child.id(),
            dir.display()
        ))
    }

    pub fn teardown(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id();
            sh::stop_child(&mut child, Duration::from_secs(10));
            eprintln!("registry: stopped {} (pid {pid})", self.addr);
        }
        if let Some(dir) = self.dir.take() {
            let path = dir.path().to_path_buf();
            if let Err(e) = dir.close() {
                eprintln!("registry: cannot remove {}: {e}", path.display());
            }
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// A port on 127.0.0.1 that nothing listens on right now.
pub fn free_port() -> Result<u16> {
    let l = TcpListener::bind(("127.0.0.1", 0)).context("binding 127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// `GET /v2/` answers 200.
fn get_v2(addr: &str) -> Result<()> {
    let sa: SocketAddr = addr.parse()?;
    let mut s = TcpStream::connect_timeout(&sa, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    write!(
        s,
        "GET /v2/ HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let status = text.lines().next().unwrap_or("");
    if status.split_whitespace().nth(1) == Some("200") {
        Ok(())
    } else {
        bail!("GET /v2/ answered {status:?}")
    }
}
