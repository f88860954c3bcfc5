//! The credentials the daemon gets for pulling a base image: the user's, from the docker config
//! (`auths`, `credsStore`, `credHelpers`), for the base's registry, as `docker pull` sends them.
//! An identity token goes as one (the daemon trades it for an access token itself).

use bollard::auth::DockerCredentials;

/// The registry host (`host[:port]`) an image reference names; `docker.io` when it names none.
pub(crate) fn registry_of(reference: &str) -> &str {
    match reference.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first
        }
        _ => "docker.io",
    }
}

/// The key of a registry in the docker config.
pub(crate) fn config_key(registry: &str) -> String {
    match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => {
            "https://index.docker.io/v1/".to_string()
        }
        other => other.to_string(),
    }
}

/// The user's credentials for the registry of `reference`; `None` (anonymous) when the docker
/// config has none for it or cannot be read, as the docker CLI does.
pub(crate) async fn for_pulling(reference: &str) -> Option<DockerCredentials> {
    let registry = registry_of(reference).to_string();
    let key = config_key(&registry);
    let found = tokio::task::spawn_blocking(move || docker_credential::get_credential(&key))
        .await
        .ok()?
        .ok()?;
    Some(match found {
        docker_credential::DockerCredential::UsernamePassword(username, password) => {
            DockerCredentials {
                username: Some(username),
                password: Some(password),
                serveraddress: Some(registry),
                ..Default::default()
            }
        }
        docker_credential::DockerCredential::IdentityToken(token) => DockerCredentials {
            identitytoken: Some(token),
            serveraddress: Some(registry),
            ..Default::default()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_is_the_first_part_when_it_looks_like_a_host() {
        for (reference, registry) in [
            ("alpine", "docker.io"),
            ("library/alpine:3", "docker.io"),
            ("team/app@sha256:00", "docker.io"),
            ("ghcr.io/team/app:1", "ghcr.io"),
            ("127.0.0.1:5000/base/busybox:latest", "127.0.0.1:5000"),
            ("localhost/app", "localhost"),
            ("registry:5000/app", "registry:5000"),
        ] {
            assert_eq!(registry_of(reference), registry, "{reference}");
        }
    }
}
