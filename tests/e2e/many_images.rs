//! Several images from the same multi-platform base in one plan: every image of every
//! platform must be built from the base of its own platform, however the builds interleave;
//! and the daemon's tag of that base is left where it was.

use mab_tests::fault_proxy::FaultProxy;
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

/// Copies the multi-platform test base into a repository of the test's own (no other test pulls
/// it) and writes a Dockerfile and a plan building `dir`'s repository for amd64 and arm64 from
/// it, as seen at `base_registry` (the test registry, or a proxy in front of it, then declared
/// insecure too). Returns the base's `repository path` and its reference as the plan names it.
fn plan_on_own_base(dir: &PlanDir, base_registry: &str) -> (String, String) {
    let env = TestEnv::get();
    let base_path = format!("{}-base/busybox", dir.repo_path());
    skopeo([
        "copy",
        "--all",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{}", env.base_image),
        &format!("docker://{}/{base_path}:latest", env.registry),
    ])
    .assert_success();
    let base = format!("{base_registry}/{base_path}:latest");
    dir.write(
        "Dockerfile",
        &dockerfile("RUN uname -m > /arch\nCMD [\"cat\", \"/arch\"]"),
    );
    let quoted = |s: &str| serde_json::to_string(s).expect("a string");
    let mut yaml = plan_yaml(&[Image::new(&dir.repository())])
        .replace(&quoted(&env.base_image), &quoted(&base));
    if base_registry != env.registry {
        yaml = yaml.replacen(
            "registries:\n",
            &format!(
                "registries:\n  {}: {{ insecure: true }}\n",
                quoted(base_registry)
            ),
            1,
        );
    }
    dir.write("plan.yaml", &yaml);
    (base_path, base)
}

#[test]
fn the_local_tag_of_a_multi_platform_base_stays_where_it_was() {
    let env = TestEnv::get();
    let dir = PlanDir::new("base-tag");
    let (_, base) = plan_on_own_base(&dir, &env.registry);
    // Tagged locally as the amd64 image.
    docker(["pull", "--platform", "linux/amd64", &base]).assert_success();
    let local = || {
        let out = docker(["image", "inspect", "-f", "{{.Id}} {{.Architecture}}", &base]);
        out.assert_success();
        out.stdout.trim().to_string()
    };
    let before = local();
    assert!(before.ends_with(" amd64"), "{before}");

    let repository = dir.repository();
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

#[test]
fn a_rerun_reads_no_base_manifest_and_a_run_asks_each_base_once() {
    let env = TestEnv::get();
    // The base's registry is seen through a proxy that counts requests.
    let proxy = FaultProxy::start(&env.registry, Vec::new());
    let dir = PlanDir::new("base-head");
    let (base_path, base) = plan_on_own_base(&dir, proxy.address());
    let home = dir.path().join("mab-home");
    let manifests = format!("/v2/{base_path}/manifests/");

    // The first run: mab reads the index, the daemon pulls both images by digest (through the
    // proxy too, so its requests are not counted here).
    let first = mab()
        .arg("build")
        .arg(dir.plan())
        .env("MAB_HOME", &home)
        .run();
    first.assert_success();

    // Again, with nothing changed: the daemon has both images, and mab asks the tag once for
    // both platforms, by HEAD (Docker Hub does not count it as a pull); the index comes from
    // mab's cache.
    let (heads, gets) = (
        proxy.requests("HEAD", &manifests),
        proxy.requests("GET", &manifests),
    );
    let again = mab()
        .arg("build")
        .arg(dir.plan())
        .env("MAB_HOME", &home)
        .run();
    again.assert_success();
    assert_eq!(
        proxy.requests("HEAD", &manifests) - heads,
        1,
        "one HEAD for both platforms: {}",
        again.all()
    );
    assert_eq!(
        proxy.requests("GET", &manifests) - gets,
        0,
        "a manifest of the base was read again: {}",
        again.all()
    );
    let _ = docker(["rmi", &base]);
}
