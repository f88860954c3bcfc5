//! From the plan as written to a [`Plan`]: merging `defaults` into each image, expanding
//! variables, parsing platforms, tags and repositories, resolving paths, checking that the
//! context folders, Dockerfiles and build stages exist, and ordering images by `depends_on`.
//!
//! One [`Validator`] carries the environment and the diagnostics; each subject has its own file
//! with its part of the validator: `registries` (the registry settings), `builders` (the build
//! daemons), `repositories` (where each image goes), `settings` (the build settings that
//! `defaults`, an image and a platform's overrides share, decoded once), `tags`, `files` (the
//! context folders, Dockerfiles, stages and other files the plan names), `images` (one image,
//! its defaults merged in, and its per-platform overrides) and `order` (`depends_on`).

mod builders;
mod cache;
mod files;
mod images;
mod mounts;
mod order;
mod registries;
mod repositories;
mod settings;
mod supply;
mod tags;

use std::path::Path;

use crate::diagnostic::Diagnostics;
use crate::expand::expand;
use crate::raw::{Field, RawPlan, Text};
use crate::{GitValue, ImageSpec, Plan, PlanEnv};
use repositories::Identity;

/// Validates `raw`, reporting every problem into `diagnostics`. Returns a plan only when the
/// whole plan (including the problems found before, in `diagnostics`) is valid.
pub(crate) fn validate(
    file: &Path,
    raw: RawPlan,
    env: &dyn PlanEnv,
    diagnostics: &mut Diagnostics,
) -> Option<Plan> {
    let plan_dir = file.parent().unwrap_or(Path::new(""));
    let mut validator = Validator {
        env,
        diagnostics,
        plan_dir,
    };
    let registries = validator.registries(raw.registries);
    let builders = validator.builders(&raw.builders);
    let mut defaults = validator.settings(&raw.defaults);
    defaults.registries = validator.registry_prefixes(&raw.defaults.registries);

    // Where each image goes, first: duplicates and `depends_on` need all of them.
    let identities: Vec<Option<Identity>> = raw
        .images
        .iter()
        .map(|image| validator.identity(image, &defaults))
        .collect();
    validator.duplicate_repositories(&identities);

    let mut images = Vec::new();
    for (raw_image, identity) in raw.images.iter().zip(&identities) {
        let image = validator.image(raw_image, &defaults);
        if let (Some(image), Some(identity)) = (image, identity) {
            images.push((image, identity));
        }
    }
    let dependencies = validator.dependencies(&raw.images, &identities);
    let order = validator.order(&raw.images, &dependencies, &identities);
    if validator.diagnostics.count() != 0 || images.len() != raw.images.len() {
        return None;
    }
    let order = order?;
    let images: Vec<ImageSpec> = images
        .into_iter()
        .zip(dependencies)
        .map(|((image, identity), depends_on)| ImageSpec {
            name: identity.name.clone(),
            repositories: identity.repositories.iter().map(|r| r.0.clone()).collect(),
            depends_on_names: depends_on
                .iter()
                .map(|&(index, _)| {
                    identities[index]
                        .as_ref()
                        .map(Identity::label)
                        .unwrap_or_default()
                })
                .collect(),
            depends_on: depends_on.into_iter().map(|(index, _)| index).collect(),
            ..image
        })
        .collect();
    (validator.diagnostics.count() == 0).then(|| Plan {
        file: file.to_path_buf(),
        registries,
        builders,
        images,
        order,
    })
}

/// A `Field` as an `Option` of its value: `None` when invalid, the default when absent.
pub(super) fn or_default<T>(field: Field<T>, default: impl FnOnce() -> T) -> Option<T> {
    match field {
        Field::Given(value) => Some(value),
        Field::Absent => Some(default()),
        Field::Invalid => None,
    }
}

/// Checks the plan as written, reporting every problem into `diagnostics`.
struct Validator<'e, 'd, 't, 'p> {
    env: &'e dyn PlanEnv,
    diagnostics: &'d mut Diagnostics<'t>,
    plan_dir: &'p Path,
}

impl Validator<'_, '_, '_, '_> {
    /// Expands `${VAR}` in `text`, reporting problems at their place in the value.
    fn expand(&mut self, text: &Text) -> Option<String> {
        let env = self.env;
        let lookup = |name: &str| -> Result<Option<String>, String> {
            if let Some(value) = env.var(name) {
                return Ok(Some(value));
            }
            match name {
                "GIT_SHA" => env.git(GitValue::Sha).map(Some),
                "GIT_TAG" => env.git(GitValue::Tag).map(Some),
                _ => Ok(None),
            }
        };
        match expand(&text.value, &lookup) {
            Ok(value) => Some(value),
            Err(errors) => {
                for error in errors {
                    self.diagnostics
                        .error(text.position_of(error.offset), error.message);
                }
                None
            }
        }
    }
}

impl Validator<'_, '_, '_, '_> {
    /// Expands `text` like [`Validator::expand`], and reports an empty result as `what` (e.g.
    /// "`context`") being empty, followed by `advice` (e.g. "; leave it out to ...").
    fn expand_non_empty(&mut self, text: &Text, what: &str, advice: &str) -> Option<String> {
        let value = self.expand(text)?;
        if value.is_empty() {
            self.diagnostics
                .error(text.at, format!("{what} is empty{}{advice}", from(text)));
            return None;
        }
        Some(value)
    }
}

/// Whether `value` is not empty and only letters, digits, `_`, `.` and `-` (the characters of
/// tags and of the ids of secrets and ssh); `rule` says so in the explanation.
fn check_characters(value: &str, rule: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("it is empty".to_string());
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    match value.chars().find(|c| !allowed(*c)) {
        Some(bad) if bad.is_whitespace() => Err(format!("whitespace is not allowed; {rule}")),
        Some(bad) => Err(format!("`{bad}` is not allowed; {rule}")),
        None => Ok(()),
    }
}

/// `` `value` ``, followed by what it was expanded from when that differs.
pub(super) fn shown(text: &Text, expanded: &str) -> String {
    if text.value == expanded {
        format!("`{expanded}`")
    } else {
        format!("`{expanded}` (expanded from `{}`)", text.value)
    }
}

/// ` (expanded from `...`)` when the value has variables, or nothing.
pub(super) fn from(text: &Text) -> String {
    if text.value.contains('$') {
        format!(" (expanded from `{}`)", text.value)
    } else {
        String::new()
    }
}
