//! Supply chain: provenance and SBOM attestations and cosign signatures, checked with clients
//! that are not mab: cosign verifies the signed index with the public key and refuses another
//! key; docker-buildx's `imagetools inspect` finds each platform's provenance and SBOM; crane
//! reads every in-toto statement and its subject; the docker CLI still pulls and runs both
//! platforms. A rerun with nothing changed publishes the same index digest; a wrong key password
//! builds nothing and tags nothing; a signature that cannot be stored moves no tag.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use mab_tests::fault_proxy::{Fault, FaultProxy, Rule};
use mab_tests::*;
use serde_json::Value;

const PASSWORD: &str = "correct horse battery staple";

fn oracle(name: &str) -> PathBuf {
    let value = std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "the supply-chain tests need {name}, which `cargo xtask test` sets (it fetches \
             cosign, crane and docker-buildx)"
        )
    });
    PathBuf::from(value)
}

fn cosign() -> Command {
    let mut cmd = Command::new(oracle("MAB_TEST_COSIGN"));
    // Nothing of cosign's own state on this machine: no TUF root, no config.
    cmd.env("HOME", std::env::temp_dir());
    cmd
}

/// A cosign key pair (`cosign generate-key-pair`) in `dir`, named `prefix.key` / `prefix.pub`.
fn key_pair(dir: &Path, prefix: &str) -> (PathBuf, PathBuf) {
    let mut cmd = cosign();
    cmd.args(["generate-key-pair", "--output-key-prefix", prefix])
        .current_dir(dir)
        .env("COSIGN_PASSWORD", PASSWORD);
    run_command(cmd, Duration::from_secs(60)).assert_success();
    (
        dir.join(format!("{prefix}.key")),
        dir.join(format!("{prefix}.pub")),
    )
}

fn cosign_verify(public_key: &Path, image: &str) -> Output {
    let mut cmd = cosign();
    cmd.arg("verify")
        .arg("--key")
        .arg(public_key)
        .args(["--insecure-ignore-tlog=true", "--allow-http-registry"])
        .arg(image);
    run_command(cmd, Duration::from_secs(120))
}

fn crane(args: &[&str]) -> Output {
    let mut cmd = Command::new(oracle("MAB_TEST_CRANE"));
    cmd.args(args).arg("--insecure");
    let out = run_command(cmd, Duration::from_secs(120));
    out.assert_success();
    out
}

fn buildx_inspect(image: &str, format: &str) -> Value {
    let mut cmd = Command::new("docker");
    cmd.env("DOCKER_CONFIG", oracle("MAB_TEST_BUILDX_CONFIG"))
        .args(["buildx", "imagetools", "inspect", image, "--format", format]);
    let out = run_command(cmd, Duration::from_secs(120));
    out.assert_success();
    out.json()
}

/// A context whose image holds real package databases (this machine's dpkg status, and one
/// package's stanza as a distroless `status.d` file) and a real Go executable (Debian's
/// docker-registry, a tool of the test environment).
fn write_context(dir: &PlanDir) {
    let status = std::fs::read_to_string("/var/lib/dpkg/status").expect("the dpkg database");
    let zlib = status
        .split("\n\n")
        .find(|stanza| stanza.starts_with("Package: zlib1g\n"))
        .expect("zlib1g in this machine's dpkg database");
    dir.write("status", &status);
    dir.write("status.d/zlib1g", &format!("{zlib}\n"));
    std::fs::copy("/usr/bin/docker-registry", dir.path().join("registry"))
        .expect("copying Debian's docker-registry (a Go executable)");
    dir.write(
        "Dockerfile",
        &dockerfile(
            "COPY status /var/lib/dpkg/status\n\
             COPY status.d/ /var/lib/dpkg/status.d/\n\
             COPY registry /usr/local/bin/registry\n\
             CMD [\"uname\", \"-m\"]",
        ),
    );
}

