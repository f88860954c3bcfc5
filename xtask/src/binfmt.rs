//! QEMU user emulation for linux/arm64: binfmt_misc mounted, qemu-aarch64 registered from
//! qemu-user-static's description. Only what we changed is undone at the end.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use crate::sh::Cmd;
use crate::signals;
use crate::tools;

const BINFMT_DIR: &str = "/proc/sys/fs/binfmt_misc";

pub struct Binfmt {
    entry: PathBuf,
    mounted: bool,
    registered: bool,
    enabled: bool,
}

impl Binfmt {
    pub fn up() -> Result<Self> {
        let dir = Path::new(BINFMT_DIR);
        let line = tools::binfmt_line()?;
        let name = line
            .split(':')
            .nth(1)
            .filter(|n| !n.is_empty())
            .with_context(|| format!("no name in {}: {line}", tools::QEMU_AARCH64_CONF))?
            .to_string();
        let mut this = Self {
            entry: dir.join(&name),
            mounted: false,
            registered: false,
            enabled: false,
        };
        if !dir.join("register").exists() {
            need_root("mount binfmt_misc")?;
            Cmd::new("mount")
                .args(["-t", "binfmt_misc", "binfmt_misc", BINFMT_DIR])
                .read()
                .context("mounting binfmt_misc")?;
            this.mounted = true;
            eprintln!("binfmt: mounted binfmt_misc on {BINFMT_DIR}");
        }
        if this.entry.exists() {
            let status = std::fs::read_to_string(&this.entry)?;
            if status.lines().next() == Some("disabled") {
                need_root("enable the qemu-aarch64 binfmt entry")?;
                write(&this.entry, "1")?;
                this.enabled = true;
                eprintln!("binfmt: enabled the existing {name} entry");
            } else {
                eprintln!("binfmt: {name} already registered ({})", describe(&status));
            }
        } else {
            need_root("register qemu-aarch64 with binfmt_misc")?;
            write(&dir.join("register"), &line)
                .with_context(|| format!("registering {name} from {}", tools::QEMU_AARCH64_CONF))?;
            this.registered = true;
            let status = std::fs::read_to_string(&this.entry).unwrap_or_default();
            eprintln!(
                "binfmt: registered {name} from {} ({})",
                tools::QEMU_AARCH64_CONF,
                describe(&status)
            );
        }
        Ok(this)
    }

    /// The interpreter and flags of the registered entry, for messages.
    pub fn describe_entry(&self) -> String {
        describe(&std::fs::read_to_string(&self.entry).unwrap_or_default())
    }

    /// Undoes what `up` changed.
    pub fn teardown(&mut self) {
        if std::mem::take(&mut self.registered) {
            match write(&self.entry, "-1") {
                Ok(()) => eprintln!("binfmt: unregistered {}", self.entry.display()),
                Err(e) => eprintln!("binfmt: cannot unregister {}: {e:#}", self.entry.display()),
            }
        }
        if std::mem::take(&mut self.enabled) {
            let _ = write(&self.entry, "0");
            eprintln!("binfmt: disabled {} again", self.entry.display());
        }
        if std::mem::take(&mut self.mounted) {
            let _ = Cmd::new("umount").arg(BINFMT_DIR).shielded().output();
            eprintln!("binfmt: unmounted {BINFMT_DIR}");
        }
    }
}

impl Drop for Binfmt {
    fn drop(&mut self) {
        self.teardown();
    }
}

fn need_root(what: &str) -> Result<()> {
    if !signals::is_root() {
        bail!("cannot {what}: that needs root (arm64 builds need QEMU emulation)");
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {text:?} to {}", path.display()))
}

/// "interpreter X, flags: F" from a binfmt_misc entry's text.
fn describe(status: &str) -> String {
    let field = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(str::trim)
            .unwrap_or("?")
            .to_string()
    };
    format!(
        "interpreter {}, flags {}",
        field("interpreter "),
        field("flags:")
    )
}
