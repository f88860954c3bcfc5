//! Reading the values of the tree: mappings with a fixed set of keys ([`Fields`]), and the
//! scalars, lists and free mappings their keys hold. Each reader reports what is wrong with the
//! node (and where) and goes on; it knows nothing about which key means what.

use std::collections::HashMap;

use super::{
    ANNOTATION_KEYS, ATTESTATION_KEYS, BUILDER_KEYS, DEFAULTS_KEYS, Field, IMAGE_KEYS, Item,
    PLAN_KEYS, REGISTRY_KEYS, RawMap, SECRET_KEYS, SEMVER_TAG_KEYS, SIGN_KEYS, SSH_KEYS, TLS_KEYS,
    Text,
};
use crate::diagnostic::Diagnostics;
use crate::suggest::closest;
use crate::tree::{Node, NodeValue, Position, ScalarKind};

/// The known keys of a mapping with a fixed set of keys, after reporting the others.
pub(super) struct Fields<'n> {
    at: Position,
    known: HashMap<&'static str, &'n Node>,
    /// What unknown keys were probably meant to be, to avoid also reporting them missing.
    suggested: Vec<&'static str>,
}

impl<'n> Fields<'n> {
    /// Reads a mapping, reporting a non-mapping (as `what`, which must be `expected`), keys that
    /// are not names, repeated keys and unknown keys (`where_` says where, e.g. "in an image").
    pub(super) fn read(
        node: &'n Node,
        what: &str,
        where_: &str,
        allowed: &'static [&'static str],
        diagnostics: &mut Diagnostics,
        expected: &str,
    ) -> Option<Self> {
        let NodeValue::Mapping(entries) = &node.value else {
            diagnostics.error(
                node.at,
                format!("{what} must be {expected}; found {}", node.describe()),
            );
            return None;
        };
        let mut fields = Fields {
            at: node.at,
            known: HashMap::new(),
            suggested: Vec::new(),
        };
        let mut first_seen: HashMap<String, Position> = HashMap::new();
        for (key, value) in entries {
            let Some(name) = scalar_key(key, diagnostics) else {
                continue;
            };
            if let Some(first) = first_seen.get(&name.value) {
                diagnostics.error(
                    key.at,
                    format!(
                        "duplicate key `{}` {where_} (first given at line {})",
                        name.value, first.line
                    ),
                );
                continue;
            }
            first_seen.insert(name.value.clone(), key.at);
            match allowed.iter().find(|allowed| **allowed == name.value) {
                Some(known) => {
                    fields.known.insert(known, value);
                }
                None => {
                    let suggestion = closest(&name.value, allowed);
                    fields.suggested.extend(suggestion);
                    let hint = match suggestion {
                        Some(suggestion) => format!(" (did you mean `{suggestion}`?)"),
                        None => misplaced(&name.value)
                            .map(|hint| format!(" ({hint})"))
                            .unwrap_or_default(),
                    };
                    diagnostics.error(
                        key.at,
                        format!(
                            "unknown key `{}` {where_}; allowed keys: {}{hint}",
                            name.value,
                            allowed.join(", "),
                        ),
                    );
                }
            }
        }
        Some(fields)
    }

    /// The value of `key`, taken out (so that each key is read once).
    pub(super) fn take(&mut self, key: &str) -> Option<&'n Node> {
        self.known.remove(key)
    }

    /// Whether `key` is given (and not taken yet).
    pub(super) fn has(&self, key: &str) -> bool {
        self.known.contains_key(key)
    }

    /// Reports a missing required key, unless an unknown key was probably meant to be it.
    pub(super) fn missing(&self, key: &str, message: &str, diagnostics: &mut Diagnostics) {
        self.missing_one_of(&[key], message, diagnostics);
    }

    /// Reports that none of `keys` is given (one of them is required), unless an unknown key
    /// was probably meant to be one of them.
    pub(super) fn missing_one_of(
        &self,
        keys: &[&str],
        message: &str,
        diagnostics: &mut Diagnostics,
    ) {
        if !keys.iter().any(|key| self.suggested.contains(key)) {
            diagnostics.error(self.at, message);
        }
    }
}

