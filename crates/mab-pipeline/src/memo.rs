//! The images earlier runs built, by build key ([`mab_build::Daemon::build_key`]): a rerun
//! whose build has the same key on the same daemon takes the image that build made, if the
//! daemon still has it, instead of building again.
//!
//! One small file per key (its content: the image id), written atomically (a temporary file in
//! the same folder, renamed over), so concurrent runs never read half an entry. An entry that
//! cannot be read is as good as none: the build runs.

use std::io::Write as _;
use std::path::PathBuf;

use mab_vocab::sha256_hex;

/// Where build keys are remembered between runs.
#[derive(Debug, Clone)]
pub struct BuildMemo {
    root: PathBuf,
}

impl BuildMemo {
    /// A memo in `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The image id remembered for `key`, if any.
    pub(crate) fn image(&self, key: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.entry(key)?).ok()?;
        let id = text.trim();
        sha256_hex(id).map(|_| id.to_string())
    }

    /// Remembers that the build of `key` made `image_id`. Failing to is not an error: the next
    /// run builds.
    pub(crate) fn remember(&self, key: &str, image_id: &str) {
        let Some(entry) = self.entry(key) else { return };
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(&self.root)?;
            let mut file = tempfile::Builder::new()
                .prefix(".entry-")
                .tempfile_in(&self.root)?;
            writeln!(file, "{image_id}")?;
            file.persist(&entry).map_err(|e| e.error)?;
            Ok(())
        };
        let _ = write();
    }

    /// The file of `key` (`sha256:HEX` → `HEX`); `None` for anything else.
    fn entry(&self, key: &str) -> Option<PathBuf> {
        sha256_hex(key).map(|hex| self.root.join(hex))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const ID: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    #[test]
    fn remembers_by_key_and_ignores_what_is_not_an_entry() {
        let dir = tempfile::tempdir().unwrap();
        let memo = BuildMemo::new(dir.path().join("builds"));
        assert_eq!(memo.image(KEY), None);
        memo.remember(KEY, ID);
        assert_eq!(memo.image(KEY).as_deref(), Some(ID));
        memo.remember(KEY, ID);
        assert_eq!(memo.image(KEY).as_deref(), Some(ID));
        // Keys that are not digests name no file (nothing outside the folder is read).
        assert_eq!(memo.image("../../etc/passwd"), None);
        memo.remember("sha256:../x", ID);
        std::fs::write(dir.path().join("builds").join(&KEY[7..]), "garbage").unwrap();
        assert_eq!(memo.image(KEY), None, "a damaged entry is none");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("builds"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, [&KEY[7..]], "no temporary file left");
    }
}
