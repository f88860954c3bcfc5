//! Where a Docker daemon listens and how to talk to it: a unix socket, tcp (plain or TLS with
//! client certificates), or ssh.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use bollard::Docker;

use crate::BuildError;
use crate::dial::Dialer;
use crate::ssh::SshTunnel;

/// Where the local daemon listens when neither the plan nor `DOCKER_HOST` say otherwise.
pub const DEFAULT_ENDPOINT: &str = "unix:///var/run/docker.sock";

/// How long one request (a whole build, a whole export) may take.
const REQUEST_TIMEOUT_SECS: u64 = 6 * 60 * 60;

/// The files of a TLS client identity for `tcp://` daemons started with `--tlsverify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The CA that signed the daemon's certificate (`ca.pem`).
    pub ca: PathBuf,
    /// The client certificate (`cert.pem`).
    pub cert: PathBuf,
    /// The client key (`key.pem`).
    pub key: PathBuf,
}

impl TlsFiles {
    /// `ca.pem`, `cert.pem` and `key.pem` in `dir` (the layout of `DOCKER_CERT_PATH`).
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        Self {
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        }
    }
}

/// A daemon endpoint: `unix:///path`, `tcp://host:port` (with or without TLS), `ssh://user@host`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonEndpoint {
    url: String,
    tls: Option<TlsFiles>,
}

impl DaemonEndpoint {
    /// An endpoint from its URL; `tls` makes a `tcp://` endpoint use TLS with client certificates.
    pub fn new(url: impl Into<String>, tls: Option<TlsFiles>) -> Result<Self, BuildError> {
        let url = url.into();
        if let Err(reason) = mab_vocab::check_endpoint(&url, tls.is_some()) {
            return Err(BuildError::InvalidEndpoint {
                // Never show a password an address may carry.
                endpoint: mab_vocab::redacted(&url),
                reason,
            });
        }
        Ok(Self { url, tls })
    }

    /// The endpoint the docker CLI would use: `DOCKER_HOST` (with `DOCKER_TLS_VERIFY` and
    /// `DOCKER_CERT_PATH` for tcp), else the local socket.
    pub fn from_env() -> Result<Self, BuildError> {
        let url = std::env::var("DOCKER_HOST")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        let verify = std::env::var("DOCKER_TLS_VERIFY")
            .map(|v| !v.is_empty() && v != "0")
            .unwrap_or(false);
        let tls = (verify && url.starts_with("tcp://")).then(|| {
            let dir = std::env::var_os("DOCKER_CERT_PATH")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))
                .unwrap_or_else(|| PathBuf::from(".docker"));
            TlsFiles::in_dir(dir)
        });
        Self::new(url, tls)
    }

    /// The endpoint the docker CLI would use given its `--context` flag: that context, else
    /// `DOCKER_HOST`, else `DOCKER_CONTEXT`, else the docker config's `currentContext`, else
    /// the local socket (see `docker_context.rs`).
    pub fn for_context(flag: Option<&str>) -> Result<Self, BuildError> {
        let env = crate::docker_context::ContextEnv::from_process();
        match crate::docker_context::context_name(flag, &env)? {
            Some(name) => crate::docker_context::context_endpoint(&name, &env),
            None => Self::from_env(),
        }
    }

    /// The endpoint's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The TLS client identity of a `tcp://` endpoint with TLS.
    pub fn tls(&self) -> Option<&TlsFiles> {
        self.tls.as_ref()
    }

    /// Whether this endpoint is the local machine's unix socket (so the local binfmt setup
    /// applies to it).
    pub fn is_local(&self) -> bool {
        self.url.starts_with("unix://")
    }

    /// A bollard client for this endpoint (no request is made yet), how to open raw
    /// connections to it (for BuildKit sessions), and for `ssh://` the tunnel both go through,
    /// which must live as long as the client (call inside the tokio runtime).
    pub(crate) fn client(&self) -> Result<Connection, bollard::errors::Error> {
        let version = bollard::API_DEFAULT_VERSION;
        if let Some(path) = self.url.strip_prefix("unix://") {
            return Ok(Connection {
                docker: Docker::connect_with_unix(path, REQUEST_TIMEOUT_SECS, version)?,
                dialer: Dialer::Unix(PathBuf::from(path)),
                tunnel: None,
            });
        }
        if self.url.starts_with("ssh://") {
            let tunnel = SshTunnel::start(&self.url)?;
            let socket = tunnel.socket().to_path_buf();
            let docker = Docker::connect_with_unix(
                &socket.to_string_lossy(),
                REQUEST_TIMEOUT_SECS,
                version,
            )?;
            return Ok(Connection {
                docker,
                dialer: Dialer::Unix(socket),
                tunnel: Some(Arc::new(tunnel)),
            });
        }
        let address = crate::dial::tcp_address(&self.url);
        match &self.tls {
            Some(tls) => {
                let config = Arc::new(crate::tls::client_config(tls)?);
                let host = address
                    .rsplit_once(':')
                    .map_or(address.as_str(), |(h, _)| h);
                let server_name = rustls::pki_types::ServerName::try_from(
                    host.trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_string(),
                )
                .map_err(|e| bollard::errors::Error::IOError {
                    err: std::io::Error::other(format!("daemon host {host:?}: {e}")),
                })?;
                Ok(Connection {
                    docker: crate::tls::connect(&self.url, tls, REQUEST_TIMEOUT_SECS, version)?,
                    dialer: Dialer::Tls {
                        address,
                        server_name,
                        config,
                    },
                    tunnel: None,
                })
            }
            None => Ok(Connection {
                docker: Docker::connect_with_http(&self.url, REQUEST_TIMEOUT_SECS, version)?,
                dialer: Dialer::Tcp(address),
                tunnel: None,
            }),
        }
    }
}

/// How mab talks to one daemon.
pub(crate) struct Connection {
    /// The bollard client.
    pub docker: Docker,
    /// Raw connections, for the requests bollard cannot make.
    pub dialer: Dialer,
    /// For `ssh://` daemons: the tunnel both go through.
    pub tunnel: Option<Arc<SshTunnel>>,
}

impl fmt::Display for DaemonEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)?;
        if self.tls.is_some() {
            f.write_str(" (tls)")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_and_rejected_endpoints() {
        assert!(DaemonEndpoint::new("unix:///var/run/docker.sock", None).is_ok());
        assert!(DaemonEndpoint::new("tcp://10.0.0.1:2376", Some(TlsFiles::in_dir("/c"))).is_ok());
        assert!(DaemonEndpoint::new("ssh://ci@arm-builder", None).is_ok());
        let err = DaemonEndpoint::new("/var/run/docker.sock", None).unwrap_err();
        assert!(
            err.to_string().contains("unix:///path/to/docker.sock"),
            "{err}"
        );
        let err = DaemonEndpoint::new("ssh://a@b", Some(TlsFiles::in_dir("/c"))).unwrap_err();
        assert!(err.to_string().contains("only applies to tcp://"), "{err}");
        let err = DaemonEndpoint::new("tcp://10.0.0.1", None).unwrap_err();
        assert!(err.to_string().contains("has no port"), "{err}");
    }
}
