//! The mab plan: the YAML file that says which images to build, for which platforms, and where
//! to push them — its model, parsing and validation.
//!
//! [`parse_plan`] turns the text of a plan file into a [`Plan`] whose values are all valid
//! (repositories, platforms, tags, build args, paths), or into a [`PlanError`] that lists every
//! problem at once, each with its file, line, column and the offending line.
//!
//! ```yaml
//! version: 1
//! registries:                      # optional settings per registry host
//!   "127.0.0.1:5000": { insecure: true }
//! images:
//!   - repository: ${REGISTRY:-127.0.0.1:5000}/demo/echo
//!     context: .                   # relative to the plan file's folder (default ".")
//!     dockerfile: Dockerfile       # relative to the context (default "Dockerfile")
//!     platforms: [linux/amd64, linux/arm64]
//!     tags: [latest, "1.0.0"]      # default [latest]
//!     build_args: { GREETING: hello }
//!     format: oci                  # oci (default) | docker
//! ```
//!
//! This crate must not know about IO, async, Docker or registries: it reads no files and no
//! environment itself. The caller supplies the text and a [`PlanEnv`] that answers questions
//! about environment variables and paths (the CLI implements it with the real ones; tests with
//! fixed answers).
//!
//! Inside, the text goes through three steps: `tree` (YAML into a tree of nodes that know
//! their position), `raw` (the tree into the plan as written, checking keys and types) and
//! `validate` (meaning: variables, platforms, tags, repositories, paths).

#![warn(missing_docs)]

mod diagnostic;
mod expand;
#[doc(hidden)]
pub mod fuzzing;
mod mounts;
mod plan;
mod raw;
mod schema;
mod select;
mod semver;
mod set;
mod suggest;
mod supply;
mod tree;
mod validate;

use std::path::Path;

pub use diagnostic::{Diagnostic, PlanError};
pub use mab_platform::Platform;
pub use mab_vocab::Repository;
pub use mab_vocab::{BuilderKind, LayerCompression, ManifestFormat};
pub use mounts::{BuildSecret, SecretSource, SshForward, SshSource};
pub use plan::{
    Annotations, BuildSettings, Builder, BuilderTls, CacheExport, DockerContext, ImageSpec, Plan,
    PlatformBuild, RegistrySettings,
};
pub use schema::json_schema;
pub use select::{Selected, Selection};
pub use set::PlanOverride;
pub use supply::{Attestations, Signing};

/// A value of the git repository a plan is in, for `${GIT_SHA}` and `${GIT_TAG}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitValue {
    /// The full commit id of `HEAD` (`git rev-parse HEAD`).
    Sha,
    /// The tag that points at `HEAD` (`git describe --tags --exact-match`).
    Tag,
}

/// What a plan may ask of its surroundings. The CLI implements it with the process environment
/// and the filesystem; tests with fixed answers.
pub trait PlanEnv {
    /// The value of environment variable `name`, if it is set.
    fn var(&self, name: &str) -> Option<String>;
    /// Whether `path` is an existing folder.
    fn is_dir(&self, path: &Path) -> bool;
    /// Whether `path` is an existing file.
    fn is_file(&self, path: &Path) -> bool;
    /// Whether anything is at `path`: a file, a folder, or a socket (an ssh agent's, under
    /// `ssh`). The default asks [`PlanEnv::is_file`] and [`PlanEnv::is_dir`], which answer no
    /// for a socket: implement it to accept ssh agent sockets.
    fn exists(&self, path: &Path) -> bool {
        self.is_file(path) || self.is_dir(path)
    }
    /// `${GIT_SHA}` or `${GIT_TAG}` when no environment variable of that name is set: the
    /// value, or why there is none (not a git repository, no tag at `HEAD`). Asked only when a
    /// plan uses the variable.
    fn git(&self, value: GitValue) -> Result<String, String> {
        let _ = value;
        Err("git values are not available here".to_string())
    }
    /// The text of a file, to check that a `target` stage exists in a Dockerfile; `None` skips
    /// the check (the default).
    fn read_file(&self, path: &Path) -> Option<String> {
        let _ = path;
        None
    }
    /// The daemon of the Docker context `name` (a builder's `context:`), as the docker CLI
    /// stores it in its config folder, or why there is none (no such context, unreadable
    /// metadata). The default reads no context.
    fn docker_context(&self, name: &str) -> Result<DockerContext, String> {
        let _ = name;
        Err("docker contexts cannot be read here".to_string())
    }
}

/// Parses and validates the plan `text` read from `file`.
///
/// `file` is the plan's path as the user gave it: messages name it, and `context` folders are
/// resolved against its parent folder. On failure, the error lists every problem found.
pub fn parse_plan(file: &Path, text: &str, env: &dyn PlanEnv) -> Result<Plan, PlanError> {
    parse_plan_with(file, text, env, &[])
}

/// Parses and validates the plan `text` read from `file` with `overrides` (`--set
/// TARGET.KEY=VALUE`) laid over it first, so that their values are checked like the file's.
///
/// A problem in an override is reported as that `--set`'s (`--set app.build_arg.MSG: unknown key
/// `build_arg`; did you mean `build_args`?`), without a line; see [`Diagnostic::set`].
pub fn parse_plan_with(
    file: &Path,
    text: &str,
    env: &dyn PlanEnv,
    overrides: &[PlanOverride],
) -> Result<Plan, PlanError> {
    let paths = overrides.iter().map(|o| o.path().to_string()).collect();
    let mut diagnostics = diagnostic::Diagnostics::with_overrides(text, paths);
    let plan = match tree::parse(text) {
        Ok(mut root) => {
            set::apply(&mut root, overrides, env, &mut diagnostics);
            let raw = raw::decode(&root, &mut diagnostics);
            validate::validate(file, raw, env, &mut diagnostics)
        }
        Err(error) => {
            diagnostics.error(error.at, error.message);
            None
        }
    };
    match plan {
        Some(plan) if diagnostics.count() == 0 => Ok(plan),
        _ => Err(PlanError::Invalid {
            file: file.to_path_buf(),
            diagnostics: diagnostics.into_sorted(),
        }),
    }
}
