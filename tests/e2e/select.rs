//! Building a part of a plan: `mab build PLAN [IMAGE...] [--platform P]...` builds and pushes
//! only what was asked for, and the images it depends on unless they are published (and says
//! so); `--set TARGET.KEY=VALUE` changes the plan for one run, checked like the plan. A bad
//! image, platform or `--set` is exit code 2 and nothing is built.

use mab_tests::*;

/// A plan of two images given by `name` under `REG/e2e`: `<prefix>-app` (`FROM` the base,
/// prints `$MSG`) depends on `<prefix>-base`; both for amd64 and arm64, tagged `dev`.
pub(crate) struct TwoImages {
    pub dir: PlanDir,
    pub app: String,
    pub base: String,
}

impl TwoImages {
    pub(crate) fn new(test: &str) -> Self {
        let env = TestEnv::get();
        let dir = PlanDir::new(test);
        let app = format!("{}-app", dir.name);
        let base = format!("{}-base", dir.name);
        dir.write(
            "base/Dockerfile",
            &dockerfile("RUN echo \"base for $(uname -m)\" > /base.txt"),
        );
        dir.write(
            "app/Dockerfile",
            "ARG BASE\nFROM ${BASE}\nARG MSG=unset\nRUN echo \"$MSG\" > /msg.txt\n\
             CMD cat /base.txt /msg.txt\n",
        );
        dir.write(
            "plan.yaml",
            &format!(
                "version: 1\n\
                 registries:\n  \"{registry}\": {{ insecure: true }}\n\
                 defaults:\n  registries: [\"{registry}/e2e\"]\n  \
                   platforms: [linux/amd64, linux/arm64]\n  tags: [dev]\n\
                 images:\n  \
                   - name: {app}\n    context: app\n    depends_on: [{base}]\n    \
                     build_args: {{ BASE: \"{registry}/e2e/{base}:dev\", MSG: from-the-plan }}\n  \
                   - name: {base}\n    context: base\n    \
                     build_args: {{ BASE_IMAGE: \"{base_image}\" }}\n",
                registry = env.registry,
                base_image = env.base_image,
            ),
        );
        Self { dir, app, base }
    }

    /// `REG/e2e/<name>`.
    pub(crate) fn repository(&self, name: &str) -> String {
        format!("{}/e2e/{name}", TestEnv::get().registry)
    }

    pub(crate) fn plan(&self) -> std::path::PathBuf {
        self.dir.plan()
    }
}

/// The platforms of the index `reference` names, sorted.
fn index_platforms(reference: &str) -> Vec<String> {
    let index: serde_json::Value = serde_json::from_slice(&registry_raw(reference)).unwrap();
    let mut platforms: Vec<String> = index_entries(&index).into_iter().map(|e| e.0).collect();
    platforms.sort();
    platforms
}

#[test]
fn only_the_image_and_platform_asked_for_are_built_and_pushed() {
    let plan = TwoImages::new("select-one");
    // The base alone, for arm64 alone.
    let out = mab()
        .args(["build", "--json"])
        .arg(plan.plan())
        .arg(&plan.base)
        .args(["--platform", "linux/arm64"])
        .run();
    out.assert_success()
        .assert_stderr_contains(&["is built for linux/arm64/v8 only (--platform)"]);
    let base = plan.repository(&plan.base);
    assert_eq!(index_platforms(&format!("{base}:dev")), ["linux/arm64/v8"]);
    assert!(
        !registry_has(&format!("{}:dev", plan.repository(&plan.app))),
        "the image not asked for was pushed"
    );
    let doc = out.json();
    assert_eq!(doc["images"].as_array().unwrap().len(), 1, "{doc:#}");
}

