//! `registries:`: the settings per registry host (plain HTTP, an extra CA file, a stall
//! limit), hosts valid
//! and listed once.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use super::{Validator, shown};
use crate::RegistrySettings;
use crate::raw::{Field, RawRegistry, Text};
use crate::tree::Position;
use mab_vocab::check_registry;

impl Validator<'_, '_, '_, '_> {
    pub(super) fn registries(
        &mut self,
        raw: Vec<RawRegistry>,
    ) -> BTreeMap<String, RegistrySettings> {
        let mut registries = BTreeMap::new();
        let mut first_seen: HashMap<String, Position> = HashMap::new();
        for registry in raw {
            let ca_cert = self.ca_cert(&registry.ca_cert);
            let stall_limit = self.stall_limit(&registry.stall_limit);
            let Some(host) =
                self.expand_non_empty(&registry.host, "a registry under `registries`", "")
            else {
                continue;
            };
            if let Err(reason) = check_registry(&host) {
                self.diagnostics.error(
                    registry.host.at,
                    format!(
                        "invalid registry {} under `registries`: {reason}",
                        shown(&registry.host, &host)
                    ),
                );
                continue;
            }
            if let Some(first) = first_seen.get(&host) {
                self.diagnostics.error(
                    registry.host.at,
                    format!(
                        "registry {} is already listed at line {}",
                        shown(&registry.host, &host),
                        first.line
                    ),
                );
                continue;
            }
            first_seen.insert(host.clone(), registry.host.at);
            let (Some(ca_cert), Some(stall_limit)) = (ca_cert, stall_limit) else {
                continue;
            };
            registries.insert(
                host,
                RegistrySettings {
                    insecure: registry.insecure,
                    ca_cert,
                    stall_limit,
                },
            );
        }
        registries
    }

    /// `Some(None)` when not given, `None` when wrong.
    fn stall_limit(&mut self, field: &Field<Text>) -> Option<Option<Duration>> {
        let Some(text) = field.optional()? else {
            return Some(None);
        };
        match mab_vocab::parse_duration(&text.value) {
            Ok(limit) => Some(Some(limit)),
            Err(reason) => {
                self.diagnostics
                    .error(text.at, format!("invalid `stall_limit`: {reason}"));
                None
            }
        }
    }

    /// `Some(None)` when not given, `None` when wrong.
    pub(super) fn ca_cert(&mut self, field: &Field<Text>) -> Option<Option<PathBuf>> {
        let Some(text) = field.optional()? else {
            return Some(None);
        };
        self.plan_file(text, "ca_cert", |path, plan_dir| {
            format!(
                "ca_cert `{}` not found (`ca_cert` is relative to the plan's folder, `{}`)",
                path.display(),
                plan_dir.display()
            )
        })
        .map(Some)
    }
}
