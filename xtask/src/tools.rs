//! The host tools the environment needs, installed with apt-get when missing (as root on
//! Debian), and the static busybox binaries the base images are made of.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use crate::paths::Paths;
use crate::sh::{self, Cmd};
use crate::signals;

/// The qemu-user-static binfmt description for aarch64.
pub const QEMU_AARCH64_CONF: &str = "/usr/lib/binfmt.d/qemu-aarch64.conf";
/// busybox-static's binary on the host (amd64).
pub const HOST_BUSYBOX: &str = "/usr/bin/busybox";

const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;

/// A tool and the Debian package that provides it.
struct Tool {
    name: &'static str,
    package: &'static str,
    present: fn() -> bool,
}

const DOCKER: Tool = Tool {
    name: "docker",
    package: "docker.io",
    present: || sh::which("docker").is_some(),
};
const DOCKERD: Tool = Tool {
    name: "dockerd",
    package: "docker.io",
    present: || sh::which("dockerd").is_some(),
};
const REGISTRY: Tool = Tool {
    name: "docker-registry",
    package: "docker-registry",
    present: || sh::which("docker-registry").is_some(),
};
const SKOPEO: Tool = Tool {
    name: "skopeo",
    package: "skopeo",
    present: || sh::which("skopeo").is_some(),
};
const SSHD: Tool = Tool {
    name: "sshd (the ssh builder test)",
    package: "openssh-server",
    present: || Path::new("/usr/sbin/sshd").exists(),
};
const SSH: Tool = Tool {
    name: "ssh",
    package: "openssh-client",
    present: || sh::which("ssh").is_some(),
};
const IP: Tool = Tool {
    name: "ip (extra daemons' bridges)",
    package: "iproute2",
    present: || sh::which("ip").is_some(),
};
const CURL: Tool = Tool {
    name: "curl",
    package: "curl",
    present: || sh::which("curl").is_some(),
};
const QEMU: Tool = Tool {
    name: "qemu-aarch64 (binfmt)",
    package: "qemu-user-static",
    present: || qemu_interpreter().is_some(),
};
const BUSYBOX: Tool = Tool {
    name: "static busybox",
    package: "busybox-static",
    present: || check_static_elf(Path::new(HOST_BUSYBOX), EM_X86_64).is_ok(),
};

/// Installs what is missing from the tools xtask needs; `dockerd` only if `need_dockerd`.
pub fn ensure(paths: &Paths, need_dockerd: bool) -> Result<()> {
    let mut tools = vec![DOCKER, REGISTRY, SKOPEO, QEMU, BUSYBOX, SSHD, SSH, IP, CURL];
    if need_dockerd {
        tools.push(DOCKERD);
    }
    let missing: Vec<&Tool> = tools.iter().filter(|t| !(t.present)()).collect();
    if missing.is_empty() {
        eprintln!(
            "tools: {} present",
            tools.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
        );
        return Ok(());
    }
    let mut packages: Vec<&str> = missing.iter().map(|t| t.package).collect();
    packages.sort_unstable();
    packages.dedup();
    let names = missing
        .iter()
        .map(|t| t.name)
        .collect::<Vec<_>>()
        .join(", ");
    if !can_apt() {
        bail!(
            "missing tools: {names}; install the Debian packages {} (xtask installs them \
             itself only when it runs as root on Debian)",
            packages.join(" ")
        );
    }
    eprintln!(
        "tools: installing {} with apt-get (for {names}; log: {})",
        packages.join(" "),
        paths.rel(&apt_log(paths))
    );
    apt_update(paths)?;
    apt(paths)
        .args(["install", "-y", "-q"])
        .args(&packages)
        .run_logged(&apt_log(paths))?;
    signals::check()?;
    let still: Vec<&str> = missing
        .iter()
        .filter(|t| !(t.present)())
        .map(|t| t.name)
        .collect();
    if !still.is_empty() {
        bail!(
            "still missing after installing {}: {}",
            packages.join(" "),
            still.join(", ")
        );
    }
    eprintln!("tools: installed {}", packages.join(" "));
    Ok(())
}

fn can_apt() -> bool {
    signals::is_root()
        && Path::new("/etc/debian_version").exists()
        && sh::which("apt-get").is_some()
        && sh::which("dpkg").is_some()
}

fn apt_log(paths: &Paths) -> PathBuf {
    paths.state.join("apt.log")
}

fn apt(_paths: &Paths) -> Cmd {
    Cmd::new("apt-get")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .shielded()
}

fn apt_update(paths: &Paths) -> Result<()> {
    apt(paths)
        .args(["update", "-q"])
        .run_logged(&apt_log(paths))
}

