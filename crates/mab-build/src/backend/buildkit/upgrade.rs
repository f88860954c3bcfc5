//! A connection to the daemon turned into an h2c stream: `POST /session` (the daemon then calls
//! us) or `POST /grpc` (we call BuildKit's control API), each on a raw connection of its own.

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

use crate::dial::Dialer;

/// Why a connection could not be upgraded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpgradeError {
    #[error("cannot connect for a buildkit connection")]
    Connect(#[source] std::io::Error),
    #[error("the buildkit upgrade request failed")]
    Http(#[source] hyper::Error),
    #[error("the daemon refused to upgrade {path} to h2c (HTTP {status})")]
    Refused {
        path: &'static str,
        status: http::StatusCode,
    },
}

/// Upgrades a new connection to the daemon behind `dialer` with `POST path`, sending `headers`.
pub(crate) async fn upgrade(
    dialer: &Dialer,
    path: &'static str,
    headers: &[(&str, String)],
) -> Result<hyper::upgrade::Upgraded, UpgradeError> {
    let stream = dialer.dial().await.map_err(UpgradeError::Connect)?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(UpgradeError::Http)?;
    tokio::spawn(async move {
        let _ = connection.with_upgrades().await;
    });
    let mut request = http::Request::builder()
        .method(http::Method::POST)
        .uri(path)
        .header(http::header::HOST, "docker")
        .header(http::header::CONNECTION, "Upgrade")
        .header(http::header::UPGRADE, "h2c");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let request = request
        .body(Empty::<Bytes>::new())
        .expect("the upgrade request is well formed");
    let response = sender
        .send_request(request)
        .await
        .map_err(UpgradeError::Http)?;
    if response.status() != http::StatusCode::SWITCHING_PROTOCOLS {
        return Err(UpgradeError::Refused {
            path,
            status: response.status(),
        });
    }
    hyper::upgrade::on(response)
        .await
        .map_err(UpgradeError::Http)
}
