//! `cargo xtask demo`: the seed article's flow with mab. Builds examples/echo-platform for
//! linux/amd64 and linux/arm64 into a local registry, then shows the published manifest list
//! and what each platform's container prints.

use anyhow::{Result, bail};

use crate::dockerd::docker;
use crate::env::{Env, Options};
use crate::paths::Paths;
use crate::registry::Port;
use crate::sh::Cmd;
use crate::signals;

pub struct Args {
    /// Leave the registry running.
    pub keep: bool,
    /// The engine to run it on.
    pub engine: crate::engine::Engine,
}

pub fn run(paths: &Paths, args: Args) -> Result<()> {
    let mut env = Env::up(
        paths,
        Options {
            registry_port: Port::Prefer(5000),
            sweep_local_images: false,
            oracles: false,
            engine: args.engine,
        },
    )?;
    let image = format!("{}/demo/echo-platform:latest", env.registry);
    env.extra_local_refs = vec![image.clone(), env.base_image.clone()];

    eprintln!("==> cargo build -p mab-cli");
    Cmd::new(&paths.cargo)
        .current_dir(&paths.root)
        .args(["build", "-p", "mab-cli"])
        .run()?;
    signals::check()?;

    let plan = "examples/echo-platform/plan.yaml";
    eprintln!(
        "==> MAB_REGISTRY={} MAB_BASE_IMAGE={} mab build {plan}",
        env.registry, env.base_image
    );
    Cmd::new(paths.mab_bin())
        .current_dir(&paths.root)
        .args(["build", plan])
        .env("MAB_REGISTRY", &env.registry)
        .env("MAB_BASE_IMAGE", &env.base_image)
        .env("DOCKER_HOST", &env.docker_host)
        .run()?;
    signals::check()?;

    eprintln!("==> docker manifest inspect --insecure {image}");
    let manifest = docker(&env.docker_host)
        .args(["manifest", "inspect", "--insecure", &image])
        .read()?;
    println!("{manifest}");

    for platform in ["linux/amd64", "linux/arm64"] {
        signals::check()?;
        eprintln!("==> docker run --rm --pull always --platform {platform} {image}");
        let out = docker(&env.docker_host)
            .args(["run", "--rm", "--pull", "always", "--platform", platform])
            .arg(&image)
            .output()?;
        // Untag the pulled image, so the next platform's pull does not leave it dangling.
        let _ = docker(&env.docker_host).args(["rmi", &image]).output();
        if !out.status.success() {
            bail!(
                "docker run --platform {platform} {image} failed ({}):\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        println!(
            "{platform}: {}",
            String::from_utf8_lossy(&out.stdout).trim()
        );
    }

    let kept = if args.keep { env.keep_registry() } else { None };
    env.teardown();
    if let Some(how) = kept {
        eprintln!("{how}");
        eprintln!("  try: skopeo inspect --raw --tls-verify=false docker://{image}");
    }
    Ok(())
}
