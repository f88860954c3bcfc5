//! The test environment as one guard: Docker daemon, QEMU binfmt, throwaway registry and
//! busybox base images. `Env::up` brings up what is missing; dropping the `Env` (or
//! [`Env::teardown`]) stops what it started, in reverse order, and only that.

use std::time::Instant;

use anyhow::{Result, bail};

use crate::base::{self, BaseImages};
use crate::binfmt::Binfmt;
use crate::dockerd::{self, Daemon};
use crate::engine::{Engine, PrivateEngine};
use crate::paths::Paths;
use crate::registry::{Port, Registry};
use crate::signals;
use crate::tools;

pub struct Options {
    pub registry_port: Port,
    /// At teardown, also remove every local image tagged under the registry's address (images
    /// that tests and builds left behind; right for a registry on a fresh random port).
    pub sweep_local_images: bool,
    /// Also find (or fetch) the supply-chain tests' oracles (cosign, crane, docker-buildx).
    pub oracles: bool,
    /// The Docker engine: the one at DOCKER_HOST (20.10), or a private newest one.
    pub engine: Engine,
}

#[derive(Default)]
pub struct Env {
    /// DOCKER_HOST of the daemon in use.
    pub docker_host: String,
    /// The engine of the matrix it is.
    pub engine: Option<Engine>,
    /// `127.0.0.1:PORT`.
    pub registry: String,
    /// `REG/mab-base/busybox:latest` (linux/amd64 + linux/arm64/v8).
    pub base_image: String,
    pub amd64_base: String,
    pub arm64_base: String,
    /// More local references to remove at teardown.
    pub extra_local_refs: Vec<String>,
    /// The supply-chain tests' oracles, when asked for.
    pub oracles: Option<crate::oracles::Oracles>,
    sweep: bool,
    base: Option<BaseImages>,
    registry_server: Option<Registry>,
    binfmt: Option<Binfmt>,
    daemon: Option<Daemon>,
    private_engine: Option<PrivateEngine>,
}

impl Env {
    pub fn up(paths: &Paths, opts: Options) -> Result<Self> {
        let started = Instant::now();
        let mut env = Env::default();
        env.sweep = opts.sweep_local_images;
        env.engine = Some(opts.engine);
        if opts.engine == Engine::Newest {
            // Debian 12's docker.io brings the client, runc and what the builder tests' extra
            // daemons run; the newest engine's own binaries come from newer suites.
            tools::ensure(paths, true)?;
            if opts.oracles {
                env.oracles = Some(crate::oracles::ensure(paths)?);
            }
            let engine = env.private_engine.insert(PrivateEngine::up(paths)?);
            env.docker_host = engine.host.clone();
            signals::check()?;
            return env.rest_up(paths, opts, started);
        }
        let host = dockerd::docker_host();
        // Needs the docker client; without one the probe fails and docker.io gets installed.
        let probe = if crate::sh::which("docker").is_some() {
            dockerd::probe(&host)
        } else {
            Err("no docker client".into())
        };
        tools::ensure(paths, probe.is_err())?;
        let probe = if probe.is_err() {
            dockerd::probe(&host)
        } else {
            probe
        };
        signals::check()?;

        if opts.oracles {
            env.oracles = Some(crate::oracles::ensure(paths)?);
            signals::check()?;
        }
        let daemon = env.daemon.insert(Daemon::up(paths, host, probe)?);
        env.docker_host = daemon.host.clone();
        signals::check()?;
        env.rest_up(paths, opts, started)
    }

    /// Binfmt, registry and base images, once the daemon answers.
    fn rest_up(mut self, paths: &Paths, opts: Options, started: Instant) -> Result<Self> {
        let env = &mut self;

        env.binfmt = Some(Binfmt::up()?);
        let busyboxes = tools::busyboxes(paths)?;
        signals::check()?;

        let registry = env
            .registry_server
            .insert(Registry::up(paths, opts.registry_port)?);
        env.registry = registry.addr.clone();
        signals::check()?;

        let buildx = env.private_engine.as_ref().map(|e| e.buildx_config.clone());
        let base = env.base.insert(BaseImages::build(
            paths,
            &env.docker_host,
            &env.registry,
            &busyboxes,
            buildx.as_deref(),
        )?);
        env.base_image = base.index.clone();
        env.amd64_base = base.amd64.clone();
        env.arm64_base = base.arm64.clone();
        signals::check()?;

        for (platform, want) in [("linux/arm64", "aarch64"), ("linux/amd64", "x86_64")] {
            let got = base.uname_m(platform)?;
            if got != want {
                let binfmt = env.binfmt.as_ref().map(Binfmt::describe_entry);
                bail!(
                    "a {platform} container says `uname -m` = {got:?}, not {want}: emulation \
                     does not work (qemu-aarch64 binfmt entry: {})",
                    binfmt.unwrap_or_default()
                );
            }
        }
        eprintln!("qemu: linux/arm64 containers run under emulation (uname -m: aarch64)");
        eprintln!(
            "environment ({}): ready in {:.1} s",
            opts.engine.name(),
            started.elapsed().as_secs_f64()
        );
        Ok(self)
    }

    /// Leaves the registry running after xtask exits; returns how to stop it.
    pub fn keep_registry(&mut self) -> Option<String> {
        self.registry_server.as_mut()?.keep()
    }

    /// Stops what `up` started, in reverse order. Idempotent.
    pub fn teardown(&mut self) {
        let anything = self.base.is_some()
            || self.registry_server.is_some()
            || self.binfmt.is_some()
            || self.daemon.is_some()
            || self.private_engine.is_some();
        if !anything {
            return;
        }
        eprintln!("teardown:");
        if let Some(mut base) = self.base.take() {
            base.remove_local_tags();
        }
        if !self.registry.is_empty() && !self.docker_host.is_empty() {
            let mut refs = std::mem::take(&mut self.extra_local_refs);
            if self.sweep {
                refs.extend(base::local_refs_under(
                    &self.docker_host,
                    &format!("{}/", self.registry),
                ));
            }
            let mut seen = std::collections::HashSet::new();
            refs.retain(|r| seen.insert(r.clone()));
            if !refs.is_empty() {
                base::remove_images(&self.docker_host, &refs);
            }
        }
        if let Some(mut r) = self.registry_server.take() {
            r.teardown();
        }
        if let Some(mut b) = self.binfmt.take() {
            b.teardown();
        }
        if let Some(mut d) = self.daemon.take() {
            d.teardown();
        }
        if let Some(mut e) = self.private_engine.take() {
            e.teardown();
        }
    }

    /// The variables the tests and the demo get.
    pub fn test_vars(&self, paths: &Paths) -> Vec<(&'static str, String)> {
        vec![
            ("MAB_BIN", paths.mab_bin().to_string_lossy().into_owned()),
            ("MAB_TEST_REGISTRY", self.registry.clone()),
            ("MAB_TEST_BASE_IMAGE", self.base_image.clone()),
            ("MAB_TEST_AMD64_BASE", self.amd64_base.clone()),
            ("MAB_TEST_ARM64_BASE", self.arm64_base.clone()),
            ("DOCKER_HOST", self.docker_host.clone()),
        ]
        .into_iter()
        .chain(self.registry_server.iter().map(|r| {
            (
                "MAB_TEST_REGISTRY_LOG",
                r.log().to_string_lossy().into_owned(),
            )
        }))
        .chain(self.oracles.iter().flat_map(crate::oracles::Oracles::vars))
        .collect()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        self.teardown();
    }
}
