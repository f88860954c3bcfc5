//! What the integration tests of the plan share.

use std::path::Path;

use mab_plan::PlanEnv;

/// Every variable unset; every path exists.
pub struct EverythingExists;

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
