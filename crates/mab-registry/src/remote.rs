//! A registry repository reached through `oci-client`, with docker credentials.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::Stream;
use http::{Method, StatusCode};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use tokio::sync::Mutex;

use crate::RegistryError;

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

/// How long a registry request may move no bytes (no byte of its body taken, no byte of its
/// answer come) before it is given up as stalled, per registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StallLimits {
    /// For registries not listed in `per_registry`.
    pub default: std::time::Duration,
    /// By registry (`host[:port]`).
    pub per_registry: HashMap<String, std::time::Duration>,
}

impl Default for StallLimits {
    fn default() -> Self {
        Self {
            default: DEFAULT_STALL_LIMIT,
            per_registry: HashMap::new(),
        }
    }
}

impl StallLimits {
    /// The limit for `registry` (`host[:port]`).
    pub fn of(&self, registry: &str) -> std::time::Duration {
        self.per_registry
            .get(registry)
            .copied()
            .unwrap_or(self.default)
    }
}

/// The stall limit unless the plan or the command line says otherwise.
pub const DEFAULT_STALL_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// The longest `Retry-After` honoured; a registry asking for more is tried again after this.
const MAX_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(120);

/// Why a request was given up: it moved no bytes for `limit`.
#[derive(Debug)]
pub(crate) struct Stalled {
    pub(crate) limit: std::time::Duration,
}

impl std::fmt::Display for Stalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no bytes moved for {} s (the stall limit: --stall-limit, or `stall_limit` of the \
             registry in the plan)",
            self.limit.as_secs_f64()
        )
    }
}

impl std::error::Error for Stalled {}

/// The error of a request given up after `limit` without progress.
fn stalled(limit: std::time::Duration) -> OciDistributionError {
    OciDistributionError::IoError(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        Stalled { limit },
    ))
}

/// Whether an error is a request given up by its stall limit (and which limit).
pub(crate) fn stall_of(error: &OciDistributionError) -> Option<std::time::Duration> {
    match error {
        OciDistributionError::IoError(e) => e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<Stalled>())
            .map(|s| s.limit),
        _ => None,
    }
}

/// When a request last moved bytes, and whether it is waiting for its own body's source (not
/// the registry's fault; the source has limits of its own).
struct Activity {
    last: std::sync::Mutex<std::time::Instant>,
}

impl Activity {
    fn new() -> Self {
        Self {
            last: std::sync::Mutex::new(std::time::Instant::now()),
        }
    }

    fn touch(&self) {
        *self.last.lock().expect("activity lock") = std::time::Instant::now();
    }

    /// Ends once nothing moved for `limit`.
    async fn stalled(&self, limit: std::time::Duration) {
        loop {
            let due = *self.last.lock().expect("activity lock") + limit;
            if std::time::Instant::now() >= due {
                return;
            }
            tokio::time::sleep_until(due.into()).await;
        }
    }
}

/// Bounded retries with exponential backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// How many times a request is sent at most (1: no retry).
    pub attempts: u32,
    /// The wait before the first retry; it doubles each time.
    pub initial_backoff: std::time::Duration,
    /// The longest wait between two tries.
    pub max_backoff: std::time::Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            initial_backoff: std::time::Duration::from_millis(250),
            max_backoff: std::time::Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    /// Runs `request` until it succeeds, fails with an error `transient` does not accept, or
    /// the attempts are used up, waiting longer before each new try, and never trying again
    /// before `not_before` says (a registry's `Retry-After`).
    pub(crate) async fn retry_while_after<T, E, F, Fut>(
        &self,
        mut request: F,
        transient: impl Fn(&E) -> bool,
        not_before: impl Fn() -> Option<std::time::Instant>,
    ) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        let mut backoff = self.initial_backoff;
        let mut attempt = 1;
        loop {
            match request().await {
                Err(e) if attempt < self.attempts && transient(&e) => {
                    let mut due = std::time::Instant::now() + backoff;
                    if let Some(asked) = not_before() {
                        due = due.max(asked);
                    }
                    tokio::time::sleep_until(due.into()).await;
                    backoff = (backoff * 2).min(self.max_backoff);
                    attempt += 1;
                }
                outcome => return outcome,
            }
        }
    }
}

