//! Registry faults, injected by a proxy in front of the real registry: passing ones are survived
//! with retries and the result is checked against the real registry directly; lasting ones fail
//! the run with an error naming the registry, and no tag moves; a slow link gets several layers
//! of an image at once, whole.

use mab_tests::fault_proxy::{Fault, ProxiedPlan, Rule};
use mab_tests::*;

#[test]
fn passing_registry_faults_are_retried() {
    let plan = ProxiedPlan::new(
        "faults-retried",
        vec![
            Rule::new("GET", "/v2/", Fault::Status(503), 1),
            Rule::new("HEAD", "/blobs/", Fault::Status(429), 2),
            Rule::new("PUT", "/manifests/", Fault::Status(503), 2),
            Rule::new("PUT", "/manifests/latest", Fault::Status(502), 1),
        ],
        "RUN uname -m > /arch",
        &[],
    );

    let out = mab()
        .args(["build", "--no-engine-push", "--json"])
        .arg(plan.dir.plan())
        .run();
    out.assert_success();
    assert_eq!(plan.proxy.injected(), 6, "every rule fired: {}", out.all());

    // The real registry, read directly (not through the proxy), has what mab reported.
    let digest = json_image(&out.json(), &plan.through_proxy)["digest"]
        .as_str()
        .expect("digest")
        .to_string();
    let raw = registry_raw(&format!("{}:latest", plan.dir.repository()));
    assert_eq!(sha256_digest(&raw), digest);
    mab()
        .args(["verify", "--insecure"])
        .arg(format!("{}:latest", plan.dir.repository()))
        .run()
        .assert_success();
}

#[test]
fn a_registry_that_keeps_failing_moves_no_tag() {
    let plan = ProxiedPlan::new(
        "faults-lasting",
        vec![Rule::new(
            "PUT",
            "/manifests/",
            Fault::Status(503),
            usize::MAX,
        )],
        "RUN uname -m > /arch",
        &[],
    );

    let out = mab()
        .args(["build", "--no-engine-push"])
        .arg(plan.dir.plan())
        .run();
    out.assert_code(1)
        .assert_error_line()
        .assert_stderr_contains(&[plan.proxy.address(), "503"]);
    assert!(
        !registry_has(&format!("{}:latest", plan.dir.repository())),
        "no tag may point at a half-pushed image"
    );
}

#[test]
fn a_slow_registry_gets_the_layers_of_an_image_at_once_and_no_temp_file_stays() {
    // Every upload body crawls at 8 MiB/s: each 24 MiB layer takes 3 s on the wire, while the
    // export could be read in a fraction of that.
    let plan = ProxiedPlan::new(
        "faults-slow",
        vec![Rule::new(
            "PATCH",
            "/blobs/uploads/",
            Fault::SlowBody(8 * 1024 * 1024),
            usize::MAX,
        )],
        "RUN head -c 25165824 /dev/urandom > /one\nRUN head -c 25165824 /dev/urandom > /two",
        &["linux/amd64"],
    );
    // mab's temporary files go here, to be counted afterwards.
    let tmp = plan.dir.path().join("tmp");
    std::fs::create_dir_all(&tmp).expect("tmp folder");

    let out = mab()
        .args(["build", "--no-engine-push", "--json"])
        .arg(plan.dir.plan())
        .env("TMPDIR", &tmp)
        .run();
    out.assert_success();
    assert!(
        plan.proxy.injected() >= 2,
        "both layers went through the slow link"
    );
    assert!(
        plan.proxy.most_patches_at_once() >= 2,
        "the second layer's upload started while the first was still on the wire (most at once: {})",
        plan.proxy.most_patches_at_once()
    );
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .expect("tmp folder")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(left.is_empty(), "temporary files left behind: {left:?}");

    // Read directly from the registry: what mab reported, and the layers are whole (skopeo
    // checks every blob's digest while copying it).
    let digest = json_image(&out.json(), &plan.through_proxy)["digest"]
        .as_str()
        .expect("digest")
        .to_string();
    let image = format!("{}:latest", plan.dir.repository());
    assert_eq!(sha256_digest(&registry_raw(&image)), digest);
    skopeo_copies_whole(&image);
}
