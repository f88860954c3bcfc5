//! Signing what is published: the plan's cosign keys, decrypted once before anything is built
//! (a wrong password fails the run at once, nothing built, nothing tagged), and the signer each
//! signed image's index is published with (cosign's simple-signing payload, signed with
//! `mab-sign`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mab_plan::{ImageSpec, Plan};
use mab_registry::{ImageSignature, Signer};
use mab_sign::{SigningKey, simple_signing_payload};

use crate::PipelineError;

/// The plan's signing keys, decrypted, by path.
#[derive(Clone, Default)]
pub struct SigningKeys(BTreeMap<PathBuf, Arc<SigningKey>>);

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// Reads and decrypts every key the plan's images sign with; `password` is the value of
/// `COSIGN_PASSWORD` (`None`: unset, tried as empty).
pub fn signing_keys(plan: &Plan, password: Option<&str>) -> Result<SigningKeys, PipelineError> {
    let mut keys = BTreeMap::new();
    for image in plan.images() {
        let Some(sign) = image.sign() else {
            continue;
        };
        if keys.contains_key(sign.key()) {
            continue;
        }
        let path = sign.key().to_path_buf();
        let pem =
            std::fs::read_to_string(&path).map_err(|source| PipelineError::SigningKeyRead {
                path: path.clone(),
                source,
            })?;
        let key = SigningKey::from_cosign_pem(&pem, password.unwrap_or_default().as_bytes())
            .map_err(|source| PipelineError::SigningKey {
                path: path.clone(),
                password_set: password.is_some(),
                source,
            })?;
        keys.insert(path, Arc::new(key));
    }
    Ok(SigningKeys(keys))
}

impl SigningKeys {
    fn get(&self, path: &Path) -> Option<&Arc<SigningKey>> {
        self.0.get(path)
    }
}

/// Signs with a cosign key.
pub(crate) struct CosignSigner {
    key: Arc<SigningKey>,
    manifests: bool,
}

impl Signer for CosignSigner {
    fn sign(&self, repository: &str, digest: &str) -> ImageSignature {
        let payload = simple_signing_payload(repository, digest);
        let signature = self.key.sign(&payload);
        ImageSignature { payload, signature }
    }

    fn signs_manifests(&self) -> bool {
        self.manifests
    }
}

/// The signer of `image`, if it is signed; its key must be among `keys`.
pub(crate) fn signer(
    image: &ImageSpec,
    keys: &SigningKeys,
) -> Result<Option<CosignSigner>, PipelineError> {
    let Some(sign) = image.sign() else {
        return Ok(None);
    };
    let key = keys
        .get(sign.key())
        .ok_or_else(|| PipelineError::SigningKeyNotLoaded {
            image: image.label(),
            path: sign.key().to_path_buf(),
        })?;
    Ok(Some(CosignSigner {
        key: Arc::clone(key),
        manifests: sign.manifests(),
    }))
}
