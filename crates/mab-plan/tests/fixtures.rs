//! Data-driven tests: every plan under `tests/fixtures/valid` must parse (its resolved plan is
//! snapshotted), every plan under `tests/fixtures/invalid` must fail (its error text is
//! snapshotted). An invalid fixture starts with `# errors: N`, the number of problems it has.

use std::path::{Path, PathBuf};

use mab_plan::{GitValue, PlanEnv, parse_plan};

/// Fixed variables; every path exists except those containing "missing", and folders whose
/// name contains "empty" hold no files. Every Dockerfile has the stages `build` and `runtime`.
/// The git repository is at a commit with the tag `v2.0.1`.
struct FakeEnv;

impl PlanEnv for FakeEnv {
    fn var(&self, name: &str) -> Option<String> {
        let value = match name {
            "REGISTRY" => "127.0.0.1:5000",
            "VERSION" => "1.2.3",
            "EMPTY" => "",
            "GREETING" => "hello from the environment",
            "BAD_TAG" => "1.0+build",
            _ => return None,
        };
        Some(value.to_string())
    }

    fn is_dir(&self, path: &Path) -> bool {
        !path.to_string_lossy().contains("missing")
    }

    fn is_file(&self, path: &Path) -> bool {
        let in_empty_folder = path
            .parent()
            .is_some_and(|parent| parent.to_string_lossy().contains("empty"));
        !path.to_string_lossy().contains("missing") && !in_empty_folder
    }

    fn git(&self, value: GitValue) -> Result<String, String> {
        Ok(match value {
            GitValue::Sha => "0123456789abcdef0123456789abcdef01234567".to_string(),
            GitValue::Tag => "v2.0.1".to_string(),
        })
    }

    fn read_file(&self, _path: &Path) -> Option<String> {
        Some(
            "FROM busybox AS build\nRUN true\nFROM busybox AS runtime\nCOPY --from=build / /\n"
                .to_string(),
        )
    }
}

/// The fixtures of one folder, as (name, path relative to the crate, text), sorted by name.
fn fixtures(kind: &str) -> Vec<(String, PathBuf, String)> {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let relative = Path::new("tests/fixtures").join(kind);
    let mut found: Vec<_> = std::fs::read_dir(crate_dir.join(&relative))
        .unwrap_or_else(|e| panic!("reading {}: {e}", relative.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .map(|path| {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            let file = relative.join(path.file_name().unwrap());
            (name, file, text)
        })
        .collect();
    found.sort();
    assert!(!found.is_empty(), "no fixtures in {}", relative.display());
    found
}

/// The fixture's lines, shown as a list in the snapshot's header so that it reads like the file.
fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

#[test]
fn valid_plans_resolve() {
    for (name, file, text) in fixtures("valid") {
        let plan = parse_plan(&file, &text, &FakeEnv)
            .unwrap_or_else(|error| panic!("{} should be valid:\n{error}", file.display()));
        insta::with_settings!({ info => &lines(&text), omit_expression => true }, {
            insta::assert_yaml_snapshot!(format!("valid__{name}"), plan);
        });
    }
}

#[test]
fn invalid_plans_report_every_error() {
    let fixtures = fixtures("invalid");
    assert!(
        fixtures.len() >= 20,
        "only {} invalid fixtures",
        fixtures.len()
    );
    let mut wrong_counts = Vec::new();
    for (name, file, text) in fixtures {
        let expected: usize = text
            .lines()
            .next()
            .and_then(|line| line.strip_prefix("# errors: "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("{} must start with `# errors: N`", file.display()));
        let error = match parse_plan(&file, &text, &FakeEnv) {
            Ok(plan) => panic!("{} should be invalid, got {plan:#?}", file.display()),
            Err(error) => error,
        };
        let rendered = error.to_string();
        insta::with_settings!({ info => &lines(&text), omit_expression => true }, {
            insta::assert_snapshot!(format!("invalid__{name}"), rendered);
        });
        if error.diagnostics().len() != expected {
            wrong_counts.push(format!(
                "{}: expected {expected} errors, got:\n{rendered}",
                file.display()
            ));
        }
        for diagnostic in error.diagnostics() {
            let message = diagnostic.message();
            assert!(
                diagnostic.line() >= 1 && diagnostic.column() >= 1,
                "{message}"
            );
            assert!(!message.ends_with('.'), "trailing period: {message}");
            assert!(
                !message.starts_with(|c: char| c.is_uppercase()),
                "upper-case start: {message}"
            );
        }
    }
    assert!(wrong_counts.is_empty(), "{}", wrong_counts.join("\n\n"));
}
