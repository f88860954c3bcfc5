//! The plan as written: the YAML tree read into typed (but not yet validated) structs.
//!
//! This is where the shape of the format lives: which keys exist at each level, which are
//! required, and what type each value has. Every unknown key, repeated key, missing key and
//! wrong type is reported (not just the first), each at its own line and column. Values are
//! kept as written, with their positions; [`crate::validate`] gives them meaning.

mod daemons;
mod fields;
mod image;
mod mounts;
mod settings;
mod supply;

pub(crate) use daemons::{RawBuilder, RawRegistry, RawTls};
pub(crate) use image::{RawImage, RawOverride};
pub(crate) use mounts::{RawSecret, RawSecretSource, RawSsh};
pub(crate) use settings::{RawAnnotations, RawSettings, RawTag};
pub(crate) use supply::{RawAttestations, RawSign};

use crate::diagnostic::Diagnostics;
use crate::tree::{Node, NodeValue, Position, ScalarKind};
use daemons::{decode_builders, decode_registries};
use fields::{Fields, sequence};
use image::decode_image;
use settings::decode_settings;

/// Keys of the top-level mapping.
pub(crate) const PLAN_KEYS: &[&str] = &["version", "registries", "builders", "defaults", "images"];
/// Keys of a builder (an item of `builders`).
pub(crate) const BUILDER_KEYS: &[&str] = &[
    "name",
    "endpoint",
    "context",
    "platforms",
    "max_jobs",
    "tls",
];
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
    "cache_from",
    "cache_to",
    "builder",
    "secrets",
    "ssh",
    "format",
    "compression",
    "attestations",
    "sign",
    "depends_on",
    "overrides",
];
/// Keys only an image has: where it goes, where it is built from, what it is built after and
/// its per-platform settings.
const IMAGE_ONLY_KEYS: &[&str] = &[
    "repository",
    "repositories",
    "name",
    "context",
    "dockerfile",
    "target",
    "depends_on",
    "overrides",
];
/// Keys of `defaults`, what every image gets unless it says otherwise: the keys of an image
/// but those only an image has, in the same order.
pub(crate) const DEFAULTS_KEYS: &[&str] =
    &keys_except::<{ IMAGE_KEYS.len() - IMAGE_ONLY_KEYS.len() }>(IMAGE_KEYS, IMAGE_ONLY_KEYS);
/// Keys of one platform's entry under an image's `overrides`.
pub(crate) const OVERRIDE_KEYS: &[&str] = &[
    "context",
    "dockerfile",
    "target",
    "build_args",
    "cache_from",
    "secrets",
    "ssh",
];
/// Keys of a secret (an item of `secrets`): its id and where its value is read (one of `env`
/// and `file`).
pub(crate) const SECRET_KEYS: &[&str] = &["id", "env", "file"];
/// Keys of an item of `ssh` that is a mapping.
pub(crate) const SSH_KEYS: &[&str] = &["id", "paths"];
/// Keys of `annotations`: the levels they go to.
pub(crate) const ANNOTATION_KEYS: &[&str] = &["index", "manifest"];
/// Keys of `attestations`: which in-toto statements are attached to each platform's image.
pub(crate) const ATTESTATION_KEYS: &[&str] = &["provenance", "sbom"];
/// Keys of `sign`: the cosign key, and whether each platform's manifest is signed too.
pub(crate) const SIGN_KEYS: &[&str] = &["key", "manifests"];
/// Keys of a semver tag (an item of `tags` that is a mapping).
pub(crate) const SEMVER_TAG_KEYS: &[&str] = &["semver", "latest"];
/// Keys of a registry's settings.
pub(crate) const REGISTRY_KEYS: &[&str] = &["insecure", "ca_cert", "stall_limit"];
/// The plan format version this crate reads.
pub(crate) const SUPPORTED_VERSION: &str = "1";

/// The `N` keys of `all` that are not in `left_out`, in their order; the build fails when
/// `left_out` has a key that `all` does not.
const fn keys_except<const N: usize>(
    all: &[&'static str],
    left_out: &[&'static str],
) -> [&'static str; N] {
    const fn same(a: &str, b: &str) -> bool {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        let mut i = 0;
        while i < a.len() {
            if a[i] != b[i] {
                return false;
            }
            i += 1;
        }
        true
    }
    let mut out = [""; N];
    let (mut i, mut n) = (0, 0);
    while i < all.len() {
        let mut j = 0;
        while j < left_out.len() && !same(all[i], left_out[j]) {
            j += 1;
        }
        if j == left_out.len() {
            assert!(n < N, "a left-out key is not among the keys");
            out[n] = all[i];
            n += 1;
        }
        i += 1;
    }
    assert!(n == N, "a left-out key is not among the keys");
    out
}

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
#[derive(Debug, Clone, Default)]
pub(crate) enum Field<T> {
    #[default]
    Absent,
    Invalid,
    Given(T),
}

impl<T> Field<T> {
    /// The value, if given: an item that is `None` when absent or wrong.
    pub(crate) fn item(self) -> Item<T> {
        match self {
            Field::Given(value) => Some(value),
            _ => None,
        }
    }

    /// `Some(None)` when absent, `Some(Some(value))` when given, `None` when wrong: for an
    /// optional setting, whose absence is fine.
    pub(crate) fn optional(&self) -> Option<Option<&T>> {
        match self {
            Field::Absent => Some(None),
            Field::Invalid => None,
            Field::Given(value) => Some(Some(value)),
        }
    }

    /// The given value made into another; absent and wrong stay so.
    pub(crate) fn map<U>(self, f: impl FnOnce(T) -> U) -> Field<U> {
        match self {
            Field::Absent => Field::Absent,
            Field::Invalid => Field::Invalid,
            Field::Given(value) => Field::Given(f(value)),
        }
    }
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

/// Reads the document tree, reporting every shape problem into `diagnostics`.
pub(crate) fn decode(root: &Node, diagnostics: &mut Diagnostics) -> RawPlan {
    let mut plan = RawPlan {
        registries: Vec::new(),
        builders: Vec::new(),
        defaults: RawSettings::default(),
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
