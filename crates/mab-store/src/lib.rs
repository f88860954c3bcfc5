//! mab's local store: named JSON documents in one folder (today: the manifest lists of
//! `mab manifest`, kept between `create`, `annotate` and `push`).
//!
//! One file per document, named after the document (escaped so that any name maps to its own
//! file, even on case-insensitive file systems). Writes are atomic: the new content goes into a
//! temporary file in the same folder, is flushed to disk, and is renamed over the old file, so a
//! reader sees the old document or the new one, never half of one. A read-modify-write holds an
//! exclusive lock on the document (an advisory `flock` on its file in `.locks/`), so two
//! processes changing the same document at once do not lose each other's changes.
//!
//! It knows nothing of registries or manifests: documents are anything serde can write. It does
//! not print.

#![warn(missing_docs)]

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::Digest as _;

/// The folder (inside the store's) of the lock files, one per document ever locked; they stay
/// (deleting a lock file another process may hold would break the lock), and are not documents.
const LOCKS: &str = ".locks";

/// Longest escaped name used as a file name as is; longer ones are shortened and hashed.
const MAX_STEM: usize = 160;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file-system operation failed.
    #[error("local store: {action} {path} failed")]
    Io {
        /// What mab asked of it.
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },

    /// A stored document does not parse (edited by hand, or written by another version).
    #[error("local store: {name} ({path}) does not parse")]
    Corrupt {
        /// The name.
        name: String,
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },

    /// A document could not be serialised (a bug).
    #[error("local store: serialising {name} failed")]
    Serialize {
        /// The name.
        name: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io {
        action,
        path,
        source,
    }
}

/// A folder of named documents.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// Opens the store in `dir`, creating the folder if needed.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(io_error("creating", &dir))?;
        Ok(Self { dir })
    }

    /// The store's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file that holds the document `name`.
    pub fn path_of(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{}.json", file_stem(name)))
    }

    fn lock_path_of(&self, name: &str) -> PathBuf {
        self.dir
            .join(LOCKS)
            .join(format!("{}.lock", file_stem(name)))
    }

    /// Reads the document `name` without locking (writes are atomic, so it is whole);
    /// `None` if there is none.
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, StoreError> {
        read_document(name, &self.path_of(name))
    }

    /// Takes the exclusive lock on the document `name` (waiting for another process that holds
    /// it), for a read-modify-write. The lock is released when the returned value is dropped.
    pub fn lock(&self, name: &str) -> Result<LockedDocument, StoreError> {
        let lock_path = self.lock_path_of(name);
        let locks = self.dir.join(LOCKS);
        std::fs::create_dir_all(&locks).map_err(io_error("creating", &locks))?;
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_error("opening the lock file", &lock_path))?;
        lock_exclusive(&lock_file).map_err(io_error("locking", &lock_path))?;
        Ok(LockedDocument {
            name: name.to_string(),
            dir: self.dir.clone(),
            path: self.path_of(name),
            _lock: lock_file,
        })
    }
}

/// A document held under its exclusive lock.
#[derive(Debug)]
pub struct LockedDocument {
    name: String,
    dir: PathBuf,
    path: PathBuf,
    /// Holding the open file holds the lock; closing it releases the lock.
    _lock: File,
}

impl LockedDocument {
    /// The document's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The document; `None` if there is none.
    pub fn read<T: DeserializeOwned>(&self) -> Result<Option<T>, StoreError> {
        read_document(&self.name, &self.path)
    }

    /// Replaces the document atomically: temporary file, flushed, renamed over the old one.
    pub fn write<T: Serialize>(&self, document: &T) -> Result<(), StoreError> {
        let mut bytes =
            serde_json::to_vec_pretty(document).map_err(|source| StoreError::Serialize {
                name: self.name.clone(),
                source,
            })?;
        bytes.push(b'\n');
        let mut temp = tempfile::Builder::new()
            .prefix(".")
            .suffix(".tmp")
            .tempfile_in(&self.dir)
            .map_err(io_error("creating a temporary file in", &self.dir))?;
        temp.write_all(&bytes)
            .and_then(|()| temp.as_file().sync_all())
            .map_err(io_error("writing", temp.path()))?;
        temp.persist(&self.path)
            .map_err(|e| io_error("replacing", &self.path)(e.error))?;
        sync_dir(&self.dir);
        Ok(())
    }

    /// Whether the document exists (even one that does not parse).
    pub fn exists(&self) -> Result<bool, StoreError> {
        self.path
            .try_exists()
            .map_err(io_error("looking for", &self.path))
    }

    /// Deletes the document; `false` if there was none.
    pub fn remove(&self) -> Result<bool, StoreError> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => {
                sync_dir(&self.dir);
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_error("deleting", &self.path)(e)),
        }
    }
}

fn read_document<T: DeserializeOwned>(name: &str, path: &Path) -> Result<Option<T>, StoreError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error("reading", path)(e)),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| StoreError::Corrupt {
            name: name.to_string(),
            path: path.to_path_buf(),
            source,
        })
}

/// The file name (without extension) for a document name: lower-case letters, digits, `.` and
/// `-` stay, every other byte is `%XX` (so `A` and `a`, `/` and `_` never share a file); names
/// too long for a file name are cut and get a hash of the whole name.
fn file_stem(name: &str) -> String {
    let mut stem = String::with_capacity(name.len());
    for byte in name.bytes() {
        match byte {
            b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' => stem.push(byte as char),
            _ => {
                let _ = write!(stem, "%{byte:02X}");
            }
        }
    }
    if stem.starts_with('.') {
        stem.replace_range(0..1, "%2E"); // never a hidden file, never `.` or `..`
    }
    if stem.len() > MAX_STEM {
        let hash = hex::encode(sha2::Sha256::digest(name.as_bytes()));
        stem.truncate(MAX_STEM - 40);
        stem.push('~');
        stem.push_str(&hash[..32]);
    }
    stem
}

