//! `--output oci:DIR`: an OCI image layout on disk, nothing pushed.

use mab_tests::*;

#[test]
fn output_oci_writes_a_layout_and_pushes_nothing() {
    let env = TestEnv::get();
    let dir = PlanDir::new("oci-output");
    let repo = dir.repository();
    dir.write(
        "Dockerfile",
        &dockerfile("RUN uname -m > /arch.txt\nCMD [\"cat\", \"/arch.txt\"]"),
    );
    dir.write_plan(&[Image::new(&repo).tags(&["latest", "1.0.0"])]);
    let layout = dir.path().join("layout");

    let out = mab()
        .args(["build", "--json", "--output"])
        .arg(format!("oci:{}", layout.display()))
        .arg(dir.plan())
        .run();
    out.assert_success();
    let doc = out.json();
    let image = json_image(&doc, &repo);
    assert_eq!(image["media_type"], OCI_INDEX, "{image:#}");
    let digest = image["digest"].as_str().expect("digest").to_string();

    // The layout: oci-layout marker, index.json with one entry per tag, full references.
    let marker: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("oci-layout")).expect("oci-layout file"))
            .expect("JSON");
    assert_eq!(marker["imageLayoutVersion"], "1.0.0");
    let index_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index.json"))
            .expect("JSON");
    let mut refs: Vec<(String, String)> = index_json["manifests"]
        .as_array()
        .unwrap_or_else(|| panic!("{index_json:#}"))
        .iter()
        .map(|d| {
            assert_eq!(d["mediaType"], OCI_INDEX, "{index_json:#}");
            (
                d["annotations"][REF_NAME]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                d["digest"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    refs.sort();
    assert_eq!(
        refs,
        [
            (format!("{repo}:1.0.0"), digest.clone()),
            (format!("{repo}:latest"), digest.clone())
        ],
        "{index_json:#}"
    );

    // skopeo reads the index by its reference name, and copies it with every blob checked.
    let layout_ref = format!("oci:{}:{repo}:latest", layout.display());
    let raw = skopeo(["inspect", "--raw", &layout_ref]);
    raw.assert_success();
    assert_eq!(sha256_digest(raw.stdout.as_bytes()), digest, "{raw}");
    let index: serde_json::Value = raw.json();
    let mut platforms: Vec<String> = index_entries(&index).into_iter().map(|e| e.0).collect();
    platforms.sort();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64/v8"], "{raw}");

    let other = dir.path().join("other");
    skopeo([
        "copy",
        "--all",
        "--preserve-digests",
        &layout_ref,
        &format!("oci:{}", other.display()),
    ])
    .assert_success();
    let copied: serde_json::Value = serde_json::from_slice(
        &std::fs::read(other.join("index.json")).expect("copied index.json"),
    )
    .expect("JSON");
    assert_eq!(
        copied["manifests"][0]["digest"],
        digest.as_str(),
        "{copied:#}"
    );

    // Nothing went to the registry.
    assert!(
        !registry_has(&format!("{repo}:latest")),
        "--output oci: pushed {repo}:latest"
    );

    // The layout's images are complete: pushed by skopeo elsewhere, they run.
    let pushed = format!("{}/{}-copy:latest", env.registry, dir.repo_path());
    skopeo([
        "copy",
        "--all",
        "--preserve-digests",
        "--dest-tls-verify=false",
        &layout_ref,
        &format!("docker://{pushed}"),
    ])
    .assert_success();
    assert_eq!(docker_run_platform(&pushed, "linux/amd64").trim(), "x86_64");
    assert_eq!(
        docker_run_platform(&pushed, "linux/arm64").trim(),
        "aarch64"
    );
}
