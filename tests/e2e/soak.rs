//! Never hang: random registry faults (seeded, so that a failure can be replayed with
//! `MAB_SOAK_SEED`) on a quarter of the write requests, for 20 builds with a fresh layer each;
//! a registry that takes a layer's body and never answers. Every run must end within its limit
//! (the harness kills it otherwise), and what fails must say why and move no tag.

use std::time::Duration;

use mab_tests::fault_proxy::{Fault, ProxiedPlan, RandomFaults, Rule};
use mab_tests::*;

/// The stall limit the runs here use (a small one, so that stalls cost little).
const STALL_LIMIT: &str = "3s";

/// `mab build` as the runs through the fault proxy start it: mab's own pusher (the faults are
/// on its requests), JSON out, the small stall limit.
const BUILD_THROUGH_FAULTS: [&str; 5] = [
    "build",
    "--no-engine-push",
    "--json",
    "--stall-limit",
    STALL_LIMIT,
];

/// The digest `image` (`REG/repo:tag`) has in the registry, read directly; `None` when absent.
fn tag_digest(image: &str) -> Option<String> {
    registry_has(image).then(|| sha256_digest(&registry_raw(image)))
}

#[test]
fn random_write_faults_end_every_build_and_fail_few() {
    let seed = std::env::var("MAB_SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    eprintln!("soak: seed {seed} (MAB_SOAK_SEED={seed} replays the choices of faults)");
    // A fresh 8 MiB random layer each build: NONCE changes, so the RUN step runs again.
    let plan = ProxiedPlan::random(
        "soak",
        RandomFaults::writes(seed, 25),
        "ARG NONCE\nRUN head -c 8388608 /dev/urandom > /layer && echo $NONCE > /nonce",
        &[],
    );
    let image = format!("{}:latest", plan.dir.repository());

    let builds = 20;
    let mut succeeded = 0;
    let mut failures = Vec::new();
    let mut longest = Duration::ZERO;
    for n in 0..builds {
        let before = tag_digest(&image);
        let out = mab()
            .args(BUILD_THROUGH_FAULTS)
            .arg(plan.dir.plan())
            .args(["--set", &format!("*.build_args.NONCE={seed}-{n}")])
            .run();
        longest = longest.max(out.took);
        let after = tag_digest(&image);
        eprintln!(
            "soak: build {n}: exit {:?} in {:.1} s ({} faults injected so far)",
            out.code,
            out.took.as_secs_f64(),
            plan.proxy.injected()
        );
        if out.success() {
            succeeded += 1;
            assert_eq!(
                after.as_deref(),
                Some(index_digest(&out, &plan.through_proxy).as_str()),
                "the tag points at what mab published\n{out}"
            );
        } else {
            out.assert_code(1).assert_error_line();
            out.assert_stderr_contains(&[plan.proxy.address()]);
            assert_eq!(before, after, "a failed build moved the tag\n{out}");
            failures.push(out);
        }
    }
    eprintln!(
        "soak: {succeeded} of {builds} builds published, {} failed, longest {:.1} s, {} faults \
         injected",
        failures.len(),
        longest.as_secs_f64(),
        plan.proxy.injected()
    );
    for failure in &failures {
        let error: Vec<&str> = failure
            .stderr
            .lines()
            .filter(|l| l.starts_with("error:") || l.contains("caused by"))
            .collect();
        eprintln!("soak: a failed build said:\n{}", error.join("\n"));
    }
    assert!(
        plan.proxy.injected() >= builds,
        "the proxy injected faults ({} of them)",
        plan.proxy.injected()
    );
    assert!(
        succeeded >= builds - 1,
        "{succeeded} of {builds} builds published (seed {seed}); the failures:\n{}",
        failures
            .iter()
            .map(|f| f.to_string())
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}

#[test]
fn a_registry_that_takes_a_layer_and_never_answers_costs_the_stall_limit_and_a_retry() {
    let plan = ProxiedPlan::new(
        "stall-once",
        vec![Rule::new(
            "PATCH",
            "/blobs/uploads/",
            Fault::StallAfterBody,
            1,
        )],
        "RUN head -c 4194304 /dev/urandom > /layer",
        &["linux/amd64"],
    );

    // Without a stall limit the run would wait for ever; the harness would kill it here.
    let out = mab()
        .args(BUILD_THROUGH_FAULTS)
        .arg(plan.dir.plan())
        .limit(Duration::from_secs(120))
        .run();
    out.assert_success();
    assert_eq!(
        plan.proxy.injected_of(&Fault::StallAfterBody),
        1,
        "{}",
        out.all()
    );
    eprintln!(
        "stall: one stalled layer upload, stall limit {STALL_LIMIT}: the run took {:.1} s",
        out.took.as_secs_f64()
    );
    let image = format!("{}:latest", plan.dir.repository());
    assert_eq!(
        tag_digest(&image).as_deref(),
        Some(index_digest(&out, &plan.through_proxy).as_str())
    );
    mab()
        .args(["verify", "--insecure"])
        .arg(&image)
        .run()
        .assert_success();
}

#[test]
fn a_registry_that_never_answers_fails_the_run_naming_it_and_the_limit() {
    let plan = ProxiedPlan::new(
        "stall-always",
        vec![Rule::new(
            "PATCH",
            "/blobs/uploads/",
            Fault::StallAfterBody,
            usize::MAX,
        )],
        "RUN head -c 1048576 /dev/urandom > /layer",
        &["linux/amd64"],
    );

    let out = mab()
        .args([
            "build",
            "--no-engine-push",
            "--stall-limit",
            "2s",
            "--push-limit",
            "20s",
        ])
        .arg(plan.dir.plan())
        .limit(Duration::from_secs(150))
        .run();
    out.assert_code(1)
        .assert_error_line()
        .assert_stderr_contains(&[plan.proxy.address(), "stall limit"]);
    eprintln!(
        "stall: every layer upload stalled, stall limit 2 s, push limit 20 s: failed after {:.1} s",
        out.took.as_secs_f64()
    );
    assert!(
        !registry_has(&format!("{}:latest", plan.dir.repository())),
        "no tag may point at a half-pushed image"
    );
}

#[test]
fn a_lost_commit_answer_and_a_busy_registry_are_survived() {
    // The registry stores the layer but its answer to the closing PUT never arrives (trying
    // the PUT again would find no upload session: only a HEAD tells it is stored); and it
    // asks to be tried later (429, Retry-After) when an upload starts.
    let plan = ProxiedPlan::new(
        "lost-answer",
        vec![
            Rule::new("PUT", "/blobs/uploads/", Fault::LoseAnswer, 1),
            Rule::new("POST", "/blobs/uploads/", Fault::Status(429), 1),
            Rule::new("PATCH", "/blobs/uploads/", Fault::ResetMidBody, 1),
        ],
        "RUN head -c 2097152 /dev/urandom > /layer",
        &["linux/amd64"],
    );

    let out = mab()
        .args(BUILD_THROUGH_FAULTS)
        .arg(plan.dir.plan())
        .limit(Duration::from_secs(120))
        .run();
    out.assert_success();
    assert_eq!(
        plan.proxy.injected(),
        3,
        "every fault fired: {:?}",
        plan.proxy.fault_log()
    );
    let image = format!("{}:latest", plan.dir.repository());
    assert_eq!(
        tag_digest(&image).as_deref(),
        Some(index_digest(&out, &plan.through_proxy).as_str())
    );
    // skopeo checks every blob's digest while copying.
    let copy = tempfile::tempdir().expect("copy folder");
    skopeo([
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{image}"),
        &format!("oci:{}:copy", copy.path().display()),
    ])
    .assert_success();
}
