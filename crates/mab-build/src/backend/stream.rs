//! Reading a build's answer: the one loop both backends run over the daemon's build stream
//! (output lines, the image id, the failure), then the context producer's outcome.

use std::path::Path;
use std::time::Duration;

use bollard::models::{BuildInfo, BuildInfoAux, ImageId};
use bollard_buildkit_proto::moby::buildkit::v1::StatusResponse;
use futures::{Stream, StreamExt};

use crate::BuildError;
use crate::daemon::{BuildReporter, Daemon, LOG_TAIL_LINES};

/// Who a build's stream is read for.
pub(super) struct StreamReader<'a> {
    /// The daemon building.
    pub(super) daemon: &'a Daemon,
    /// Where output lines go.
    pub(super) reporter: &'a dyn BuildReporter,
    /// The platform built (`os/arch[/variant]`), for errors.
    pub(super) platform: &'a str,
    /// The build's context folder, for errors.
    pub(super) context_dir: &'a Path,
}

/// How a build's stream ended, as the daemon said it.
pub(super) struct StreamEnd {
    /// The image id the daemon reported.
    pub(super) image_id: Option<String>,
    /// The failure it reported.
    pub(super) failure: Option<String>,
    /// The last lines of output.
    tail: Vec<String>,
    /// The stream showed nothing for this long, when an idle limit applied: it was left.
    pub(super) stalled: Option<Duration>,
}

impl StreamEnd {
    /// The image id, or the build's failure (with the last lines of output).
    pub(super) fn into_image_id(self, reader: &StreamReader<'_>) -> Result<String, BuildError> {
        if let Some(message) = self.failure {
            let mut message = message.trim().to_string();
            if !self.tail.is_empty() {
                message.push_str("\n  last lines of the build output:\n    ");
                message.push_str(&self.tail.join("\n    "));
            }
            return Err(BuildError::BuildFailed {
                platform: reader.platform.to_string(),
                endpoint: reader.daemon.endpoint().to_string(),
                message,
            });
        }
        self.image_id.ok_or_else(|| BuildError::NoImageProduced {
            platform: reader.platform.to_string(),
            endpoint: reader.daemon.endpoint().to_string(),
        })
    }
}

impl StreamReader<'_> {
    /// Reads `stream` to its end: every line of output (BuildKit's status updates turned into
    /// lines by `status_lines`) to the reporter, the last of them kept for the failure's
    /// message; then the context `producer`'s outcome. `keep` (what the build needs while it
    /// runs, such as BuildKit's session) is dropped once the stream is. Returns the image id.
    pub(super) async fn read<K>(
        &self,
        stream: impl Stream<Item = Result<BuildInfo, bollard::errors::Error>>,
        producer: tokio::task::JoinHandle<Result<(), BuildError>>,
        keep: K,
        status_lines: impl FnMut(&StatusResponse) -> Vec<String>,
    ) -> Result<String, BuildError> {
        self.read_to_end(stream, producer, keep, status_lines, || None)
            .await?
            .into_image_id(self)
    }

    /// As [`Self::read`], but returns how the stream ended, failure included; before each
    /// item, `idle_limit` says how long the stream may show nothing (`None`: no limit), and a
    /// stream silent for longer is left (`stalled`).
    pub(super) async fn read_to_end<K>(
        &self,
        stream: impl Stream<Item = Result<BuildInfo, bollard::errors::Error>>,
        producer: tokio::task::JoinHandle<Result<(), BuildError>>,
        keep: K,
        mut status_lines: impl FnMut(&StatusResponse) -> Vec<String>,
        idle_limit: impl Fn() -> Option<Duration>,
    ) -> Result<StreamEnd, BuildError> {
        // Boxed, so that dropping it below ends the request (and the context body with it).
        let mut stream = Box::pin(stream);
        let mut image_id = None;
        let mut tail: Vec<String> = Vec::new();
        let mut failure = None;
        let mut show = |line: String| {
            self.reporter.line(&line);
            tail.push(line);
            if tail.len() > LOG_TAIL_LINES {
                tail.remove(0);
            }
        };
        let mut stalled = None;
        loop {
            let item = match idle_limit() {
                Some(limit) => match tokio::time::timeout(limit, stream.next()).await {
                    Ok(item) => item,
                    Err(_) => {
                        stalled = Some(limit);
                        break;
                    }
                },
                None => stream.next().await,
            };
            let Some(item) = item else { break };
            match item {
                Ok(info) => {
                    match info.aux {
                        Some(BuildInfoAux::BuildKit(status)) => {
                            for line in status_lines(&status) {
                                show(line);
                            }
                        }
                        Some(BuildInfoAux::Default(ImageId { id: Some(id) })) => {
                            image_id = Some(id)
                        }
                        _ => {}
                    }
                    if let Some(text) = info.stream.as_deref().or(info.status.as_deref()) {
                        for line in text.lines().filter(|l| !l.trim().is_empty()) {
                            show(line.to_string());
                        }
                    }
                    if let Some(detail) = info.error_detail {
                        failure = detail.message;
                    }
                }
                Err(bollard::errors::Error::DockerStreamError { error }) => {
                    failure = Some(error);
                    break;
                }
                Err(source) => {
                    // The context producer's error (a file it could not read) explains more,
                    // unless it only says that the daemon stopped reading (the connection
                    // broke: `source` says how).
                    match producer.await {
                        Ok(Err(BuildError::ContextStreamClosed { .. })) => {}
                        Ok(Err(e)) => return Err(e),
                        _ => {}
                    }
                    return Err(self
                        .daemon
                        .daemon_error(format!("building for {}", self.platform), source));
                }
            }
        }
        drop(stream);
        drop(keep);
        match producer.await {
            Ok(Ok(())) => {}
            // The daemon stopped reading the context because the build failed (or was left):
            // report that.
            Ok(Err(BuildError::ContextStreamClosed { .. }))
                if failure.is_some() || stalled.is_some() => {}
            Ok(Err(e)) => return Err(e),
            Err(join) => {
                return Err(BuildError::ContextRead {
                    path: self.context_dir.to_path_buf(),
                    source: std::io::Error::other(join),
                });
            }
        }
        Ok(StreamEnd {
            image_id,
            failure,
            tail,
            stalled,
        })
    }
}
