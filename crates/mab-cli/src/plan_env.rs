//! The real environment and filesystem, as the plan parser sees them.

use std::path::Path;

/// Environment variables and files of this process.
pub struct ProcessEnv;

impl mab_plan::PlanEnv for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }

    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }
}
