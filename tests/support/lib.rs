//! Shared helpers for the end-to-end tests.
//!
//! The tests drive the real `mab` binary against a real Docker daemon, a real registry and
//! QEMU emulation, and check the results with independent clients (skopeo, the docker CLI).
//! `cargo xtask test` brings all of that up and passes it in the environment:
//!
//! | variable              | what                                                          |
//! |-----------------------|---------------------------------------------------------------|
//! | `MAB_BIN`             | absolute path of the `mab` binary under test                  |
//! | `MAB_TEST_REGISTRY`   | `127.0.0.1:PORT`, a throwaway plain-HTTP registry             |
//! | `MAB_TEST_BASE_IMAGE` | `REG/mab-base/busybox:latest`, linux/amd64 + linux/arm64/v8   |
//! | `MAB_TEST_AMD64_BASE` | optional: the amd64 base alone (`REG/mab-base/busybox:amd64`) |
//! | `MAB_TEST_ARM64_BASE` | optional: the arm64 base alone (`REG/mab-base/busybox:arm64`) |
//! | `MAB_TEST_REGISTRY_LOG` | the registry's log: a line per request (URI, status, bytes) |
//! | `DOCKER_HOST`         | the daemon (inherited by mab, docker and the tests)           |
//! | `MAB_TEST_BUILDER`    | optional: `classic` runs every `mab build` with `--set '*.builder=classic'` |
//! | `MAB_TEST_RUN_LIMIT`  | optional: seconds one mab run may take before it is killed (default 240) |
//! | `MAB_TEST_COSIGN`     | cosign 2.5 (Debian trixie), for the supply-chain tests        |
//! | `MAB_TEST_CRANE`      | crane (Debian sid)                                            |
//! | `MAB_TEST_BUILDX_CONFIG` | a `DOCKER_CONFIG` folder with the docker-buildx plugin     |
//!
//! Without them [`TestEnv::get`] panics: the tests never skip silently.

pub mod dockerd;
pub mod fault_proxy;
pub mod secure_registry;
pub mod token_registry;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fmt;
use std::hash::{BuildHasher as _, Hasher as _};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::Digest as _;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// The annotation that names an image in an OCI image layout's index.json.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// A DOCKER_HOST where no daemon is.
pub const NO_DAEMON: &str = "unix:///nonexistent/docker.sock";

/// How long one mab run may take before it is killed and its test fails: a hang fails fast
/// instead of holding CI. `MAB_TEST_RUN_LIMIT` (seconds) changes it for every run;
/// [`Mab::limit`] for one run.
const MAB_TIMEOUT: Duration = Duration::from_secs(4 * 60);
/// How long one docker or skopeo command may take.
const TOOL_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// The environment `cargo xtask test` brings up.
#[derive(Debug)]
pub struct TestEnv {
    pub mab_bin: PathBuf,
    /// `127.0.0.1:PORT`.
    pub registry: String,
    /// The multi-platform busybox base image.
    pub base_image: String,
    pub amd64_base: Option<String>,
    pub arm64_base: Option<String>,
    /// The test registry's log: one line per request, with its URI, status and the bytes
    /// the registry wrote back.
    pub registry_log: PathBuf,
}

impl TestEnv {
    /// Reads the environment; panics with what is missing.
    pub fn get() -> &'static TestEnv {
        static ENV: OnceLock<TestEnv> = OnceLock::new();
        ENV.get_or_init(|| {
            let registry = required("MAB_TEST_REGISTRY");
            let base_image = required("MAB_TEST_BASE_IMAGE");
            let mab_bin = PathBuf::from(required("MAB_BIN"));
            assert!(
                mab_bin.is_file(),
                "MAB_BIN={} is not a file: build it with `cargo build -p mab-cli` (cargo xtask \
                 test does)",
                mab_bin.display()
            );
            TestEnv {
                mab_bin,
                registry,
                base_image,
                amd64_base: optional("MAB_TEST_AMD64_BASE"),
                arm64_base: optional("MAB_TEST_ARM64_BASE"),
                registry_log: PathBuf::from(required("MAB_TEST_REGISTRY_LOG")),
            }
        })
    }
}

