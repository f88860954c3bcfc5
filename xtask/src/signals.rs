//! Ctrl-C / SIGTERM / SIGHUP handling.
//!
//! Every child that xtask starts runs in its own process group (see [`crate::sh`]), so a Ctrl-C
//! typed in the terminal reaches only xtask. The handler records the interruption and forwards
//! SIGINT to the process groups of the children that are not shielded (cargo, mab, docker run
//! ...). The code that waits on them then sees them end, checks [`check`] and unwinds, and the
//! environment guard tears down what was started. Teardown commands are shielded, so they
//! finish. A third signal exits at once, leaving things as they are.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static SIGNALS: AtomicUsize = AtomicUsize::new(0);
/// Process group ids of the running children that get the forwarded SIGINT.
static CHILDREN: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Installs the handler for SIGINT, SIGTERM and SIGHUP.
pub fn install() -> anyhow::Result<()> {
    ctrlc::set_handler(|| {
        let n = SIGNALS.fetch_add(1, Ordering::SeqCst) + 1;
        INTERRUPTED.store(true, Ordering::SeqCst);
        match n {
            1 => eprintln!(
                "xtask: interrupted: stopping the running step, then tearing down \
                 (signal twice more to exit at once)"
            ),
            2 => eprintln!("xtask: still tearing down (one more signal exits at once)"),
            _ => {
                eprintln!("xtask: exiting at once; what was started may still be running");
                std::process::exit(130);
            }
        }
        let children = CHILDREN.lock().map(|c| c.clone()).unwrap_or_default();
        for pgid in children {
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe {
                libc::kill(-pgid, libc::SIGINT);
            }
        }
    })?;
    Ok(())
}

/// Whether a signal arrived.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Fails with "interrupted" once a signal arrived.
pub fn check() -> anyhow::Result<()> {
    if interrupted() {
        anyhow::bail!(Interrupted);
    }
    Ok(())
}

/// The error of a run stopped by a signal (exit code 130).
#[derive(Debug)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

/// Registers a running child (its pid is its process group id) for signal forwarding.
pub fn register(pgid: u32) {
    if let Ok(mut c) = CHILDREN.lock() {
        c.push(pgid as i32);
    }
    // A signal that arrived just before the child was registered must still reach it.
    if interrupted() {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe {
            libc::kill(-(pgid as i32), libc::SIGINT);
        }
    }
}

/// Forgets a child that ended.
pub fn unregister(pgid: u32) {
    if let Ok(mut c) = CHILDREN.lock() {
        c.retain(|&p| p != pgid as i32);
    }
}

/// Sends `signal` to one process (not its group).
pub fn kill(pid: u32, signal: i32) -> bool {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(pid as i32, signal) == 0 }
}

/// Whether we run as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid(2) cannot fail and has no preconditions.
    unsafe { libc::geteuid() == 0 }
}