/// Whether a failure is worth another try: the registry is overloaded or briefly down, or the
/// connection broke; not when it refused what we sent.
pub(crate) fn is_transient(error: &OciDistributionError) -> bool {
    match error {
        // A manifest naming a blob the registry says it does not know, right after that blob
        // was stored: seen when two platforms commit the same layer at once (the registry's
        // view of the repository catches up a moment later). Trying again re-checks; a blob
        // really missing fails again, and the image's push then starts over, uploading it.
        OciDistributionError::ServerError { code, message, .. } => {
            *code >= 500
                || *code == 429
                || *code == 408
                || (*code == 400 && message.contains("MANIFEST_BLOB_UNKNOWN"))
        }
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
            matches!(
                e.code,
                oci_client::errors::OciErrorCode::Toomanyrequests
                    | oci_client::errors::OciErrorCode::ManifestBlobUnknown
            )
        }),
        OciDistributionError::RequestError(e) => match e.status() {
            Some(status) => status.is_server_error() || matches!(status.as_u16(), 408 | 429),
            None => e.is_connect() || e.is_timeout() || e.is_request() || e.is_body(),
        },
        OciDistributionError::IoError(_) => true,
        OciDistributionError::SpecViolationError(message) => {
            message.contains("got 5") || message.contains("got 429")
        }
        _ => false,
    }
}

/// A registry client shared by every push of a run (cheap to clone).
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<ClientInner>,
}

/// Credentials for one registry, from the docker config.
#[derive(Clone)]
enum Credential {
    /// Sent as they are: a user and password, or nothing.
    Plain(RegistryAuth),
    /// An identity token (`identitytoken`, as `az acr login` stores): an OAuth2 refresh token,
    /// traded at the registry's token service for an access token per repository, as the docker
    /// CLI does.
    Refresh(String),
}

