//! Cosign-compatible signing: what `mab build` needs to sign what it publishes so that
//! `cosign verify --key cosign.pub` accepts it, and what `mab verify --key` needs to check it.
//!
//! - [`SigningKey::from_cosign_pem`] reads the private keys `cosign generate-key-pair` writes
//!   (`ENCRYPTED SIGSTORE PRIVATE KEY`, or the older `ENCRYPTED COSIGN PRIVATE KEY`): a JSON
//!   envelope holding a PKCS#8 ECDSA P-256 key sealed with NaCl secretbox under a key derived from
//!   the password with scrypt.
//! - [`SigningKey::sign`] signs a payload as cosign does (ECDSA P-256 over its SHA-256, ASN.1
//!   DER, base64), with RFC 6979 nonces: the same payload and key always give the same
//!   signature, so a rerun stores the same signature manifest.
//! - [`simple_signing_payload`] is the payload cosign signs for an image: the "simple signing"
//!   JSON naming the manifest digest.
//! - [`PublicKey`] reads a `PUBLIC KEY` PEM (`cosign.pub`) and checks signatures.
//!
//! It must not know about registries, plans or printing: where signatures are stored is
//! `mab-registry`'s business. Passwords and private keys never appear in its errors or `Debug`
//! output.

#![warn(missing_docs)]

mod error;
mod key;
mod payload;

pub use error::SignError;
pub use key::{PublicKey, SigningKey};
pub use payload::{SimpleSigning, parse_simple_signing, simple_signing_payload};
