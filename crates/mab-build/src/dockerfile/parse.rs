//! Reading a Dockerfile instruction by instruction: directives at the top, then each logical
//! line's keyword; the global `ARG`s (before the first `FROM`) are evaluated with the build
//! args, and each `FROM` becomes a [`Stage`] with its base (an image, an earlier stage or
//! `scratch`) and where its image word is, for pinning. Heredoc bodies are skipped.
//!
//! It must not know how bases are resolved or pinned, nor daemons.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::directives::Directives;
use super::expand::{expand_word, referenced_names};
use super::features::{At, Feature, Uses};
use super::heredoc::{heredocs, skip_body};
use super::lines::{LogicalLine, PhysicalLine, SourceSpan, logical_line, physical_lines};
use super::words::{builder_flags, is_word_separator, separated_words, shell_words};
use super::{BaseImage, Dockerfile, FeatureUse, Stage, StageBase};
use crate::BuildError;

/// The build args Docker (BuildKit) defines by itself: they are visible in `FROM` lines even
/// without a global `ARG` declaring them (the caller passes their values in the build args).
pub(super) const AUTOMATIC_PLATFORM_ARGS: [&str; 8] = [
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDARCH",
    "BUILDVARIANT",
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETARCH",
    "TARGETVARIANT",
];

/// The automatic args that name the platform the builder runs on.
const BUILD_PLATFORM_ARGS: [&str; 4] = ["BUILDPLATFORM", "BUILDOS", "BUILDARCH", "BUILDVARIANT"];

/// The instructions whose arguments may start heredocs.
const HEREDOC_INSTRUCTIONS: [&str; 3] = ["run", "copy", "add"];

/// The image name that means "no base image".
const SCRATCH: &str = "scratch";

/// Reads a Dockerfile, instruction by instruction.
pub(super) struct Parser<'a> {
    path: &'a Path,
    text: &'a str,
    build_args: &'a BTreeMap<String, String>,
    escape: char,
    /// The values of the global ARGs (and automatic platform args) visible in `FROM` lines.
    global_args: HashMap<String, String>,
    /// The names the global ARGs declare (with or without a value).
    declared_globals: HashSet<String>,
    stages: Vec<Stage>,
    image_words: Vec<SourceSpan>,
    uses: Uses,
}

impl<'a> Parser<'a> {
    pub(super) fn new(
        path: &'a Path,
        text: &'a str,
        build_args: &'a BTreeMap<String, String>,
    ) -> Self {
        let global_args = AUTOMATIC_PLATFORM_ARGS
            .iter()
            .filter_map(|name| {
                build_args
                    .get(*name)
                    .map(|value| (name.to_string(), value.clone()))
            })
            .collect();
        Parser {
            path,
            text,
            build_args,
            escape: '\\',
            global_args,
            declared_globals: HashSet::new(),
            stages: Vec::new(),
            image_words: Vec::new(),
            uses: Uses::default(),
        }
    }

    fn error(&self, line: usize, message: impl Into<String>) -> BuildError {
        BuildError::DockerfileSyntax {
            path: PathBuf::from(self.path),
            line,
            message: message.into(),
        }
    }

    pub(super) fn run(mut self) -> Result<Dockerfile, BuildError> {
        let lines = physical_lines(self.text);
        let mut directives = Directives::new();
        let mut next = 0;
        while next < lines.len() {
            let line = &lines[next];
            next += 1;
            let content = line.content.trim_start();
            if !directives.done() {
                directives
                    .read(content, line.number)
                    .map_err(|message| self.error(line.number, message))?;
                self.escape = directives.escape();
            }
            if content.starts_with('#') {
                continue;
            }
            let Some(logical) = logical_line(&lines, line, &mut next, self.escape) else {
                continue;
            };
            next = self.instruction(&logical, &lines, next)?;
        }
        if self.stages.is_empty() {
            return Err(self.error(
                1,
                "no FROM instruction: a Dockerfile needs at least one stage",
            ));
        }
        Ok(Dockerfile {
            path: self.path.to_path_buf(),
            text: self.text.to_string(),
            escape: self.escape,
            syntax: directives.syntax().cloned(),
            check: directives.check().map(str::to_string),
            stages: self.stages,
            image_words: self.image_words,
            features: self.uses.features,
            secret_mounts: self.uses.secrets,
            ssh_mounts: self.uses.ssh,
            references: self.uses.references,
            remote_sources: self.uses.remote_sources,
        })
    }

