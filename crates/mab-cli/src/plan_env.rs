//! The real environment and filesystem, as the plan parser sees them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use mab_plan::GitValue;

/// Environment variables and files of this process, and the git repository of the plan.
pub struct ProcessEnv {
    /// The plan's folder, where git is asked for `${GIT_SHA}` and `${GIT_TAG}`.
    plan_dir: PathBuf,
    sha: OnceLock<Result<String, String>>,
    tag: OnceLock<Result<String, String>>,
}

impl ProcessEnv {
    /// The environment of a plan file at `plan`.
    pub fn for_plan(plan: &Path) -> Self {
        let plan_dir = match plan.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Self {
            plan_dir,
            sha: OnceLock::new(),
            tag: OnceLock::new(),
        }
    }

    /// Runs `git ARGS` in the plan's folder; its first line of output, or why there is none.
    fn git_output(&self, args: &[&str], what: &str) -> Result<String, String> {
        let dir = self.plan_dir.display();
        let output = Command::new("git")
            .arg("-C")
            .arg(&self.plan_dir)
            .args(args)
            .output()
            .map_err(|e| format!("cannot run git for {what}: {e}"))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let stderr = stderr.trim();
            return Err(if stderr.contains("not a git repository") {
                format!("the plan's folder `{dir}` is not in a git repository")
            } else if args.contains(&"--exact-match") {
                format!("no tag points at HEAD of the git repository at `{dir}`")
            } else {
                format!("`git {}` failed in `{dir}`: {stderr}", args.join(" "))
            });
        }
        let text = String::from_utf8_lossy(&output.stdout);
        let line = text.lines().next().unwrap_or("").trim().to_string();
        if line.is_empty() {
            return Err(format!(
                "`git {}` printed nothing in `{dir}`",
                args.join(" ")
            ));
        }
        Ok(line)
    }
}

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

    fn git(&self, value: GitValue) -> Result<String, String> {
        match value {
            GitValue::Sha => self
                .sha
                .get_or_init(|| self.git_output(&["rev-parse", "HEAD"], "${GIT_SHA}"))
                .clone(),
            GitValue::Tag => self
                .tag
                .get_or_init(|| {
                    self.git_output(
                        &["describe", "--tags", "--exact-match", "HEAD"],
                        "${GIT_TAG}",
                    )
                })
                .clone(),
        }
    }

    fn read_file(&self, path: &Path) -> Option<String> {
        std::fs::read_to_string(path).ok()
    }

    fn docker_context(&self, name: &str) -> Result<mab_plan::DockerContext, String> {
        let env = mab_build::ContextEnv::from_process();
        match mab_build::context_endpoint(name, &env) {
            Ok(endpoint) => Ok(mab_plan::DockerContext {
                endpoint: endpoint.url().to_string(),
                tls: endpoint.tls().map(|tls| {
                    mab_plan::BuilderTls::new(tls.ca.clone(), tls.cert.clone(), tls.key.clone())
                }),
            }),
            Err(mab_build::BuildError::DockerContext { reason, .. }) => Err(reason),
            Err(e) => Err(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use mab_plan::{GitValue, PlanEnv};

    use super::*;

    #[test]
    fn git_values_come_from_the_plans_repository() {
        // This crate's own folder is in the workspace's git repository.
        let env = ProcessEnv::for_plan(&Path::new(env!("CARGO_MANIFEST_DIR")).join("plan.yaml"));
        let sha = env.git(GitValue::Sha).expect("a commit id");
        assert_eq!(sha.len(), 40, "{sha}");
        assert!(sha.chars().all(|c| c.is_ascii_hexdigit()), "{sha}");
        // Asked again, the answer is remembered.
        assert_eq!(env.git(GitValue::Sha), Ok(sha));
    }

    #[test]
    fn outside_a_git_repository_git_values_say_so() {
        let dir = std::env::temp_dir().join(format!("mab-plan-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let env = ProcessEnv::for_plan(&dir.join("plan.yaml"));
        let error = env.git(GitValue::Tag).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            error.ends_with("is not in a git repository") || error.starts_with("cannot run git"),
            "{error}"
        );
    }
}
