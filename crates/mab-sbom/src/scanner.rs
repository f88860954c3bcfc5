//! The scan of one layer: which entries are package databases, `os-release` files, whiteouts
//! or executables, and what each holds.

use crate::binary::BinaryScan;
use crate::contents::{Finding, LayerContents};
use crate::stanza::os_release;
use crate::tar::{Entry, Visitor};
use crate::{apk, dpkg};

/// The largest database file read (a big Debian system's status file is a few MiB).
const MAX_DATABASE: u64 = 64 * 1024 * 1024;
/// The smallest executable looked into.
const MIN_EXECUTABLE: u64 = 64;

/// What kind of file an entry is, by its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Database {
    Dpkg,
    Apk,
    OsRelease,
}

fn database(path: &str) -> Option<Database> {
    match path {
        "var/lib/dpkg/status" => Some(Database::Dpkg),
        "lib/apk/db/installed" => Some(Database::Apk),
        "etc/os-release" | "usr/lib/os-release" => Some(Database::OsRelease),
        _ => match path.strip_prefix("var/lib/dpkg/status.d/") {
            Some(name) if !name.contains('/') && !name.ends_with(".md5sums") => {
                Some(Database::Dpkg)
            }
            _ => None,
        },
    }
}

/// rpm's databases, which mab does not read (sqlite, Berkeley DB, ndb).
fn rpm_database(path: &str) -> Option<&'static str> {
    match path {
        "var/lib/rpm/rpmdb.sqlite" | "usr/lib/sysimage/rpm/rpmdb.sqlite" => Some("sqlite"),
        "var/lib/rpm/Packages" => Some("Berkeley DB"),
        "var/lib/rpm/Packages.db" | "usr/lib/sysimage/rpm/Packages.db" => Some("ndb"),
        _ => None,
    }
}

enum Open {
    Database {
        path: String,
        kind: Database,
        bytes: Vec<u8>,
    },
    Binary {
        path: String,
        scan: BinaryScan,
    },
}

/// The visitor that fills a [`LayerContents`].
#[derive(Default)]
pub(crate) struct ContentsVisitor {
    pub(crate) contents: LayerContents,
    open: Option<Open>,
}

impl Visitor for ContentsVisitor {
    fn start(&mut self, entry: &Entry) -> bool {
        let path = entry.path.trim_end_matches('/');
        let (folder, name) = match path.rsplit_once('/') {
            Some((folder, name)) => (Some(folder), name),
            None => (None, path),
        };
        if let Some(deleted) = name.strip_prefix(".wh.") {
            let removed = match (deleted, folder) {
                (".wh..opq", Some(folder)) => format!("{folder}/"),
                (".wh..opq", None) => String::from("/"),
                (deleted, Some(folder)) => format!("{folder}/{deleted}"),
                (deleted, None) => deleted.to_string(),
            };
            self.contents.removed.push(removed);
            return false;
        }
        if !entry.regular {
            return false;
        }
        if let Some(format) = rpm_database(path) {
            self.contents.files.insert(
                path.to_string(),
                Finding::Unread {
                    reason: format!("an rpm database ({format}): mab does not read rpm databases"),
                },
            );
            return false;
        }
        if let Some(kind) = database(path) {
            if entry.size > MAX_DATABASE {
                self.contents.files.insert(
                    path.to_string(),
                    Finding::Unread {
                        reason: format!("{} bytes, more than mab reads", entry.size),
                    },
                );
                return false;
            }
            self.open = Some(Open::Database {
                path: path.to_string(),
                kind,
                bytes: Vec::with_capacity(entry.size as usize),
            });
            return true;
        }
        if entry.size >= MIN_EXECUTABLE {
            self.open = Some(Open::Binary {
                path: path.to_string(),
                scan: BinaryScan::new(),
            });
            return true;
        }
        false
    }

    fn content(&mut self, data: &[u8]) {
        match &mut self.open {
            Some(Open::Database { bytes, .. }) => bytes.extend_from_slice(data),
            Some(Open::Binary { scan, .. }) if scan.wanted() => scan.feed(data),
            _ => {}
        }
    }

    fn end(&mut self) {
        match self.open.take() {
            Some(Open::Database { path, kind, bytes }) => {
                let text = String::from_utf8_lossy(&bytes);
                let finding = match kind {
                    Database::Dpkg => Finding::Dpkg {
                        packages: dpkg::installed_packages(&text),
                    },
                    Database::Apk => Finding::Apk {
                        packages: apk::installed_packages(&text),
                    },
                    Database::OsRelease => {
                        let mut fields = os_release(&text);
                        let mut take = |key: &str| fields.remove(key).unwrap_or_default();
                        Finding::OsRelease {
                            id: take("ID"),
                            version_id: take("VERSION_ID"),
                            pretty_name: take("PRETTY_NAME"),
                        }
                    }
                };
                self.contents.files.insert(path, finding);
            }
            Some(Open::Binary { path, scan }) => {
                let mut found = scan.finish();
                // A file holds at most one of each; a Go program linked with Rust code (or the
                // other way round) keeps the Go finding under its path and the Rust one beside.
                if let Some(first) = found.pop() {
                    if let Some(second) = found.pop() {
                        self.contents.files.insert(format!("{path}#go"), second);
                    }
                    self.contents.files.insert(path, first);
                }
            }
            None => {}
        }
    }
}
