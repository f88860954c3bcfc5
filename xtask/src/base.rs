//! The busybox base images: built `FROM scratch` for linux/amd64 and linux/arm64 from the
//! recipe in docker/base/, pushed to the throwaway registry, and published there as one
//! multi-platform tag `REG/mab-base/busybox:latest`.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use crate::dockerd::docker;
use crate::paths::Paths;
use crate::sh::Cmd;
use crate::signals;
use crate::tools::{Busyboxes, HOST_BUSYBOX};

pub const REPOSITORY: &str = "mab-base/busybox";

pub struct BaseImages {
    host: String,
    /// The multi-platform tag.
    pub index: String,
    /// The per-architecture tags (also in the registry).
    pub amd64: String,
    pub arm64: String,
    /// Local tags we created, removed at the end.
    local_tags: Vec<String>,
    contexts: Option<PathBuf>,
}

impl BaseImages {
    /// `buildx_config`: build with BuildKit through that docker config's buildx plugin (on a
    /// current engine with the containerd image store, whose classic builder writes OCI
    /// manifests with Docker layer media types, which skopeo cannot convert), else with the
    /// classic builder.
    pub fn build(
        paths: &Paths,
        host: &str,
        registry: &str,
        busybox: &Busyboxes,
        buildx_config: Option<&Path>,
    ) -> Result<Self> {
        let started = std::time::Instant::now();
        let repo = format!("{registry}/{REPOSITORY}");
        let contexts = paths
            .state
            .join(format!("base-{}", registry.replace(':', "-")));
        let mut this = Self {
            host: host.to_string(),
            index: format!("{repo}:latest"),
            amd64: format!("{repo}:amd64"),
            arm64: format!("{repo}:arm64"),
            local_tags: Vec::new(),
            contexts: Some(contexts.clone()),
        };
        let applets = Cmd::new(HOST_BUSYBOX).arg("--list").read()?;
        let applets: Vec<&str> = applets
            .lines()
            .map(str::trim)
            .filter(|a| !a.is_empty() && *a != "busybox" && !a.contains('/'))
            .collect();
        let recipe = paths.root.join("docker/base/Dockerfile");
        for (arch, bin, tag) in [
            ("amd64", &busybox.amd64, this.amd64.clone()),
            ("arm64", &busybox.arm64, this.arm64.clone()),
        ] {
            let ctx = contexts.join(arch);
            lay_out(&ctx, &recipe, bin, &applets)
                .with_context(|| format!("laying out {}", ctx.display()))?;
            let build = match buildx_config {
                Some(config) => docker(host)
                    .env("DOCKER_CONFIG", config)
                    .args(["buildx", "build", "-q", "--load"])
                    .args(["--provenance=false", "--sbom=false", "--platform"]),
                None => docker(host)
                    .args(["build", "-q", "--platform"])
                    .env("DOCKER_BUILDKIT", "0"),
            };
            build
                .arg(format!("linux/{arch}"))
                .args(["-t", &tag])
                .arg(&ctx)
                .read()
                .with_context(|| format!("building the linux/{arch} base image"))?;
            this.local_tags.push(tag.clone());
            signals::check()?;
            docker(host)
                .args(["push", "-q", &tag])
                .read()
                .with_context(|| format!("pushing {tag}"))?;
            signals::check()?;
        }
        // A local list left by an interrupted run would be amended, not replaced: drop it.
        let _ = docker(host).args(["manifest", "rm", &this.index]).output();
        docker(host)
            .args(["manifest", "create", "--insecure"])
            .args([&this.index, &this.amd64, &this.arm64])
            .read()?;
        docker(host)
            .args(["manifest", "annotate", "--variant", "v8"])
            .args([&this.index, &this.arm64])
            .read()?;
        docker(host)
            .args(["manifest", "push", "--insecure", "--purge", &this.index])
            .read()?;
        this.check_index()?;
        eprintln!(
            "base images: {} (linux/amd64, linux/arm64/v8; per-arch {} and {}; {:.1} s)",
            this.index,
            tag_of(&this.amd64),
            tag_of(&this.arm64),
            started.elapsed().as_secs_f64()
        );
        Ok(this)
    }

