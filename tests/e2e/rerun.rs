//! Reruns and interrupted uploads: a rerun with nothing changed uploads nothing and writes the
//! same index, and builds nothing while the daemon still has the images (a change to the
//! context or the build args builds again); a layer upload whose connection drops half-way is pushed again from a fresh export
//! (no rebuild), and the result is whole.

use mab_tests::fault_proxy::{Fault, FaultProxy, Rule};
use mab_tests::*;

#[test]
fn a_rerun_with_nothing_changed_uploads_nothing() {
    let env = TestEnv::get();
    let home = tempfile::tempdir().expect("MAB_HOME");
    let proxy = FaultProxy::start(&env.registry, Vec::new());
    let dir = PlanDir::new("rerun");
    dir.write(
        "Dockerfile",
        &dockerfile("RUN uname -m > /arch && head -c 300000 /dev/urandom > /noise"),
    );
    let repo = format!("{}/{}", proxy.address(), dir.repo_path());
    dir.write_plan(&[Image::new(&repo)]);
    let build = || {
        mab()
            .args(["build", "--json"])
            .arg(dir.plan())
            .env("MAB_HOME", home.path())
            .run()
    };

    let first = build();
    first.assert_success();
    let uploads_first = proxy.requests("POST", "/blobs/uploads/");
    let chunks_first = proxy.requests("PATCH", "/blobs/uploads/");
    assert!(
        uploads_first >= 4,
        "the first run uploads layers and configs"
    );
    assert!(chunks_first >= 2, "the first run sends layer data");

    let second = build();
    second.assert_success();
    assert_eq!(
        proxy.requests("POST", "/blobs/uploads/"),
        uploads_first,
        "the rerun started no blob upload:\n{}",
        second.all()
    );
    assert_eq!(
        proxy.requests("PATCH", "/blobs/uploads/"),
        chunks_first,
        "the rerun sent no layer data"
    );
    assert_eq!(index_digest(&first, &repo), index_digest(&second, &repo));
    let reused = |out: &Output| -> Vec<bool> {
        json_image(&out.json(), &repo)["platforms"]
            .as_array()
            .expect("platforms")
            .iter()
            .map(|p| p["reused"].as_bool().expect("reused"))
            .collect()
    };
    assert_eq!(reused(&first), [false, false]);
    assert_eq!(reused(&second), [true, true]);
    assert_eq!(
        second.all().matches("unchanged, reused").count(),
        2,
        "{}",
        second.all()
    );
    // The cache holds small entries only, and no temporary file is left behind.
    let leftovers: Vec<_> = walk(home.path())
        .into_iter()
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with(".entry-") || name.starts_with(".tmp")
        })
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn a_rerun_of_unchanged_builds_builds_nothing_and_a_change_builds_again() {
    let env = TestEnv::get();
    let home = tempfile::tempdir().expect("MAB_HOME");
    let dir = PlanDir::new("memo");
    dir.write("message", "first\n");
    dir.write(
        "Dockerfile",
        &dockerfile("COPY message /message\nRUN uname -m > /arch\nCMD cat /message /arch"),
    );
    let repo = dir.repository();
    dir.write_plan(&[Image::new(&repo)]);
    let build = |extra: &[&str]| {
        mab()
            .args(["build", "--json"])
            .args(extra)
            .arg(dir.plan())
            .env("MAB_HOME", home.path())
            .run()
    };
    let not_built = |out: &Output| out.stderr.matches("not built again").count();
    let ran_steps = |out: &Output| {
        out.stderr
            .lines()
            .filter(|l| l.contains("RUN uname -m") && !l.contains("ERROR"))
            .count()
    };

    let first = build(&[]);
    first.assert_success();
    assert_eq!(not_built(&first), 0, "{}", first.all());
    assert!(
        ran_steps(&first) >= 2,
        "both platforms built: {}",
        first.all()
    );

    // Nothing changed: the daemon still has both images, neither is built again, and the
    // same index is published.
    let second = build(&[]);
    second.assert_success();
    assert_eq!(not_built(&second), 2, "{}", second.all());
    assert_eq!(ran_steps(&second), 0, "no build step ran: {}", second.all());
    assert_eq!(index_digest(&first, &repo), index_digest(&second, &repo));

    // A context file changed: both platforms build again, and run with the new file.
    dir.write("message", "second\n");
    let third = build(&[]);
    third.assert_success();
    assert_eq!(not_built(&third), 0, "{}", third.all());
    assert_ne!(index_digest(&first, &repo), index_digest(&third, &repo));
    let tag = format!("{repo}:latest");
    assert_eq!(
        docker_run_platform(&tag, "linux/arm64"),
        "second\naarch64\n"
    );
    assert_eq!(docker_run_platform(&tag, "linux/amd64"), "second\nx86_64\n");

    // A build arg changed, or --no-cache: built again.
    let fourth = build(&["--set", "*.build_args.EXTRA=1"]);
    fourth.assert_success();
    assert_eq!(not_built(&fourth), 0, "{}", fourth.all());
    let fifth = build(&["--no-cache"]);
    fifth.assert_success();
    assert_eq!(not_built(&fifth), 0, "{}", fifth.all());
    let _ = env;
}