/// An access token for one repository (`None`: the registry wants none), and until when to
/// use it.
#[derive(Clone)]
struct AccessToken {
    token: Option<String>,
    renew_after: std::time::Instant,
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
    retry: RetryPolicy,
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
                retry: options.retry,
                stall_limits: options.stall_limits.clone(),
                not_before: std::sync::Mutex::new(HashMap::new()),
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
    async fn credential_for(&self, registry: &str) -> Result<Credential, RegistryError> {
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
        let credential = match lookup {
            Ok(docker_credential::DockerCredential::UsernamePassword(user, password)) => {
                Credential::Plain(RegistryAuth::Basic(user, password))
            }
            Ok(docker_credential::DockerCredential::IdentityToken(token)) => {
                Credential::Refresh(token)
            }
            // No config file, no entry for this registry: anonymous, like the docker CLI.
            Err(_) => Credential::Plain(RegistryAuth::Anonymous),
        };
        cache.insert(registry.to_string(), credential.clone());
        Ok(credential)
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

    fn retry(&self) -> &RetryPolicy {
        &self.client.inner.retry
    }

    /// How long a request to this registry may move no bytes.
    pub(crate) fn stall_limit(&self) -> std::time::Duration {
        self.client.inner.stall_limits.of(&self.registry)
    }

    /// When this registry asked not to be tried again before (`Retry-After`), if it did.
    pub(crate) fn not_before(&self) -> Option<std::time::Instant> {
        let hints = self
            .client
            .inner
            .not_before
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        hints
            .get(&self.registry)
            .copied()
            .filter(|t| *t > std::time::Instant::now())
    }

    /// Remembers a registry's `Retry-After` (at most [`MAX_RETRY_AFTER`]).
    fn retry_after(&self, wait: std::time::Duration) {
        let until = std::time::Instant::now() + wait.min(MAX_RETRY_AFTER);
        let mut hints = self
            .client
            .inner
            .not_before
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let hint = hints.entry(self.registry.clone()).or_insert(until);
        *hint = (*hint).max(until);
    }

    /// A small request (no body to speak of, a short answer): given up when it has not ended
    /// within the stall limit.
    async fn within<T>(
        &self,
        request: impl std::future::Future<Output = Result<T, OciDistributionError>>,
    ) -> Result<T, OciDistributionError> {
        let limit = self.stall_limit();
        tokio::time::timeout(limit, request)
            .await
            .unwrap_or_else(|_| Err(stalled(limit)))
    }

    /// Runs a small request with the stall limit, tried again on passing failures (after the
    /// backoff, and not before the registry's `Retry-After`).
    async fn run<T, F, Fut>(&self, mut request: F) -> Result<T, OciDistributionError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, OciDistributionError>>,
    {
        self.retry()
            .retry_while_after(
                || self.within(request()),
                is_transient,
                || self.not_before(),
            )
            .await
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

    /// Checks that the registry answers and authenticates for pushing to this repository.
    pub async fn authenticate_for_push(&self) -> Result<(), RegistryError> {
        let auth = self.auth().await?;
        let reference = self.reference_for_tag("latest");
        self.run(|| {
            self.client()
                .auth(&reference, &auth, RegistryOperation::Push)
        })
        .await
        .map_err(|e| self.error(format!("authenticating to push to {}", self.path), e))?;
        // Basic credentials are only sent, never checked, by the step above: one authenticated
        // request tells a wrong password now rather than in the middle of the first upload.
        const ABSENT: &str =
            "sha256:0000000000000000000000000000000000000000000000000000000000000000";
        self.blob_exists(ABSENT).await?;
        Ok(())
    }

    /// Whether the repository has the blob.
    pub async fn blob_exists(&self, digest: &str) -> Result<bool, RegistryError> {
        let reference = self.reference_for_digest(digest);
        self.run(|| self.client().blob_exists(&reference, digest))
            .await
            .map_err(|e| self.error(format!("checking blob {digest} in {}", self.path), e))
    }

    /// Uploads a blob whose digest is computed on the way: one upload session, the whole blob in
    /// one streamed `PATCH` (chunked transfer encoding, as the docker CLI sends layers), then the
    /// digest in the closing `PUT`. One request per blob instead of one per few MiB: the
    /// registry writes while the bytes arrive, and no round trip waits between requests.
    ///
    /// The session's start and its commit are retried here; a failure while the bytes flow
    /// fails this upload (the caller may start a new one from the start of the blob). A
    /// `PATCH` that moves no bytes (none of the body taken, no answer) for the stall limit is
    /// given up. A commit whose answer was lost is found stored by `HEAD`.
    pub async fn push_blob_stream(
        &self,
        stream: impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    ) -> Result<(String, u64), RegistryError> {
        self.upload_stream(stream, || format!("uploading a layer to {}", self.path))
            .await
    }

    /// [`Self::push_blob_stream`], failing as `action` says.
    async fn upload_stream(
        &self,
        stream: impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
        action: impl Fn() -> String,
    ) -> Result<(String, u64), RegistryError> {
        use futures::TryStreamExt as _;
        use sha2::Digest as _;
        let fail = |e| self.error(action(), e);
        let authorization = self.push_authorization().await?;
        let start = self.blob_uploads_url().map_err(fail)?;
        let location = self
            .bodiless(Method::POST, &start, &authorization, StatusCode::ACCEPTED)
            .await
            .map_err(fail)?;

        let hashed = Arc::new(std::sync::Mutex::new((sha2::Sha256::new(), 0u64)));
        let hashing = hashed.clone();
        let activity = Arc::new(Activity::new());
        let moved = Arc::clone(&activity);
        let body = stream.inspect_ok(move |chunk| {
            moved.touch();
            let mut state = hashing.lock().expect("the hasher is never poisoned");
            state.0.update(chunk);
            state.1 += chunk.len() as u64;
        });
        let limit = self.stall_limit();
        let sending = async {
            let response = self
                .authorized(self.http().patch(location.clone()), &authorization)
                .header(http::header::CONTENT_TYPE, "application/octet-stream")
                .body(reqwest::Body::wrap_stream(body))
                .send()
                .await?;
            activity.touch();
            upload_location(&location, response, StatusCode::ACCEPTED, &|wait| {
                self.retry_after(wait)
            })
            .await
        };
        // Dropping `sending` drops the request; its body then fails with the upload attempt
        // (see `crate::spill`), so the connection ends too.
        let location = tokio::select! {
            sent = sending => sent.map_err(fail)?,
            () = activity.stalled(limit) => return Err(fail(stalled(limit))),
        };
        let (digest, size) = {
            let mut state = hashed.lock().expect("the hasher is never poisoned");
            let hasher = std::mem::take(&mut state.0);
            (
                format!("sha256:{}", hex::encode(hasher.finalize())),
                state.1,
            )
        };

        let mut commit = location;
        commit.query_pairs_mut().append_pair("digest", &digest);
        // Asked again: a long upload can outlive a short-lived token.
        let authorization = self.push_authorization().await?;
        self.commit(&commit, &authorization, &digest)
            .await
            .map_err(fail)?;
        Ok((digest, size))
    }

    /// The closing `PUT` of an upload, tried again on passing failures; when it fails, a `HEAD`
    /// tells whether the registry stored the blob all the same (the answer was lost on the
    /// way: trying the `PUT` again would find no upload session).
    async fn commit(
        &self,
        url: &reqwest::Url,
        authorization: &Option<http::HeaderValue>,
        digest: &str,
    ) -> Result<(), OciDistributionError> {
        let reference = self.reference_for_digest(digest);
        self.retry()
            .retry_while_after(
                || async {
                    let put = self
                        .within(self.bodiless_once(
                            Method::PUT,
                            url,
                            authorization,
                            StatusCode::CREATED,
                        ))
                        .await;
                    match put {
                        Ok(_) => Ok(()),
                        Err(e) => {
                            let stored = self
                                .within(self.client().blob_exists(&reference, digest))
                                .await;
                            match stored {
                                Ok(true) => Ok(()),
                                _ => Err(e),
                            }
                        }
                    }
                },
                is_transient,
                || self.not_before(),
            )
            .await
    }

    /// An upload request without a body (a session's start, its commit), retried on passing
    /// failures; the `Location` it answers.
    async fn bodiless(
        &self,
        method: Method,
        url: &reqwest::Url,
        authorization: &Option<http::HeaderValue>,
        expected: StatusCode,
    ) -> Result<reqwest::Url, OciDistributionError> {
        self.run(|| self.bodiless_once(method.clone(), url, authorization, expected))
            .await
    }

    /// One try of [`Self::bodiless`].
    async fn bodiless_once(
        &self,
        method: Method,
        url: &reqwest::Url,
        authorization: &Option<http::HeaderValue>,
        expected: StatusCode,
    ) -> Result<reqwest::Url, OciDistributionError> {
        let request = self.http().request(method, url.clone());
        let response = self
            .authorized(request, authorization)
            .header(http::header::CONTENT_LENGTH, 0)
            .send()
            .await?;
        upload_location(url, response, expected, &|wait| self.retry_after(wait)).await
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

    /// `…/v2/<path>/blobs/uploads/` of this repository.
    fn blob_uploads_url(&self) -> Result<reqwest::Url, OciDistributionError> {
        let url = format!(
            "{}/v2/{}/blobs/uploads/",
            self.registry_url(),
            self.reference_for_tag("latest").repository()
        );
        reqwest::Url::parse(&url).map_err(|e| OciDistributionError::UrlParseError(e.to_string()))
    }

    /// The `Authorization` header for pushing to this repository: the bearer token oci-client
    /// got from the registry's token service, or basic credentials; `None` when anonymous.
    async fn push_authorization(&self) -> Result<Option<http::HeaderValue>, RegistryError> {
        let auth = self.auth().await?;
        let reference = self.reference_for_tag("latest");
        let token = self
            .run(|| {
                self.client()
                    .auth(&reference, &auth, RegistryOperation::Push)
            })
            .await
            .map_err(|e| self.error(format!("authenticating to push to {}", self.path), e))?;
        let value = match (token, &auth) {
            (Some(token), _) => format!("Bearer {token}"),
            (None, RegistryAuth::Bearer(token)) => format!("Bearer {token}"),
            (None, RegistryAuth::Basic(user, password)) => {
                use base64::Engine as _;
                let pair = format!("{user}:{password}");
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                )
            }
            (None, _) => return Ok(None),
        };
        let mut value =
            http::HeaderValue::from_str(&value).map_err(|_| RegistryError::Credentials {
                registry: self.registry.clone(),
                message: "the credentials are not a valid HTTP header value".to_string(),
            })?;
        value.set_sensitive(true);
        Ok(Some(value))
    }

    fn authorized(
        &self,
        request: reqwest::RequestBuilder,
        authorization: &Option<http::HeaderValue>,
    ) -> reqwest::RequestBuilder {
        match authorization {
            Some(value) => request.header(http::header::AUTHORIZATION, value.clone()),
            None => request,
        }
    }

    /// Uploads a small blob whose digest is known.
    pub async fn push_blob(&self, data: Bytes, digest: &str) -> Result<(), RegistryError> {
        let reference = self.reference_for_digest(digest);
        self.run(|| self.client().push_blob(&reference, data.clone(), digest))
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
        let content_type: http::HeaderValue = media_type
            .parse()
            .expect("media types are valid header values");
        let body = Bytes::from(body);
        self.run(|| {
            self.client()
                .push_manifest_raw(&reference, body.clone(), content_type.clone())
        })
        .await
        .map_err(|e| self.error(format!("pushing manifest {}:{tag_or_digest}", self.path), e))?;
        Ok(())
    }
}

/// A `WWW-Authenticate: Bearer realm="…",service="…"` challenge.
struct BearerChallenge {
    realm: String,
    service: Option<String>,
}

fn bearer_challenge(header: &str) -> Option<BearerChallenge> {
    let (scheme, params) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut realm = None;
    let mut service = None;
    let mut rest = params.trim();
    while !rest.is_empty() {
        let (name, after) = rest.split_once('=')?;
        let (value, after) = match after.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted.find('"')?;
                (&quoted[..end], &quoted[end + 1..])
            }
            None => after.split_once(',').unwrap_or((after, "")),
        };
        match name.trim().to_ascii_lowercase().as_str() {
            "realm" => realm = Some(value.to_string()),
            "service" => service = Some(value.to_string()),
            _ => {}
        }
        rest = after.trim_start_matches([',', ' ']);
    }
    Some(BearerChallenge {
        realm: realm?,
        service,
    })
}

