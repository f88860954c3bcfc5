//! Where each image goes: `repository`, `repositories`, or `name` under the `registries` of the
//! image or of `defaults`; each repository valid, none given twice in an image or built by two
//! images.

use std::collections::HashMap;

use super::settings::{Settings, pick};
use super::{Validator, from, shown};
use crate::Repository;
use crate::raw::{Field, Item, RawImage, Text};
use crate::tree::Position;
use mab_vocab::check_registry;

/// Where an image goes, and what `depends_on` may call it.
pub(super) struct Identity {
    pub(super) name: Option<String>,
    /// Each repository with where it was written and how.
    pub(super) repositories: Vec<(Repository, Position, String)>,
}

impl Identity {
    /// The name used for this image in messages about other images.
    pub(super) fn label(&self) -> String {
        self.repositories
            .first()
            .map(|r| r.0.to_string())
            .or_else(|| self.name.clone())
            .unwrap_or_default()
    }
}

impl Validator<'_, '_, '_, '_> {
    /// Where an image goes: `repository`, `repositories`, or `name` under `registries`.
    pub(super) fn identity(&mut self, raw: &RawImage, defaults: &Settings) -> Option<Identity> {
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
    pub(super) fn duplicate_repositories(&mut self, identities: &[Option<Identity>]) {
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

    /// Parses a repository, or `prefix/name` when the image is given by `name` (`text` is the
    /// `name` then, and `prefix_and_name` its expansion under that prefix).
    pub(super) fn repository(
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
                let name = self.expand_non_empty(text, "a repository", "")?;
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
    pub(super) fn registry_prefixes(
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
}
