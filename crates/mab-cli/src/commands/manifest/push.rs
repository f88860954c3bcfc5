//! `mab manifest push [-p|--purge] [--insecure] MANIFEST_LIST`

use clap::Args;
use mab_registry::{ManifestList, push_list};

use super::{client_for, list_reference, load_list, lock_list, open_store, remote_error};
use crate::exit::SUCCESS;

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Delete the local list once it is pushed.
    #[arg(short = 'p', long)]
    pub purge: bool,

    /// Speak plain HTTP to the registry (a list created with --insecure already does).
    #[arg(long)]
    pub insecure: bool,

    /// The local list to push.
    #[arg(value_name = "MANIFEST_LIST")]
    pub list: String,
}

pub async fn run(args: PushArgs) -> anyhow::Result<u8> {
    let list_ref = list_reference(&args.list)?;
    let name = list_ref.to_string();
    let store = open_store()?;
    let list = load_list(&store, &list_ref)?;
    let insecure = list.insecure() || args.insecure;
    let client = client_for(list_ref.registry(), insecure);
    let pushed = push_list(&client, &list)
        .await
        .map_err(|e| remote_error(e, list_ref.registry(), insecure))?;
    eprintln!(
        "pushed {name}: {} manifests; {} blobs mounted and {} copied from other repositories",
        pushed.manifests, pushed.blobs_mounted, pushed.blobs_copied
    );
    println!("{}", pushed.index.digest);

    if args.purge {
        let locked = lock_list(&store, &name).await?;
        match locked.read::<ManifestList>()? {
            Some(now) if now == list => {
                locked.remove()?;
            }
            Some(_) => anyhow::bail!(
                "manifest list {name} was pushed as {}, but it was changed locally meanwhile, so it was not purged",
                pushed.index.digest
            ),
            None => {}
        }
    }
    Ok(SUCCESS)
}
