//! `--set TARGET.KEY=VALUE` laid over a plan: values land where the file would have them and
//! are validated like the file's; problems are reported as the `--set`'s, without a line.

use std::path::Path;

use mab_plan::{BuilderKind, PlanEnv, PlanError, PlanOverride, parse_plan_with};

/// `REGISTRY` is set; every path exists.
struct Env;

impl PlanEnv for Env {
    fn var(&self, name: &str) -> Option<String> {
        (name == "REGISTRY").then(|| "127.0.0.1:5000".to_string())
    }
    fn is_dir(&self, _path: &Path) -> bool {
        true
    }
    fn is_file(&self, _path: &Path) -> bool {
        true
    }
}

const PLAN: &str = r#"version: 1
defaults:
  registries: ["${REGISTRY}/team"]
  platforms: [linux/amd64, linux/arm64]
images:
  - name: one
    build_args: { MSG: from-the-plan, KEEP: kept }
  - name: two
    depends_on: [one]
    tags: [latest]
  - repository: 127.0.0.1:5000/other/app.web
    platforms: [linux/amd64]
"#;

fn parse(sets: &[&str]) -> Result<mab_plan::Plan, PlanError> {
    let overrides: Vec<PlanOverride> = sets.iter().map(|s| s.parse().unwrap()).collect();
    parse_plan_with(Path::new("plan.yaml"), PLAN, &Env, &overrides)
}

fn error(sets: &[&str]) -> String {
    match parse(sets) {
        Ok(_) => panic!("{sets:?} should be refused"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn a_set_value_lands_where_the_file_would_have_it() {
    let plan = parse(&[
        "one.build_args.MSG=from the command line",
        "two.tags=dev,sha-1",
        "two.platforms=linux/arm64",
        "two.no_cache=true",
        "*.labels.org.opencontainers.image.source=https://example.com/x",
        "127.0.0.1:5000/other/app.web.overrides.linux/amd64.build_args.ARCH=amd",
        "127.0.0.1:5000/team/one.cache_from=127.0.0.1:5000/team/one:cache",
    ])
    .unwrap();
    let [one, two, web] = plan.images() else {
        panic!("three images")
    };
    assert_eq!(one.build_args()["MSG"], "from the command line");
    assert_eq!(one.build_args()["KEEP"], "kept");
    assert_eq!(two.tags(), ["dev", "sha-1"]);
    assert_eq!(two.platforms().len(), 1);
    assert!(two.build_for(&two.platforms()[0]).no_cache());
    assert!(!one.build_for(&one.platforms()[0]).no_cache());
    for image in [one, two, web] {
        assert_eq!(
            image.build_for(&image.platforms()[0]).labels()["org.opencontainers.image.source"],
            "https://example.com/x"
        );
    }
    let amd64 = &web.platforms()[0];
    assert_eq!(web.build_for(amd64).build_args()["ARCH"], "amd");
    assert_eq!(
        one.build_for(&one.platforms()[0]).cache_from(),
        ["127.0.0.1:5000/team/one:cache"]
    );
}

#[test]
fn every_image_takes_a_star() {
    let plan = parse(&["*.builder=classic"]).unwrap();
    assert!(
        plan.images()
            .iter()
            .all(|image| image.backend() == BuilderKind::Classic)
    );
}

#[test]
fn a_yaml_value_is_read_as_yaml() {
    let plan = parse(&["one.secrets=[{id: npm, env: NPM_TOKEN}]"]).unwrap();
    let one = &plan.images()[0];
    let secrets = one.build_for(&one.platforms()[0]).secrets();
    assert_eq!(secrets.len(), 1);
    assert_eq!(secrets[0].id(), "npm");
}

#[test]
fn an_unknown_key_is_named_with_the_key_meant() {
    assert_eq!(
        error(&["two.build_arg.MSG=x"]),
        "error: --set two.build_arg.MSG: unknown key `build_arg`; did you mean `build_args`?"
    );
}

#[test]
fn an_unknown_image_is_named_with_the_image_meant() {
    assert_eq!(
        error(&["tow.tags=x"]),
        "error: --set tow.tags: no image `tow` in the plan; did you mean `two`?"
    );
}

#[test]
fn set_values_are_validated_like_the_files() {
    let error = parse(&[
        "one.platforms=linux/amd65",
        "two.no_cache=yes",
        "two.tags=bad tag",
        "*.secrets=[{id: npm}]",
        "two.builder=kit",
        "one.no_cache.x=true",
        "one.build_args=x",
        "one.build_args.1A=x",
        "two.depends_on=three",
    ])
    .unwrap_err();
    for diagnostic in error.diagnostics() {
        assert!(diagnostic.set().is_some(), "{diagnostic}");
        assert_eq!((diagnostic.line(), diagnostic.column()), (0, 0));
    }
    insta::assert_snapshot!(error.to_string());
}

#[test]
fn set_problems_and_file_problems_are_reported_together() {
    let text = PLAN.replace("tags: [latest]", "tags: [latest]\n    platfroms: []");
    let overrides = vec!["tow.tags=x".parse().unwrap()];
    let error = parse_plan_with(Path::new("plan.yaml"), &text, &Env, &overrides).unwrap_err();
    assert_eq!(error.diagnostics().len(), 2, "{error}");
    let text = error.to_string();
    assert!(
        text.starts_with("plan plan.yaml has 2 errors\nerror: --set tow.tags: no image `tow`"),
        "{text}"
    );
    assert!(
        text.contains("error: plan.yaml:11:5: unknown key `platfroms`"),
        "{text}"
    );
}
