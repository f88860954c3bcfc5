//! Which images a run builds when only some are asked for (`mab build PLAN IMAGE...`): the
//! images asked for, and each image they depend on that is not yet published (every tag in every
//! repository), and so on down. A dependency that is published is used as it is.

use mab_plan::{ImageSpec, Plan, Selected};
use mab_registry::{RegistryClient, RegistryError};

use crate::PipelineError;

/// The plan of a run, and what was decided about the images it depends on.
#[derive(Debug)]
pub struct RunPlan {
    /// The images to build (a part of the plan), each with the platforms asked for.
    pub plan: Plan,
    /// The images left out or added because others depend on them, in the order decided.
    pub dependencies: Vec<DependencyChoice>,
}

/// An image that an image asked for depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependencyChoice {
    /// The image, as the plan names it.
    pub image: String,
    /// The image that depends on it.
    pub needed_by: String,
    /// What was found out about it.
    pub state: DependencyState,
}

/// Whether a dependency is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DependencyState {
    /// Every tag is in every repository: it is not built.
    Published,
    /// A tag is missing (or the registry could not say; the reason is given): it is built too.
    NotPublished(String),
    /// Not asked (a dry run): it would be built unless published.
    Unchecked,
}

/// The run that builds what `selected` asks of `plan`: with `client`, each image the selected
/// ones depend on is asked of its registries and built only when it is not published; without
/// (a dry run), all of them are listed as built.
pub async fn select_run(
    plan: &Plan,
    selected: &Selected,
    client: Option<&RegistryClient>,
) -> Result<RunPlan, PipelineError> {
    let mut keep: Vec<usize> = selected.targets().to_vec();
    let mut dependencies = Vec::new();
    let mut decided: Vec<usize> = keep.clone();
    let mut queue = keep.clone();
    while let Some(index) = queue.pop() {
        let image = &plan.images()[index];
        for &dependency in image.depends_on() {
            if decided.contains(&dependency) {
                continue;
            }
            decided.push(dependency);
            let needed = &plan.images()[dependency];
            let state = match client {
                None => DependencyState::Unchecked,
                Some(client) => match unpublished_tag(needed, client).await {
                    None => DependencyState::Published,
                    Some(reason) => DependencyState::NotPublished(reason),
                },
            };
            if state != DependencyState::Published {
                keep.push(dependency);
                queue.push(dependency);
            }
            dependencies.push(DependencyChoice {
                image: needed.label(),
                needed_by: image.label(),
                state,
            });
        }
    }
    let plan = plan.subset(&keep, selected.platforms())?;
    Ok(RunPlan { plan, dependencies })
}

/// Why `image` is not published (the first tag missing, or why the registry could not say);
/// `None` when every tag is in every repository.
async fn unpublished_tag(image: &ImageSpec, client: &RegistryClient) -> Option<String> {
    for repository in image.repositories() {
        let remote = client.repository(repository.registry(), repository.path());
        for tag in image.tags() {
            match remote.pull_manifest_raw(tag).await {
                Ok(_) => {}
                Err(RegistryError::ManifestNotFound { .. }) => {
                    return Some(format!("{repository}:{tag} is not in its registry"));
                }
                Err(error) => {
                    return Some(format!(
                        "{repository}:{tag} cannot be read ({})",
                        mab_build::error_chain(&error)
                    ));
                }
            }
        }
    }
    None
}

impl From<mab_plan::PlanError> for PipelineError {
    fn from(error: mab_plan::PlanError) -> Self {
        Self::Plan(Box::new(error))
    }
}
