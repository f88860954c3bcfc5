//! Raw connections to a daemon, for the requests bollard cannot make for us: the HTTP upgrade
//! of `POST /session` (and `/grpc`) that turns a connection into the h2c stream of a BuildKit
//! session. Each endpoint kind is dialed as bollard dials it: a unix socket (an `ssh://`
//! daemon's tunnel is one too), plain tcp, or tcp with TLS and the builder's client certificate.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

/// How long connecting may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(30);

/// A byte stream to a daemon.
pub(crate) trait DaemonStream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> DaemonStream for T {}

/// How to open a connection to one daemon.
#[derive(Clone)]
pub(crate) enum Dialer {
    /// A unix socket (the daemon's own, or an ssh tunnel's).
    Unix(PathBuf),
    /// Plain tcp, `host:port`.
    Tcp(String),
    /// tcp with TLS.
    Tls {
        /// `host:port`.
        address: String,
        /// The name the daemon's certificate must have.
        server_name: rustls::pki_types::ServerName<'static>,
        config: Arc<rustls::ClientConfig>,
    },
}

impl Dialer {
    /// A new connection to the daemon.
    pub(crate) async fn dial(&self) -> std::io::Result<Pin<Box<dyn DaemonStream>>> {
        let connecting = async {
            Ok::<Pin<Box<dyn DaemonStream>>, std::io::Error>(match self {
                Dialer::Unix(path) => Box::pin(tokio::net::UnixStream::connect(path).await?),
                Dialer::Tcp(address) => {
                    let stream = tokio::net::TcpStream::connect(address).await?;
                    stream.set_nodelay(true)?;
                    Box::pin(stream)
                }
                Dialer::Tls {
                    address,
                    server_name,
                    config,
                } => {
                    let stream = tokio::net::TcpStream::connect(address).await?;
                    stream.set_nodelay(true)?;
                    let connector = tokio_rustls::TlsConnector::from(Arc::clone(config));
                    Box::pin(connector.connect(server_name.clone(), stream).await?)
                }
            })
        };
        tokio::time::timeout(DIAL_TIMEOUT, connecting)
            .await
            .map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no connection within {} s", DIAL_TIMEOUT.as_secs()),
                )
            })?
    }
}

/// `host:port` of a `tcp://` or `https://` endpoint URL.
pub(crate) fn tcp_address(url: &str) -> String {
    url.strip_prefix("tcp://")
        .or_else(|| url.strip_prefix("https://"))
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or(url)
        .trim_end_matches('/')
        .to_string()
}
