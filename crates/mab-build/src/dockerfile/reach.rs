//! Which stages building a target needs (the target, the stages it starts `FROM`, copies or
//! mounts files `--from`, and so on), as BuildKit builds only those; and the secret and ssh ids
//! those stages mount, for the caller to compare with what it was given.
//!
//! It must not know where secrets come from, nor check anything against the plan.

use std::collections::BTreeSet;

use super::mounts::{IdMount, MountedId, mounted_ids};
use super::{Dockerfile, StageBase};

impl Dockerfile {
    /// The stages (indexes in [`Dockerfile::stages`]) that building `target` needs, in order:
    /// the target (by `AS` name, case-insensitively; the last stage when `None`), the stages it
    /// starts from, and those it names in `COPY --from=` and `RUN --mount=from=` (by name or
    /// index), transitively. Every stage when no stage is named `target` (the build fails on
    /// it anyway).
    pub fn needed_stages(&self, target: Option<&str>) -> BTreeSet<usize> {
        let all = || (0..self.stages.len()).collect();
        let start = match target {
            None => self.stages.len().saturating_sub(1),
            Some(target) => match self.stage_named(target) {
                Some(index) => index,
                None => return all(),
            },
        };
        let mut needed = BTreeSet::new();
        let mut pending = vec![start];
        while let Some(stage) = pending.pop() {
            if !needed.insert(stage) {
                continue;
            }
            if let StageBase::Stage(base) = self.stages[stage].base {
                pending.push(base);
            }
            for reference in self.references.iter().filter(|r| r.stage == stage) {
                let named = self.stage_named(&reference.name).or_else(|| {
                    reference
                        .name
                        .parse::<usize>()
                        .ok()
                        .filter(|index| *index < self.stages.len())
                });
                if let Some(named) = named {
                    pending.push(named);
                }
            }
        }
        needed
    }

    /// Whether a `COPY --from=` or `RUN --mount=from=` names an image rather than a stage (such
    /// an image is not among [`Dockerfile::base_images`]: BuildKit resolves it itself).
    pub fn reads_other_images(&self) -> bool {
        self.references.iter().any(|reference| {
            self.stage_named(&reference.name).is_none() && reference.name.parse::<usize>().is_err()
        })
    }

    /// The index of the stage named `name` (case-insensitively).
    fn stage_named(&self, name: &str) -> Option<usize> {
        self.stages.iter().position(|stage| {
            stage
                .name
                .as_deref()
                .is_some_and(|stage_name| stage_name.eq_ignore_ascii_case(name))
        })
    }

    /// The distinct secret ids mounted by the stages building `target` needs (see
    /// [`Dockerfile::needed_stages`]), each required if any of its mounts is.
    pub fn secret_ids(&self, target: Option<&str>) -> Vec<MountedId> {
        self.ids_needed(self.secret_mounts(), target)
    }

    /// The distinct ssh ids mounted by the stages building `target` needs, each required if
    /// any of its mounts is.
    pub fn ssh_ids(&self, target: Option<&str>) -> Vec<MountedId> {
        self.ids_needed(self.ssh_mounts(), target)
    }

    fn ids_needed(&self, mounts: &[IdMount], target: Option<&str>) -> Vec<MountedId> {
        let needed = self.needed_stages(target);
        mounted_ids(
            mounts
                .iter()
                .filter(|mount| needed.contains(&mount.stage())),
        )
    }
}
