//! The payload cosign signs for a container image: the "simple signing" document (the
//! containers/image signature format) naming the image's manifest digest.

use serde::{Deserialize, Serialize};

use crate::SignError;

/// What cosign writes as the `type` of an image signature.
const SIGNATURE_TYPE: &str = "cosign container image signature";

#[derive(Serialize, Deserialize)]
struct Document {
    critical: Critical,
    optional: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Serialize, Deserialize)]
struct Critical {
    identity: Identity,
    image: Image,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Serialize, Deserialize)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Serialize, Deserialize)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

/// The simple-signing payload for the manifest `digest` (`sha256:…`) of `docker_reference`
/// (`registry/repository`, no tag), byte for byte as cosign writes it.
pub fn simple_signing_payload(docker_reference: &str, digest: &str) -> Vec<u8> {
    let document = Document {
        critical: Critical {
            identity: Identity {
                docker_reference: docker_reference.to_string(),
            },
            image: Image {
                docker_manifest_digest: digest.to_string(),
            },
            kind: SIGNATURE_TYPE.to_string(),
        },
        optional: None,
    };
    serde_json::to_vec(&document).expect("a document of strings serialises")
}

/// What a simple-signing payload says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimpleSigning {
    /// `critical.identity.docker-reference`.
    pub docker_reference: String,
    /// `critical.image.docker-manifest-digest`.
    pub digest: String,
}

/// Reads a simple-signing payload (of cosign's type).
pub fn parse_simple_signing(payload: &[u8]) -> Result<SimpleSigning, SignError> {
    let document: Document =
        serde_json::from_slice(payload).map_err(|e| SignError::BadPayload {
            reason: e.to_string(),
        })?;
    if document.critical.kind != SIGNATURE_TYPE {
        return Err(SignError::BadPayload {
            reason: format!("its type is {:?}", document.critical.kind),
        });
    }
    Ok(SimpleSigning {
        docker_reference: document.critical.identity.docker_reference,
        digest: document.critical.image.docker_manifest_digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_is_cosigns_and_reads_back() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        let payload = simple_signing_payload("127.0.0.1:5000/demo/app", &digest);
        assert_eq!(
            String::from_utf8(payload.clone()).unwrap(),
            format!(
                "{{\"critical\":{{\"identity\":{{\"docker-reference\":\"127.0.0.1:5000/demo/app\"}},\
                 \"image\":{{\"docker-manifest-digest\":\"{digest}\"}},\
                 \"type\":\"cosign container image signature\"}},\"optional\":null}}"
            )
        );
        let read = parse_simple_signing(&payload).unwrap();
        assert_eq!(read.digest, digest);
        assert_eq!(read.docker_reference, "127.0.0.1:5000/demo/app");
        assert!(parse_simple_signing(b"{}").is_err());
    }
}
