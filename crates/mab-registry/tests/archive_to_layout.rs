//! A synthetic `docker save` stream (both layouts Docker writes) stored into an OCI layout: every
//! blob is where the manifest says, with the digest it claims.

use std::path::Path;

use mab_registry::{
    IndexOptions, ManifestFormat, ManifestOptions, NoReporter, OciLayout, Target, publish_index,
    push_docker_archive,
};
use sha2::{Digest, Sha256};

fn tar_entry(builder: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder.append_data(&mut header, path, data).unwrap();
}

fn layer_tar(content: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    tar_entry(&mut b, "hello.txt", content);
    b.into_inner().unwrap()
}

const CONFIG: &[u8] =
    br#"{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;

/// Docker 20.10: `<id>/layer.tar`, `<hex>.json`, `manifest.json`.
fn legacy_save() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    tar_entry(&mut b, "aaaa/VERSION", b"1.0");
    tar_entry(&mut b, "aaaa/layer.tar", &layer_tar(b"one"));
    tar_entry(&mut b, "bbbb/layer.tar", &layer_tar(b"two"));
    tar_entry(&mut b, "cfg.json", CONFIG);
    tar_entry(
        &mut b,
        "manifest.json",
        br#"[{"Config":"cfg.json","RepoTags":null,"Layers":["aaaa/layer.tar","bbbb/layer.tar"]}]"#,
    );
    b.into_inner().unwrap()
}

/// Docker 25+: an OCI layout inside the tar, plus manifest.json.
fn oci_save() -> Vec<u8> {
    let layer = layer_tar(b"one");
    let hex_layer = hex::encode(Sha256::digest(&layer));
    let hex_cfg = hex::encode(Sha256::digest(CONFIG));
    let mut b = tar::Builder::new(Vec::new());
    tar_entry(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    tar_entry(&mut b, &format!("blobs/sha256/{hex_layer}"), &layer);
    tar_entry(&mut b, &format!("blobs/sha256/{hex_cfg}"), CONFIG);
    tar_entry(
        &mut b,
        "manifest.json",
        format!(
            r#"[{{"Config":"blobs/sha256/{hex_cfg}","RepoTags":null,"Layers":["blobs/sha256/{hex_layer}"]}}]"#
        )
        .as_bytes(),
    );
    b.into_inner().unwrap()
}

fn read_blob(root: &Path, digest: &str) -> Vec<u8> {
    let bytes = std::fs::read(
        root.join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
    .unwrap();
    assert_eq!(
        format!("sha256:{}", hex::encode(Sha256::digest(&bytes))),
        digest
    );
    bytes
}

async fn check(save: Vec<u8>, layers: usize) {
    let dir = tempfile::tempdir().unwrap();
    let layout = OciLayout::open(dir.path()).await.unwrap();
    let target = Target::layout(layout, "example.com/demo");
    let pushed = push_docker_archive(
        &save[..],
        &target,
        &ManifestOptions::new(ManifestFormat::Oci),
        &NoReporter,
    )
    .await
    .unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&read_blob(dir.path(), &pushed.digest)).unwrap();
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(manifest["config"]["digest"], pushed.config_digest);
    assert_eq!(read_blob(dir.path(), &pushed.config_digest), CONFIG);
    let manifest_layers = manifest["layers"].as_array().unwrap();
    assert_eq!(manifest_layers.len(), layers);
    for layer in manifest_layers {
        assert_eq!(
            layer["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        let blob = read_blob(dir.path(), layer["digest"].as_str().unwrap());
        assert_eq!(blob.len() as u64, layer["size"].as_u64().unwrap());
        assert_eq!(&blob[..2], &[0x1f, 0x8b], "layers are gzip-compressed");
    }

    let platform = "linux/arm64".parse().unwrap();
    let index = publish_index(
        &target,
        &[(platform, pushed)],
        &["latest".to_string(), "1.0".to_string()],
        &IndexOptions::new(ManifestFormat::Oci),
    )
    .await
    .unwrap();
    let top: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
    let names: Vec<&str> = top["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert_eq!(m["digest"], index.digest);
            m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(names, ["example.com/demo:latest", "example.com/demo:1.0"]);
    let stored: serde_json::Value =
        serde_json::from_slice(&read_blob(dir.path(), &index.digest)).unwrap();
    assert_eq!(
        stored["manifests"][0]["platform"],
        serde_json::json!({"architecture": "arm64", "os": "linux", "variant": "v8"})
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[tokio::test]
async fn legacy_docker_save_layout() {
    check(legacy_save(), 2).await;
}

#[tokio::test]
async fn oci_docker_save_layout() {
    check(oci_save(), 1).await;
}

#[tokio::test]
async fn archive_without_manifest_json_is_an_error() {
    let mut b = tar::Builder::new(Vec::new());
    tar_entry(&mut b, "aaaa/layer.tar", &layer_tar(b"one"));
    let save = b.into_inner().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = Target::layout(OciLayout::open(dir.path()).await.unwrap(), "x/y");
    let err = push_docker_archive(
        &save[..],
        &target,
        &ManifestOptions::new(ManifestFormat::Oci),
        &NoReporter,
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the image archive exported by the daemon is malformed: it has no manifest.json"
    );
}

#[tokio::test]
async fn annotations_go_on_the_manifest_and_the_index_in_the_oci_format_only() {
    let dir = tempfile::tempdir().unwrap();
    let target = Target::layout(OciLayout::open(dir.path()).await.unwrap(), "x/y");
    let manifest_options = ManifestOptions {
        format: ManifestFormat::Oci,
        annotations: [("org.example.manifest".to_string(), "m".to_string())].into(),
        ..ManifestOptions::new(ManifestFormat::Oci)
    };
    let pushed = push_docker_archive(&legacy_save()[..], &target, &manifest_options, &NoReporter)
        .await
        .unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&read_blob(dir.path(), &pushed.digest)).unwrap();
    assert_eq!(manifest["annotations"]["org.example.manifest"], "m");
    assert_eq!(manifest["schemaVersion"], 2);

    let index_options = IndexOptions {
        format: ManifestFormat::Oci,
        annotations: [("org.example.index".to_string(), "i".to_string())].into(),
    };
    let platform: mab_platform::Platform = "linux/amd64".parse().unwrap();
    let index = publish_index(
        &target,
        &[(platform.clone(), pushed.clone())],
        &["t".to_string()],
        &index_options,
    )
    .await
    .unwrap();
    let stored: serde_json::Value =
        serde_json::from_slice(&read_blob(dir.path(), &index.digest)).unwrap();
    assert_eq!(stored["annotations"]["org.example.index"], "i");

    let docker = IndexOptions {
        format: ManifestFormat::Docker,
        ..index_options
    };
    let err = publish_index(&target, &[(platform, pushed)], &["t".to_string()], &docker)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("annotations need the OCI format"),
        "{err}"
    );
    let docker = ManifestOptions {
        format: ManifestFormat::Docker,
        ..manifest_options
    };
    let err = push_docker_archive(&legacy_save()[..], &target, &docker, &NoReporter)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("annotations need the OCI format"),
        "{err}"
    );
}
