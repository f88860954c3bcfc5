//! The plan as written: the YAML tree read into typed (but not yet validated) structs.
//!
//! This is where the shape of the format lives: which keys exist at each level, which are
//! required, and what type each value has. Every unknown key, repeated key, missing key and
//! wrong type is reported (not just the first), each at its own line and column. Values are
//! kept as written, with their positions; [`crate::validate`] gives them meaning.

use std::collections::HashMap;

use crate::diagnostic::Diagnostics;
use crate::suggest::closest;
use crate::tree::{Node, NodeValue, Position, ScalarKind};
use crate::{LayerCompression, ManifestFormat};

/// Keys of the top-level mapping.
pub(crate) const PLAN_KEYS: &[&str] = &["version", "registries", "builders", "defaults", "images"];
/// Keys of a builder (an item of `builders`).
pub(crate) const BUILDER_KEYS: &[&str] = &["name", "endpoint", "platforms", "max_jobs", "tls"];
/// Keys of a builder's `tls`: the client identity for a `tcp://` daemon started with
/// `--tlsverify`.
pub(crate) const TLS_KEYS: &[&str] = &["ca", "cert", "key"];
/// Keys of an image.
pub(crate) const IMAGE_KEYS: &[&str] = &[
    "repository",
    "repositories",
    "name",
    "registries",
    "context",
    "dockerfile",
    "target",
    "platforms",
    "tags",
    "build_args",
    "labels",
    "annotations",
    "no_cache",
    "pull",
    "format",
    "compression",
    "depends_on",
    "overrides",
];
/// Keys of `defaults`: what every image gets unless it says otherwise.
pub(crate) const DEFAULTS_KEYS: &[&str] = &[
    "registries",
    "platforms",
    "tags",
    "build_args",
    "labels",
    "annotations",
    "no_cache",
    "pull",
    "format",
    "compression",
];
/// Keys of one platform's entry under an image's `overrides`.
pub(crate) const OVERRIDE_KEYS: &[&str] = &["context", "dockerfile", "target", "build_args"];
/// Keys of `annotations`: the levels they go to.
pub(crate) const ANNOTATION_KEYS: &[&str] = &["index", "manifest"];
/// Keys of a semver tag (an item of `tags` that is a mapping).
pub(crate) const SEMVER_TAG_KEYS: &[&str] = &["semver", "latest"];
/// Keys of a registry's settings.
pub(crate) const REGISTRY_KEYS: &[&str] = &["insecure", "ca_cert"];
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

/// A key-value mapping as written (build args, labels, annotations): names with their values.
pub(crate) type RawMap = Vec<(Text, Item<Text>)>;

/// The whole plan as written.
#[derive(Debug)]
pub(crate) struct RawPlan {
    pub(crate) registries: Vec<RawRegistry>,
    /// The builders that decoded (empty when `builders` is absent, or wrong and reported).
    pub(crate) builders: Vec<RawBuilder>,
    pub(crate) defaults: RawSettings,
    pub(crate) images: Vec<RawImage>,
}

/// One entry under `registries:`.
#[derive(Debug)]
pub(crate) struct RawRegistry {
    pub(crate) host: Text,
    pub(crate) insecure: bool,
    pub(crate) ca_cert: Field<Text>,
}

/// One item of `builders:`: a Docker daemon that builds some of the plan's jobs.
#[derive(Debug)]
pub(crate) struct RawBuilder {
    pub(crate) name: Field<Text>,
    pub(crate) endpoint: Field<Text>,
    pub(crate) platforms: Field<Vec<Item<Text>>>,
    /// A number, as written (checked to be a whole number of at least 1 in `validate`).
    pub(crate) max_jobs: Field<Text>,
    pub(crate) tls: Field<RawTls>,
}

/// A builder's `tls: { ca, cert, key }`.
#[derive(Debug)]
pub(crate) struct RawTls {
    /// Where the `tls` value starts.
    pub(crate) at: Position,
    pub(crate) ca: Field<Text>,
    pub(crate) cert: Field<Text>,
    pub(crate) key: Field<Text>,
}

