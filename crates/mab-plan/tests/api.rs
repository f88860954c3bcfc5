//! The public API as the CLI uses it.

use std::path::Path;

use mab_plan::{
    BuilderKind, GitValue, ManifestFormat, PlanEnv, PlanError, Platform, Repository, SecretSource,
    SshSource, parse_plan,
};

mod common;

use common::EverythingExists;

const PLAN: &str = r#"version: 1
registries:
  "127.0.0.1:5000": { insecure: true }
  ghcr.io: {}
images:
  - repository: 127.0.0.1:5000/demo/echo-platform
    platforms: [linux/amd64, linux/arm64]
    tags: [latest, 1.10]
    build_args: { GREETING: hello }
    format: docker
"#;

#[test]
fn a_plan_next_to_the_working_directory_resolves_to_relative_paths() {
    let plan = parse_plan(Path::new("plan.yaml"), PLAN, &EverythingExists).unwrap();
    assert_eq!(plan.file(), Path::new("plan.yaml"));
    let [image] = plan.images() else {
        panic!("one image expected")
    };
    assert_eq!(image.context_dir(), Path::new("."));
    assert_eq!(image.dockerfile(), Path::new("Dockerfile"));
    assert_eq!(image.repository().registry(), "127.0.0.1:5000");
    assert_eq!(image.repository().path(), "demo/echo-platform");
    assert_eq!(
        image.repository().to_string(),
        "127.0.0.1:5000/demo/echo-platform"
    );
    let platforms: Vec<String> = image.platforms().iter().map(|p| p.to_string()).collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64/v8"]);
    assert_eq!(image.tags(), ["latest", "1.10"]);
    assert_eq!(image.build_args()["GREETING"], "hello");
    assert_eq!(image.format(), ManifestFormat::Docker);
}

#[test]
fn registry_settings_are_looked_up_by_exact_host() {
    let plan = parse_plan(Path::new("plan.yaml"), PLAN, &EverythingExists).unwrap();
    assert!(plan.registry("127.0.0.1:5000").unwrap().insecure());
    assert!(!plan.registry("ghcr.io").unwrap().insecure());
    assert!(plan.registry("127.0.0.1").is_none());
    let hosts: Vec<&str> = plan.registries().map(|(host, _)| host).collect();
    assert_eq!(hosts, ["127.0.0.1:5000", "ghcr.io"]);
}

#[test]
fn one_error_renders_with_file_line_column_and_caret() {
    let text =
        "version: 1\nimages:\n  - repository: ghcr.io/team/app\n    platfroms: [linux/amd64]\n";
    let error = parse_plan(Path::new("examples/x/plan.yaml"), text, &EverythingExists).unwrap_err();
    assert_eq!(
        error.to_string(),
        "error: examples/x/plan.yaml:4:5: unknown key `platfroms` in an image; allowed keys: \
         repository, repositories, name, registries, context, dockerfile, target, platforms, \
         tags, build_args, labels, annotations, no_cache, pull, cache_from, cache_to, builder, \
         secrets, ssh, format, \
         compression, attestations, sign, depends_on, overrides \
         (did you mean `platforms`?)\n   4 |     platfroms: [linux/amd64]\n     |     ^"
    );
    let [diagnostic] = error.diagnostics() else {
        panic!("one diagnostic expected")
    };
    assert_eq!((diagnostic.line(), diagnostic.column()), (4, 5));
    assert!(diagnostic.message().starts_with("unknown key `platfroms`"));
    assert!(matches!(error, PlanError::Invalid { .. }));
}

#[test]
fn repositories_parse_on_their_own() {
    let repository: Repository = "alpine".parse().unwrap();
    assert_eq!(repository.to_string(), "docker.io/library/alpine");
    let error = "ghcr.io/me/app:1.0".parse::<Repository>().unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid repository \"ghcr.io/me/app:1.0\": it contains a tag (`:1.0`); put tags under `tags:`"
    );
}

const FULL: &str = r#"version: 1
defaults:
  platforms: [linux/amd64, linux/arm64]
  build_args: { A: from-defaults, B: b }
  labels: { team: core }
images:
  - repositories: [127.0.0.1:5000/demo/app, "127.0.0.1:5001/demo/app"]
    depends_on: [base]
    tags: [{ semver: "1.2.3" }]
    annotations: { index: { x: y }, manifest: { m: n } }
    no_cache: true
    overrides:
      linux/arm64: { dockerfile: Dockerfile.arm64, build_args: { A: arm }, target: slim }
  - name: base
    registries: ["127.0.0.1:5000/demo"]
    pull: true