#[test]
fn signed_and_attested_images_verify_with_cosign_buildx_and_crane() {
    let dir = PlanDir::new("supply");
    let home = tempfile::tempdir().expect("MAB_HOME");
    let (_, public) = key_pair(dir.path(), "cosign");
    let (_, other_public) = key_pair(dir.path(), "other");
    write_context(&dir);
    let repo = dir.repository();
    dir.write_plan(&[Image::new(&repo)
        .tags(&["v1"])
        .yaml("attestations: { provenance: true, sbom: true }")
        .yaml("sign: { key: cosign.key, manifests: true }")]);
    let build = || {
        mab()
            .args(["build", "--json"])
            .arg(dir.plan())
            .env("MAB_HOME", home.path())
            .env("COSIGN_PASSWORD", PASSWORD)
            .run()
    };
    let first = build();
    first.assert_success();
    let digest = index_digest(&first, &repo);
    let platforms = json_platforms(json_image(&first.json(), &repo));
    assert!(
        !first.all().contains(PASSWORD),
        "the password never shows:\n{}",
        first.all()
    );

    // cosign: the index (and each platform's manifest) is signed with the key, not another.
    cosign_verify(&public, &format!("{repo}:v1")).assert_success();
    cosign_verify(&public, &format!("{repo}@{digest}")).assert_success();
    for (_, platform_digest) in &platforms {
        cosign_verify(&public, &format!("{repo}@{platform_digest}")).assert_success();
    }
    let refused = cosign_verify(&other_public, &format!("{repo}:v1"));
    assert!(
        !refused.success(),
        "another key must not verify:\n{refused}"
    );

    // crane: the index lists each platform, then one attestation manifest per platform, whose
    // statements are about that platform's manifest.
    let index: Value =
        serde_json::from_str(&crane(&["manifest", &format!("{repo}:v1")]).stdout).expect("index");
    let entries = index["manifests"].as_array().expect("manifests").clone();
    assert_eq!(entries.len(), 4, "{index:#}");
    for (platform, platform_digest) in &platforms {
        let attestation = entries
            .iter()
            .find(|e| e["annotations"]["vnd.docker.reference.digest"] == *platform_digest)
            .unwrap_or_else(|| panic!("no attestation manifest for {platform}: {index:#}"));
        assert_eq!(
            attestation["annotations"]["vnd.docker.reference.type"],
            "attestation-manifest"
        );
        assert_eq!(platform_string(&attestation["platform"]), "unknown/unknown");
        let manifest: Value = serde_json::from_str(
            &crane(&[
                "manifest",
                &format!("{repo}@{}", attestation["digest"].as_str().unwrap()),
            ])
            .stdout,
        )
        .expect("attestation manifest");
        let mut predicates = Vec::new();
        for layer in manifest["layers"].as_array().expect("layers") {
            assert_eq!(layer["mediaType"], "application/vnd.in-toto+json");
            let statement: Value = serde_json::from_str(
                &crane(&[
                    "blob",
                    &format!("{repo}@{}", layer["digest"].as_str().unwrap()),
                ])
                .stdout,
            )
            .expect("statement");
            assert_eq!(
                statement["subject"][0]["digest"]["sha256"].as_str(),
                platform_digest.strip_prefix("sha256:"),
                "{statement:#}"
            );
            assert_eq!(
                layer["annotations"]["in-toto.io/predicate-type"],
                statement["predicateType"]
            );
            predicates.push(statement["predicateType"].as_str().unwrap().to_string());
        }
        assert_eq!(
            predicates,
            [
                "https://slsa.dev/provenance/v1",
                "https://spdx.dev/Document"
            ]
        );
    }

    // docker buildx imagetools: provenance and SBOM of each platform.
    let image = format!("{repo}:v1");
    let provenance = buildx_inspect(&image, "{{json .Provenance}}");
    let sbom = buildx_inspect(&image, "{{json .SBOM}}");
    for (platform, _) in &platforms {
        let key = if platform == "linux/arm64/v8" {
            "linux/arm64"
        } else {
            platform.as_str()
        };
        let slsa = &provenance[key]["SLSA"];
        let definition = &slsa["buildDefinition"];
        assert_eq!(
            definition["externalParameters"]["platform"], *platform,
            "{slsa:#}"
        );
        assert_eq!(definition["externalParameters"]["plan"], "plan.yaml");
        let dependencies = definition["resolvedDependencies"].as_array().expect("deps");
        let named = |name: &str| dependencies.iter().filter(|d| d["name"] == name).count();
        assert_eq!(
            (named("plan"), named("context"), named("dockerfile")),
            (1, 1, 1)
        );
        let base = dependencies
            .iter()
            .find(|d| d["name"] == "base")
            .unwrap_or_else(|| panic!("no base image in {slsa:#}"));
        assert!(
            base["digest"]["sha256"].is_string(),
            "the base by digest: {base:#}"
        );
        assert!(slsa["runDetails"]["metadata"]["startedOn"].is_string());
        assert!(slsa["runDetails"]["builder"]["version"]["docker"].is_string());

        let spdx = &sbom[key]["SPDX"];
        assert_eq!(spdx["spdxVersion"], "SPDX-2.3");
        let packages = spdx["packages"].as_array().expect("packages");
        let found = |name: &str, source: &str| {
            packages.iter().any(|p| {
                p["name"] == name && p["sourceInfo"].as_str().unwrap_or("").contains(source)
            })
        };
        assert!(
            found("libc6", "/var/lib/dpkg/status"),
            "libc6 from the dpkg status"
        );
        assert!(
            found("zlib1g", "/var/lib/dpkg/status.d/zlib1g"),
            "zlib1g from status.d"
        );
        assert!(
            found(
                "github.com/docker/distribution/cmd/registry",
                "/usr/local/bin/registry"
            ),
            "the Go executable's main package"
        );
        assert!(
            found("stdlib", "/usr/local/bin/registry"),
            "the Go toolchain"
        );
    }

    // mab verify checks the attestations' subjects and, with the key, the signature.
    let verified = mab()
        .args(["verify", "--insecure", "--json", "--key"])
        .arg(&public)
        .arg(&image)
        .run();
    verified.assert_success();
    let report = verified.json();
    assert_eq!(
        report["attestations"].as_array().map(Vec::len),
        Some(2),
        "{report:#}"
    );
    mab()
        .args(["verify", "--insecure", "--key"])
        .arg(&other_public)
        .arg(&image)
        .run()
        .assert_code(1)
        .assert_stderr_contains(&["is not signed with the key"]);

    // A rerun with nothing changed: the same statements (remembered with their times), the
    // same index digest, still verifying. (Before `docker run`, whose clean-up of the pulled
    // image also drops the classic builder's cached image: its rebuild would be another image.)
    let second = build();
    second.assert_success();
    assert_eq!(index_digest(&second, &repo), digest, "{}", second.all());
    cosign_verify(&public, &format!("{repo}:v1")).assert_success();

    // The image still pulls and runs on both platforms.
    assert_eq!(docker_run_platform(&image, "linux/amd64").trim(), "x86_64");
    assert_eq!(docker_run_platform(&image, "linux/arm64").trim(), "aarch64");
}

