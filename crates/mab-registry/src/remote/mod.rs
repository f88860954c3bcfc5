//! A registry repository reached through `oci-client`, with docker credentials: the client and
//! the repository handle here; stall limits (`stall.rs`), retries (`retry.rs`), credentials and
//! tokens (`auth.rs`), the upload protocol and other writes (`upload.rs`) and reads (`read.rs`)
//! each in a file of its own.

mod auth;
mod read;
mod retry;
mod stall;
mod upload;

pub use retry::RetryPolicy;
pub(crate) use retry::is_transient;
pub use stall::{DEFAULT_STALL_LIMIT, StallLimits};

use std::collections::HashMap;
use std::sync::Arc;

use oci_client::errors::OciDistributionError;
use oci_client::{Client, Reference};
use tokio::sync::Mutex;

use crate::RegistryError;
use auth::{AccessToken, Credential};
use stall::stall_of;

/// How to reach registries.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Registries (`host[:port]`) spoken to over plain HTTP. Every other registry uses TLS,
    /// verified against the system's roots plus `extra_ca_certificates`.
    pub insecure_registries: Vec<String>,
    /// PEM certificates of extra certificate authorities to trust (a private registry's CA).
    pub extra_ca_certificates: Vec<Vec<u8>>,
    /// How requests that failed for a passing reason (5xx, 429, a dropped connection) are tried
    /// again.
    pub retry: RetryPolicy,
    /// How long a request may move no bytes before it is given up (and retried).
    pub stall_limits: StallLimits,
}

/// A registry client shared by every push of a run (cheap to clone).
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<ClientInner>,
    retry: RetryPolicy,
}

struct ClientInner {
    client: Client,
    /// Access tokens traded for identity tokens, by (registry, repository).
    access: Mutex<HashMap<(String, String), AccessToken>>,
    /// Plain HTTP for the requests oci-client has no API for (a blob upload streamed in one
    /// request); configured like `client` (same roots, same insecure registries).
    http: reqwest::Client,
    insecure_registries: Vec<String>,
    /// Credentials per registry, looked up once.
    auth: Mutex<HashMap<String, Credential>>,
    stall_limits: StallLimits,
    /// Per registry, the time before which it asked not to be tried again (`Retry-After`).
    not_before: std::sync::Mutex<HashMap<String, std::time::Instant>>,
}

impl RegistryClient {
    /// A client for all the registries of a run.
    pub fn new(options: &RegistryOptions) -> Self {
        // reqwest is built without a crypto provider of its own (its `rustls` feature would
        // bring aws-lc-rs, a long C build) and panics when building a client unless one is
        // installed as the process default. Every reqwest client of mab is built here (oci-client's
        // and `http` below), so this is the one place that installs ring, the provider
        // mab-build's daemon TLS uses too. An error means a default is already installed (an
        // earlier client, or an embedding program's choice): it is kept.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = oci_client::client::ClientConfig {
            protocol: oci_client::client::ClientProtocol::HttpsExcept(
                options.insecure_registries.clone(),
            ),
            extra_root_certificates: options
                .extra_ca_certificates
                .iter()
                .map(|pem| oci_client::client::Certificate {
                    encoding: oci_client::client::CertificateEncoding::Pem,
                    data: pem.clone(),
                })
                .collect(),
            ..Default::default()
        };
        let http = reqwest::Client::builder()
            .tls_certs_merge(
                options
                    .extra_ca_certificates
                    .iter()
                    .filter_map(|pem| reqwest::Certificate::from_pem(pem).ok()),
            )
            .user_agent(concat!("mab/", env!("CARGO_PKG_VERSION")))
            .build()
            // As oci-client does with a configuration it cannot build: the defaults (a bad CA
            // then shows as a certificate error naming the registry).
            .unwrap_or_default();
        Self {
            inner: Arc::new(ClientInner {
                client: Client::new(config),
                access: Mutex::new(HashMap::new()),
                http,
                insecure_registries: options.insecure_registries.clone(),
                auth: Mutex::new(HashMap::new()),
                stall_limits: options.stall_limits.clone(),
                not_before: std::sync::Mutex::new(HashMap::new()),
            }),
            retry: options.retry,
        }
    }

    /// This client (its connections, trusted roots, credentials and tokens) with another retry
    /// policy. Each client built by [`RegistryClient::new`] loads the system's root
    /// certificates for its TLS clients (tens of milliseconds of CPU) and opens its own
    /// connections, so the clients of one run are derived from one.
    pub fn with_retry(&self, retry: RetryPolicy) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            retry,
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

    /// Another repository of the same registry, through the same client.
    pub(crate) fn sibling(&self, path: &str) -> RemoteRepository {
        self.client.repository(&self.registry, path)
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
        if let Some(limit) = stall_of(&source) {
            return RegistryError::Stalled {
                registry: self.registry.clone(),
                action,
                limit_seconds: limit.as_secs_f64(),
            };
        }
        let auth_failed = match &source {
            OciDistributionError::AuthenticationFailure(_)
            | OciDistributionError::UnauthorizedError { .. } => true,
            OciDistributionError::ServerError { code, .. } => matches!(code, 401 | 403),
            OciDistributionError::RegistryError { envelope, .. } => {
                envelope.errors.iter().any(|e| {
                    matches!(
                        e.code,
                        oci_client::errors::OciErrorCode::Unauthorized
                            | oci_client::errors::OciErrorCode::Denied
                    )
                })
            }
            OciDistributionError::RequestError(e) => {
                e.status().is_some_and(|s| matches!(s.as_u16(), 401 | 403))
            }
            _ => false,
        };
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

    /// `scheme://host` of the registry: `http` for the plan's insecure registries, else
    /// `https`; the host as requests go to it (`registry-1.docker.io` for Docker Hub).
    fn registry_url(&self) -> String {
        let reference = self.reference_for_tag("latest");
        let host = reference.resolve_registry();
        let insecure = &self.client.inner.insecure_registries;
        let scheme = if insecure.iter().any(|r| r == host || r == &self.registry) {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{host}")
    }

    fn http(&self) -> &reqwest::Client {
        &self.client.inner.http
    }

    /// `registry/path:tag` or `registry/path@digest`, for messages.
    pub fn describe(&self, tag_or_digest: &str) -> String {
        if tag_or_digest.contains(':') {
            format!("{}@{tag_or_digest}", self.name())
        } else {
            format!("{}:{tag_or_digest}", self.name())
        }
    }

    /// The repository path inside the registry (`team/app`).
    pub fn path(&self) -> &str {
        &self.path
    }

    fn reference_for(&self, tag_or_digest: &str) -> Reference {
        if tag_or_digest.contains(':') {
            self.reference_for_digest(tag_or_digest)
        } else {
            self.reference_for_tag(tag_or_digest)
        }
    }
}
