//! Cosign's key files: the encrypted private key (`cosign generate-key-pair`) and the public
//! key PEM; signing and checking signatures with them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use crypto_secretbox::XSalsa20Poly1305;
use crypto_secretbox::aead::{Aead, KeyInit};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey, LineEnding};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::SignError;

/// The PEM labels of cosign's encrypted private keys (new, then old).
const PRIVATE_KEY_LABELS: [&str; 2] = [
    "ENCRYPTED SIGSTORE PRIVATE KEY",
    "ENCRYPTED COSIGN PRIVATE KEY",
];
/// The largest scrypt cost accepted (cosign writes 2^15 or 2^16); more is refused rather than
/// spending minutes and gigabytes on a hostile file.
const MAX_SCRYPT_LOG_N: u8 = 20;

/// The JSON inside cosign's private key PEM.
#[derive(Deserialize)]
struct Envelope {
    kdf: Kdf,
    cipher: Cipher,
    /// base64
    ciphertext: String,
}

#[derive(Deserialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    /// base64
    salt: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "UPPERCASE")]
struct ScryptParams {
    n: u64,
    #[serde(rename = "r")]
    r: u32,
    #[serde(rename = "p")]
    p: u32,
}

#[derive(Deserialize)]
struct Cipher {
    name: String,
    /// base64
    nonce: String,
}

/// An ECDSA P-256 private key, decrypted. Its `Debug` shows the public key only.
#[derive(Clone)]
pub struct SigningKey {
    inner: p256::ecdsa::SigningKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("public", &self.public_key())
            .finish()
    }
}

impl SigningKey {
    /// Decrypts a private key written by `cosign generate-key-pair` with `password` (what
    /// cosign reads from `COSIGN_PASSWORD`).
    pub fn from_cosign_pem(pem: &str, password: &[u8]) -> Result<Self, SignError> {
        let not_cosign = |reason: &str| SignError::NotACosignKey {
            reason: reason.to_string(),
        };
        let body = pem_body(pem, &PRIVATE_KEY_LABELS).ok_or_else(|| {
            not_cosign("no `-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----` block")
        })?;
        let json = BASE64
            .decode(body)
            .map_err(|_| not_cosign("its PEM body is not base64"))?;
        let envelope: Envelope = serde_json::from_slice(&json)
            .map_err(|e| not_cosign(&format!("its envelope does not parse: {e}")))?;
        if envelope.kdf.name != "scrypt" {
            return Err(SignError::Unsupported {
                what: format!("key derivation {:?}", envelope.kdf.name),
            });
        }
        if envelope.cipher.name != "nacl/secretbox" {
            return Err(SignError::Unsupported {
                what: format!("cipher {:?}", envelope.cipher.name),
            });
        }
        let decode = |field: &str, text: &str| {
            BASE64
                .decode(text)
                .map_err(|_| not_cosign(&format!("its {field} is not base64")))
        };
        let salt = decode("salt", &envelope.kdf.salt)?;
        let nonce = decode("nonce", &envelope.cipher.nonce)?;
        let ciphertext = decode("ciphertext", &envelope.ciphertext)?;
        let ScryptParams { n, r, p } = envelope.kdf.params;
        let log_n = match n {
            n if n.is_power_of_two() && n > 1 => n.trailing_zeros() as u8,
            _ => return Err(not_cosign("its scrypt N is not a power of two")),
        };
        if log_n > MAX_SCRYPT_LOG_N {
            return Err(SignError::Unsupported {
                what: format!("scrypt N = 2^{log_n}"),
            });
        }
        let params = scrypt::Params::new(log_n, r, p, 32)
            .map_err(|e| not_cosign(&format!("its scrypt parameters are invalid: {e}")))?;
        let mut secret = Zeroizing::new([0u8; 32]);
        scrypt::scrypt(password, &salt, &params, secret.as_mut())
            .map_err(|e| not_cosign(&format!("scrypt: {e}")))?;
        if nonce.len() != 24 {
            return Err(not_cosign("its nonce is not 24 bytes"));
        }
        let cipher = XSalsa20Poly1305::new(secret.as_ref().into());
        let der = Zeroizing::new(
            cipher
                .decrypt(nonce.as_slice().into(), ciphertext.as_slice())
                .map_err(|_| SignError::WrongPassword)?,
        );
        let inner =
            p256::ecdsa::SigningKey::from_pkcs8_der(&der).map_err(|e| SignError::NotP256 {
                reason: e.to_string(),
            })?;
        Ok(Self { inner })
    }