#[test]
fn a_dependency_is_built_too_unless_it_is_published() {
    let plan = TwoImages::new("select-deps");
    let (app, base) = (plan.repository(&plan.app), plan.repository(&plan.base));
    let first = mab()
        .args(["build", "--json", "--platform", "linux/amd64"])
        .arg(plan.plan())
        .arg(&plan.app)
        .run();
    first.assert_success().assert_stderr_contains(&[&format!(
        "note: {base} (needed by {app}) is built too: {base}:dev is not in its registry"
    )]);
    let doc = first.json();
    json_image(&doc, &app);
    let base_digest = json_image(&doc, &base)["digest"].clone();

    // Published now: the next run of the app uses it as it is.
    let second = mab()
        .args(["build", "--json", "--platform", "linux/amd64", "--set"])
        .arg(format!("{}.build_args.MSG=second", plan.app))
        .arg(plan.plan())
        .arg(&plan.app)
        .run();
    second.assert_success().assert_stderr_contains(&[&format!(
        "note: {base} (needed by {app}) is already published (every tag in every repository): \
         not built"
    )]);
    let doc = second.json();
    assert_eq!(doc["images"].as_array().unwrap().len(), 1, "{doc:#}");
    json_image(&doc, &app);
    // The base did not move.
    assert_eq!(
        serde_json::Value::String(sha256_digest(&registry_raw(&format!("{base}:dev")))),
        base_digest
    );
    let printed = docker_run_platform(&format!("{app}:dev"), "linux/amd64");
    assert_eq!(printed, "base for x86_64\nsecond\n");
}

#[test]
fn a_set_value_is_built_into_the_image() {
    let plan = TwoImages::new("select-set");
    let app = plan.repository(&plan.app);
    let out = mab()
        .args(["build", "--set"])
        .arg(format!("{}.build_args.MSG=from the command line", plan.app))
        .args(["--set", "*.platforms=linux/arm64"])
        .arg(plan.plan())
        .run();
    out.assert_success();
    assert_eq!(index_platforms(&format!("{app}:dev")), ["linux/arm64/v8"]);
    let printed = docker_run_platform(&format!("{app}:dev"), "linux/arm64");
    assert_eq!(printed, "base for aarch64\nfrom the command line\n");
}

#[test]
fn bad_selections_and_sets_are_usage_errors_and_build_nothing() {
    let plan = TwoImages::new("select-bad");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![format!("{}-ap", plan.dir.name)], "did you mean"),
        (
            vec![plan.app.clone(), "--platform".into(), "linux/s390x".into()],
            "has no platform linux/s390x (its platforms: linux/amd64, linux/arm64/v8)",
        ),
        (
            vec!["--set".into(), format!("{}.build_arg.MSG=x", plan.app)],
            "build_arg.MSG: unknown key `build_arg`; did you mean `build_args`?",
        ),
        (
            vec!["--set".into(), "*.no_cache=yes".into()],
            "error: --set *.no_cache: `no_cache` must be `true` or `false`; found the string \"yes\"",
        ),
        (
            vec!["--set".into(), "*.platforms".into()],
            "`*.platforms` has no `=`",
        ),
        (vec!["--platform".into(), "linux/amd65".into()], "amd65"),
    ];
    for (args, expected) in cases {
        let out = mab()
            .arg("build")
            .arg(plan.plan())
            .args(&args)
            .env("DOCKER_HOST", NO_DAEMON)
            .run();
        out.assert_code(2).assert_stderr_contains(&[expected]);
    }
    for name in [&plan.app, &plan.base] {
        assert!(!registry_has(&format!("{}:dev", plan.repository(name))));
    }
}

#[test]
fn a_dry_run_of_a_part_lists_its_jobs_and_dependencies_without_a_daemon() {
    let plan = TwoImages::new("select-dry");
    let out = mab()
        .args(["build", "--dry-run", "--json", "--platform", "linux/arm64"])
        .arg(plan.plan())
        .arg(&plan.app)
        .env("DOCKER_HOST", NO_DAEMON)
        .run();
    out.assert_success().assert_stderr_contains(&[&format!(
        "note: {} (needed by {}) is built too, unless it is already published",
        plan.repository(&plan.base),
        plan.repository(&plan.app)
    )]);
    let jobs: Vec<(String, String)> = out.json()["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|job| {
            (
                job["repository"].as_str().unwrap().to_string(),
                job["platform"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        jobs,
        [
            (plan.repository(&plan.base), "linux/arm64/v8".to_string()),
            (plan.repository(&plan.app), "linux/arm64/v8".to_string()),
        ]
    );
}
