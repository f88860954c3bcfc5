//! From the plan as written to a [`Plan`]: merging `defaults` into each image, expanding
//! variables, parsing platforms, tags and repositories, resolving paths, checking that the
//! context folders, Dockerfiles and build stages exist, and ordering images by `depends_on`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};

use mab_platform::Platform;

use crate::diagnostic::Diagnostics;
use crate::endpoint::{check_endpoint, password_of};
use crate::expand::expand;
use crate::plan::{Annotations, BuildSettings, Builder, BuilderTls, PlatformBuild};
use crate::raw::{
    Field, Item, RawAnnotations, RawBuilder, RawImage, RawMap, RawOverride, RawPlan, RawRegistry,
    RawSettings, RawTag, RawTls, Text,
};
use crate::reference::check_registry;
use crate::suggest::closest;
use crate::tree::Position;
use crate::{
    GitValue, ImageSpec, LayerCompression, ManifestFormat, Plan, PlanEnv, RegistrySettings,
    Repository,
};

/// The longest tag the distribution spec allows.
const MAX_TAG_LENGTH: usize = 128;
/// The tag pushed when neither an image nor `defaults` have `tags`.
const DEFAULT_TAG: &str = "latest";

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

/// The settings `defaults` and an image share, validated. `Absent` when not given, `Invalid`
/// when given but wrong (already reported).
#[derive(Clone)]
struct Settings {
    /// Registry prefixes (`host[:port][/namespace]`) for images given by `name`; with the
    /// position of the first item.
    registries: Field<(Vec<String>, Position)>,
    platforms: Field<Vec<(Platform, Position)>>,
    tags: Field<Vec<String>>,
    build_args: Field<BTreeMap<String, String>>,
    labels: Field<BTreeMap<String, String>>,
    annotations: Field<(Annotations, Position)>,
    no_cache: Field<bool>,
    pull: Field<bool>,
    format: Field<ManifestFormat>,
    compression: Field<(LayerCompression, Position)>,
}

/// An image's own value if it has one, else the default.
fn pick<T: Clone>(own: &Field<T>, default: &Field<T>) -> Field<T> {
    match own {
        Field::Absent => default.clone(),
        other => other.clone(),
    }
}