/// The `Location` of an upload session from a response that must have `expected` status (a
/// relative location is resolved against `url`, the request's).
async fn upload_location(
    url: &reqwest::Url,
    response: reqwest::Response,
    expected: http::StatusCode,
    retry_after: &(dyn Fn(std::time::Duration) + Sync),
) -> Result<reqwest::Url, OciDistributionError> {
    let status = response.status();
    if matches!(status.as_u16(), 429 | 503)
        && let Some(wait) = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after)
    {
        retry_after(wait);
    }
    if status != expected {
        let message = response.text().await.unwrap_or_default();
        return Err(match status.as_u16() {
            401 => OciDistributionError::UnauthorizedError {
                url: url.to_string(),
            },
            code => OciDistributionError::ServerError {
                code,
                url: url.to_string(),
                message: message.chars().take(512).collect(),
            },
        });
    }
    let Some(location) = response.headers().get(http::header::LOCATION) else {
        return Ok(url.clone());
    };
    let location = location.to_str().map_err(|_| {
        OciDistributionError::SpecViolationError("the Location header is not text".to_string())
    })?;
    url.join(location).map_err(|e| {
        OciDistributionError::SpecViolationError(format!("Location {location:?}: {e}"))
    })
}

/// A `Retry-After` value: seconds, or an HTTP date (taken as the time until then).
fn parse_retry_after(value: &str) -> Option<std::time::Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(std::time::Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

/// The largest manifest mab accepts (the OCI distribution spec's recommended limit).
const MAX_MANIFEST_SIZE: usize = 4 * 1024 * 1024;

/// The manifest media types mab reads from registries.
const READABLE_MANIFEST_TYPES: &[&str] = &[
    crate::manifest::media_types::DOCKER_MANIFEST,
    crate::manifest::media_types::DOCKER_LIST,
    crate::manifest::media_types::OCI_MANIFEST,
    crate::manifest::media_types::OCI_INDEX,
];

/// Whether a registry answer means "there is no such manifest (or repository)".
fn is_not_found(error: &OciDistributionError) -> bool {
    use oci_client::errors::OciErrorCode;
    match error {
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
            matches!(
                e.code,
                OciErrorCode::ManifestUnknown
                    | OciErrorCode::NameUnknown
                    | OciErrorCode::NotFound
                    | OciErrorCode::BlobUnknown
            )
        }),
        OciDistributionError::ServerError { code, .. } => *code == 404,
        _ => false,
    }
}

