//! The credentials the daemon gets for pulling a base image: the user's, from the docker config
//! (`auths`, `credsStore`, `credHelpers`), for the base's registry, as `docker pull` sends them.
//! An identity token goes as one (the daemon trades it for an access token itself).

use bollard::auth::DockerCredentials;

/// The user's credentials for the registry of `reference`; `None` (anonymous) when the docker
/// config has none for it or cannot be read, as the docker CLI does.
pub(crate) async fn for_pulling(reference: &str) -> Option<DockerCredentials> {
    let registry = mab_vocab::ImageReference::parse(reference)
        .ok()?
        .registry()
        .to_string();
    Some(match mab_credentials::lookup(&registry).await? {
        mab_credentials::Credential::UsernamePassword { username, password } => DockerCredentials {
            username: Some(username),
            password: Some(password),
            serveraddress: Some(registry),
            ..Default::default()
        },
        mab_credentials::Credential::IdentityToken(token) => DockerCredentials {
            identitytoken: Some(token),
            serveraddress: Some(registry),
            ..Default::default()
        },
    })
}
