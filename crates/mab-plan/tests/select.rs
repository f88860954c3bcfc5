//! `mab build PLAN [IMAGE...] [--platform P]...`: finding the images asked for, checking the
//! platforms, and the plan of a run that builds only a part.

use std::path::Path;

use mab_plan::{Plan, Platform, Selection, parse_plan};

mod common;

use common::EverythingExists;

const PLAN: &str = r#"version: 1
defaults:
  registries: ["127.0.0.1:5000/team"]
images:
  - name: app
    platforms: [linux/amd64, linux/arm64]
    depends_on: [base]
    overrides:
      linux/arm64: { build_args: { ARM: "yes" } }
  - name: base
    platforms: [linux/amd64, linux/arm64, linux/s390x]
    depends_on: [127.0.0.1:5000/team/root]
  - repository: 127.0.0.1:5000/team/root
    platforms: [linux/amd64, linux/arm64]
  - repository: docker.io/me/tool
    platforms: [linux/amd64]
"#;

fn plan() -> Plan {
    parse_plan(Path::new("plan.yaml"), PLAN, &EverythingExists).unwrap()
}

fn selection(images: &[&str], platforms: &[&str]) -> Selection {
    Selection {
        images: images.iter().map(|s| s.to_string()).collect(),
        platforms: platforms.iter().map(|p| p.parse().unwrap()).collect(),
    }
}

fn platforms(plan: &Plan, index: usize) -> Vec<String> {
    plan.images()[index]
        .platforms()
        .iter()
        .map(Platform::to_string)
        .collect()
}

#[test]
fn images_are_found_by_name_or_repository() {
    let plan = plan();
    assert_eq!(plan.find_image("app"), Some(0));
    assert_eq!(plan.find_image("127.0.0.1:5000/team/base"), Some(1));
    assert_eq!(plan.find_image("127.0.0.1:5000/team/root"), Some(2));
    assert_eq!(plan.find_image("me/tool"), Some(3));
    assert_eq!(plan.find_image("docker.io/me/tool"), Some(3));
    assert_eq!(plan.find_image("root"), None);
}

#[test]
fn nothing_named_selects_everything() {
    let plan = plan();
    let selected = plan.select(&Selection::default()).unwrap();
    assert_eq!(selected.targets(), [0, 1, 2, 3]);
    assert!(selected.is_everything(&plan));
}

#[test]
fn images_named_twice_are_selected_once_in_plan_order() {
    let plan = plan();
    let selected = plan
        .select(&selection(&["base", "app", "base"], &[]))
        .unwrap();
    assert_eq!(selected.targets(), [0, 1]);
    assert!(!selected.is_everything(&plan));
}

#[test]
fn an_unknown_image_is_an_error_with_the_image_meant() {
    let error = plan()
        .select(&selection(&["ap", "nothing-like-it"], &[]))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "2 problems with what was asked of plan plan.yaml\n\
         error: no image `ap` in the plan; did you mean `app`? (images: `app`, `base`, \
         `127.0.0.1:5000/team/root`, `docker.io/me/tool`)\n\
         error: no image `nothing-like-it` in the plan; name an image by its `name` or \
         repository (images: `app`, `base`, `127.0.0.1:5000/team/root`, `docker.io/me/tool`)"
    );
}

#[test]
fn a_platform_an_image_does_not_declare_is_an_error() {
    let plan = plan();
    let error = plan
        .select(&selection(&["app"], &["linux/s390x"]))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "error: image `app` has no platform linux/s390x (its platforms: linux/amd64, \
         linux/arm64/v8)"
    );
    // With no image named, every image must have it.
    let error = plan.select(&selection(&[], &["linux/arm64"])).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("image `docker.io/me/tool` has no platform linux/arm64/v8")
    );
    // `linux/arm64` is `linux/arm64/v8`.
    let selected = plan
        .select(&selection(&["app"], &["linux/arm64/v8"]))
        .unwrap();
    assert_eq!(selected.platforms().len(), 1);
}

#[test]
fn a_subset_keeps_the_images_and_platforms_asked_for() {
    let plan = plan();
    let arm64: Vec<Platform> = vec!["linux/arm64".parse().unwrap()];
    let subset = plan.subset(&[1, 0], &arm64).unwrap();
    assert_eq!(subset.images().len(), 2);
    assert_eq!(subset.images()[0].name(), Some("app"));
    assert_eq!(platforms(&subset, 0), ["linux/arm64/v8"]);
    assert_eq!(platforms(&subset, 1), ["linux/arm64/v8"]);
    // app still depends on base; base's dependency (root) is left out.
    assert_eq!(subset.images()[0].depends_on(), [1]);
    assert!(subset.images()[1].depends_on().is_empty());
    assert_eq!(subset.order(), [1, 0]);
    // The override of the platform kept is kept.
    let app = &subset.images()[0];
    assert_eq!(
        app.build_for(&app.platforms()[0]).build_args()["ARM"],
        "yes"
    );

    let all = plan.subset(&[0], &[]).unwrap();
    assert_eq!(platforms(&all, 0), ["linux/amd64", "linux/arm64/v8"]);
    assert!(all.images()[0].depends_on().is_empty());
}

#[test]
fn a_needed_image_without_the_platforms_asked_for_is_an_error() {
    let s390x: Vec<Platform> = vec!["linux/s390x".parse().unwrap()];
    let error = plan().subset(&[1, 2], &s390x).unwrap_err();
    assert_eq!(
        error.to_string(),
        "error: image `127.0.0.1:5000/team/root` is needed but has none of the platforms asked \
         for (linux/s390x); its platforms: linux/amd64, linux/arm64/v8"
    );
}
