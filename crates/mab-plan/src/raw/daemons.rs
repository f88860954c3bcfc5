//! What the plan says about the machines around the build, as written: `registries:` (settings
//! per registry host) and `builders:` (the Docker daemons that build, with their TLS files).

use super::fields::{Fields, flag, free_mapping, scalar_field, sequence, text_field, text_list};
use super::{BUILDER_KEYS, Field, Item, REGISTRY_KEYS, TLS_KEYS, Text};
use crate::diagnostic::Diagnostics;
use crate::tree::{Node, Position, ScalarKind};

/// One entry under `registries:`.
#[derive(Debug)]
pub(crate) struct RawRegistry {
    pub(crate) host: Text,
    pub(crate) insecure: bool,
    pub(crate) ca_cert: Field<Text>,
    /// A duration (`90`, `30s`, `2m`), as written (read in `validate`).
    pub(crate) stall_limit: Field<Text>,
}

/// One item of `builders:`: a Docker daemon that builds some of the plan's jobs.
#[derive(Debug)]
pub(crate) struct RawBuilder {
    pub(crate) name: Field<Text>,
    pub(crate) endpoint: Field<Text>,
    /// A Docker context's name, instead of `endpoint`.
    pub(crate) context: Field<Text>,
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

/// Reads `registries:`; only the entries that could be read are returned.
pub(super) fn decode_registries(node: &Node, diagnostics: &mut Diagnostics) -> Vec<RawRegistry> {
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
            stall_limit: Field::Absent,
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
            if let Some(value) = fields.take("stall_limit") {
                registry.stall_limit = scalar_field(
                    value,
                    |kind| matches!(kind, ScalarKind::Number | ScalarKind::String),
                    "`stall_limit` must be a duration such as 60s, 2m or 90 (seconds)",
                    diagnostics,
                );
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

/// Reads `builders:`; only the builders that could be read are returned.
pub(super) fn decode_builders(node: &Node, diagnostics: &mut Diagnostics) -> Vec<RawBuilder> {
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
        context: Field::Absent,
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
    if let Some(value) = fields.take("context") {
        builder.context = text_field(
            value,
            "`context`",
            "the name of a Docker context, as `docker context ls` lists it",
            diagnostics,
        );
    }
    match fields.take("endpoint") {
        None if matches!(builder.context, Field::Absent) => fields.missing_one_of(
            &["endpoint", "context"],
            "this builder has no `endpoint`; add the daemon's address, e.g. \
             `endpoint: \"ssh://ci@arm-builder\"` or `endpoint: \"tcp://10.0.0.5:2376\"`, or \
             name a Docker context: `context: colima`",
            diagnostics,
        ),
        None => {}
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
        builder.max_jobs = scalar_field(
            value,
            |kind| *kind == ScalarKind::Number,
            "`max_jobs` must be a whole number of at least 1, such as 4",
            diagnostics,
        );
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