/// The default's entries with the image's merged over them, name by name.
fn merge(
    own: &Field<BTreeMap<String, String>>,
    default: &Field<BTreeMap<String, String>>,
) -> Field<BTreeMap<String, String>> {
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

/// A `Field` as an `Option` of its value: `None` when invalid, the default when absent.
fn or_default<T>(field: Field<T>, default: impl FnOnce() -> T) -> Option<T> {
    match field {
        Field::Given(value) => Some(value),
        Field::Absent => Some(default()),
        Field::Invalid => None,
    }
}

/// Where an image goes, and what `depends_on` may call it.
struct Identity {
    name: Option<String>,
    /// Each repository with where it was written and how.
    repositories: Vec<(Repository, Position, String)>,
}

impl Identity {
    /// The name used for this image in messages about other images.
    fn label(&self) -> String {
        self.repositories
            .first()
            .map(|r| r.0.to_string())
            .or_else(|| self.name.clone())
            .unwrap_or_default()
    }
}

struct Validator<'e, 'd, 't, 'p> {
    env: &'e dyn PlanEnv,
    diagnostics: &'d mut Diagnostics<'t>,
    plan_dir: &'p Path,
}

impl Validator<'_, '_, '_, '_> {
    fn registries(&mut self, raw: Vec<RawRegistry>) -> BTreeMap<String, RegistrySettings> {
        let mut registries = BTreeMap::new();
        let mut first_seen: HashMap<String, Position> = HashMap::new();
        for registry in raw {
            let ca_cert = self.ca_cert(&registry.ca_cert);
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
            let Some(ca_cert) = ca_cert else {
                continue;
            };
            registries.insert(
                host,
                RegistrySettings {
                    insecure: registry.insecure,
                    ca_cert,
                },
            );
        }
        registries
    }

    /// `builders:`: names unique, endpoints of an accepted form and distinct, native platforms,
    /// `max_jobs` at least 1, `tls` files that exist. Only the valid ones are returned (the
    /// plan is invalid when one is not).
    fn builders(&mut self, raw: &[RawBuilder]) -> Vec<Builder> {
        let mut builders = Vec::new();
        let mut names: HashMap<String, Position> = HashMap::new();
        let mut endpoints: HashMap<String, (String, Position)> = HashMap::new();
        for builder in raw {
            let name = self.builder_name(&builder.name, &mut names);
            let tls = self.builder_tls(&builder.tls);
            let endpoint = self.builder_endpoint(builder, name.as_deref(), &mut endpoints);
            let platforms = self.platforms(&builder.platforms);
            let max_jobs = self.max_jobs(&builder.max_jobs);
            let (Some(name), Some(endpoint), Some(tls), Some(max_jobs)) =
                (name, endpoint, tls, max_jobs)
            else {
                continue;
            };
            let platforms = match platforms {
                Field::Given(list) => list.into_iter().map(|(p, _)| p).collect(),
                Field::Absent => Vec::new(),
                Field::Invalid => continue,
            };
            builders.push(Builder {
                name,
                endpoint,
                platforms,
                max_jobs,
                tls,
            });
        }
        builders
    }

    fn builder_name(
        &mut self,
        field: &Field<Text>,
        names: &mut HashMap<String, Position>,
    ) -> Option<String> {
        let Field::Given(text) = field else {
            return None;
        };
        let name = self.expand(text)?;
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        let problem = if name.is_empty() {
            Some("it is empty".to_string())
        } else if let Some(bad) = name.chars().find(|c| !allowed(*c)) {
            Some(format!(
                "`{bad}` is not allowed; a builder name is letters, digits, `.`, `_` and `-`"
            ))
        } else if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            Some("it must start with a letter or a digit".to_string())
        } else if name.len() > 64 {
            Some("it is longer than 64 characters".to_string())
        } else {
            None
        };
        if let Some(reason) = problem {
            self.diagnostics.error(
                text.at,
                format!("invalid builder name {}: {reason}", shown(text, &name)),
            );
            return None;
        }
        if let Some(first) = names.get(&name) {
            self.diagnostics.error(
                text.at,
                format!(
                    "builder {} is already declared at line {}; builder names must be unique",
                    shown(text, &name),
                    first.line
                ),
            );
            return None;
        }
        names.insert(name.clone(), text.at);
        Some(name)
    }

    fn builder_endpoint(
        &mut self,
        builder: &RawBuilder,
        name: Option<&str>,
        endpoints: &mut HashMap<String, (String, Position)>,
    ) -> Option<String> {
        let Field::Given(text) = &builder.endpoint else {
            return None;
        };
        let endpoint = self.expand(text)?;
        let has_tls = !matches!(builder.tls, Field::Absent);
        if let Err(reason) = check_endpoint(&endpoint, has_tls) {
            // A `tls` that does not fit the endpoint is reported where `tls` is.
            let at = match &builder.tls {
                Field::Given(tls) if reason.starts_with("`tls`") => tls.at,
                _ => text.at,
            };
            let shown = if text.value.contains('$') {
                format!(" (expanded from `{}`)", text.value)
            } else {
                String::new()
            };
            let message = format!("invalid builder endpoint{shown}: {reason}");
            match password_of(&endpoint) {
                Some(password) => self.diagnostics.error_hiding(at, message, password),
                None => self.diagnostics.error(at, message),
            }
            return None;
        }
        if let Some((first, first_at)) = endpoints.get(&endpoint) {
            self.diagnostics.error(
                text.at,
                format!(
                    "builder {}has the same endpoint {} as builder `{first}` (line {}); one \
                     daemon is one builder: raise its `max_jobs` instead",
                    name.map(|n| format!("`{n}` ")).unwrap_or_default(),
                    shown(text, &endpoint),
                    first_at.line
                ),
            );
            return None;
        }
        endpoints.insert(endpoint.clone(), (name.unwrap_or("?").to_string(), text.at));
        Some(endpoint)
    }

    /// `Some(None)` when not given, `None` when wrong.
    fn max_jobs(&mut self, field: &Field<Text>) -> Option<Option<usize>> {
        let text = match field {
            Field::Absent => return Some(None),
            Field::Invalid => return None,
            Field::Given(text) => text,
        };
        match text.value.parse::<u32>() {
            Ok(0) => {
                self.diagnostics.error(
                    text.at,
                    "`max_jobs` is 0; a builder runs at least 1 job at once (leave the builder \
                     out to not use it)",
                );
                None
            }
            Ok(n) => Some(Some(n as usize)),
            Err(_) => {
                self.diagnostics.error(
                    text.at,
                    format!(
                        "`max_jobs` must be a whole number of at least 1, such as 4; found `{}`",
                        text.value
                    ),
                );
                None
            }
        }
    }

    /// `Some(None)` when not given, `None` when wrong.
    fn builder_tls(&mut self, field: &Field<RawTls>) -> Option<Option<BuilderTls>> {
        let raw = match field {
            Field::Absent => return Some(None),
            Field::Invalid => return None,
            Field::Given(raw) => raw,
        };
        let ca = self.tls_file(&raw.ca, "ca");
        let cert = self.tls_file(&raw.cert, "cert");
        let key = self.tls_file(&raw.key, "key");
        Some(Some(BuilderTls {
            ca: ca?,
            cert: cert?,
            key: key?,
        }))
    }

    fn tls_file(&mut self, field: &Field<Text>, key: &str) -> Option<PathBuf> {
        let Field::Given(text) = field else {
            return None;
        };
        self.plan_file(text, key, |path, plan_dir| {
            format!(
                "tls {key} file `{}` not found (paths in `tls` are relative to the plan's \
                 folder, `{}`)",
                path.display(),
                plan_dir.display()
            )
        })
    }

    /// A file named by `text` relative to the plan's folder: expanded, not empty, existing;
    /// `not_found(path, plan_dir)` says what is wrong when it does not exist.
    fn plan_file(
        &mut self,
        text: &Text,
        key: &str,
        not_found: impl FnOnce(&Path, &Path) -> String,
    ) -> Option<PathBuf> {
        let value = self.expand(text)?;
        if value.is_empty() {
            self.diagnostics
                .error(text.at, format!("`{key}` is empty{}", from(text)));
            return None;
        }
        let path = normalize(&self.plan_dir.join(&value));
        if !self.env.is_file(&path) {
            let message = not_found(&path, &normalize(self.plan_dir));
            self.diagnostics.error(text.at, message);
            return None;
        }
        Some(path)
    }

    /// `Some(None)` when not given, `None` when wrong.
    fn ca_cert(&mut self, field: &Field<Text>) -> Option<Option<PathBuf>> {
        let text = match field {
            Field::Absent => return Some(None),
            Field::Invalid => return None,
            Field::Given(text) => text,
        };
        self.plan_file(text, "ca_cert", |path, plan_dir| {
            format!(
                "ca_cert `{}` not found (`ca_cert` is relative to the plan's folder, `{}`)",
                path.display(),
                plan_dir.display()
            )
        })
        .map(Some)
    }

    /// Validates the settings of `defaults` or of an image, but for `registries` (which only
    /// matter for where an image goes: see [`Validator::identity`]).
    fn settings(&mut self, raw: &RawSettings) -> Settings {
        Settings {
            registries: Field::Absent,
            platforms: self.platforms(&raw.platforms),
            tags: self.tags(&raw.tags),
            build_args: self.build_args(&raw.build_args),
            labels: self.labels(&raw.labels, "label"),
            annotations: self.annotations(&raw.annotations),
            no_cache: raw.no_cache.clone(),
            pull: raw.pull.clone(),
            format: raw.format.clone(),
            compression: raw.compression.clone(),
        }
    }

    /// Where an image goes: `repository`, `repositories`, or `name` under `registries`.
    fn identity(&mut self, raw: &RawImage, defaults: &Settings) -> Option<Identity> {
        let errors_before = self.diagnostics.count();
        let mut repositories = Vec::new();
        let mut name = None;
        let mut valid = true;
        if let (Field::Given(_), Field::Given(list)) = (&raw.repository, &raw.repositories) {
            if let Some(Some(first)) = list.first() {
                self.diagnostics.error(
                    first.at,
                    "this image has both `repository` and `repositories`; list every repository \
                     under `repositories`",
                );
            }
            valid = false;
        }
        if let Field::Given(text) = &raw.name {
            let has_repository = !matches!(raw.repository, Field::Absent)
                || !matches!(raw.repositories, Field::Absent);
            if has_repository {
                self.diagnostics.error(
                    text.at,
                    "this image has both `name` and a repository; give either `name` (pushed \
                     under each of `registries`) or `repository`/`repositories`",
                );
                valid = false;
            }
        } else if let Field::Given(list) = &raw.settings.registries {
            if let Some(Some(first)) = list.first() {
                self.diagnostics.error(
                    first.at,
                    "`registries` in an image goes with `name`: each registry gets \
                     `REGISTRY/NAME`; with `repository` or `repositories`, leave it out",
                );
            }
            valid = false;
        }
        match &raw.repository {
            Field::Given(text) => match self.repository(text, None) {
                Some(repository) => repositories.push((repository, text.at, text.value.clone())),
                None => valid = false,
            },
            Field::Invalid => valid = false,
            Field::Absent => {}
        }
        match &raw.repositories {
            Field::Given(list) => {
                for text in list {
                    match text.as_ref().and_then(|text| {
                        self.repository(text, None)
                            .map(|r| (r, text.at, text.value.clone()))
                    }) {
                        Some(entry) => repositories.push(entry),
                        None => valid = false,
                    }
                }
            }
            Field::Invalid => valid = false,
            Field::Absent => {}
        }
        match &raw.name {
            // Both `name` and a repository: reported above.
            Field::Given(_) if !valid => {}
            Field::Given(text) => {
                let own = self.registry_prefixes(&raw.settings.registries);
                match (self.expand(text), pick(&own, &defaults.registries)) {
                    (None, _) => valid = false,
                    (Some(value), Field::Given((prefixes, _))) => {
                        if value.is_empty() {
                            self.diagnostics
                                .error(text.at, format!("`name` is empty{}", from(text)));
                            valid = false;
                        }
                        for prefix in &prefixes {
                            if value.is_empty() {
                                break;
                            }
                            match self.repository(text, Some((prefix, &value))) {
                                Some(repository) => repositories.push((
                                    repository,
                                    text.at,
                                    format!("{prefix}/{}", text.value),
                                )),
                                None => valid = false,
                            }
                        }
                        name = Some(value);
                    }
                    (Some(_), Field::Absent) => {
                        self.diagnostics.error(
                            text.at,
                            "this image has a `name` but no `registries` to push it to; add \
                             `registries: [ghcr.io/team]` to the image or to `defaults`, or give \
                             a `repository` instead",
                        );
                        valid = false;
                    }
                    (Some(_), Field::Invalid) => valid = false,
                }
            }
            Field::Invalid => valid = false,
            Field::Absent => {}
        }
        // Duplicates within the image.
        let mut seen: HashMap<&Repository, (Position, &str)> = HashMap::new();
        for (repository, at, written) in &repositories {
            if let Some((first_at, first_written)) = seen.get(repository) {
                self.diagnostics.error(
                    *at,
                    format!(
                        "repository `{repository}` is listed twice in this image (first at line \
                         {}{})",
                        first_at.line,
                        if first_written == written {
                            String::new()
                        } else {
                            format!(", as `{first_written}`")
                        }
                    ),
                );
                valid = false;
            } else {
                seen.insert(repository, (*at, written));
            }
        }
        (valid && self.diagnostics.count() == errors_before && !repositories.is_empty())
            .then_some(Identity { name, repositories })
    }

    /// A repository that two images push to.
    fn duplicate_repositories(&mut self, identities: &[Option<Identity>]) {
        let mut first: HashMap<&Repository, (usize, Position, &str)> = HashMap::new();
        for (index, identity) in identities.iter().enumerate() {
            let Some(identity) = identity else { continue };
            for (repository, at, written) in &identity.repositories {
                match first.get(repository) {
                    Some((other, first_at, first_written)) if *other != index => {
                        let written = if first_written == written {
                            String::new()
                        } else {
                            format!(" (as `{first_written}`)")
                        };
                        self.diagnostics.error(
                            *at,
                            format!(
                                "repository `{repository}` is already built by the image at line \
                                 {}{written}; give each repository once, with all its platforms \
                                 and tags",
                                first_at.line
                            ),
                        );
                    }
                    Some(_) => {}
                    None => {
                        first.insert(repository, (index, *at, written));
                    }
                }
            }
        }
    }

    /// Validates one image but for where it goes; `None` if anything about it is wrong (and
    /// reported).
    fn image(&mut self, raw: &RawImage, defaults: &Settings) -> Option<ImageSpec> {
        let errors_before = self.diagnostics.count();
        let own = self.settings(&raw.settings);
        let context_dir = self.context_dir(&raw.context, raw.at);
        let dockerfile_at = match &raw.context {
            Field::Given(context) => context.at,
            _ => raw.at,
        };
        let dockerfile =
            self.dockerfile(context_dir.as_deref(), &raw.dockerfile, dockerfile_at, None);
        let target = self.target(&raw.target, dockerfile.as_deref());
        let platforms = pick(&own.platforms, &defaults.platforms);
        let tags = match pick(&own.tags, &defaults.tags) {
            Field::Absent => Field::Given(vec![DEFAULT_TAG.to_string()]),
            other => other,
        };
        let build_args = merge(&own.build_args, &defaults.build_args);
        let labels = merge(&own.labels, &defaults.labels);
        let format = pick(&own.format, &defaults.format);
        let annotations = self.merged_annotations(raw, &own, defaults, &format);
        let compression = match pick(&own.compression, &defaults.compression) {
            Field::Given((kind, at))
                if kind != LayerCompression::Gzip
                    && matches!(format, Field::Given(ManifestFormat::Docker)) =>
            {
                let message = format!(
                    "`compression: {}` needs `format: oci`: Docker image manifests only \
                     describe gzip layers; use `compression: gzip` or drop `format: docker`",
                    kind.as_str()
                );
                if matches!(own.compression, Field::Given(_)) {
                    self.diagnostics.error(at, message);
                } else {
                    self.diagnostics.error(
                        raw.at,
                        format!(
                            "this image has `format: docker`, but `defaults` gives it \
                             `compression: {}` (line {}); {message}",
                            kind.as_str(),
                            at.line
                        ),
                    );
                }
                Field::Invalid
            }
            Field::Given((kind, _)) => Field::Given(kind),
            Field::Absent => Field::Absent,
            Field::Invalid => Field::Invalid,
        };
        let no_cache = pick(&own.no_cache, &defaults.no_cache);
        let pull = pick(&own.pull, &defaults.pull);

        let build = match (context_dir, dockerfile, target) {
            (Some(context_dir), Some(dockerfile), Some(target)) => Some(BuildSettings {
                context_dir,
                dockerfile,
                target,
                build_args: or_default(build_args, BTreeMap::new)?,
                labels: or_default(labels, BTreeMap::new)?,
                no_cache: or_default(no_cache, || false)?,
                pull: or_default(pull, || false)?,
            }),
            _ => None,
        };
        let platforms = match platforms {
            Field::Given(platforms) => Some(platforms),
            // A missing `platforms` was reported when the image was read.
            _ => None,
        };
        let overrides = match (&build, &platforms) {
            (Some(build), Some(platforms)) => self.overrides(raw, build, platforms),
            _ => None,
        };
        if self.diagnostics.count() != errors_before {
            return None;
        }
        Some(ImageSpec {
            name: None,
            repositories: Vec::new(),
            platforms: platforms?.into_iter().map(|(p, _)| p).collect(),
            tags: or_default(tags, Vec::new)?,
            format: or_default(format, ManifestFormat::default)?,
            compression: or_default(compression, LayerCompression::default)?,
            build: build?,
            overrides: overrides?,
            annotations: annotations?,
            depends_on: Vec::new(),
            depends_on_names: Vec::new(),
        })
    }

    /// The image's annotations over the defaults'; refused for the docker format.
    fn merged_annotations(
        &mut self,
        raw: &RawImage,
        own: &Settings,
        defaults: &Settings,
        format: &Field<ManifestFormat>,
    ) -> Option<Annotations> {
        let (own_annotations, own_at) = match &own.annotations {
            Field::Invalid => return None,
            Field::Absent => (Annotations::default(), None),
            Field::Given((annotations, at)) => (annotations.clone(), Some(*at)),
        };
        let (default_annotations, default_at) = match &defaults.annotations {
            Field::Invalid => return None,
            Field::Absent => (Annotations::default(), None),
            Field::Given((annotations, at)) => (annotations.clone(), Some(*at)),
        };
        let mut merged = default_annotations.clone();
        merged.index.extend(own_annotations.index.clone());
        merged.manifest.extend(own_annotations.manifest.clone());
        if matches!(format, Field::Given(ManifestFormat::Docker)) && !merged.is_empty() {
            let message = "annotations need `format: oci`: a Docker manifest list and Docker \
                           image manifests cannot carry them; drop `format: docker` or the \
                           annotations";
            match (own_annotations.is_empty(), own_at, default_at) {
                (false, Some(at), _) => self.diagnostics.error(at, message),
                (_, _, Some(at)) => self.diagnostics.error(
                    raw.at,
                    format!(
                        "this image has `format: docker`, but `defaults` gives it annotations \
                         (line {}); {message}",
                        at.line
                    ),
                ),
                _ => {}
            }
            return None;
        }
        Some(merged)
    }

    /// Each platform's settings under `overrides`, applied to `build`.
    fn overrides(
        &mut self,
        raw: &RawImage,
        build: &BuildSettings,
        platforms: &[(Platform, Position)],
    ) -> Option<Vec<PlatformBuild>> {
        let entries = match &raw.overrides {
            Field::Absent => return Some(Vec::new()),
            Field::Invalid => return None,
            Field::Given(entries) => entries,
        };
        let mut out: Vec<(PlatformBuild, Position)> = Vec::new();
        let mut valid = true;
        for entry in entries {
            match self.platform_override(raw, entry, build, platforms, &out) {
                Some(found) => out.push((found, entry.platform.at)),
                None => valid = false,
            }
        }
        valid.then(|| out.into_iter().map(|(o, _)| o).collect())
    }

    fn platform_override(
        &mut self,
        raw: &RawImage,
        entry: &RawOverride,
        build: &BuildSettings,
        platforms: &[(Platform, Position)],
        earlier: &[(PlatformBuild, Position)],
    ) -> Option<PlatformBuild> {
        let key = &entry.platform;
        let platform = match key.value.parse::<Platform>() {
            Ok(platform) => Some(platform),
            Err(error) => {
                self.diagnostics.error(key.at, error.to_string());
                None
            }
        };
        if let Some(platform) = &platform {
            if !platforms.iter().any(|(p, _)| p == platform) {
                let list: Vec<String> = platforms.iter().map(|(p, _)| p.to_string()).collect();
                self.diagnostics.error(
                    key.at,
                    format!(
                        "`overrides` has `{}`, which is not one of this image's platforms ({})",
                        key.value,
                        list.join(", ")
                    ),
                );
            } else if let Some((_, first)) = earlier.iter().find(|(o, _)| &o.platform == platform) {
                self.diagnostics.error(
                    key.at,
                    format!(
                        "`overrides` has {platform} twice (`{}` is the same platform as the one \
                         at line {}, column {})",
                        key.value, first.line, first.column
                    ),
                );
            }
        }
        let errors_before = self.diagnostics.count();
        let context_dir = match &entry.context {
            Field::Absent => Some(build.context_dir.clone()),
            field => self.context_dir(field, key.at),
        };
        let dockerfile = match (&entry.context, &entry.dockerfile) {
            (Field::Absent, Field::Absent) => Some(build.dockerfile.clone()),
            (Field::Given(context), Field::Absent) => self.dockerfile(
                context_dir.as_deref(),
                &raw.dockerfile,
                context.at,
                Some(&key.value),
            ),
            (_, field) => self.dockerfile(context_dir.as_deref(), field, key.at, None),
        };
        let target = match (&entry.target, &entry.dockerfile) {
            (Field::Absent, Field::Absent) => Some(build.target.clone()),
            (Field::Absent, _) => self.target(&raw.target, dockerfile.as_deref()),
            (field, _) => self.target(field, dockerfile.as_deref()),
        };
        let build_args = match self.build_args(&entry.build_args) {
            Field::Given(args) => {
                let mut merged = build.build_args.clone();
                merged.extend(args);
                Some(merged)
            }
            Field::Absent => Some(build.build_args.clone()),
            Field::Invalid => None,
        };
        if self.diagnostics.count() != errors_before {
            return None;
        }
        Some(PlatformBuild {
            platform: platform?,
            build: BuildSettings {
                context_dir: context_dir?,
                dockerfile: dockerfile?,
                target: target?,
                build_args: build_args?,
                labels: build.labels.clone(),
                no_cache: build.no_cache,
                pull: build.pull,
            },
        })
    }

    /// Parses a repository, or `prefix/name` when the image is given by `name` (`text` is the
    /// `name` then, and `prefix_and_name` its expansion under that prefix).
    fn repository(
        &mut self,
        text: &Text,
        prefix_and_name: Option<(&str, &str)>,
    ) -> Option<Repository> {
        let (name, shown_name) = match prefix_and_name {
            Some((prefix, name)) => {
                let full = format!("{prefix}/{name}");
                let shown_name = format!("`{full}` (registry `{prefix}` and name `{name}`)");
                (full, shown_name)
            }
            None => {
                let name = self.expand(text)?;
                if name.is_empty() {
                    self.diagnostics
                        .error(text.at, format!("a repository is empty{}", from(text)));
                    return None;
                }
                let shown_name = shown(text, &name);
                (name, shown_name)
            }
        };
        match Repository::parse(&name) {
            Ok(repository) => Some(repository),
            Err(reason) => {
                self.diagnostics.error(
                    text.at,
                    format!("invalid repository {shown_name}: {reason}"),
                );
                None
            }
        }
    }

    /// `registries` of `defaults` or an image: `host[:port][/namespace]` prefixes.
    fn registry_prefixes(
        &mut self,
        field: &Field<Vec<Item<Text>>>,
    ) -> Field<(Vec<String>, Position)> {
        let list = match field {
            Field::Absent => return Field::Absent,
            Field::Invalid => return Field::Invalid,
            Field::Given(list) => list,
        };
        let mut prefixes: Vec<String> = Vec::new();
        let mut first_at = None;
        let mut valid = true;
        for text in list {
            let Some(text) = text else {
                valid = false;
                continue;
            };
            first_at.get_or_insert(text.at);
            let Some(prefix) = self.expand(text) else {
                valid = false;
                continue;
            };
            let prefix = prefix.trim_end_matches('/').to_string();
            let host = prefix.split('/').next().unwrap_or_default();
            let looks_like_host = host.contains(['.', ':']) || host == "localhost";
            let problem = if prefix.is_empty() {
                Some("it is empty".to_string())
            } else if let Some(scheme) = prefix.find("://") {
                Some(format!(
                    "it starts with a scheme (`{}`); give the registry host without it",
                    &prefix[..scheme + 3]
                ))
            } else if !looks_like_host {
                Some(format!(
                    "`{host}` is not a registry host; start with one, such as `ghcr.io`, \
                     `docker.io` or `127.0.0.1:5000` (a namespace may follow: `ghcr.io/team`)"
                ))
            } else if let Err(reason) = check_registry(host) {
                Some(reason)
            } else {
                Repository::parse(&format!("{prefix}/x")).err()
            };
            if let Some(reason) = problem {
                self.diagnostics.error(
                    text.at,
                    format!(
                        "invalid registry {} in `registries`: {reason}",
                        shown(text, &prefix)
                    ),
                );
                valid = false;
                continue;
            }
            if prefixes.contains(&prefix) {
                self.diagnostics.error(
                    text.at,
                    format!(
                        "registry {} is listed twice in `registries`",
                        shown(text, &prefix)
                    ),
                );
                valid = false;
                continue;
            }
            prefixes.push(prefix);
        }
        match (valid, first_at) {
            (true, Some(at)) => Field::Given((prefixes, at)),
            _ => Field::Invalid,
        }
    }

    fn context_dir(&mut self, field: &Field<Text>, image_at: Position) -> Option<PathBuf> {
        let (context, at) = match field {
            Field::Invalid => return None,
            Field::Absent => (".".to_string(), image_at),
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
    fn dockerfile(
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
    fn target(&mut self, field: &Field<Text>, dockerfile: Option<&Path>) -> Option<Option<String>> {
        let text = match field {
            Field::Absent => return Some(None),
            Field::Invalid => return None,
            Field::Given(text) => text,
        };
        let target = self.expand(text)?;
        if target.is_empty() {
            self.diagnostics.error(
                text.at,
                format!(
                    "`target` is empty{}; leave it out to build the last stage",
                    from(text)
                ),
            );
            return None;
        }
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

    fn platforms(&mut self, field: &Field<Vec<Item<Text>>>) -> Field<Vec<(Platform, Position)>> {
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

    fn tags(&mut self, field: &Field<Vec<Item<RawTag>>>) -> Field<Vec<String>> {
        let list = match field {
            Field::Invalid => return Field::Invalid,
            Field::Absent => return Field::Absent,
            Field::Given(list) => list,
        };
        let mut tags = Vec::new();
        // Each tag, with where it was written and, for a semver expansion, the version.
        let mut first_seen: HashMap<String, Position> = HashMap::new();
        let mut valid = true;
        for item in list {
            let Some(item) = item else {
                valid = false;
                continue;
            };
            let (text, expanded) = match item {
                RawTag::Plain(text) => {
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
                    (text, vec![(tag, String::new())])
                }
                RawTag::Semver { version, latest } => {
                    let Some(value) = self.expand(version) else {
                        valid = false;
                        continue;
                    };
                    match crate::semver::expand(&value, *latest) {
                        Ok(expanded) => {
                            let origin = format!(" (from the semver expansion of `{value}`)");
                            let mut out = Vec::new();
                            for tag in expanded {
                                if let Err(reason) = check_tag(&tag) {
                                    self.diagnostics.error(
                                        version.at,
                                        format!("invalid tag `{tag}`{origin}: {reason}"),
                                    );
                                    valid = false;
                                    continue;
                                }
                                out.push((tag, origin.clone()));
                            }
                            (version, out)
                        }
                        Err(reason) => {
                            self.diagnostics.error(
                                version.at,
                                format!(
                                    "invalid semver version {}: {reason}",
                                    shown(version, &value)
                                ),
                            );
                            valid = false;
                            continue;
                        }
                    }
                }
            };
            // Tags this item repeats, reported together.
            let mut repeated: Vec<(String, Position)> = Vec::new();
            let mut origin = String::new();
            for (tag, tag_origin) in expanded {
                if let Some(first) = first_seen.get(&tag) {
                    repeated.push((tag, *first));
                    origin = tag_origin;
                    continue;
                }
                first_seen.insert(tag.clone(), text.at);
                tags.push(tag);
            }
            match repeated.as_slice() {
                [] => {}
                [(tag, first)] => {
                    let written = if origin.is_empty() {
                        shown(text, tag)
                    } else {
                        format!("`{tag}`{origin}")
                    };
                    self.diagnostics.error(
                        text.at,
                        format!(
                            "tag {written} is listed twice (first at line {}, column {})",
                            first.line, first.column
                        ),
                    );
                    valid = false;
                }
                [.., (_, first)] => {
                    let list: Vec<String> =
                        repeated.iter().map(|(tag, _)| format!("`{tag}`")).collect();
                    self.diagnostics.error(
                        text.at,
                        format!(
                            "tags {}{origin} are listed already (first at line {}, column {})",
                            list.join(", "),
                            first.line,
                            first.column
                        ),
                    );
                    valid = false;
                }
            }
        }
        if valid {
            Field::Given(tags)
        } else {
            Field::Invalid
        }
    }

    fn build_args(&mut self, field: &Field<RawMap>) -> Field<BTreeMap<String, String>> {
        self.map(field, "build arg", |name| {
            is_build_arg_name(name)
                .then_some(())
                .ok_or_else(|| "use letters, digits and `_`, not starting with a digit".to_string())
        })
    }

    fn labels(&mut self, field: &Field<RawMap>, what: &str) -> Field<BTreeMap<String, String>> {
        self.map(field, what, check_key)
    }

    fn annotations(&mut self, field: &Field<RawAnnotations>) -> Field<(Annotations, Position)> {
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
    fn map(
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

    /// Each image's `depends_on`, resolved to (image index, where it was written).
    fn dependencies(
        &mut self,
        images: &[RawImage],
        identities: &[Option<Identity>],
    ) -> Vec<Vec<(usize, Position)>> {
        let all_known = identities.iter().all(Option::is_some);
        let mut out = Vec::new();
        for (index, image) in images.iter().enumerate() {
            let mut resolved: Vec<(usize, Position)> = Vec::new();
            let Field::Given(list) = &image.depends_on else {
                out.push(resolved);
                continue;
            };
            for text in list.iter().flatten() {
                let Some(wanted) = self.expand(text) else {
                    continue;
                };
                let as_repository = Repository::parse(&wanted).ok();
                let found = identities.iter().position(|identity| {
                    identity.as_ref().is_some_and(|identity| {
                        identity.name.as_deref() == Some(wanted.as_str())
                            || as_repository
                                .as_ref()
                                .is_some_and(|r| identity.repositories.iter().any(|(x, ..)| x == r))
                    })
                });
                match found {
                    Some(found) if found == index => self.diagnostics.error(
                        text.at,
                        format!(
                            "an image cannot depend on itself ({})",
                            shown(text, &wanted)
                        ),
                    ),
                    Some(found) => {
                        if let Some((_, first)) = resolved.iter().find(|(i, _)| *i == found) {
                            self.diagnostics.error(
                                text.at,
                                format!(
                                    "{} is listed twice in `depends_on` (first at line {}, column {})",
                                    shown(text, &wanted),
                                    first.line,
                                    first.column
                                ),
                            );
                        } else {
                            resolved.push((found, text.at));
                        }
                    }
                    // Some image's repositories are unknown (already reported): it may be that one.
                    None if !all_known => {}
                    None => {
                        let images: Vec<String> = identities
                            .iter()
                            .flatten()
                            .map(|identity| match &identity.name {
                                Some(name) => format!("`{name}`"),
                                None => format!("`{}`", identity.label()),
                            })
                            .collect();
                        self.diagnostics.error(
                            text.at,
                            format!(
                                "`depends_on` names {}, which is no image of this plan; name an \
                                 image by one of its repositories or its `name`: {}",
                                shown(text, &wanted),
                                images.join(", ")
                            ),
                        );
                    }
                }
            }
            out.push(resolved);
        }
        out
    }

    /// The images in an order where each comes after those it depends on; reports cycles.
    fn order(
        &mut self,
        images: &[RawImage],
        dependencies: &[Vec<(usize, Position)>],
        identities: &[Option<Identity>],
    ) -> Option<Vec<usize>> {
        let label = |index: usize| {
            identities[index]
                .as_ref()
                .map(Identity::label)
                .unwrap_or_default()
        };
        // Depth-first search for cycles; each back edge is one cycle, reported where it is written.
        #[derive(Clone, Copy, PartialEq)]
        enum State {
            New,
            Open,
            Done,
        }
        let mut state = vec![State::New; images.len()];
        let mut cycles = Vec::new();
        fn visit(
            node: usize,
            dependencies: &[Vec<(usize, Position)>],
            state: &mut [State],
            stack: &mut Vec<usize>,
            cycles: &mut Vec<(Vec<usize>, Position)>,
        ) {
            state[node] = State::Open;
            stack.push(node);
            for &(next, at) in &dependencies[node] {
                match state[next] {
                    State::New => visit(next, dependencies, state, stack, cycles),
                    State::Open => {
                        let start = stack.iter().position(|&n| n == next).unwrap_or(0);
                        let mut cycle = stack[start..].to_vec();
                        cycle.push(next);
                        cycles.push((cycle, at));
                    }
                    State::Done => {}
                }
            }
            stack.pop();
            state[node] = State::Done;
        }
        for node in 0..images.len() {
            if state[node] == State::New {
                visit(node, dependencies, &mut state, &mut Vec::new(), &mut cycles);
            }
        }
        for (cycle, at) in &cycles {
            let path: Vec<String> = cycle.iter().map(|&n| label(n)).collect();
            self.diagnostics.error(
                *at,
                format!(
                    "`depends_on` makes a cycle: {} (each image is built after the ones it \
                     depends on, so none of these could start)",
                    path.join(" -> ")
                ),
            );
        }
        if !cycles.is_empty() {
            return None;
        }
        // Kahn's algorithm, taking the first ready image in plan order each time.
        let mut remaining: Vec<usize> = dependencies.iter().map(Vec::len).collect();
        let mut order = Vec::with_capacity(images.len());
        let mut done = vec![false; images.len()];
        while order.len() < images.len() {
            let next = (0..images.len()).find(|&n| !done[n] && remaining[n] == 0)?;
            done[next] = true;
            order.push(next);
            for (n, deps) in dependencies.iter().enumerate() {
                remaining[n] -= deps.iter().filter(|(d, _)| *d == next).count();
            }
        }
        Some(order)
    }

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
