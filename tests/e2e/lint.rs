//! The platform lint: an x86-64 executable copied into an arm64 image is reported (a warning),
//! or fails the image with `--strict` (no tag moves); a clean image says nothing. On the
//! containerd image store the engine pushes the image and mab reads its layers back for the
//! lint; a rerun takes what they hold from the layer cache.

use mab_tests::*;

#[test]
fn a_foreign_executable_is_reported_and_fails_with_strict() {
    let env = TestEnv::get();
    let amd64_base = env
        .amd64_base
        .clone()
        .unwrap_or_else(|| format!("{}/mab-base/busybox:amd64", env.registry));
    let dir = PlanDir::new("lint");
    dir.write(
        "Dockerfile",
        "ARG BASE_IMAGE\nARG AMD64_BASE\n\
         FROM --platform=linux/amd64 ${AMD64_BASE} AS x86\n\
         FROM ${BASE_IMAGE}\n\
         COPY --from=x86 /bin/busybox /usr/local/bin/x86-busybox\n",
    );
    let repository = dir.repository();
    dir.write(
        "plan.yaml",
        &format!(
            "version: 1\nregistries:\n  {registry:?}: {{ insecure: true }}\nimages:\n\
             \x20 - repository: {repository}\n    platforms: [linux/amd64, linux/arm64]\n\
             \x20   build_args: {{ BASE_IMAGE: {base:?}, AMD64_BASE: {amd64_base:?} }}\n",
            registry = env.registry,
            base = env.base_image,
        ),
    );

    let engine_pushes = containerd_image_store();
    let warned = mab().arg("build").arg(dir.plan()).run();
    warned.assert_success();
    // The image the engine pushed (the default there) is read back for the lint; the rerun
    // builds nothing and reads nothing back, and still warns.
    let rerun = mab().arg("build").arg(dir.plan()).run();
    rerun.assert_success();
    for (run, by_engine) in [
        (&warned, "pushed sha256:"),
        (&rerun, "pushed by the engine in an earlier run"),
    ] {
        assert_eq!(
            run.stderr
                .lines()
                .filter(|l| l.contains(by_engine) && l.contains("by the engine"))
                .count(),
            if engine_pushes { 2 } else { 0 },
            "{}",
            run.all()
        );
        let warnings: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| l.starts_with("warning:"))
            .collect();
        assert_eq!(
            warnings.len(),
            1,
            "one warning, for arm64 only:\n{}",
            run.all()
        );
        for needle in [
            "linux/arm64",
            "x86-64 (amd64)",
            "usr/local/bin/x86-busybox",
            "aarch64",
        ] {
            assert!(
                warnings[0].contains(needle),
                "{needle:?} in {:?}",
                warnings[0]
            );
        }
    }
    if engine_pushes {
        assert!(
            rerun.stderr.contains("not built again"),
            "the rerun takes the remembered build:\n{}",
            rerun.all()
        );
    }

    // --strict: the same image fails and the tag stays where it was.
    let before = registry_raw(&format!("{repository}:latest"));
    dir.write(
        "Dockerfile",
        &format!(
            "{}RUN echo changed > /changed\n",
            std::fs::read_to_string(dir.path().join("Dockerfile")).expect("Dockerfile")
        ),
    );
    let strict = mab().args(["build", "--strict"]).arg(dir.plan()).run();
    strict
        .assert_code(1)
        .assert_error_line()
        .assert_stderr_contains(&["--strict", "usr/local/bin/x86-busybox"]);
    assert_eq!(
        registry_raw(&format!("{repository}:latest")),
        before,
        "the tag did not move"
    );
}

/// A layer too large to read back for the lint (150 MB of zeros: a few hundred KiB gzipped, past
/// the 128 MiB mab decompresses of a layer) is left unread and said so when the engine pushed
/// it, and is not even downloaded (its gzip trailer says how large it is: the registry's log
/// shows the 8-byte range read and no other); the image is published whole all the same. Where mab pushes, it reads every layer on the
/// way and says nothing.
#[test]
fn a_layer_too_large_to_read_back_is_reported_and_the_image_published() {
    let env = TestEnv::get();
    let dir = PlanDir::new("lint-unread");
    dir.write(
        "Dockerfile",
        &dockerfile(&format!(
            "RUN head -c 150000000 /dev/zero > /zeros && echo {} > /which",
            dir.repo_path()
        )),
    );
    dir.write(
        "plan.yaml",
        &format!(
            "version: 1\nregistries:\n  {registry:?}: {{ insecure: true }}\nimages:\n\
             \x20 - repository: {repository}\n    platforms: [linux/amd64]\n\
             \x20   build_args: {{ BASE_IMAGE: {base:?} }}\n",
            registry = env.registry,
            repository = dir.repository(),
            base = env.base_image,
        ),
    );
    let mark = registry_log_mark();
    let out = mab().arg("build").arg(dir.plan()).run();
    out.assert_success();
    let unread: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("were not read back"))
        .collect();
    if containerd_image_store() {
        assert_eq!(unread.len(), 1, "{out}");
        assert!(
            unread[0].contains("platform lint: 1 layer(s)") && unread[0].contains("linux/amd64"),
            "the one large layer, named by its platform: {:?}",
            unread[0]
        );
        // The registry's side: of the large layer, mab read the gzip trailer (8 bytes, by
        // range) and nothing else.
        let trailer_only = |reads: &[(String, u16, u64)]| {
            reads
                .iter()
                .filter(|(digest, status, written)| {
                    (*status, *written) == (206, 8)
                        && !reads.iter().any(|(d, s, _)| d == digest && *s == 200)
                })
                .count()
        };
        let reads = registry_reads_since(mark, &dir.repo_path(), |r| trailer_only(r) > 0);
        assert_eq!(trailer_only(&reads), 1, "blob reads: {reads:?}\n{out}");
    } else {
        assert!(unread.is_empty(), "mab read every layer it pushed:\n{out}");
        let reads = registry_reads_since(mark, &dir.repo_path(), |_| true);
        assert!(
            reads.iter().all(|(_, status, _)| *status != 206),
            "nothing read back by range: {reads:?}"
        );
    }
    assert!(!out.stderr.contains("warning:"), "{out}");
    skopeo_copies_whole(&format!("{}:latest", dir.repository()));
}
