//! Just enough of the Dockerfile language to find the base images of every stage and pin them.
//!
//! The reading follows Docker's (BuildKit's `frontend/dockerfile/parser` and `shell` packages,
//! which the classic builder of Docker 20.10 also uses): parser directives at the top
//! (`# syntax=`, `# escape=`), comment lines, line continuations with the escape character
//! (comment and blank lines inside a continuation are skipped), case-insensitive instruction
//! names, heredocs of `RUN`/`COPY`/`ADD` skipped over, and the global `ARG`s before the first
//! `FROM` substituted into `FROM` lines with the shell-like rules of Docker (`$VAR`, `${VAR}`,
//! `${VAR:-default}`, `${VAR:+alt}`, `${VAR-default}`, `${VAR+alt}`, `${VAR:?message}`, quotes
//! and escapes).
//!
//! It also says what the Dockerfile needs of a builder, so that a caller can refuse, naming the
//! feature and its line, a Dockerfile the chosen builder cannot build right, and check the
//! secrets and ssh agents it mounts before building: the `# syntax=` frontend, every use of a
//! BuildKit-era feature ([`Feature`]: heredocs, `COPY --link`, `RUN --mount`, `FROM
//! --platform=$BUILDPLATFORM`, ...), the secret and ssh mounts, and which of those an engine
//! version's builder lacks. Other instructions are only read that far: nothing else of them is
//! interpreted.
//!
//! One idea per file:
//! - `lines.rs`: physical lines, continuations joined into logical lines, and where each byte
//!   of a logical line was in the text;
//! - `directives.rs`: the parser directives at the top of the file;
//! - `heredoc.rs`: heredoc markers on an instruction line and skipping their bodies;
//! - `words.rs`: splitting an instruction's arguments into flags and words;
//! - `expand.rs`: Docker's shell-word substitution (`$VAR`, `${VAR:-x}`, quotes, escapes);
//! - `parse.rs`: instruction by instruction: global `ARG`s and `FROM` stages;
//! - `syntax.rs`: the `# syntax=` directive and whether the built-in frontend may stand in;
//! - `features.rs`: the features each instruction uses, from its flags and arguments;
//! - `mounts.rs`: `RUN --mount=` values, secret and ssh mounts and their ids;
//! - `reach.rs`: which stages a target needs, and the secret and ssh ids they mount;
//! - `engine.rs`: which engine version's builder has which feature;
//! - `pin.rs`: the text with each `FROM` line's image word replaced.
//!
//! It must not know daemons, registries or how a base image is resolved: the caller gives the
//! build args and the image ids to pin.

mod directives;
mod engine;
mod expand;
mod features;
mod heredoc;
mod lines;
mod mounts;
mod parse;
mod pin;
mod reach;
mod syntax;
mod words;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::BuildError;
use lines::SourceSpan;

pub use engine::{EngineVersion, Unsupported};
pub use features::{Feature, FeatureUse};
pub use mounts::{IdMount, MountType, MountedId};
pub use syntax::Syntax;
pub(crate) use syntax::without_syntax_directive;

/// An external image named by a `FROM` line (not `scratch`, not an earlier stage).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BaseImage {
    /// The image reference after ARG substitution, as written (e.g. `alpine`, `127.0.0.1:5000/a/b:1`).
    pub reference: String,
    /// The platform from `FROM --platform=...` after substitution, if the line has the flag
    /// (a flag that substitutes to an empty value counts as absent, as in Docker).
    pub platform: Option<String>,
}

/// What a build stage starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageBase {
    /// An external image, to be found on the daemon or pulled.
    Image(BaseImage),
    /// An earlier stage of the same Dockerfile (its index in [`Dockerfile::stages`]), named by
    /// its `AS` name (case-insensitively) or by its index.
    Stage(usize),
    /// `scratch`, the empty image.
    Scratch,
}

/// One build stage: a `FROM` line and what it starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// The 1-based line number where the `FROM` instruction starts.
    pub line: usize,
    /// The stage name given with `AS name`, lower-cased as Docker does, if any.
    pub name: Option<String>,
    /// What the stage starts from.
    pub base: StageBase,
}

/// A parsed Dockerfile: its text, the stages found in it and what it uses.
#[derive(Debug, Clone)]
pub struct Dockerfile {
    path: PathBuf,
    text: String,
    escape: char,
    syntax: Option<Syntax>,
    check: Option<String>,
    stages: Vec<Stage>,
    /// Where the image word of each stage's `FROM` line is in `text`, one per stage.
    image_words: Vec<SourceSpan>,
    features: Vec<FeatureUse>,
    secret_mounts: Vec<IdMount>,
    ssh_mounts: Vec<IdMount>,
    /// The names in `COPY --from=` and `RUN --mount=from=`, with the stage using each.
    references: Vec<features::StageReference>,
    /// Whether an `ADD` fetches a URL or a git repository.
    remote_sources: bool,
}

impl Dockerfile {
    /// Parses `text` (read from `path`, named in errors) with the given build args.
    ///
    /// Only the global `ARG`s (those before the first `FROM`) and the automatic platform args
    /// (`BUILDPLATFORM`, `TARGETARCH`, ...) are visible in `FROM` lines, as in Docker: a build
    /// arg overrides the default of the `ARG` that declares it, and build args that no global
    /// `ARG` declares are not visible.
    pub fn parse(
        path: &Path,
        text: &str,
        build_args: &BTreeMap<String, String>,
    ) -> Result<Self, BuildError> {
        parse::Parser::new(path, text, build_args).run()
    }

    /// Every distinct external base image, in order of first use.
    pub fn base_images(&self) -> Vec<BaseImage> {
        let mut images: Vec<BaseImage> = Vec::new();
        for stage in &self.stages {
            if let StageBase::Image(image) = &stage.base
                && !images.contains(image)
            {
                images.push(image.clone());
            }
        }
        images
    }

    /// Every build stage, in order.
    pub fn stages(&self) -> &[Stage] {
        &self.stages
    }

    /// The text the Dockerfile was parsed from.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The path the Dockerfile was read from (as given to [`Dockerfile::parse`]).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The `# syntax=` directive: the frontend image BuildKit would pull to read the file.
    pub fn syntax(&self) -> Option<&Syntax> {
        self.syntax.as_ref()
    }

    /// The escape character (`\`, or `` ` `` from `# escape=`).
    pub fn escape(&self) -> char {
        self.escape
    }

    /// The value of the `# check=` directive (BuildKit's build checks), if any.
    pub fn check(&self) -> Option<&str> {
        self.check.as_deref()
    }

    /// Whether an `ADD` fetches a URL or a git repository: what the build gets then is not
    /// known from the Dockerfile and its context alone.
    pub fn reads_remote_sources(&self) -> bool {
        self.remote_sources
    }

    /// Every use of a [`Feature`], in order of lines (a heredoc counts once per instruction,
    /// a mount once per `--mount`). Heredoc bodies are never read as instructions.
    pub fn features(&self) -> &[FeatureUse] {
        &self.features
    }

    /// Every `RUN --mount=type=secret`, in order. See [`Dockerfile::secret_ids`].
    pub fn secret_mounts(&self) -> &[IdMount] {
        &self.secret_mounts
    }

    /// Every `RUN --mount=type=ssh`, in order. See [`Dockerfile::ssh_ids`].
    pub fn ssh_mounts(&self) -> &[IdMount] {
        &self.ssh_mounts
    }
}
