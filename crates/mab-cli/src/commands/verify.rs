//! `mab verify REF`: read an image or index back from its registry and check it whole.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use mab_registry::{RegistryClient, RegistryOptions, read_signatures, verify_image};
use mab_sign::{PublicKey, parse_simple_signing};

use crate::exit::{FAILURE, SUCCESS, UsageError};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The image or index to check (`registry/repo:tag` or `registry/repo@sha256:…`).
    pub reference: String,

    /// Speak plain HTTP to the registry instead of TLS.
    #[arg(long)]
    pub insecure: bool,

    /// Print the report as one JSON document on stdout.
    #[arg(long)]
    pub json: bool,

    /// Also check that the image is signed with this key's private half, cosign's way (a
    /// `PUBLIC KEY` PEM such as `cosign.pub`).
    #[arg(long, value_name = "PUBLIC_KEY")]
    pub key: Option<PathBuf>,
}

pub async fn run(args: VerifyArgs) -> anyhow::Result<u8> {
    let image =
        mab_registry::parse_reference(&args.reference).map_err(|e| UsageError(e.to_string()))?;
    let client = RegistryClient::new(&RegistryOptions {
        insecure_registries: if args.insecure {
            vec![image.registry().to_string()]
        } else {
            Vec::new()
        },
        ..Default::default()
    });
    let key = match &args.key {
        Some(path) => {
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("reading public key {}", path.display()))?;
            let key = PublicKey::from_pem(&pem)
                .with_context(|| format!("reading public key {}", path.display()))?;
            Some((path, key))
        }
        None => None,
    };
    let mut report = verify_image(&client, &image, None)
        .await
        .with_context(|| format!("cannot verify {image}"))?;
    let mut signed = None;
    if let Some((path, key)) = &key {
        let signatures = read_signatures(&client, &image, &report.digest)
            .await
            .with_context(|| format!("cannot read the signatures of {image}"))?;
        let verified = signatures.iter().any(|signature| {
            key.verify(&signature.payload, &signature.signature).is_ok()
                && parse_simple_signing(&signature.payload)
                    .is_ok_and(|payload| payload.digest == report.digest)
        });
        if verified {
            signed = Some(path.display().to_string());
        } else {
            report.problems.push(format!(
                "{} is not signed with the key {} ({} signature(s) under {}, none of them by it)",
                report.digest,
                path.display(),
                signatures.len(),
                mab_registry::signature_tag(&report.digest)
            ));
        }
    }
    if args.json {
        let mut document = serde_json::to_value(&report)?;
        if let Some(key) = &signed {
            document["signed_with"] = serde_json::Value::String(key.clone());
        }
        println!("{}", serde_json::to_string_pretty(&document)?);
    } else {
        println!(
            "{} {} ({})",
            report.reference, report.digest, report.media_type
        );
        for checked in &report.images {
            println!(
                "  {:<16} {} {} layers, {} bytes",
                checked.platform, checked.digest, checked.layers, checked.layers_size
            );
        }
        for attestation in &report.attestations {
            println!(
                "  attestations     {} about {}: {}",
                attestation.digest,
                attestation.subject,
                attestation.predicate_types.join(", ")
            );
        }
        if let Some(key) = &signed {
            println!("  signed with {key}");
        }
        for problem in &report.problems {
            eprintln!("error: {problem}");
        }
        if report.is_sound() {
            eprintln!("verified: every digest, size, media type, blob and platform checks out");
        }
    }
    Ok(if report.is_sound() { SUCCESS } else { FAILURE })
}
