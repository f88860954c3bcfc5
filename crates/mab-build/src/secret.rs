//! What a build may use without it ending up in the image: secrets (`RUN --mount=type=secret`)
//! and forwarded ssh agents (`RUN --mount=type=ssh`). Their values never appear in `Debug`
//! output, errors or logs.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// The value of a build secret. `Debug` shows `***`, never the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(Arc<Vec<u8>>);

impl SecretValue {
    /// A secret of these bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Arc::new(bytes))
    }

    /// The bytes, for the build session only.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(***)")
    }
}

/// A secret a build can mount, by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSecret {
    /// The id `RUN --mount=type=secret,id=ID` names.
    pub id: String,
    /// Its value.
    pub value: SecretValue,
}

/// Where a forwarded ssh agent comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SshSource {
    /// A running agent's socket (`$SSH_AUTH_SOCK` for `default`).
    Agent(PathBuf),
    /// Private key files, loaded into an agent of mab's own for the build (no passphrase).
    Keys(Vec<PathBuf>),
}

/// An ssh agent a build can reach with `RUN --mount=type=ssh,id=ID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshForward {
    /// The id (`default` unless the mount names another).
    pub id: String,
    /// The agent.
    pub source: SshSource,
}
