//! What goes into a context tar: the folder walked depth first, each folder's entries in byte
//! order of their names, less what the `.dockerignore` excludes, with the metadata the tar
//! needs (kind, mode, mtime, size). Nothing is read but folders, metadata and the
//! `.dockerignore`; the Dockerfile's name is checked not to collide with a context file.
//!
//! It must not know how the tar is written or sent, nor how patterns are matched (that is
//! `dockerignore.rs`).

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::dockerignore::{IgnorePatterns, MatchedPatterns};
use super::{ADDED_FILE_MODE, ContextSpec, DOCKERIGNORE};
use crate::BuildError;

/// The entries of a context, found on disk, to be written to the tar.
pub(super) struct ContextPlan {
    pub(super) entries: Vec<PlannedEntry>,
    /// The `.dockerignore` to send, with the Dockerfile's name added.
    pub(super) dockerignore: Vec<u8>,
    /// Whether the context has a `.dockerignore` (sent at its place among the entries) or one
    /// must be added at the end.
    pub(super) dockerignore_source: DockerignoreSource,
}

/// Where the `.dockerignore` that is sent comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DockerignoreSource {
    /// The context has one; its entry is among the planned entries.
    Context,
    /// The context has none; one is added at the end of the tar.
    Generated,
}

/// One file, folder or symlink of the context.
#[derive(Debug, Clone)]
pub(super) struct PlannedEntry {
    /// The path relative to the context folder, as in the tar.
    pub(super) name: PathBuf,
    pub(super) kind: EntryKind,
    /// The permission bits (with setuid, setgid and sticky).
    pub(super) mode: u32,
    /// Seconds since the Unix epoch (0 for earlier times).
    pub(super) mtime: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum EntryKind {
    Directory,
    File {
        size: u64,
    },
    Symlink,
    /// The context's `.dockerignore`, sent with the Dockerfile's name added.
    Dockerignore,
}

pub(super) fn read_error(path: &Path) -> impl FnOnce(io::Error) -> BuildError + '_ {
    move |source| BuildError::ContextRead {
        path: path.to_path_buf(),
        source,
    }
}

/// Checks `name` is a plain relative path: no empty, `.` or `..` parts, not `.dockerignore`.
fn check_dockerfile_name(name: &str) -> Result<(), BuildError> {
    let valid = !name.is_empty()
        && name != DOCKERIGNORE
        && !name.contains('\0')
        && name
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
    if valid {
        Ok(())
    } else {
        Err(BuildError::DockerfileNameInvalid {
            name: name.to_string(),
        })
    }
}

/// Walks the context folder and lists what goes into the tar (without reading file contents).
pub(super) fn plan_context(spec: &ContextSpec) -> Result<ContextPlan, BuildError> {
    let root = &spec.context_dir;
    match fs::metadata(root) {
        Ok(metadata) if metadata.is_dir() => {}
        Ok(_) => return Err(BuildError::ContextMissing { path: root.clone() }),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Err(BuildError::ContextMissing { path: root.clone() });
        }
        Err(error) => return Err(read_error(root)(error)),
    }
    check_dockerfile_name(&spec.dockerfile_name)?;

    let dockerignore_path = root.join(DOCKERIGNORE);
    let (patterns, mut dockerignore, dockerignore_source) = match fs::read(&dockerignore_path) {
        Ok(bytes) => {
            let patterns =
                IgnorePatterns::parse(&String::from_utf8_lossy(&bytes), &dockerignore_path)?;
            (patterns, bytes, DockerignoreSource::Context)
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => (
            IgnorePatterns::default(),
            format!("{DOCKERIGNORE}\n").into_bytes(),
            DockerignoreSource::Generated,
        ),
        Err(error) => return Err(read_error(&dockerignore_path)(error)),
    };
    dockerignore.extend_from_slice(format!("\n{}\n", spec.dockerfile_name).as_bytes());
    let patterns = patterns.keeping_dockerignore();

    let mut walker = ContextWalker {
        root,
        patterns: &patterns,
        entries: Vec::new(),
    };
    walker.walk(Path::new(""), "", &MatchedPatterns::default())?;

    let taken = walker.entries.iter().any(|entry| {
        let entry_name = entry.name.to_string_lossy();
        entry_name == spec.dockerfile_name
            || (entry.kind != EntryKind::Directory
                && spec
                    .dockerfile_name
                    .strip_prefix(entry_name.as_ref())
                    .is_some_and(|rest| rest.starts_with('/')))
    });
    if taken {
        return Err(BuildError::DockerfileNameTaken {
            context: root.clone(),
            name: spec.dockerfile_name.clone(),
        });
    }
    Ok(ContextPlan {
        entries: walker.entries,
        dockerignore,
        dockerignore_source,
    })
}

/// Walks the context folder depth first, entries of each folder in byte order of their names.
struct ContextWalker<'a> {
    root: &'a Path,
    patterns: &'a IgnorePatterns,
    entries: Vec<PlannedEntry>,
}

impl ContextWalker<'_> {
    /// Lists the folder `folder` (relative to the root; `folder_key` is the same as matched by
    /// the patterns), which matched the patterns `matched`.
    fn walk(
        &mut self,
        folder: &Path,
        folder_key: &str,
        matched: &MatchedPatterns,
    ) -> Result<(), BuildError> {
        let folder_path = self.root.join(folder);
        let mut names: Vec<OsString> = Vec::new();
        for entry in fs::read_dir(&folder_path).map_err(read_error(&folder_path))? {
            names.push(entry.map_err(read_error(&folder_path))?.file_name());
        }
        names.sort();
        for file_name in names {
            let name = folder.join(&file_name);
            let key = if folder_key.is_empty() {
                file_name.to_string_lossy().into_owned()
            } else {
                format!("{folder_key}/{}", file_name.to_string_lossy())
            };
            let path = self.root.join(&name);
            let metadata = fs::symlink_metadata(&path).map_err(read_error(&path))?;
            let file_type = metadata.file_type();
            let (excluded, entry_matched) = self.patterns.matches(&key, matched);
            if excluded {
                // An exception may re-include something inside an excluded folder.
                if file_type.is_dir() && self.patterns.may_reinclude_under(&key) {
                    self.walk(&name, &key, &entry_matched)?;
                }
                continue;
            }
            let kind = if file_type.is_dir() {
                EntryKind::Directory
            } else if file_type.is_symlink() && key != DOCKERIGNORE {
                EntryKind::Symlink
            } else if key == DOCKERIGNORE && folder_key.is_empty() {
                EntryKind::Dockerignore
            } else if file_type.is_file() {
                EntryKind::File {
                    size: metadata.len(),
                }
            } else {
                // Sockets, fifos and devices are not sent.
                continue;
            };
            let mode = if kind == EntryKind::Dockerignore && file_type.is_symlink() {
                ADDED_FILE_MODE
            } else {
                metadata.mode() & 0o7777
            };
            self.entries.push(PlannedEntry {
                name: name.clone(),
                kind: kind.clone(),
                mode,
                mtime: u64::try_from(metadata.mtime()).unwrap_or(0),
            });
            if kind == EntryKind::Directory {
                self.walk(&name, &key, &entry_matched)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerfile_names() {
        assert!(check_dockerfile_name(".mab/Dockerfile.1").is_ok());
        for bad in ["", "/abs", "a//b", "a/./b", "../x", "a/", DOCKERIGNORE] {
            assert!(check_dockerfile_name(bad).is_err(), "{bad}");
        }
    }
}
