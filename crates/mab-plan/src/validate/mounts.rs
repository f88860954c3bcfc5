//! `secrets` and `ssh` of one level: ids valid and unique in the list, `env` the name of an
//! environment variable (its value is read at build time, never by the plan), files, sockets
//! and keys that exist; and the rule that they need BuildKit.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use super::settings::{Settings, is_variable_name};
use super::{Validator, check_characters};
use crate::BuilderKind;
use crate::mounts::{BuildSecret, SecretSource, SshForward, SshSource};
use crate::raw::{Field, Item, RawSecret, RawSecretSource, RawSsh, Text};
use crate::tree::Position;

/// The id of the ssh agent of `SSH_AUTH_SOCK` (the item `default`).
const AGENT_ID: &str = "default";

/// A list of one level, by id, with where the list starts.
pub(super) type Keyed<T> = (BTreeMap<String, T>, Position);

impl Validator<'_, '_, '_, '_> {
    /// `secrets` of one level.
    pub(super) fn secrets(
        &mut self,
        field: &Field<(Vec<Item<RawSecret>>, Position)>,
    ) -> Field<Keyed<BuildSecret>> {
        self.keyed(field, |validator, secret, first_seen| {
            let id = validator.mount_id(&secret.id, "secret", "secrets", first_seen);
            let source = match &secret.source {
                RawSecretSource::Env(name) => validator.variable_name(name).map(SecretSource::Env),
                RawSecretSource::File(path) => validator
                    .plan_file(path, "file", |path, plan_dir| {
                        format!(
                            "secret file `{}` not found (`file` is relative to the plan's \
                             folder, `{}`)",
                            path.display(),
                            plan_dir.display()
                        )
                    })
                    .map(SecretSource::File),
            };
            Some(BuildSecret {
                id: id?,
                source: source?,
            })
        })
        .map(|(secrets, at)| (by_id(secrets, |s| &s.id), at))
    }

    /// `ssh` of one level.
    pub(super) fn ssh(
        &mut self,
        field: &Field<(Vec<Item<RawSsh>>, Position)>,
    ) -> Field<Keyed<SshForward>> {
        self.keyed(field, |validator, item, first_seen| match item {
            RawSsh::Agent(text) => validator
                .mount_id(text, "ssh", "ssh", first_seen)
                .map(|id| SshForward {
                    id,
                    source: SshSource::Agent,
                }),
            RawSsh::Paths { id, paths } => {
                let id = validator.mount_id(id, "ssh", "ssh", first_seen);
                let paths: Vec<Option<PathBuf>> = paths
                    .iter()
                    .map(|path| path.as_ref().and_then(|path| validator.ssh_path(path)))
                    .collect();
                let paths: Option<Vec<PathBuf>> = paths.into_iter().collect();
                Some(SshForward {
                    id: id?,
                    source: SshSource::Paths(paths?),
                })
            }
        })
        .map(|(forwards, at)| (by_id(forwards, |f| &f.id), at))
    }

    /// Each item of a list of `secrets` or `ssh`, validated by `one` (given the ids seen so
    /// far); `Invalid` when any item is.
    fn keyed<R, T>(
        &mut self,
        field: &Field<(Vec<Item<R>>, Position)>,
        mut one: impl FnMut(&mut Self, &R, &mut HashMap<String, Position>) -> Option<T>,
    ) -> Field<(Vec<T>, Position)> {
        let (list, at) = match field {
            Field::Absent => return Field::Absent,
            Field::Invalid => return Field::Invalid,
            Field::Given(given) => given,
        };
        let mut first_seen = HashMap::new();
        let mut out = Vec::new();
        let mut valid = true;
        for item in list {
            match item
                .as_ref()
                .and_then(|item| one(self, item, &mut first_seen))
            {
                Some(valid_item) => out.push(valid_item),
                None => valid = false,
            }
        }
        if valid {
            Field::Given((out, *at))
        } else {
            Field::Invalid
        }
    }

    /// The id of an item of `secrets` or `ssh` (`what`: "secret" or "ssh"; `list`: the key),
    /// taken as written: letters, digits, `-`, `_` and `.`, not given before in the list.
    fn mount_id(
        &mut self,
        text: &Text,
        what: &str,
        list: &str,
        first_seen: &mut HashMap<String, Position>,
    ) -> Option<String> {
        let id = &text.value;
        if let Err(reason) = check_id(id) {
            self.diagnostics
                .error(text.at, format!("invalid {what} id `{id}`: {reason}"));
            return None;
        }
        if let Some(first) = first_seen.get(id) {
            let agent = if what == "ssh" && id == AGENT_ID {
                "; the item `default` is the id `default`"
            } else {
                ""
            };
            self.diagnostics.error(
                text.at,
                format!(
                    "{what} id `{id}` is listed twice in `{list}` (first at line {}, column \
                     {}{agent})",
                    first.line, first.column
                ),
            );
            return None;
        }
        first_seen.insert(id.clone(), text.at);
        Some(id.clone())
    }