/// The settings `defaults` and an image share; an image's own replace the defaults (and for
/// `build_args`, `labels` and `annotations`, are merged over them, name by name).
#[derive(Debug)]
pub(crate) struct RawSettings {
    pub(crate) registries: Field<Vec<Item<Text>>>,
    pub(crate) platforms: Field<Vec<Item<Text>>>,
    pub(crate) tags: Field<Vec<Item<RawTag>>>,
    pub(crate) build_args: Field<RawMap>,
    pub(crate) labels: Field<RawMap>,
    pub(crate) annotations: Field<RawAnnotations>,
    pub(crate) no_cache: Field<bool>,
    pub(crate) pull: Field<bool>,
    pub(crate) format: Field<ManifestFormat>,
    pub(crate) compression: Field<(LayerCompression, Position)>,
}

impl RawSettings {
    fn absent() -> Self {
        Self {
            registries: Field::Absent,
            platforms: Field::Absent,
            tags: Field::Absent,
            build_args: Field::Absent,
            labels: Field::Absent,
            annotations: Field::Absent,
            no_cache: Field::Absent,
            pull: Field::Absent,
            format: Field::Absent,
            compression: Field::Absent,
        }
    }
}

/// An item of `tags`.
#[derive(Debug, Clone)]
pub(crate) enum RawTag {
    /// A tag, such as `latest` or `v${VERSION}`.
    Plain(Text),
    /// `{ semver: VERSION, latest: BOOL }`: the version and its shorter forms.
    Semver { version: Text, latest: bool },
}

/// `annotations: { index: {...}, manifest: {...} }`.
#[derive(Debug, Clone)]
pub(crate) struct RawAnnotations {
    /// Where the `annotations` value starts.
    pub(crate) at: Position,
    pub(crate) index: Field<RawMap>,
    pub(crate) manifest: Field<RawMap>,
}

/// One entry under an image's `overrides`: settings for one platform.
#[derive(Debug)]
pub(crate) struct RawOverride {
    pub(crate) platform: Text,
    pub(crate) context: Field<Text>,
    pub(crate) dockerfile: Field<Text>,
    pub(crate) target: Field<Text>,
    pub(crate) build_args: Field<RawMap>,
}

/// One entry under `images:`.
#[derive(Debug)]
pub(crate) struct RawImage {
    /// Where the image's mapping starts (its first key).
    pub(crate) at: Position,
    pub(crate) repository: Field<Text>,
    pub(crate) repositories: Field<Vec<Item<Text>>>,
    pub(crate) name: Field<Text>,
    pub(crate) context: Field<Text>,
    pub(crate) dockerfile: Field<Text>,
    pub(crate) target: Field<Text>,
    pub(crate) depends_on: Field<Vec<Item<Text>>>,
    pub(crate) overrides: Field<Vec<RawOverride>>,
    /// Settings that `defaults` may give too.
    pub(crate) settings: RawSettings,
}

/// Reads the document tree, reporting every shape problem into `diagnostics`.
pub(crate) fn decode(root: &Node, diagnostics: &mut Diagnostics) -> RawPlan {
    let mut plan = RawPlan {
        registries: Vec::new(),
        builders: Vec::new(),
        defaults: RawSettings::absent(),
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
    if let Some(builders) = fields.take("builders") {
        plan.builders = decode_builders(builders, diagnostics);
    }
    if let Some(defaults) = fields.take("defaults")
        && !defaults.is_null()
        && let Some(mut fields) = Fields::read(
            defaults,
            "`defaults`",
            "in `defaults`",
            DEFAULTS_KEYS,
            diagnostics,
            "a mapping of settings for every image, such as `{ platforms: [linux/amd64] }`",
        )
    {
        plan.defaults = decode_settings(&mut fields, diagnostics);
    }
    let defaults_have_platforms = !matches!(plan.defaults.platforms, Field::Absent);
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
                    .filter_map(|image| decode_image(image, defaults_have_platforms, diagnostics))
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
            ca_cert: Field::Absent,
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
            if let Some(insecure) = fields.take("insecure")
                && let Field::Given(value) = flag(insecure, "insecure", diagnostics)
            {
                registry.insecure = value;
            }
            if let Some(ca_cert) = fields.take("ca_cert") {
                registry.ca_cert = text_field(
                    ca_cert,
                    "`ca_cert`",
                    "the path of a PEM file, relative to the plan's folder",
                    diagnostics,
                );
            }
        }
        registries.push(registry);
    }
    registries
}

