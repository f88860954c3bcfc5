//! `mab manifest …`: the `docker manifest` verbs (create, annotate, inspect, push, rm) with the
//! same flags, on mab's registry layer and local store, without the docker CLI's known traps
//! (stale entries on `--amend`, a forgotten `--insecure`, silent fallbacks).
//!
//! Lists are kept in the local store (`mab-store`) under `$MAB_HOME/manifests`, or
//! `<user data dir>/mab/manifests` (`~/.local/share/mab/manifests` on Linux), one file per list.

mod annotate;
mod create;
mod inspect;
mod push;
mod rm;

use std::error::Error as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use mab_registry::{ImageReference, ManifestList, RegistryClient, RegistryError, RegistryOptions};
use mab_store::{LockedDocument, Store};

use crate::exit::UsageError;

#[derive(Debug, Args)]
pub struct ManifestArgs {
    #[command(subcommand)]
    pub command: ManifestCommand,
}

#[derive(Debug, Subcommand)]
pub enum ManifestCommand {
    /// Create a local manifest list from images already in a registry (or add to one with
    /// --amend, which also reads every entry again).
    Create(create::CreateArgs),
    /// Change the platform of one entry of a local manifest list.
    Annotate(annotate::AnnotateArgs),
    /// Print a manifest or manifest list as JSON: the local list if there is one, else the
    /// registry's.
    Inspect(inspect::InspectArgs),
    /// Push a local manifest list to its registry and print its digest.
    Push(push::PushArgs),
    /// Delete local manifest lists.
    Rm(rm::RmArgs),
}

/// Runs `mab manifest …`; returns the exit code.
pub async fn run(args: ManifestArgs) -> anyhow::Result<u8> {
    match args.command {
        ManifestCommand::Create(args) => create::run(args).await,
        ManifestCommand::Annotate(args) => annotate::run(args).await,
        ManifestCommand::Inspect(args) => inspect::run(args).await,
        ManifestCommand::Push(args) => push::run(args).await,
        ManifestCommand::Rm(args) => rm::run(args).await,
    }
}

/// The folder of the local store: `$MAB_HOME/manifests`, else `<data dir>/mab/manifests`.
fn store_dir() -> anyhow::Result<PathBuf> {
    if let Some(home) = std::env::var_os("MAB_HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(home).join("manifests"));
    }
    let data = dirs::data_dir().context(
        "cannot find the user's data directory for the local manifest lists; set MAB_HOME",
    )?;
    Ok(data.join("mab").join("manifests"))
}

fn open_store() -> anyhow::Result<Store> {
    Ok(Store::open(store_dir()?)?)
}

/// Takes the lock on a list in the store without blocking the async runtime.
async fn lock_list(store: &Store, name: &str) -> anyhow::Result<LockedDocument> {
    let store = store.clone();
    let name = name.to_string();
    Ok(tokio::task::spawn_blocking(move || store.lock(&name)).await??)
}

/// A registry error caused by what the user typed: exit code 2, message and cause on one line.
fn usage(error: RegistryError) -> anyhow::Error {
    let mut message = error.to_string();
    if let Some(cause) = error.source() {
        message.push_str(": ");
        message.push_str(&cause.to_string());
    }
    UsageError(message).into()
}

/// Whether an error from the registry layer is the user's (bad reference, bad platform, an
/// image from another registry): exit code 2 rather than 1.
fn is_usage(error: &RegistryError) -> bool {
    matches!(
        error,
        RegistryError::InvalidReference { .. }
            | RegistryError::InvalidPlatform { .. }
            | RegistryError::CrossRegistry { .. }
    )
}

/// Turns a registry-layer error into the CLI's, with the right exit code.
fn registry_error(error: RegistryError) -> anyhow::Error {
    if is_usage(&error) {
        usage(error)
    } else {
        error.into()
    }
}

/// [`registry_error`], plus a hint when a TLS connection failed because the registry speaks
/// plain HTTP and `--insecure` was not given.
fn remote_error(error: RegistryError, registry: &str, insecure: bool) -> anyhow::Error {
    let error = registry_error(error);
    if insecure {
        return error;
    }
    let chain: Vec<String> = error.chain().map(|cause| cause.to_string()).collect();
    let plain_http = chain.iter().any(|cause| {
        cause.contains("InvalidContentType")
            || cause.contains("wrong version number")
            || cause.contains("corrupt message")
    });
    if plain_http {
        error.context(format!(
            "registry {registry} does not answer over TLS; if it is a plain-HTTP registry, add --insecure"
        ))
    } else {
        error
    }
}

/// Parses an image reference given on the command line.
fn image_reference(text: &str) -> anyhow::Result<ImageReference> {
    mab_registry::parse_reference(text).map_err(usage)
}

/// Parses the name of a manifest list: a reference with a tag, not a digest (a list is pushed
/// under a tag).
fn list_reference(text: &str) -> anyhow::Result<ImageReference> {
    let reference = image_reference(text)?;
    if reference.digest().is_some() {
        return Err(UsageError(format!(
            "invalid manifest list name {text:?}: it has a digest; a manifest list is named REPOSITORY[:TAG]"
        ))
        .into());
    }
    Ok(reference)
}

/// The error for a list that is not in the local store.
fn no_such_list(store: &Store, name: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "no local manifest list {name} (in {}); create it with `mab manifest create`",
        store.dir().display()
    )
}

/// Reads a list from the store (no lock); an error naming it if there is none.
fn load_list(store: &Store, name: &ImageReference) -> anyhow::Result<ManifestList> {
    let name = name.to_string();
    store
        .get::<ManifestList>(&name)?
        .ok_or_else(|| no_such_list(store, &name))
}

/// A registry client; `insecure` means plain HTTP to `registry`.
fn client_for(registry: &str, insecure: bool) -> RegistryClient {
    RegistryClient::new(&RegistryOptions {
        insecure_registries: if insecure {
            vec![registry.to_string()]
        } else {
            Vec::new()
        },
        ..Default::default()
    })
}
