//! The content digest of a build context, for provenance: what the build could read, the
//! `.dockerignore` applied, and nothing else. Each entry that goes into the context tar adds its
//! kind, path and permission bits, and a file the SHA-256 of its bytes, a symlink its target;
//! modification times are left out, so the same files give the same digest on any machine and
//! after any checkout.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::ContextSpec;
use super::walk::{EntryKind, plan_context, read_error};
use crate::BuildError;

/// `sha256:…` of the contents of the context folder `context_dir` (blocking: it reads every
/// file the build would get).
pub fn context_digest(context_dir: &Path) -> Result<String, BuildError> {
    let spec = ContextSpec {
        context_dir: context_dir.to_path_buf(),
        // A name no context file has (it only has to be checked for collisions).
        dockerfile_name: ".mab-context-digest/Dockerfile".to_string(),
        dockerfile_text: String::new(),
    };
    let plan = plan_context(&spec)?;
    let mut digest = Sha256::new();
    for entry in &plan.entries {
        let path = context_dir.join(&entry.name);
        let (kind, content) = match &entry.kind {
            EntryKind::Directory => ("dir", String::new()),
            EntryKind::Symlink => (
                "symlink",
                fs::read_link(&path)
                    .map_err(read_error(&path))?
                    .to_string_lossy()
                    .into_owned(),
            ),
            EntryKind::File { .. } | EntryKind::Dockerignore => {
                ("file", file_digest(&path).map_err(read_error(&path))?)
            }
        };
        digest.update(
            format!(
                "{kind} {:o} {} {content}\n",
                entry.mode,
                entry.name.to_string_lossy()
            )
            .as_bytes(),
        );
    }
    Ok(format!("sha256:{}", hex::encode(digest.finalize())))
}

fn file_digest(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut digest = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok(hex::encode(digest.finalize()));
        }
        digest.update(&buffer[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_follows_contents_and_dockerignore_not_times() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "one").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/b.txt"), "two").unwrap();
        let first = context_digest(dir.path()).unwrap();
        assert!(first.starts_with("sha256:"));
        // Same contents, new times: same digest.
        std::fs::write(dir.path().join("a.txt"), "one").unwrap();
        assert_eq!(context_digest(dir.path()).unwrap(), first);
        std::fs::write(dir.path().join("a.txt"), "changed").unwrap();
        let changed = context_digest(dir.path()).unwrap();
        assert_ne!(changed, first);
        // An ignored file does not count.
        std::fs::write(dir.path().join(".dockerignore"), "ignored.log\n").unwrap();
        let with_ignore = context_digest(dir.path()).unwrap();
        std::fs::write(dir.path().join("ignored.log"), "noise").unwrap();
        assert_eq!(context_digest(dir.path()).unwrap(), with_ignore);
    }
}
