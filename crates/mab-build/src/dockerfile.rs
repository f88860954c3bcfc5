//! Just enough of the Dockerfile language to find the base images of every stage and pin them.

use std::collections::BTreeMap;
use std::path::Path;

use crate::BuildError;

/// An external image named by a `FROM` line (not `scratch`, not an earlier stage).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BaseImage {
    /// The image reference after ARG substitution, as written (e.g. `alpine`, `127.0.0.1:5000/a/b:1`).
    pub reference: String,
    /// The platform from `FROM --platform=...` after substitution, if the line has the flag.
    pub platform: Option<String>,
}

/// A parsed Dockerfile (TODO: helper fills in).
#[derive(Debug, Clone)]
pub struct Dockerfile {
    _text: String,
}

impl Dockerfile {
    /// Parses `text` (read from `path`, named in errors) with the given build args.
    pub fn parse(
        path: &Path,
        text: &str,
        build_args: &BTreeMap<String, String>,
    ) -> Result<Self, BuildError> {
        let _ = (path, text, build_args);
        todo!("dockerfile helper")
    }

    /// Every distinct external base image, in order of first use.
    pub fn base_images(&self) -> Vec<BaseImage> {
        todo!("dockerfile helper")
    }

    /// The Dockerfile text with each external base image replaced by `pinned[base]` (an image id
    /// like `sha256:...`); everything else kept byte for byte.
    pub fn pinned(&self, pinned: &BTreeMap<BaseImage, String>) -> String {
        let _ = pinned;
        todo!("dockerfile helper")
    }
}