/// Passes a byte stream through, and ends it with an error if its sha256 is not `expected`.
fn verify_stream(
    stream: impl Stream<Item = Result<Bytes, std::io::Error>> + Send + Unpin + 'static,
    expected: String,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    use futures::StreamExt;
    use sha2::Digest;
    let start = Some((stream, sha2::Sha256::new(), expected));
    futures::stream::unfold(start, |state| async move {
        let (mut stream, mut hasher, expected) = state?;
        match stream.next().await {
            Some(Ok(bytes)) => {
                hasher.update(&bytes);
                Some((Ok(bytes), Some((stream, hasher, expected))))
            }
            Some(Err(e)) => Some((Err(e), None)),
            None => {
                let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
                (actual != expected).then(|| {
                    let message = format!("the blob has digest {actual}, expected {expected}");
                    (Err(std::io::Error::other(message)), None)
                })
            }
        }
    })
}

/// Reading, mounting and copying, for `mab manifest`.
impl RemoteRepository {
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

    /// Makes the credentials for this repository known to the client (pulls do not take them).
    async fn ensure_auth(&self) -> Result<RegistryAuth, RegistryError> {
        let auth = self.auth().await?;
        let reference = self.reference_for_tag("latest");
        self.client()
            .store_auth_if_needed(reference.resolve_registry(), &auth)
            .await;
        Ok(auth)
    }

