//! What the scanners found: per layer, what each file of interest holds, which paths the layer
//! deletes (whiteouts) and what could not be read; per image, the layers laid over each other as
//! a container runtime lays them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A package or module, as its database or binary names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Package {
    /// The package (dpkg, apk, rpm), module path (Go) or crate name (Rust).
    pub name: String,
    /// Its version, as written there (empty when the source does not say).
    pub version: String,
    /// The architecture the database gives (dpkg, apk, rpm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// The source package or origin (dpkg `Source`, apk `o:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The license the database declares (apk `L:`, rpm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// The project's home page (dpkg `Homepage`, apk `U:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub homepage: Option<String>,
    /// Who supplies it (dpkg `Maintainer`, apk `m:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supplier: Option<String>,
    /// A checksum the source records (Go `h1:` sums).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

impl Package {
    /// A package known by name and version only.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            arch: None,
            source: None,
            license: None,
            homepage: None,
            supplier: None,
            checksum: None,
        }
    }
}

/// What one file of interest holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    /// A dpkg status file (`var/lib/dpkg/status`, or one file of `status.d/`): the installed
    /// packages.
    Dpkg {
        /// The installed packages.
        packages: Vec<Package>,
    },
    /// apk's `lib/apk/db/installed`.
    Apk {
        /// The installed packages.
        packages: Vec<Package>,
    },
    /// A Go executable's build information: the toolchain, the main module and its
    /// dependencies.
    Go {
        /// `go1.22.1`.
        toolchain: String,
        /// The main package's path (`path`).
        path: String,
        /// The main module (`mod`), when built in module mode.
        main: Option<Package>,
        /// The dependencies (`dep`, with `=>` replacements applied).
        deps: Vec<Package>,
    },
    /// A Rust executable's `cargo auditable` dependency list (`.dep-v0`).
    Rust {
        /// The crates, the executable's own included.
        packages: Vec<RustPackage>,
    },
    /// `etc/os-release` (or `usr/lib/os-release`): which distribution the packages come from.
    OsRelease {
        /// `ID`, e.g. `debian`, `alpine`.
        id: String,
        /// `VERSION_ID`, e.g. `12`.
        version_id: String,
        /// `PRETTY_NAME`.
        pretty_name: String,
    },
    /// A database or binary that was found but could not be read: why.
    Unread {
        /// Why it was not read.
        reason: String,
    },
}

/// A crate of a Rust executable's dependency list.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RustPackage {
    /// The crate.
    pub package: Package,
    /// `crates.io`, `git`, `local`, `registry` or another source.
    pub source: String,
    /// Whether it is the executable's own crate.
    pub root: bool,
    /// Whether it is only used at build time (build scripts, proc macros).
    pub build_only: bool,
}

/// What one layer holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerContents {
    /// Files of interest by path (no leading `/`).
    pub files: BTreeMap<String, Finding>,
    /// Paths the layer deletes from the layers under it (whiteouts), and folders it makes
    /// opaque (ending in `/`: everything under them below is gone).
    pub removed: Vec<String>,
}

/// The contents of an image: its layers merged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImageContents {
    /// Files of interest by path, as the top-most layer that has them says.
    pub files: BTreeMap<String, Finding>,
    /// Layers whose contents are not known (`None` when all were read), by position (from 0,
    /// the bottom) and diff id.
    pub unread_layers: Vec<(usize, String)>,
}

impl ImageContents {
    /// Lays `layers` (bottom first: their diff id and contents, `None` when the layer was not
    /// read) over each other: a layer's file replaces the same path below it, its whiteouts
    /// delete paths below it.
    pub fn merge<'a>(
        layers: impl IntoIterator<Item = (&'a str, Option<&'a LayerContents>)>,
    ) -> Self {
        let mut image = Self::default();
        for (position, (diff_id, layer)) in layers.into_iter().enumerate() {
            let Some(layer) = layer else {
                image.unread_layers.push((position, diff_id.to_string()));
                continue;
            };
            for removed in &layer.removed {
                match removed.strip_suffix('/') {
                    Some(folder) => {
                        let prefix = format!("{folder}/");
                        image.files.retain(|path, _| !path.starts_with(&prefix));
                    }
                    None => {
                        let prefix = format!("{removed}/");
                        image
                            .files
                            .retain(|path, _| path != removed && !path.starts_with(&prefix));
                    }
                }
            }
            for (path, finding) in &layer.files {
                image.files.insert(path.clone(), finding.clone());
            }
        }
        image
    }

    /// The distribution the image says it is (`etc/os-release`), if it says.
    pub fn os_release(&self) -> Option<(&str, &str, &str)> {
        ["etc/os-release", "usr/lib/os-release"]
            .iter()
            .find_map(|path| match self.files.get(*path) {
                Some(Finding::OsRelease {
                    id,
                    version_id,
                    pretty_name,
                }) => Some((id.as_str(), version_id.as_str(), pretty_name.as_str())),
                _ => None,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dpkg(names: &[&str]) -> Finding {
        Finding::Dpkg {
            packages: names.iter().map(|n| Package::new(*n, "1")).collect(),
        }
    }

    #[test]
    fn upper_layers_replace_and_delete_what_is_below() {
        let mut base = LayerContents::default();
        base.files
            .insert("var/lib/dpkg/status".into(), dpkg(&["libc6"]));
        base.files.insert(
            "opt/tools/bin/a".into(),
            Finding::Unread { reason: "x".into() },
        );
        base.files.insert(
            "usr/bin/gone".into(),
            Finding::Unread { reason: "y".into() },
        );
        let mut top = LayerContents::default();
        top.files
            .insert("var/lib/dpkg/status".into(), dpkg(&["libc6", "curl"]));
        top.removed = vec!["opt/tools/".into(), "usr/bin/gone".into()];
        let image = ImageContents::merge([("sha256:a", Some(&base)), ("sha256:b", Some(&top))]);
        assert_eq!(image.files.len(), 1, "{image:?}");
        assert_eq!(image.files["var/lib/dpkg/status"], dpkg(&["libc6", "curl"]));
        let unknown = ImageContents::merge([("sha256:a", Some(&base)), ("sha256:b", None)]);
        assert_eq!(unknown.unread_layers, vec![(1, "sha256:b".to_string())]);
    }
}
