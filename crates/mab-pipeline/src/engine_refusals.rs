//! Where an engine's push failed: (daemon, registry) pairs remembered for the run and, given a
//! folder, for a day. A daemon that cannot reach a registry as mab does (a daemon in a VM and a
//! registry on the host's localhost, a plain-HTTP registry the daemon is not told is insecure)
//! fails each engine push only after its own retries (seconds) and then builds again for mab's
//! pusher: remembered, that costs one warning, not one per platform per run. After a day the
//! engine is asked again (the daemon's settings may have changed); `--no-engine-push` never asks.
//!
//! One empty file per pair, named by the digest of the pair, its time of writing the time it
//! was refused: nothing of the registry's or daemon's names is written.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use mab_build::BuildRequest;
use mab_vocab::sha256_hex;

/// How long a refusal remembered on disk stands.
const REMEMBERED_FOR: Duration = Duration::from_secs(24 * 60 * 60);

/// The (daemon, registry) pairs whose engine push failed (cheap to clone; clones share them).
#[derive(Debug, Clone, Default)]
pub struct EnginePushRefusals {
    /// Where refusals outlive the run; `None`: only for the run.
    root: Option<PathBuf>,
    seen: Arc<Mutex<HashSet<String>>>,
}

impl EnginePushRefusals {
    /// Refusals remembered in `root` (created on first write) as well as for the run.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: Some(root.into()),
            seen: Default::default(),
        }
    }

    /// Whether the engine of `daemon` (its endpoint and version) failed to push to any
    /// registry of `repositories` (`registry/path`) in this run or the last day.
    pub(crate) fn refused(&self, daemon: &str, repositories: &[String]) -> bool {
        repositories.iter().any(|repository| {
            let key = key(daemon, repository);
            if self.seen().contains(&key) {
                return true;
            }
            let Some(path) = self.path(&key) else {
                return false;
            };
            let fresh = std::fs::metadata(path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|at| SystemTime::now().duration_since(at).ok())
                .is_some_and(|age| age < REMEMBERED_FOR);
            if fresh {
                self.seen().insert(key);
            }
            fresh
        })
    }

    /// `request` without its engine push when the engine of `daemon` failed to push to one of
    /// its registries before; `None` when it goes as it is.
    pub(crate) fn without_refused_push(
        &self,
        daemon: &str,
        request: &BuildRequest,
    ) -> Option<BuildRequest> {
        let push = request.engine_push.as_ref()?;
        self.refused(daemon, &push.repositories)
            .then(|| BuildRequest {
                engine_push: None,
                ..request.clone()
            })
    }

    /// Remembers that the engine of `daemon` failed to push to `repositories`. Failing to
    /// write is not an error: the next run asks the engine again.
    pub(crate) fn remember(&self, daemon: &str, repositories: &[String]) {
        for repository in repositories {
            let key = key(daemon, repository);
            if let Some(path) = self.path(&key) {
                let _ = path
                    .parent()
                    .map(std::fs::create_dir_all)
                    .transpose()
                    .and_then(|_| std::fs::File::create(&path));
            }
            self.seen().insert(key);
        }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn path(&self, key: &str) -> Option<PathBuf> {
        Some(self.root.as_ref()?.join(sha256_hex(key)?))
    }
}

/// The pair's key: `sha256:HEX` of the daemon and the repository's registry.
fn key(daemon: &str, repository: &str) -> String {
    let registry = repository.split('/').next().unwrap_or(repository);
    use sha2::Digest as _;
    let text = format!("{}\n{daemon}\n{}\n{registry}", daemon.len(), registry.len());
    format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(text.as_bytes()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAEMON: &str = "unix:///var/run/docker.sock 28.5.2";

    #[test]
    fn a_refusal_stands_for_the_registry_on_that_daemon_in_the_run_and_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let refusals = EnginePushRefusals::new(dir.path().join("refused"));
        let here = ["127.0.0.1:5000/app".to_string()];
        assert!(!refusals.refused(DAEMON, &here));
        refusals.remember(DAEMON, &here);
        assert!(refusals.refused(DAEMON, &here));
        // Another repository of the same registry, among others.
        let same_registry = [
            "r.example/x".to_string(),
            "127.0.0.1:5000/other".to_string(),
        ];
        assert!(refusals.refused(DAEMON, &same_registry));
        assert!(!refusals.refused(DAEMON, &["r.example/x".to_string()]));
        assert!(!refusals.refused("ssh://builder 28.5.2", &here));
        // The next run (a new value over the same folder) knows it too.
        let next_run = EnginePushRefusals::new(dir.path().join("refused"));
        assert!(next_run.refused(DAEMON, &here));
        // Only digests are written.
        for entry in std::fs::read_dir(dir.path().join("refused")).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            assert!(name.len() == 64 && !name.contains("127"), "{name}");
        }
    }

    #[test]
    fn an_old_refusal_is_forgotten_and_one_without_a_folder_lasts_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let refusals = EnginePushRefusals::new(dir.path());
        let here = ["127.0.0.1:5000/app".to_string()];
        refusals.remember(DAEMON, &here);
        let entry = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let old = SystemTime::now() - REMEMBERED_FOR - Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(&entry)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert!(!EnginePushRefusals::new(dir.path()).refused(DAEMON, &here));

        let in_memory = EnginePushRefusals::default();
        in_memory.remember(DAEMON, &here);
        assert!(in_memory.refused(DAEMON, &here));
        assert!(!EnginePushRefusals::default().refused(DAEMON, &here));
    }
}