    /// Handles one instruction; returns the index of the next physical line to read (after the
    /// heredocs of the instruction, if any).
    fn instruction(
        &mut self,
        logical: &LogicalLine,
        lines: &[PhysicalLine<'_>],
        mut next: usize,
    ) -> Result<usize, BuildError> {
        let text = logical.text.as_str();
        let trimmed_start = text.len() - text.trim_start().len();
        let trimmed = text.trim();
        let keyword_len = trimmed.find(is_word_separator).unwrap_or(trimmed.len());
        let keyword = trimmed[..keyword_len].to_ascii_lowercase();
        let rest_start = trimmed_start
            + keyword_len
            + (trimmed[keyword_len..].len()
                - trimmed[keyword_len..]
                    .trim_start_matches(is_word_separator)
                    .len());
        let rest = &text[rest_start..];

        match keyword.as_str() {
            "from" => self.from(logical, rest_start)?,
            "arg" if self.stages.is_empty() => self.global_arg(logical.first_line, rest)?,
            "arg" => {}
            other if self.stages.is_empty() => {
                return Err(self.error(
                    logical.first_line,
                    format!(
                        "{} instruction before the first FROM (only ARG may come before it)",
                        other.to_ascii_uppercase()
                    ),
                ));
            }
            _ => {}
        }

        // `ONBUILD RUN <<EOF` has a heredoc too (its body belongs to the ONBUILD).
        let heredoc_keyword = match keyword.as_str() {
            "onbuild" => rest
                .split(is_word_separator)
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase(),
            _ => keyword.clone(),
        };
        let heredocs = if HEREDOC_INSTRUCTIONS.contains(&heredoc_keyword.as_str()) {
            heredocs(rest)
        } else {
            Vec::new()
        };
        if let Some(stage) = self.stages.len().checked_sub(1)
            && keyword != "from"
        {
            let at = At {
                line: logical.first_line,
                stage,
            };
            self.uses
                .instruction(&keyword, rest, heredocs.len(), at)
                .map_err(|message| self.error(logical.first_line, message))?;
        }
        for heredoc in heredocs {
            next = skip_body(&heredoc, lines, next).ok_or_else(|| {
                self.error(
                    logical.first_line,
                    format!("unterminated heredoc {}", heredoc.terminator),
                )
            })?;
        }
        Ok(next)
    }

    fn global_arg(&mut self, line: usize, rest: &str) -> Result<(), BuildError> {
        let (_, flags_end) = builder_flags(rest);
        let words = shell_words(&rest[flags_end..], self.escape);
        if words.is_empty() {
            return Err(self.error(line, "ARG requires at least one argument"));
        }
        for word in words {
            let (name, default) = match word.split_once('=') {
                Some((name, default)) => (name, Some(default)),
                None => (word.as_str(), None),
            };
            if name.is_empty() {
                return Err(self.error(line, "ARG names can not be blank"));
            }
            self.declared_globals.insert(name.to_string());
            let value = match (self.build_args.get(name), default) {
                (Some(value), _) => Some(value.clone()),
                (None, Some(default)) => Some(
                    expand_word(default, &self.global_args, self.escape)
                        .map_err(|message| self.error(line, message))?,
                ),
                (None, None) => None,
            };
            match value {
                Some(value) => {
                    self.global_args.insert(name.to_string(), value);
                }
                None => {
                    self.global_args.remove(name);
                }
            }
        }
        Ok(())
    }

    fn from(&mut self, logical: &LogicalLine, rest_start: usize) -> Result<(), BuildError> {
        let line = logical.first_line;
        let rest = &logical.text[rest_start..];
        let (flags, flags_end) = builder_flags(rest);
        let args_start = rest_start + flags_end;
        let words = separated_words(&logical.text[args_start..]);
        let word_text =
            |range: &Range<usize>| &logical.text[args_start + range.start..args_start + range.end];
        let name = match words.as_slice() {
            [_] => None,
            [_, as_word, name_word] if word_text(as_word).eq_ignore_ascii_case("as") => {
                let written = word_text(name_word);
                let name = written.to_lowercase();
                if !is_valid_stage_name(&name) {
                    return Err(self.error(
                        line,
                        format!(
                            "invalid name for build stage: {written:?}, name can't start with a number or contain symbols"
                        ),
                    ));
                }
                Some(name)
            }
            _ => {
                return Err(self.error(
                    line,
                    "FROM requires either one or three arguments (FROM <image> [AS <name>])",
                ));
            }
        };

        let mut platform = None;
        for flag in &flags {
            let flag = flag.strip_prefix("--").unwrap_or(flag);
            match flag.split_once('=') {
                Some(("platform", value)) => {
                    let feature = self.platform_feature(value);
                    self.uses
                        .features
                        .push(FeatureUse::new(feature, line, self.stages.len()));
                    let value = expand_word(value, &self.global_args, self.escape)
                        .map_err(|message| self.error(line, message))?;
                    platform = Some(value).filter(|value| !value.is_empty());
                }
                None if flag == "platform" => {
                    return Err(self.error(line, "missing a value on flag: platform"));
                }
                _ => {
                    let flag_name = flag.split_once('=').map_or(flag, |(name, _)| name);
                    return Err(self.error(line, format!("unknown flag for FROM: {flag_name}")));
                }
            }
        }

        let image_range = words[0].start + args_start..words[0].end + args_start;
        let raw_image = &logical.text[image_range.clone()];
        let image = expand_word(raw_image, &self.global_args, self.escape)
            .map_err(|message| self.error(line, message))?;
        if image.is_empty() {
            return Err(self.error(
                line,
                format!("FROM names no image: {raw_image:?} is empty after ARG substitution"),
            ));
        }

        let earlier_stage = self
            .stages
            .iter()
            .position(|stage| {
                stage
                    .name
                    .as_deref()
                    .is_some_and(|name| name.eq_ignore_ascii_case(&image))
            })
            .or_else(|| {
                image
                    .parse::<usize>()
                    .ok()
                    .filter(|index| *index < self.stages.len())
            });
        let base = match earlier_stage {
            Some(index) => StageBase::Stage(index),
            None if image == SCRATCH => StageBase::Scratch,
            None => StageBase::Image(BaseImage {
                reference: image,
                platform,
            }),
        };
        self.stages.push(Stage { line, name, base });
        self.image_words.push(logical.source_span(image_range));
        Ok(())
    }
}

impl Parser<'_> {
    /// What a `FROM --platform=` value (as written) uses: an automatic build-platform arg, an
    /// automatic target arg no global `ARG` declares, or neither.
    fn platform_feature(&self, value: &str) -> Feature {
        let names = referenced_names(value);
        let uses = |args: &[&str]| names.iter().any(|name| args.contains(&name.as_str()));
        if uses(&BUILD_PLATFORM_ARGS) {
            Feature::FromBuildPlatform
        } else if names.iter().any(|name| {
            AUTOMATIC_PLATFORM_ARGS.contains(&name.as_str())
                && !self.declared_globals.contains(name)
        }) {
            Feature::FromTargetPlatform
        } else {
            Feature::FromPlatform
        }
    }
}

/// Docker's rule for stage names (checked on the lower-cased name): `[a-z][a-z0-9-_.]*`.
fn is_valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|first| first.is_ascii_lowercase())
        && chars.all(|ch| {
            ch.is_ascii_lowercase() || ch.is_ascii_digit() || matches!(ch, '-' | '_' | '.')
        })
}