fn decode_builders(node: &Node, diagnostics: &mut Diagnostics) -> Vec<RawBuilder> {
    let Some(items) = sequence(
        node,
        "builders",
        "a list of builders such as `[{ name: local, endpoint: \"unix:///var/run/docker.sock\" }]`",
        diagnostics,
    ) else {
        return Vec::new();
    };
    if items.is_empty() {
        diagnostics.error(
            node.at,
            "`builders` is empty; list at least one builder, or leave `builders` out to build on \
             the daemon of DOCKER_HOST (or the local socket)",
        );
    }
    items
        .iter()
        .filter_map(|item| decode_builder(item, diagnostics))
        .collect()
}

fn decode_builder(node: &Node, diagnostics: &mut Diagnostics) -> Option<RawBuilder> {
    let mut fields = Fields::read(
        node,
        "a builder",
        "in a builder",
        BUILDER_KEYS,
        diagnostics,
        "a mapping with `name` and `endpoint`, such as \
         `{ name: arm, endpoint: \"ssh://ci@arm-builder\", platforms: [linux/arm64] }`",
    )?;
    let mut builder = RawBuilder {
        name: Field::Absent,
        endpoint: Field::Absent,
        platforms: Field::Absent,
        max_jobs: Field::Absent,
        tls: Field::Absent,
    };
    match fields.take("name") {
        None => fields.missing(
            "name",
            "this builder has no `name`; add one, e.g. `name: arm`",
            diagnostics,
        ),
        Some(value) => {
            builder.name = text_field(value, "`name`", "a builder name such as `arm`", diagnostics);
        }
    }
    match fields.take("endpoint") {
        None => fields.missing(
            "endpoint",
            "this builder has no `endpoint`; add the daemon's address, e.g. \
             `endpoint: \"ssh://ci@arm-builder\"` or `endpoint: \"tcp://10.0.0.5:2376\"`",
            diagnostics,
        ),
        Some(value) => {
            builder.endpoint = text_field(
                value,
                "`endpoint`",
                "a daemon address such as `unix:///var/run/docker.sock`, \
                 `tcp://host:2376` or `ssh://user@host`",
                diagnostics,
            );
        }
    }
    if let Some(value) = fields.take("platforms") {
        builder.platforms = text_list(
            value,
            "platforms",
            "a list of the platforms the builder builds natively, such as `[linux/arm64]`",
            "a platform",
            "`platforms` is empty; list the platforms this builder builds natively, or leave \
             `platforms` out to ask its daemon",
            diagnostics,
        );
    }
    if let Some(value) = fields.take("max_jobs") {
        builder.max_jobs = match &value.value {
            NodeValue::Scalar(scalar) if scalar.kind == ScalarKind::Number => Field::Given(Text {
                value: scalar.text.clone(),
                at: value.at,
                verbatim_offset: scalar.verbatim_offset,
            }),
            _ => {
                diagnostics.error(
                    value.at,
                    format!(
                        "`max_jobs` must be a whole number of at least 1, such as 4; found {}",
                        value.describe()
                    ),
                );
                Field::Invalid
            }
        };
    }
    if let Some(value) = fields.take("tls") {
        builder.tls = tls(value, diagnostics);
    }
    Some(builder)
}

