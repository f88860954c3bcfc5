//! The plan language end to end: two images (one `depends_on` the other and starts `FROM` it),
//! per-platform build args, semver tags, annotations, labels, and two repositories on two
//! registries that must serve the same index digest; and `mab plan check` / `mab plan schema`.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mab_tests::*;

/// A throwaway `docker-registry` on a free 127.0.0.1 port, with its storage in a temporary
/// folder; killed when dropped.
struct SecondRegistry {
    child: Child,
    /// `127.0.0.1:PORT`.
    addr: String,
    _root: tempfile::TempDir,
}

impl SecondRegistry {
    fn start() -> Self {
        let root = tempfile::tempdir().expect("a temporary folder");
        let port = closed_port();
        let addr = format!("127.0.0.1:{port}");
        let config = root.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                 http:\n  addr: {addr}\n",
                root.path().join("data").display()
            ),
        )
        .expect("writing the registry config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting docker-registry (apt-get install docker-registry)");
        let registry = Self {
            child,
            addr,
            _root: root,
        };
        let started = Instant::now();
        while TcpStream::connect(&registry.addr).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the second registry did not listen on {} within 30 s",
                registry.addr
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }
}

impl Drop for SecondRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The JSON entry of `repository` in `--json` output, and its index digest.
fn digest_of(doc: &serde_json::Value, repository: &str) -> String {
    json_image(doc, repository)["digest"]
        .as_str()
        .unwrap_or_else(|| panic!("no digest for {repository} in {doc:#}"))
        .to_string()
}

#[test]
fn two_images_two_registries_semver_tags_and_per_platform_args() {
    let env = TestEnv::get();
    let second = SecondRegistry::start();
    let dir = PlanDir::new("plan-language");
    let base = dir.repository_with("base");
    let app = dir.repository_with("app");
    let app_mirror = format!("{}/{}-app", second.addr, dir.repo_path());

    // The base records its platform (automatic TARGETARCH) and a per-platform build arg.
    dir.write(
        "base/Dockerfile",
        "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nARG TARGETARCH\nARG FLAVOUR\n\
         RUN echo \"$TARGETARCH\" > /arch && echo \"$FLAVOUR\" > /flavour\n",
    );
    // The app starts FROM the base as this plan publishes it, and adds its own per-platform arg.
    dir.write(
        "app/Dockerfile",
        "ARG BASE\nFROM ${BASE}\nARG GREETING\nRUN echo \"$GREETING\" > /greeting\n\
         CMD cat /arch /flavour /greeting\n",
    );
    // The app comes first in the plan: `depends_on` must put the base before it.
    let plan = format!(
        r#"version: 1
registries:
  "{reg}": {{ insecure: true }}
  "{reg2}": {{ insecure: true }}
defaults:
  platforms: [linux/amd64, linux/arm64]
  labels: {{ org.example.plan: "{name}" }}
images:
  - repositories: ["{app}", "{app_mirror}"]
    context: app
    depends_on: ["{base}"]
    tags: [{{ semver: "${{E2E_VERSION}}" }}]
    build_args: {{ BASE: "{base}:1.2.3", GREETING: hello-amd64 }}
    overrides:
      linux/arm64: {{ build_args: {{ GREETING: hello-arm64 }} }}
    annotations:
      index: {{ org.opencontainers.image.version: "${{E2E_VERSION}}" }}
      manifest: {{ org.example.manifest: per-platform }}
  - repository: "{base}"
    context: base
    tags: [{{ semver: "1.2.3", latest: true }}]
    build_args: {{ BASE_IMAGE: "{base_image}", FLAVOUR: generic }}
    overrides:
      linux/arm64/v8: {{ build_args: {{ FLAVOUR: arm-flavour }} }}
"#,
        reg = env.registry,
        reg2 = second.addr,
        name = dir.name,
        base_image = env.base_image,
    );
    dir.write("plan.yaml", &plan);

    // The dry run lists the base's jobs before the app's, with the resolved tags and args.
    let dry = mab()
        .args(["build", "--dry-run"])
        .arg(dir.plan())
        .env("E2E_VERSION", "v1.2.3")
        .env("DOCKER_HOST", NO_DAEMON)
        .run();
    dry.assert_success();
    let first_app = dry.stdout.find(&format!("build {app} ")).expect("app jobs");
    let last_base = dry
        .stdout
        .rfind(&format!("build {base} "))
        .expect("base jobs");
    assert!(last_base < first_app, "the base must be built first\n{dry}");
    for needle in [
        "GREETING=hello-arm64",
        "FLAVOUR=arm-flavour",
        "tag 1.2.3, 1.2, 1 (oci)",
    ] {
        assert!(dry.stdout.contains(needle), "{needle:?} missing\n{dry}");
    }

    let out = mab()
        .args(["build", "--json"])
        .arg(dir.plan())
        .env("E2E_VERSION", "v1.2.3")
        .run();
    out.assert_success();
    let doc = out.json();

    // The same index, by digest, in both registries, under every semver tag.
    let digest = digest_of(&doc, &app);
    assert_eq!(digest_of(&doc, &app_mirror), digest, "{doc:#}");
    assert_eq!(
        json_platforms(json_image(&doc, &app)),
        json_platforms(json_image(&doc, &app_mirror)),
        "the same platform manifests in both repositories"
    );
    for repository in [&app, &app_mirror] {
        for tag in ["1.2.3", "1.2", "1"] {
            let raw = registry_raw(&format!("{repository}:{tag}"));
            assert_eq!(sha256_digest(&raw), digest, "{repository}:{tag}");
        }
        assert_eq!(list_tags(repository), ["1", "1.2", "1.2.3"], "{repository}");
    }
    assert_eq!(
        list_tags(&base),
        ["1", "1.2", "1.2.3", "latest"],
        "the base's semver tags, with latest"
    );

    // Annotations: on the index, and on each platform's manifest; labels in each config.
    let index: serde_json::Value =
        serde_json::from_slice(&registry_raw(&format!("{app_mirror}:1.2.3"))).expect("JSON");
    assert_eq!(index["mediaType"], OCI_INDEX, "{index:#}");
    assert_eq!(
        index["annotations"]["org.opencontainers.image.version"], "v1.2.3",
        "{index:#}"
    );
    for (platform, child, _) in index_entries(&index) {
        let manifest: serde_json::Value =
            serde_json::from_slice(&registry_raw(&format!("{app_mirror}@{child}"))).expect("JSON");
        assert_eq!(
            manifest["annotations"]["org.example.manifest"], "per-platform",
            "{platform}: {manifest:#}"
        );
        let config = registry_config(&format!("{app_mirror}@{child}"));
        assert_eq!(
            config["config"]["Labels"]["org.example.plan"],
            dir.name.as_str(),
            "{platform}: {config:#}"
        );
    }

    // Each platform runs its own build: the base's TARGETARCH and FLAVOUR, the app's GREETING;
    // run from the second registry, which got its copy from the same export.
    let amd64 = docker_run_platform(&format!("{app_mirror}:1.2"), "linux/amd64");
    assert_eq!(
        amd64.split_whitespace().collect::<Vec<_>>(),
        ["amd64", "generic", "hello-amd64"],
        "amd64 printed {amd64:?}"
    );
    let arm64 = docker_run_platform(&format!("{app_mirror}:1"), "linux/arm64");
    assert_eq!(
        arm64.split_whitespace().collect::<Vec<_>>(),
        ["arm64", "arm-flavour", "hello-arm64"],
        "arm64 printed {arm64:?}"
    );
    // The bases the app's build pulled stay in the daemon untagged by mab; drop them.
    let _ = docker(["rmi", &format!("{base}:1.2.3")]);
}

