//! The in-toto statement around a predicate, and the digest of what it says.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// `_type` of an in-toto v1 statement.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The predicate type of SLSA provenance v1.
pub const PREDICATE_PROVENANCE: &str = "https://slsa.dev/provenance/v1";
/// The predicate type of an SPDX document (what BuildKit and `docker buildx imagetools` use).
pub const PREDICATE_SPDX: &str = "https://spdx.dev/Document";

/// What a statement is about: one image manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// Its name, e.g. `pkg:docker/ghcr.io/team/app?platform=linux%2Farm64`.
    pub name: String,
    /// `sha256:…` of the manifest.
    pub digest: String,
}

/// A statement, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// Its predicate type.
    pub predicate_type: String,
    /// The statement, as JSON bytes.
    pub bytes: Vec<u8>,
    /// A digest of what it says, times left out: two statements with the same key say the same
    /// about the same subject.
    pub key: String,
}

impl Statement {
    /// The statement of `predicate` about `subject`; `timeless` is the predicate with its times
    /// left out, of which the key is made.
    pub(crate) fn new(
        subject: &Subject,
        predicate_type: &str,
        predicate: Value,
        timeless: &Value,
    ) -> Self {
        let hex = subject
            .digest
            .strip_prefix("sha256:")
            .unwrap_or(&subject.digest);
        let statement = json!({
            "_type": STATEMENT_TYPE,
            "subject": [{ "name": subject.name, "digest": { "sha256": hex } }],
            "predicateType": predicate_type,
            "predicate": predicate,
        });
        let keyed = json!([subject.digest, subject.name, predicate_type, timeless]);
        let key = hex::encode(Sha256::digest(
            serde_json::to_vec(&keyed).expect("JSON values serialise"),
        ));
        Self {
            predicate_type: predicate_type.to_string(),
            bytes: serde_json::to_vec_pretty(&statement).expect("JSON values serialise"),
            key,
        }
    }
}