fn tls(node: &Node, diagnostics: &mut Diagnostics) -> Field<RawTls> {
    let Some(mut fields) = Fields::read(
        node,
        "`tls`",
        "in `tls`",
        TLS_KEYS,
        diagnostics,
        "a mapping of the client's files, such as \
         `{ ca: certs/ca.pem, cert: certs/cert.pem, key: certs/key.pem }`",
    ) else {
        return Field::Invalid;
    };
    let mut raw = RawTls {
        at: node.at,
        ca: Field::Absent,
        cert: Field::Absent,
        key: Field::Absent,
    };
    let files = [
        ("ca", "the CA that signed the daemon's certificate"),
        ("cert", "the client certificate"),
        ("key", "the client key"),
    ];
    for (key, what) in files {
        let field = match fields.take(key) {
            None => {
                fields.missing(
                    key,
                    &format!(
                        "`tls` has no `{key}` ({what}); `tls` needs `ca`, `cert` and `key`, \
                         PEM files relative to the plan's folder"
                    ),
                    diagnostics,
                );
                Field::Invalid
            }
            Some(value) => text_field(
                value,
                &format!("`{key}`"),
                "the path of a PEM file, relative to the plan's folder",
                diagnostics,
            ),
        };
        match key {
            "ca" => raw.ca = field,
            "cert" => raw.cert = field,
            _ => raw.key = field,
        }
    }
    Field::Given(raw)
}

/// The settings an image and `defaults` share, taken from `fields`.
fn decode_settings(fields: &mut Fields<'_>, diagnostics: &mut Diagnostics) -> RawSettings {
    let mut settings = RawSettings::absent();
    if let Some(value) = fields.take("registries") {
        settings.registries = text_list(
            value,
            "registries",
            "a list of registries (with an optional namespace) such as `[ghcr.io/team, \"127.0.0.1:5000/team\"]`",
            "a registry",
            "`registries` is empty; list at least one registry",
            diagnostics,
        );
    }
    if let Some(value) = fields.take("platforms") {
        settings.platforms = text_list(
            value,
            "platforms",
            "a list of platforms such as `[linux/amd64, linux/arm64]`",
            "a platform",
            "`platforms` is empty; list at least one platform, e.g. `[linux/amd64]`",
            diagnostics,
        );
    }
    if let Some(value) = fields.take("tags") {
        settings.tags = tags(value, diagnostics);
    }
    if let Some(value) = fields.take("build_args") {
        settings.build_args = string_map(
            value,
            "build_args",
            "build arg",
            "a mapping of names to values, such as `{ GREETING: hello }`",
            diagnostics,
        );
    }
    if let Some(value) = fields.take("labels") {
        settings.labels = string_map(
            value,
            "labels",
            "label",
            "a mapping of label names to values, such as `{ org.opencontainers.image.source: https://example.com/app }`",
            diagnostics,
        );
    }
    if let Some(value) = fields.take("annotations") {
        settings.annotations = annotations(value, diagnostics);
    }
    if let Some(value) = fields.take("no_cache") {
        settings.no_cache = flag(value, "no_cache", diagnostics);
    }
    if let Some(value) = fields.take("pull") {
        settings.pull = flag(value, "pull", diagnostics);
    }
    if let Some(value) = fields.take("compression") {
        settings.compression = compression(value, diagnostics);
    }
    if let Some(value) = fields.take("format") {
        settings.format = format(value, diagnostics);
    }
    settings
}

