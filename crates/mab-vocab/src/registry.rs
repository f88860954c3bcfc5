//! How a registry is named where Docker keeps credentials.

/// The key of a registry in the docker config (`auths`, `credHelpers`): the host as written,
/// except Docker Hub, which the docker CLI keeps under `https://index.docker.io/v1/`.
pub fn docker_config_key(registry: &str) -> String {
    match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => {
            "https://index.docker.io/v1/".to_string()
        }
        other => other.to_string(),
    }
}