    /// Signs `payload` as cosign does: ECDSA P-256 over its SHA-256, ASN.1 DER, base64. The same
    /// payload always gives the same signature (RFC 6979).
    pub fn sign(&self, payload: &[u8]) -> String {
        let signature: Signature = self.inner.sign(payload);
        BASE64.encode(signature.to_der().as_bytes())
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            inner: *self.inner.verifying_key(),
        }
    }
}

/// An ECDSA P-256 public key (`cosign.pub`).
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    inner: VerifyingKey,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.to_pem().trim())
    }
}

impl PublicKey {
    /// Reads a `-----BEGIN PUBLIC KEY-----` PEM (SubjectPublicKeyInfo), as `cosign.pub` is.
    pub fn from_pem(pem: &str) -> Result<Self, SignError> {
        let inner =
            VerifyingKey::from_public_key_pem(pem.trim()).map_err(|e| SignError::BadPublicKey {
                reason: e.to_string(),
            })?;
        Ok(Self { inner })
    }

    /// The PEM (`-----BEGIN PUBLIC KEY-----`).
    pub fn to_pem(&self) -> String {
        self.inner
            .to_public_key_pem(LineEnding::LF)
            .expect("a P-256 public key encodes")
    }

    /// Checks a base64 DER signature (as cosign stores it) of `payload`.
    pub fn verify(&self, payload: &[u8], signature_base64: &str) -> Result<(), SignError> {
        let bad = |reason: String| SignError::BadSignature { reason };
        let der = BASE64
            .decode(signature_base64.trim())
            .map_err(|_| bad("it is not base64".to_string()))?;
        let signature =
            Signature::from_der(&der).map_err(|_| bad("it is not a DER signature".to_string()))?;
        self.inner
            .verify(payload, &signature)
            .map_err(|_| bad("it was made with another key, or over other bytes".to_string()))
    }
}

/// The base64 body of the first PEM block with one of `labels`.
fn pem_body(pem: &str, labels: &[&str]) -> Option<String> {
    labels.iter().find_map(|label| {
        let begin = format!("-----BEGIN {label}-----");
        let end = format!("-----END {label}-----");
        let start = pem.find(&begin)? + begin.len();
        let stop = start + pem[start..].find(&end)?;
        Some(pem[start..stop].split_whitespace().collect())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = include_str!("../tests/data/cosign.key");
    const PUBLIC: &str = include_str!("../tests/data/cosign.pub");
    const PAYLOAD: &[u8] = include_bytes!("../tests/data/payload.json");
    const COSIGN_SIGNATURE: &str = include_str!("../tests/data/payload.sig");

    #[test]
    fn decrypts_a_key_cosign_generated_and_signs_as_cosign_does() {
        let key = SigningKey::from_cosign_pem(KEY, b"secret").unwrap();
        let public = PublicKey::from_pem(PUBLIC).unwrap();
        assert_eq!(key.public_key(), public);
        // cosign's own signature (sign-blob) checks out with the public key...
        public.verify(PAYLOAD, COSIGN_SIGNATURE).unwrap();
        // ...and so does ours, the same every time.
        let signature = key.sign(PAYLOAD);
        public.verify(PAYLOAD, &signature).unwrap();
        assert_eq!(signature, key.sign(PAYLOAD));
        assert!(public.verify(b"other bytes", &signature).is_err());
        assert!(!format!("{key:?}").contains("PRIVATE"));
    }

    #[test]
    fn a_wrong_password_is_its_own_error() {
        let error = SigningKey::from_cosign_pem(KEY, b"not the password").unwrap_err();
        assert!(matches!(error, SignError::WrongPassword), "{error}");
        assert!(error.to_string().contains("COSIGN_PASSWORD"));
    }

    #[test]
    fn other_text_is_not_a_key() {
        for text in [
            "",
            PUBLIC,
            "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n!!!\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----",
            "-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\ne30=\n-----END ENCRYPTED COSIGN PRIVATE KEY-----",
        ] {
            let error = SigningKey::from_cosign_pem(text, b"secret").unwrap_err();
            assert!(matches!(error, SignError::NotACosignKey { .. }), "{error}");
        }
        assert!(PublicKey::from_pem(KEY).is_err());
    }
}