fn required(name: &str) -> String {
    optional(name).unwrap_or_else(|| {
        panic!(
            "the end-to-end tests need the environment that `cargo xtask test` brings up \
             (missing {name})"
        )
    })
}

fn optional(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

// ---------------------------------------------------------------------------------------------
// Running commands

/// What a command did.
#[derive(Debug, Clone)]
pub struct Output {
    pub cmdline: String,
    /// The exit code; `None` if a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "$ {}", self.cmdline)?;
        writeln!(
            f,
            "exit code: {:?} ({:.1} s)",
            self.code,
            self.took.as_secs_f64()
        )?;
        writeln!(f, "--- stdout ---\n{}", self.stdout.trim_end())?;
        write!(f, "--- stderr ---\n{}", self.stderr.trim_end())
    }
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Panics, showing everything, unless the exit code is `code`.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "expected exit code {code}, got {:?}\n{self}",
            self.code
        );
        self
    }

    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        self.assert_code(0)
    }

    /// Panics unless stderr contains every one of `needles`.
    #[track_caller]
    pub fn assert_stderr_contains(&self, needles: &[&str]) -> &Self {
        for n in needles {
            assert!(
                self.stderr.contains(n),
                "stderr does not contain {n:?}\n{self}"
            );
        }
        self
    }

    /// Panics unless a line of stderr starts with `error: `.
    #[track_caller]
    pub fn assert_error_line(&self) -> &Self {
        assert!(
            self.stderr.lines().any(|l| l.starts_with("error: ")),
            "no line of stderr starts with \"error: \"\n{self}"
        );
        self
    }

    /// stdout parsed as exactly one JSON document.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e})\n{self}"))
    }

    /// stdout and stderr together.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Runs `cmd` with stdin closed and stdout/stderr captured; kills it and panics after
