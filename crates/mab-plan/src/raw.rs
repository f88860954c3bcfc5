//! The plan as written: the YAML tree read into typed (but not yet validated) structs.
//!
//! This is where the shape of the format lives: which keys exist at each level, which are
//! required, and what type each value has. Every unknown key, repeated key, missing key and
//! wrong type is reported (not just the first), each at its own line and column. Values are
//! kept as written, with their positions; [`crate::validate`] gives them meaning.

use std::collections::HashMap;

use crate::ManifestFormat;
use crate::diagnostic::Diagnostics;
use crate::suggest::closest;
use crate::tree::{Node, NodeValue, Position, ScalarKind};

/// Keys of the top-level mapping.
pub(crate) const PLAN_KEYS: &[&str] = &["version", "registries", "images"];
/// Keys of an image.
pub(crate) const IMAGE_KEYS: &[&str] = &[
    "repository",
    "context",
    "dockerfile",
    "platforms",
    "tags",
    "build_args",
    "format",
];
/// Keys of a registry's settings.
pub(crate) const REGISTRY_KEYS: &[&str] = &["insecure"];
/// The plan format version this crate reads.
pub(crate) const SUPPORTED_VERSION: &str = "1";

/// A string value as written, with its position.
#[derive(Debug, Clone)]
pub(crate) struct Text {
    pub(crate) value: String,
    pub(crate) at: Position,
    /// See [`crate::tree::Scalar::verbatim_offset`].
    pub(crate) verbatim_offset: Option<usize>,
}

impl Text {
    /// The position of the character `chars` characters into the value, when the value is
    /// written verbatim on one line; otherwise the start of the value.
    pub(crate) fn position_of(&self, chars: usize) -> Position {
        match self.verbatim_offset {
            Some(offset) => self.at.right(offset + chars),
            None => self.at,
        }
    }
}

/// A value of a mapping key: left out, given but unusable (already reported), or given.
#[derive(Debug, Clone)]
pub(crate) enum Field<T> {
    Absent,
    Invalid,
    Given(T),
}

/// An item of a list or a value in a mapping: `None` when it has the wrong type (already
/// reported), so that the other items can still be checked.
pub(crate) type Item<T> = Option<T>;

/// The whole plan as written.
#[derive(Debug)]
pub(crate) struct RawPlan {
    pub(crate) registries: Vec<RawRegistry>,
    pub(crate) images: Vec<RawImage>,
}

/// One entry under `registries:`.
#[derive(Debug)]
pub(crate) struct RawRegistry {
    pub(crate) host: Text,
    pub(crate) insecure: bool,
}

/// One entry under `images:`.
#[derive(Debug)]
pub(crate) struct RawImage {
    /// Where the image's mapping starts (its first key).
    pub(crate) at: Position,
    pub(crate) repository: Field<Text>,
    pub(crate) context: Field<Text>,
    pub(crate) dockerfile: Field<Text>,
    pub(crate) platforms: Field<Vec<Item<Text>>>,
    pub(crate) tags: Field<Vec<Item<Text>>>,
    pub(crate) build_args: Field<Vec<(Text, Item<Text>)>>,
    pub(crate) format: Field<ManifestFormat>,
}

/// Reads the document tree, reporting every shape problem into `diagnostics`.
pub(crate) fn decode(root: &Node, diagnostics: &mut Diagnostics) -> RawPlan {
    let mut plan = RawPlan {
        registries: Vec::new(),
        images: Vec::new(),
    };
    if root.is_null() {
        diagnostics.error(
            Position::START,
            "the plan is empty; it needs `version: 1` and a list of `images`",
        );
        return plan;
    }
    let Some(mut fields) = Fields::read(
        root,
        "a plan",
        "at the top level",
        PLAN_KEYS,
        diagnostics,
        "a mapping with `version` and `images`",
    ) else {
        return plan;
    };

    match fields.take("version") {
        None => fields.missing(
            "version",
            "the plan has no `version`; add `version: 1` at the top",
            diagnostics,
        ),
        Some(version) => check_version(version, diagnostics),
    }
    if let Some(registries) = fields.take("registries") {
        plan.registries = decode_registries(registries, diagnostics);
    }
    match fields.take("images") {
        None => fields.missing(
            "images",
            "the plan has no `images`; list at least one image under `images:`",
            diagnostics,
        ),
        Some(images) => {
            if let Some(list) = sequence(images, "images", "a list of images", diagnostics) {
                if list.is_empty() {
                    diagnostics.error(images.at, "`images` is empty; list at least one image");
                }
                plan.images = list
                    .iter()
                    .filter_map(|image| decode_image(image, diagnostics))
                    .collect();
            }
        }
    }
    plan
}

