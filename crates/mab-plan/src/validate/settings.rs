//! The build settings that `defaults`, an image and a platform's `overrides` share, validated
//! by one decoder (each level gives some of them), and how a level's values are laid over the
//! level above: replaced, or merged name by name.

use std::collections::{BTreeMap, HashMap};

use mab_platform::Platform;

use super::mounts::Keyed;
use super::{Validator, or_default};
use crate::mounts::{BuildSecret, SshForward};
use crate::plan::Annotations;
use crate::raw::{Field, Item, RawAnnotations, RawMap, RawSettings, Text};
use crate::tree::Position;
use crate::{BuilderKind, CacheExport, LayerCompression, ManifestFormat};

/// The settings of one level (`defaults`, an image, or a platform's overrides), validated:
/// `Absent` when not given (or not a key of that level), `Invalid` when given but wrong (already
/// reported). The paths (`context`, `dockerfile`, `target`) are not here: they depend on each
/// other and on the level (see [`crate::validate::files`]).
#[derive(Clone)]
pub(super) struct Settings {
    /// Registry prefixes (`host[:port][/namespace]`) for images given by `name`; with the
    /// position of the first item.
    pub(super) registries: Field<(Vec<String>, Position)>,
    pub(super) platforms: Field<Vec<(Platform, Position)>>,
    pub(super) tags: Field<Vec<String>>,
    pub(super) build_args: Field<BTreeMap<String, String>>,
    pub(super) labels: Field<BTreeMap<String, String>>,
    pub(super) annotations: Field<(Annotations, Position)>,
    pub(super) no_cache: Field<bool>,
    pub(super) pull: Field<bool>,
    pub(super) cache_from: Field<Vec<String>>,
    pub(super) cache_to: Field<(CacheExport, Position)>,
    pub(super) builder: Field<(BuilderKind, Position)>,
    pub(super) secrets: Field<Keyed<BuildSecret>>,
    pub(super) ssh: Field<Keyed<SshForward>>,
    pub(super) format: Field<ManifestFormat>,
    pub(super) compression: Field<(LayerCompression, Position)>,
    pub(super) attestations: Field<super::supply::LevelAttestations>,
    pub(super) sign: Field<super::supply::LevelSign>,
}

/// A level's entries by id, without where its list starts (for [`merge`]).
pub(super) fn entries<T: Clone>(field: &Field<Keyed<T>>) -> Field<BTreeMap<String, T>> {
    field.clone().map(|(entries, _)| entries)
}

/// A level's own value if it has one, else the one of the level above.
pub(super) fn pick<T: Clone>(own: &Field<T>, default: &Field<T>) -> Field<T> {
    match own {
        Field::Absent => default.clone(),
        other => other.clone(),
    }
}

/// The entries of the level above with the level's own merged over them, name by name.
pub(super) fn merge<V: Clone>(
    own: &Field<BTreeMap<String, V>>,
    default: &Field<BTreeMap<String, V>>,
) -> Field<BTreeMap<String, V>> {
    match (own, default) {
        (Field::Invalid, _) | (_, Field::Invalid) => Field::Invalid,
        (Field::Absent, Field::Absent) => Field::Absent,
        (Field::Given(map), Field::Absent) | (Field::Absent, Field::Given(map)) => {
            Field::Given(map.clone())
        }
        (Field::Given(own), Field::Given(default)) => {
            let mut merged = default.clone();
            merged.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
            Field::Given(merged)
        }
    }
}

impl Validator<'_, '_, '_, '_> {
    /// Validates the settings of `defaults`, of an image or of a platform's overrides, but for
    /// `registries` (which only matter for where an image goes: see [`Validator::identity`]).
    pub(super) fn settings(&mut self, raw: &RawSettings) -> Settings {
        Settings {
            registries: Field::Absent,
            platforms: self.platforms(&raw.platforms),
            tags: self.tags(&raw.tags),
            build_args: self.build_args(&raw.build_args),
            labels: self.labels(&raw.labels, "label"),
            annotations: self.annotations(&raw.annotations),
            no_cache: raw.no_cache.clone(),
            pull: raw.pull.clone(),
            cache_from: self.cache_images(&raw.cache_from),
            cache_to: raw.cache_to.clone(),
            builder: raw.builder.clone(),
            secrets: self.secrets(&raw.secrets),
            ssh: self.ssh(&raw.ssh),
            format: raw.format.clone(),
            compression: raw.compression.clone(),
            attestations: self.level_attestations(&raw.attestations),
            sign: self.level_sign(&raw.sign),
        }
    }

