//! The engine's push (the default; `--no-engine-push` turns it off): on the containerd image
//! store the engine pushes what it builds, by digest, and mab publishes the index of what it
//! pushed; elsewhere (Docker 20.10's classic store) mab pushes as always. Either way the tag is
//! the whole image, read back by skopeo and run by the docker CLI, and no other tag appears.

use mab_tests::*;

#[test]
fn the_engine_pushes_each_platform_by_digest_and_mab_publishes_the_index() {
    let env = TestEnv::get();
    let dir = PlanDir::new("engine-push");
    // A layer of this run only: the classic builder picks any of several cached images of the
    // same step, and each earlier run left one with other random bytes.
    dir.write(
        "Dockerfile",
        &dockerfile(&format!(
            "ARG WHICH\nRUN uname -m > /arch && echo $WHICH {} > /which && head -c 65536 /dev/urandom > /noise\nCMD cat /arch",
            dir.repo_path()
        )),
    );
    let gzip = dir.repository_with("gzip");
    let zstd = dir.repository_with("zstd");
    // All four builds at once: both platforms of one repository export under that repository's
    // name in the engine's store at the same time, and neither image may be lost to the other.
    let endpoint = std::env::var("DOCKER_HOST").unwrap_or("unix:///var/run/docker.sock".into());
    dir.write(
        "plan.yaml",
        &format!(
            "version: 1\nregistries:\n  {registry:?}: {{ insecure: true }}\n\
             builders:\n  - {{ name: local, endpoint: {endpoint:?}, max_jobs: 4 }}\n\
             defaults:\n  platforms: [linux/amd64, linux/arm64]\n  build_args: {{ BASE_IMAGE: {base:?} }}\n\
             images:\n  - repository: {gzip}\n    format: docker\n    build_args: {{ BASE_IMAGE: {base:?}, WHICH: gzip }}\n\
             \x20 - repository: {zstd}\n    compression: zstd\n    build_args: {{ BASE_IMAGE: {base:?}, WHICH: zstd }}\n",
            registry = env.registry,
            base = env.base_image,
        ),
    );
    let engine_pushes = containerd_image_store();
    let out = mab().args(["build", "--json"]).arg(dir.plan()).run();
    out.assert_success();
    let by_engine = out.stderr.matches("by the engine").count();
    if engine_pushes {
        assert_eq!(by_engine, 4, "every platform pushed by the engine:\n{out}");
    } else {
        assert_eq!(by_engine, 0, "Docker 20.10 cannot push by digest:\n{out}");
    }
    let doc = out.json();
    for (repository, manifest_type, layer_type) in [
        (
            &gzip,
            DOCKER_MANIFEST,
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
        ),
        (
            &zstd,
            OCI_MANIFEST,
            "application/vnd.oci.image.layer.v1.tar+zstd",
        ),
    ] {
        let image = json_image(&doc, repository);
        let raw = registry_raw(&format!("{repository}:latest"));
        assert_eq!(Some(sha256_digest(&raw).as_str()), image["digest"].as_str());
        let index: serde_json::Value = serde_json::from_slice(&raw).expect("index");
        let entries = index_entries(&index);
        assert_eq!(entries.len(), 2, "{index:#}");
        for (platform, digest, media_type) in &entries {
            assert_eq!(media_type, manifest_type, "{platform} in {index:#}");
            let types = layer_media_types(repository, digest);
            assert!(
                !types.is_empty() && types.iter().all(|t| t == layer_type),
                "{repository} {platform}: {types:?}"
            );
        }
        // Every blob there, with the digest its manifest names.
        skopeo_copies_whole(&format!("{repository}:latest"));
        // Pushed by digest: the only tag is the plan's.
        assert_eq!(list_tags(repository), ["latest"], "{repository}");
    }
    for (platform, machine) in [("linux/amd64", "x86_64"), ("linux/arm64", "aarch64")] {
        let arch = docker_run_platform(&format!("{gzip}:latest"), platform);
        assert_eq!(arch.trim(), machine, "{platform}");
    }

    // A rerun publishes the same index: nothing changed, so nothing is built or pushed again;
    // the manifests the engine pushed are read back from the registry. (The two images differ
    // by `WHICH`, so that neither builder's cache can give one the other's random layer.)
    let again = mab()
        .args(["build", "--engine-push", "--json"])
        .arg(dir.plan())
        .run();
    again.assert_success();
    if engine_pushes {
        // Else the rerun's digests are mab's pusher's, not the engine's: that is what differs.
        assert_eq!(
            again
                .stderr
                .matches("(pushed by the engine in an earlier run)")
                .count(),
            4,
            "every platform of the rerun taken as the engine pushed it:\n{again}"
        );
        let doc = again.json();
        for repository in [&gzip, &zstd] {
            let image = json_image(&doc, repository);
            let platforms = image["platforms"].as_array().expect("platforms");
            assert!(
                platforms.iter().all(|p| p["reused"] == true),
                "{repository}: {image:#}"
            );
        }
    }
    // With --no-engine-push mab pushes the same images itself: its own manifests (other
    // bytes than the engine's), every blob already there.
    let own = mab()
        .args(["build", "--no-engine-push", "--json"])
        .arg(dir.plan())
        .run();
    own.assert_success();
    assert_eq!(own.stderr.matches("by the engine").count(), 0, "{own}");
    for repository in [&gzip, &zstd] {
        skopeo_copies_whole(&format!("{repository}:latest"));
    }
    for repository in [&gzip, &zstd] {
        assert_eq!(
            index_digest(&again, repository),
            index_digest(&out, repository),
            "{repository}\nfirst run:\n{out}\nrerun:\n{again}"
        );
    }
}

