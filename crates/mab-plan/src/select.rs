//! Building a part of a plan: `mab build PLAN [IMAGE...] [--platform P]...`. The images asked
//! for are found by `name` or repository (with a did-you-mean for a misspelt one), each
//! platform asked for must be one of theirs, and [`Plan::subset`] makes the plan of a run that
//! builds only some images and platforms. Which images they depend on must be built too is the
//! pipeline's to decide (it asks the registries what is already published).

use std::collections::BTreeMap;

use mab_platform::Platform;

use crate::suggest::closest;
use crate::{ImageSpec, Plan, PlanError, Repository};

/// What the command line asks of a plan: some images (all when empty) for some platforms (each
/// image's own when empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Images by `name` or by one of their repositories.
    pub images: Vec<String>,
    /// Platforms, normalised.
    pub platforms: Vec<Platform>,
}

/// A [`Selection`] checked against a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    targets: Vec<usize>,
    platforms: Vec<Platform>,
}

impl Selected {
    /// The images asked for, as indexes into [`Plan::images`], in plan order.
    pub fn targets(&self) -> &[usize] {
        &self.targets
    }

    /// The platforms asked for; empty: every platform of each image.
    pub fn platforms(&self) -> &[Platform] {
        &self.platforms
    }

    /// Whether the whole plan is asked for (no image and no platform named).
    pub fn is_everything(&self, plan: &Plan) -> bool {
        self.platforms.is_empty() && self.targets.len() == plan.images.len()
    }
}

impl Plan {
    /// The image whose `name` is `name`, or which has `name` among its repositories (Docker Hub
    /// names normalised as in `depends_on`).
    pub fn find_image(&self, name: &str) -> Option<usize> {
        let repository = Repository::parse(name).ok();
        self.images.iter().position(|image| {
            image.name.as_deref() == Some(name)
                || repository
                    .as_ref()
                    .is_some_and(|r| image.repositories.contains(r))
        })
    }

    /// Checks `selection` against the plan: every image named exists, and every platform named
    /// is one of each selected image's (with `images` empty, of every image). The error lists
    /// every problem.
    pub fn select(&self, selection: &Selection) -> Result<Selected, PlanError> {
        let mut problems = Vec::new();
        let mut targets = Vec::new();
        for name in &selection.images {
            match self.find_image(name) {
                Some(index) if !targets.contains(&index) => targets.push(index),
                Some(_) => {}
                None => problems.push(self.unknown_image(name)),
            }
        }
        if selection.images.is_empty() {
            targets = (0..self.images.len()).collect();
        }
        targets.sort_unstable();
        for &index in &targets {
            let image = &self.images[index];
            let missing: Vec<String> = selection
                .platforms
                .iter()
                .filter(|p| !image.platforms.contains(p))
                .map(Platform::to_string)
                .collect();
            if !missing.is_empty() {
                problems.push(format!(
                    "image {} has no platform {} (its platforms: {})",
                    describe(image),
                    missing.join(", "),
                    platform_list(&image.platforms)
                ));
            }
        }
        if !problems.is_empty() {
            return Err(PlanError::Selection {
                file: self.file.clone(),
                problems,
            });
        }
        let mut platforms = selection.platforms.clone();
        platforms.dedup();
        Ok(Selected { targets, platforms })
    }

    fn unknown_image(&self, name: &str) -> String {
        let mut known: Vec<String> = Vec::new();
        for image in &self.images {
            known.extend(image.name.clone());
            known.extend(image.repositories.iter().map(Repository::to_string));
        }
        let candidates: Vec<&str> = known.iter().map(String::as_str).collect();
        // A near miss of a name, or of the last part of a repository (`ap` for `…/team/app`).
        let near = closest(name, &candidates).or_else(|| {
            let lasts: Vec<&str> = candidates
                .iter()
                .map(|c| c.rsplit('/').next().unwrap_or(c))
                .collect();
            closest(name, &lasts).and_then(|last| {
                candidates
                    .iter()
                    .copied()
                    .find(|c| c.rsplit('/').next() == Some(last))
            })
        });
        let listed: Vec<String> = self.images.iter().map(describe).collect();
        match near {
            Some(near) => format!(
                "no image `{name}` in the plan; did you mean `{near}`? (images: {})",
                listed.join(", ")
            ),
            None => format!(
                "no image `{name}` in the plan; name an image by its `name` or repository (images: \
                 {})",
                listed.join(", ")
            ),
        }
    }

    /// The plan of a run that builds only `images` (indexes into [`Plan::images`]), each for
    /// those of `platforms` it has (every platform of its own when `platforms` is empty).
    /// `depends_on` entries naming images left out are dropped (those images are already
    /// published, or not needed). Fails when an image would be left with no platform.
    pub fn subset(&self, images: &[usize], platforms: &[Platform]) -> Result<Plan, PlanError> {
        let mut kept: Vec<usize> = images.to_vec();
        kept.sort_unstable();
        kept.dedup();
        let new_index: BTreeMap<usize, usize> = kept
            .iter()
            .enumerate()
            .map(|(new, &old)| (old, new))
            .collect();
        let mut problems = Vec::new();
        let mut out = Vec::new();
        for &old in &kept {
            let image = &self.images[old];
            let mut narrowed = image.clone();
            if !platforms.is_empty() {
                narrowed.platforms.retain(|p| platforms.contains(p));
                narrowed
                    .overrides
                    .retain(|o| narrowed.platforms.contains(&o.platform));
            }
            if narrowed.platforms.is_empty() {
                problems.push(format!(
                    "image {} is needed but has none of the platforms asked for ({}); its \
                     platforms: {}",
                    describe(image),
                    platform_list(platforms),
                    platform_list(&image.platforms)
                ));
            }
            let (depends_on, names): (Vec<usize>, Vec<String>) = image
                .depends_on
                .iter()
                .zip(&image.depends_on_names)
                .filter_map(|(d, name)| new_index.get(d).map(|&n| (n, name.clone())))
                .unzip();
            narrowed.depends_on = depends_on;
            narrowed.depends_on_names = names;
            out.push(narrowed);
        }
        if !problems.is_empty() {
            return Err(PlanError::Selection {
                file: self.file.clone(),
                problems,
            });
        }
        let order = self
            .order
            .iter()
            .filter_map(|old| new_index.get(old).copied())
            .collect();
        Ok(Plan {
            file: self.file.clone(),
            registries: self.registries.clone(),
            builders: self.builders.clone(),
            images: out,
            order,
        })
    }
}

/// `` `name` `` or `` `repository` ``: how the command line may name the image.
fn describe(image: &ImageSpec) -> String {
    match &image.name {
        Some(name) => format!("`{name}`"),
        None => format!("`{}`", image.repositories[0]),
    }
}

fn platform_list(platforms: &[Platform]) -> String {
    platforms
        .iter()
        .map(Platform::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
