//! BuildKit, the default builder: the Dockerfiles multi-arch projects use. A build stage on
//! `$BUILDPLATFORM` runs natively while the final stage is of the target platform; cache mounts
//! persist; secrets and ssh agents reach their step and nothing else; what the engine's BuildKit
//! lacks is refused with the feature, the line and the engine version; bad secrets and agents
//! are clear errors that tag nothing. Checked with `docker run --platform`, skopeo and the
//! registry.

use std::process::Command;

use mab_tests::*;

/// Builds the plan in `dir` with `mab build --json`, with `env` set.
fn build(dir: &PlanDir, env: &[(&str, &str)]) -> Output {
    let mut cmd = mab().args(["build", "--json"]).arg(dir.plan());
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    cmd.run()
}

fn run_in(image: &str, platform: &str, script: &str) -> String {
    docker_run_platform_command(image, platform, &["sh", "-c", script])
}

#[test]
fn a_build_stage_on_the_build_platform_runs_natively_for_every_target() {
    let dir = PlanDir::new("bk-cross");
    let repo = dir.repository();
    dir.write(
        "Dockerfile",
        "ARG BASE_IMAGE\n\
         FROM --platform=$BUILDPLATFORM ${BASE_IMAGE} AS build\n\
         ARG TARGETPLATFORM TARGETOS TARGETARCH TARGETVARIANT BUILDPLATFORM BUILDOS BUILDARCH\n\
         RUN echo \"ran-on=$(uname -m) target=$TARGETPLATFORM os=$TARGETOS arch=$TARGETARCH \
         variant=$TARGETVARIANT build=$BUILDPLATFORM $BUILDOS/$BUILDARCH\" > /built\n\
         FROM ${BASE_IMAGE}\n\
         COPY --from=build /built /built\n\
         RUN uname -m > /arch\n",
    );
    dir.write_plan(&[Image::new(&repo)]);
    let out = build(&dir, &[]);
    out.assert_success();
    let image = format!("{repo}:latest");
    // The build stage ran on x86_64 (no QEMU) for both targets; the final stage is the target's.
    assert_eq!(
        run_in(&image, "linux/arm64", "cat /built /arch").trim(),
        "ran-on=x86_64 target=linux/arm64 os=linux arch=arm64 variant= build=linux/amd64 \
         linux/amd64\naarch64"
    );
    assert_eq!(
        run_in(&image, "linux/amd64", "cat /built /arch").trim(),
        "ran-on=x86_64 target=linux/amd64 os=linux arch=amd64 variant= build=linux/amd64 \
         linux/amd64\nx86_64"
    );
    // The index says what each config says (skopeo reads it independently).
    let raw = skopeo([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{image}"),
    ]);
    raw.assert_success();
    let index: serde_json::Value = serde_json::from_str(&raw.stdout).expect("an index");
    let platforms: Vec<String> = index_entries(&index).into_iter().map(|e| e.0).collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64/v8"]);
}

#[test]
fn the_classic_builder_refuses_a_build_platform_stage_naming_it() {
    let dir = PlanDir::new("bk-classic-cross");
    let repo = dir.repository();
    dir.write(
        "Dockerfile",
        "ARG BASE_IMAGE\nFROM --platform=$BUILDPLATFORM ${BASE_IMAGE} AS build\nRUN true\n\
         FROM ${BASE_IMAGE}\nCOPY --from=build /bin/sh /sh2\n",
    );
    dir.write_plan(&[Image::new(&repo)
        .platforms(&["linux/arm64"])
        .yaml("builder: classic")]);
    let out = build(&dir, &[]);
    out.assert_code(1)
        .assert_stderr_contains(&["Dockerfile:2", "BuildKit", "linux/arm64"]);
    assert!(!registry_has(&format!("{repo}:latest")));
}

