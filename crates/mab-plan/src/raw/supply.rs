//! The supply-chain settings as written: `attestations: { provenance, sbom }` and
//! `sign: { key, manifests }` (or `sign: false`), which `defaults` and an image share.

use super::fields::{Fields, flag, text_field};
use super::{ATTESTATION_KEYS, Field, SIGN_KEYS, Text};
use crate::diagnostic::Diagnostics;
use crate::tree::{Node, NodeValue, Position, ScalarKind};

/// `attestations: { provenance: BOOL, sbom: BOOL }`.
#[derive(Debug, Clone)]
pub(crate) struct RawAttestations {
    /// Where the `attestations` value starts.
    pub(crate) at: Position,
    pub(crate) provenance: Field<bool>,
    pub(crate) sbom: Field<bool>,
}

/// `sign:` as written.
#[derive(Debug, Clone)]
pub(crate) enum RawSign {
    /// `sign: false`: do not sign (an image turning off the defaults' `sign`).
    Off,
    /// `sign: { key: PATH, manifests: BOOL }`.
    With {
        key: Field<Text>,
        manifests: Field<bool>,
    },
}

pub(super) fn attestations(node: &Node, diagnostics: &mut Diagnostics) -> Field<RawAttestations> {
    let mut raw = RawAttestations {
        at: node.at,
        provenance: Field::Absent,
        sbom: Field::Absent,
    };
    if node.is_null() {
        return Field::Given(raw);
    }
    let Some(mut fields) = Fields::read(
        node,
        "`attestations`",
        "in `attestations`",
        ATTESTATION_KEYS,
        diagnostics,
        "a mapping such as `{ provenance: true, sbom: true }`",
    ) else {
        return Field::Invalid;
    };
    if let Some(value) = fields.take("provenance") {
        raw.provenance = flag(value, "provenance", diagnostics);
    }
    if let Some(value) = fields.take("sbom") {
        raw.sbom = flag(value, "sbom", diagnostics);
    }
    Field::Given(raw)
}

pub(super) fn sign(node: &Node, diagnostics: &mut Diagnostics) -> Field<RawSign> {
    let expected = "a mapping such as `{ key: cosign.key }`, or `false`";
    match &node.value {
        NodeValue::Scalar(scalar)
            if scalar.kind == ScalarKind::Bool && scalar.text.eq_ignore_ascii_case("false") =>
        {
            return Field::Given(RawSign::Off);
        }
        NodeValue::Scalar(_) => {
            diagnostics.error(
                node.at,
                format!("`sign` must be {expected}; found {}", node.describe()),
            );
            return Field::Invalid;
        }
        _ => {}
    }
    let Some(mut fields) = Fields::read(
        node,
        "`sign`",
        "in `sign`",
        SIGN_KEYS,
        diagnostics,
        expected,
    ) else {
        return Field::Invalid;
    };
    let key = match fields.take("key") {
        Some(value) => text_field(
            value,
            "`key`",
            "the path of a cosign private key, relative to the plan's folder",
            diagnostics,
        ),
        None => {
            fields.missing(
                "key",
                "`sign` needs `key`: the cosign private key (`cosign generate-key-pair`), e.g. \
                 `sign: { key: cosign.key }`",
                diagnostics,
            );
            Field::Invalid
        }
    };
    let manifests = match fields.take("manifests") {
        Some(value) => flag(value, "manifests", diagnostics),
        None => Field::Absent,
    };
    Field::Given(RawSign::With { key, manifests })
}
