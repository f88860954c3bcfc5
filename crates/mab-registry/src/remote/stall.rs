//! Stall limits: a registry request is given up when it moves no bytes for the registry's limit.

use std::collections::HashMap;

use oci_client::errors::OciDistributionError;

use super::RemoteRepository;

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
pub(super) fn stalled(limit: std::time::Duration) -> OciDistributionError {
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
pub(super) struct Activity {
    last: std::sync::Mutex<std::time::Instant>,
}

impl Activity {
    pub(super) fn new() -> Self {
        Self {
            last: std::sync::Mutex::new(std::time::Instant::now()),
        }
    }

    pub(super) fn touch(&self) {
        *self.last.lock().expect("activity lock") = std::time::Instant::now();
    }

    /// Ends once nothing moved for `limit`.
    pub(super) async fn stalled(&self, limit: std::time::Duration) {
        loop {
            let due = *self.last.lock().expect("activity lock") + limit;
            if std::time::Instant::now() >= due {
                return;
            }
            tokio::time::sleep_until(due.into()).await;
        }
    }
}

impl RemoteRepository {
    /// How long a request to this registry may move no bytes.
    pub fn stall_limit(&self) -> std::time::Duration {
        self.client.inner.stall_limits.of(&self.registry)
    }

    /// A small request (no body to speak of, a short answer): given up when it has not ended
    /// within the stall limit.
    pub(super) async fn within<T>(
        &self,
        request: impl std::future::Future<Output = Result<T, OciDistributionError>>,
    ) -> Result<T, OciDistributionError> {
        let limit = self.stall_limit();
        tokio::time::timeout(limit, request)
            .await
            .unwrap_or_else(|_| Err(stalled(limit)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::is_transient;

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
}
