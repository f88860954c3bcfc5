//! The digest of each build context folder ([`mab_build::context_digest`]: every file's bytes
//! and mode), read once per run however many platforms and images build from it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

/// The context digests of one run.
#[derive(Default)]
pub(crate) struct ContextDigests {
    known: Mutex<HashMap<PathBuf, Arc<OnceCell<Option<String>>>>>,
}

impl ContextDigests {
    /// `sha256:…` of the context folder `dir`; `None` when it cannot be read (the build that
    /// reads it says why).
    pub(crate) async fn digest(&self, dir: &Path) -> Option<String> {
        let cell = Arc::clone(
            self.known
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .entry(dir.to_path_buf())
                .or_default(),
        );
        cell.get_or_init(|| {
            let dir = dir.to_path_buf();
            async move {
                tokio::task::spawn_blocking(move || mab_build::context_digest(&dir))
                    .await
                    .ok()?
                    .ok()
            }
        })
        .await
        .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_folder_is_read_once_and_its_changes_after_that_are_not_seen() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), "one").unwrap();
        let digests = ContextDigests::default();
        let first = digests.digest(dir.path()).await.expect("a digest");
        std::fs::write(dir.path().join("a"), "two").unwrap();
        assert_eq!(digests.digest(dir.path()).await.as_ref(), Some(&first));
        let fresh = ContextDigests::default().digest(dir.path()).await.unwrap();
        assert_ne!(fresh, first, "another run reads the folder again");
        assert_eq!(
            digests.digest(&dir.path().join("missing")).await,
            None,
            "a folder that cannot be read has none"
        );
    }
}
