//! The public API as the CLI uses it.

use std::path::Path;

use mab_plan::{ManifestFormat, PlanEnv, PlanError, Repository, parse_plan};

/// Every variable unset; every path exists.
struct EverythingExists;

impl PlanEnv for EverythingExists {
    fn var(&self, _name: &str) -> Option<String> {
        None
    }
    fn is_dir(&self, _path: &Path) -> bool {
        true
    }
    fn is_file(&self, _path: &Path) -> bool {
        true
    }
}

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
         repository, context, dockerfile, platforms, tags, build_args, format \
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
