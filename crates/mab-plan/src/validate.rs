//! From the plan as written to a [`Plan`]: expanding variables, parsing platforms, tags and
//! repositories, resolving paths, and checking that the context and Dockerfile exist.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};

use mab_platform::Platform;

use crate::diagnostic::Diagnostics;
use crate::expand::expand;
use crate::raw::{Field, Item, RawImage, RawPlan, RawRegistry, Text};
use crate::reference::check_registry;
use crate::tree::Position;
use crate::{ImageSpec, ManifestFormat, Plan, PlanEnv, RegistrySettings, Repository};

/// The longest tag the distribution spec allows.
const MAX_TAG_LENGTH: usize = 128;
/// The tag pushed when an image has no `tags`.
const DEFAULT_TAG: &str = "latest";

/// Validates `raw`, reporting every problem into `diagnostics`. Returns a plan only when the
/// whole plan (including the problems found before, in `diagnostics`) is valid.
pub(crate) fn validate(
    file: &Path,
    raw: RawPlan,
    env: &dyn PlanEnv,
    diagnostics: &mut Diagnostics,
) -> Option<Plan> {
    let mut validator = Validator { env, diagnostics };
    let plan_dir = file.parent().unwrap_or(Path::new(""));
    let registries = validator.registries(raw.registries);
    let mut images = Vec::new();
    // Each repository, with where and how it was first written.
    let mut seen_repositories: HashMap<Repository, (Position, String)> = HashMap::new();
    for raw_image in raw.images {
        let repository = validator.repository(&raw_image.repository);
        if let (Some(repository), Field::Given(text)) = (&repository, &raw_image.repository) {
            if let Some((first_at, first_written)) = seen_repositories.get(repository) {
                let written = if *first_written == text.value {
                    String::new()
                } else {
                    format!(" (as `{first_written}`)")
                };
                validator.diagnostics.error(
                    text.at,
                    format!(
                        "repository `{repository}` is already built by the image at line {}{written}; \
                         give each repository once, with all its platforms and tags",
                        first_at.line
                    ),
                );
            } else {
                seen_repositories.insert(repository.clone(), (text.at, text.value.clone()));
            }
        }
        if let Some(image) = validator.image(plan_dir, raw_image, repository) {
            images.push(image);
        }
    }
    (validator.diagnostics.count() == 0).then(|| Plan {
        file: file.to_path_buf(),
        registries,
        images,
    })
}

struct Validator<'e, 'd, 't> {
    env: &'e dyn PlanEnv,
    diagnostics: &'d mut Diagnostics<'t>,
}

