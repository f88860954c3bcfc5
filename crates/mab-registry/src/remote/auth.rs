//! Who mab is to a registry: the user's credentials (looked up by `mab-credentials`), identity
//! tokens traded for access tokens per repository, and the `Authorization` of streamed uploads.

use oci_client::RegistryOperation;
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;

use super::{RegistryClient, RemoteRepository};
use crate::RegistryError;

/// Credentials for one registry, from the docker config.
#[derive(Clone)]
pub(super) enum Credential {
    /// Sent as they are: a user and password, or nothing.
    Plain(RegistryAuth),
    /// An identity token (`identitytoken`, as `az acr login` stores): an OAuth2 refresh token,
    /// traded at the registry's token service for an access token per repository, as the docker
    /// CLI does.
    Refresh(String),
}

/// An access token for one repository (`None`: the registry wants none), and until when to
/// use it.
#[derive(Clone)]
pub(super) struct AccessToken {
    token: Option<String>,
    renew_after: std::time::Instant,
}

impl RegistryClient {
    /// The credentials for `registry` from the docker config (`auths`, `credHelpers`,
    /// `credsStore`, looked up by [`mab_credentials`]); anonymous where there are none.
    async fn credential_for(&self, registry: &str) -> Result<Credential, RegistryError> {
        let mut cache = self.inner.auth.lock().await;
        if let Some(auth) = cache.get(registry) {
            return Ok(auth.clone());
        }
        let found = mab_credentials::lookup_checked(registry)
            .await
            .map_err(|e| RegistryError::Credentials {
                registry: registry.to_string(),
                message: e.to_string(),
            })?;
        let credential = match found {
            Some(mab_credentials::Credential::UsernamePassword { username, password }) => {
                Credential::Plain(RegistryAuth::Basic(username, password))
            }
            Some(mab_credentials::Credential::IdentityToken(token)) => Credential::Refresh(token),
            // No config file, no entry for this registry: anonymous, like the docker CLI.
            None => Credential::Plain(RegistryAuth::Anonymous),
        };
        cache.insert(registry.to_string(), credential.clone());
        Ok(credential)
    }
}

impl RemoteRepository {
    /// Checks that the registry answers and authenticates for pushing to this repository.
    pub async fn authenticate_for_push(&self) -> Result<(), RegistryError> {
        let auth = self.auth().await?;
        let reference = self.reference_for_tag("latest");
        self.run(|| {
            self.client()
                .auth(&reference, &auth, RegistryOperation::Push)
        })
        .await
        .map_err(|e| self.error(format!("authenticating to push to {}", self.path), e))?;
        // Basic credentials are only sent, never checked, by the step above: one authenticated
        // request tells a wrong password now rather than in the middle of the first upload.
        const ABSENT: &str =
            "sha256:0000000000000000000000000000000000000000000000000000000000000000";
        self.blob_exists(ABSENT).await?;
        Ok(())
    }

