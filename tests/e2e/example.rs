//! The seed article's example (examples/echo-platform) end to end.

use mab_tests::*;

#[test]
fn example_builds_pushes_and_runs_on_both_platforms() {
    let env = TestEnv::get();
    let dir = PlanDir::new("example");
    let example = examples_dir().join("echo-platform");
    let dockerfile =
        std::fs::read_to_string(example.join("Dockerfile")).expect("example Dockerfile");
    let plan = std::fs::read_to_string(example.join("plan.yaml")).expect("example plan");
    assert!(
        plan.contains("/demo/echo-platform"),
        "the example's repository moved; update this test"
    );
    // The example's plan as it is, but with a repository of this test's own.
    dir.write("Dockerfile", &dockerfile);
    dir.write(
        "plan.yaml",
        &plan.replace("/demo/echo-platform", &format!("/{}", dir.repo_path())),
    );
    let repo = dir.repository();

    let out = mab()
        .args(["build", "--json"])
        .arg(dir.plan())
        .env("MAB_REGISTRY", &env.registry)
        .env("MAB_BASE_IMAGE", &env.base_image)
        .run();
    out.assert_success();

    // --json: one document naming the index and both platform manifests.
    let doc = out.json();
    assert_eq!(doc["images"].as_array().map(Vec::len), Some(1), "{doc:#}");
    let image = json_image(&doc, &repo);
    assert_eq!(strings(&image["tags"]), ["1.0.0", "latest"], "{image:#}");
    assert_eq!(image["media_type"], OCI_INDEX, "{image:#}");
    let digest = image["digest"].as_str().expect("digest").to_string();
    assert!(digest.starts_with("sha256:"), "{image:#}");
    let platforms = json_platforms(image);
    let names: Vec<&str> = platforms.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(names, ["linux/amd64", "linux/arm64/v8"], "{image:#}");

    // The registry, read by skopeo: an OCI index whose digest is the one mab reported.
    let raw = registry_raw(&format!("{repo}:latest"));
    assert_eq!(sha256_digest(&raw), digest, "the index digest mab reported");
    let index: serde_json::Value = serde_json::from_slice(&raw).expect("index JSON");
    assert_eq!(index["mediaType"], OCI_INDEX, "{index:#}");
    assert_eq!(index["schemaVersion"], 2, "{index:#}");
    let mut entries = index_entries(&index);
    entries.sort();
    assert_eq!(entries.len(), 2, "{index:#}");
    for ((platform, child, media_type), (json_platform, json_digest)) in
        entries.iter().zip(&platforms)
    {
        assert_eq!(platform, json_platform, "{index:#}");
        assert_eq!(child, json_digest, "{index:#}");
        assert_eq!(media_type, OCI_MANIFEST, "{index:#}");
    }
    // arm64 carries variant v8 in the index, amd64 no variant.
    let arm = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["platform"]["architecture"] == "arm64")
        .expect("an arm64 entry");
    assert_eq!(arm["platform"]["os"], "linux");
    assert_eq!(arm["platform"]["variant"], "v8");

    // Each platform manifest's config says the same platform.
    for (platform, child) in &platforms {
        let config = registry_config(&format!("{repo}@{child}"));
        let arch = if platform.contains("arm64") {
            "arm64"
        } else {
            "amd64"
        };
        assert_eq!(config["architecture"], arch, "config of {platform}");
        assert_eq!(config["os"], "linux", "config of {platform}");
    }

    // The second tag names the same index.
    let raw_100 = registry_raw(&format!("{repo}:1.0.0"));
    assert_eq!(sha256_digest(&raw_100), digest, "tag 1.0.0");

    // No per-architecture helper tags.
    assert_eq!(list_tags(&repo), ["1.0.0", "latest"]);

    // The docker CLI reads it too.
    let inspect = docker([
        "manifest",
        "inspect",
        "--insecure",
        &format!("{repo}:latest"),
    ]);
    inspect.assert_success();
    let inspected = inspect.json();
    let mut archs: Vec<String> = inspected["manifests"]
        .as_array()
        .unwrap_or_else(|| panic!("{inspect}"))
        .iter()
        .map(|m| platform_string(&m["platform"]))
        .collect();
    archs.sort();
    assert_eq!(archs, ["linux/amd64", "linux/arm64/v8"], "{inspect}");

    // The article's result: each platform's container says where it was built.
    let amd64 = docker_run_platform(&format!("{repo}:latest"), "linux/amd64");
    assert!(
        amd64.contains("x86_64") && !amd64.contains("aarch64"),
        "amd64 printed {amd64:?}"
    );
    let arm64 = docker_run_platform(&format!("{repo}:latest"), "linux/arm64");
    assert!(
        arm64.contains("aarch64") && !arm64.contains("x86_64"),
        "arm64 printed {arm64:?}"
    );

    // skopeo copies everything, checking every blob's digest, and keeps the index as it is.
    let copy = tempfile::tempdir().expect("temp dir");
    let dest = copy.path().join("layout");
    skopeo([
        "copy",
        "--all",
        "--preserve-digests",
        "--src-tls-verify=false",
        &format!("docker://{repo}:latest"),
        &format!("oci:{}", dest.display()),
    ])
    .assert_success();
    let copied: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dest.join("index.json")).expect("copied index.json"))
            .expect("JSON");
    assert_eq!(
        copied["manifests"][0]["digest"],
        digest.as_str(),
        "{copied:#}"
    );
}
