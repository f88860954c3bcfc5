//! Unit tests of manifest lists.

use super::*;

fn platform(os: &str, arch: &str, variant: Option<&str>) -> PlatformJson {
    PlatformJson {
        architecture: arch.to_string(),
        os: os.to_string(),
        os_version: None,
        os_features: Vec::new(),
        variant: variant.map(str::to_string),
    }
}

fn entry(reference: &str, source: &str, raw: &str, p: PlatformJson) -> ListEntry {
    ListEntry::new(
        reference.to_string(),
        source.to_string(),
        media_types::DOCKER_MANIFEST.to_string(),
        sha256_digest(raw.as_bytes()),
        raw.as_bytes(),
        p,
        BTreeMap::new(),
    )
    .unwrap()
}

fn list() -> ManifestList {
    let name = ImageReference::parse("127.0.0.1:5000/app:1").unwrap();
    let mut list = ManifestList::new(&name, ManifestFormat::Docker);
    let amd = "127.0.0.1:5000/app-src:amd64";
    let arm = "127.0.0.1:5000/app-src:arm64";
    list.put_entries(
        amd,
        vec![entry(
            amd,
            amd,
            "{\"a\":1}",
            platform("linux", "amd64", None),
        )],
    );
    list.put_entries(
        arm,
        vec![entry(
            arm,
            arm,
            "{\"a\":2}",
            platform("linux", "arm64", None),
        )],
    );
    list
}

fn image(text: &str) -> ImageReference {
    ImageReference::parse(text).unwrap()
}

#[test]
fn references_are_normalised_like_docker() {
    assert_eq!(
        image("busybox").to_string(),
        "docker.io/library/busybox:latest"
    );
    assert_eq!(
        image("127.0.0.1:5000/a/b").to_string(),
        "127.0.0.1:5000/a/b:latest"
    );
    assert!(ImageReference::parse("127.0.0.1:5000/UPPER").is_err());
}