    /// Reads the published index back with skopeo: both platforms must be there.
    fn check_index(&self) -> Result<()> {
        let raw = Cmd::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{}", self.index))
            .read()?;
        let index: serde_json::Value = serde_json::from_str(&raw)?;
        let platforms: Vec<String> = index["manifests"]
            .as_array()
            .map(|m| {
                m.iter()
                    .map(|d| {
                        let p = &d["platform"];
                        format!(
                            "{}/{}{}",
                            p["os"].as_str().unwrap_or("?"),
                            p["architecture"].as_str().unwrap_or("?"),
                            p["variant"]
                                .as_str()
                                .map(|v| format!("/{v}"))
                                .unwrap_or_default()
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        for want in ["linux/amd64", "linux/arm64/v8"] {
            if !platforms.iter().any(|p| p == want) {
                bail!(
                    "{} lists platforms {platforms:?}, not {want}:\n{raw}",
                    self.index
                );
            }
        }
        Ok(())
    }

    /// `uname -m` in the base image of `platform`.
    pub fn uname_m(&self, platform: &str) -> Result<String> {
        let image = if platform.ends_with("arm64") {
            &self.arm64
        } else {
            &self.amd64
        };
        docker(&self.host)
            .args(["run", "--rm", "--network", "none", "--platform", platform])
            .args([image.as_str(), "uname", "-m"])
            .read()
    }

    /// Removes the local per-architecture tags and the build contexts.
    pub fn remove_local_tags(&mut self) {
        let tags = std::mem::take(&mut self.local_tags);
        if !tags.is_empty() {
            remove_images(&self.host, &tags);
        }
        if let Some(dir) = self.contexts.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Drop for BaseImages {
    fn drop(&mut self) {
        self.remove_local_tags();
    }
}

/// `docker rmi` each reference (untags; the image goes once nothing refers to it). References
/// already gone are skipped quietly.
pub fn remove_images(host: &str, refs: &[String]) {
    let mut removed = Vec::new();
    for r in refs {
        match docker(host).args(["rmi", r.as_str()]).shielded().output() {
            Ok(o) if o.status.success() => removed.push(r.as_str()),
            Ok(o) => {
                let err = String::from_utf8_lossy(&o.stderr);
                if !err.contains("No such image") {
                    eprintln!("images: cannot remove {r}: {}", err.trim());
                }
            }
            Err(e) => eprintln!("images: cannot remove {r}: {e:#}"),
        }
    }
    if !removed.is_empty() {
        eprintln!("images: removed {}", removed.join(", "));
    }
}

/// The local references whose repository starts with `prefix`: `repo:tag` for tagged images,
/// `repo@digest` for pulled images whose tag moved on.
pub fn local_refs_under(host: &str, prefix: &str) -> Vec<String> {
    let out = docker(host)
        .args([
            "images",
            "--digests",
            "--format",
            "{{.Repository}} {{.Tag}} {{.Digest}}",
        ])
        .shielded()
        .read()
        .unwrap_or_default();
    let mut tagged = Vec::new();
    let mut by_digest = Vec::new();
    for line in out.lines() {
        let mut f = line.split_whitespace();
        let (Some(repo), Some(tag), Some(digest)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if !repo.starts_with(prefix) {
            continue;
        }
        if tag != "<none>" {
            tagged.push(format!("{repo}:{tag}"));
        } else if digest != "<none>" {
            by_digest.push(format!("{repo}@{digest}"));
        }
    }
    tagged.extend(by_digest);
    tagged
}

fn tag_of(reference: &str) -> &str {
    reference.rsplit_once(':').map_or(reference, |(_, t)| t)
}

/// Writes `ctx/Dockerfile` (the recipe) and `ctx/rootfs/` for one architecture.
fn lay_out(ctx: &Path, recipe: &Path, busybox: &Path, applets: &[&str]) -> Result<()> {
    let _ = std::fs::remove_dir_all(ctx);
    let rootfs = ctx.join("rootfs");
    let bin = rootfs.join("bin");
    std::fs::create_dir_all(&bin)?;
    std::fs::copy(recipe, ctx.join("Dockerfile"))
        .with_context(|| format!("copying {}", recipe.display()))?;
    std::fs::copy(busybox, bin.join("busybox"))
        .with_context(|| format!("copying {}", busybox.display()))?;
    std::fs::set_permissions(bin.join("busybox"), std::fs::Permissions::from_mode(0o755))?;
    for applet in applets {
        std::os::unix::fs::symlink("busybox", bin.join(applet))?;
    }
    for dir in ["etc", "root", "tmp"] {
        std::fs::create_dir_all(rootfs.join(dir))?;
    }
    std::fs::set_permissions(rootfs.join("tmp"), std::fs::Permissions::from_mode(0o1777))?;
    std::fs::set_permissions(rootfs.join("root"), std::fs::Permissions::from_mode(0o700))?;
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )?;
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n")?;
    Ok(())
}
