//! The images earlier runs built, by build key ([`mab_build::Daemon::build_key`]): a rerun
//! whose build has the same key on the same daemon takes the image that build made, if the
//! daemon still has it, instead of building again.
//!
//! One small file per key (its content: the image id, then `pushed by engine` when the engine
//! pushed it as it built it, so that a rerun reads its manifest back from the registry instead of
//! pushing it again), written atomically (a temporary file in
//! the same folder, renamed over), so concurrent runs never read half an entry. An entry that
//! cannot be read is as good as none: the build runs.

use std::io::Write as _;
use std::path::PathBuf;

use mab_vocab::sha256_hex;

/// The second line of an entry whose image the engine pushed.
const PUSHED_BY_ENGINE: &str = "pushed by engine";

/// What an earlier run's build of a key made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RememberedBuild {
    /// The image's id in its daemon.
    pub(crate) image_id: String,
    /// Whether the engine pushed it as it built it: its id is then the digest of the manifest
    /// it pushed.
    pub(crate) pushed_by_engine: bool,
}

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

    /// The image remembered for `key`, if any.
    pub(crate) fn image(&self, key: &str) -> Option<RememberedBuild> {
        let text = std::fs::read_to_string(self.entry(key)?).ok()?;
        let mut lines = text.lines();
        let id = lines.next()?.trim();
        sha256_hex(id)?;
        let pushed_by_engine = match lines.next().map(str::trim) {
            None | Some("") => false,
            Some(PUSHED_BY_ENGINE) => true,
            Some(_) => return None,
        };
        Some(RememberedBuild {
            image_id: id.to_string(),
            pushed_by_engine,
        })
    }

    /// Remembers that the build of `key` made `build`. Failing to is not an error: the next run
    /// builds.
    pub(crate) fn remember(&self, key: &str, build: &RememberedBuild) {
        let Some(entry) = self.entry(key) else { return };
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(&self.root)?;
            let mut file = tempfile::Builder::new()
                .prefix(".entry-")
                .tempfile_in(&self.root)?;
            writeln!(file, "{}", build.image_id)?;
            if build.pushed_by_engine {
                writeln!(file, "{PUSHED_BY_ENGINE}")?;
            }
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
        let built = |pushed_by_engine| RememberedBuild {
            image_id: ID.to_string(),
            pushed_by_engine,
        };
        assert_eq!(memo.image(KEY), None);
        memo.remember(KEY, &built(false));
        assert_eq!(memo.image(KEY), Some(built(false)));
        memo.remember(KEY, &built(true));
        assert_eq!(memo.image(KEY), Some(built(true)));
        memo.remember(KEY, &built(false));
        assert_eq!(memo.image(KEY), Some(built(false)));
        // Keys that are not digests name no file (nothing outside the folder is read).
        assert_eq!(memo.image("../../etc/passwd"), None);
        memo.remember("sha256:../x", &built(false));
        let entry = dir.path().join("builds").join(&KEY[7..]);
        std::fs::write(&entry, "garbage").unwrap();
        assert_eq!(memo.image(KEY), None, "a damaged entry is none");
        std::fs::write(&entry, format!("{ID}\npushed by someone\n")).unwrap();
        assert_eq!(
            memo.image(KEY),
            None,
            "an entry with an unknown mark is none"
        );
        let names: Vec<_> = std::fs::read_dir(dir.path().join("builds"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, [&KEY[7..]], "no temporary file left");
    }
}