/// Where a key that is not allowed at some level belongs, for keys of another level.
fn misplaced(key: &str) -> Option<String> {
    if DEFAULTS_KEYS.contains(&key) {
        Some(format!(
            "`{key}` is a key of an image, under an entry of `images:`, or of `defaults:`; \
             check the indentation"
        ))
    } else if IMAGE_KEYS.contains(&key) {
        Some(format!(
            "`{key}` is a key of an image, under an entry of `images:`; check the indentation"
        ))
    } else if PLAN_KEYS.contains(&key) {
        Some(format!("`{key}` is a top-level key; check the indentation"))
    } else if REGISTRY_KEYS.contains(&key) {
        let example = if key == "ca_cert" {
            "certs/ca.pem"
        } else {
            "true"
        };
        Some(format!(
            "`{key}` is a registry setting, under `registries:` and a host, e.g. \
             `registries: {{ \"127.0.0.1:5000\": {{ {key}: {example} }} }}`"
        ))
    } else if BUILDER_KEYS.contains(&key) {
        Some(format!(
            "`{key}` is a key of a builder, under an entry of `builders:`; check the indentation"
        ))
    } else if TLS_KEYS.contains(&key) {
        Some(format!(
            "`{key}` belongs to a builder's `tls`, e.g. \
             `tls: {{ ca: certs/ca.pem, cert: certs/cert.pem, key: certs/key.pem }}`"
        ))
    } else if SEMVER_TAG_KEYS.contains(&key) {
        Some(format!(
            "`{key}` belongs to a semver tag, an item of `tags` such as \
             `{{ semver: \"1.2.3\", latest: true }}`"
        ))
    } else if ANNOTATION_KEYS.contains(&key) {
        Some(format!(
            "`{key}` is a level of `annotations`, e.g. `annotations: {{ {key}: {{ NAME: VALUE }} }}`"
        ))
    } else if ATTESTATION_KEYS.contains(&key) {
        Some(format!(
            "`{key}` belongs to `attestations`, e.g. `attestations: {{ provenance: true, sbom: true }}`"
        ))
    } else if SIGN_KEYS.contains(&key) {
        Some(format!(
            "`{key}` belongs to `sign`, e.g. `sign: {{ key: cosign.key, manifests: true }}`"
        ))
    } else if key == "id" {
        Some(
            "`id` belongs to an item of `secrets` or `ssh`, e.g. \
             `secrets: [{ id: npm, env: NPM_TOKEN }]`"
                .to_string(),
        )
    } else if SECRET_KEYS.contains(&key) {
        Some(format!(
            "`{key}` belongs to an item of `secrets`, e.g. `secrets: [{{ id: npm, {key}: {} }}]`",
            if key == "env" {
                "NPM_TOKEN"
            } else {
                "certs/npmrc"
            }
        ))
    } else if SSH_KEYS.contains(&key) {
        Some(format!(
            "`{key}` belongs to an item of `ssh`, e.g. `ssh: [{{ id: deploy, {key}: [keys/deploy_key] }}]`"
        ))
    } else {
        None
    }
}

/// A mapping of names to scalar values (`build_args`, `labels`, annotations); null is empty.
/// `what` names one entry in messages (`build arg`).
pub(super) fn string_map(
    node: &Node,
    key: &str,
    what: &str,
    expected: &str,
    diagnostics: &mut Diagnostics,
) -> Field<RawMap> {
    if node.is_null() {
        return Field::Given(Vec::new());
    }
    let Some(entries) = free_mapping(node, key, expected, diagnostics) else {
        return Field::Invalid;
    };
    let map = entries
        .into_iter()
        .map(|(name, value)| {
            let what = format!("{what} `{}`", name.value);
            (
                name,
                text_field(value, &what, "a string", diagnostics).item(),
            )
        })
        .collect();
    Field::Given(map)
}

/// `true` or `false`.
pub(super) fn flag(node: &Node, key: &str, diagnostics: &mut Diagnostics) -> Field<bool> {
    match &node.value {
        NodeValue::Scalar(scalar) if scalar.kind == ScalarKind::Bool => {
            Field::Given(scalar.text.eq_ignore_ascii_case("true"))
        }
        _ => {
            diagnostics.error(
                node.at,
                format!(
                    "`{key}` must be `true` or `false`; found {}",
                    node.describe()
                ),
            );
            Field::Invalid
        }
    }
}

