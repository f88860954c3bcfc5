//! The user's credentials for a registry, looked up once for everyone who needs them (the
//! registry client pushing, the daemon pulling a base image, a BuildKit session): the docker
//! config (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`: `auths`, `credHelpers`,
//! `credsStore`) as the docker CLI reads it, under the key Docker uses for the registry
//! ([`mab_vocab::docker_config_key`]).
//!
//! Credentials are values: their `Debug` output never shows them. This crate knows nothing of
//! registries' protocols, daemons or printing.

#![warn(missing_docs)]

use std::fmt;

/// What the docker config holds for a registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// A user name and password (or access token used as one).
    UsernamePassword {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
    /// An identity token (`identitytoken`, as `az acr login` stores): an OAuth2 refresh
    /// token, traded at the registry's token service for access tokens.
    IdentityToken(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UsernamePassword { username, .. } => f
                .debug_struct("UsernamePassword")
                .field("username", username)
                .field("password", &"***")
                .finish(),
            Self::IdentityToken(_) => f.write_str("IdentityToken(***)"),
        }
    }
}

/// The user's credentials for `registry` (`host[:port]`, `docker.io` for Docker Hub); `None`
/// when the docker config has none for it or cannot be read (anonymous, as the docker CLI
/// does). Runs the credential helper, if any, off the async threads.
pub async fn lookup(registry: &str) -> Option<Credential> {
    lookup_checked(registry).await.ok().flatten()
}

/// [`lookup`], failing only when the look-up could not run at all (its thread panicked or the
/// runtime is shutting down): callers that must not take that for "anonymous" tell it apart.
pub async fn lookup_checked(registry: &str) -> Result<Option<Credential>, tokio::task::JoinError> {
    let key = mab_vocab::docker_config_key(registry);
    let found =
        tokio::task::spawn_blocking(move || docker_credential::get_credential(&key)).await?;
    Ok(found.ok().map(|found| match found {
        docker_credential::DockerCredential::UsernamePassword(username, password) => {
            Credential::UsernamePassword { username, password }
        }
        docker_credential::DockerCredential::IdentityToken(token) => {
            Credential::IdentityToken(token)
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_a_secret() {
        let plain = Credential::UsernamePassword {
            username: "me".to_string(),
            password: "hunter2".to_string(),
        };
        let token = Credential::IdentityToken("refresh-t0ken".to_string());
        let shown = format!("{plain:?} {token:?}");
        assert!(shown.contains("me"));
        assert!(
            !shown.contains("hunter2") && !shown.contains("refresh-t0ken"),
            "{shown}"
        );
    }
}
