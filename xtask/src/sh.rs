//! Running commands: each child in its own process group with stdin closed, registered for
//! signal forwarding unless shielded (see [`crate::signals`]).

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs::File;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};

use anyhow::{Context as _, Result, bail};

use crate::signals;

/// A command to run.
pub struct Cmd {
    inner: Command,
    display: String,
    shielded: bool,
}

impl Cmd {
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        let program = program.as_ref();
        let mut inner = Command::new(program);
        inner.stdin(Stdio::null()).process_group(0);
        Self {
            inner,
            display: program.to_string_lossy().into_owned(),
            shielded: false,
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        let arg = arg.as_ref();
        let _ = write!(self.display, " {}", arg.to_string_lossy());
        self.inner.arg(arg);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.inner.env(key, value);
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.inner.current_dir(dir);
        self
    }

    /// Does not get the forwarded SIGINT: for teardown and for apt/dpkg, which must finish.
    pub fn shielded(mut self) -> Self {
        self.shielded = true;
        self
    }

    /// The command line, for messages.
    pub fn display(&self) -> &str {
        &self.display
    }

    fn spawn_and_wait(mut self, capture: bool) -> Result<Output> {
        if capture {
            self.inner.stdout(Stdio::piped()).stderr(Stdio::piped());
        }
        let child = self
            .inner
            .spawn()
            .with_context(|| format!("cannot run `{}`", self.display))?;
        let pid = child.id();
        if !self.shielded {
            signals::register(pid);
        }
        let out = child.wait_with_output();
        if !self.shielded {
            signals::unregister(pid);
        }
        out.with_context(|| format!("waiting for `{}`", self.display))
    }

    /// Runs with stdout and stderr captured; fails only if it cannot be started.
    pub fn output(self) -> Result<Output> {
        self.spawn_and_wait(true)
    }

    /// Runs with stdout and stderr captured; fails, showing stderr, unless it exits 0.
    /// Returns stdout, trimmed.
    pub fn read(self) -> Result<String> {
        let display = self.display.clone();
        let out = self.output()?;
        if !out.status.success() {
            bail!(
                "`{display}` failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Runs with stdout and stderr inherited (streamed live).
    pub fn status(self) -> Result<ExitStatus> {
        Ok(self.spawn_and_wait(false)?.status)
    }

    /// Runs with stderr inherited and stdout passed through line by line, each line also given
    /// to `on_line`.
    pub fn status_tee(mut self, mut on_line: impl FnMut(&str)) -> Result<ExitStatus> {
        use std::io::{BufRead as _, Write as _};
        self.inner.stdout(Stdio::piped());
        let mut child = self
            .inner
            .spawn()
            .with_context(|| format!("cannot run `{}`", self.display))?;
        let pid = child.id();
        if !self.shielded {
            signals::register(pid);
        }
        let stdout = child.stdout.take().expect("piped");
        let mut reader = std::io::BufReader::new(stdout);
        let mut line = Vec::new();
        let out = std::io::stdout();
        while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
            let mut lock = out.lock();
            let _ = lock.write_all(&line);
            let _ = lock.flush();
            drop(lock);
            on_line(String::from_utf8_lossy(&line).trim_end());
            line.clear();
        }
        let status = child.wait();
        if !self.shielded {
            signals::unregister(pid);
        }
        status.with_context(|| format!("waiting for `{}`", self.display))
    }

    /// Runs with stdout and stderr inherited; fails unless it exits 0.
    pub fn run(self) -> Result<()> {
        let display = self.display.clone();
        let status = self.status()?;
        if !status.success() {
            bail!("`{display}` failed ({status})");
        }
        Ok(())
    }

    /// Runs with stdout and stderr appended to `log`; fails, showing the log's tail, unless
    /// it exits 0.
    pub fn run_logged(mut self, log: &Path) -> Result<()> {
        let file = File::options()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        {
            use std::io::Write as _;
            let mut f = &file;
            let _ = writeln!(f, "$ {}", self.display);
        }
        self.inner
            .stdout(file.try_clone()?)
            .stderr(file.try_clone()?);
        let display = self.display.clone();
        let status = self.status()?;
        if !status.success() {
            bail!(
                "`{display}` failed ({status}); last lines of {}:\n{}",
                log.display(),
                tail(log, 30)
            );
        }
        Ok(())
    }

    /// Starts it in the background with stdout and stderr going to `log` (truncated).
    /// The child is never signalled by the handler: the caller stops it.
    pub fn spawn_logged(mut self, log: &Path) -> Result<std::process::Child> {
        let file = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        self.inner
            .stdout(file.try_clone()?)
            .stderr(file.try_clone()?);
        self.inner
            .spawn()
            .with_context(|| format!("cannot run `{}`", self.display))
    }
}

/// The last `n` lines of a file (for error messages).
pub fn tail(path: &Path, n: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(n);
            lines[start..]
                .iter()
                .map(|l| format!("    {l}\n"))
                .collect()
        }
        Err(e) => format!("    (cannot read {}: {e})\n", path.display()),
    }
}

/// Where `program` is on PATH.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Stops a background child: SIGTERM, then SIGKILL after `grace`. Returns whether it had to be
/// killed.
pub fn stop_child(child: &mut std::process::Child, grace: std::time::Duration) -> bool {
    if let Ok(Some(_)) = child.try_wait() {
        return false;
    }
    signals::kill(child.id(), libc::SIGTERM);
    let deadline = std::time::Instant::now() + grace;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    true
}
