//! A registry build cache: an image pushed with `cache_to: inline` is the `cache_from` of the next
//! build, which on a fresh daemon (no local cache, as on a new CI runner) takes its steps from it
//! and gives the same layers.

use mab_tests::dockerd::ExtraDaemon;
use mab_tests::*;

/// The layer digests of each platform of `index` (`REPO@sha256:…` or `REPO:TAG`), by platform.
fn layers(repository: &str, reference: &str) -> Vec<(String, Vec<String>)> {
    let index: serde_json::Value =
        serde_json::from_slice(&registry_raw(&format!("{repository}{reference}"))).unwrap();
    let mut out: Vec<(String, Vec<String>)> = index_entries(&index)
        .into_iter()
        .map(|(platform, digest, _)| {
            let manifest: serde_json::Value =
                serde_json::from_slice(&registry_raw(&format!("{repository}@{digest}"))).unwrap();
            let layers = manifest["layers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["digest"].as_str().unwrap().to_string())
                .collect();
            (platform, layers)
        })
        .collect();
    out.sort();
    out
}

/// A plan of one image whose steps make new bytes each time they run (so that equal layers
/// prove a step was taken from the cache), pushed with its inline cache and built from it.
fn cached_plan(dir: &PlanDir, tag: &str) -> std::path::PathBuf {
    let env = TestEnv::get();
    dir.write(
        "Dockerfile",
        &dockerfile("RUN head -c 32 /dev/urandom | od -An -tx1 > /random\nRUN date +%s%N > /when"),
    );
    let repository = dir.repository();
    dir.write(
        "plan.yaml",
        &format!(
            "version: 1\nregistries:\n  \"{registry}\": {{ insecure: true }}\nimages:\n  \
             - repository: {repository}\n    platforms: [linux/amd64, linux/arm64]\n    \
             tags: [\"{tag}\"]\n    build_args: {{ BASE_IMAGE: \"{base}\" }}\n    \
             cache_to: inline\n    cache_from: [\"{repository}:cache\"]\n",
            registry = env.registry,
            base = env.base_image,
        ),
    )
}

#[test]
fn a_fresh_daemon_takes_the_cached_steps_from_the_registry() {
    let dir = PlanDir::new("cache");
    let repository = dir.repository();
    let plan = cached_plan(&dir, "cache");

    // The first build: no cache image yet (said, and not an error), the cache goes into it.
    let first = mab()
        .args(["build", "--json", "--progress", "plain"])
        .arg(&plan)
        .run();
    first.assert_success();
    first.assert_stderr_contains(&["not in its registry", "not used"]);
    let first_layers = layers(&repository, ":cache");
    assert_eq!(first_layers.len(), 2, "{first_layers:?}");

    // A fresh daemon, as a new CI runner: no local image, no build cache.
    let fresh = ExtraDaemon::start("cache");
    let second = mab()
        .args(["build", "--json", "--progress", "plain"])
        .arg(&plan)
        .env("DOCKER_HOST", &fresh.host)
        .run();
    second.assert_success();
    assert!(
        says_a_step_was_cached(&second.stderr),
        "the fresh daemon's build took no step from the cache\n{second}"
    );
    assert_eq!(
        layers(&repository, ":cache"),
        first_layers,
        "the layers differ: the steps ran again\n{second}"
    );
}

#[test]
fn without_cache_from_a_fresh_daemon_builds_new_layers() {
    // The other half of the proof: the same plan without `cache_from` on a fresh daemon makes
    // new bytes, so equal layers above can only come from the cache.
    let dir = PlanDir::new("nocache");
    let repository = dir.repository();
    let plan = cached_plan(&dir, "cache");
    mab().args(["build"]).arg(&plan).run().assert_success();
    let first_layers = layers(&repository, ":cache");
    let fresh = ExtraDaemon::start("nocache");
    let second = mab()
        .args(["build", "--progress", "plain", "--set"])
        .arg(format!("{repository}.cache_from=localhost:1/none:x"))
        .arg(&plan)
        .env("DOCKER_HOST", &fresh.host)
        .run();
    second.assert_success();
    assert_ne!(layers(&repository, ":cache"), first_layers, "{second}");
}
