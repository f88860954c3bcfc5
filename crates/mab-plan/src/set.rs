//! `--set TARGET.KEY=VALUE`: values of the command line laid over the plan as written, before it
//! is read and validated, so that they are checked exactly as if the file had them.
//!
//! TARGET is an image's `name`, one of its repositories, or `*` (every image). KEY is a key of
//! an image (`platforms`, `tags`, `no_cache`, `builder`, `cache_from`, ...), an entry of one of
//! its mappings (`build_args.NAME`, `labels.NAME`, `annotations.index.NAME`), or a key of one
//! platform's overrides (`overrides.linux/arm64.dockerfile`). VALUE is a string; for a list
//! key, comma-separated items; for `no_cache` and `pull`, `true` or `false`; a VALUE that starts
//! with `[` or `{` is read as YAML (`secrets=[{id: npm, env: NPM_TOKEN}]`).
//!
//! The new nodes carry the position of their `--set` (see [`Position::of_override`]), so a
//! problem the validator finds in them is reported as that `--set`'s, without a line. This
//! module knows the tree and the key lists of [`crate::raw`]; it reads no files.

use std::fmt;
use std::str::FromStr;

use crate::PlanEnv;
use crate::diagnostic::Diagnostics;
use crate::expand::expand;
use crate::raw::{ANNOTATION_KEYS, IMAGE_KEYS, OVERRIDE_KEYS};
use crate::suggest::closest;
use crate::tree::{Node, NodeValue, Position, Scalar, ScalarKind};

/// One `--set TARGET.KEY=VALUE` of the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanOverride {
    /// `TARGET.KEY`.
    path: String,
    value: String,
}

impl PlanOverride {
    /// `TARGET.KEY`, as given.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// `VALUE`, as given.
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl FromStr for PlanOverride {
    type Err = String;

    /// Reads `TARGET.KEY=VALUE`; only its shape is checked here (the targets and keys are
    /// checked against the plan).
    fn from_str(text: &str) -> Result<Self, String> {
        let Some((path, value)) = text.split_once('=') else {
            return Err(format!(
                "`{text}` has no `=`; write TARGET.KEY=VALUE, e.g. `app.build_args.MSG=hi` or \
                 `*.platforms=linux/amd64`"
            ));
        };
        match path.split_once('.') {
            Some((target, key)) if !target.is_empty() && !key.is_empty() => Ok(Self {
                path: path.to_string(),
                value: value.to_string(),
            }),
            _ => Err(format!(
                "`{path}` is not TARGET.KEY: name an image (its `name` or repository, or `*` for \
                 every image) and a key, e.g. `app.tags=dev`"
            )),
        }
    }
}

impl fmt::Display for PlanOverride {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.path, self.value)
    }
}

/// Keys whose value is a list: a VALUE is split at commas.
const LIST_KEYS: &[&str] = &[
    "repositories",
    "registries",
    "platforms",
    "tags",
    "cache_from",
    "secrets",
    "ssh",
    "depends_on",
];
/// Keys whose value is `true` or `false`.
const FLAG_KEYS: &[&str] = &["no_cache", "pull"];
/// Keys whose value is a mapping of names to strings: `KEY.NAME=VALUE` sets one entry.
const MAP_KEYS: &[&str] = &["build_args", "labels"];

/// Lays every override over the plan's tree, reporting the ones that do not fit it.
pub(crate) fn apply(
    root: &mut Node,
    overrides: &[PlanOverride],
    env: &dyn PlanEnv,
    diagnostics: &mut Diagnostics,
) {
    let default_registries = default_registries(root);
    for (index, set) in overrides.iter().enumerate() {
        let at = Position::of_override(index);
        let Some(images) = images_mut(root) else {
            // The plan's own shape is reported when it is read.
            return;
        };
        let identities: Vec<Vec<String>> = images
            .iter()
            .map(|image| identities(image, &default_registries, env))
            .collect();
        let (targets, key_path) = match target(&set.path, &identities) {
            Ok(found) => found,
            Err(message) => {
                diagnostics.error(at, message);
                continue;
            }
        };
        let steps = match key_steps(key_path, IMAGE_KEYS, "an image") {
            Ok(steps) => steps,
            Err(message) => {
                diagnostics.error(at, message);
                continue;
            }
        };
        let value = match value_node(&steps, &set.value, at) {
            Ok(value) => value,
            Err(message) => {
                diagnostics.error(at, message);
                continue;
            }
        };
        for index in targets {
            graft(&mut images[index], &steps, value.clone(), at);
        }
    }
}

