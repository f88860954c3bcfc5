//! `mab manifest inspect [-v|--verbose] [--insecure] [MANIFEST_LIST] MANIFEST`
//!
//! Without `-v`: the document itself. A local list prints as the exact index `push` will store
//! (so its digest is the one `push` prints); a registry's manifest or list prints byte for byte
//! as stored (with a final newline added if it has none).
//!
//! With `-v`, the docker CLI's shape: per entry an object with `Ref`, `Descriptor`, `Raw` (the
//! manifest bytes, base64) and the parsed manifest under `SchemaV2Manifest` (Docker) or
//! `OCIManifest` (OCI); an array of them for a list, one object for a single image.

use std::io::Write as _;

use base64::Engine as _;
use clap::Args;
use mab_registry::{ListEntry, ManifestList, fetch_manifest, media_types, resolve_image};
use serde::Serialize;
use serde::ser::SerializeMap as _;
use serde_json::Value;

use super::{
    client_for, image_reference, list_reference, load_list, open_store, registry_error,
    remote_error,
};
use crate::exit::SUCCESS;

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Per entry, also the reference, the descriptor and the full image manifest with its layers.
    #[arg(short = 'v', long)]
    pub verbose: bool,

    /// Speak plain HTTP to the registry.
    #[arg(long)]
    pub insecure: bool,

    /// With two arguments: the local list (MANIFEST_LIST) and the entry of it to show.
    #[arg(value_name = "MANIFEST_LIST")]
    pub first: String,

    /// The image (or list) to show.
    #[arg(value_name = "MANIFEST")]
    pub second: Option<String>,
}

pub async fn run(args: InspectArgs) -> anyhow::Result<u8> {
    let store = open_store()?;
    if let Some(image) = &args.second {
        // One entry of a local list.
        let list = load_list(&store, &list_reference(&args.first)?)?;
        let entry = list
            .entry(&image_reference(image)?)
            .map_err(registry_error)?;
        if args.verbose {
            print_json(&verbose_entry(entry)?)?;
        } else {
            print_raw(entry.manifest_bytes()?)?;
        }
        return Ok(SUCCESS);
    }

    let reference = image_reference(&args.first)?;
    if let Some(list) = store.get::<ManifestList>(&reference.to_string())? {
        if args.verbose {
            let entries = list
                .entries()
                .iter()
                .map(verbose_entry)
                .collect::<anyhow::Result<Vec<_>>>()?;
            print_json(&entries)?;
        } else {
            print_raw(&list.index_bytes()?.0)?;
        }
        return Ok(SUCCESS);
    }

    let client = client_for(reference.registry(), args.insecure);
    if args.verbose {
        let resolved = resolve_image(&client, &reference, true)
            .await
            .map_err(|e| remote_error(e, reference.registry(), args.insecure))?;
        let entries = resolved
            .entries
            .iter()
            .map(verbose_entry)
            .collect::<anyhow::Result<Vec<_>>>()?;
        match (resolved.is_index, entries.as_slice()) {
            (false, [one]) => print_json(one)?,
            _ => print_json(&entries)?,
        }
    } else {
        let fetched = fetch_manifest(&client, &reference)
            .await
            .map_err(|e| remote_error(e, reference.registry(), args.insecure))?;
        print_raw(&fetched.raw)?;
    }
    Ok(SUCCESS)
}

/// Prints a document as is, ending with a newline.
fn print_raw(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    if bytes.last() != Some(&b'\n') {
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// Prints JSON indented with tabs, as the docker CLI does for `-v`.
fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    print_raw(&tab_json(value)?)
}

fn tab_json<T: Serialize>(value: &T) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut serializer = serde_json::Serializer::with_formatter(&mut bytes, formatter);
    value.serialize(&mut serializer)?;
    Ok(bytes)
}