    /// The `Authorization` header for pushing to this repository: the bearer token oci-client
    /// got from the registry's token service, or basic credentials; `None` when anonymous.
    pub(super) async fn push_authorization(
        &self,
    ) -> Result<Option<http::HeaderValue>, RegistryError> {
        let auth = self.auth().await?;
        let reference = self.reference_for_tag("latest");
        let token = self
            .run(|| {
                self.client()
                    .auth(&reference, &auth, RegistryOperation::Push)
            })
            .await
            .map_err(|e| self.error(format!("authenticating to push to {}", self.path), e))?;
        let value = match (token, &auth) {
            (Some(token), _) => format!("Bearer {token}"),
            (None, RegistryAuth::Bearer(token)) => format!("Bearer {token}"),
            (None, RegistryAuth::Basic(user, password)) => {
                use base64::Engine as _;
                let pair = format!("{user}:{password}");
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                )
            }
            (None, _) => return Ok(None),
        };
        let mut value =
            http::HeaderValue::from_str(&value).map_err(|_| RegistryError::Credentials {
                registry: self.registry.clone(),
                message: "the credentials are not a valid HTTP header value".to_string(),
            })?;
        value.set_sensitive(true);
        Ok(Some(value))
    }

    pub(super) fn authorized(
        &self,
        request: reqwest::RequestBuilder,
        authorization: &Option<http::HeaderValue>,
    ) -> reqwest::RequestBuilder {
        match authorization {
            Some(value) => request.header(http::header::AUTHORIZATION, value.clone()),
            None => request,
        }
    }

    /// Makes the credentials for this repository known to the client (pulls do not take them).
    pub(super) async fn ensure_auth(&self) -> Result<RegistryAuth, RegistryError> {
        let auth = self.auth().await?;
        let reference = self.reference_for_tag("latest");
        self.client()
            .store_auth_if_needed(reference.resolve_registry(), &auth)
            .await;
        Ok(auth)
    }

    /// The credentials for this repository: the docker config's as they are, or an access token
    /// for this repository traded for its identity token. oci-client keeps one token per
    /// repository and operation; an access token is handed to it for both operations each
    /// time, so it never uses another repository's.
    pub(super) async fn auth(&self) -> Result<RegistryAuth, RegistryError> {
        let refresh = match self.client.credential_for(&self.registry).await? {
            Credential::Plain(auth) => return Ok(auth),
            Credential::Refresh(refresh) => refresh,
        };
        let key = (self.registry.clone(), self.path.clone());
        let cached = self.client.inner.access.lock().await.get(&key).cloned();
        let token = match cached {
            Some(access) if std::time::Instant::now() < access.renew_after => access.token,
            _ => {
                let access = self.trade_identity_token(&refresh).await?;
                let token = access.token.clone();
                self.client.inner.access.lock().await.insert(key, access);
                token
            }
        };
        let Some(token) = token else {
            return Ok(RegistryAuth::Anonymous);
        };
        let auth = RegistryAuth::Bearer(token);
        let reference = self.reference_for_tag("latest");
        for operation in [RegistryOperation::Pull, RegistryOperation::Push] {
            let _ = self
                .within(self.client().auth(&reference, &auth, operation))
                .await;
        }
        Ok(auth)
    }

    /// Trades an identity token for an access token to pull and push this repository: the
    /// registry's `WWW-Authenticate` challenge names the token service, which is sent an OAuth2
    /// refresh-token grant (what the docker CLI does with an `identitytoken`).
    async fn trade_identity_token(&self, refresh: &str) -> Result<AccessToken, RegistryError> {
        let failed = |message: String| RegistryError::Authentication {
            registry: self.registry.clone(),
            action: format!(
                "trading the identity token of the docker config for access to {}",
                self.path
            ),
            source: OciDistributionError::AuthenticationFailure(message),
        };
        let probe = format!("{}/v2/", self.registry_url());
        let response = self
            .within(async { Ok(self.http().get(&probe).send().await?) })
            .await
            .map_err(|e| self.error(format!("reaching {probe}"), e))?;
        if response.status().is_success() {
            // The registry lets anyone in: nothing to trade.
            return Ok(AccessToken {
                token: None,
                renew_after: std::time::Instant::now() + std::time::Duration::from_secs(3600),
            });
        }
        let challenge = response
            .headers()
            .get(http::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_challenge)
            .ok_or_else(|| {
                failed(format!(
                    "{probe} answered {} without a Bearer challenge naming a token service",
                    response.status()
                ))
            })?;
        let form = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "refresh_token")
                .append_pair("client_id", "mab")
                .append_pair("scope", &format!("repository:{}:pull,push", self.path))
                .append_pair("refresh_token", refresh);
            if let Some(service) = &challenge.service {
                form.append_pair("service", service);
            }
            form.finish()
        };
        let response = self
            .within(async {
                Ok(self
                    .http()
                    .post(&challenge.realm)
                    .header(
                        http::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(form)
                    .send()
                    .await?)
            })
            .await
            .map_err(|e| self.error(format!("reaching {}", challenge.realm), e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(failed(format!(
                "the token service {} answered {status}",
                challenge.realm
            )));
        }
        #[derive(serde::Deserialize)]
        struct Answer {
            access_token: Option<String>,
            token: Option<String>,
            expires_in: Option<u64>,
        }
        let answer: Answer = self
            .within(async { Ok(response.json::<Answer>().await?) })
            .await
            .map_err(|e| {
                failed(format!(
                    "the answer of the token service {} does not parse: {e}",
                    challenge.realm
                ))
            })?;
        let token = answer.access_token.or(answer.token).ok_or_else(|| {
            failed(format!(
                "the token service {} sent no access token",
                challenge.realm
            ))
        })?;
        // Renewed a little before it runs out (the spec's default life is 60 s).
        let life = answer.expires_in.unwrap_or(60).max(10);
        Ok(AccessToken {
            token: Some(token),
            renew_after: std::time::Instant::now() + std::time::Duration::from_secs(life - 5),
        })
    }
}

/// A `WWW-Authenticate: Bearer realm="…",service="…"` challenge.
struct BearerChallenge {
    realm: String,
    service: Option<String>,
}

fn bearer_challenge(header: &str) -> Option<BearerChallenge> {
    let (scheme, params) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut realm = None;
    let mut service = None;
    let mut rest = params.trim();
    while !rest.is_empty() {
        let (name, after) = rest.split_once('=')?;
        let (value, after) = match after.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted.find('"')?;
                (&quoted[..end], &quoted[end + 1..])
            }
            None => after.split_once(',').unwrap_or((after, "")),
        };
        match name.trim().to_ascii_lowercase().as_str() {
            "realm" => realm = Some(value.to_string()),
            "service" => service = Some(value.to_string()),
            _ => {}
        }
        rest = after.trim_start_matches([',', ' ']);
    }
    Some(BearerChallenge {
        realm: realm?,
        service,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_name_the_token_service() {
        let c = bearer_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull""#,
        )
        .unwrap();
        assert_eq!(c.realm, "https://auth.example/token");
        assert_eq!(c.service.as_deref(), Some("registry.example"));
        let c = bearer_challenge(r#"bearer service="s", realm="http://127.0.0.1:1/t""#).unwrap();
        assert_eq!(
            (c.realm.as_str(), c.service.as_deref()),
            ("http://127.0.0.1:1/t", Some("s"))
        );
        assert!(bearer_challenge(r#"Basic realm="registry""#).is_none());
        assert!(bearer_challenge(r#"Bearer service="no realm""#).is_none());
        assert!(bearer_challenge(r#"Bearer realm="unterminated"#).is_none());
    }
}
