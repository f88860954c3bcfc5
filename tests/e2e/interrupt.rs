//! Ctrl-C in the middle of a build: mab exits with 130, the daemon's build is cancelled (its
//! container goes away), and no tag was published.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mab_tests::*;

#[test]
fn ctrl_c_cancels_the_build_and_tags_nothing() {
    let env = TestEnv::get();
    let dir = PlanDir::new("interrupt");
    let marker = format!("mab-interrupt-{}", dir.name);
    dir.write(
        "Dockerfile",
        &dockerfile(&format!("RUN sleep 60 && echo {marker}")),
    );
    dir.write_plan(&[Image::new(&dir.repository()).platforms(&["linux/amd64"])]);
    let stderr_path = dir.path().join("stderr.log");
    let mut child = Command::new(&env.mab_bin)
        .arg("build")
        .arg(dir.plan())
        .env_remove("MAB_REGISTRY")
        .env_remove("MAB_BASE_IMAGE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .expect("starting mab");

    // Wait until the RUN step runs on the daemon.
    let running = || process_running(&marker);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !running() {
        assert!(
            Instant::now() < deadline,
            "the build never started its RUN step"
        );
        assert!(child.try_wait().expect("mab").is_none(), "mab ended early");
        std::thread::sleep(Duration::from_millis(200));
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("mab") {
            break status;
        }
        assert!(Instant::now() < deadline, "mab did not stop after Ctrl-C");
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("error: interrupted"), "{stderr}");

    // The daemon cancels the build once its client is gone.
    let deadline = Instant::now() + Duration::from_secs(20);
    while running() {
        assert!(
            Instant::now() < deadline,
            "the build container is still running"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        !registry_has(&format!("{}:latest", dir.repository())),
        "nothing may be tagged"
    );
}