/// The interpreter named by qemu-user-static's aarch64 binfmt description, if both exist.
pub fn qemu_interpreter() -> Option<PathBuf> {
    let line = binfmt_line().ok()?;
    let interp = PathBuf::from(line.split(':').nth(6)?);
    interp.exists().then_some(interp)
}

/// The registration line of [`QEMU_AARCH64_CONF`] (its first line that is not a comment).
pub fn binfmt_line() -> Result<String> {
    let text = std::fs::read_to_string(QEMU_AARCH64_CONF)
        .with_context(|| format!("reading {QEMU_AARCH64_CONF}"))?;
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .with_context(|| format!("{QEMU_AARCH64_CONF} has no registration line"))
}

/// The static busybox binaries for both architectures.
pub struct Busyboxes {
    pub amd64: PathBuf,
    pub arm64: PathBuf,
}

/// Finds or fetches the static busybox binaries: amd64 from the host's busybox-static,
/// arm64 from `busybox-static:arm64`, downloaded with apt-get and unpacked into the state
/// directory (kept as a cache).
pub fn busyboxes(paths: &Paths) -> Result<Busyboxes> {
    let amd64 = PathBuf::from(HOST_BUSYBOX);
    check_static_elf(&amd64, EM_X86_64)?;
    let cache = paths.state.join("busybox-arm64");
    let extracted = cache.join("root");
    let found = |root: &Path| {
        ["usr/bin/busybox", "bin/busybox"]
            .iter()
            .map(|p| root.join(p))
            .find(|p| check_static_elf(p, EM_AARCH64).is_ok())
    };
    if let Some(arm64) = found(&extracted) {
        eprintln!(
            "busybox: amd64 {HOST_BUSYBOX}, arm64 {} (cached)",
            paths.rel(&arm64)
        );
        return Ok(Busyboxes { amd64, arm64 });
    }
    if !can_apt() {
        bail!(
            "no arm64 busybox in {}; xtask fetches it with `apt-get download \
             busybox-static:arm64` only when it runs as root on Debian",
            paths.rel(&extracted)
        );
    }
    let foreign = Cmd::new("dpkg")
        .arg("--print-foreign-architectures")
        .read()?;
    if !foreign.split_whitespace().any(|a| a == "arm64") {
        eprintln!("busybox: adding the arm64 architecture to dpkg and updating apt's lists");
        Cmd::new("dpkg")
            .args(["--add-architecture", "arm64"])
            .shielded()
            .run_logged(&apt_log(paths))?;
        apt_update(paths)?;
    }
    let _ = std::fs::remove_dir_all(&cache);
    std::fs::create_dir_all(&cache)?;
    let download = |paths: &Paths| {
        apt(paths)
            .args(["download", "-q", "busybox-static:arm64"])
            .current_dir(&cache)
            .run_logged(&apt_log(paths))
    };
    if download(paths).is_err() {
        // The lists may be older than the archive: update once and try again.
        apt_update(paths)?;
        download(paths)?;
    }
    let deb = std::fs::read_dir(&cache)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .context("apt-get download busybox-static:arm64 left no .deb")?;
    Cmd::new("dpkg")
        .arg("-x")
        .arg(&deb)
        .arg(&extracted)
        .run_logged(&apt_log(paths))?;
    let arm64 = found(&extracted).with_context(|| {
        format!(
            "{} holds no static aarch64 busybox in usr/bin or bin",
            deb.display()
        )
    })?;
    eprintln!(
        "busybox: amd64 {HOST_BUSYBOX}, arm64 {} (fetched)",
        paths.rel(&arm64)
    );
    Ok(Busyboxes { amd64, arm64 })
}

/// Checks that `path` is a 64-bit little-endian ELF executable for `machine` with no program
/// interpreter (statically linked), so it runs in a `FROM scratch` image.
pub fn check_static_elf(path: &Path, machine: u16) -> Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let u16_at = |o: usize| {
        bytes
            .get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |o: usize| {
        bytes
            .get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |o: usize| {
        bytes
            .get(o..o + 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    };
    if bytes.get(0..6) != Some(b"\x7fELF\x02\x01".as_slice()) {
        bail!("{} is not a 64-bit little-endian ELF file", path.display());
    }
    if u16_at(18) != Some(machine) {
        bail!(
            "{} is for ELF machine {:?}, not {machine}",
            path.display(),
            u16_at(18)
        );
    }
    let phoff = u64_at(32).unwrap_or(0) as usize;
    let phentsize = u16_at(54).unwrap_or(0) as usize;
    let phnum = u16_at(56).unwrap_or(0) as usize;
    for i in 0..phnum {
        const PT_INTERP: u32 = 3;
        if u32_at(phoff + i * phentsize) == Some(PT_INTERP) {
            bail!(
                "{} is dynamically linked (install busybox-static)",
                path.display()
            );
        }
    }
    Ok(())
}
