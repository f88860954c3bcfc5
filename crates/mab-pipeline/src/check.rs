//! Before anything is built: every platform of the plan must have a builder that can build it.

use mab_build::BuildError;
use mab_plan::Plan;
use mab_platform::Platform;

use crate::BuilderPool;

/// Why each platform of the plan that no usable builder can build cannot be built; empty when
/// every platform has one. A run with any such platform should build nothing.
pub fn unbuildable_platforms(plan: &Plan, builders: &impl BuilderPool) -> Vec<BuildError> {
    let mut platforms: Vec<&Platform> = plan
        .images()
        .iter()
        .flat_map(|image| image.platforms())
        .collect();
    platforms.sort();
    platforms.dedup();
    platforms
        .into_iter()
        .filter_map(|platform| builders.check(platform).err())
        .collect()
}
