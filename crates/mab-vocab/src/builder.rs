//! Which builder of a Docker daemon builds an image.

use std::fmt;

/// The builder of a daemon that builds an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BuilderKind {
    /// The daemon's own BuildKit (`POST /build?version=2`), the default.
    #[default]
    #[serde(rename = "buildkit")]
    BuildKit,
    /// Docker's classic builder (`POST /build` without a BuildKit session).
    Classic,
}

impl BuilderKind {
    /// Whether this is BuildKit, the default.
    pub fn is_buildkit(&self) -> bool {
        *self == Self::BuildKit
    }

    /// `buildkit` or `classic`, as in plans.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BuildKit => "buildkit",
            Self::Classic => "classic",
        }
    }
}

impl fmt::Display for BuilderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Classic => "the classic builder",
            Self::BuildKit => "BuildKit",
        })
    }
}
