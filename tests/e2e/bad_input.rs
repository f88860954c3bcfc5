//! Bad input and unreachable services: the right exit code and an error that says what is
//! wrong. Exit codes: 2 for a bad plan or usage, 1 for a build or push that failed.

use mab_tests::*;

/// A plan folder with a Dockerfile that builds fine, and plan.yaml as given.
fn plan_dir(test: &str, plan: &str) -> PlanDir {
    let dir = PlanDir::new(test);
    dir.write("Dockerfile", &dockerfile("RUN true"));
    dir.write("plan.yaml", plan);
    dir
}

#[test]
fn missing_plan_file() {
    let dir = PlanDir::new("missing-plan");
    let path = dir.path().join("nowhere").join("plan.yaml");
    let out = mab().arg("build").arg(&path).run();
    out.assert_code(2)
        .assert_error_line()
        .assert_stderr_contains(&[&path.to_string_lossy()]);
}

#[test]
fn invalid_yaml_names_file_line_and_column() {
    // Line 6, column 17: the second ':' on the line (a mapping value where none may be).
    let dir = plan_dir(
        "invalid-yaml",
        "version: 1\n\
         images:\n  \
           - repository: 127.0.0.1:5000/e2e/invalid-yaml\n    \
             context: .\n    \
             platforms: [linux/amd64]\n    \
             tags: latest: oops\n",
    );
    let text = std::fs::read_to_string(dir.plan()).unwrap();
    assert_eq!(
        text.lines().nth(5),
        Some("    tags: latest: oops"),
        "test setup"
    );
    let out = mab().arg("build").arg(dir.plan()).run();
    out.assert_code(2)
        .assert_error_line()
        .assert_stderr_contains(&["plan.yaml:6:17"]);
}

#[test]
fn unknown_key_is_named() {
    let dir = PlanDir::new("unknown-key");
    dir.write("Dockerfile", &dockerfile("RUN true"));
    let plan =
        plan_yaml(&[Image::new(&dir.repository())]).replace("    platforms:", "    platfroms:");
    dir.write("plan.yaml", &plan);
    let out = mab().arg("build").arg(dir.plan()).run();
    out.assert_code(2)
        .assert_error_line()
        .assert_stderr_contains(&["platfroms"]);
}

#[test]
fn bad_platform_is_named_with_accepted_forms() {
    let dir = PlanDir::new("bad-platform");
    dir.write("Dockerfile", &dockerfile("RUN true"));
    dir.write_plan(&[Image::new(&dir.repository()).platforms(&["linux/amd64", "linux/amd65"])]);
    let out = mab().arg("build").arg(dir.plan()).run();
    out.assert_code(2)
        .assert_error_line()
        .assert_stderr_contains(&["linux/amd65", "accepted forms"]);
}

#[test]
fn missing_dockerfile_names_the_path_looked_for() {
    let dir = PlanDir::new("missing-dockerfile");
    std::fs::create_dir_all(dir.path().join("ctx")).unwrap();
    dir.write_plan(&[Image::new(&dir.repository()).context("ctx")]);
    let out = mab().arg("build").arg(dir.plan()).run();
    out.assert_code(2).assert_error_line();
    // The path looked for: <plan folder>/ctx/Dockerfile, however it is spelled.
    let looked_for = out.stderr.lines().any(|l| {
        l.contains(&*dir.path().to_string_lossy()) && l.contains("ctx") && l.contains("Dockerfile")
    });
    assert!(
        looked_for,
        "stderr does not name {}/ctx/Dockerfile\n{out}",
        dir.path().display()
    );
}

#[test]
fn daemon_unreachable_names_docker_host() {
    let dir = plan_dir("no-daemon", "");
    dir.write_plan(&[Image::new(&dir.repository())]);
    let out = mab()
        .arg("build")
        .arg(dir.plan())
        .env("DOCKER_HOST", NO_DAEMON)
        .run();
    out.assert_code(1)
        .assert_error_line()
        .assert_stderr_contains(&[NO_DAEMON, "DOCKER_HOST"]);
}

#[test]
fn registry_unreachable_names_the_registry() {
    let port = closed_port();
    let registry = format!("127.0.0.1:{port}");
    let dir = plan_dir("no-registry", "");
    let repo = format!("{registry}/e2e/{}", dir.name);
    dir.write_plan(&[Image::new(&repo).platforms(&["linux/amd64"])]);
    let out = mab().arg("build").arg(dir.plan()).run();
    out.assert_code(1)
        .assert_error_line()
        .assert_stderr_contains(&[&registry]);
}

#[test]
fn build_failing_on_one_platform_fails_the_run_and_publishes_nothing() {
    let dir = PlanDir::new("arm64-fails");
    let repo = dir.repository();
    dir.write(
        "Dockerfile",
        &dockerfile("RUN test \"$(uname -m)\" != aarch64\nCMD [\"true\"]"),
    );
    dir.write_plan(&[Image::new(&repo)]);
    let out = mab().arg("build").arg(dir.plan()).run();
    out.assert_code(1)
        .assert_error_line()
        .assert_stderr_contains(&["linux/arm64"]);
    assert!(says_a_step_failed(&out.stderr), "{out}");
    assert!(
        !registry_has(&format!("{repo}:latest")),
        "{repo}:latest exists although the arm64 build failed"
    );
}

#[test]
fn usage_errors_exit_2() {
    let out = mab().arg("frobnicate").run();
    out.assert_code(2).assert_error_line();
    let out = mab().arg("build").run();
    out.assert_code(2).assert_error_line();
}
