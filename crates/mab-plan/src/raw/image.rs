//! An entry of `images:` as written: where it goes, its settings, `depends_on`, and its
//! per-platform `overrides`.

use super::fields::{Fields, free_mapping, text_field, text_list};
use super::settings::{RawSettings, decode_settings};
use super::{Field, IMAGE_KEYS, Item, OVERRIDE_KEYS, Text};
use crate::diagnostic::Diagnostics;
use crate::tree::{Node, Position};

/// One entry under `images:`.
#[derive(Debug)]
pub(crate) struct RawImage {
    /// Where the image's mapping starts (its first key).
    pub(crate) at: Position,
    pub(crate) repository: Field<Text>,
    pub(crate) repositories: Field<Vec<Item<Text>>>,
    pub(crate) name: Field<Text>,
    pub(crate) depends_on: Field<Vec<Item<Text>>>,
    pub(crate) overrides: Field<Vec<RawOverride>>,
    /// The build settings (some of which `defaults` may give too).
    pub(crate) settings: RawSettings,
}

/// One entry under an image's `overrides`: settings for one platform.
#[derive(Debug)]
pub(crate) struct RawOverride {
    pub(crate) platform: Text,
    pub(crate) settings: RawSettings,
}

/// Reads one image; `None` when it is not a mapping (reported).
pub(super) fn decode_image(
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
        depends_on: Field::Absent,
        overrides: Field::Absent,
        settings: RawSettings::default(),
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
            settings: RawSettings::default(),
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
            entry.settings = decode_settings(&mut fields, diagnostics);
        }
        out.push(entry);
    }
    Field::Given(out)
}
