//! A BuildKit session with the daemon: `POST /session` upgraded to h2c on a connection of our
//! own, over which the daemon's BuildKit calls us back as a gRPC client. We serve what a build
//! may ask of its client: health checks, registry credentials (for the base images BuildKit
//! pulls), secrets and ssh agents. The build request names the session by its id; the session
//! ends when it is dropped.

use std::pin::Pin;
use std::task::{Context, Poll};

use bollard_buildkit_proto::health::health_server::HealthServer;
use bollard_buildkit_proto::moby::buildkit::secrets::v1::secrets_server::SecretsServer;
use bollard_buildkit_proto::moby::filesync::v1::auth_server::AuthServer;
use bollard_buildkit_proto::moby::sshforward::v1::ssh_server::SshServer;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::auth::DockerConfigAuth;
use super::health::AlwaysServing;
use super::secrets::SessionSecrets;
use super::ssh::SessionSsh;
use super::upgrade::{UpgradeError, upgrade};
use crate::dial::Dialer;

/// The gRPC methods the session serves, announced to the daemon when it opens.
const METHODS: &[&str] = &[
    "/grpc.health.v1.Health/Check",
    "/moby.filesync.v1.Auth/Credentials",
    "/moby.filesync.v1.Auth/FetchToken",
    "/moby.filesync.v1.Auth/GetTokenAuthority",
    "/moby.filesync.v1.Auth/VerifyTokenAuthority",
    "/moby.buildkit.secrets.v1.Secrets/GetSecret",
    "/moby.sshforward.v1.SSH/CheckAgent",
    "/moby.sshforward.v1.SSH/ForwardAgent",
];

/// What the session offers the build.
pub(crate) struct SessionServices {
    pub secrets: SessionSecrets,
    pub ssh: SessionSsh,
}

/// An open session; closed when dropped.
pub(crate) struct Session {
    id: String,
    serving: tokio::task::JoinHandle<()>,
}

impl Session {
    /// Opens a session with the daemon behind `dialer`.
    pub(crate) async fn open(
        dialer: &Dialer,
        services: SessionServices,
    ) -> Result<Self, UpgradeError> {
        let id = session_id();
        let mut headers = vec![
            ("X-Docker-Expose-Session-Uuid", id.clone()),
            ("X-Docker-Expose-Session-Name", "mab".to_string()),
            ("X-Docker-Expose-Session-Sharedkey", String::new()),
        ];
        for method in METHODS {
            headers.push(("X-Docker-Expose-Session-Grpc-Method", method.to_string()));
        }
        let upgraded = upgrade(dialer, "/session", &headers).await?;
        let io = SessionIo(TokioIo::new(upgraded));
        let router = tonic::transport::Server::builder()
            .add_service(HealthServer::new(AlwaysServing))
            .add_service(AuthServer::new(DockerConfigAuth))
            .add_service(SecretsServer::new(services.secrets))
            .add_service(SshServer::new(services.ssh));
        let serving = tokio::spawn(async move {
            let incoming = futures::stream::iter([Ok::<_, std::io::Error>(io)]);
            let _ = router.serve_with_incoming(incoming).await;
        });
        Ok(Self { id, serving })
    }

    /// The id the build request names.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.serving.abort();
    }
}

/// A session id: random enough that two runs never share one.
fn session_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut text = String::from("mab-");
    for _ in 0..2 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        text.push_str(&format!("{:016x}", hasher.finish()));
    }
    text
}

/// The upgraded connection, as tonic's server takes it.
struct SessionIo(TokioIo<hyper::upgrade::Upgraded>);

impl tonic::transport::server::Connected for SessionIo {
    type ConnectInfo = ();
    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for SessionIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for SessionIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
