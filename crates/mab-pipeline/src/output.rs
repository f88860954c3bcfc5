//! Where a run's images go: each image's own registry repositories, or one OCI image layout;
//! and how registries are reached (the plan's insecure registries, extra CAs and stall limits).

use std::path::PathBuf;

use mab_plan::{Plan, Repository};
use mab_registry::{
    DEFAULT_STALL_LIMIT, OciLayout, RegistryClient, RegistryOptions, RetryPolicy, StallLimits,
    Target,
};

use crate::PipelineError;

/// Where results go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Each image's own repositories.
    Registries,
    /// One OCI image layout folder.
    Layout(PathBuf),
}

/// How to reach the plan's registries: the insecure ones, and the extra CAs (read once).
pub fn registry_options(plan: &Plan) -> Result<RegistryOptions, PipelineError> {
    let mut extra_ca_certificates = Vec::new();
    for (host, settings) in plan.registries() {
        if let Some(path) = settings.ca_cert() {
            let pem = std::fs::read(path).map_err(|source| PipelineError::CaCertificate {
                path: path.to_path_buf(),
                registry: host.to_string(),
                source,
            })?;
            extra_ca_certificates.push(pem);
        }
    }
    Ok(RegistryOptions {
        insecure_registries: plan
            .registries()
            .filter(|(_, settings)| settings.insecure())
            .map(|(host, _)| host.to_string())
            .collect(),
        extra_ca_certificates,
        retry: RetryPolicy::default(),
        stall_limits: StallLimits {
            default: DEFAULT_STALL_LIMIT,
            per_registry: plan
                .registries()
                .filter_map(|(host, settings)| Some((host.to_string(), settings.stall_limit()?)))
                .collect(),
        },
    })
}

/// The destinations of each image of the plan (one per repository), in plan order.
pub async fn destinations(
    plan: &Plan,
    output: &Output,
    client: &RegistryClient,
) -> Result<Vec<Vec<Target>>, PipelineError> {
    match output {
        Output::Registries => Ok(per_repository(plan, |repository| {
            Target::registry(client.repository(repository.registry(), repository.path()))
        })),
        Output::Layout(dir) => {
            let layout = OciLayout::open(dir)
                .await
                .map_err(|e| PipelineError::Layout(Box::new(e)))?;
            Ok(per_repository(plan, |repository| {
                Target::layout(layout.clone(), repository.to_string())
            }))
        }
    }
}

/// Checks that every destination can be written to (registry reachable, credentials
/// accepted) before anything is built.
pub async fn check_writable(destinations: &[Vec<Target>]) -> Result<(), PipelineError> {
    for target in destinations.iter().flatten() {
        target
            .check_writable()
            .await
            .map_err(|source| PipelineError::NotWritable {
                destination: target.describe(),
                source: Box::new(source),
            })?;
    }
    Ok(())
}

fn per_repository(plan: &Plan, target: impl Fn(&Repository) -> Target) -> Vec<Vec<Target>> {
    plan.images()
        .iter()
        .map(|image| image.repositories().iter().map(&target).collect())
        .collect()
}
