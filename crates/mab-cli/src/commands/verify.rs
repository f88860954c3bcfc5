//! `mab verify REF`: read an image or index back from its registry and check it whole.

use anyhow::Context;
use clap::Args;
use mab_registry::{RegistryClient, RegistryOptions, verify_image};

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
    let report = verify_image(&client, &image, None)
        .await
        .with_context(|| format!("cannot verify {image}"))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
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
        for problem in &report.problems {
            eprintln!("error: {problem}");
        }
        if report.is_sound() {
            eprintln!("verified: every digest, size, media type, blob and platform checks out");
        }
    }
    Ok(if report.is_sound() { SUCCESS } else { FAILURE })
}