#[test]
fn plan_check_summarises_a_valid_plan_and_exits_2_on_a_bad_one() {
    let dir = PlanDir::new("plan-check");
    dir.write("Dockerfile", &dockerfile("RUN true"));
    dir.write(
        "plan.yaml",
        "version: 1\ndefaults:\n  platforms: [linux/amd64, linux/arm64]\nimages:\n  \
         - repository: 127.0.0.1:5000/e2e/check\n    tags: [{ semver: \"2.1.0\" }]\n",
    );
    let out = mab()
        .args(["plan", "check"])
        .arg(dir.plan())
        .env("DOCKER_HOST", NO_DAEMON)
        .run();
    out.assert_success();
    assert!(
        out.stdout.contains("valid; 1 image x platforms = 2 builds"),
        "{out}"
    );
    assert!(out.stdout.contains("[2.1.0, 2.1, 2]"), "{out}");

    dir.write(
        "plan.yaml",
        "version: 1\nimages:\n  - repository: 127.0.0.1:5000/e2e/check\n    platforms: [linux/amd64]\n    \
         target: nope\n    depends_on: [ghcr.io/team/elsewhere]\n    format: docker\n    \
         annotations: { index: { a: b } }\n",
    );
    let out = mab()
        .args(["plan", "check"])
        .arg(dir.plan())
        .env("DOCKER_HOST", NO_DAEMON)
        .run();
    out.assert_code(2);
    out.assert_stderr_contains(&[
        "has 3 errors",
        "build stage `nope` not found",
        "which is no image of this plan",
        "annotations need `format: oci`",
    ]);
}

#[test]
fn plan_schema_is_the_committed_json_schema() {
    let out = mab().args(["plan", "schema"]).run();
    out.assert_success();
    let schema = out.json();
    assert_eq!(schema["title"], "mab plan", "{schema:#}");
    let committed = examples_dir()
        .parent()
        .map(|root| root.join("docs/plan.schema.json"))
        .expect("workspace root");
    let committed = std::fs::read_to_string(Path::new(&committed)).expect("docs/plan.schema.json");
    assert_eq!(out.stdout, committed, "run `cargo xtask schema`");
}
