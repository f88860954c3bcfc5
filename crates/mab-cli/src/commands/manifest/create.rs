//! `mab manifest create [-a|--amend] [--insecure] MANIFEST_LIST MANIFEST [MANIFEST...]`

use std::collections::BTreeMap;

use clap::{Args, ValueEnum};
use futures::{StreamExt, TryStreamExt, stream};
use mab_registry::{ManifestFormat, ManifestList, RegistryError, resolve_image};

use super::{
    client_for, image_reference, list_reference, lock_list, open_store, registry_error,
    remote_error,
};
use crate::exit::{SUCCESS, UsageError};

/// How many images are read at once.
const CONCURRENCY: usize = 4;

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Add to an existing local list; every entry already in it is read again from the registry
    /// (a re-pushed image gets its new digest; platforms set with annotate are kept).
    #[arg(short = 'a', long)]
    pub amend: bool,

    /// Speak plain HTTP to the registry; remembered with the list, so push does the same.
    #[arg(long)]
    pub insecure: bool,

    /// Keep the `unknown/unknown` attestation manifests of a MANIFEST that is an index.
    #[arg(long)]
    pub keep_attestations: bool,

    /// The list's format: docker (a manifest list, the default for a new list, as the docker CLI
    /// writes) or oci (an OCI image index). With --amend, changes the list's format.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<FormatArg>,

    /// An annotation of the index itself (OCI format only); repeatable.
    #[arg(long = "annotation", value_name = "KEY=VALUE")]
    pub annotations: Vec<String>,

    /// The list: REGISTRY/REPOSITORY[:TAG], where it will be pushed.
    #[arg(value_name = "MANIFEST_LIST")]
    pub list: String,

    /// Images already in the same registry, by tag or digest; an index gives all its platforms.
    #[arg(value_name = "MANIFEST", required_unless_present = "amend")]
    pub images: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Docker,
    Oci,
}

impl From<FormatArg> for ManifestFormat {
    fn from(format: FormatArg) -> Self {
        match format {
            FormatArg::Docker => ManifestFormat::Docker,
            FormatArg::Oci => ManifestFormat::Oci,
        }
    }
}

fn parse_annotation(text: &str) -> Result<(String, String), UsageError> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), value.to_string()))
        }
        _ => Err(UsageError(format!(
            "invalid --annotation {text:?}: the accepted form is KEY=VALUE"
        ))),
    }
}

pub async fn run(args: CreateArgs) -> anyhow::Result<u8> {
    let list_ref = list_reference(&args.list)?;
    let name = list_ref.to_string();
    let mut new_sources = Vec::new();
    for text in &args.images {
        let image = image_reference(text)?;
        if image.registry() != list_ref.registry() {
            return Err(registry_error(RegistryError::CrossRegistry {
                list: name,
                image: image.to_string(),
                list_registry: list_ref.registry().to_string(),
                image_registry: image.registry().to_string(),
            }));
        }
        new_sources.push(image.to_string());
    }
    let annotations = args
        .annotations
        .iter()
        .map(|a| parse_annotation(a))
        .collect::<Result<BTreeMap<_, _>, _>>()?;

    let store = open_store()?;
    let locked = lock_list(&store, &name).await?;
    let existing = locked.read::<ManifestList>()?;
    let mut list = match (existing, args.amend) {
        (Some(_), false) => {
            anyhow::bail!(
                "manifest list {name} already exists locally; add to it (and refresh it) with \
                 --amend, or delete it with `mab manifest rm {name}`"
            );
        }
        (Some(list), true) => list,
        (None, _) => ManifestList::new(
            &list_ref,
            args.format
                .map(Into::into)
                .unwrap_or(ManifestFormat::Docker),
        ),
    };
    let before = list.clone();
    if let Some(format) = args.format {
        list.set_format(format.into());
    }
    list.set_insecure(list.insecure() || args.insecure);
    list.set_keep_attestations(list.keep_attestations() || args.keep_attestations);
    if !annotations.is_empty() && list.format() == ManifestFormat::Docker {
        return Err(UsageError(format!(
            "--annotation needs --format oci: manifest list {name} is in docker format, which has no annotations"
        ))
        .into());
    }
    for (key, value) in &annotations {
        list.set_annotation(key, value);
    }

    // Every entry already in the list is read again, then the new images.
    let mut sources = list.sources();
    for source in new_sources {
        if !sources.contains(&source) {
            sources.push(source);
        }
    }
    let client = client_for(list_ref.registry(), list.insecure());
    let keep = list.keep_attestations();
    let insecure = list.insecure();
    let resolved: Vec<(String, mab_registry::ResolvedImage)> = stream::iter(sources)
        .map(|source| {
            let client = &client;
            async move {
                let image = image_reference(&source)?;
                let resolved = resolve_image(client, &image, keep)
                    .await
                    .map_err(|e| remote_error(e, image.registry(), insecure))?;
                anyhow::Ok((source, resolved))
            }
        })
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;
    for (source, image) in resolved {
        list.put_entries(&source, image.entries);
    }
    locked.write(&list)?;
    drop(locked);

    for entry in list.entries() {
        let was = before
            .entries()
            .iter()
            .find(|old| old.reference() == entry.reference())
            .map(|old| old.digest());
        let note = match was {
            Some(old) if old != entry.digest() => format!(" (was {old})"),
            Some(_) => String::new(),
            None => " (new)".to_string(),
        };
        eprintln!(
            "  {:<16} {} {}{note}",
            entry.platform().to_string(),
            entry.digest(),
            entry.reference()
        );
    }
    println!("Created manifest list {name}");
    Ok(SUCCESS)
}
