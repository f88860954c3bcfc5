//! Requests tried again: bounded retries with backoff, which failures are passing ones, and a
//! registry's `Retry-After`.

use oci_client::errors::OciDistributionError;

use super::RemoteRepository;

/// The longest `Retry-After` honoured; a registry asking for more is tried again after this.
const MAX_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(120);

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

impl RemoteRepository {
    fn retry(&self) -> &RetryPolicy {
        &self.client.retry
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
    pub(super) fn retry_after(&self, wait: std::time::Duration) {
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

    /// Runs a small request with the stall limit, tried again on passing failures (after the
    /// backoff, and not before the registry's `Retry-After`).
    pub(super) async fn run<T, F, Fut>(&self, mut request: F) -> Result<T, OciDistributionError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, OciDistributionError>>,
    {
        self.retrying(|| self.within(request())).await
    }

    /// Runs `request` (which sets its own limits), tried again on passing failures (after the
    /// backoff, and not before the registry's `Retry-After`).
    pub(super) async fn retrying<T, F, Fut>(&self, request: F) -> Result<T, OciDistributionError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, OciDistributionError>>,
    {
        self.retry()
            .retry_while_after(request, is_transient, || self.not_before())
            .await
    }
}

/// A `Retry-After` value: seconds, or an HTTP date (taken as the time until then).
pub(super) fn parse_retry_after(value: &str) -> Option<std::time::Duration> {
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
}
