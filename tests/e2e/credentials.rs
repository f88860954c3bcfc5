//! Credentials and transport against a real registry with TLS (a CA made in the test) and
//! htpasswd authentication: the right password from the docker config pushes; a wrong or missing
//! one fails naming the registry; an unknown CA fails the TLS check; a private base image is
//! pulled by the daemon with the same credentials; an identity token (a registry with token
//! authentication) is traded for an access token per repository; no secret shows in any output.

use mab_tests::secure_registry::SecureRegistry;
use mab_tests::token_registry::TokenRegistry;
use mab_tests::*;

const PASSWORD: &str = "Pa55-w0rd-n3ver-printed";

/// A plan pushing to the secure registry, trusting its CA when `trust_ca`.
fn write_plan(dir: &PlanDir, registry: &SecureRegistry, trust_ca: bool) -> String {
    let env = TestEnv::get();
    let repository = format!("{}/{}", registry.address, dir.repo_path());
    let trust = if trust_ca {
        format!(
            "{{ ca_cert: {:?} }}",
            registry.ca_pem().display().to_string()
        )
    } else {
        "{}".to_string()
    };
    dir.write("Dockerfile", &dockerfile("RUN uname -m > /arch"));
    dir.write(
        "plan.yaml",
        &format!(
            "version: 1\nregistries:\n  {base_registry:?}: {{ insecure: true }}\n  {address:?}: {trust}\n\
             images:\n  - repository: {repository}\n    platforms: [linux/amd64, linux/arm64]\n\
             \x20   build_args: {{ BASE_IMAGE: {base:?} }}\n",
            base_registry = env.registry,
            address = registry.address,
            base = env.base_image,
        ),
    );
    repository
}

/// `mab build` of the plan in `dir` with the docker config folder `config`.
fn build_with(dir: &PlanDir, config: &std::path::Path) -> Output {
    mab()
        .arg("build")
        .arg(dir.plan())
        .env("DOCKER_CONFIG", config)
        .run()
}

fn assert_no_password(out: &Output) {
    assert!(
        !out.all().contains(PASSWORD) && !out.all().contains("wrong-password"),
        "a password appeared in the output:\n{}",
        out.all()
    );
}

#[test]
fn pushes_with_docker_config_credentials_over_verified_tls() {
    let registry = SecureRegistry::start("mab-user", PASSWORD);
    let dir = PlanDir::new("credentials-ok");
    let repository = write_plan(&dir, &registry, true);
    let config = registry.docker_config(PASSWORD, &dir.path().join("docker"));

    let out = mab()
        .args(["build", "--json"])
        .arg(dir.plan())
        .env("DOCKER_CONFIG", &config)
        .run();
    out.assert_success();
    assert_no_password(&out);
    let digest = json_image(&out.json(), &repository)["digest"]
        .as_str()
        .expect("digest")
        .to_string();

    // skopeo, with the same credentials and CA, reads the index mab reported.
    let raw = skopeo([
        "inspect",
        "--raw",
        "--creds",
        &format!("mab-user:{PASSWORD}"),
        "--cert-dir",
        &registry.cert_dir().display().to_string(),
        &format!("docker://{repository}:latest"),
    ]);
    raw.assert_success();
    assert_eq!(sha256_digest(raw.stdout.as_bytes()), digest);
}

#[test]
fn a_wrong_or_missing_password_fails_naming_the_registry() {
    let registry = SecureRegistry::start("mab-user", PASSWORD);
    let dir = PlanDir::new("credentials-bad");
    write_plan(&dir, &registry, true);

    let wrong = registry.docker_config("wrong-password", &dir.path().join("wrong"));
    let out = build_with(&dir, &wrong);
    out.assert_code(1)
        .assert_error_line()
        .assert_stderr_contains(&[&registry.address, "authentication failed"]);
    assert_no_password(&out);

    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).expect("empty docker config");
    let out = build_with(&dir, &empty);
    out.assert_code(1)
        .assert_stderr_contains(&[&registry.address, "authentication failed"]);
}

#[test]
fn an_untrusted_certificate_is_refused() {
    let registry = SecureRegistry::start("mab-user", PASSWORD);
    let dir = PlanDir::new("credentials-tls");
    write_plan(&dir, &registry, false);
    let config = registry.docker_config(PASSWORD, &dir.path().join("docker"));
    let out = build_with(&dir, &config);
    out.assert_code(1)
        .assert_error_line()
        .assert_stderr_contains(&[&registry.address, "certificate"]);
    assert_no_password(&out);
}

