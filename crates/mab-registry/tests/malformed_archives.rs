//! Malformed `docker save` streams, one per row: each gives its own specific error and no panic,
//! and nothing is tagged (there is no index at this level at all).

use mab_registry::{
    ManifestFormat, ManifestOptions, NoReporter, OciLayout, Target, push_docker_archive,
};

fn entry(builder: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder.append_data(&mut header, path, data).unwrap();
}

fn archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data) in entries {
        entry(&mut builder, path, data);
    }
    builder.into_inner().unwrap()
}

fn layer() -> Vec<u8> {
    archive(&[("hello", b"world")])
}

const CONFIG: &[u8] =
    br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;

async fn push(bytes: Vec<u8>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let target = Target::layout(OciLayout::open(dir.path()).await.unwrap(), "x/y");
    let options = ManifestOptions::new(ManifestFormat::Oci);
    match push_docker_archive(&bytes[..], &target, &options, &NoReporter).await {
        Ok(pushed) => format!("unexpected success: {}", pushed.digest),
        Err(e) => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                text.push_str(": ");
                text.push_str(&cause.to_string());
                source = cause.source();
            }
            text
        }
    }
}

#[tokio::test]
async fn every_malformed_archive_gets_its_own_error() {
    let layer = layer();
    let good_manifest = br#"[{"Config":"c.json","Layers":["l/layer.tar"]}]"#;
    let full = archive(&[
        ("l/layer.tar", &layer),
        ("c.json", CONFIG),
        ("manifest.json", good_manifest),
    ]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty stream", Vec::new(), "it has no manifest.json"),
        (
            "not a tar at all",
            b"this is not a tar stream, just some text".repeat(20),
            "reading the image archive exported by the daemon failed: numeric field was not a number",
        ),
        (
            "truncated in the middle of a layer",
            full[..700].to_vec(),
            "reading the image archive exported by the daemon failed",
        ),
        (
            "manifest.json is not json",
            archive(&[
                ("l/layer.tar", &layer),
                ("c.json", CONFIG),
                ("manifest.json", b"[{oops"),
            ]),
            "manifest.json does not parse",
        ),
        (
            "manifest.json lists two images",
            archive(&[
                ("l/layer.tar", &layer),
                ("c.json", CONFIG),
                (
                    "manifest.json",
                    br#"[{"Config":"c.json","Layers":[]},{"Config":"c.json","Layers":[]}]"#,
                ),
            ]),
            "describes 2 images, expected exactly one",
        ),
        (
            "the config is missing",
            archive(&[("l/layer.tar", &layer), ("manifest.json", good_manifest)]),
            "the config c.json named by manifest.json is missing",
        ),
        (
            "a layer is missing",
            archive(&[("c.json", CONFIG), ("manifest.json", good_manifest)]),
            "the layer l/layer.tar named by manifest.json is missing",
        ),
    ];
    for (name, bytes, expected) in cases {
        let error = push(bytes).await;
        assert!(
            error.contains(expected),
            "{name}: expected an error containing {expected:?}, got {error:?}"
        );
    }
}
