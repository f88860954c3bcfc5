//! Whether a daemon still answers while it is silent on purpose: a `RUN` step may print nothing
//! for an hour, and `docker save` may stage a whole image before its first byte, so silence
//! alone is not a failure; a daemon that stops answering `/_ping` is. Once an export streams,
//! a pause of [`EXPORT_STALL_LIMIT`] is.

use std::time::Duration;

use bollard::Docker;
use bytes::Bytes;
use futures::{Stream, StreamExt as _};

/// How often a silent daemon is asked whether it is alive.
const PING_EVERY: Duration = Duration::from_secs(15);
/// How long a ping may take.
const PING_LIMIT: Duration = Duration::from_secs(20);
/// How many pings in a row may go unanswered.
const MISSES: u32 = 2;
/// How long an export that has started may send nothing.
pub(crate) const EXPORT_STALL_LIMIT: Duration = Duration::from_secs(60);

/// Why a daemon is taken as gone.
#[derive(Debug)]
pub(crate) struct Unresponsive {
    /// The last ping's failure.
    pub(crate) last: String,
}

/// Ends when the daemon has not answered `/_ping` [`MISSES`] times in a row; never otherwise.
pub(crate) async fn until_unresponsive(docker: &Docker) -> Unresponsive {
    let mut misses = 0;
    loop {
        tokio::time::sleep(PING_EVERY).await;
        let last = match tokio::time::timeout(PING_LIMIT, docker.ping()).await {
            Ok(Ok(_)) => {
                misses = 0;
                continue;
            }
            Ok(Err(error)) => error.to_string(),
            Err(_) => format!("no answer to /_ping within {} s", PING_LIMIT.as_secs()),
        };
        misses += 1;
        if misses >= MISSES {
            return Unresponsive { last };
        }
    }
}

/// A `docker save` stream that fails instead of waiting for ever: before its first byte, while
/// the daemon stops answering pings; after it, when no byte came for [`EXPORT_STALL_LIMIT`]. Its
/// error is `TimedOut`, naming the daemon.
pub(crate) fn guard_export(
    stream: impl Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    docker: Docker,
    endpoint: String,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    let state = Some((Box::pin(stream), docker, false));
    futures::stream::unfold(state, move |state| {
        let endpoint = endpoint.clone();
        async move {
            let (mut inner, docker, started) = state?;
            let failed = |message: String| {
                Some((
                    Err(std::io::Error::new(std::io::ErrorKind::TimedOut, message)),
                    None,
                ))
            };
            if started {
                return match tokio::time::timeout(EXPORT_STALL_LIMIT, inner.next()).await {
                    Ok(Some(item)) => Some((item, Some((inner, docker, true)))),
                    Ok(None) => None,
                    Err(_) => failed(format!(
                        "the docker daemon at {endpoint} sent no byte of the image export for {} s",
                        EXPORT_STALL_LIMIT.as_secs()
                    )),
                };
            }
            tokio::select! {
                item = inner.next() => item.map(|item| (item, Some((inner, docker, true)))),
                gone = until_unresponsive(&docker) => failed(format!(
                    "the docker daemon at {endpoint} stopped answering before the image export \
                     began ({})",
                    gone.last
                )),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_export_that_stops_mid_stream_fails_at_the_limit() {
        let docker =
            Docker::connect_with_http("http://127.0.0.1:1", 1, bollard::API_DEFAULT_VERSION)
                .expect("a client");
        let stream = futures::stream::iter([Ok(Bytes::from_static(b"tar"))])
            .chain(futures::stream::pending());
        let mut guarded = Box::pin(guard_export(stream, docker, "test".to_string()));
        assert_eq!(&guarded.next().await.unwrap().unwrap()[..], b"tar");
        let started = tokio::time::Instant::now();
        let error = guarded.next().await.unwrap().unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), EXPORT_STALL_LIMIT);
        assert!(guarded.next().await.is_none());
    }
}