#[test]
fn annotate_sets_fields_and_validates_the_pair() {
    let mut list = list();
    let name = list.name().to_string();
    let arm = list
        .entry_mut(&image("127.0.0.1:5000/app-src:arm64"))
        .unwrap();
    arm.annotate(
        &name,
        &PlatformChange {
            variant: Some("8".into()),
            os_version: Some("5.10".into()),
            os_features: vec!["a".into(), "b".into(), "a".into()],
            ..Default::default()
        },
    )
    .unwrap();
    let p = arm.platform().clone();
    assert_eq!(p.variant.as_deref(), Some("v8"));
    assert_eq!(p.os_version.as_deref(), Some("5.10"));
    assert_eq!(p.os_features, vec!["a", "b"]);
    assert_eq!(p.to_string(), "linux/arm64/v8");

    // --arch alone: the pair with the entry's os must be one images exist for.
    let before = arm.clone();
    let err = arm
        .annotate(
            &name,
            &PlatformChange {
                architecture: Some("wasm".into()),
                ..Default::default()
            },
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("linux/wasm"), "{err}");
    assert!(err.contains("127.0.0.1:5000/app-src:arm64"), "{err}");
    assert!(err.contains("127.0.0.1:5000/app:1"), "{err}");
    assert_eq!(arm, &before, "a refused change changes nothing");

    // Unknown names are refused with the accepted forms.
    let err = arm
        .annotate(
            &name,
            &PlatformChange {
                os: Some("lunix".into()),
                ..Default::default()
            },
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown os"), "{err}");

    // A new architecture drops the old variant; aliases are normalised.
    arm.annotate(
        &name,
        &PlatformChange {
            architecture: Some("x86_64".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(arm.platform().to_string(), "linux/amd64");
    // The config's platform is still there underneath.
    assert_eq!(arm.config_platform.to_string(), "linux/arm64");
}

#[test]
fn amend_keeps_annotations_and_replaces_in_place() {
    let mut list = list();
    let name = list.name().to_string();
    let amd = "127.0.0.1:5000/app-src:amd64";
    list.entry_mut(&image(amd))
        .unwrap()
        .annotate(
            &name,
            &PlatformChange {
                os_version: Some("1".into()),
                ..Default::default()
            },
        )
        .unwrap();
    // The image was re-pushed: a new digest for the same source.
    list.put_entries(
        amd,
        vec![entry(
            amd,
            amd,
            "{\"a\":3}",
            platform("linux", "amd64", None),
        )],
    );
    assert_eq!(list.entries().len(), 2);
    assert_eq!(list.entries()[0].reference(), amd, "order is kept");
    assert_eq!(list.entries()[0].digest(), sha256_digest(b"{\"a\":3}"));
    assert_eq!(
        list.entries()[0].platform().os_version.as_deref(),
        Some("1")
    );
}

#[test]
fn entries_are_found_by_reference_digest_or_source() {
    let mut list = list();
    let index = "127.0.0.1:5000/multi:1";
    let child = |raw: &str, arch: &str| {
        let reference = format!("127.0.0.1:5000/multi@{}", sha256_digest(raw.as_bytes()));
        entry(&reference, index, raw, platform("linux", arch, None))
    };
    let a = child("{\"b\":1}", "amd64");
    let b = child("{\"b\":2}", "arm64");
    let digest_a = a.digest().to_string();
    list.put_entries(index, vec![a, b]);
    assert!(list.entry(&image("127.0.0.1:5000/app-src:amd64")).is_ok());
    assert!(list.entry(&image("127.0.0.1:5000/app-src")).is_err());
    let by_digest = format!("127.0.0.1:5000/multi@{digest_a}");
    assert_eq!(list.entry(&image(&by_digest)).unwrap().digest(), digest_a);
    let err = list.entry(&image(index)).unwrap_err().to_string();
    assert!(err.contains("names 2 entries"), "{err}");
    let err = list
        .entry(&image("127.0.0.1:5000/other:1"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("has no entry for 127.0.0.1:5000/other:1"),
        "{err}"
    );
}

#[test]
fn index_bytes_follow_the_format() {
    let mut list = list();
    list.set_annotation("org.opencontainers.image.source", "x");
    let (bytes, digest) = list.index_bytes().unwrap();
    assert_eq!(digest, sha256_digest(&bytes));
    let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(doc["mediaType"], media_types::DOCKER_LIST);
    assert!(doc.get("annotations").is_none(), "a docker list has none");
    assert_eq!(doc["manifests"][1]["platform"]["architecture"], "arm64");
    assert!(doc["manifests"][1]["platform"].get("variant").is_none());
    list.set_format(ManifestFormat::Oci);
    let (bytes, _) = list.index_bytes().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(doc["mediaType"], media_types::OCI_INDEX);
    assert_eq!(doc["annotations"]["org.opencontainers.image.source"], "x");

    let empty = ManifestList::new(&image("127.0.0.1:5000/e:1"), ManifestFormat::Oci);
    let err = empty.index_bytes().unwrap_err().to_string();
    assert_eq!(err, "manifest list 127.0.0.1:5000/e:1 has no entries");
}

#[test]
fn a_tampered_manifest_is_refused() {
    let mut list = list();
    let text = serde_json::to_string(&list).unwrap();
    let text = text.replace("{\\\"a\\\":1}", "{\\\"a\\\":9}");
    list = serde_json::from_str(&text).unwrap();
    let err = list.entries()[0].manifest_bytes().unwrap_err().to_string();
    assert!(err.contains("was the store edited"), "{err}");
}

#[test]
fn media_types_are_told_apart() {
    let index = br#"{"schemaVersion":2,"manifests":[]}"#;
    assert_eq!(
        classify(index, "x").unwrap(),
        (media_types::OCI_INDEX.to_string(), true)
    );
    let image = br#"{"schemaVersion":2,"config":{},"layers":[]}"#;
    assert_eq!(
        classify(image, "x").unwrap(),
        (media_types::OCI_MANIFEST.to_string(), false)
    );
    let v1 = br#"{"schemaVersion":1}"#;
    assert!(classify(v1, "x").is_err());
}
