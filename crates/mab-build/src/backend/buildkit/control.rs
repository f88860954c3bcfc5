//! BuildKit's control API (`POST /grpc` upgraded to h2c, we are the gRPC client): what the
//! daemon's BuildKit workers can build. A worker lists its native platform and every platform it
//! can run under emulation (the QEMU binfmt handlers of the daemon's kernel, wherever that is:
//! on a laptop's VM, on a remote host), which is what a builder can emulate.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard_buildkit_proto::moby::buildkit::v1::ListWorkersRequest;
use bollard_buildkit_proto::moby::buildkit::v1::control_client::ControlClient;
use mab_platform::Platform;

use super::upgrade::{UpgradeError, upgrade};
use crate::dial::Dialer;

/// How long asking the workers may take.
const ASK_TIMEOUT: Duration = Duration::from_secs(15);

/// Why the workers could not be asked.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ControlError {
    #[error(transparent)]
    Upgrade(#[from] UpgradeError),
    #[error("the buildkit control connection failed")]
    Transport(#[source] tonic::transport::Error),
    #[error("buildkit answered: {0}")]
    Status(#[source] tonic::Status),
    #[error("buildkit did not answer within {} s", ASK_TIMEOUT.as_secs())]
    Timeout,
}

/// Every platform the daemon's BuildKit workers can build, native first.
pub(crate) async fn worker_platforms(dialer: &Dialer) -> Result<Vec<Platform>, ControlError> {
    tokio::time::timeout(ASK_TIMEOUT, ask(dialer))
        .await
        .map_err(|_| ControlError::Timeout)?
}

async fn ask(dialer: &Dialer) -> Result<Vec<Platform>, ControlError> {
    let upgraded = upgrade(dialer, "/grpc", &[]).await?;
    // tonic dials through a connector: it gets the one upgraded connection.
    let once = Arc::new(Mutex::new(Some(upgraded)));
    let connector = tower::service_fn(move |_: http::Uri| {
        let once = Arc::clone(&once);
        async move {
            once.lock()
                .expect("the connector lock")
                .take()
                .ok_or_else(|| std::io::Error::other("the buildkit connection was used already"))
        }
    });
    let channel = tonic::transport::Endpoint::from_static("http://docker")
        .connect_with_connector(connector)
        .await
        .map_err(ControlError::Transport)?;
    let response = ControlClient::new(channel)
        .list_workers(ListWorkersRequest { filter: Vec::new() })
        .await
        .map_err(ControlError::Status)?;
    let mut platforms: Vec<Platform> = Vec::new();
    for worker in response.into_inner().record {
        for p in worker.platforms {
            let variant = Some(p.variant.as_str()).filter(|v| !v.is_empty());
            if let Ok(platform) = Platform::from_parts(&p.os, &p.architecture, variant)
                && !platforms.contains(&platform)
            {
                platforms.push(platform);
            }
        }
    }
    Ok(platforms)
}
