//! The one error type of the crate.

/// Why a key could not be read, or a signature not made or checked. Never holds a password or
/// key material.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The text is not a key of a form this crate reads.
    #[error("not a cosign private key: {reason}")]
    NotACosignKey {
        /// What is wrong with it.
        reason: String,
    },

    /// The key's envelope names a key derivation or cipher cosign does not write.
    #[error(
        "the key uses {what}, which mab does not read (cosign writes scrypt and nacl/secretbox)"
    )]
    Unsupported {
        /// The algorithm named.
        what: String,
    },

    /// The password does not open the key.
    #[error("the password does not decrypt the key (wrong COSIGN_PASSWORD?)")]
    WrongPassword,

    /// The decrypted key is not an ECDSA P-256 key.
    #[error("the decrypted key is not an ECDSA P-256 private key: {reason}")]
    NotP256 {
        /// What the decoder said.
        reason: String,
    },

    /// A public key PEM does not parse.
    #[error("not an ECDSA P-256 public key (PEM `PUBLIC KEY`): {reason}")]
    BadPublicKey {
        /// What the decoder said.
        reason: String,
    },

    /// A signature does not verify (or is not a signature at all).
    #[error("the signature does not verify with the key: {reason}")]
    BadSignature {
        /// Why.
        reason: String,
    },

    /// A payload is not cosign's simple-signing JSON.
    #[error("the signed payload is not a cosign simple-signing document: {reason}")]
    BadPayload {
        /// Why.
        reason: String,
    },
}
