//! Several images from the same multi-platform base in one plan: every image of every
//! platform must be built from the base of its own platform, however the builds interleave;
//! and the daemon's tag of that base is left where it was.

use mab_tests::*;

#[test]
fn three_images_two_platforms_each_get_their_own_base() {
    let dir = PlanDir::new("many");
    let names = ["one", "two", "three"];
    let mut images = Vec::new();
    for name in names {
        dir.write(
            &format!("{name}/Dockerfile"),
            &dockerfile(&format!(
                "RUN uname -m > /arch.txt && echo {name} > /name.txt\n\
                 CMD [\"cat\", \"/arch.txt\", \"/name.txt\"]"
            )),
        );
        images.push(
            Image::new(&dir.repository_with(name))
                .context(name)
                .tags(&["latest", "v1"]),
        );
    }
    dir.write_plan(&images);

    let out = mab().args(["build", "--json"]).arg(dir.plan()).run();
    out.assert_success();
    let doc = out.json();
    assert_eq!(doc["images"].as_array().map(Vec::len), Some(3), "{doc:#}");

    for name in names {
        let repo = dir.repository_with(name);
        let image = json_image(&doc, &repo);
        let platforms: Vec<String> = json_platforms(image).into_iter().map(|p| p.0).collect();
        assert_eq!(platforms, ["linux/amd64", "linux/arm64/v8"], "{image:#}");
        let digest = image["digest"].as_str().expect("digest");
        for tag in ["latest", "v1"] {
            let raw = registry_raw(&format!("{repo}:{tag}"));
            assert_eq!(sha256_digest(&raw), digest, "{repo}:{tag}");
        }
        // Each tag's images run where they belong and were built there.
        for tag in ["latest", "v1"] {
            let image = format!("{repo}:{tag}");
            let amd64 = docker_run_platform(&image, "linux/amd64");
            assert_eq!(
                amd64.split_whitespace().collect::<Vec<_>>(),
                ["x86_64", name],
                "{image} amd64"
            );
            let arm64 = docker_run_platform(&image, "linux/arm64");
            assert_eq!(
                arm64.split_whitespace().collect::<Vec<_>>(),
                ["aarch64", name],
                "{image} arm64"
            );
        }
    }
}

#[test]
fn the_local_tag_of_a_multi_platform_base_stays_where_it_was() {
    let env = TestEnv::get();
    let dir = PlanDir::new("base-tag");
    // A base of the test's own (no other test pulls it), tagged locally as the amd64 image.
    let base = format!("{}/{}-base/busybox:latest", env.registry, dir.repo_path());
    skopeo([
        "copy",
        "--all",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{}", env.base_image),
        &format!("docker://{base}"),
    ])
    .assert_success();
    docker(["pull", "--platform", "linux/amd64", &base]).assert_success();
    let local = || {
        let out = docker(["image", "inspect", "-f", "{{.Id}} {{.Architecture}}", &base]);
        out.assert_success();
        out.stdout.trim().to_string()
    };
    let before = local();
    assert!(before.ends_with(" amd64"), "{before}");

    dir.write(
        "Dockerfile",
        &dockerfile("RUN uname -m > /arch\nCMD [\"cat\", \"/arch\"]"),
    );
    let quoted = |s: &str| serde_json::to_string(s).expect("a string");
    let repository = dir.repository();
    dir.write(
        "plan.yaml",
        &plan_yaml(&[Image::new(&repository)]).replace(&quoted(&env.base_image), &quoted(&base)),
    );
    let out = mab().arg("build").arg(dir.plan()).run();
    out.assert_success();

    // docker pull --platform linux/arm64 would have moved it; mab used the arm64 image by
    // digest and left the tag alone.
    assert_eq!(local(), before, "the local tag {base} moved");
    let image = format!("{repository}:latest");
    assert_eq!(docker_run_platform(&image, "linux/arm64").trim(), "aarch64");
    assert_eq!(docker_run_platform(&image, "linux/amd64").trim(), "x86_64");
    let _ = docker(["rmi", &base]);
}
