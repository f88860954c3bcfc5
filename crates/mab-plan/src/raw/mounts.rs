//! What a build may mount besides its context, as written: `secrets` (`RUN
//! --mount=type=secret`) and `ssh` (`RUN --mount=type=ssh`). Only names and paths are written
//! in a plan, never a secret's value.

use super::fields::{Fields, list, text_field, text_list};
use super::{Field, Item, SECRET_KEYS, SSH_KEYS, Text};
use crate::diagnostic::Diagnostics;
use crate::suggest::closest;
use crate::tree::{Node, NodeValue, Position};

/// An item of `secrets`: `{ id: ID, env: VARIABLE }` or `{ id: ID, file: PATH }`.
#[derive(Debug, Clone)]
pub(crate) struct RawSecret {
    pub(crate) id: Text,
    pub(crate) source: RawSecretSource,
}

/// Where a secret's value is read at build time.
#[derive(Debug, Clone)]
pub(crate) enum RawSecretSource {
    /// `env: VARIABLE`: the name of an environment variable.
    Env(Text),
    /// `file: PATH`: a file, relative to the plan's folder.
    File(Text),
}

/// An item of `ssh`.
#[derive(Debug, Clone)]
pub(crate) enum RawSsh {
    /// `default`: the ssh agent of `SSH_AUTH_SOCK`, under the id `default`.
    Agent(Text),
    /// `{ id: ID, paths: [PATH, ...] }`: agent sockets or private key files.
    Paths { id: Text, paths: Vec<Item<Text>> },
}

/// Reads `secrets`: a list of secrets, each with an id and exactly one of `env` and `file`.
/// The list comes with where it starts.
pub(super) fn secrets(
    node: &Node,
    diagnostics: &mut Diagnostics,
) -> Field<(Vec<Item<RawSecret>>, Position)> {
    list(
        node,
        "secrets",
        "a list of secrets such as `[{ id: npm, env: NPM_TOKEN }, { id: cert, file: certs/client.pem }]`",
        "`secrets` is empty; list the secrets the build mounts, such as \
         `{ id: npm, env: NPM_TOKEN }`, or leave `secrets` out",
        diagnostics,
        secret,
    )
    .map(|secrets| (secrets, node.at))
}

fn secret(node: &Node, diagnostics: &mut Diagnostics) -> Item<RawSecret> {
    let mut fields = Fields::read(
        node,
        "each item of `secrets`",
        "in a secret",
        SECRET_KEYS,
        diagnostics,
        "a mapping such as `{ id: npm, env: NPM_TOKEN }` or `{ id: cert, file: certs/client.pem }`",
    )?;
    let id = mount_id(&mut fields, "this secret", "secret", "npm", diagnostics);
    let env = fields.take("env").map(|value| {
        text_field(
            value,
            "`env`",
            "the name of the environment variable that holds the secret, such as `NPM_TOKEN`",
            diagnostics,
        )
    });
    let file = fields.take("file").map(|value| {
        text_field(
            value,
            "`file`",
            "the path of the file that holds the secret, relative to the plan's folder",
            diagnostics,
        )
    });
    let source = match (env, file) {
        (None, None) => {
            fields.missing_one_of(
                &["env", "file"],
                "this secret has no `env` or `file`; say where its value is read at build \
                 time: `env: VARIABLE` (an environment variable) or `file: PATH` (a file, \
                 relative to the plan's folder)",
                diagnostics,
            );
            None
        }
        (Some(_), Some(file)) => {
            if let Field::Given(file) = file {
                diagnostics.error(
                    file.at,
                    "this secret has both `env` and `file`; give one: `env` names the \
                     environment variable that holds it, `file` the file",
                );
            }
            None
        }
        (Some(env), None) => env.item().map(RawSecretSource::Env),
        (None, Some(file)) => file.item().map(RawSecretSource::File),
    };
    Some(RawSecret {
        id: id?,
        source: source?,
    })
}

/// Reads `ssh`: a list of `default` and `{ id, paths }` items. The list comes with where it
/// starts.
pub(super) fn ssh(
    node: &Node,
    diagnostics: &mut Diagnostics,
) -> Field<(Vec<Item<RawSsh>>, Position)> {
    list(
        node,
        "ssh",
        "a list such as `[default]` or `[{ id: deploy, paths: [keys/deploy_key] }]`",
        "`ssh` is empty; list what the build may use, such as `[default]` (the ssh agent of \
         SSH_AUTH_SOCK), or leave `ssh` out",
        diagnostics,
        ssh_item,
    )
    .map(|forwards| (forwards, node.at))
}

/// The word that stands for the ssh agent of `SSH_AUTH_SOCK`.
const AGENT: &str = "default";

fn ssh_item(node: &Node, diagnostics: &mut Diagnostics) -> Item<RawSsh> {
    let expected = "`default` (the ssh agent of SSH_AUTH_SOCK) or a mapping such as \
                    `{ id: deploy, paths: [keys/deploy_key] }`";
    if let NodeValue::Mapping(_) = node.value {
        return ssh_paths(node, diagnostics);
    }
    let text = text_field(node, "each item of `ssh`", expected, diagnostics).item()?;
    if text.value == AGENT {
        return Some(RawSsh::Agent(text));
    }
    let suggestion = closest(&text.value, &[AGENT])
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default();
    diagnostics.error(
        text.at,
        format!(
            "unknown ssh item `{}`; an item of `ssh` is {expected}{suggestion}",
            text.value
        ),
    );
    None
}

fn ssh_paths(node: &Node, diagnostics: &mut Diagnostics) -> Item<RawSsh> {
    let mut fields = Fields::read(
        node,
        "each item of `ssh`",
        "in an item of `ssh`",
        SSH_KEYS,
        diagnostics,
        "a mapping such as `{ id: deploy, paths: [keys/deploy_key] }`",
    )?;
    let id = mount_id(
        &mut fields,
        "this item of `ssh`",
        "ssh",
        "deploy",
        diagnostics,
    );
    let paths = match fields.take("paths") {
        None => {
            fields.missing(
                "paths",
                "this item of `ssh` has no `paths`; list agent sockets or private key files, \
                 relative to the plan's folder, e.g. `paths: [keys/deploy_key]` (or write \
                 `default` for the agent of SSH_AUTH_SOCK)",
                diagnostics,
            );
            None
        }
        Some(value) => text_list(
            value,
            "paths",
            "a list of ssh agent sockets or private key files, such as `[keys/deploy_key]`",
            "a path",
            "`paths` is empty; list at least one ssh agent socket or private key file",
            diagnostics,
        )
        .item(),
    };
    Some(RawSsh::Paths {
        id: id?,
        paths: paths?,
    })
}

/// The required `id` of an item (`this`, e.g. "this secret") of `secrets` or `ssh` (`kind`, as
/// in `RUN --mount=type=KIND`); `example` is an id to show.
fn mount_id(
    fields: &mut Fields<'_>,
    this: &str,
    kind: &str,
    example: &str,
    diagnostics: &mut Diagnostics,
) -> Item<Text> {
    let Some(value) = fields.take("id") else {
        fields.missing(
            "id",
            &format!(
                "{this} has no `id`; add the id the Dockerfile mounts it by \
                 (`RUN --mount=type={kind},id=ID`), e.g. `id: {example}`"
            ),
            diagnostics,
        );
        return None;
    };
    text_field(
        value,
        "`id`",
        &format!("the id the Dockerfile mounts it by, such as `{example}`"),
        diagnostics,
    )
    .item()
}