fn check_version(version: &Node, diagnostics: &mut Diagnostics) {
    match &version.value {
        NodeValue::Scalar(scalar)
            if scalar.kind == ScalarKind::Number && scalar.text == SUPPORTED_VERSION => {}
        NodeValue::Scalar(scalar) if scalar.kind == ScalarKind::Number => diagnostics.error(
            version.at,
            format!(
                "unsupported plan version {}; this version of mab reads version {SUPPORTED_VERSION}",
                scalar.text
            ),
        ),
        _ => diagnostics.error(
            version.at,
            format!(
                "`version` must be the number {SUPPORTED_VERSION}; found {}",
                version.describe()
            ),
        ),
    }
}

fn decode_registries(node: &Node, diagnostics: &mut Diagnostics) -> Vec<RawRegistry> {
    let Some(entries) = free_mapping(
        node,
        "registries",
        "a mapping of registry hosts to settings, such as `{ \"127.0.0.1:5000\": { insecure: true } }`",
        diagnostics,
    ) else {
        return Vec::new();
    };
    let mut registries = Vec::new();
    for (host, settings) in entries {
        let mut registry = RawRegistry {
            host,
            insecure: false,
        };
        if !settings.is_null() {
            let context = format!("in the settings of registry `{}`", registry.host.value);
            let Some(mut fields) = Fields::read(
                settings,
                &format!("the settings of registry `{}`", registry.host.value),
                &context,
                REGISTRY_KEYS,
                diagnostics,
                "a mapping such as `{ insecure: true }`",
            ) else {
                continue;
            };
            if let Some(insecure) = fields.take("insecure") {
                match &insecure.value {
                    NodeValue::Scalar(scalar) if scalar.kind == ScalarKind::Bool => {
                        registry.insecure = scalar.text.eq_ignore_ascii_case("true");
                    }
                    _ => diagnostics.error(
                        insecure.at,
                        format!(
                            "`insecure` must be `true` or `false`; found {}",
                            insecure.describe()
                        ),
                    ),
                }
            }
        }
        registries.push(registry);
    }
    registries
}

fn decode_image(node: &Node, diagnostics: &mut Diagnostics) -> Option<RawImage> {
    let mut fields = Fields::read(
        node,
        "an image",
        "in an image",
        IMAGE_KEYS,
        diagnostics,
        "a mapping with at least `repository` and `platforms`",
    )?;
    let mut image = RawImage {
        at: node.at,
        repository: Field::Absent,
        context: Field::Absent,
        dockerfile: Field::Absent,
        platforms: Field::Absent,
        tags: Field::Absent,
        build_args: Field::Absent,
        format: Field::Absent,
    };

    match fields.take("repository") {
        None => fields.missing(
            "repository",
            "this image has no `repository`; add one, e.g. `repository: ghcr.io/team/app`",
            diagnostics,
        ),
        Some(value) => {
            image.repository = text_field(
                value,
                "`repository`",
                "a repository name such as `ghcr.io/team/app`",
                diagnostics,
            );
        }
    }
    if let Some(value) = fields.take("context") {
        image.context = text_field(value, "`context`", "a folder path", diagnostics);
    }
    if let Some(value) = fields.take("dockerfile") {
        image.dockerfile = text_field(value, "`dockerfile`", "a file path", diagnostics);
    }
    match fields.take("platforms") {
        None => fields.missing(
            "platforms",
            "this image has no `platforms`; list them, e.g. `platforms: [linux/amd64, linux/arm64]`",
            diagnostics,
        ),
        Some(value) => {
            image.platforms = text_list(
                value,
                "platforms",
                "a list of platforms such as `[linux/amd64, linux/arm64]`",
                "a platform",
                "`platforms` is empty; list at least one platform, e.g. `[linux/amd64]`",
                diagnostics,
            );
        }
    }
    if let Some(value) = fields.take("tags") {
        image.tags = text_list(
            value,
            "tags",
            "a list of tags such as `[latest, \"1.0.0\"]`",
            "a tag",
            "`tags` is empty; list at least one tag, or leave `tags` out to push `latest`",
            diagnostics,
        );
    }
    if let Some(value) = fields.take("build_args") {
        image.build_args = build_args(value, diagnostics);
    }
    if let Some(value) = fields.take("format") {
        image.format = format(value, diagnostics);
    }
    Some(image)
}

