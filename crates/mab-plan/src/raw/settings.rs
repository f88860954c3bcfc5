//! The build settings as written: the one decoder for the keys that `defaults`, an image and an
//! image's `overrides.<platform>` share. Which keys a level may hold is decided by the key list
//! its mapping is read with; this decoder reads whichever of them are there.

use super::fields::{Fields, choice, flag, list, string_map, text_field, text_list};
use super::mounts::{RawSecret, RawSsh, secrets, ssh};
use super::supply::{attestations, sign};
use super::{
    ANNOTATION_KEYS, Field, Item, RawAttestations, RawMap, RawSign, SEMVER_TAG_KEYS, Text,
};
use crate::diagnostic::Diagnostics;
use crate::tree::{Node, NodeValue, Position};
use crate::{BuilderKind, CacheExport, LayerCompression, ManifestFormat};

/// The settings of `defaults`, of an image or of one platform of an image, as written. A level
/// holds only some of them (see the key lists in [`crate::raw`]); the others stay `Absent`.
/// Lower levels replace the values of higher ones (and for `build_args`, `labels` and
/// `annotations`, are merged over them, name by name).
#[derive(Debug, Default)]
pub(crate) struct RawSettings {
    pub(crate) context: Field<Text>,
    pub(crate) dockerfile: Field<Text>,
    pub(crate) target: Field<Text>,
    pub(crate) registries: Field<Vec<Item<Text>>>,
    pub(crate) platforms: Field<Vec<Item<Text>>>,
    pub(crate) tags: Field<Vec<Item<RawTag>>>,
    pub(crate) build_args: Field<RawMap>,
    pub(crate) labels: Field<RawMap>,
    pub(crate) annotations: Field<RawAnnotations>,
    pub(crate) no_cache: Field<bool>,
    pub(crate) pull: Field<bool>,
    /// Images whose build cache the build may use, as written.
    pub(crate) cache_from: Field<Vec<Item<Text>>>,
    /// Where the build's cache goes, with where it was written.
    pub(crate) cache_to: Field<(CacheExport, Position)>,
    pub(crate) builder: Field<(BuilderKind, Position)>,
    /// The secrets, with where the list starts.
    pub(crate) secrets: Field<(Vec<Item<RawSecret>>, Position)>,
    /// The ssh forwards, with where the list starts.
    pub(crate) ssh: Field<(Vec<Item<RawSsh>>, Position)>,
    pub(crate) format: Field<ManifestFormat>,
    pub(crate) compression: Field<(LayerCompression, Position)>,
    pub(crate) attestations: Field<RawAttestations>,
    pub(crate) sign: Field<RawSign>,
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

/// The build settings among `fields` (those of `defaults`, an image or a platform's overrides).
pub(super) fn decode_settings(
    fields: &mut Fields<'_>,
    diagnostics: &mut Diagnostics,
) -> RawSettings {
    let mut settings = RawSettings::default();
    if let Some(value) = fields.take("context") {
        settings.context = text_field(value, "`context`", "a folder path", diagnostics);
    }
    if let Some(value) = fields.take("dockerfile") {
        settings.dockerfile = text_field(value, "`dockerfile`", "a file path", diagnostics);
    }
    if let Some(value) = fields.take("target") {
        settings.target = text_field(
            value,
            "`target`",
            "the name of a build stage (`FROM ... AS name`)",
            diagnostics,
        );
    }
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
    if let Some(value) = fields.take("cache_from") {
        settings.cache_from = text_list(
            value,
            "cache_from",
            "a list of images whose build cache the build may use, such as \
             `[ghcr.io/team/app:buildcache]`",
            "an image reference",
            "`cache_from` is empty; list at least one image, or leave `cache_from` out",
            diagnostics,
        );
    }
    if let Some(value) = fields.take("cache_to") {
        settings.cache_to = match text_field(value, "`cache_to`", "`inline`", diagnostics) {
            Field::Given(text) if text.value == "inline" => {
                Field::Given((CacheExport::Inline, text.at))
            }
            Field::Given(text) => {
                diagnostics.error(
                    text.at,
                    format!(
                        "unknown cache export `{}`; use `inline`: the Docker daemon's build API \
                         exports the build cache only into the image itself, which a later \
                         build names in `cache_from`",
                        text.value
                    ),
                );
                Field::Invalid
            }
            _ => Field::Invalid,
        };
    }
    if let Some(value) = fields.take("builder") {
        let backends = [
            ("buildkit", BuilderKind::BuildKit),
            ("classic", BuilderKind::Classic),
        ];
        settings.builder = choice(value, "builder", "builder", &backends, diagnostics);
    }
    if let Some(value) = fields.take("secrets") {
        settings.secrets = secrets(value, diagnostics);
    }
    if let Some(value) = fields.take("ssh") {
        settings.ssh = ssh(value, diagnostics);
    }
    if let Some(value) = fields.take("compression") {
        settings.compression = choice(
            value,
            "compression",
            "compression",
            &LayerCompression::ALL.map(|c| (c.as_str(), c)),
            diagnostics,
        );
    }
    if let Some(value) = fields.take("format") {
        let formats = [
            ("oci", ManifestFormat::Oci),
            ("docker", ManifestFormat::Docker),
        ];
        settings.format =
            choice(value, "format", "manifest format", &formats, diagnostics).map(|(f, _)| f);
    }
    if let Some(value) = fields.take("attestations") {
        settings.attestations = attestations(value, diagnostics);
    }
    if let Some(value) = fields.take("sign") {
        settings.sign = sign(value, diagnostics);
    }
    settings
}

fn tags(node: &Node, diagnostics: &mut Diagnostics) -> Field<Vec<Item<RawTag>>> {
    list(
        node,
        "tags",
        "a list of tags such as `[latest, \"1.0.0\"]`",
        "`tags` is empty; list at least one tag, or leave `tags` out to push `latest`",
        diagnostics,
        |item, diagnostics| {
            if let NodeValue::Mapping(_) = item.value {
                return semver_tag(item, diagnostics);
            }
            text_field(
                item,
                "each item of `tags`",
                "a tag, or a mapping such as `{ semver: \"1.2.3\" }`",
                diagnostics,
            )
            .item()
            .map(RawTag::Plain)
        },
    )
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
        Some(value) => text_field(
            value,
            "`semver`",
            "a version such as `\"1.2.3\"`",
            diagnostics,
        )
        .item(),
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
