//! Every plan under the workspace's `examples/` folder is valid, read with the real filesystem
//! and an environment with none of the variables set (so that the defaults in the plans hold).

use std::path::{Path, PathBuf};

use mab_plan::{GitValue, PlanEnv, parse_plan};

/// The real filesystem; no environment variables; no git repository.
struct Filesystem;

impl PlanEnv for Filesystem {
    fn var(&self, _name: &str) -> Option<String> {
        None
    }
    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }
    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }
    fn git(&self, _value: GitValue) -> Result<String, String> {
        Err("not in a git repository".to_string())
    }
    fn read_file(&self, path: &Path) -> Option<String> {
        std::fs::read_to_string(path).ok()
    }
}

fn plans(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            plans(&path, out);
        } else if path
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml")
        {
            out.push(path);
        }
    }
}

#[test]
fn every_example_plan_is_valid() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut found = Vec::new();
    plans(&examples, &mut found);
    found.sort();
    assert!(!found.is_empty(), "no plans under {}", examples.display());
    let failures: Vec<String> = found
        .iter()
        .filter_map(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            parse_plan(path, &text, &Filesystem)
                .err()
                .map(|e| e.to_string())
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