fn build_args(node: &Node, diagnostics: &mut Diagnostics) -> Field<Vec<(Text, Item<Text>)>> {
    if node.is_null() {
        return Field::Given(Vec::new());
    }
    let Some(entries) = free_mapping(
        node,
        "build_args",
        "a mapping of names to values, such as `{ GREETING: hello }`",
        diagnostics,
    ) else {
        return Field::Invalid;
    };
    let args = entries
        .into_iter()
        .map(|(name, value)| {
            let what = format!("build arg `{}`", name.value);
            let value = match text_field(value, &what, "a string", diagnostics) {
                Field::Given(value) => Some(value),
                _ => None,
            };
            (name, value)
        })
        .collect();
    Field::Given(args)
}

fn format(node: &Node, diagnostics: &mut Diagnostics) -> Field<ManifestFormat> {
    const FORMATS: &[&str] = &["oci", "docker"];
    let Field::Given(text) = text_field(node, "`format`", "`oci` or `docker`", diagnostics) else {
        return Field::Invalid;
    };
    match text.value.as_str() {
        "oci" => Field::Given(ManifestFormat::Oci),
        "docker" => Field::Given(ManifestFormat::Docker),
        other => {
            let suggestion = closest(other, FORMATS)
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            diagnostics.error(
                text.at,
                format!("unknown manifest format `{other}`; use `oci` or `docker`{suggestion}"),
            );
            Field::Invalid
        }
    }
}

/// A scalar as text: strings, and numbers or booleans in their written spelling.
fn text_field(
    node: &Node,
    what: &str,
    expected: &str,
    diagnostics: &mut Diagnostics,
) -> Field<Text> {
    match &node.value {
        NodeValue::Scalar(scalar) if scalar.kind != ScalarKind::Null => Field::Given(Text {
            value: scalar.text.clone(),
            at: node.at,
            verbatim_offset: scalar.verbatim_offset,
        }),
        _ => {
            diagnostics.error(
                node.at,
                format!("{what} must be {expected}; found {}", node.describe()),
            );
            Field::Invalid
        }
    }
}

/// A list of scalars as text, reporting every item that is not a scalar.
fn text_list(
    node: &Node,
    key: &str,
    expected: &str,
    expected_item: &str,
    empty_message: &str,
    diagnostics: &mut Diagnostics,
) -> Field<Vec<Item<Text>>> {
    let Some(items) = sequence(node, key, expected, diagnostics) else {
        return Field::Invalid;
    };
    if items.is_empty() {
        diagnostics.error(node.at, empty_message);
        return Field::Invalid;
    }
    let what = format!("each item of `{key}`");
    let texts = items
        .iter()
        .map(
            |item| match text_field(item, &what, expected_item, diagnostics) {
                Field::Given(text) => Some(text),
                _ => None,
            },
        )
        .collect();
    Field::Given(texts)
}

fn sequence<'n>(
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
fn free_mapping<'n>(
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

fn scalar_key(key: &Node, diagnostics: &mut Diagnostics) -> Option<Text> {
    match &key.value {
        NodeValue::Scalar(scalar) if scalar.kind != ScalarKind::Null => Some(Text {
            value: scalar.text.clone(),
            at: key.at,
            verbatim_offset: scalar.verbatim_offset,
        }),
        _ => {
            diagnostics.error(
                key.at,
                format!("a key must be a name; found {}", key.describe()),
            );
            None
        }
    }
}

/// Where a key that is not allowed at some level belongs, for keys of another level.
fn misplaced(key: &str) -> Option<String> {
    if IMAGE_KEYS.contains(&key) {
        Some(format!(
            "`{key}` is a key of an image, under an entry of `images:`; check the indentation"
        ))
    } else if PLAN_KEYS.contains(&key) {
        Some(format!("`{key}` is a top-level key; check the indentation"))
    } else if REGISTRY_KEYS.contains(&key) {
        Some(format!(
            "`{key}` is a registry setting, under `registries:` and a host, e.g. \
             `registries: {{ \"127.0.0.1:5000\": {{ {key}: true }} }}`"
        ))
    } else {
        None
    }
}

/// The known keys of a mapping with a fixed set of keys, after reporting the others.
struct Fields<'n> {
    at: Position,
    known: HashMap<&'static str, &'n Node>,
    /// What unknown keys were probably meant to be, to avoid also reporting them missing.
    suggested: Vec<&'static str>,
}

impl<'n> Fields<'n> {
    /// Reads a mapping, reporting a non-mapping (as `what`, which must be `expected`), keys that
    /// are not names, repeated keys and unknown keys (`where_` says where, e.g. "in an image").
    fn read(
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

    fn take(&mut self, key: &str) -> Option<&'n Node> {
        self.known.remove(key)
    }

    /// Reports a missing required key, unless an unknown key was probably meant to be it.
    fn missing(&self, key: &str, message: &str, diagnostics: &mut Diagnostics) {
        if !self.suggested.contains(&key) {
            diagnostics.error(self.at, message);
        }
    }
}
