//! Several images from the same multi-platform base in one plan: every image of every
//! platform must be built from the base of its own platform, however the builds interleave.

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
