//! `ssh://[user@]host[:port]` daemons, reached the way the docker CLI reaches them: every
//! connection is `docker system dial-stdio` run on the remote host by the system's `ssh` client
//! (so `~/.ssh/config`, keys and the ssh agent apply, and an unknown host key is refused rather
//! than trusted), bridged to a private unix socket that the HTTP client connects to.
//!
//! bollard's own ssh transport is not used: in 0.21 it drops the port of `ssh://user@host:port`
//! (the destination reaches ssh as `host:port`, an unknown host name), accepts unknown host keys
//! (`StrictHostKeyChecking=accept-new`) and leaves its ssh master running (`ControlPersist=yes`).

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

/// How much of ssh's error output is kept for messages.
const STDERR_LIMIT: u64 = 16 * 1024;

/// Where and as whom to run `docker system dial-stdio`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SshTarget {
    user: Option<String>,
    host: String,
    port: Option<u16>,
}

impl SshTarget {
    /// `ssh://[user@]host[:port]` (IPv6 hosts in brackets).
    fn parse(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("ssh://")
            .ok_or_else(|| format!("{url} is not an ssh:// address"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (user, host_port) = match rest.rsplit_once('@') {
            Some((user, host_port)) => (Some(user.to_string()), host_port),
            None => (None, rest),
        };
        let (host, port) = if let Some(inner) = host_port.strip_prefix('[') {
            let (host, after) = inner
                .split_once(']')
                .ok_or_else(|| format!("{url} has `[` without `]`"))?;
            (host, after.strip_prefix(':'))
        } else {
            match host_port.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (host_port, None),
            }
        };
        let port = port
            .map(|p| {
                p.parse::<u16>()
                    .map_err(|_| format!("{url} has an invalid port `{p}`"))
            })
            .transpose()?;
        if host.is_empty() || host.starts_with('-') || host.contains('/') {
            return Err(format!("{url} has no valid host"));
        }
        Ok(Self {
            user: user.filter(|u| !u.is_empty()),
            host: host.to_string(),
            port,
        })
    }

    fn command(&self) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("ssh");
        cmd.args(["-o", "BatchMode=yes"]);
        if let Some(port) = self.port {
            cmd.arg("-p").arg(port.to_string());
        }
        if let Some(user) = &self.user {
            cmd.arg("-l").arg(user);
        }
        cmd.arg("--")
            .arg(&self.host)
            .args(["docker", "system", "dial-stdio"]);
        cmd
    }
}

/// A private unix socket whose every connection is a `docker system dial-stdio` over ssh.
/// Dropping it stops accepting connections and removes the socket.
pub(crate) struct SshTunnel {
    dir: PathBuf,
    socket: PathBuf,
    accept: tokio::task::JoinHandle<()>,
    last_error: Arc<Mutex<Option<String>>>,
}

impl SshTunnel {
    /// Starts listening (must be called inside the tokio runtime).
    pub(crate) fn start(url: &str) -> std::io::Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let target = SshTarget::parse(url).map_err(std::io::Error::other)?;
        let dir = std::env::temp_dir().join(format!(
            "mab-ssh-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        // Only its owner may enter: the socket gives the remote daemon to whoever connects.
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        let socket = dir.join("docker.sock");
        let listener = match UnixListener::bind(&socket) {
            Ok(listener) => listener,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let last_error = Arc::new(Mutex::new(None));
        let accept = tokio::spawn(accept_loop(listener, target, Arc::clone(&last_error)));
        Ok(Self {
            dir,
            socket,
            accept,
            last_error,
        })
    }

    /// The unix socket to connect to.
    pub(crate) fn socket(&self) -> &Path {
        &self.socket
    }

    /// What ssh said the last time a session failed (`Permission denied (publickey)`,
    /// `docker: command not found`...).
    pub(crate) fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok()?.clone()
    }
}

impl Drop for SshTunnel {
    fn drop(&mut self) {
        self.accept.abort();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn accept_loop(
    listener: UnixListener,
    target: SshTarget,
    last_error: Arc<Mutex<Option<String>>>,
) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(bridge(stream, target.clone(), Arc::clone(&last_error)));
    }
}

/// Runs one `ssh … docker system dial-stdio` and copies bytes both ways; when ssh fails, keeps
/// what it said before the connection is closed (so that the client's error can show it).
async fn bridge(stream: UnixStream, target: SshTarget, last_error: Arc<Mutex<Option<String>>>) {
    let record = |message: String| {
        if let Ok(mut last) = last_error.lock() {
            *last = Some(message);
        }
    };
    let mut child = match target
        .command()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            record(format!("cannot run the ssh client: {e}"));
            return;
        }
    };
    let (Some(mut stdin), Some(mut stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return;
    };
    let stderr = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.take(STDERR_LIMIT).read_to_string(&mut text).await;
        text
    });
    let (mut from_client, mut to_client) = stream.into_split();
    // Client to daemon: when the client closes, ssh's stdin is closed and the session ends.
    let upload = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut from_client, &mut stdin).await;
        let _ = stdin.shutdown().await;
    });
    // Daemon to client, until the session ends (or the client is gone).
    let _ = tokio::io::copy(&mut stdout, &mut to_client).await;
    let status = match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
        Ok(status) => status.ok(),
        Err(_) => {
            let _ = child.kill().await;
            None
        }
    };
    let said = stderr.await.unwrap_or_default();
    if !status.is_some_and(|s| s.success()) {
        let said = said
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        record(if said.is_empty() {
            "the ssh session ended without saying why".to_string()
        } else if said.starts_with("ssh:") {
            said
        } else {
            format!("ssh: {said}")
        });
    }
    upload.abort();
    // The connection closes only now, after the reason was kept.
    drop(to_client);
}

#[cfg(test)]
mod tests {
    use super::SshTarget;

    #[test]
    fn parses_user_host_and_port() {
        let target = |url: &str| SshTarget::parse(url).unwrap();
        assert_eq!(
            target("ssh://ci@arm-builder"),
            SshTarget {
                user: Some("ci".into()),
                host: "arm-builder".into(),
                port: None
            }
        );
        assert_eq!(
            target("ssh://root@127.0.0.1:2222"),
            SshTarget {
                user: Some("root".into()),
                host: "127.0.0.1".into(),
                port: Some(2222)
            }
        );
        assert_eq!(
            target("ssh://[::1]:22"),
            SshTarget {
                user: None,
                host: "::1".into(),
                port: Some(22)
            }
        );
        assert!(SshTarget::parse("ssh://-oProxyCommand=x").is_err());
        assert!(SshTarget::parse("ssh://host:port").is_err());
        assert!(SshTarget::parse("tcp://host:2375").is_err());
    }
}
