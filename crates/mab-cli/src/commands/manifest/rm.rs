//! `mab manifest rm MANIFEST_LIST [MANIFEST_LIST...]`
//!
//! All or nothing: if any list is missing, the error names every missing one and none is
//! deleted.

use std::collections::BTreeSet;

use clap::Args;

use super::{list_reference, lock_list, open_store};
use crate::exit::SUCCESS;

#[derive(Debug, Args)]
pub struct RmArgs {
    /// The local lists to delete.
    #[arg(value_name = "MANIFEST_LIST", required = true)]
    pub lists: Vec<String>,
}

pub async fn run(args: RmArgs) -> anyhow::Result<u8> {
    let names = args
        .lists
        .iter()
        .map(|text| list_reference(text).map(|r| r.to_string()))
        .collect::<anyhow::Result<BTreeSet<String>>>()?;
    let store = open_store()?;
    // Locks are taken in name order, so two `rm`s of the same lists cannot deadlock.
    let mut locked = Vec::new();
    let mut missing = Vec::new();
    for name in &names {
        let document = lock_list(&store, name).await?;
        if !document.exists()? {
            missing.push(name.as_str());
        }
        locked.push(document);
    }
    if !missing.is_empty() {
        anyhow::bail!(
            "no local manifest list {} (in {}); nothing was deleted",
            missing.join(", no local manifest list "),
            store.dir().display()
        );
    }
    for document in &locked {
        document.remove()?;
    }
    Ok(SUCCESS)
}
