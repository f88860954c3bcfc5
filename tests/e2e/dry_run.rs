//! `--dry-run`: the plan is read and the jobs listed; no daemon or registry is needed.

use mab_tests::*;

#[test]
fn dry_run_lists_jobs_without_a_daemon() {
    let dir = PlanDir::new("dry-run");
    let repo = dir.repository();
    dir.write("Dockerfile", &dockerfile("RUN true"));
    dir.write_plan(&[Image::new(&repo).tags(&["latest", "1.0.0"])]);
    let out = mab()
        .args(["build", "--dry-run"])
        .arg(dir.plan())
        .env("DOCKER_HOST", NO_DAEMON)
        .run();
    out.assert_success();
    let all = out.all();
    for platform in ["linux/amd64", "linux/arm64"] {
        assert!(
            all.lines().any(|l| l.contains(platform)),
            "no line names the {platform} job\n{out}"
        );
    }
    for needle in [repo.as_str(), "latest", "1.0.0"] {
        assert!(
            all.contains(needle),
            "the output does not name {needle:?}\n{out}"
        );
    }
    assert!(
        !registry_has(&format!("{repo}:latest")),
        "--dry-run pushed {repo}"
    );
}

#[test]
fn example_plan_uses_its_defaults_and_the_environment() {
    let plan = examples_dir().join("echo-platform").join("plan.yaml");
    let out = mab()
        .args(["build", "--dry-run"])
        .arg(&plan)
        .env("DOCKER_HOST", NO_DAEMON)
        .run();
    out.assert_success();
    assert!(
        out.all().contains("127.0.0.1:5000/demo/echo-platform"),
        "the default registry of the example\n{out}"
    );

    let out = mab()
        .args(["build", "--dry-run"])
        .arg(&plan)
        .env("DOCKER_HOST", NO_DAEMON)
        .env("MAB_REGISTRY", "registry.example.test:5443")
        .run();
    out.assert_success();
    assert!(
        out.all()
            .contains("registry.example.test:5443/demo/echo-platform"),
        "MAB_REGISTRY in the example\n{out}"
    );
}