#[test]
fn a_layer_upload_cut_half_way_is_pushed_again() {
    let env = TestEnv::get();
    let home = tempfile::tempdir().expect("MAB_HOME");
    let proxy = FaultProxy::start(
        &env.registry,
        vec![Rule::new(
            "PATCH",
            "/blobs/uploads/",
            Fault::ResetAfterBodyBytes(64 * 1024),
            1,
        )],
    );
    let dir = PlanDir::new("cut-upload");
    dir.write(
        "Dockerfile",
        &dockerfile("RUN head -c 2000000 /dev/urandom > /noise"),
    );
    let repo = format!("{}/{}", proxy.address(), dir.repo_path());
    dir.write_plan(&[Image::new(&repo).platforms(&["linux/amd64"])]);
    // mab's own pusher meets the cut (the engine could not reach the proxy, and its failed
    // push would build the image a second time).
    let out = mab()
        .args(["build", "--no-engine-push", "--json"])
        .arg(dir.plan())
        .env("MAB_HOME", home.path())
        .run();
    out.assert_success();
    assert_eq!(
        proxy.injected(),
        1,
        "the upload was cut once: {}",
        out.all()
    );
    assert_eq!(
        out.all()
            .lines()
            .filter(|line| line.contains("RUN head -c 2000000") && !line.contains("ERROR"))
            .count(),
        1,
        "built once, not rebuilt: {}",
        out.all()
    );
    let raw = registry_raw(&format!("{}:latest", dir.repository()));
    assert_eq!(sha256_digest(&raw), index_digest(&out, &repo));
    skopeo([
        "copy",
        "--all",
        "--src-tls-verify=false",
        &format!("docker://{}:latest", dir.repository()),
        &format!("oci:{}", home.path().join("copy").display()),
    ])
    .assert_success();
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                found.extend(walk(&path));
            } else {
                found.push(path);
            }
        }
    }
    found
}

#[test]
fn a_changed_image_uploads_only_its_new_layers_and_mounts_the_rest() {
    let env = TestEnv::get();
    let home = tempfile::tempdir().expect("MAB_HOME");
    let proxy = FaultProxy::start(&env.registry, Vec::new());
    let dir = PlanDir::new("partial-reuse");
    let repo = format!("{}/{}", proxy.address(), dir.repo_path());
    let build = || {
        mab()
            .args(["build", "--json"])
            .arg(dir.plan())
            .env("MAB_HOME", home.path())
            .run()
    };
    let uploads = || {
        // A POST starting an upload, not a cross-repository mount.
        proxy.requests("POST", "/blobs/uploads/") - proxy.requests("POST", "mount=")
    };

    dir.write(
        "Dockerfile",
        &dockerfile("RUN uname -m > /which && echo one >> /which\nCMD cat /which"),
    );
    dir.write_plan(&[Image::new(&repo)]);
    build().assert_success();
    assert_eq!(
        uploads(),
        6,
        "base layer, new layer and config, per platform"
    );

    // The top layer changed: only it and the config are uploaded; the base layer is skipped.
    dir.write(
        "Dockerfile",
        &dockerfile("RUN uname -m > /which && echo two >> /which\nCMD cat /which"),
    );
    let second = build();
    second.assert_success();
    assert_eq!(
        uploads(),
        6 + 4,
        "new layer and config per platform:\n{}",
        second.all()
    );

    // The same image to another repository of the same registry: layers are mounted from the
    // first one, only configs are uploaded.
    let other = format!("{repo}-copy");
    dir.write_plan(&[Image::new(&other)]);
    let third = build();
    third.assert_success();
    assert_eq!(uploads(), 6 + 4 + 2, "configs only:\n{}", third.all());
    assert!(
        proxy.requests("POST", "mount=") >= 4,
        "layers mounted: {} mounts, {} HEADs",
        proxy.requests("POST", "mount="),
        proxy.requests("HEAD", "/blobs/")
    );
    for (platform, machine) in [("linux/amd64", "x86_64"), ("linux/arm64", "aarch64")] {
        let which = docker_run_platform(
            &format!("{}/{}-copy:latest", env.registry, dir.repo_path()),
            platform,
        );
        assert!(
            which.contains("two") && which.contains(machine),
            "{platform}: {which}"
        );
    }
}