/// A registry the engine cannot push to (here: plain HTTP behind a proxy that closes the
/// connection on the engine's TLS attempt, as a registry the daemon is not told is insecure):
/// on the containerd store the engine's push fails, mab says so and pushes the image itself.
#[test]
fn an_engine_push_that_fails_is_left_to_mab() {
    let env = TestEnv::get();
    let proxy = mab_tests::fault_proxy::FaultProxy::start(&env.registry, Vec::new());
    let dir = PlanDir::new("engine-push-fallback");
    dir.write(
        "Dockerfile",
        &dockerfile("RUN uname -m > /arch\nCMD cat /arch"),
    );
    let through_proxy = format!("{}/{}", proxy.address(), dir.repo_path());
    dir.write_plan(&[Image::new(&through_proxy)]);

    let home = tempfile::tempdir().expect("MAB_HOME");
    let out = mab()
        .args(["build", "--json"])
        .arg(dir.plan())
        .env("MAB_HOME", home.path())
        .run();
    out.assert_success();
    assert_eq!(out.stderr.matches("by the engine").count(), 0, "{out}");
    if containerd_image_store() {
        assert!(
            out.stderr.contains("the engine's push to")
                && out.stderr.contains("mab pushes the image instead"),
            "the failed engine push is reported:\n{out}"
        );
    }
    // The real registry, read directly, has the whole image mab reported.
    let digest = index_digest(&out, &through_proxy);
    let raw = registry_raw(&format!("{}:latest", dir.repository()));
    assert_eq!(sha256_digest(&raw), digest);
    mab()
        .args(["verify", "--insecure"])
        .arg(format!("{}:latest", dir.repository()))
        .run()
        .assert_success();
    for (platform, machine) in [("linux/amd64", "x86_64"), ("linux/arm64", "aarch64")] {
        let arch = docker_run_platform(&format!("{}:latest", dir.repository()), platform);
        assert_eq!(arch.trim(), machine, "{platform}");
    }

    // The next run that builds (the Dockerfile changed) does not ask the engine again: the
    // refusal is remembered (for a day), so no warning and no failed push.
    dir.write(
        "Dockerfile",
        &dockerfile("RUN uname -m > /arch\nRUN echo again > /again\nCMD cat /arch"),
    );
    let next = mab()
        .args(["build", "--json"])
        .arg(dir.plan())
        .env("MAB_HOME", home.path())
        .run();
    next.assert_success();
    if containerd_image_store() {
        assert_eq!(
            next.stderr.matches("(remembered for a day)").count(),
            2,
            "both platforms pushed by mab at once:\n{next}"
        );
    }
    assert!(
        !next.stderr.contains("the engine's push to") && !next.stderr.contains("warning:"),
        "{next}"
    );
    skopeo_copies_whole(&format!("{}:latest", dir.repository()));
}