#[test]
fn a_wrong_key_password_builds_nothing_and_tags_nothing() {
    let dir = PlanDir::new("supply-password");
    key_pair(dir.path(), "cosign");
    dir.write("Dockerfile", &dockerfile("RUN uname -m > /arch"));
    let repo = dir.repository();
    dir.write_plan(&[Image::new(&repo).yaml("sign: { key: cosign.key }")]);
    let out = mab()
        .arg("build")
        .arg(dir.plan())
        .env("COSIGN_PASSWORD", "not the password")
        .run();
    out.assert_code(1).assert_stderr_contains(&[
        "cannot use signing key",
        "cosign.key",
        "the password does not decrypt the key",
    ]);
    assert!(!out.all().contains("not the password"), "{out}");
    assert!(
        !registry_has(&format!("{repo}:latest")),
        "nothing is tagged"
    );
    let unset = mab()
        .arg("build")
        .arg(dir.plan())
        .env_remove("COSIGN_PASSWORD")
        .run();
    unset
        .assert_code(1)
        .assert_stderr_contains(&["COSIGN_PASSWORD is not set"]);
}

#[test]
fn a_signature_that_cannot_be_stored_moves_no_tag() {
    let env = TestEnv::get();
    // The registry refuses the signature's tag (`sha256-HEX.sig`), nothing else.
    let proxy = FaultProxy::start(
        &env.registry,
        vec![Rule::new(
            "PUT",
            "/manifests/sha256-",
            Fault::Status(403),
            100,
        )],
    );
    let dir = PlanDir::new("supply-sig-refused");
    key_pair(dir.path(), "cosign");
    dir.write("Dockerfile", &dockerfile("RUN uname -m > /arch"));
    let repo = format!("{}/{}", proxy.address(), dir.repo_path());
    dir.write_plan(&[Image::new(&repo)
        .yaml("attestations: { provenance: true }")
        .yaml("sign: { key: cosign.key }")]);
    mab()
        .arg("build")
        .arg(dir.plan())
        .env("COSIGN_PASSWORD", PASSWORD)
        .run()
        .assert_code(1);
    let direct = format!("{}/{}", env.registry, dir.repo_path());
    assert!(
        !registry_has(&format!("{direct}:latest")),
        "the image's tag did not move"
    );
}
