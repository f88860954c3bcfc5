//! The independent clients the supply-chain tests check mab's output with, newer than what
//! Debian 12 has: cosign 2.5 (trixie), crane (sid) and docker-buildx (trixie, as a docker CLI
//! plugin in a docker config folder of its own). Nothing is installed: their packages are
//! downloaded with apt, through package lists of their own (the machine's apt setup is not
//! touched), and unpacked into `target/mab-testenv/oracles`, where they stay as a cache.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use crate::paths::Paths;
use crate::sh::Cmd;

/// The packages, `name/suite`, and the binary each provides (relative to the unpacked root).
const PACKAGES: [(&str, &str); 3] = [
    ("cosign/trixie", "usr/bin/cosign"),
    ("crane/sid", "usr/bin/crane"),
    (
        "docker-buildx/trixie",
        "usr/libexec/docker/cli-plugins/docker-buildx",
    ),
];
const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";
const DEFAULT_ARCHIVE: &str = "http://deb.debian.org/debian";

/// Where the clients are.
pub struct Oracles {
    pub cosign: PathBuf,
    pub crane: PathBuf,
    /// A `DOCKER_CONFIG` folder whose `cli-plugins/` holds docker-buildx.
    pub buildx_config: PathBuf,
}

impl Oracles {
    /// The variables the tests get.
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        let text = |p: &Path| p.to_string_lossy().into_owned();
        vec![
            ("MAB_TEST_COSIGN", text(&self.cosign)),
            ("MAB_TEST_CRANE", text(&self.crane)),
            ("MAB_TEST_BUILDX_CONFIG", text(&self.buildx_config)),
        ]
    }
}

/// Finds the clients in the cache, or downloads and unpacks them.
pub fn ensure(paths: &Paths) -> Result<Oracles> {
    let dir = paths.state.join("oracles");
    let root = dir.join("root");
    let oracles = Oracles {
        cosign: root.join(PACKAGES[0].1),
        crane: root.join(PACKAGES[1].1),
        buildx_config: dir.join("docker-config"),
    };
    let present = || {
        PACKAGES
            .iter()
            .all(|(_, binary)| root.join(binary).is_file())
    };
    if !present() {
        if !crate::signals::is_root() || crate::sh::which("apt-get").is_none() {
            bail!(
                "cosign, crane and docker-buildx (the supply-chain tests' oracles) are missing \
                 from {}; xtask downloads them with apt-get only when it runs as root on Debian",
                paths.rel(&root)
            );
        }
        eprintln!(
            "oracles: downloading {} (log: {})",
            PACKAGES.map(|(p, _)| p).join(", "),
            paths.rel(&paths.state.join("oracles-apt.log"))
        );
        fetch_debs(
            &dir,
            &root,
            &PACKAGES.map(|(p, _)| p),
            &paths.state.join("oracles-apt.log"),
        )?;
        if !present() {
            bail!(
                "the packages {} left no {} under {}",
                PACKAGES.map(|(p, _)| p).join(", "),
                PACKAGES.map(|(_, b)| b).join(", "),
                paths.rel(&root)
            );
        }
    }
    let plugins = oracles.buildx_config.join("cli-plugins");
    std::fs::create_dir_all(&plugins)?;
    let plugin = plugins.join("docker-buildx");
    if !plugin.exists() {
        std::fs::copy(root.join(PACKAGES[2].1), &plugin)
            .with_context(|| format!("copying docker-buildx into {}", paths.rel(&plugins)))?;
    }
    eprintln!(
        "oracles: cosign, crane and docker-buildx in {} (cached)",
        paths.rel(&root)
    );
    Ok(oracles)
}

/// Downloads `packages` (`name/suite`, from trixie or sid) with apt-get through package lists
/// of their own under `dir` (the machine's apt setup is not touched) and unpacks each into
/// `root` with `dpkg-deb -x`. Needs root and apt-get.
pub fn fetch_debs(dir: &Path, root: &Path, packages: &[&str], log: &Path) -> Result<()> {
    let lists = dir.join("lists");
    let cache = dir.join("cache");
    let debs = dir.join("debs");
    for d in [
        lists.join("partial"),
        cache.join("archives/partial"),
        debs.clone(),
    ] {
        std::fs::create_dir_all(&d)?;
    }
    let archive = debian_archive();
    let sources = dir.join("sources.list");
    std::fs::write(
        &sources,
        format!(
            "deb [signed-by={KEYRING}] {archive} trixie main\n\
             deb [signed-by={KEYRING}] {archive} sid main\n"
        ),
    )?;
    let apt = |args: &[&str]| {
        Cmd::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .arg(format!("-oDir::Etc::sourcelist={}", sources.display()))
            .arg("-oDir::Etc::sourceparts=/nonexistent")
            .arg(format!("-oDir::State::Lists={}", lists.display()))
            .arg(format!("-oDir::Cache={}", cache.display()))
            .args(args)
            .current_dir(&debs)
            .shielded()
    };
    apt(&["update", "-q"]).run_logged(log)?;
    let mut download = vec!["download", "-q"];
    download.extend(packages);
    apt(&download).run_logged(log)?;
    for entry in std::fs::read_dir(&debs)? {
        let deb = entry?.path();
        if deb.extension().is_some_and(|e| e == "deb") {
            Cmd::new("dpkg-deb")
                .arg("-x")
                .arg(&deb)
                .arg(root)
                .run_logged(log)?;
        }
    }
    Ok(())
}

/// The first archive URI of the machine's Debian sources (deb822 or one-line), else Debian's.
fn debian_archive() -> String {
    let deb822 =
        std::fs::read_to_string("/etc/apt/sources.list.d/debian.sources").unwrap_or_default();
    let from_deb822 = deb822.lines().find_map(|line| {
        let uris = line.strip_prefix("URIs:")?;
        let uri = uris.split_whitespace().next()?;
        (!uri.contains("security")).then(|| uri.to_string())
    });
    let one_line = || {
        let text = std::fs::read_to_string("/etc/apt/sources.list").unwrap_or_default();
        text.lines().find_map(|line| {
            let mut words = line.split_whitespace().filter(|w| !w.starts_with('['));
            (words.next()? == "deb").then_some(())?;
            let uri = words.next()?;
            (!uri.contains("security")).then(|| uri.to_string())
        })
    };
    from_deb822
        .or_else(one_line)
        .unwrap_or_else(|| DEFAULT_ARCHIVE.to_string())
}