fn decode_image(
    node: &Node,
    defaults_have_platforms: bool,
    diagnostics: &mut Diagnostics,
) -> Option<RawImage> {
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
        repositories: Field::Absent,
        name: Field::Absent,
        context: Field::Absent,
        dockerfile: Field::Absent,
        target: Field::Absent,
        depends_on: Field::Absent,
        overrides: Field::Absent,
        settings: RawSettings::absent(),
    };

    let repository = fields.take("repository");
    let repositories = fields.take("repositories");
    let name = fields.take("name");
    if repository.is_none() && repositories.is_none() && name.is_none() {
        fields.missing(
            "repository",
            "this image has no `repository`; add one, e.g. `repository: ghcr.io/team/app` \
             (or `repositories: [...]` to publish to several, or `name` with `registries`)",
            diagnostics,
        );
    }
    if let Some(value) = repository {
        image.repository = text_field(
            value,
            "`repository`",
            "a repository name such as `ghcr.io/team/app`",
            diagnostics,
        );
    }
    if let Some(value) = repositories {
        image.repositories = text_list(
            value,
            "repositories",
            "a list of repositories such as `[ghcr.io/team/app, docker.io/team/app]`",
            "a repository",
            "`repositories` is empty; list at least one repository",
            diagnostics,
        );
    }
    if let Some(value) = name {
        image.name = text_field(
            value,
            "`name`",
            "a repository path such as `team/app`, published under each of `registries`",
            diagnostics,
        );
    }
    if let Some(value) = fields.take("context") {
        image.context = text_field(value, "`context`", "a folder path", diagnostics);
    }
    if let Some(value) = fields.take("dockerfile") {
        image.dockerfile = text_field(value, "`dockerfile`", "a file path", diagnostics);
    }
    if let Some(value) = fields.take("target") {
        image.target = text_field(
            value,
            "`target`",
            "the name of a build stage (`FROM ... AS name`)",
            diagnostics,
        );
    }
    if !defaults_have_platforms && !fields.has("platforms") {
        fields.missing(
            "platforms",
            "this image has no `platforms`; list them, e.g. `platforms: [linux/amd64, linux/arm64]` \
             (or give them to every image under `defaults`)",
            diagnostics,
        );
    }
    image.settings = decode_settings(&mut fields, diagnostics);
    if let Some(value) = fields.take("depends_on") {
        image.depends_on = text_list(
            value,
            "depends_on",
            "a list of images of this plan (their `repository` or `name`), such as `[ghcr.io/team/base]`",
            "an image's repository or name",
            "`depends_on` is empty; list the images this one is built from, or leave it out",
            diagnostics,
        );
    }
    if let Some(value) = fields.take("overrides") {
        image.overrides = overrides(value, diagnostics);
    }
    Some(image)
}

fn tags(node: &Node, diagnostics: &mut Diagnostics) -> Field<Vec<Item<RawTag>>> {
    let Some(items) = sequence(
        node,
        "tags",
        "a list of tags such as `[latest, \"1.0.0\"]`",
        diagnostics,
    ) else {
        return Field::Invalid;
    };
    if items.is_empty() {
        diagnostics.error(
            node.at,
            "`tags` is empty; list at least one tag, or leave `tags` out to push `latest`",
        );
        return Field::Invalid;
    }
    let tags = items
        .iter()
        .map(|item| {
            if let NodeValue::Mapping(_) = item.value {
                return semver_tag(item, diagnostics);
            }
            match text_field(
                item,
                "each item of `tags`",
                "a tag, or a mapping such as `{ semver: \"1.2.3\" }`",
                diagnostics,
            ) {
                Field::Given(text) => Some(RawTag::Plain(text)),
                _ => None,
            }
        })
        .collect();
    Field::Given(tags)
}

fn semver_tag(node: &Node, diagnostics: &mut Diagnostics) -> Item<RawTag> {
    let mut fields = Fields::read(
        node,
        "a semver tag",
        "in a semver tag",
        SEMVER_TAG_KEYS,
        diagnostics,
        "a mapping such as `{ semver: \"1.2.3\", latest: true }`",
    )?;
    let version = match fields.take("semver") {
        None => {
            fields.missing(
                "semver",
                "a tag given as a mapping needs `semver`, e.g. `{ semver: \"${VERSION}\" }`",
                diagnostics,
            );
            None
        }
        Some(value) => match text_field(
            value,
            "`semver`",
            "a version such as `\"1.2.3\"`",
            diagnostics,
        ) {
            Field::Given(text) => Some(text),
            _ => None,
        },
    };
    // A bad `latest` is reported; the version is still checked.
    let latest = match fields.take("latest") {
        None => false,
        Some(value) => matches!(flag(value, "latest", diagnostics), Field::Given(true)),
    };
    Some(RawTag::Semver {
        version: version?,
        latest,
    })
}

fn annotations(node: &Node, diagnostics: &mut Diagnostics) -> Field<RawAnnotations> {
    let mut raw = RawAnnotations {
        at: node.at,
        index: Field::Absent,
        manifest: Field::Absent,
    };
    if node.is_null() {
        return Field::Given(raw);
    }
    let Some(mut fields) = Fields::read(
        node,
        "`annotations`",
        "in `annotations`",
        ANNOTATION_KEYS,
        diagnostics,
        "a mapping of levels (`index`, `manifest`) to annotations, such as \
         `{ index: { org.opencontainers.image.version: \"1.0\" } }`",
    ) else {
        return Field::Invalid;
    };
    let example = "a mapping of annotation names to values, such as \
                   `{ org.opencontainers.image.version: \"1.0\" }`";
    if let Some(value) = fields.take("index") {
        raw.index = string_map(value, "index", "annotation", example, diagnostics);
    }
    if let Some(value) = fields.take("manifest") {
        raw.manifest = string_map(value, "manifest", "annotation", example, diagnostics);
    }
    Field::Given(raw)
}