/// One of a few words, such as `format: oci`: the value the word stands for, with where it was
/// written. `noun` names the setting in the message about an unknown word (`manifest format`).
pub(super) fn choice<T: Copy>(
    node: &Node,
    key: &str,
    noun: &str,
    words: &[(&'static str, T)],
    diagnostics: &mut Diagnostics,
) -> Field<(T, Position)> {
    let spelled: Vec<String> = words.iter().map(|(word, _)| format!("`{word}`")).collect();
    let listed = match spelled.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    };
    let Field::Given(text) = text_field(node, &format!("`{key}`"), &listed, diagnostics) else {
        return Field::Invalid;
    };
    if let Some((_, value)) = words.iter().find(|(word, _)| *word == text.value) {
        return Field::Given((*value, text.at));
    }
    let names: Vec<&str> = words.iter().map(|(word, _)| *word).collect();
    let suggestion = closest(&text.value, &names)
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default();
    diagnostics.error(
        text.at,
        format!("unknown {noun} `{}`; use {listed}{suggestion}", text.value),
    );
    Field::Invalid
}

/// A scalar as text: strings, and numbers or booleans in their written spelling.
pub(super) fn text_field(
    node: &Node,
    what: &str,
    expected: &str,
    diagnostics: &mut Diagnostics,
) -> Field<Text> {
    scalar_field(
        node,
        |kind| *kind != ScalarKind::Null,
        &format!("{what} must be {expected}"),
        diagnostics,
    )
}

/// A scalar of a kind `accepts` takes, as text in its written spelling; anything else is
/// reported as `message` followed by what was found.
pub(super) fn scalar_field(
    node: &Node,
    accepts: impl Fn(&ScalarKind) -> bool,
    message: &str,
    diagnostics: &mut Diagnostics,
) -> Field<Text> {
    match scalar_text(node, accepts) {
        Some(text) => Field::Given(text),
        None => {
            diagnostics.error(node.at, format!("{message}; found {}", node.describe()));
            Field::Invalid
        }
    }
}

/// A scalar of a kind `accepts` takes, as text in its written spelling.
fn scalar_text(node: &Node, accepts: impl Fn(&ScalarKind) -> bool) -> Option<Text> {
    match &node.value {
        NodeValue::Scalar(scalar) if accepts(&scalar.kind) => Some(Text {
            value: scalar.text.clone(),
            at: node.at,
            verbatim_offset: scalar.verbatim_offset,
        }),
        _ => None,
    }
}

/// A list of scalars as text, reporting every item that is not a scalar.
pub(super) fn text_list(
    node: &Node,
    key: &str,
    expected: &str,
    expected_item: &str,
    empty_message: &str,
    diagnostics: &mut Diagnostics,
) -> Field<Vec<Item<Text>>> {
    let what = format!("each item of `{key}`");
    list(
        node,
        key,
        expected,
        empty_message,
        diagnostics,
        |item, diagnostics| text_field(item, &what, expected_item, diagnostics).item(),
    )
}

/// A list that must not be empty (`key` must be `expected`; `empty_message` says what to do
/// when it is empty), each item read by `read_item`, which reports what is wrong with it.
pub(super) fn list<T>(
    node: &Node,
    key: &str,
    expected: &str,
    empty_message: &str,
    diagnostics: &mut Diagnostics,
    mut read_item: impl FnMut(&Node, &mut Diagnostics) -> Item<T>,
) -> Field<Vec<Item<T>>> {
    let Some(items) = sequence(node, key, expected, diagnostics) else {
        return Field::Invalid;
    };
    if items.is_empty() {
        diagnostics.error(node.at, empty_message);
        return Field::Invalid;
    }
    let read = items
        .iter()
        .map(|item| read_item(item, diagnostics))
        .collect();
    Field::Given(read)
}

/// The items of a list, or `None` (reported) when `node` is not a list.
pub(super) fn sequence<'n>(
    node: &'n Node,
    key: &str,
    expected: &str,
    diagnostics: &mut Diagnostics,
) -> Option<&'n [Node]> {
    match &node.value {
        NodeValue::Sequence(items) => Some(items),
        _ => {
            diagnostics.error(
                node.at,
                format!("`{key}` must be {expected}; found {}", node.describe()),
            );
            None
        }
    }
}

/// A mapping whose keys are data (registry hosts, build arg names), not field names.
/// Null means empty. Keys must be scalars; repeated keys are left to the caller.
pub(super) fn free_mapping<'n>(
    node: &'n Node,
    key: &str,
    expected: &str,
    diagnostics: &mut Diagnostics,
) -> Option<Vec<(Text, &'n Node)>> {
    let entries = match &node.value {
        NodeValue::Mapping(entries) => entries,
        NodeValue::Scalar(scalar) if scalar.kind == ScalarKind::Null => return Some(Vec::new()),
        _ => {
            diagnostics.error(
                node.at,
                format!("`{key}` must be {expected}; found {}", node.describe()),
            );
            return None;
        }
    };
    let mut out = Vec::new();
    for (name, value) in entries {
        match scalar_key(name, diagnostics) {
            Some(text) => out.push((text, value)),
            None => return None,
        }
    }
    Some(out)
}

/// A key of a mapping, which must be a name (a scalar that is not null).
fn scalar_key(key: &Node, diagnostics: &mut Diagnostics) -> Option<Text> {
    let text = scalar_text(key, |kind| *kind != ScalarKind::Null);
    if text.is_none() {
        diagnostics.error(
            key.at,
            format!("a key must be a name; found {}", key.describe()),
        );
    }
    text
}