"#;

#[test]
fn images_resolve_per_platform_and_in_dependency_order() {
    let plan = parse_plan(Path::new("plan.yaml"), FULL, &EverythingExists).unwrap();
    assert_eq!(plan.order(), [1, 0]);
    let order: Vec<String> = plan
        .images_in_order()
        .map(|(_, image)| image.repository().to_string())
        .collect();
    assert_eq!(
        order,
        ["127.0.0.1:5000/demo/base", "127.0.0.1:5000/demo/app"]
    );

    let app = &plan.images()[0];
    assert_eq!(app.depends_on(), [1]);
    let repositories: Vec<String> = app.repositories().iter().map(|r| r.to_string()).collect();
    assert_eq!(
        repositories,
        ["127.0.0.1:5000/demo/app", "127.0.0.1:5001/demo/app"]
    );
    assert_eq!(app.label(), "127.0.0.1:5000/demo/app (+1 more)");
    assert_eq!(app.tags(), ["1.2.3", "1.2", "1"]);
    assert_eq!(app.annotations().index()["x"], "y");
    assert_eq!(app.annotations().manifest()["m"], "n");

    let amd64: Platform = "linux/amd64".parse().unwrap();
    let arm64: Platform = "linux/arm64".parse().unwrap();
    let build = app.build_for(&amd64);
    assert_eq!(build.dockerfile(), Path::new("Dockerfile"));
    assert_eq!(build.build_args()["A"], "from-defaults");
    assert_eq!(build.target(), None);
    assert!(build.no_cache() && !build.pull());
    assert_eq!(build.labels()["team"], "core");
    let build = app.build_for(&arm64);
    assert_eq!(build.dockerfile(), Path::new("Dockerfile.arm64"));
    assert_eq!(build.build_args()["A"], "arm");
    assert_eq!(build.build_args()["B"], "b");
    assert_eq!(build.target(), Some("slim"));
    assert!(build.no_cache());
    assert_eq!(app.builds().count(), 2);

    let base = &plan.images()[1];
    assert_eq!(base.name(), Some("base"));
    assert!(base.build_for(&amd64).pull());
    assert!(base.annotations().is_empty());
}

/// No git repository: `${GIT_SHA}` and `${GIT_TAG}` cannot be computed.
struct NoGit;

impl PlanEnv for NoGit {
    fn var(&self, name: &str) -> Option<String> {
        (name == "GIT_SHA").then(|| "from-the-environment".to_string())
    }
    fn is_dir(&self, _path: &Path) -> bool {
        true
    }
    fn is_file(&self, _path: &Path) -> bool {
        true
    }
    fn git(&self, value: GitValue) -> Result<String, String> {
        assert_eq!(value, GitValue::Tag, "GIT_SHA is set, so git is not asked");
        Err("no tag points at HEAD (git describe --tags --exact-match)".to_string())
    }
}

#[test]
fn git_values_come_from_the_environment_first_and_explain_why_they_are_missing() {
    let text = "version: 1\nimages:\n  - repository: ghcr.io/team/app\n    platforms: [linux/amd64]\n    tags: [\"${GIT_SHA}\", \"${GIT_TAG:-dev}\", \"${GIT_TAG}\"]\n";
    let error = parse_plan(Path::new("plan.yaml"), text, &NoGit).unwrap_err();
    let [diagnostic] = error.diagnostics() else {
        panic!("one diagnostic expected: {error}")
    };
    assert_eq!((diagnostic.line(), diagnostic.column()), (5, 46));
    assert_eq!(
        diagnostic.message(),
        "`${GIT_TAG}` is not available: no tag points at HEAD (git describe --tags \
         --exact-match) (set GIT_TAG in the environment, or give a default with \
         `${GIT_TAG:-default}`)"
    );
    let text = text.replace(", \"${GIT_TAG}\"", "");
    let plan = parse_plan(Path::new("plan.yaml"), &text, &NoGit).unwrap();
    assert_eq!(plan.images()[0].tags(), ["from-the-environment", "dev"]);
}

#[test]
fn the_schema_is_json() {
    let schema: serde_json::Value = serde_json::from_str(&mab_plan::json_schema()).unwrap();
    assert_eq!(schema["title"], "mab plan");
}

/// Every variable set to a secret-looking value; regular files exist only under `keys/` and
/// `secrets/`, and `agent.sock` is a socket (neither a file nor a folder, but it exists).
struct SecretsAround;

const SECRET_VALUE: &str = "s3cr3t-value-never-in-a-plan";

