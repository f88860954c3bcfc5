//! `builders:`: the Docker daemons that build, with unique names, endpoints of an accepted form
//! (checked by [`crate::endpoint`]), native platforms, job limits and TLS files.

use std::collections::HashMap;
use std::path::PathBuf;

use super::{Validator, shown};
use crate::plan::{Builder, BuilderTls, DockerContext};
use crate::raw::{Field, RawBuilder, RawTls, Text};
use crate::tree::Position;
use mab_vocab::{check_endpoint, password_of};

impl Validator<'_, '_, '_, '_> {
    /// `builders:`: names unique, endpoints of an accepted form and distinct, native platforms,
    /// `max_jobs` at least 1, `tls` files that exist. Only the valid ones are returned (the
    /// plan is invalid when one is not).
    pub(super) fn builders(&mut self, raw: &[RawBuilder]) -> Vec<Builder> {
        let mut builders = Vec::new();
        let mut names: HashMap<String, Position> = HashMap::new();
        let mut endpoints: HashMap<String, (String, Position)> = HashMap::new();
        for builder in raw {
            let name = self.builder_name(&builder.name, &mut names);
            let mut tls = self.builder_tls(&builder.tls);
            let context = self.builder_context(builder);
            let endpoint = match &context {
                // Given, but no context by that name (or a problem with it): reported.
                Field::Invalid => None,
                Field::Given((name, context)) => {
                    tls = Some(context.tls.clone());
                    self.context_endpoint(builder, name, context, &mut endpoints)
                }
                Field::Absent => self.builder_endpoint(builder, name.as_deref(), &mut endpoints),
            };
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
                context: match context {
                    Field::Given((name, _)) => Some(name),
                    _ => None,
                },
                platforms,
                max_jobs,
                tls,
            });
        }
        builders
    }

    pub(super) fn builder_name(
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

    pub(super) fn builder_endpoint(
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

    /// `context:`: a Docker context the environment knows (its name and what it says), given
    /// alone (not with `endpoint` or `tls`: the context says both).
    fn builder_context(&mut self, builder: &RawBuilder) -> Field<(String, DockerContext)> {
        let text = match &builder.context {
            Field::Absent => return Field::Absent,
            Field::Invalid => return Field::Invalid,
            Field::Given(text) => text,
        };
        let mut alone = true;
        if !matches!(builder.endpoint, Field::Absent) {
            self.diagnostics.error(
                text.at,
                "a builder has either an `endpoint` or a `context`, not both; the context names \
                 its daemon's endpoint",
            );
            alone = false;
        }
        if let Field::Given(tls) = &builder.tls {
            self.diagnostics.error(
                tls.at,
                "`tls` goes with an `endpoint`; a builder given by `context` uses the TLS files \
                 stored with its Docker context",
            );
            alone = false;
        }
        let Some(name) = self.expand(text) else {
            return Field::Invalid;
        };
        match self.env.docker_context(&name) {
            Ok(context) if alone => Field::Given((name, context)),
            Ok(_) => Field::Invalid,
            Err(reason) => {
                self.diagnostics.error(
                    text.at,
                    format!("unknown docker context {}: {reason}", shown(text, &name)),
                );
                Field::Invalid
            }
        }
    }

    /// The endpoint of a builder's Docker `context`: of an accepted form, and no other
    /// builder's.
    fn context_endpoint(
        &mut self,
        builder: &RawBuilder,
        context_name: &str,
        context: &DockerContext,
        endpoints: &mut HashMap<String, (String, Position)>,
    ) -> Option<String> {
        let Field::Given(text) = &builder.context else {
            return None;
        };
        let endpoint = context.endpoint.clone();
        if let Err(reason) = check_endpoint(&endpoint, context.tls.is_some()) {
            self.diagnostics.error(
                text.at,
                format!(
                    "docker context `{context_name}` names an endpoint mab cannot use: {reason}"
                ),
            );
            return None;
        }
        let name = match &builder.name {
            Field::Given(name) => name.value.as_str(),
            _ => "?",
        };
        if let Some((first, first_at)) = endpoints.get(&endpoint) {
            self.diagnostics.error(
                text.at,
                format!(
                    "builder `{name}` has the same endpoint `{endpoint}` (docker context \
                     `{context_name}`) as builder `{first}` (line {}); one daemon is one \
                     builder: raise its `max_jobs` instead",
                    first_at.line
                ),
            );
            return None;
        }
        endpoints.insert(endpoint.clone(), (name.to_string(), text.at));
        Some(endpoint)
    }

    /// `Some(None)` when not given, `None` when wrong.
    pub(super) fn max_jobs(&mut self, field: &Field<Text>) -> Option<Option<usize>> {
        let Some(text) = field.optional()? else {
            return Some(None);
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
    pub(super) fn builder_tls(&mut self, field: &Field<RawTls>) -> Option<Option<BuilderTls>> {
        let Some(raw) = field.optional()? else {
            return Some(None);
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

    pub(super) fn tls_file(&mut self, field: &Field<Text>, key: &str) -> Option<PathBuf> {
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
}
