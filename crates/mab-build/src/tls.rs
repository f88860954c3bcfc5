//! `tcp://` daemons started with `--tlsverify`: the client's transport.
//!
//! bollard's own TLS transport (`Docker::connect_with_ssl`) opens a new connection for every
//! request and leaves Nagle's algorithm on, so every request waits for the daemon's delayed ACK
//! (about 40 ms on Linux): about 260 ms per job, measured on loopback. This one keeps
//! connections alive between requests, sets `TCP_NODELAY` and TCP keepalive, and uses ring,
//! passed explicitly rather than taken from the process default (ring is the only rustls
//! provider built; aws-lc-rs, used before, spent about 40 ms setting itself up on first use).
//! Like the docker CLI given `--tlscacert`, it trusts exactly the CA of the builder's `tls` for
//! the daemon's certificate.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bollard::errors::Error;
use bollard::{BollardRequest, ClientVersion, Docker};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::endpoint::TlsFiles;

/// A client for the daemon at `url` (`tcp://host:port` or `https://host:port`).
pub(crate) fn connect(
    url: &str,
    tls: &TlsFiles,
    timeout_secs: u64,
    version: &ClientVersion,
) -> Result<Docker, Error> {
    let config = client_config(tls)?;
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    // A daemon whose host vanished without closing the connection is noticed within about
    // two minutes instead of at the request timeout.
    http.set_keepalive(Some(Duration::from_secs(30)));
    http.set_keepalive_interval(Some(Duration::from_secs(15)));
    http.set_keepalive_retries(Some(6));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only()
        .enable_http1()
        .wrap_connector(http);
    let client = Client::builder(TokioExecutor::new()).build(https);
    let host = url
        .strip_prefix("tcp://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or(url)
        .trim_end_matches('/');
    Docker::connect_with_custom_transport(
        move |request: BollardRequest| {
            let client = client.clone();
            async move { client.request(request).await.map_err(Error::from) }
        },
        Some(format!("https://{host}")),
        timeout_secs,
        version,
    )
}

/// The TLS configuration for a daemon with `--tlsverify`: trust exactly the builder's CA,
/// present its client certificate.
pub(crate) fn client_config(tls: &TlsFiles) -> Result<rustls::ClientConfig, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for ca in certificates(&tls.ca)? {
        roots.add(ca).map_err(|e| invalid(&tls.ca, e))?;
    }
    let key = PrivateKeyDer::from_pem_file(&tls.key).map_err(|e| invalid(&tls.key, e))?;
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::IOError {
            err: std::io::Error::other(e),
        })?
        .with_root_certificates(roots)
        .with_client_auth_cert(certificates(&tls.cert)?, key)
        .map_err(|e| invalid(&tls.cert, e))
}

/// The certificates of a PEM file (at least one).
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certificates = CertificateDer::pem_file_iter(path)
        .and_then(|all| all.collect::<Result<Vec<_>, _>>())
        .map_err(|e| invalid(path, e))?;
    if certificates.is_empty() {
        return Err(invalid(path, "no certificate in it"));
    }
    Ok(certificates)
}

/// A TLS file that cannot be used, naming it.
fn invalid(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::IOError {
        err: std::io::Error::other(format!("tls file {}: {reason}", path.display())),
    }
}