    /// The credentials for this repository: the docker config's as they are, or an access token
    /// for this repository traded for its identity token. oci-client keeps one token per
    /// repository and operation; an access token is handed to it for both operations each
    /// time, so it never uses another repository's.
    async fn auth(&self) -> Result<RegistryAuth, RegistryError> {
        let refresh = match self.client.credential_for(&self.registry).await? {
            Credential::Plain(auth) => return Ok(auth),
            Credential::Refresh(refresh) => refresh,
        };
        let key = (self.registry.clone(), self.path.clone());
        let cached = self.client.inner.access.lock().await.get(&key).cloned();
        let token = match cached {
            Some(access) if std::time::Instant::now() < access.renew_after => access.token,
            _ => {
                let access = self.trade_identity_token(&refresh).await?;
                let token = access.token.clone();
                self.client.inner.access.lock().await.insert(key, access);
                token
            }
        };
        let Some(token) = token else {
            return Ok(RegistryAuth::Anonymous);
        };
        let auth = RegistryAuth::Bearer(token);
        let reference = self.reference_for_tag("latest");
        for operation in [RegistryOperation::Pull, RegistryOperation::Push] {
            let _ = self
                .within(self.client().auth(&reference, &auth, operation))
                .await;
        }
        Ok(auth)
    }