/// `timeout` (so a hung program fails its test instead of holding the suite). Panics if it
/// cannot be started.
pub fn run_command(mut cmd: Command, timeout: Duration) -> Output {
    let cmdline = display(&cmd);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `{cmdline}`: {e}"));
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        buf
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for a child") {
            break status;
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            let stdout = out_reader.join().unwrap_or_default();
            let stderr = err_reader.join().unwrap_or_default();
            panic!(
                "`{cmdline}` did not finish within {} s\n--- stdout ---\n{}\n--- stderr ---\n{}",
                timeout.as_secs(),
                String::from_utf8_lossy(&stdout),
                String::from_utf8_lossy(&stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    Output {
        cmdline,
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        took: started.elapsed(),
    }
}

fn display(cmd: &Command) -> String {
    let mut s = String::new();
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => s.push_str(&format!("{}={} ", k.to_string_lossy(), v.to_string_lossy())),
            None => s.push_str(&format!("-u {} ", k.to_string_lossy())),
        }
    }
    s.push_str(&cmd.get_program().to_string_lossy());
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// A `mab` command to run: `mab().args([...]).env(..).run()`.
///
/// MAB_REGISTRY and MAB_BASE_IMAGE are removed from its environment unless set here, so a
/// developer's shell does not leak into the tests.
pub struct Mab {
    cmd: Command,
    limit: Option<Duration>,
}

pub fn mab() -> Mab {
    let env = TestEnv::get();
    let mut cmd = Command::new(&env.mab_bin);
    cmd.env_remove("MAB_REGISTRY").env_remove("MAB_BASE_IMAGE");
    Mab { cmd, limit: None }
}

/// How long a mab run may take unless the test says otherwise: `MAB_TEST_RUN_LIMIT` seconds, or
/// 4 minutes.
pub fn run_limit() -> Duration {
    optional("MAB_TEST_RUN_LIMIT")
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(MAB_TIMEOUT)
}

impl Mab {
    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Self {
        self.cmd.arg(a);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn env(mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> Self {
        self.cmd.env(k, v);
        self
    }

    pub fn env_remove(mut self, k: impl AsRef<OsStr>) -> Self {
        self.cmd.env_remove(k);
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.cmd.current_dir(dir);
        self
    }

    /// Kills the run and fails the test when it takes longer than `limit` (instead of
    /// [`run_limit`]).
    pub fn limit(mut self, limit: Duration) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Runs it; a `mab build` gets `--set '*.builder=B'` when `MAB_TEST_BUILDER=B` is set (so
    /// that the whole suite can run with the classic builder too).
    pub fn run(mut self) -> Output {
        let is_build = self.cmd.get_args().next().is_some_and(|a| a == "build");
        if is_build && let Some(builder) = test_builder() {
            self.cmd.arg("--set").arg(format!("*.builder={builder}"));
        }
        let limit = self.limit.unwrap_or_else(run_limit);
        run_command(self.cmd, limit)
    }
}

/// The builder every `mab build` of the tests is made to use (`MAB_TEST_BUILDER`), if any.
pub fn test_builder() -> Option<String> {
    optional("MAB_TEST_BUILDER")
}

/// Whether a build's output says that a step came from the cache, in the words of the builder
/// the tests run with (BuildKit's `CACHED`, the classic builder's `Using cache`).
pub fn says_a_step_was_cached(text: &str) -> bool {
    match test_builder().as_deref() {
        Some("classic") => text.contains("Using cache"),
        _ => text.contains("CACHED"),
    }
}

/// `docker ARGS` (talking to DOCKER_HOST).
pub fn docker<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new("docker");
    cmd.args(args);
    run_command(cmd, TOOL_TIMEOUT)
}

/// `skopeo ARGS`.
pub fn skopeo<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new("skopeo");
    cmd.args(args);
    run_command(cmd, TOOL_TIMEOUT)
}

// ---------------------------------------------------------------------------------------------
// Oracles

/// The raw manifest (or index) bytes of `image` (`REG/repo:tag` or `REG/repo@sha256:...`) in
/// the registry, read with skopeo. Panics if it is not there.
#[track_caller]
pub fn registry_raw(image: &str) -> Vec<u8> {
    let out = skopeo([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{image}"),
    ]);
    out.assert_success();
    out.stdout.into_bytes()
}

/// Where the test registry's log ends now: [`registry_reads_since`] reads from there.
pub fn registry_log_mark() -> u64 {
    std::fs::metadata(&TestEnv::get().registry_log).map_or(0, |m| m.len())
}

/// The blob reads (`GET /v2/REPO/blobs/DIGEST`) the test registry logged after `mark` for
/// repositories whose path contains `repository_path`: (digest, status, bytes written back).
/// The registry logs a request once it has answered it, a moment after its client has the
/// answer: reads until `until` holds of them, for at most 5 s.
pub fn registry_reads_since(
    mark: u64,
    repository_path: &str,
    until: impl Fn(&[(String, u16, u64)]) -> bool,
) -> Vec<(String, u16, u64)> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = std::fs::read(&TestEnv::get().registry_log).unwrap_or_default();
        let text = String::from_utf8_lossy(log.get(mark as usize..).unwrap_or_default());
        let reads: Vec<(String, u16, u64)> = text
            .lines()
            .filter(|l| l.contains("http.request.method=GET"))
            .filter_map(|l| {
                let field = |key: &str| {
                    let at = l.find(key)? + key.len();
                    let rest = l[at..].trim_start_matches('"');
                    rest.split(['"', ' ']).next().map(str::to_string)
                };
                let uri = field("http.request.uri=")?;
                let (path, digest) = uri.split_once("/blobs/")?;
                if !path.contains(repository_path) || !digest.starts_with("sha256:") {
                    return None;
                }
                Some((
                    digest.to_string(),
                    field("http.response.status=")?.parse().ok()?,
                    field("http.response.written=")?.parse().ok()?,
                ))
            })
            .collect();
        if until(&reads) || Instant::now() > deadline {
            return reads;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether skopeo finds `image` in the registry.
pub fn registry_has(image: &str) -> bool {
    skopeo([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{image}"),
    ])
    .success()
}

/// The image config of `image` (a single-platform manifest reference), read with skopeo.
#[track_caller]
pub fn registry_config(image: &str) -> Value {
    let out = skopeo([
        "inspect",
        "--config",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{image}"),
    ]);
    out.assert_success();
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("config is not JSON ({e})\n{out}"))
}

/// The tags of `repository` in the registry, sorted.
#[track_caller]
pub fn list_tags(repository: &str) -> Vec<String> {
    let out = skopeo([
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{repository}"),
    ]);
    out.assert_success();
    let v = out.json();
    let mut tags: Vec<String> = v["Tags"]
        .as_array()
        .unwrap_or_else(|| panic!("no Tags in skopeo list-tags\n{out}"))
        .iter()
        .filter_map(|t| t.as_str().map(str::to_string))
        .collect();
    tags.sort();
    tags
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// `os/architecture[/variant]` of a descriptor's or config's platform fields.
pub fn platform_string(p: &Value) -> String {
    let mut s = format!(
        "{}/{}",
        p["os"].as_str().unwrap_or("?"),
        p["architecture"].as_str().unwrap_or("?")
    );
    if let Some(v) = p["variant"].as_str().filter(|v| !v.is_empty()) {
        s.push('/');
        s.push_str(v);
    }
    s
}

/// The (platform, digest, mediaType) of each manifest an index lists.
#[track_caller]
pub fn index_entries(index: &Value) -> Vec<(String, String, String)> {
    index["manifests"]
        .as_array()
        .unwrap_or_else(|| panic!("no manifests array in {index:#}"))
        .iter()
        .map(|d| {
            (
                platform_string(&d["platform"]),
                d["digest"].as_str().unwrap_or("").to_string(),
                d["mediaType"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Runs `image` for `platform` (`docker run --rm --pull always --platform P`), returns its
/// stdout, and removes the pulled image. Panics if the run fails.
#[track_caller]
pub fn docker_run_platform(image: &str, platform: &str) -> String {
    docker_run_platform_command(image, platform, &[])
}

/// [`docker_run_platform`] with a command instead of the image's own.
#[track_caller]
pub fn docker_run_platform_command(image: &str, platform: &str, command: &[&str]) -> String {
    let mut args = vec![
        "run",
        "--rm",
        "--pull",
        "always",
        "--network",
        "none",
        "--platform",
        platform,
        image,
    ];
    args.extend_from_slice(command);
    let out = docker(args);
    let _ = docker(["rmi", image]);
    out.assert_success();
    out.stdout
}

/// A 127.0.0.1 port that nothing listens on.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("binding 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// The workspace's examples/ directory.
pub fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .join("examples")
}

// ---------------------------------------------------------------------------------------------
// Plans

/// A name unique to this test run: `<test>-<8 random hex digits>`, lowercase.
pub fn unique_name(test: &str) -> String {
    let mut clean: String = test
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    clean.truncate(40);
    let clean = clean.trim_matches('-');
    // RandomState is seeded randomly per instance.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    format!("{clean}-{:08x}", h.finish() as u32)
}

/// A temporary folder for one test's plan and build contexts, with a repository name unique
/// to the test: `REG/e2e/<test>-<random>`.
pub struct PlanDir {
    dir: tempfile::TempDir,
    /// `<test>-<random>`.
    pub name: String,
}

impl PlanDir {
    pub fn new(test: &str) -> Self {
        let name = unique_name(test);
        let dir = tempfile::Builder::new()
            .prefix(&format!("mab-e2e-{name}-"))
            .tempdir()
            .expect("creating a temporary directory");
        Self { dir, name }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `<dir>/plan.yaml`.
    pub fn plan(&self) -> PathBuf {
        self.path().join("plan.yaml")
    }

    /// `e2e/<name>`: the repository path without the registry.
    pub fn repo_path(&self) -> String {
        format!("e2e/{}", self.name)
    }

    /// `REG/e2e/<name>`.
    pub fn repository(&self) -> String {
        format!("{}/{}", TestEnv::get().registry, self.repo_path())
    }

    /// `REG/e2e/<name>-<suffix>`, for plans with several images.
    pub fn repository_with(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.repository())
    }

    /// Writes `contents` to `rel` under the folder (creating parents); returns the path.
    pub fn write(&self, rel: &str, contents: &str) -> PathBuf {
        let p = self.path().join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("creating a folder");
        }
        std::fs::write(&p, contents).expect("writing a file");
        p
    }

    /// Writes plan.yaml from `images` (see [`plan_yaml`]); returns its path.
    pub fn write_plan(&self, images: &[Image]) -> PathBuf {
        self.write("plan.yaml", &plan_yaml(images))
    }
}

/// A Dockerfile starting from the test base image (passed as build arg BASE_IMAGE), then
/// `body`.
pub fn dockerfile(body: &str) -> String {
    format!("ARG BASE_IMAGE\nFROM ${{BASE_IMAGE}}\n{body}\n")
}

/// One image of a plan written by [`plan_yaml`].
#[derive(Clone, Debug)]
pub struct Image {
    pub repository: String,
    pub context: String,
    pub dockerfile: Option<String>,
    pub platforms: Vec<String>,
    pub tags: Vec<String>,
    /// `oci` (the default when `None`) or `docker`.
    pub format: Option<String>,
    /// More keys of the image, as YAML lines (`secrets: [...]`).
    pub extra: Vec<String>,
}

impl Image {
    /// `repository` built from context `.` for linux/amd64 and linux/arm64, tagged `latest`.
    pub fn new(repository: &str) -> Self {
        Self {
            repository: repository.to_string(),
            context: ".".into(),
            dockerfile: None,
            platforms: vec!["linux/amd64".into(), "linux/arm64".into()],
            tags: vec!["latest".into()],
            format: None,
            extra: Vec::new(),
        }
    }

    /// Adds a key of the image, as one YAML line (`secrets: [{id: a, env: A}]`).
    pub fn yaml(mut self, line: &str) -> Self {
        self.extra.push(line.to_string());
        self
    }

    pub fn context(mut self, c: &str) -> Self {
        self.context = c.into();
        self
    }

    pub fn platforms(mut self, p: &[&str]) -> Self {
        self.platforms = p.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn tags(mut self, t: &[&str]) -> Self {
        self.tags = t.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn format(mut self, f: &str) -> Self {
        self.format = Some(f.into());
        self
    }
}

/// A plan: every image's registry marked insecure, BASE_IMAGE = the test base image.
pub fn plan_yaml(images: &[Image]) -> String {
    let env = TestEnv::get();
    let q = |s: &str| serde_json::to_string(s).expect("a string");
    let list = |v: &[String]| v.iter().map(|s| q(s)).collect::<Vec<_>>().join(", ");
    let registries: BTreeSet<&str> = images
        .iter()
        .map(|i| i.repository.split('/').next().unwrap_or(""))
        .collect();
    let mut y = String::from("version: 1\nregistries:\n");
    for r in registries {
        y.push_str(&format!("  {}: {{ insecure: true }}\n", q(r)));
    }
    y.push_str("images:\n");
    for i in images {
        y.push_str(&format!("  - repository: {}\n", q(&i.repository)));
        y.push_str(&format!("    context: {}\n", q(&i.context)));
        if let Some(d) = &i.dockerfile {
            y.push_str(&format!("    dockerfile: {}\n", q(d)));
        }
        y.push_str(&format!("    platforms: [{}]\n", list(&i.platforms)));
        y.push_str(&format!("    tags: [{}]\n", list(&i.tags)));
        if let Some(f) = &i.format {
            y.push_str(&format!("    format: {}\n", q(f)));
        }
        y.push_str(&format!(
            "    build_args: {{ BASE_IMAGE: {} }}\n",
            q(&env.base_image)
        ));
        for line in &i.extra {
            y.push_str(&format!("    {line}\n"));
        }
    }
    y
}

/// The version of the test daemon's engine (`20.10.24+dfsg1`), as (major, minor).
pub fn engine_version() -> (u32, u32) {
    let out = docker(["version", "--format", "{{.Server.Version}}"]);
    out.assert_success();
    let text = out.stdout.trim();
    let mut parts = text.split(['.', '+', '-']);
    let major = parts.next().and_then(|p| p.parse().ok());
    let minor = parts.next().and_then(|p| p.parse().ok());
    match (major, minor) {
        (Some(major), Some(minor)) => (major, minor),
        _ => panic!("cannot read the engine version {text:?}"),
    }
}

/// The entry of `repository` in mab's `--json` output; panics unless there is exactly one.
#[track_caller]
pub fn json_image<'a>(doc: &'a Value, repository: &str) -> &'a Value {
    let images = doc["images"]
        .as_array()
        .unwrap_or_else(|| panic!("no images array in {doc:#}"));
    let found: Vec<&Value> = images
        .iter()
        .filter(|i| i["repository"] == repository)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one entry for {repository} in {doc:#}"
    );
    found[0]
}

/// The index digest `mab build --json` reports for `repository`.
#[track_caller]
pub fn index_digest(out: &Output, repository: &str) -> String {
    json_image(&out.json(), repository)["digest"]
        .as_str()
        .expect("digest")
        .to_string()
}

/// The (platform, digest) pairs of a `--json` image entry, sorted by platform.
#[track_caller]
pub fn json_platforms(image: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = image["platforms"]
        .as_array()
        .unwrap_or_else(|| panic!("no platforms array in {image:#}"))
        .iter()
        .map(|p| {
            (
                p["platform"].as_str().unwrap_or("").to_string(),
                p["digest"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

/// The media types of the layers of the manifest `platform_digest` in `repository`.
#[track_caller]
pub fn layer_media_types(repository: &str, platform_digest: &str) -> Vec<String> {
    let raw = registry_raw(&format!("{repository}@{platform_digest}"));
    let manifest: Value = serde_json::from_slice(&raw).expect("manifest");
    manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["mediaType"].as_str().expect("mediaType").to_string())
        .collect()
}

/// Copies every platform of `image` (a tag in the test registry) with skopeo into an OCI
/// layout, which reads every blob and checks its digest.
#[track_caller]
pub fn skopeo_copies_whole(image: &str) {
    let copy = tempfile::tempdir().expect("copy folder");
    skopeo([
        "copy",
        "--all",
        "--src-tls-verify=false",
        &format!("docker://{image}"),
        &format!("oci:{}", copy.path().display()),
    ])
    .assert_success();
}

/// The sorted strings of a JSON array.
#[track_caller]
pub fn strings(v: &Value) -> Vec<String> {
    let mut s: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| {
            x.as_str()
                .unwrap_or_else(|| panic!("not a string: {x}"))
                .to_string()
        })
        .collect();
    s.sort();
    s
}

/// Whether a process on this machine has `marker` in its command line: a build step's process
/// (the classic builder's container and BuildKit's runc both run it here).
pub fn process_running(marker: &str) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        let is_pid = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
        is_pid
            && std::fs::read(entry.path().join("cmdline"))
                .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains(marker))
    })
}

/// Whether a failed build's message says that a step exited non-zero, in the words of the
/// classic builder or of BuildKit (old and new).
pub fn says_a_step_failed(text: &str) -> bool {
    [
        "returned a non-zero code",
        "executor failed running",
        "did not complete successfully",
    ]
    .iter()
    .any(|words| text.contains(words))
}

/// A static x86-64 program that lists the identities of the ssh agent at `$SSH_AUTH_SOCK`, one
/// comment per line (after a count line), compiled into `dir` with gcc: an oracle for ssh
/// forwarding inside a build (the busybox base has no ssh client).
pub fn agent_list_program(dir: &Path) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("support/c/agent_list.c");
    let program = dir.join("agent-list");
    let mut cmd = Command::new("gcc");
    cmd.args(["-static", "-O2", "-o"])
        .arg(&program)
        .arg(&source);
    run_command(cmd, TOOL_TIMEOUT).assert_success();
    program
}

/// Whether the test daemon keeps its images in the containerd image store (where the engine
/// pushes what it builds, by default).
pub fn containerd_image_store() -> bool {
    let info = docker(["info", "--format", "{{json .DriverStatus}}"]);
    info.assert_success();
    info.stdout.contains("io.containerd.snapshotter")
}
