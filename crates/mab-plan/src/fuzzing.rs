//! What the fuzz target and the robustness test check on any input: parsing never panics, and
//! its result keeps the crate's promises. Not part of the API.

use std::path::Path;

use crate::{GitValue, PlanEnv, parse_plan};

/// A few variables set; every path exists except those containing "missing"; every Dockerfile
/// has the stages `build` and `runtime`; git answers.
struct FuzzEnv;

impl PlanEnv for FuzzEnv {
    fn var(&self, name: &str) -> Option<String> {
        match name {
            "REGISTRY" => Some("127.0.0.1:5000".to_string()),
            "VERSION" => Some("1.2.3".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }
    fn is_dir(&self, path: &Path) -> bool {
        !path.to_string_lossy().contains("missing")
    }
    fn is_file(&self, path: &Path) -> bool {
        !path.to_string_lossy().contains("missing")
    }
    fn git(&self, value: GitValue) -> Result<String, String> {
        match value {
            GitValue::Sha => Ok("0123456789abcdef0123456789abcdef01234567".to_string()),
            GitValue::Tag => Err("no tag points at HEAD".to_string()),
        }
    }
    fn read_file(&self, _path: &Path) -> Option<String> {
        Some("FROM a AS build\nFROM b AS runtime\n".to_string())
    }
}

/// Parses `text` and panics if the result breaks a promise.
pub fn check(text: &str) {
    let lines = crate::diagnostic::yaml_lines(text).count().max(1);
    match parse_plan(Path::new("dir/plan.yaml"), text, &FuzzEnv) {
        Ok(plan) => {
            assert!(!plan.images().is_empty(), "a valid plan has images");
            let mut order = plan.order().to_vec();
            order.sort_unstable();
            assert_eq!(order, (0..plan.images().len()).collect::<Vec<_>>());
            for (position, (index, image)) in plan.images_in_order().enumerate() {
                assert!(!image.repositories().is_empty());
                assert!(!image.platforms().is_empty());
                assert!(!image.tags().is_empty());
                for tag in image.tags() {
                    assert!(!tag.is_empty() && tag.len() <= 128, "tag {tag:?}");
                }
                for dependency in image.depends_on() {
                    let before = plan.order()[..position].contains(dependency);
                    assert!(
                        before,
                        "image {index} runs before its dependency {dependency}"
                    );
                }
                for (platform, build) in image.builds() {
                    assert!(image.platforms().contains(platform));
                    assert!(!build.dockerfile().as_os_str().is_empty());
                    assert_eq!(build.backend(), image.backend());
                    let ids = |ids: Vec<&str>| ids.windows(2).all(|pair| pair[0] < pair[1]);
                    let secrets = build.secrets().iter().map(|s| s.id()).collect();
                    assert!(ids(secrets), "secret ids sorted and unique: {build:?}");
                    let ssh = build.ssh().iter().map(|s| s.id()).collect();
                    assert!(ids(ssh), "ssh ids sorted and unique: {build:?}");
                    if build.backend() == crate::BuilderKind::Classic {
                        assert!(build.secrets().is_empty() && build.ssh().is_empty());
                    }
                }
            }
            let mut names: Vec<&str> = plan.builders().iter().map(|b| b.name()).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(
                names.len(),
                plan.builders().len(),
                "builder names are unique"
            );
            for builder in plan.builders() {
                assert!(builder.endpoint().contains("://"), "{builder:?}");
                assert!(builder.max_jobs() != Some(0), "{builder:?}");
            }
            let _ = format!("{plan:?}");
        }
        Err(error) => {
            let rendered = error.to_string();
            assert!(!rendered.is_empty());
            let diagnostics = error.diagnostics();
            assert!(!diagnostics.is_empty(), "an error without diagnostics");
            for diagnostic in diagnostics {
                let message = diagnostic.message();
                assert!(!message.is_empty());
                assert!(
                    diagnostic.line() >= 1 && diagnostic.line() <= lines + 1,
                    "line {} of {lines}: {message}",
                    diagnostic.line()
                );
                assert!(diagnostic.column() >= 1, "{message}");
                let shown = rendered.contains(&format!(
                    ":{}:{}: {message}",
                    diagnostic.line(),
                    diagnostic.column()
                ));
                assert!(shown, "{message} is not in the report:\n{rendered}");
                assert!(!message.ends_with('.'), "trailing period: {message}");
            }
        }
    }
}