fn overrides(node: &Node, diagnostics: &mut Diagnostics) -> Field<Vec<RawOverride>> {
    let Some(entries) = free_mapping(
        node,
        "overrides",
        "a mapping of platforms to settings, such as `{ linux/arm64: { dockerfile: Dockerfile.arm64 } }`",
        diagnostics,
    ) else {
        return Field::Invalid;
    };
    let mut out = Vec::new();
    for (platform, settings) in entries {
        let mut entry = RawOverride {
            platform,
            context: Field::Absent,
            dockerfile: Field::Absent,
            target: Field::Absent,
            build_args: Field::Absent,
        };
        if !settings.is_null() {
            let Some(mut fields) = Fields::read(
                settings,
                &format!("the overrides for `{}`", entry.platform.value),
                &format!("in the overrides for `{}`", entry.platform.value),
                OVERRIDE_KEYS,
                diagnostics,
                "a mapping such as `{ dockerfile: Dockerfile.arm64 }`",
            ) else {
                // Reported; the other platforms are still checked.
                continue;
            };
            if let Some(value) = fields.take("context") {
                entry.context = text_field(value, "`context`", "a folder path", diagnostics);
            }
            if let Some(value) = fields.take("dockerfile") {
                entry.dockerfile = text_field(value, "`dockerfile`", "a file path", diagnostics);
            }
            if let Some(value) = fields.take("target") {
                entry.target = text_field(
                    value,
                    "`target`",
                    "the name of a build stage (`FROM ... AS name`)",
                    diagnostics,
                );
            }
            if let Some(value) = fields.take("build_args") {
                entry.build_args = string_map(
                    value,
                    "build_args",
                    "build arg",
                    "a mapping of names to values, such as `{ GREETING: hello }`",
                    diagnostics,
                );
            }
        }
        out.push(entry);
    }
    Field::Given(out)
}

/// A mapping of names to scalar values (`build_args`, `labels`, annotations); null is empty.
/// `what` names one entry in messages (`build arg`).
fn string_map(
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
            let value = match text_field(value, &what, "a string", diagnostics) {
                Field::Given(value) => Some(value),
                _ => None,
            };
            (name, value)
        })
        .collect();
    Field::Given(map)
}

/// `true` or `false`.
fn flag(node: &Node, key: &str, diagnostics: &mut Diagnostics) -> Field<bool> {
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

fn compression(node: &Node, diagnostics: &mut Diagnostics) -> Field<(LayerCompression, Position)> {
    const KINDS: &[&str] = &["gzip", "zstd", "none"];
    let Field::Given(text) = text_field(
        node,
        "`compression`",
        "`gzip`, `zstd` or `none`",
        diagnostics,
    ) else {
        return Field::Invalid;
    };
    match text.value.as_str() {
        "gzip" => Field::Given((LayerCompression::Gzip, text.at)),
        "zstd" => Field::Given((LayerCompression::Zstd, text.at)),
        "none" => Field::Given((LayerCompression::None, text.at)),
        other => {
            let suggestion = closest(other, KINDS)
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            diagnostics.error(
                text.at,
                format!("unknown compression `{other}`; use `gzip`, `zstd` or `none`{suggestion}"),
            );
            Field::Invalid
        }
    }
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

    fn has(&self, key: &str) -> bool {
        self.known.contains_key(key)
    }

    /// Reports a missing required key, unless an unknown key was probably meant to be it.
    fn missing(&self, key: &str, message: &str, diagnostics: &mut Diagnostics) {
        if !self.suggested.contains(&key) {
            diagnostics.error(self.at, message);
        }
    }
}
