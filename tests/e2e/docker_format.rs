//! `format: docker`: the tag is a Docker manifest list instead of an OCI index.

use mab_tests::*;

#[test]
fn docker_format_publishes_a_manifest_list() {
    let dir = PlanDir::new("docker-format");
    let repo = dir.repository();
    dir.write(
        "Dockerfile",
        &dockerfile("RUN uname -m > /arch.txt\nCMD [\"cat\", \"/arch.txt\"]"),
    );
    dir.write_plan(&[Image::new(&repo).format("docker")]);

    let out = mab().args(["build", "--json"]).arg(dir.plan()).run();
    out.assert_success();
    let doc = out.json();
    let image = json_image(&doc, &repo);
    assert_eq!(image["media_type"], DOCKER_LIST, "{image:#}");
    let digest = image["digest"].as_str().expect("digest");

    let raw = registry_raw(&format!("{repo}:latest"));
    assert_eq!(sha256_digest(&raw), digest, "the list digest mab reported");
    let list: serde_json::Value = serde_json::from_slice(&raw).expect("JSON");
    assert_eq!(list["mediaType"], DOCKER_LIST, "{list:#}");
    let entries = index_entries(&list);
    assert_eq!(entries.len(), 2, "{list:#}");
    for (platform, _, media_type) in &entries {
        assert_eq!(media_type, DOCKER_MANIFEST, "{platform} in {list:#}");
    }

    let inspect = docker([
        "manifest",
        "inspect",
        "--insecure",
        &format!("{repo}:latest"),
    ]);
    inspect.assert_success();
    let inspected = inspect.json();
    assert_eq!(inspected["mediaType"], DOCKER_LIST, "{inspect}");
    let mut archs: Vec<String> = inspected["manifests"]
        .as_array()
        .unwrap_or_else(|| panic!("{inspect}"))
        .iter()
        .map(|m| {
            format!(
                "{}/{}",
                m["platform"]["os"].as_str().unwrap_or("?"),
                m["platform"]["architecture"].as_str().unwrap_or("?")
            )
        })
        .collect();
    archs.sort();
    assert_eq!(archs, ["linux/amd64", "linux/arm64"], "{inspect}");

    let amd64 = docker_run_platform(&format!("{repo}:latest"), "linux/amd64");
    assert_eq!(amd64.trim(), "x86_64");
    let arm64 = docker_run_platform(&format!("{repo}:latest"), "linux/arm64");
    assert_eq!(arm64.trim(), "aarch64");
}
