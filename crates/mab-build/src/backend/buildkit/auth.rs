//! `moby.filesync.v1.Auth`: the credentials BuildKit uses to pull base images, from the user's
//! docker config (`auths`, `credsStore`, `credHelpers`), as the docker CLI's session gives them.
//! Nothing is logged; a registry the config does not know gets no credentials (anonymous).

use bollard_buildkit_proto::moby::filesync::v1::auth_server::Auth;
use bollard_buildkit_proto::moby::filesync::v1::{
    CredentialsRequest, CredentialsResponse, FetchTokenRequest, FetchTokenResponse,
    GetTokenAuthorityRequest, GetTokenAuthorityResponse, VerifyTokenAuthorityRequest,
    VerifyTokenAuthorityResponse,
};
use tonic::{Request, Response, Status};

/// Answers with the docker config's credentials.
pub(crate) struct DockerConfigAuth;

#[tonic::async_trait]
impl Auth for DockerConfigAuth {
    async fn credentials(
        &self,
        request: Request<CredentialsRequest>,
    ) -> Result<Response<CredentialsResponse>, Status> {
        let host = request.into_inner().host;
        let (username, secret) = match mab_credentials::lookup(&host).await {
            Some(mab_credentials::Credential::UsernamePassword { username, password }) => {
                (username, password)
            }
            Some(mab_credentials::Credential::IdentityToken(token)) => (String::new(), token),
            None => (String::new(), String::new()),
        };
        Ok(Response::new(CredentialsResponse { username, secret }))
    }

    async fn fetch_token(
        &self,
        _request: Request<FetchTokenRequest>,
    ) -> Result<Response<FetchTokenResponse>, Status> {
        Err(Status::unimplemented("tokens are fetched by the daemon"))
    }

    async fn get_token_authority(
        &self,
        _request: Request<GetTokenAuthorityRequest>,
    ) -> Result<Response<GetTokenAuthorityResponse>, Status> {
        Err(Status::unimplemented("no token authority"))
    }

    async fn verify_token_authority(
        &self,
        _request: Request<VerifyTokenAuthorityRequest>,
    ) -> Result<Response<VerifyTokenAuthorityResponse>, Status> {
        Err(Status::unimplemented("no token authority"))
    }
}