impl Validator<'_, '_, '_> {
    fn registries(&mut self, raw: Vec<RawRegistry>) -> BTreeMap<String, RegistrySettings> {
        let mut registries = BTreeMap::new();
        let mut first_seen: HashMap<String, Position> = HashMap::new();
        for registry in raw {
            let Some(host) = self.expand(&registry.host) else {
                continue;
            };
            if host.is_empty() {
                self.diagnostics.error(
                    registry.host.at,
                    format!(
                        "a registry under `registries` is empty{}",
                        from(&registry.host)
                    ),
                );
                continue;
            }
            if let Err(reason) = check_registry(&host) {
                self.diagnostics.error(
                    registry.host.at,
                    format!(
                        "invalid registry {} under `registries`: {reason}",
                        shown(&registry.host, &host)
                    ),
                );
                continue;
            }
            if let Some(first) = first_seen.get(&host) {
                self.diagnostics.error(
                    registry.host.at,
                    format!(
                        "registry {} is already listed at line {}",
                        shown(&registry.host, &host),
                        first.line
                    ),
                );
                continue;
            }
            first_seen.insert(host.clone(), registry.host.at);
            registries.insert(
                host,
                RegistrySettings {
                    insecure: registry.insecure,
                },
            );
        }
        registries
    }

    /// Validates one image; `None` if anything about it is wrong (and reported).
    /// Validates the rest of an image whose repository (if valid) is `repository`.
    fn image(
        &mut self,
        plan_dir: &Path,
        raw: RawImage,
        repository: Option<Repository>,
    ) -> Option<ImageSpec> {
        let errors_before = self.diagnostics.count();
        let context_dir = self.context_dir(plan_dir, &raw);
        let dockerfile = self.dockerfile(context_dir.as_deref(), &raw);
        let platforms = self.platforms(&raw.platforms);
        let tags = self.tags(&raw.tags);
        let build_args = self.build_args(&raw.build_args);
        let format = match raw.format {
            Field::Given(format) => Some(format),
            Field::Absent => Some(ManifestFormat::default()),
            Field::Invalid => None,
        };
        if self.diagnostics.count() != errors_before {
            return None;
        }
        Some(ImageSpec {
            repository: repository?,
            context_dir: context_dir?,
            dockerfile: dockerfile?,
            platforms: platforms?,
            tags: tags?,
            build_args: build_args?,
            format: format?,
        })
    }

    fn repository(&mut self, field: &Field<Text>) -> Option<Repository> {
        let Field::Given(text) = field else {
            return None;
        };
        let name = self.expand(text)?;
        if name.is_empty() {
            self.diagnostics
                .error(text.at, format!("`repository` is empty{}", from(text)));
            return None;
        }
        match Repository::parse(&name) {
            Ok(repository) => Some(repository),
            Err(reason) => {
                self.diagnostics.error(
                    text.at,
                    format!("invalid repository {}: {reason}", shown(text, &name)),
                );
                None
            }
        }
    }

    fn context_dir(&mut self, plan_dir: &Path, raw: &RawImage) -> Option<PathBuf> {
        let (context, at) = match &raw.context {
            Field::Invalid => return None,
            Field::Absent => (".".to_string(), raw.at),
            Field::Given(text) => {
                let context = self.expand(text)?;
                if context.is_empty() {
                    self.diagnostics.error(
                        text.at,
                        format!(
                            "`context` is empty{}; use `.` for the plan's folder",
                            from(text)
                        ),
                    );
                    return None;
                }
                (context, text.at)
            }
        };
        let context_dir = normalize(&plan_dir.join(&context));
        if !self.env.is_dir(&context_dir) {
            self.diagnostics.error(
                at,
                format!(
                    "context folder `{}` not found (`context` is relative to the plan's folder, `{}`)",
                    context_dir.display(),
                    normalize(plan_dir).display()
                ),
            );
            return None;
        }
        Some(context_dir)
    }

    /// The Dockerfile's path; whether it exists is checked only when the context folder does.
    fn dockerfile(&mut self, context_dir: Option<&Path>, raw: &RawImage) -> Option<PathBuf> {
        let (dockerfile, at, given) = match &raw.dockerfile {
            Field::Invalid => return None,
            Field::Absent => {
                // The Dockerfile is looked for in the context folder: point there.
                let at = match &raw.context {
                    Field::Given(context) => context.at,
                    _ => raw.at,
                };
                ("Dockerfile".to_string(), at, false)
            }
            Field::Given(text) => {
                let dockerfile = self.expand(text)?;
                if dockerfile.is_empty() {
                    self.diagnostics.error(
                        text.at,
                        format!(
                            "`dockerfile` is empty{}; leave it out to use `Dockerfile`",
                            from(text)
                        ),
                    );
                    return None;
                }
                (dockerfile, text.at, true)
            }
        };
        let context_dir = context_dir?;
        let path = normalize(&context_dir.join(&dockerfile));
        if !self.env.is_file(&path) {
            let message = if given {
                format!(
                    "dockerfile `{}` not found (`dockerfile` is relative to the context folder, `{}`)",
                    path.display(),
                    context_dir.display()
                )
            } else {
                format!(
                    "dockerfile `{}` not found (this image has no `dockerfile`, so it is \
                     `Dockerfile` in the context folder, `{}`)",
                    path.display(),
                    context_dir.display()
                )
            };
            self.diagnostics.error(at, message);
            return None;
        }
        Some(path)
    }

    fn platforms(&mut self, field: &Field<Vec<Item<Text>>>) -> Option<Vec<Platform>> {
        let Field::Given(list) = field else {
            return None;
        };
        let mut platforms: Vec<Platform> = Vec::new();
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
            platforms.push(platform);
        }
        valid.then_some(platforms)
    }

    fn tags(&mut self, field: &Field<Vec<Item<Text>>>) -> Option<Vec<String>> {
        let list = match field {
            Field::Invalid => return None,
            Field::Absent => return Some(vec![DEFAULT_TAG.to_string()]),
            Field::Given(list) => list,
        };
        let mut tags = Vec::new();
        let mut first_seen: HashMap<String, Position> = HashMap::new();
        let mut valid = true;
        for text in list {
            let Some(text) = text else {
                valid = false;
                continue;
            };
            let Some(tag) = self.expand(text) else {
                valid = false;
                continue;
            };
            if tag.is_empty() {
                self.diagnostics
                    .error(text.at, format!("a tag is empty{}", from(text)));
                valid = false;
                continue;
            }
            if let Err(reason) = check_tag(&tag) {
                self.diagnostics.error(
                    text.at,
                    format!("invalid tag {}: {reason}", shown(text, &tag)),
                );
                valid = false;
                continue;
            }
            if let Some(first) = first_seen.get(&tag) {
                self.diagnostics.error(
                    text.at,
                    format!(
                        "tag {} is listed twice (first at line {}, column {})",
                        shown(text, &tag),
                        first.line,
                        first.column
                    ),
                );
                valid = false;
                continue;
            }
            first_seen.insert(tag.clone(), text.at);
            tags.push(tag);
        }
        valid.then_some(tags)
    }

    fn build_args(
        &mut self,
        field: &Field<Vec<(Text, Item<Text>)>>,
    ) -> Option<BTreeMap<String, String>> {
        let args = match field {
            Field::Invalid => return None,
            Field::Absent => return Some(BTreeMap::new()),
            Field::Given(args) => args,
        };
        let mut out = BTreeMap::new();
        let mut first_seen: HashMap<&str, Position> = HashMap::new();
        let mut valid = true;
        for (name, value) in args {
            if !is_build_arg_name(&name.value) {
                self.diagnostics.error(
                    name.at,
                    format!(
                        "invalid build arg name `{}`: use letters, digits and `_`, \
                         not starting with a digit",
                        name.value
                    ),
                );
                valid = false;
            } else if let Some(first) = first_seen.get(name.value.as_str()) {
                self.diagnostics.error(
                    name.at,
                    format!(
                        "build arg `{}` is given twice (first at line {})",
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
        valid.then_some(out)
    }

    /// Expands `${VAR}` in `text`, reporting problems at their place in the value.
    fn expand(&mut self, text: &Text) -> Option<String> {
        let env = self.env;
        match expand(&text.value, &|name| env.var(name)) {
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

/// `` `value` ``, followed by what it was expanded from when that differs.
fn shown(text: &Text, expanded: &str) -> String {
    if text.value == expanded {
        format!("`{expanded}`")
    } else {
        format!("`{expanded}` (expanded from `{}`)", text.value)
    }
}

/// ` (expanded from `...`)` when the value has variables, or nothing.
fn from(text: &Text) -> String {
    if text.value.contains('$') {
        format!(" (expanded from `{}`)", text.value)
    } else {
        String::new()
    }
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`, explaining what is wrong.
fn check_tag(tag: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    let Some(first) = tag.chars().next() else {
        return Err("it is empty".to_string());
    };
    if let Some(bad) = tag.chars().find(|c| !allowed(*c)) {
        let bad = if bad.is_whitespace() {
            "whitespace".to_string()
        } else {
            format!("`{bad}`")
        };
        return Err(format!(
            "{bad} is not allowed; a tag is letters, digits, `_`, `.` and `-`"
        ));
    }
    if first == '.' || first == '-' {
        return Err(format!("a tag must not start with `{first}`"));
    }
    let length = tag.chars().count();
    if length > MAX_TAG_LENGTH {
        return Err(format!(
            "it is {length} characters long; the limit is {MAX_TAG_LENGTH}"
        ));
    }
    Ok(())
}

/// `[A-Za-z_][A-Za-z0-9_]*`
fn is_build_arg_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
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

    #[test]
    fn checks_tags() {
        for good in ["latest", "1.0.0", "v1", "_x", "A-b_c.d", &"a".repeat(128)] {
            assert_eq!(check_tag(good), Ok(()), "{good}");
        }
        let cases = [
            ("", "it is empty"),
            (".x", "must not start with `.`"),
            ("-x", "must not start with `-`"),
            ("1.0+build", "`+` is not allowed"),
            ("a b", "whitespace is not allowed"),
            ("a:b", "`:` is not allowed"),
        ];
        for (bad, want) in cases {
            let reason = check_tag(bad).unwrap_err();
            assert!(reason.contains(want), "{bad}: {reason}");
        }
        assert!(
            check_tag(&"a".repeat(129))
                .unwrap_err()
                .contains("the limit is 128")
        );
    }

    #[test]
    fn checks_build_arg_names() {
        for good in ["A", "_a", "HTTP_PROXY", "a1"] {
            assert!(is_build_arg_name(good), "{good}");
        }
        for bad in ["", "1A", "MY-ARG", "A B", "A.B"] {
            assert!(!is_build_arg_name(bad), "{bad}");
        }
    }
}