#[test]
fn a_cache_mount_persists_between_builds() {
    let dir = PlanDir::new("bk-cache");
    let repo = dir.repository();
    let id = format!("mab-test-{}", dir.name);
    dir.write(
        "Dockerfile",
        &dockerfile(&format!(
            "ARG NONCE\nRUN --mount=type=cache,id={id},target=/cache \
             echo $NONCE >> /cache/log && wc -l < /cache/log > /count"
        )),
    );
    let plan = |nonce: &str| {
        dir.write_plan(&[Image::new(&repo)
            .platforms(&["linux/amd64"])
            .yaml(&format!("labels: {{ nonce: \"{nonce}\" }}"))]);
        // The build arg changes the RUN step, so it runs again, on the same cache.
        let text = std::fs::read_to_string(dir.plan()).unwrap();
        let text = text.replace(
            "build_args: { BASE_IMAGE:",
            &format!("build_args: {{ NONCE: \"{nonce}\", BASE_IMAGE:"),
        );
        std::fs::write(dir.plan(), text).unwrap();
    };
    plan("first");
    build(&dir, &[]).assert_success();
    let image = format!("{repo}:latest");
    assert_eq!(run_in(&image, "linux/amd64", "cat /count").trim(), "1");
    plan("second");
    build(&dir, &[]).assert_success();
    let _ = docker(["rmi", &image]);
    assert_eq!(run_in(&image, "linux/amd64", "cat /count").trim(), "2");
}

#[test]
fn a_secret_reaches_its_step_and_nowhere_else() {
    const TOKEN: &str = "s3cret-t0ken-never-printed";
    const FILE_SECRET: &str = "f1le-s3cret-never-printed";
    let dir = PlanDir::new("bk-secret");
    let repo = dir.repository();
    std::fs::create_dir_all(dir.path().join("ctx")).unwrap();
    dir.write(
        "ctx/Dockerfile",
        &dockerfile(
            &format!(
                "RUN --mount=type=secret,id=token,required sha256sum /run/secrets/token | cut -c1-64 > /token.sha256 # {0}\n\
                 RUN --mount=type=secret,id=conf,target=/etc/conf,required sha256sum /etc/conf | cut -c1-64 > /conf.sha256 # {0}",
                dir.name
            ),
        ),
    );
    // The file secret lies outside the build context.
    dir.write("conf.secret", FILE_SECRET);
    dir.write_plan(&[Image::new(&repo)
        .context("ctx")
        .yaml("secrets: [{ id: token, env: MAB_TEST_TOKEN }, { id: conf, file: conf.secret }]")]);
    let out = build(&dir, &[("MAB_TEST_TOKEN", TOKEN)]);
    out.assert_success();
    let image = format!("{repo}:latest");
    for platform in ["linux/amd64", "linux/arm64"] {
        assert_eq!(
            run_in(&image, platform, "cat /token.sha256 /conf.sha256"),
            format!(
                "{}\n{}\n",
                sha256_digest(TOKEN.as_bytes()).trim_start_matches("sha256:"),
                sha256_digest(FILE_SECRET.as_bytes()).trim_start_matches("sha256:")
            )
        );
    }
    // Not in mab's output, its --json, its --dry-run (text and JSON)...
    let dry = mab().args(["build", "--dry-run"]).arg(dir.plan()).run();
    let dry_json = mab()
        .args(["build", "--dry-run", "--json"])
        .arg(dir.plan())
        .env("MAB_TEST_TOKEN", TOKEN)
        .run();
    for output in [&out, &dry, &dry_json] {
        for secret in [TOKEN, FILE_SECRET] {
            assert!(!output.all().contains(secret), "{output}");
        }
    }
    // ... nor in any layer or config of the image (every blob, decompressed).
    let layout = tempfile::tempdir().unwrap();
    skopeo([
        "copy",
        "--all",
        "--src-tls-verify=false",
        &format!("docker://{image}"),
        &format!("oci:{}", layout.path().display()),
    ])
    .assert_success();
    for blob in std::fs::read_dir(layout.path().join("blobs/sha256")).unwrap() {
        let bytes = std::fs::read(blob.unwrap().path()).unwrap();
        let mut text = Vec::new();
        if std::io::Read::read_to_end(
            &mut flate2::read::MultiGzDecoder::new(&bytes[..]),
            &mut text,
        )
        .is_err()
        {
            text = bytes;
        }
        let text = String::from_utf8_lossy(&text);
        for secret in [TOKEN, FILE_SECRET] {
            assert!(!text.contains(secret), "a blob holds the secret");
        }
    }
}