#[cfg(unix)]
fn lock_exclusive(file: &File) -> std::io::Result<()> {
    rustix::fs::flock(file, rustix::fs::FlockOperation::LockExclusive).map_err(Into::into)
}

#[cfg(not(unix))]
#[allow(clippy::incompatible_msrv)]
fn lock_exclusive(file: &File) -> std::io::Result<()> {
    file.lock()
}

/// Makes a rename or delete durable (best effort: not every platform can sync a folder).
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::{Arc, Barrier};

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Doc {
        items: Vec<String>,
        padding: String,
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("manifests")).unwrap();
        (dir, store)
    }

    fn files(store: &Store) -> BTreeSet<String> {
        std::fs::read_dir(store.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn write_read_remove() {
        let (_dir, store) = store();
        let name = "127.0.0.1:5000/app:1.0";
        assert_eq!(store.get::<Doc>(name).unwrap(), None);
        let doc = Doc {
            items: vec!["a".into()],
            padding: String::new(),
        };
        let locked = store.lock(name).unwrap();
        assert_eq!(locked.read::<Doc>().unwrap(), None);
        locked.write(&doc).unwrap();
        assert_eq!(locked.read::<Doc>().unwrap(), Some(doc.clone()));
        drop(locked);
        assert_eq!(store.get::<Doc>(name).unwrap(), Some(doc));
        // Only the document (and the lock folder): no temporary file is left behind.
        assert_eq!(
            files(&store),
            BTreeSet::from([
                "127.0.0.1%3A5000%2Fapp%3A1.0.json".to_string(),
                LOCKS.to_string(),
            ])
        );
        let locked = store.lock(name).unwrap();
        assert!(locked.remove().unwrap());
        assert!(!locked.remove().unwrap(), "a missing document is reported");
        assert_eq!(store.get::<Doc>(name).unwrap(), None);
    }

    #[test]
    fn names_never_share_a_file() {
        let names = [
            "r/a:b", "r/a_b", "r/A:b", "r/a:B", "r%2Fa:b", ".hidden", "..", "x", "X",
        ];
        let stems: BTreeSet<String> = names.iter().map(|n| file_stem(n)).collect();
        assert_eq!(stems.len(), names.len(), "{stems:?}");
        assert!(stems.iter().all(|s| !s.starts_with('.')));
        let long_a = format!("{}:a", "r/".repeat(300));
        let long_b = format!("{}:b", "r/".repeat(300));
        assert_ne!(file_stem(&long_a), file_stem(&long_b));
        assert!(file_stem(&long_a).len() <= MAX_STEM + 1);
    }

    #[test]
    fn a_corrupt_document_names_itself() {
        let (_dir, store) = store();
        std::fs::write(store.path_of("list:1"), b"{ not json").unwrap();
        let err = store.get::<Doc>("list:1").unwrap_err().to_string();
        assert!(err.contains("list:1"), "{err}");
        assert!(err.contains("does not parse"), "{err}");
    }

    /// Many writers doing read-modify-write at once (each with its own open store, as separate
    /// processes would): no update is lost.
    #[test]
    fn concurrent_writers_lose_nothing() {
        let (dir, _store) = store();
        let root = dir.path().join("manifests");
        let writers = 8;
        let rounds = 20;
        let barrier = Arc::new(Barrier::new(writers));
        let threads: Vec<_> = (0..writers)
            .map(|w| {
                let root = root.clone();
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    let store = Store::open(root).unwrap();
                    barrier.wait();
                    for r in 0..rounds {
                        let locked = store.lock("shared").unwrap();
                        let mut doc = locked.read::<Doc>().unwrap().unwrap_or(Doc {
                            items: Vec::new(),
                            padding: String::new(),
                        });
                        doc.items.push(format!("{w}-{r}"));
                        std::thread::yield_now();
                        locked.write(&doc).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let store = Store::open(&root).unwrap();
        let doc: Doc = store.get("shared").unwrap().unwrap();
        assert_eq!(doc.items.len(), writers * rounds);
        let unique: BTreeSet<&String> = doc.items.iter().collect();
        assert_eq!(unique.len(), writers * rounds);
    }

    /// A reader that does not lock sees whole documents only, while a writer keeps replacing a
    /// large one.
    #[test]
    fn readers_never_see_half_a_document() {
        let (_dir, store) = store();
        let writer_store = store.clone();
        let writer = std::thread::spawn(move || {
            for i in 0..60 {
                let doc = Doc {
                    items: vec![i.to_string()],
                    padding: "x".repeat(256 * 1024 + i),
                };
                writer_store.lock("big").unwrap().write(&doc).unwrap();
            }
        });
        let mut seen = 0;
        while !writer.is_finished() {
            if let Some(doc) = store.get::<Doc>("big").unwrap() {
                let i: usize = doc.items[0].parse().unwrap();
                assert_eq!(doc.padding.len(), 256 * 1024 + i);
                seen += 1;
            }
        }
        writer.join().unwrap();
        assert!(store.get::<Doc>("big").unwrap().is_some());
        let _ = seen;
        assert!(
            files(&store).iter().all(|f| !f.ends_with(".tmp")),
            "{:?}",
            files(&store)
        );
    }
}
