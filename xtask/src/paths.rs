//! Where things are: the workspace, cargo's target directory, xtask's state directory.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::sh::Cmd;

pub struct Paths {
    /// The workspace root.
    pub root: PathBuf,
    /// cargo's target directory (honours CARGO_TARGET_DIR and build.target-dir).
    pub target: PathBuf,
    /// `target/mab-testenv`: logs, the arm64 busybox cache, base image contexts.
    pub state: PathBuf,
    /// The cargo that runs us.
    pub cargo: PathBuf,
}

impl Paths {
    pub fn discover() -> Result<Self> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("xtask has no parent directory")?
            .to_path_buf();
        let cargo = std::env::var_os("CARGO")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("cargo"));
        let meta = Cmd::new(&cargo)
            .args([
                "metadata",
                "--format-version",
                "1",
                "--no-deps",
                "--offline",
            ])
            .current_dir(&root)
            .read()
            .context("asking cargo where the target directory is")?;
        let meta: serde_json::Value = serde_json::from_str(&meta).context("cargo metadata")?;
        let target = meta["target_directory"]
            .as_str()
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        let state = target.join("mab-testenv");
        std::fs::create_dir_all(&state).with_context(|| format!("creating {}", state.display()))?;
        Ok(Self {
            root,
            target,
            state,
            cargo,
        })
    }

    /// The mab binary that `cargo build -p mab-cli` makes.
    pub fn mab_bin(&self) -> PathBuf {
        self.target.join("debug").join("mab")
    }

    /// A path relative to the workspace root when it is inside it, for shorter messages.
    pub fn rel<'a>(&self, p: &'a Path) -> std::borrow::Cow<'a, str> {
        match p.strip_prefix(&self.root) {
            Ok(r) => r.to_string_lossy(),
            Err(_) => p.to_string_lossy(),
        }
    }
}
