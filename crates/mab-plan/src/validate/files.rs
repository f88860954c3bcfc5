//! The files and folders a plan names: files relative to the plan's folder, context folders,
//! Dockerfiles (relative to their context) and build stages (`target`, checked against the
//! Dockerfile when the environment can read it). Paths are normalised lexically, never resolved
//! on the filesystem.

use std::path::{Component, Path, PathBuf};

use super::{Validator, shown};
use crate::PlanEnv;
use crate::raw::{Field, Text};
use crate::suggest::closest;
use crate::tree::Position;

impl Validator<'_, '_, '_, '_> {
    /// A file named by `text` (the value of `key`) relative to the plan's folder: expanded, not
    /// empty, existing; `not_found(path, plan_dir)` says what is wrong when it does not exist.
    pub(super) fn plan_file(
        &mut self,
        text: &Text,
        key: &str,
        not_found: impl FnOnce(&Path, &Path) -> String,
    ) -> Option<PathBuf> {
        self.plan_path(
            text,
            &format!("`{key}`"),
            |env, path| env.is_file(path),
            not_found,
        )
    }

    /// A path named by `text` (`what`, e.g. "`file`") relative to the plan's folder: expanded,
    /// not empty, and `accepted` by the environment; `not_found(path, plan_dir)` says what is
    /// wrong when it is not.
    pub(super) fn plan_path(
        &mut self,
        text: &Text,
        what: &str,
        accepted: impl FnOnce(&dyn PlanEnv, &Path) -> bool,
        not_found: impl FnOnce(&Path, &Path) -> String,
    ) -> Option<PathBuf> {
        let value = self.expand_non_empty(text, what, "")?;
        let path = normalize(&self.plan_dir.join(&value));
        if !accepted(self.env, &path) {
            let message = not_found(&path, &normalize(self.plan_dir));
            self.diagnostics.error(text.at, message);
            return None;
        }
        Some(path)
    }

    pub(super) fn context_dir(
        &mut self,
        field: &Field<Text>,
        image_at: Position,
    ) -> Option<PathBuf> {
        let (context, at) = match field {
            Field::Invalid => return None,
            Field::Absent => (".".to_string(), image_at),
            Field::Given(text) => {
                let context =
                    self.expand_non_empty(text, "`context`", "; use `.` for the plan's folder")?;
                (context, text.at)
            }
        };
        let context_dir = normalize(&self.plan_dir.join(&context));
        if !self.env.is_dir(&context_dir) {
            self.diagnostics.error(
                at,
                format!(
                    "context folder `{}` not found (`context` is relative to the plan's folder, `{}`)",
                    context_dir.display(),
                    normalize(self.plan_dir).display()
                ),
            );
            return None;
        }
        Some(context_dir)
    }

    /// The Dockerfile's path; whether it exists is checked only when the context folder does.
    /// `absent_at` is where to point when `field` is absent (the context, or the image);
    /// `overridden_for` names the platform whose override moved the context.
    pub(super) fn dockerfile(
        &mut self,
        context_dir: Option<&Path>,
        field: &Field<Text>,
        absent_at: Position,
        overridden_for: Option<&str>,
    ) -> Option<PathBuf> {
        let (dockerfile, at, given) = match field {
            Field::Invalid => return None,
            Field::Absent => ("Dockerfile".to_string(), absent_at, false),
            Field::Given(text) => {
                let dockerfile = self.expand_non_empty(
                    text,
                    "`dockerfile`",
                    "; leave it out to use `Dockerfile`",
                )?;
                (
                    dockerfile,
                    if overridden_for.is_some() {
                        absent_at
                    } else {
                        text.at
                    },
                    true,
                )
            }
        };
        let context_dir = context_dir?;
        let path = normalize(&context_dir.join(&dockerfile));
        if !self.env.is_file(&path) {
            let message = match (overridden_for, given) {
                (Some(platform), _) => format!(
                    "dockerfile `{}` not found (the overrides for `{platform}` change the context \
                     folder to `{}`, and the image's `dockerfile` is relative to it)",
                    path.display(),
                    context_dir.display()
                ),
                (None, true) => format!(
                    "dockerfile `{}` not found (`dockerfile` is relative to the context folder, `{}`)",
                    path.display(),
                    context_dir.display()
                ),
                (None, false) => format!(
                    "dockerfile `{}` not found (this image has no `dockerfile`, so it is \
                     `Dockerfile` in the context folder, `{}`)",
                    path.display(),
                    context_dir.display()
                ),
            };
            self.diagnostics.error(at, message);
            return None;
        }
        Some(path)
    }

    /// `target`, checked against the stages of the Dockerfile when the environment can read it.
    /// `Some(None)` when there is none.
    pub(super) fn target(
        &mut self,
        field: &Field<Text>,
        dockerfile: Option<&Path>,
    ) -> Option<Option<String>> {
        let Some(text) = field.optional()? else {
            return Some(None);
        };
        let target =
            self.expand_non_empty(text, "`target`", "; leave it out to build the last stage")?;
        let Some(dockerfile) = dockerfile else {
            return Some(Some(target));
        };
        let Some(contents) = self.env.read_file(dockerfile) else {
            return Some(Some(target));
        };
        let stages = stage_names(&contents);
        if stages.iter().any(|s| s.eq_ignore_ascii_case(&target)) {
            return Some(Some(target));
        }
        let known: Vec<&str> = stages.iter().map(String::as_str).collect();
        let message = if known.is_empty() {
            format!(
                "build stage {} not found: dockerfile `{}` names no stage (`FROM image AS name`)",
                shown(text, &target),
                dockerfile.display()
            )
        } else {
            let hint = closest(&target, &known)
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            format!(
                "build stage {} not found in dockerfile `{}`; its stages: {}{hint}",
                shown(text, &target),
                dockerfile.display(),
                known.join(", ")
            )
        };
        self.diagnostics.error(text.at, message);
        None
    }
}

/// The names of a Dockerfile's stages (`FROM image AS name`), lower-cased as Docker does.
fn stage_names(dockerfile: &str) -> Vec<String> {
    dockerfile
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                [from, .., r#as, name]
                    if from.eq_ignore_ascii_case("from") && r#as.eq_ignore_ascii_case("as") =>
                {
                    Some(name.to_ascii_lowercase())
                }
                _ => None,
            }
        })
        .collect()
}

/// Resolves `.` and `..` without touching the filesystem. `..` above a relative start is kept;
/// above the root it is dropped. An empty result is `.`.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out: Vec<Component> = Vec::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(component),
            },
            other => out.push(other),
        }
    }
    if out.is_empty() {
        return PathBuf::from(".");
    }
    out.iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_lexically() {
        let cases = [
            ("", "."),
            (".", "."),
            ("./.", "."),
            ("a/./b", "a/b"),
            ("a/b/..", "a"),
            ("a/..", "."),
            ("../a", "../a"),
            ("a/../../b", "../b"),
            ("/a/../..", "/"),
            ("/x/./y/../Dockerfile", "/x/Dockerfile"),
            (
                "examples/x/../shared/Dockerfile",
                "examples/shared/Dockerfile",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(normalize(Path::new(input)), PathBuf::from(want), "{input}");
        }
    }
}