    /// The name of the environment variable that holds a secret, as written (not expanded:
    /// the plan never reads the value).
    fn variable_name(&mut self, text: &Text) -> Option<String> {
        let name = &text.value;
        if is_variable_name(name) {
            return Some(name.clone());
        }
        let bare = name
            .trim_start_matches("${")
            .trim_start_matches('$')
            .trim_end_matches('}');
        let reason = if name.contains('$') && is_variable_name(bare) {
            format!(
                "`env` is the name of the environment variable that holds the secret, read \
                 when the image is built; write `env: {bare}`"
            )
        } else {
            "a variable name is letters, digits and `_`, not starting with a digit".to_string()
        };
        self.diagnostics.error(
            text.at,
            format!("invalid environment variable name `{name}` in `env`: {reason}"),
        );
        None
    }

    /// An ssh agent socket or private key file, relative to the plan's folder.
    fn ssh_path(&mut self, text: &Text) -> Option<PathBuf> {
        self.plan_path(
            text,
            "an item of `paths`",
            |env, path| env.exists(path),
            |path, plan_dir| {
                format!(
                    "ssh path `{}` not found (`paths` are ssh agent sockets or private key \
                     files, relative to the plan's folder, `{}`)",
                    path.display(),
                    plan_dir.display()
                )
            },
        )
    }

    /// Secrets and ssh need BuildKit: with the classic builder, each of `own`'s lists is
    /// reported where it is written; when `own` has none, the lists `inherited` (the
    /// defaults') gives are reported at `image_at`.
    pub(super) fn check_mounts_need_buildkit(
        &mut self,
        backend: BuilderKind,
        own: &Settings,
        inherited: Option<&Settings>,
        image_at: Position,
    ) {
        if backend != BuilderKind::Classic {
            return;
        }
        let explanation = "the classic builder (`builder: classic`) cannot mount secrets or ssh \
                           into `RUN` steps";
        let given = |settings: &Settings| {
            [
                ("secrets", list_at(&settings.secrets)),
                ("ssh", list_at(&settings.ssh)),
            ]
            .into_iter()
            .filter_map(|(key, at)| at.map(|at| (key, at)))
            .collect::<Vec<_>>()
        };
        let own_lists = given(own);
        for (key, at) in &own_lists {
            self.diagnostics.error(
                *at,
                format!(
                    "`{key}` needs `builder: buildkit`: {explanation}; drop `builder: classic` \
                     or `{key}`"
                ),
            );
        }
        if !own_lists.is_empty() {
            return;
        }
        let Some((key, at)) = inherited.map(given).unwrap_or_default().into_iter().next() else {
            return;
        };
        self.diagnostics.error(
            image_at,
            format!(
                "`defaults` gives this image `{key}` (line {}), but {explanation}; build it with \
                 `builder: buildkit`, or give `{key}` only to the images that need it",
                at.line
            ),
        );
    }
}

/// `items` by their id.
pub(super) fn by_id<T>(items: Vec<T>, id: impl Fn(&T) -> &String) -> BTreeMap<String, T> {
    items
        .into_iter()
        .map(|item| (id(&item).clone(), item))
        .collect()
}

/// Where a list that was given starts.
fn list_at<T>(field: &Field<Keyed<T>>) -> Option<Position> {
    match field {
        Field::Given((_, at)) => Some(*at),
        _ => None,
    }
}

/// An id of a secret or an ssh forward: letters, digits, `-`, `_` and `.`.
fn check_id(id: &str) -> Result<(), String> {
    check_characters(id, "an id is letters, digits, `-`, `_` and `.`")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_ids() {
        for good in ["npm", "NPM_TOKEN", "a.b-c_d", "default", "1"] {
            assert_eq!(check_id(good), Ok(()), "{good}");
        }
        let cases = [
            ("", "it is empty"),
            ("a b", "whitespace is not allowed"),
            ("a/b", "`/` is not allowed"),
            ("a=b", "`=` is not allowed"),
            ("${ID}", "`$` is not allowed"),
        ];
        for (bad, want) in cases {
            let reason = check_id(bad).unwrap_err();
            assert!(reason.contains(want), "{bad}: {reason}");
        }
    }
}
