//! What CI gets: `--metadata-file` (the `--json` document, written atomically, also when the run
//! fails), GitHub Actions' step outputs, job summary and `::error::` annotations, and
//! `--progress auto|tty|plain|quiet`.

use mab_tests::*;

/// A plan of one image, `REG/e2e/<name>`, for amd64, whose Dockerfile runs `run`.
fn one_image(test: &str, run: &str) -> PlanDir {
    let dir = PlanDir::new(test);
    dir.write("Dockerfile", &dockerfile(run));
    dir.write_plan(&[Image::new(&dir.repository()).platforms(&["linux/amd64"])]);
    dir
}

#[test]
fn github_actions_gets_outputs_a_summary_and_the_metadata_file() {
    let dir = one_image("ci-github", "RUN echo hi > /hi");
    let files = tempfile::tempdir().unwrap();
    let (output, summary, metadata) = (
        files.path().join("output"),
        files.path().join("summary.md"),
        files.path().join("metadata.json"),
    );
    std::fs::write(&output, "earlier=kept\n").unwrap();
    let out = mab()
        .args(["build", "--json", "--metadata-file"])
        .arg(&metadata)
        .arg(dir.plan())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .run();
    out.assert_success();
    let doc = out.json();
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&metadata).unwrap()).unwrap();
    assert_eq!(written, doc, "the metadata file is the --json document");
    let digest = json_image(&doc, &dir.repository())["digest"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        sha256_digest(&registry_raw(&format!("{}:latest", dir.repository()))),
        digest
    );

    let outputs = std::fs::read_to_string(&output).unwrap();
    let lines: Vec<&str> = outputs.lines().collect();
    assert_eq!(lines[0], "earlier=kept", "appended, not replaced");
    let metadata_line = lines
        .iter()
        .find_map(|l| l.strip_prefix("metadata="))
        .expect("metadata=");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(metadata_line).unwrap(),
        doc
    );
    let name = dir.name.clone();
    assert!(
        lines.contains(&format!("{name}-digest={digest}").as_str()),
        "{outputs}"
    );
    assert!(
        lines.contains(&format!("digest={digest}").as_str()),
        "{outputs}"
    );

    let summary = std::fs::read_to_string(&summary).unwrap();
    assert!(
        summary.contains("| image | platform | digest | size | time | |"),
        "{summary}"
    );
    assert!(
        summary.contains(&format!("| `{}` | linux/amd64 |", dir.repository())),
        "{summary}"
    );
    assert!(!out.stderr.contains("::error"), "{out}");
}

#[test]
fn a_failed_run_still_writes_the_metadata_with_its_errors() {
    let dir = one_image("ci-failure", "RUN echo failing on purpose && false");
    let files = tempfile::tempdir().unwrap();
    let metadata = files.path().join("metadata.json");
    let summary = files.path().join("summary.md");
    let out = mab()
        .args(["build", "--metadata-file"])
        .arg(&metadata)
        .arg(dir.plan())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env_remove("GITHUB_OUTPUT")
        .run();
    out.assert_code(1);
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&metadata).unwrap()).unwrap();
    assert_eq!(written["images"], serde_json::json!([]));
    let errors = written["errors"].as_array().expect("errors");
    assert_eq!(errors[0]["repository"], dir.repository().as_str());
    assert_eq!(errors[0]["platform"], "linux/amd64");
    assert!(
        says_a_step_failed(errors[0]["message"].as_str().unwrap()),
        "{written:#}"
    );
    let annotation = out
        .stderr
        .lines()
        .find(|l| l.starts_with("::error title="))
        .unwrap_or_else(|| panic!("no ::error:: line\n{out}"));
    assert!(
        annotation.starts_with(&format!(
            "::error title={} linux/amd64::",
            dir.repository().replace(':', "%3A")
        )),
        "{annotation}"
    );
    assert!(!annotation.contains('\n'));
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert!(summary.contains("> [!CAUTION]"), "{summary}");
}

#[test]
fn a_run_that_fails_before_building_writes_its_error_too() {
    // The registry refuses pushes (nothing listens): exit 1 before any build, and the metadata
    // file says why.
    let dir = PlanDir::new("ci-unreachable");
    dir.write("Dockerfile", &dockerfile("RUN true"));
    let repository = format!("127.0.0.1:{}/e2e/{}", closed_port(), dir.name);
    dir.write_plan(&[Image::new(&repository).platforms(&["linux/amd64"])]);
    let metadata = dir.path().join("metadata.json");
    let out = mab()
        .args(["build", "--metadata-file"])
        .arg(&metadata)
        .arg(dir.plan())
        .env("GITHUB_ACTIONS", "true")
        .env_remove("GITHUB_OUTPUT")
        .env_remove("GITHUB_STEP_SUMMARY")
        .run();
    out.assert_code(1);
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&metadata).unwrap()).unwrap();
    let message = written["errors"][0]["message"].as_str().expect("an error");
    assert!(message.contains(&repository), "{written:#}");
    assert!(out.stderr.contains("::error::cannot push to"), "{out}");
}

#[test]
fn an_unwritable_metadata_file_is_a_usage_error_and_nothing_is_built() {
    let dir = one_image("ci-unwritable", "RUN true");
    for (place, why) in [
        (
            dir.path().join("no-such-folder").join("m.json"),
            "does not exist",
        ),
        (dir.path().to_path_buf(), "it is a folder"),
    ] {
        let out = mab()
            .args(["build", "--metadata-file"])
            .arg(&place)
            .arg(dir.plan())
            .run();
        out.assert_code(2).assert_stderr_contains(&[
            &format!(
                "error: --metadata-file {}: cannot be written",
                place.display()
            ),
            why,
        ]);
    }
    assert!(!registry_has(&format!("{}:latest", dir.repository())));
}

#[test]
fn progress_modes() {
    let dir = one_image("ci-progress", "RUN echo progress > /p");
    let job = format!("[{} linux/amd64]", dir.repository());
    let build = |mode: &str| {
        let out = mab()
            .args(["build", "--progress", mode])
            .arg(dir.plan())
            .run();
        out.assert_success();
        out
    };
    let plain = build("plain");
    assert!(plain.stderr.lines().any(|l| l.starts_with(&job)), "{plain}");
    assert!(!plain.stderr.contains('\u{1b}'), "{plain}");

    let quiet = build("quiet");
    assert!(!quiet.stderr.contains(&job), "{quiet}");
    assert!(!quiet.stderr.contains("image  "), "no table: {quiet}");
    assert!(
        quiet
            .stdout
            .contains(&format!("{}:latest@sha256:", dir.repository()))
    );

    // Bars although stderr is a pipe: the terminal's escape sequences.
    let tty = build("tty");
    assert!(tty.stderr.contains("\u{1b}["), "{tty}");

    // auto on a pipe is plain.
    let auto = build("auto");
    assert!(auto.stderr.lines().any(|l| l.starts_with(&job)), "{auto}");
    assert!(!auto.stderr.contains('\u{1b}'), "{auto}");
}
