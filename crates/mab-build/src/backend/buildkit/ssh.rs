//! `moby.sshforward.v1.SSH`: ssh agents forwarded to `RUN --mount=type=ssh` steps, as
//! `docker buildx build --ssh` does. An agent is a running agent's socket (`default`:
//! `$SSH_AUTH_SOCK`), or private key files loaded into an `ssh-agent` of mab's own that lives as
//! long as the build. Each connection the build opens to its agent socket is carried over one
//! gRPC stream to the agent here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bollard_buildkit_proto::moby::sshforward::v1::ssh_server::Ssh;
use bollard_buildkit_proto::moby::sshforward::v1::{
    BytesMessage, CheckAgentRequest, CheckAgentResponse,
};
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::{Request, Response, Status, Streaming};

use crate::secret::{SshForward, SshSource};

/// The metadata key that names the agent a forwarded connection is for.
const SSH_ID_KEY: &str = "buildkit.ssh.id";

/// The ssh agents of one build, by id.
pub(crate) struct SessionSsh {
    sockets: HashMap<String, PathBuf>,
    /// Agents mab started for key files; killed with the session.
    _agents: Vec<OwnAgent>,
}

/// Why an ssh agent cannot be offered.
#[derive(Debug)]
pub(crate) struct SshSetupError {
    pub id: String,
    pub reason: String,
}

impl SessionSsh {
    /// Checks every agent (the socket answers, the keys load) before the build starts.
    pub(crate) async fn prepare(forwards: &[SshForward]) -> Result<Self, SshSetupError> {
        let mut sockets = HashMap::new();
        let mut agents = Vec::new();
        for forward in forwards {
            let fail = |reason: String| SshSetupError {
                id: forward.id.clone(),
                reason,
            };
            let socket = match &forward.source {
                SshSource::Agent(socket) => {
                    tokio::net::UnixStream::connect(socket).await.map_err(|e| {
                        fail(format!("no ssh agent answers at {}: {e}", socket.display()))
                    })?;
                    socket.clone()
                }
                SshSource::Keys(keys) => {
                    let agent = OwnAgent::start(keys).await.map_err(fail)?;
                    let socket = agent.socket.clone();
                    agents.push(agent);
                    socket
                }
            };
            sockets.insert(forward.id.clone(), socket);
        }
        Ok(Self {
            sockets,
            _agents: agents,
        })
    }
}

#[tonic::async_trait]
impl Ssh for SessionSsh {
    async fn check_agent(
        &self,
        request: Request<CheckAgentRequest>,
    ) -> Result<Response<CheckAgentResponse>, Status> {
        let id = request.into_inner().id;
        let id = if id.is_empty() {
            "default".to_string()
        } else {
            id
        };
        if self.sockets.contains_key(&id) {
            Ok(Response::new(CheckAgentResponse {}))
        } else {
            Err(Status::not_found(format!("no ssh agent with id {id}")))
        }
    }

    type ForwardAgentStream = tokio_stream_compat::ReceiverStream;

    async fn forward_agent(
        &self,
        request: Request<Streaming<BytesMessage>>,
    ) -> Result<Response<Self::ForwardAgentStream>, Status> {
        let id = request
            .metadata()
            .get(SSH_ID_KEY)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .unwrap_or("default")
            .to_string();
        let socket = self
            .sockets
            .get(&id)
            .ok_or_else(|| Status::not_found(format!("no ssh agent with id {id}")))?;
        let agent = tokio::net::UnixStream::connect(socket)
            .await
            .map_err(|e| Status::unavailable(format!("ssh agent {id}: {e}")))?;
        let (mut from_agent, mut to_agent) = agent.into_split();
        let mut inbound = request.into_inner();
        tokio::spawn(async move {
            while let Some(Ok(message)) = inbound.next().await {
                if to_agent.write_all(&message.data).await.is_err() {
                    break;
                }
            }
            let _ = to_agent.shutdown().await;
        });
        let (sender, receiver) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            let mut buffer = vec![0u8; 32 * 1024];
            loop {
                match from_agent.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let message = BytesMessage {
                            data: buffer[..n].to_vec(),
                        };
                        if sender.send(Ok(message)).await.is_err() {
                            break;
                        }
                    }
                }
            }
        });
        Ok(Response::new(tokio_stream_compat::ReceiverStream(receiver)))
    }
}

/// An `ssh-agent` started for key files, in a private folder; killed when dropped.
struct OwnAgent {
    socket: PathBuf,
    process: tokio::process::Child,
    _folder: tempfile::TempDir,
}

impl OwnAgent {
    async fn start(keys: &[PathBuf]) -> Result<Self, String> {
        let folder = tempfile::Builder::new()
            .prefix("mab-ssh-")
            .tempdir()
            .map_err(|e| format!("cannot make a folder for an ssh agent: {e}"))?;
        let socket = folder.path().join("agent.sock");
        let process = tokio::process::Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot run ssh-agent (is openssh-client installed?): {e}"))?;
        let agent = Self {
            socket,
            process,
            _folder: folder,
        };
        agent.wait_for_socket().await?;
        for key in keys {
            agent.add(key).await?;
        }
        Ok(agent)
    }

    async fn wait_for_socket(&self) -> Result<(), String> {
        for _ in 0..100 {
            if tokio::net::UnixStream::connect(&self.socket).await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        Err("ssh-agent did not start within 2 s".to_string())
    }

    async fn add(&self, key: &Path) -> Result<(), String> {
        let output = tokio::process::Command::new("ssh-add")
            .arg(key)
            .env("SSH_AUTH_SOCK", &self.socket)
            .env_remove("DISPLAY")
            .env_remove("SSH_ASKPASS")
            .stdin(std::process::Stdio::null())
            .output();
        let output = tokio::time::timeout(std::time::Duration::from_secs(10), output)
            .await
            .map_err(|_| format!("ssh-add {} did not finish within 10 s", key.display()))?
            .map_err(|e| format!("cannot run ssh-add: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "cannot load the key {} (a key with a passphrase needs an agent of your own): {}",
                key.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }
}

impl Drop for OwnAgent {
    fn drop(&mut self) {
        let _ = self.process.start_kill();
    }
}

/// A stream of an mpsc receiver (tokio-stream's `ReceiverStream`, without the crate).
mod tokio_stream_compat {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use bollard_buildkit_proto::moby::sshforward::v1::BytesMessage;
    use tonic::Status;

    pub struct ReceiverStream(pub tokio::sync::mpsc::Receiver<Result<BytesMessage, Status>>);

    impl futures::Stream for ReceiverStream {
        type Item = Result<BytesMessage, Status>;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            self.0.poll_recv(cx)
        }
    }
}