    pub(super) fn platforms(
        &mut self,
        field: &Field<Vec<Item<Text>>>,
    ) -> Field<Vec<(Platform, Position)>> {
        let list = match field {
            Field::Absent => return Field::Absent,
            Field::Invalid => return Field::Invalid,
            Field::Given(list) => list,
        };
        let mut platforms: Vec<(Platform, Position)> = Vec::new();
        let mut first_seen: HashMap<Platform, &Text> = HashMap::new();
        let mut valid = true;
        for text in list {
            let Some(text) = text else {
                valid = false;
                continue;
            };
            let platform = match text.value.parse::<Platform>() {
                Ok(platform) => platform,
                Err(error) => {
                    self.diagnostics.error(text.at, error.to_string());
                    valid = false;
                    continue;
                }
            };
            if let Some(first) = first_seen.get(&platform) {
                let message = if first.value == text.value {
                    format!(
                        "platform `{}` is listed twice (first at line {}, column {})",
                        text.value, first.at.line, first.at.column
                    )
                } else {
                    format!(
                        "platform `{}` is the same as `{}` (line {}, column {}): both are {platform}",
                        text.value, first.value, first.at.line, first.at.column
                    )
                };
                self.diagnostics.error(text.at, message);
                valid = false;
                continue;
            }
            first_seen.insert(platform.clone(), text);
            platforms.push((platform, text.at));
        }
        if valid {
            Field::Given(platforms)
        } else {
            Field::Invalid
        }
    }

    pub(super) fn build_args(&mut self, field: &Field<RawMap>) -> Field<BTreeMap<String, String>> {
        self.map(field, "build arg", |name| {
            is_variable_name(name)
                .then_some(())
                .ok_or_else(|| "use letters, digits and `_`, not starting with a digit".to_string())
        })
    }

    pub(super) fn labels(
        &mut self,
        field: &Field<RawMap>,
        what: &str,
    ) -> Field<BTreeMap<String, String>> {
        self.map(field, what, check_key)
    }

    pub(super) fn annotations(
        &mut self,
        field: &Field<RawAnnotations>,
    ) -> Field<(Annotations, Position)> {
        let raw = match field {
            Field::Absent => return Field::Absent,
            Field::Invalid => return Field::Invalid,
            Field::Given(raw) => raw,
        };
        let index = self.labels(&raw.index, "annotation");
        let manifest = self.labels(&raw.manifest, "annotation");
        match (
            or_default(index, BTreeMap::new),
            or_default(manifest, BTreeMap::new),
        ) {
            (Some(index), Some(manifest)) => {
                Field::Given((Annotations { index, manifest }, raw.at))
            }
            _ => Field::Invalid,
        }
    }

    /// A mapping of names to expanded values; `check` says what is wrong with a name.
    pub(super) fn map(
        &mut self,
        field: &Field<RawMap>,
        what: &str,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> Field<BTreeMap<String, String>> {
        let entries = match field {
            Field::Invalid => return Field::Invalid,
            Field::Absent => return Field::Absent,
            Field::Given(entries) => entries,
        };
        let mut out = BTreeMap::new();
        let mut first_seen: HashMap<&str, Position> = HashMap::new();
        let mut valid = true;
        for (name, value) in entries {
            if let Err(reason) = check(&name.value) {
                self.diagnostics.error(
                    name.at,
                    format!("invalid {what} name `{}`: {reason}", name.value),
                );
                valid = false;
            } else if let Some(first) = first_seen.get(name.value.as_str()) {
                self.diagnostics.error(
                    name.at,
                    format!(
                        "{what} `{}` is given twice (first at line {})",
                        name.value, first.line
                    ),
                );
                valid = false;
            } else {
                first_seen.insert(&name.value, name.at);
            }
            match value.as_ref().and_then(|value| self.expand(value)) {
                Some(expanded) => {
                    out.insert(name.value.clone(), expanded);
                }
                None => valid = false,
            }
        }
        if valid {
            Field::Given(out)
        } else {
            Field::Invalid
        }
    }
}

/// A label or annotation name: not empty, no whitespace or control characters.
fn check_key(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".to_string());
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("it contains whitespace".to_string());
    }
    Ok(())
}

/// `[A-Za-z_][A-Za-z0-9_]*`: a build arg or environment variable name.
pub(super) fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_variable_names() {
        for good in ["A", "_a", "HTTP_PROXY", "a1"] {
            assert!(is_variable_name(good), "{good}");
        }
        for bad in ["", "1A", "MY-ARG", "A B", "A.B"] {
            assert!(!is_variable_name(bad), "{bad}");
        }
    }
}
