//! Registry faults, injected by a proxy in front of the real registry: passing ones are survived
//! with retries and the result is checked against the real registry directly; lasting ones fail
//! the run with an error naming the registry, and no tag moves.

use mab_tests::fault_proxy::{Fault, FaultProxy, Rule};
use mab_tests::*;

#[test]
fn passing_registry_faults_are_retried() {
    let env = TestEnv::get();
    let proxy = FaultProxy::start(
        &env.registry,
        vec![
            Rule::new("GET", "/v2/", Fault::Status(503), 1),
            Rule::new("HEAD", "/blobs/", Fault::Status(429), 2),
            Rule::new("PUT", "/manifests/", Fault::Status(503), 2),
            Rule::new("PUT", "/manifests/latest", Fault::Status(502), 1),
        ],
    );
    let dir = PlanDir::new("faults-retried");
    dir.write("Dockerfile", &dockerfile("RUN uname -m > /arch"));
    let through_proxy = format!("{}/{}", proxy.address(), dir.repo_path());
    dir.write_plan(&[Image::new(&through_proxy)]);

    let out = mab().args(["build", "--json"]).arg(dir.plan()).run();
    out.assert_success();
    assert_eq!(proxy.injected(), 6, "every rule fired: {}", out.all());

    // The real registry, read directly (not through the proxy), has what mab reported.
    let digest = json_image(&out.json(), &through_proxy)["digest"]
        .as_str()
        .expect("digest")
        .to_string();
    let raw = registry_raw(&format!("{}:latest", dir.repository()));
    assert_eq!(sha256_digest(&raw), digest);
    mab()
        .args(["verify", "--insecure"])
        .arg(format!("{}:latest", dir.repository()))
        .run()
        .assert_success();
}

#[test]
fn a_registry_that_keeps_failing_moves_no_tag() {
    let env = TestEnv::get();
    let proxy = FaultProxy::start(
        &env.registry,
        vec![Rule::new(
            "PUT",
            "/manifests/",
            Fault::Status(503),
            usize::MAX,
        )],
    );
    let dir = PlanDir::new("faults-lasting");
    dir.write("Dockerfile", &dockerfile("RUN uname -m > /arch"));
    let through_proxy = format!("{}/{}", proxy.address(), dir.repo_path());
    dir.write_plan(&[Image::new(&through_proxy)]);

    let out = mab().arg("build").arg(dir.plan()).run();
    out.assert_code(1)
        .assert_error_line()
        .assert_stderr_contains(&[proxy.address(), "503"]);
    assert!(
        !registry_has(&format!("{}:latest", dir.repository())),
        "no tag may point at a half-pushed image"
    );
}
