//! A registry repository reached through `oci-client`, with docker credentials.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::Stream;
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use tokio::sync::Mutex;

use crate::RegistryError;

/// How to reach registries.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Registries (`host[:port]`) spoken to over plain HTTP. Every other registry uses TLS.
    pub insecure_registries: Vec<String>,
}

/// A registry client shared by every push of a run (cheap to clone).
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    client: Client,
    /// Credentials per registry, looked up once.
    auth: Mutex<HashMap<String, RegistryAuth>>,
}

impl RegistryClient {
    /// A client for all the registries of a run.
    pub fn new(options: &RegistryOptions) -> Self {
        let config = oci_client::client::ClientConfig {
            protocol: oci_client::client::ClientProtocol::HttpsExcept(
                options.insecure_registries.clone(),
            ),
            ..Default::default()
        };
        Self {
            inner: Arc::new(ClientInner {
                client: Client::new(config),
                auth: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// A handle on one repository (`registry` is `host[:port]`, `path` like `team/app`).
    pub fn repository(&self, registry: &str, path: &str) -> RemoteRepository {
        RemoteRepository {
            client: self.clone(),
            registry: registry.to_string(),
            path: path.to_string(),
        }
    }

    /// The credentials for `registry` from the docker config (`auths`, `credHelpers`,
    /// `credsStore`); anonymous where there are none.
    async fn auth_for(&self, registry: &str) -> Result<RegistryAuth, RegistryError> {
        let mut cache = self.inner.auth.lock().await;
        if let Some(auth) = cache.get(registry) {
            return Ok(auth.clone());
        }
        let server = docker_config_key(registry);
        let lookup =
            tokio::task::spawn_blocking(move || docker_credential::get_credential(&server))
                .await
                .map_err(|e| RegistryError::Credentials {
                    registry: registry.to_string(),
                    message: e.to_string(),
                })?;
        let auth = match lookup {
            Ok(docker_credential::DockerCredential::UsernamePassword(user, password)) => {
                RegistryAuth::Basic(user, password)
            }
            Ok(docker_credential::DockerCredential::IdentityToken(token)) => {
                RegistryAuth::Bearer(token)
            }
            // No config file, no entry for this registry: anonymous, like the docker CLI.
            Err(_) => RegistryAuth::Anonymous,
        };
        cache.insert(registry.to_string(), auth.clone());
        Ok(auth)
    }
}

/// The key of a registry in `~/.docker/config.json`.
fn docker_config_key(registry: &str) -> String {
    match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => {
            "https://index.docker.io/v1/".to_string()
        }
        other => other.to_string(),
    }
}

/// One repository of one registry.
#[derive(Clone)]
pub struct RemoteRepository {
    client: RegistryClient,
    registry: String,
    path: String,
}

impl RemoteRepository {
    /// `host[:port]` of the registry.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// `registry/path`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.path)
    }

    fn client(&self) -> &Client {
        &self.client.inner.client
    }

    fn reference_for_tag(&self, tag: &str) -> Reference {
        Reference::with_tag(self.registry.clone(), self.path.clone(), tag.to_string())
    }

    fn reference_for_digest(&self, digest: &str) -> Reference {
        Reference::with_digest(self.registry.clone(), self.path.clone(), digest.to_string())
    }

    fn error(&self, action: String, source: OciDistributionError) -> RegistryError {
        let auth_failed = matches!(
            source,
            OciDistributionError::AuthenticationFailure(_)
                | OciDistributionError::UnauthorizedError { .. }
        );
        if auth_failed {
            RegistryError::Authentication {
                registry: self.registry.clone(),
                action,
                source,
            }
        } else {
            RegistryError::Request {
                registry: self.registry.clone(),
                action,
                source,
            }
        }
    }

    /// Checks that the registry answers and authenticates for pushing to this repository.
    pub async fn authenticate_for_push(&self) -> Result<(), RegistryError> {
        let auth = self.client.auth_for(&self.registry).await?;
        self.client()
            .auth(
                &self.reference_for_tag("latest"),
                &auth,
                RegistryOperation::Push,
            )
            .await
            .map_err(|e| self.error(format!("authenticating to push to {}", self.path), e))?;
        Ok(())
    }

    /// Whether the repository has the blob.
    pub async fn blob_exists(&self, digest: &str) -> Result<bool, RegistryError> {
        self.client()
            .blob_exists(&self.reference_for_digest(digest), digest)
            .await
            .map_err(|e| self.error(format!("checking blob {digest} in {}", self.path), e))
    }

    /// Uploads a blob whose digest is computed on the way (chunked upload).
    pub async fn push_blob_stream(
        &self,
        stream: impl Stream<Item = Result<Bytes, OciDistributionError>> + Send + 'static,
    ) -> Result<(String, u64), RegistryError> {
        let response = self
            .client()
            .push_blob_stream_chunked(&self.reference_for_tag("latest"), stream)
            .await
            .map_err(|e| self.error(format!("uploading a layer to {}", self.path), e))?;
        Ok((response.blob_digest, response.size))
    }

    /// Uploads a small blob whose digest is known.
    pub async fn push_blob(&self, data: Bytes, digest: &str) -> Result<(), RegistryError> {
        self.client()
            .push_blob(&self.reference_for_digest(digest), data, digest)
            .await
            .map_err(|e| self.error(format!("uploading blob {digest} to {}", self.path), e))?;
        Ok(())
    }

    /// Stores manifest bytes under a tag or a digest (`sha256:…`).
    pub async fn push_manifest(
        &self,
        tag_or_digest: &str,
        body: Vec<u8>,
        media_type: &str,
    ) -> Result<(), RegistryError> {
        let reference = if tag_or_digest.starts_with("sha256:") {
            self.reference_for_digest(tag_or_digest)
        } else {
            self.reference_for_tag(tag_or_digest)
        };
        let content_type = media_type
            .parse()
            .expect("media types are valid header values");
        self.client()
            .push_manifest_raw(&reference, body, content_type)
            .await
            .map_err(|e| {
                self.error(format!("pushing manifest {}:{tag_or_digest}", self.path), e)
            })?;
        Ok(())
    }
}