impl PlanEnv for SecretsAround {
    fn var(&self, _name: &str) -> Option<String> {
        Some(SECRET_VALUE.to_string())
    }
    fn is_dir(&self, path: &Path) -> bool {
        path.extension().is_none() && !path.starts_with("keys") && !path.starts_with("secrets")
    }
    fn is_file(&self, path: &Path) -> bool {
        path.starts_with("keys") || path.starts_with("secrets") || path.ends_with("Dockerfile")
    }
    fn exists(&self, path: &Path) -> bool {
        self.is_file(path) || self.is_dir(path) || path.ends_with("agent.sock")
    }
}

const MOUNTS: &str = r#"version: 1
defaults:
  secrets: [{ id: npm, env: NPM_TOKEN }]
  ssh: [default]
images:
  - repository: 127.0.0.1:5000/demo/app
    platforms: [linux/amd64, linux/arm64]
    secrets: [{ id: netrc, file: secrets/netrc }]
    ssh: [{ id: deploy, paths: [keys/deploy, run/agent.sock] }]
    overrides:
      linux/arm64:
        secrets: [{ id: npm, file: secrets/arm-npmrc }]
"#;

#[test]
fn secrets_and_ssh_are_merged_per_platform_and_hold_no_values() {
    let plan = parse_plan(Path::new("plan.yaml"), MOUNTS, &SecretsAround).unwrap();
    let app = &plan.images()[0];
    assert_eq!(app.backend(), BuilderKind::BuildKit);
    let amd64: Platform = "linux/amd64".parse().unwrap();
    let arm64: Platform = "linux/arm64".parse().unwrap();

    let build = app.build_for(&amd64);
    assert_eq!(build.backend(), BuilderKind::BuildKit);
    let secrets: Vec<(&str, &SecretSource)> = build
        .secrets()
        .iter()
        .map(|s| (s.id(), s.source()))
        .collect();
    assert_eq!(
        secrets,
        [
            ("netrc", &SecretSource::File("secrets/netrc".into())),
            ("npm", &SecretSource::Env("NPM_TOKEN".to_string())),
        ]
    );
    let ssh: Vec<(&str, &SshSource)> = build.ssh().iter().map(|s| (s.id(), s.source())).collect();
    assert_eq!(
        ssh,
        [
            ("default", &SshSource::Agent),
            (
                "deploy",
                &SshSource::Paths(vec!["keys/deploy".into(), "run/agent.sock".into()])
            ),
        ]
    );
    let build = app.build_for(&arm64);
    assert_eq!(
        build.secrets()[1].source(),
        &SecretSource::File("secrets/arm-npmrc".into())
    );
    assert_eq!(build.ssh().len(), 2);

    let shown = format!("{plan:?}");
    assert!(
        shown.contains("NPM_TOKEN") && !shown.contains(SECRET_VALUE),
        "{shown}"
    );
}

#[test]
fn the_classic_builder_refuses_secrets_and_env_is_a_name_never_expanded() {
    let classic = MOUNTS.replace(
        "    platforms: [linux/amd64, linux/arm64]\n",
        "    platforms: [linux/amd64, linux/arm64]\n    builder: classic\n",
    );
    let error = parse_plan(Path::new("plan.yaml"), &classic, &SecretsAround).unwrap_err();
    let messages: Vec<&str> = error.diagnostics().iter().map(|d| d.message()).collect();
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert!(messages[0].starts_with("`secrets` needs `builder: buildkit`"));
    assert!(messages[1].starts_with("`ssh` needs `builder: buildkit`"));
    assert!(messages[2].starts_with("`secrets` needs `builder: buildkit`"));

    let referenced = MOUNTS.replace("env: NPM_TOKEN", "env: \"${NPM_TOKEN}\"");
    let error = parse_plan(Path::new("plan.yaml"), &referenced, &SecretsAround).unwrap_err();
    let rendered = error.to_string();
    assert!(rendered.contains("write `env: NPM_TOKEN`"), "{rendered}");
    assert!(!rendered.contains(SECRET_VALUE), "{rendered}");
}

#[test]
fn an_ssh_path_is_checked_with_exists_so_that_agent_sockets_pass() {
    let plan = MOUNTS.replace("run/agent.sock", "run/gone.sock");
    let error = parse_plan(Path::new("plan.yaml"), &plan, &SecretsAround).unwrap_err();
    let messages: Vec<&str> = error.diagnostics().iter().map(|d| d.message()).collect();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(
        messages[0].starts_with("ssh path `run/gone.sock` not found"),
        "{messages:?}"
    );
}