/// The daemon trusts the secure registry's CA while this lives: `/etc/docker/certs.d/HOST:PORT`,
/// which the daemon reads at each pull (as `docker login` users set it up).
struct DaemonTrust(std::path::PathBuf);

impl DaemonTrust {
    fn new(registry: &SecureRegistry) -> Self {
        let dir = std::path::Path::new("/etc/docker/certs.d").join(&registry.address);
        std::fs::create_dir_all(&dir).expect("/etc/docker/certs.d (the tests run as root)");
        std::fs::copy(registry.ca_pem(), dir.join("ca.crt")).expect("ca.crt");
        Self(dir)
    }
}

impl Drop for DaemonTrust {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_private_base_image_is_pulled_with_docker_config_credentials() {
    let env = TestEnv::get();
    let registry = SecureRegistry::start("mab-user", PASSWORD);
    let _trust = DaemonTrust::new(&registry);
    // The multi-arch test base, copied into the private registry (skopeo, with the password).
    let base = format!("{}/private/busybox:latest", registry.address);
    skopeo([
        "copy",
        "--all",
        "--src-tls-verify=false",
        "--dest-creds",
        &format!("mab-user:{PASSWORD}"),
        "--dest-cert-dir",
        &registry.cert_dir().display().to_string(),
        &format!("docker://{}", env.base_image),
        &format!("docker://{base}"),
    ])
    .assert_success();

    let dir = PlanDir::new("private-base");
    dir.write("Dockerfile", &dockerfile("RUN uname -m > /arch"));
    let repository = dir.repository();
    let quoted = |s: &str| serde_json::to_string(s).expect("a string");
    dir.write(
        "plan.yaml",
        &plan_yaml(&[Image::new(&repository)]).replace(&quoted(&env.base_image), &quoted(&base)),
    );

    // No credentials: the daemon cannot pull it, and the error names the base.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).expect("empty docker config");
    let out = build_with(&dir, &empty);
    out.assert_code(1)
        .assert_error_line()
        .assert_stderr_contains(&["cannot pull base image", &base]);

    // The user's credentials: the daemon pulls it for both platforms, and the images run.
    let config = registry.docker_config(PASSWORD, &dir.path().join("docker"));
    let out = build_with(&dir, &config);
    let _ = docker(["rmi", &base]);
    out.assert_success();
    assert_no_password(&out);
    let image = format!("{repository}:latest");
    assert_eq!(
        docker_run_platform_command(&image, "linux/arm64", &["cat", "/arch"]).trim(),
        "aarch64"
    );
    assert_eq!(
        docker_run_platform_command(&image, "linux/amd64", &["cat", "/arch"]).trim(),
        "x86_64"
    );
}

#[test]
fn an_identity_token_is_traded_for_an_access_token_per_repository() {
    const IDENTITY_TOKEN: &str = "refresh-t0ken-n3ver-printed";
    let registry = TokenRegistry::start(IDENTITY_TOKEN);
    let dir = PlanDir::new("identity-token");
    dir.write("Dockerfile", &dockerfile("RUN uname -m > /arch"));
    // Two repositories of the registry: each needs its own access token.
    let one = format!("{}/{}-one", registry.address, dir.repo_path());
    let two = format!("{}/{}-two", registry.address, dir.repo_path());
    dir.write_plan(&[Image::new(&one), Image::new(&two)]);
    let no_secret = |out: &Output| {
        assert!(
            !out.all().contains(IDENTITY_TOKEN),
            "the identity token appeared in the output:\n{}",
            out.all()
        );
    };

    let wrong = registry.docker_config("not-the-token", &dir.path().join("wrong"));
    let out = build_with(&dir, &wrong);
    out.assert_code(1)
        .assert_error_line()
        .assert_stderr_contains(&[&registry.address, "authentication failed", "token"]);
    assert_eq!(registry.tokens_granted(), 0);

    let config = registry.docker_config(IDENTITY_TOKEN, &dir.path().join("docker"));
    let out = build_with(&dir, &config);
    out.assert_success();
    no_secret(&out);
    assert!(
        registry.tokens_granted() >= 2,
        "one access token per repository at least: {}",
        registry.tokens_granted()
    );

    // skopeo, with a pull token of each repository minted by the token service, reads both.
    for repository in [&one, &two] {
        let path = repository
            .strip_prefix(&format!("{}/", registry.address))
            .expect("a repository of the registry");
        let raw = skopeo([
            "inspect",
            "--raw",
            "--tls-verify=false",
            "--registry-token",
            &registry.pull_token(path),
            &format!("docker://{repository}:latest"),
        ]);
        raw.assert_success();
        assert!(raw.stdout.contains("linux"), "{}", raw.stdout);
    }
}