    /// Trades an identity token for an access token to pull and push this repository: the
    /// registry's `WWW-Authenticate` challenge names the token service, which is sent an OAuth2
    /// refresh-token grant (what the docker CLI does with an `identitytoken`).
    async fn trade_identity_token(&self, refresh: &str) -> Result<AccessToken, RegistryError> {
        let failed = |message: String| RegistryError::Authentication {
            registry: self.registry.clone(),
            action: format!(
                "trading the identity token of the docker config for access to {}",
                self.path
            ),
            source: OciDistributionError::AuthenticationFailure(message),
        };
        let probe = format!("{}/v2/", self.registry_url());
        let response = self
            .within(async { Ok(self.http().get(&probe).send().await?) })
            .await
            .map_err(|e| self.error(format!("reaching {probe}"), e))?;
        if response.status().is_success() {
            // The registry lets anyone in: nothing to trade.
            return Ok(AccessToken {
                token: None,
                renew_after: std::time::Instant::now() + std::time::Duration::from_secs(3600),
            });
        }
        let challenge = response
            .headers()
            .get(http::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_challenge)
            .ok_or_else(|| {
                failed(format!(
                    "{probe} answered {} without a Bearer challenge naming a token service",
                    response.status()
                ))
            })?;
        let form = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "refresh_token")
                .append_pair("client_id", "mab")
                .append_pair("scope", &format!("repository:{}:pull,push", self.path))
                .append_pair("refresh_token", refresh);
            if let Some(service) = &challenge.service {
                form.append_pair("service", service);
            }
            form.finish()
        };
        let response = self
            .within(async {
                Ok(self
                    .http()
                    .post(&challenge.realm)
                    .header(
                        http::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(form)
                    .send()
                    .await?)
            })
            .await
            .map_err(|e| self.error(format!("reaching {}", challenge.realm), e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(failed(format!(
                "the token service {} answered {status}",
                challenge.realm
            )));
        }
        #[derive(serde::Deserialize)]
        struct Answer {
            access_token: Option<String>,
            token: Option<String>,
            expires_in: Option<u64>,
        }
        let answer: Answer = self
            .within(async { Ok(response.json::<Answer>().await?) })
            .await
            .map_err(|e| {
                failed(format!(
                    "the answer of the token service {} does not parse: {e}",
                    challenge.realm
                ))
            })?;
        let token = answer.access_token.or(answer.token).ok_or_else(|| {
            failed(format!(
                "the token service {} sent no access token",
                challenge.realm
            ))
        })?;
        // Renewed a little before it runs out (the spec's default life is 60 s).
        let life = answer.expires_in.unwrap_or(60).max(10);
        Ok(AccessToken {
            token: Some(token),
            renew_after: std::time::Instant::now() + std::time::Duration::from_secs(life - 5),
        })
    }

    /// The digest a tag names now, by HEAD (which Docker Hub does not count as a pull).
    pub(crate) async fn manifest_digest(&self, tag: &str) -> Result<String, RegistryError> {
        let auth = self.ensure_auth().await?;
        let reference = self.reference_for(tag);
        self.run(|| self.client().fetch_manifest_digest(&reference, &auth))
            .await
            .map_err(|e| match e {
                e if is_not_found(&e) => RegistryError::ManifestNotFound {
                    reference: self.describe(tag),
                    registry: self.registry.clone(),
                },
                e => self.error(format!("reading the digest of {}", self.describe(tag)), e),
            })
    }

    /// Reads a manifest or index exactly as stored, by tag or digest. Returns the bytes and their
    /// digest, checked against the digest asked for and the one the registry announced.
    pub async fn pull_manifest_raw(
        &self,
        tag_or_digest: &str,
    ) -> Result<(Bytes, String), RegistryError> {
        let auth = self.ensure_auth().await?;
        let described = self.describe(tag_or_digest);
        let reference = self.reference_for(tag_or_digest);
        let (bytes, announced) = match self
            .run(|| {
                self.client()
                    .pull_manifest_raw(&reference, &auth, READABLE_MANIFEST_TYPES)
            })
            .await
        {
            Ok(answer) => answer,
            Err(e) if is_not_found(&e) => {
                return Err(RegistryError::ManifestNotFound {
                    reference: described,
                    registry: self.registry.clone(),
                });
            }
            Err(OciDistributionError::DigestError(
                oci_client::errors::DigestError::VerificationError { expected, actual },
            )) => {
                return Err(RegistryError::DigestMismatch {
                    registry: self.registry.clone(),
                    what: format!("manifest {described}"),
                    expected,
                    actual,
                });
            }
            Err(e) => return Err(self.error(format!("reading manifest {described}"), e)),
        };
        if bytes.len() > MAX_MANIFEST_SIZE {
            return Err(RegistryError::MalformedManifest {
                reference: described,
                message: format!(
                    "it is {} bytes, more than the {} bytes a manifest may have",
                    bytes.len(),
                    MAX_MANIFEST_SIZE
                ),
            });
        }
        let actual = crate::manifest::sha256_digest(&bytes);
        let expected = [Some(announced.as_str()), reference.digest()];
        for expected in expected.into_iter().flatten() {
            if expected.starts_with("sha256:") && expected != actual {
                return Err(RegistryError::DigestMismatch {
                    registry: self.registry.clone(),
                    what: format!("manifest {described}"),
                    expected: expected.to_string(),
                    actual,
                });
            }
        }
        Ok((bytes, actual))
    }

    /// Reads a small blob (an image config) whole, refusing more than `max_size` bytes; checks
    /// its digest.
    pub async fn pull_small_blob(
        &self,
        digest: &str,
        max_size: u64,
    ) -> Result<Bytes, RegistryError> {
        use futures::StreamExt;
        self.ensure_auth().await?;
        let described = format!("blob {digest} in {}", self.name());
        let mut stream = match self
            .within(
                self.client()
                    .pull_blob_stream(&self.reference_for_digest(digest), digest),
            )
            .await
        {
            Ok(stream) => stream,
            Err(e) if is_not_found(&e) => {
                return Err(RegistryError::BlobNotFound {
                    digest: digest.to_string(),
                    repository: self.name(),
                    registry: self.registry.clone(),
                });
            }
            Err(e) => return Err(self.error(format!("reading {described}"), e)),
        };
        let mut body = bytes::BytesMut::new();
        let limit = self.stall_limit();
        loop {
            let chunk = match tokio::time::timeout(limit, stream.next()).await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(_) => return Err(self.error(format!("reading {described}"), stalled(limit))),
            };
            let chunk = chunk.map_err(|e| self.error(format!("reading {described}"), e.into()))?;
            if (body.len() + chunk.len()) as u64 > max_size {
                return Err(RegistryError::MalformedManifest {
                    reference: described,
                    message: format!("it is larger than {max_size} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        let actual = crate::manifest::sha256_digest(&body);
        if actual != digest {
            return Err(RegistryError::DigestMismatch {
                registry: self.registry.clone(),
                what: described,
                expected: digest.to_string(),
                actual,
            });
        }
        Ok(body.freeze())
    }

    /// Asks the registry to mount a blob of `source` (same registry) into this repository.
    /// `false` when it did not: a 202 answer (it opened an upload instead), or any refusal; the
    /// caller then copies the blob.
    pub async fn mount_blob_from(
        &self,
        source: &RemoteRepository,
        digest: &str,
    ) -> Result<bool, RegistryError> {
        self.ensure_auth().await?;
        let mounted = self
            .within(self.client().mount_blob(
                &self.reference_for_digest(digest),
                &source.reference_for_digest(digest),
                digest,
            ))
            .await
            .is_ok();
        Ok(mounted && self.blob_exists(digest).await?)
    }

    /// Copies a blob from `source` into this repository as a stream (never whole in memory),
    /// checking its digest on the way.
    pub async fn copy_blob_from(
        &self,
        source: &RemoteRepository,
        digest: &str,
        size: u64,
    ) -> Result<(), RegistryError> {
        source.ensure_auth().await?;
        let described = format!("blob {digest} of {}", source.name());
        let stream = match source
            .within(
                source
                    .client()
                    .pull_blob_stream(&source.reference_for_digest(digest), digest),
            )
            .await
        {
            Ok(stream) => stream,
            Err(e) if is_not_found(&e) => {
                return Err(RegistryError::BlobNotFound {
                    digest: digest.to_string(),
                    repository: source.name(),
                    registry: source.registry.clone(),
                });
            }
            Err(e) => return Err(source.error(format!("reading {described}"), e)),
        };
        let body = verify_stream(stream, digest.to_string());
        let (stored, stored_size) = self
            .upload_stream(body, || format!("copying {described} to {}", self.path))
            .await?;
        if stored != digest || stored_size != size {
            return Err(RegistryError::DigestMismatch {
                registry: source.registry.clone(),
                what: described,
                expected: format!("{digest} ({size} bytes)"),
                actual: format!("{stored} ({stored_size} bytes)"),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_as_seconds_or_a_date() {
        assert_eq!(
            parse_retry_after("7"),
            Some(std::time::Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(std::time::Duration::ZERO),
            "a date in the past: now"
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn a_manifest_naming_an_unknown_blob_is_tried_again_other_refusals_are_not() {
        let answer = |code: u16, message: &str| OciDistributionError::ServerError {
            code,
            url: "http://127.0.0.1:5000/v2/r/manifests/sha256:00".into(),
            message: message.into(),
        };
        assert!(is_transient(&answer(
            400,
            r#"{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry"}]}"#
        )));
        assert!(!is_transient(&answer(
            400,
            r#"{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid"}]}"#
        )));
        assert!(!is_transient(&answer(401, "unauthorized")));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_that_moves_nothing_is_given_up_at_the_stall_limit() {
        let activity = Activity::new();
        let started = tokio::time::Instant::now();
        activity.stalled(std::time::Duration::from_secs(5)).await;
        assert_eq!(started.elapsed().as_secs(), 5);
        let error = stalled(std::time::Duration::from_secs(5));
        assert!(is_transient(&error));
        assert_eq!(stall_of(&error), Some(std::time::Duration::from_secs(5)));
    }

    #[test]
    fn bearer_challenges_name_the_token_service() {
        let c = bearer_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull""#,
        )
        .unwrap();
        assert_eq!(c.realm, "https://auth.example/token");
        assert_eq!(c.service.as_deref(), Some("registry.example"));
        let c = bearer_challenge(r#"bearer service="s", realm="http://127.0.0.1:1/t""#).unwrap();
        assert_eq!(
            (c.realm.as_str(), c.service.as_deref()),
            ("http://127.0.0.1:1/t", Some("s"))
        );
        assert!(bearer_challenge(r#"Basic realm="registry""#).is_none());
        assert!(bearer_challenge(r#"Bearer service="no realm""#).is_none());
        assert!(bearer_challenge(r#"Bearer realm="unterminated"#).is_none());
    }
}
