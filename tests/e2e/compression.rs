//! `compression:` in the plan: zstd and uncompressed layers, each with its media type, read back
//! whole by skopeo (every blob's digest checked); the uncompressed image runs under the docker
//! CLI.

use mab_tests::*;

#[test]
fn zstd_and_uncompressed_layers() {
    let env = TestEnv::get();
    let dir = PlanDir::new("compression");
    // Both images are the same image, built at once (only their pushes differ), and new on
    // every run (the daemon has neither yet): on the containerd image store both builds name
    // it at the same moment.
    dir.write(
        "Dockerfile",
        &dockerfile(&format!(
            "RUN echo {} > /run && uname -m > /arch\nCMD cat /arch",
            dir.name
        )),
    );
    let zstd = dir.repository_with("zstd");
    let plain = dir.repository_with("none");
    dir.write(
        "plan.yaml",
        &format!(
            "version: 1\nregistries:\n  {registry:?}: {{ insecure: true }}\n\
             defaults:\n  platforms: [linux/amd64, linux/arm64]\n  build_args: {{ BASE_IMAGE: {base:?} }}\n\
             images:\n  - repository: {zstd}\n    compression: zstd\n\
             \x20 - repository: {plain}\n    compression: none\n",
            registry = env.registry,
            base = env.base_image,
        ),
    );
    let out = mab().args(["build", "--json"]).arg(dir.plan()).run();
    out.assert_success();
    let doc = out.json();
    for (repository, media_type) in [
        (&zstd, "application/vnd.oci.image.layer.v1.tar+zstd"),
        (&plain, "application/vnd.oci.image.layer.v1.tar"),
    ] {
        for (_, digest) in json_platforms(json_image(&doc, repository)) {
            let types = layer_media_types(repository, &digest);
            assert!(
                !types.is_empty() && types.iter().all(|t| t == media_type),
                "{repository}: {types:?}"
            );
        }
        skopeo_copies_whole(&format!("{repository}:latest"));
    }
    for (platform, machine) in [("linux/amd64", "x86_64"), ("linux/arm64", "aarch64")] {
        let arch = docker_run_platform(&format!("{plain}:latest"), platform);
        assert_eq!(arch.trim(), machine, "{platform}");
    }
}
