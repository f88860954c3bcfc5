//! `mab verify REF`: a sound index verifies; an index that lies about its entries (platforms
//! swapped, a child that is not in the registry) is caught, each problem named.

use mab_tests::*;

/// Stores `body` as a manifest of `repo` under `tag` with plain HTTP (an independent client).
fn put_manifest(repo: &str, tag: &str, media_type: &str, body: &[u8]) {
    let (registry, path) = repo.split_once('/').expect("registry/path");
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), body).expect("writing the manifest");
    let mut cmd = std::process::Command::new("curl");
    cmd.args(["-sS", "-f", "-X", "PUT", "-H"])
        .arg(format!("Content-Type: {media_type}"))
        .arg("--data-binary")
        .arg(format!("@{}", file.path().display()))
        .arg(format!("http://{registry}/v2/{path}/manifests/{tag}"));
    let out = run_command(cmd, std::time::Duration::from_secs(60));
    assert!(out.success(), "curl PUT failed: {}", out.all());
}

/// Deletes a manifest of `repo` by digest (the test registry allows deletes).
fn delete_manifest(repo: &str, digest: &str) {
    let (registry, path) = repo.split_once('/').expect("registry/path");
    let mut cmd = std::process::Command::new("curl");
    cmd.args(["-sS", "-f", "-X", "DELETE"])
        .arg(format!("http://{registry}/v2/{path}/manifests/{digest}"));
    let out = run_command(cmd, std::time::Duration::from_secs(60));
    assert!(out.success(), "curl DELETE failed: {}", out.all());
}

#[test]
fn verify_accepts_a_sound_index_and_names_every_lie() {
    let dir = PlanDir::new("verify");
    dir.write("Dockerfile", &dockerfile("RUN uname -m > /arch"));
    dir.write_plan(&[Image::new(&dir.repository())]);
    mab().arg("build").arg(dir.plan()).run().assert_success();
    let repo = dir.repository();

    let sound = mab()
        .args(["verify", "--insecure", "--json"])
        .arg(format!("{repo}:latest"))
        .run();
    sound.assert_success();
    let report = sound.json();
    assert_eq!(report["problems"], serde_json::json!([]), "{report:#}");
    assert_eq!(
        report["images"].as_array().map(Vec::len),
        Some(2),
        "{report:#}"
    );

    // The same entries with their platforms swapped: each entry's config now contradicts it.
    let raw = registry_raw(&format!("{repo}:latest"));
    let mut index: serde_json::Value = serde_json::from_slice(&raw).expect("index");
    let manifests = index["manifests"].as_array_mut().expect("manifests");
    let first = manifests[0]["platform"].clone();
    manifests[0]["platform"] = manifests[1]["platform"].clone();
    manifests[1]["platform"] = first;
    let body = serde_json::to_vec_pretty(&index).expect("json");
    put_manifest(&repo, "liar", OCI_INDEX, &body);

    let liar = mab()
        .args(["verify", "--insecure"])
        .arg(format!("{repo}:liar"))
        .run();
    liar.assert_code(1).assert_stderr_contains(&[
        "the index says linux/arm64/v8, but its image config is linux/amd64",
        "the index says linux/amd64, but its image config is linux/arm64",
    ]);

    // A child deleted from under the index (the registry refuses an index naming an unknown
    // manifest, so it has to go afterwards).
    let missing = index["manifests"][0]["digest"]
        .as_str()
        .expect("digest")
        .to_string();
    delete_manifest(&repo, &missing);
    mab()
        .args(["verify", "--insecure"])
        .arg(format!("{repo}:latest"))
        .run()
        .assert_code(1)
        .assert_stderr_contains(&[&format!("{missing}, which is not in the registry")]);

    // An unknown tag is an error naming it, not a report.
    mab()
        .args(["verify", "--insecure"])
        .arg(format!("{repo}:nope"))
        .run()
        .assert_code(1)
        .assert_stderr_contains(&[&format!("{repo}:nope")]);
}
