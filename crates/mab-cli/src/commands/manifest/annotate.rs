//! `mab manifest annotate [--arch A] [--os O] [--os-version V] [--os-features F,…] [--variant V]
//! MANIFEST_LIST MANIFEST`

use clap::Args;
use mab_registry::{ManifestList, PlatformChange};

use super::{image_reference, list_reference, lock_list, no_such_list, open_store, registry_error};
use crate::exit::{SUCCESS, UsageError};

#[derive(Debug, Args)]
pub struct AnnotateArgs {
    /// Set the architecture (e.g. amd64, arm64, arm); a new architecture without --variant drops
    /// the old variant.
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,

    /// Set the operating system (e.g. linux, windows).
    #[arg(long, value_name = "OS")]
    pub os: Option<String>,

    /// Set the operating system version (`os.version`); an empty value removes it.
    #[arg(long, value_name = "VERSION")]
    pub os_version: Option<String>,

    /// Add operating system features (`os.features`), comma-separated.
    #[arg(long, value_name = "FEATURES", value_delimiter = ',')]
    pub os_features: Vec<String>,

    /// Set the architecture variant (e.g. v7, v8).
    #[arg(long, value_name = "VARIANT")]
    pub variant: Option<String>,

    /// The local list.
    #[arg(value_name = "MANIFEST_LIST")]
    pub list: String,

    /// The entry to change: the reference it was added by, or REPOSITORY@DIGEST.
    #[arg(value_name = "MANIFEST")]
    pub image: String,
}

pub async fn run(args: AnnotateArgs) -> anyhow::Result<u8> {
    let list_ref = list_reference(&args.list)?;
    let image = image_reference(&args.image)?;
    let change = PlatformChange {
        os: args.os,
        architecture: args.arch,
        variant: args.variant,
        os_version: args.os_version,
        os_features: args.os_features,
    };
    if change.is_empty() {
        return Err(UsageError(
            "nothing to annotate: give at least one of --os, --arch, --variant, --os-version, --os-features"
                .to_string(),
        )
        .into());
    }
    let name = list_ref.to_string();
    let store = open_store()?;
    let locked = lock_list(&store, &name).await?;
    let mut list = locked
        .read::<ManifestList>()?
        .ok_or_else(|| no_such_list(&store, &name))?;
    let entry = list.entry_mut(&image).map_err(registry_error)?;
    entry.annotate(&name, &change).map_err(registry_error)?;
    let summary = format!("{} is {} in {name}", entry.reference(), entry.platform());
    locked.write(&list)?;
    eprintln!("{summary}");
    Ok(SUCCESS)
}