/// The `registries` of `defaults`, as written.
fn default_registries(root: &Node) -> Vec<String> {
    let NodeValue::Mapping(entries) = &root.value else {
        return Vec::new();
    };
    entries
        .iter()
        .find(|(key, _)| is_key(key, "defaults"))
        .and_then(|(_, defaults)| match &defaults.value {
            NodeValue::Mapping(entries) => entries.iter().find(|(k, _)| is_key(k, "registries")),
            _ => None,
        })
        .map(|(_, registries)| scalars(registries))
        .unwrap_or_default()
}

/// The scalar items of a list.
fn scalars(node: &Node) -> Vec<String> {
    match &node.value {
        NodeValue::Sequence(items) => items
            .iter()
            .filter_map(|item| match &item.value {
                NodeValue::Scalar(s) => Some(s.text.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The items of `images:`, when the plan has such a list.
fn images_mut(root: &mut Node) -> Option<&mut Vec<Node>> {
    let NodeValue::Mapping(entries) = &mut root.value else {
        return None;
    };
    let (_, images) = entries.iter_mut().find(|(key, _)| is_key(key, "images"))?;
    match &mut images.value {
        NodeValue::Sequence(items) => Some(items),
        _ => None,
    }
}

/// What a `--set` may call an image: its `name` and repositories (with those of a `name` under
/// the `registries` of the image or of `defaults`), as written and expanded.
fn identities(image: &Node, default_registries: &[String], env: &dyn PlanEnv) -> Vec<String> {
    let NodeValue::Mapping(entries) = &image.value else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let own_registries = entries
        .iter()
        .find(|(key, _)| is_key(key, "registries"))
        .map(|(_, value)| scalars(value));
    if let Some((_, name)) = entries.iter().find(|(key, _)| is_key(key, "name"))
        && let NodeValue::Scalar(name) = &name.value
    {
        let name = expanded(&name.text, env).unwrap_or_else(|| name.text.clone());
        for registry in own_registries.as_deref().unwrap_or(default_registries) {
            let registry = expanded(registry, env).unwrap_or_else(|| registry.clone());
            found.push(format!("{}/{name}", registry.trim_end_matches('/')));
        }
    }
    for (key, value) in entries {
        let texts: Vec<String> = match (&value.value, key_text(key)) {
            (NodeValue::Scalar(s), Some("name" | "repository")) => vec![s.text.clone()],
            (_, Some("repositories")) => scalars(value),
            _ => continue,
        };
        for text in texts {
            if let Some(expanded) = expanded(&text, env).filter(|e| *e != text) {
                found.push(expanded);
            }
            found.push(text);
        }
    }
    found
}

/// `text` with its variables expanded, when they all are set.
fn expanded(text: &str, env: &dyn PlanEnv) -> Option<String> {
    let lookup = |name: &str| -> Result<Option<String>, String> {
        Ok(env.var(name).or_else(|| match name {
            "GIT_SHA" => env.git(crate::GitValue::Sha).ok(),
            "GIT_TAG" => env.git(crate::GitValue::Tag).ok(),
            _ => None,
        }))
    };
    expand(text, &lookup).ok()
}

/// The images `path` (`TARGET.KEY`) names, and its KEY; the longest name or repository that
/// `path` starts with wins (repositories have dots).
fn target<'p>(path: &'p str, identities: &[Vec<String>]) -> Result<(Vec<usize>, &'p str), String> {
    if let Some(key) = path.strip_prefix("*.") {
        return Ok(((0..identities.len()).collect(), key));
    }
    let best = identities
        .iter()
        .flatten()
        .filter(|id| {
            path.len() > id.len() + 1
                && path.starts_with(id.as_str())
                && path.as_bytes()[id.len()] == b'.'
        })
        .map(String::len)
        .max();
    if let Some(length) = best {
        let name = &path[..length];
        let targets = identities
            .iter()
            .enumerate()
            .filter(|(_, ids)| ids.iter().any(|id| id == name))
            .map(|(index, _)| index)
            .collect();
        return Ok((targets, &path[length + 1..]));
    }
    let word = path.split('.').next().unwrap_or(path);
    let mut known: Vec<&str> = identities.iter().flatten().map(String::as_str).collect();
    known.sort_unstable();
    known.dedup();
    let hint = match closest(word, &known) {
        Some(near) => format!("; did you mean `{near}`?"),
        None if known.is_empty() => String::new(),
        None => format!(
            "; name an image by its `name` or repository ({}), or `*` for every image",
            known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Err(format!("no image `{word}` in the plan{hint}"))
}

/// One step into the tree: a key of a mapping with a fixed set of keys, or an entry of a free
/// mapping (a build arg's name, a platform of `overrides`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(&'static str),
    Entry(String),
}

/// The steps of KEY (`build_args.MSG`, `overrides.linux/arm64.target`) under a mapping whose
/// keys are `keys` (`level` says what it is, for messages).
fn key_steps(path: &str, keys: &[&'static str], level: &str) -> Result<Vec<Step>, String> {
    let (word, rest) = match path.split_once('.') {
        Some((word, rest)) => (word, Some(rest)),
        None => (path, None),
    };
    let Some(key) = keys.iter().copied().find(|k| *k == word) else {
        let hint = match closest(word, keys) {
            Some(near) => format!("did you mean `{near}`?"),
            None => format!("the keys of {level} are {}", keys.join(", ")),
        };
        return Err(format!("unknown key `{word}`; {hint}"));
    };
    let mut steps = vec![Step::Key(key)];
    match (key, rest) {
        (_, Some("")) => return Err(format!("nothing follows `{key}.`")),
        ("overrides", None) => {
            return Err(
                "`overrides` is a mapping of platforms: set one key of one platform, e.g. \
                 `overrides.linux/arm64.dockerfile=Dockerfile.arm64`"
                    .to_string(),
            );
        }
        ("overrides", Some(rest)) => {
            let Some((platform, key)) = rest.split_once('.') else {
                return Err(format!(
                    "name a key of the overrides for `{rest}`, e.g. \
                     `overrides.{rest}.dockerfile=Dockerfile.arm64`"
                ));
            };
            steps.push(Step::Entry(platform.to_string()));
            steps.extend(key_steps(
                key,
                OVERRIDE_KEYS,
                &format!("the overrides for `{platform}`"),
            )?);
        }
        ("annotations", Some(rest)) => {
            let (level, name) = rest.split_once('.').unwrap_or((rest, ""));
            let Some(level) = ANNOTATION_KEYS.iter().copied().find(|k| *k == level) else {
                let hint = closest(level, ANNOTATION_KEYS)
                    .map(|near| format!("did you mean `{near}`?"))
                    .unwrap_or_else(|| "use `index` or `manifest`".to_string());
                return Err(format!("unknown key `{level}` of `annotations`; {hint}"));
            };
            steps.push(Step::Key(level));
            if !name.is_empty() {
                steps.push(Step::Entry(name.to_string()));
            }
        }
        (key, Some(name)) if MAP_KEYS.contains(&key) => steps.push(Step::Entry(name.to_string())),
        (key, Some(_)) => {
            return Err(format!(
                "`{key}` has no keys under it; write `…{key}=VALUE`"
            ));
        }
        (_, None) => {}
    }
    Ok(steps)
}

/// The node VALUE becomes at the end of `steps`.
fn value_node(steps: &[Step], value: &str, at: Position) -> Result<Node, String> {
    let last_key = steps.iter().rev().find_map(|step| match step {
        Step::Key(key) => Some(*key),
        Step::Entry(_) => None,
    });
    let is_entry = matches!(steps.last(), Some(Step::Entry(_)));
    if !is_entry && value.trim_start().starts_with(['[', '{']) {
        return match crate::tree::parse(value) {
            Ok(mut node) => {
                relocate(&mut node, at);
                Ok(node)
            }
            Err(error) => Err(format!("the value is not valid YAML: {}", error.message)),
        };
    }
    let string = |text: &str| scalar(ScalarKind::String, text, at);
    Ok(match last_key {
        _ if is_entry => string(value),
        Some(key) if MAP_KEYS.contains(&key) || key == "index" || key == "manifest" => {
            return Err(format!(
                "`{key}` is a mapping: set one entry, e.g. `…{key}.NAME=VALUE`, or give a YAML \
                 mapping such as `{{NAME: VALUE}}`"
            ));
        }
        Some(key) if LIST_KEYS.contains(&key) => Node {
            at,
            value: NodeValue::Sequence(if value.trim().is_empty() {
                Vec::new()
            } else {
                value.split(',').map(|item| string(item.trim())).collect()
            }),
        },
        Some(key) if FLAG_KEYS.contains(&key) && (value == "true" || value == "false") => {
            scalar(ScalarKind::Bool, value, at)
        }
        _ => string(value),
    })
}

fn scalar(kind: ScalarKind, text: &str, at: Position) -> Node {
    Node {
        at,
        value: NodeValue::Scalar(Scalar {
            kind,
            text: text.to_string(),
            verbatim_offset: None,
        }),
    }
}

/// Gives `node` and everything under it the position of a `--set`.
fn relocate(node: &mut Node, at: Position) {
    node.at = at;
    match &mut node.value {
        NodeValue::Scalar(scalar) => scalar.verbatim_offset = None,
        NodeValue::Sequence(items) => items.iter_mut().for_each(|item| relocate(item, at)),
        NodeValue::Mapping(entries) => entries.iter_mut().for_each(|(key, value)| {
            relocate(key, at);
            relocate(value, at);
        }),
    }
}

/// Puts `value` at `steps` under `node`, making the mappings on the way (a value that is not a
/// mapping where one is needed is replaced).
fn graft(node: &mut Node, steps: &[Step], value: Node, at: Position) {
    let Some((step, rest)) = steps.split_first() else {
        *node = value;
        return;
    };
    if !matches!(node.value, NodeValue::Mapping(_)) {
        *node = Node {
            at,
            value: NodeValue::Mapping(Vec::new()),
        };
    }
    let NodeValue::Mapping(entries) = &mut node.value else {
        unreachable!("made a mapping above")
    };
    let name = match step {
        Step::Key(key) => *key,
        Step::Entry(name) => name.as_str(),
    };
    // Repeated keys are reported when the plan is read: the value goes to the last one.
    let child = match entries.iter().rposition(|(key, _)| is_key(key, name)) {
        Some(position) => &mut entries[position].1,
        None => {
            entries.push((
                scalar(ScalarKind::String, name, at),
                scalar(ScalarKind::Null, "", at),
            ));
            &mut entries.last_mut().expect("just pushed").1
        }
    };
    if rest.is_empty() {
        *child = value;
    } else {
        graft(child, rest, value, at);
    }
}

fn key_text(node: &Node) -> Option<&str> {
    match &node.value {
        NodeValue::Scalar(scalar) if scalar.kind != ScalarKind::Null => Some(&scalar.text),
        _ => None,
    }
}

fn is_key(node: &Node, name: &str) -> bool {
    key_text(node) == Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_have_a_target_a_key_and_a_value() {
        let set: PlanOverride = "app.build_args.MSG=a=b".parse().unwrap();
        assert_eq!((set.path(), set.value()), ("app.build_args.MSG", "a=b"));
        assert_eq!(set.to_string(), "app.build_args.MSG=a=b");
        let empty: PlanOverride = "*.tags=".parse().unwrap();
        assert_eq!(empty.value(), "");
        for bad in ["app.tags", "tags=x", ".tags=x", "app.=x", "=x"] {
            assert!(bad.parse::<PlanOverride>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_longest_image_name_wins() {
        let ids = vec![
            vec!["127.0.0.1:5000/app".to_string()],
            vec!["127.0.0.1:5000/app.web".to_string()],
        ];
        let (targets, key) = target("127.0.0.1:5000/app.web.tags", &ids).unwrap();
        assert_eq!((targets, key), (vec![1], "tags"));
        let (targets, key) = target("127.0.0.1:5000/app.tags", &ids).unwrap();
        assert_eq!((targets, key), (vec![0], "tags"));
        let (targets, _) = target("*.tags", &ids).unwrap();
        assert_eq!(targets, [0, 1]);
    }

    #[test]
    fn key_paths_follow_the_format() {
        assert_eq!(
            key_steps("build_args.org.example.x", IMAGE_KEYS, "an image").unwrap(),
            [
                Step::Key("build_args"),
                Step::Entry("org.example.x".to_string())
            ]
        );
        assert_eq!(
            key_steps("overrides.linux/arm64.build_args.A", IMAGE_KEYS, "an image").unwrap(),
            [
                Step::Key("overrides"),
                Step::Entry("linux/arm64".to_string()),
                Step::Key("build_args"),
                Step::Entry("A".to_string())
            ]
        );
        let error = key_steps("build_arg.MSG", IMAGE_KEYS, "an image").unwrap_err();
        assert_eq!(error, "unknown key `build_arg`; did you mean `build_args`?");
        let error = key_steps("no_cache.x", IMAGE_KEYS, "an image").unwrap_err();
        assert!(error.contains("has no keys under it"), "{error}");
        let error = key_steps("overrides.linux/arm64.tags", IMAGE_KEYS, "an image").unwrap_err();
        assert!(
            error.contains("the keys of the overrides for `linux/arm64`"),
            "{error}"
        );
    }
}
