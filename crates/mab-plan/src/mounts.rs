//! What a build may mount besides its context, validated: build secrets (`RUN
//! --mount=type=secret`) and ssh forwards (`RUN --mount=type=ssh`), as `docker buildx build
//! --secret` and `--ssh` take them.
//!
//! A plan names where a secret's value is read at build time (an environment variable, a file),
//! never the value: these types hold names and paths only, so that printing or serialising a
//! plan cannot show a secret. Reading the values is the build driver's job.

use std::path::PathBuf;

/// A secret the build may mount (`RUN --mount=type=secret,id=ID`): its id and where its value
/// is read at build time.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BuildSecret {
    pub(crate) id: String,
    pub(crate) source: SecretSource,
}

impl BuildSecret {
    /// The id the Dockerfile mounts it by: letters, digits, `-`, `_` and `.`; unique among the
    /// secrets of a build.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Where its value is read at build time.
    pub fn source(&self) -> &SecretSource {
        &self.source
    }
}

/// Where a secret's value is read at build time. Never the value itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretSource {
    /// The environment variable of this name (`env:`); whether it is set is not checked by the
    /// plan: the build must fail, naming it, when it is not.
    Env(String),
    /// This file (`file:`): the plan's folder joined with the path, normalised lexically,
    /// checked to exist when the plan was read.
    File(PathBuf),
}

/// An ssh agent or a set of keys the build may use (`RUN --mount=type=ssh,id=ID`), as
/// `docker buildx build --ssh ID[=PATH,...]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SshForward {
    pub(crate) id: String,
    pub(crate) source: SshSource,
}

impl SshForward {
    /// The id the Dockerfile mounts it by (`default` for the item `default`): letters, digits,
    /// `-`, `_` and `.`; unique among the ssh forwards of a build.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// What is forwarded.
    pub fn source(&self) -> &SshSource {
        &self.source
    }
}

/// What an ssh forward gives the build.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SshSource {
    /// The ssh agent whose socket is in `SSH_AUTH_SOCK` when the build runs (the item
    /// `default`); whether it is there is not checked by the plan.
    Agent,
    /// Agent sockets or private key files: the plan's folder joined with each path, normalised
    /// lexically, checked to exist when the plan was read.
    Paths(Vec<PathBuf>),
}