/// One entry in the docker CLI's `inspect -v` shape.
#[derive(Serialize)]
struct VerboseEntry {
    #[serde(rename = "Ref")]
    reference: String,
    #[serde(rename = "Descriptor")]
    descriptor: Ordered,
    #[serde(rename = "Raw")]
    raw: String,
    #[serde(rename = "SchemaV2Manifest", skip_serializing_if = "Option::is_none")]
    schema_v2_manifest: Option<Ordered>,
    #[serde(rename = "OCIManifest", skip_serializing_if = "Option::is_none")]
    oci_manifest: Option<Ordered>,
}

fn verbose_entry(entry: &ListEntry) -> anyhow::Result<VerboseEntry> {
    let raw = entry.manifest_bytes()?;
    let manifest: Value = serde_json::from_slice(raw)?;
    let mut descriptor = serde_json::json!({
        "mediaType": entry.media_type(),
        "digest": entry.digest(),
        "size": entry.size(),
        "platform": entry.platform(),
    });
    if !entry.annotations().is_empty() {
        descriptor["annotations"] = serde_json::to_value(entry.annotations())?;
    }
    let docker = entry.media_type() == media_types::DOCKER_MANIFEST;
    Ok(VerboseEntry {
        reference: entry.reference().to_string(),
        descriptor: Ordered(descriptor),
        raw: base64::engine::general_purpose::STANDARD.encode(raw),
        schema_v2_manifest: docker.then(|| Ordered(manifest.clone())),
        oci_manifest: (!docker).then_some(Ordered(manifest)),
    })
}

/// The keys that come first in manifests, descriptors and platforms, in this order (the order
/// of the specifications); any other key follows, sorted.
const KEY_ORDER: &[&str] = &[
    "schemaVersion",
    "mediaType",
    "artifactType",
    "config",
    "layers",
    "manifests",
    "subject",
    "digest",
    "size",
    "urls",
    "platform",
    "architecture",
    "os",
    "os.version",
    "os.features",
    "variant",
    "annotations",
];

/// A JSON value serialised with its object keys in [`KEY_ORDER`].
struct Ordered(Value);

impl Serialize for Ordered {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Value::Object(map) => {
                let rank = |k: &str| KEY_ORDER.iter().position(|o| *o == k).unwrap_or(usize::MAX);
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
                let mut out = serializer.serialize_map(Some(keys.len()))?;
                for key in keys {
                    out.serialize_entry(key, &Ordered(map[key].clone()))?;
                }
                out.end()
            }
            Value::Array(items) => {
                serializer.collect_seq(items.iter().map(|item| Ordered(item.clone())))
            }
            other => other.serialize(serializer),
        }
    }
}

#[cfg(test)]
mod tests {
    use sha2::Digest as _;

    use super::*;

    fn digest(bytes: &[u8]) -> String {
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
    }

    /// The `-v` shape: the docker CLI's key names (`Ref`, `Descriptor`, `Raw`,
    /// `SchemaV2Manifest`), the specification's key order, tabs.
    #[test]
    fn verbose_entry_has_the_docker_cli_shape() {
        let config = br#"{"architecture":"arm64","os":"linux"}"#;
        let layer = b"layer";
        let raw = serde_json::to_string(&serde_json::json!({
            "layers": [{"size": layer.len(), "digest": digest(layer),
                        "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip"}],
            "config": {"size": config.len(), "digest": digest(config),
                       "mediaType": "application/vnd.docker.container.image.v1+json"},
            "mediaType": media_types::DOCKER_MANIFEST,
            "schemaVersion": 2,
        }))
        .unwrap();
        let entry: ListEntry = serde_json::from_value(serde_json::json!({
            "reference": "127.0.0.1:5000/app-src:arm64",
            "source": "127.0.0.1:5000/app-src:arm64",
            "mediaType": media_types::DOCKER_MANIFEST,
            "digest": digest(raw.as_bytes()),
            "size": raw.len(),
            "configPlatform": {"architecture": "arm64", "os": "linux"},
            "annotatedPlatform": {"architecture": "arm64", "os": "linux", "variant": "v8",
                                  "os.version": "5.10"},
            "manifest": raw,
        }))
        .unwrap();
        let json = tab_json(&verbose_entry(&entry).unwrap()).unwrap();
        insta::assert_snapshot!(String::from_utf8(json).unwrap());
    }
}