#[test]
fn an_ssh_agent_is_forwarded_from_key_files_and_from_ssh_auth_sock() {
    let dir = PlanDir::new("bk-ssh");
    let repo = dir.repository();
    agent_list_program(dir.path());
    let key = dir.path().join("deploy_key");
    let keygen = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "mab-test-deploy-key",
            "-f",
        ])
        .arg(&key)
        .status()
        .expect("ssh-keygen");
    assert!(keygen.success());
    // The step names the test, so no other run's cache stands in for it.
    let fetch = |step: &str| {
        format!(
            "ARG BASE_IMAGE\n\
             FROM --platform=$BUILDPLATFORM ${{BASE_IMAGE}} AS fetch\n\
             COPY agent-list /agent-list\n\
             RUN {step} # {}\n\
             FROM ${{BASE_IMAGE}}\n\
             COPY --from=fetch /keys /keys\n",
            dir.name
        )
    };
    dir.write(
        "Dockerfile",
        &fetch("--mount=type=ssh,id=deploy,required /agent-list > /keys"),
    );
    // Key files: mab's own agent holds them for the build.
    dir.write_plan(&[Image::new(&repo).yaml("ssh: [{ id: deploy, paths: [deploy_key] }]")]);
    build(&dir, &[]).assert_success();
    let image = format!("{repo}:latest");
    assert_eq!(
        run_in(&image, "linux/arm64", "cat /keys"),
        "1 identities\nmab-test-deploy-key\n"
    );

    // The user's running agent (SSH_AUTH_SOCK), under the id `deploy` as a socket path.
    let agent_dir = tempfile::tempdir().unwrap();
    let socket = agent_dir.path().join("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&socket)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("ssh-agent");
    for _ in 0..100 {
        if socket.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let added = Command::new("ssh-add")
        .arg(&key)
        .env("SSH_AUTH_SOCK", &socket)
        .output()
        .expect("ssh-add");
    assert!(added.status.success(), "{added:?}");
    dir.write(
        "Dockerfile",
        &fetch("--mount=type=ssh,required /agent-list > /keys && echo again >> /keys"),
    );
    dir.write_plan(&[Image::new(&repo).yaml("ssh: [default]")]);
    let out = build(&dir, &[("SSH_AUTH_SOCK", &socket.display().to_string())]);
    let _ = agent.kill();
    let _ = agent.wait();
    out.assert_success();
    let _ = docker(["rmi", &image]);
    assert_eq!(
        run_in(&image, "linux/amd64", "cat /keys"),
        "1 identities\nmab-test-deploy-key\nagain\n"
    );
}

#[test]
fn what_the_engine_lacks_is_refused_naming_the_feature_the_line_and_the_engine() {
    let (major, _) = engine_version();
    let dir = PlanDir::new("bk-heredoc");
    let repo = dir.repository();
    dir.write(
        "Dockerfile",
        &dockerfile(
            "COPY <<EOT /hello\nhello from a heredoc\nEOT\nCOPY --link --chmod=0755 Dockerfile /df",
        ),
    );
    dir.write_plan(&[Image::new(&repo)]);
    let out = build(&dir, &[]);
    if major < 23 {
        out.assert_code(1).assert_stderr_contains(&[
            "Dockerfile:3",
            "heredoc",
            "needs docker 23.0.0 or later",
            "Dockerfile:6",
            "COPY --link",
        ]);
        assert!(!registry_has(&format!("{repo}:latest")));
    } else {
        out.assert_success();
        let image = format!("{repo}:latest");
        assert_eq!(
            run_in(&image, "linux/arm64", "cat /hello && stat -c %a /df"),
            "hello from a heredoc\n755\n"
        );
    }
}

#[test]
fn a_standard_frontend_that_cannot_be_pulled_gives_way_to_the_built_in_one() {
    let dir = PlanDir::new("bk-syntax");
    let repo = dir.repository();
    dir.write(
        "Dockerfile",
        &format!(
            "# syntax=docker/dockerfile:1\n{}",
            dockerfile("RUN --mount=type=tmpfs,target=/scratch echo ok > /scratch/x && cat /scratch/x > /ok")
        ),
    );
    dir.write_plan(&[Image::new(&repo).platforms(&["linux/amd64"])]);
    let out = build(&dir, &[]);
    out.assert_success()
        .assert_stderr_contains(&["docker/dockerfile:1", "built-in"]);
    assert_eq!(
        run_in(&format!("{repo}:latest"), "linux/amd64", "cat /ok"),
        "ok\n"
    );

    // Any other frontend is pulled as BuildKit does; a failure names it.
    let frontend = format!("127.0.0.1:{}/nope/frontend:1", closed_port());
    dir.write(
        "Dockerfile",
        &format!("# syntax={frontend}\n{}", dockerfile("RUN true")),
    );
    let out = build(&dir, &[]);
    out.assert_code(1)
        .assert_stderr_contains(&[&frontend, "linux/amd64"]);
}

#[test]
fn bad_secrets_and_agents_are_clear_errors_that_tag_nothing() {
    let dir = PlanDir::new("bk-bad-mounts");
    let repo = dir.repository();
    let latest = format!("{repo}:latest");

    // The Dockerfile mounts a secret the plan does not give: refused before the build.
    dir.write(
        "Dockerfile",
        &dockerfile("RUN --mount=type=secret,id=npmrc cat /run/secrets/npmrc || true"),
    );
    dir.write_plan(&[Image::new(&repo)
        .platforms(&["linux/amd64"])
        .yaml("secrets: [{ id: token, env: MAB_TEST_TOKEN }]")]);
    let out = build(&dir, &[("MAB_TEST_TOKEN", "x")]);
    out.assert_code(1).assert_stderr_contains(&[
        "Dockerfile:3",
        "secret `npmrc`",
        "linux/amd64",
        &repo,
    ]);
    assert!(!registry_has(&latest));

    // ... unless the mount says it can do without (another repository: this one stays
    // untagged).
    let optional = dir.repository_with("-optional");
    dir.write(
        "Dockerfile",
        &dockerfile("RUN --mount=type=secret,id=npmrc,required=false test ! -e /run/secrets/npmrc"),
    );
    dir.write_plan(&[Image::new(&optional)
        .platforms(&["linux/amd64"])
        .yaml("secrets: [{ id: token, env: MAB_TEST_TOKEN }]")]);
    build(&dir, &[("MAB_TEST_TOKEN", "x")]).assert_success();

    // A secret whose variable is not set: exit 2, nothing built.
    let out = mab()
        .args(["build", "--json"])
        .arg(dir.plan())
        .env_remove("MAB_TEST_TOKEN")
        .run();
    out.assert_code(2)
        .assert_stderr_contains(&["MAB_TEST_TOKEN", "not set", "nothing was built"]);

    // A secret file that is not there: the plan is refused (exit 2), naming the file.
    dir.write_plan(&[Image::new(&repo)
        .platforms(&["linux/amd64"])
        .yaml("secrets: [{ id: npmrc, file: missing.npmrc }]")]);
    build(&dir, &[])
        .assert_code(2)
        .assert_stderr_contains(&["missing.npmrc"]);

    // `ssh: [default]` without an agent: exit 2; an agent socket where none answers: exit 1.
    dir.write("Dockerfile", &dockerfile("RUN --mount=type=ssh true"));
    dir.write_plan(&[Image::new(&repo)
        .platforms(&["linux/amd64"])
        .yaml("ssh: [default]")]);
    let out = mab()
        .args(["build"])
        .arg(dir.plan())
        .env_remove("SSH_AUTH_SOCK")
        .run();
    out.assert_code(2)
        .assert_stderr_contains(&["SSH_AUTH_SOCK", "not set"]);
    let gone = dir.path().join("no-agent.sock");
    let out = build(&dir, &[("SSH_AUTH_SOCK", &gone.display().to_string())]);
    out.assert_code(1).assert_stderr_contains(&[
        "no ssh agent answers",
        &gone.display().to_string(),
        "linux/amd64",
    ]);
    assert!(!registry_has(&latest));
}
