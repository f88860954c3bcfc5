//! `moby.buildkit.secrets.v1.Secrets`: the build's secrets, by id. A secret reaches the `RUN`
//! step that mounts it and nothing else: not the image, not BuildKit's cache key, not a log.

use std::collections::HashMap;

use bollard_buildkit_proto::moby::buildkit::secrets::v1::secrets_server::Secrets;
use bollard_buildkit_proto::moby::buildkit::secrets::v1::{GetSecretRequest, GetSecretResponse};
use tonic::{Request, Response, Status};

use crate::secret::{BuildSecret, SecretValue};

/// The secrets of one build.
pub(crate) struct SessionSecrets {
    by_id: HashMap<String, SecretValue>,
}

impl SessionSecrets {
    pub(crate) fn new(secrets: &[BuildSecret]) -> Self {
        Self {
            by_id: secrets
                .iter()
                .map(|s| (s.id.clone(), s.value.clone()))
                .collect(),
        }
    }
}

#[tonic::async_trait]
impl Secrets for SessionSecrets {
    async fn get_secret(
        &self,
        request: Request<GetSecretRequest>,
    ) -> Result<Response<GetSecretResponse>, Status> {
        let id = request.into_inner().id;
        match self.by_id.get(&id) {
            Some(value) => Ok(Response::new(GetSecretResponse {
                data: value.bytes().to_vec(),
            })),
            None => Err(Status::not_found(format!("secret {id} not found"))),
        }
    }
}
