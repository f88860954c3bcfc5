//! Just enough of the Dockerfile language to find the base images of every stage and pin them.
//!
//! The reading follows Docker's (BuildKit's `frontend/dockerfile/parser` and `shell` packages,
//! which the classic builder of Docker 20.10 also uses): parser directives at the top
//! (`# syntax=`, `# escape=`), comment lines, line continuations with the escape character
//! (comment and blank lines inside a continuation are skipped), case-insensitive instruction
//! names, heredocs of `RUN`/`COPY`/`ADD` skipped over, and the global `ARG`s before the first
//! `FROM` substituted into `FROM` lines with the shell-like rules of Docker (`$VAR`, `${VAR}`,
//! `${VAR:-default}`, `${VAR:+alt}`, `${VAR-default}`, `${VAR+alt}`, `${VAR:?message}`, quotes
//! and escapes). Everything after the first `FROM` other than further `FROM` lines is left alone.
//!
//! One idea per file:
//! - `lines.rs`: physical lines, continuations joined into logical lines, and where each byte
//!   of a logical line was in the text;
//! - `directives.rs`: the parser directives at the top of the file;
//! - `heredoc.rs`: heredoc markers on an instruction line and skipping their bodies;
//! - `words.rs`: splitting an instruction's arguments into flags and words;
//! - `expand.rs`: Docker's shell-word substitution (`$VAR`, `${VAR:-x}`, quotes, escapes);
//! - `parse.rs`: instruction by instruction: global `ARG`s and `FROM` stages;
//! - `pin.rs`: the text with each `FROM` line's image word replaced.
//!
//! It must not know daemons, registries or how a base image is resolved: the caller gives the
//! build args and the image ids to pin.

mod directives;
mod expand;
mod heredoc;
mod lines;
mod parse;
mod pin;
mod words;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::Path;

use crate::BuildError;
use lines::SourceSpan;

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

/// A parsed Dockerfile: its text and the stages found in it.
#[derive(Debug, Clone)]
pub struct Dockerfile {
    text: String,
    escape: char,
    stages: Vec<Stage>,
    /// Where the image word of each stage's `FROM` line is in `text`, one per stage.
    image_words: Vec<SourceSpan>,
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
}
