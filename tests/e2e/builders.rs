//! Native builders: a plan's `builders:` are ordinary Docker daemons, each (image, platform) job
//! goes to one that builds the platform, its result is exported from that daemon and pushed by
//! mab. The daemons here are extra `dockerd`s on this machine (`mab_tests::dockerd`), one of them
//! behind TLS; the ssh builder reaches the test environment's daemon through a local sshd.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mab_tests::dockerd::{ExtraDaemon, ServerTls, TcpListener};
use mab_tests::*;
use serde_json::Value;

/// The daemon of the test environment, as the tests' docker CLI reaches it.
fn main_docker_host() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| "unix:///var/run/docker.sock".to_string())
}

fn q(s: &str) -> String {
    serde_json::to_string(s).expect("a string")
}

/// A plan of `images` (see [`plan_yaml`]) with `builders` (YAML list items, indented by two).
fn plan_with_builders(builders: &str, images: &[Image]) -> String {
    plan_yaml(images).replacen(
        "version: 1\n",
        &format!("version: 1\nbuilders:\n{builders}"),
        1,
    )
}

/// The config digest (the daemon's image id) of each platform of `reference`'s index, by
/// platform.
#[track_caller]
fn config_digests(reference: &str, repository: &str) -> Vec<(String, String)> {
    let index: Value = serde_json::from_slice(&registry_raw(reference)).expect("index JSON");
    let mut digests: Vec<(String, String)> = index_entries(&index)
        .into_iter()
        .map(|(platform, digest, _)| {
            let manifest: Value =
                serde_json::from_slice(&registry_raw(&format!("{repository}@{digest}")))
                    .expect("manifest JSON");
            let config = manifest["config"]["digest"]
                .as_str()
                .unwrap_or_else(|| panic!("no config digest in {manifest:#}"))
                .to_string();
            (platform, config)
        })
        .collect();
    digests.sort();
    digests
}

/// Each platform's builder, from a `--json` image entry.
fn json_builders(image: &Value) -> Vec<(String, String)> {
    let mut builders: Vec<(String, String)> = image["platforms"]
        .as_array()
        .expect("platforms")
        .iter()
        .map(|p| {
            (
                p["platform"].as_str().unwrap_or("").to_string(),
                p["builder"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    builders.sort();
    builders
}

// ---------------------------------------------------------------------------------------------
// Two daemons, one platform each

#[test]
fn each_platform_is_built_on_its_own_daemon() {
    let amd = ExtraDaemon::start("amd");
    let arm = ExtraDaemon::start("arm");
    let dir = PlanDir::new("builders-two-daemons");
    let repo = dir.repository();
    dir.write(
        "Dockerfile",
        &dockerfile("RUN uname -m > /arch\nCMD [\"cat\", \"/arch\"]"),
    );
    let builders = format!(
        "  - {{ name: amd, endpoint: {}, platforms: [linux/amd64] }}\n  \
         - {{ name: arm, endpoint: {}, platforms: [linux/arm64] }}\n",
        q(&amd.host),
        q(&arm.host)
    );
    dir.write(
        "plan.yaml",
        &plan_with_builders(&builders, &[Image::new(&repo)]),
    );

    let ls = mab()
        .args(["builders", "ls", "--json"])
        .arg(dir.plan())
        .run();
    ls.assert_success();
    let listed = ls.json();
    for (n, (name, native)) in [("amd", "linux/amd64"), ("arm", "linux/arm64/v8")]
        .into_iter()
        .enumerate()
    {
        let builder = &listed["builders"][n];
        assert_eq!(builder["name"], name, "{listed:#}");
        assert_eq!(builder["reachable"], true, "{listed:#}");
        assert_eq!(builder["native_platforms"][0], native, "{listed:#}");
        assert_eq!(builder["daemon_platform"], "linux/amd64", "{listed:#}");
        assert!(
            builder["engine_version"]
                .as_str()
                .is_some_and(|v| !v.is_empty()),
            "{listed:#}"
        );
    }

    let out = mab().args(["build", "--json"]).arg(dir.plan()).run();
    out.assert_success()
        .assert_stderr_contains(&["in ", "s on amd", "s on arm"]);
    let doc = out.json();
    assert_eq!(
        json_builders(json_image(&doc, &repo)),
        vec![
            ("linux/amd64".to_string(), "amd".to_string()),
            ("linux/arm64/v8".to_string(), "arm".to_string())
        ]
    );

    // Each platform's image is on its own daemon, and only there.
    let configs = config_digests(&format!("{repo}:latest"), &repo);
    let platforms: Vec<&str> = configs.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64/v8"]);
    let (amd_id, arm_id) = (&configs[0].1, &configs[1].1);
    assert!(amd.has_image(amd_id), "amd64 image {amd_id} not on amd");
    assert!(!arm.has_image(amd_id), "amd64 image {amd_id} on arm too");
    assert!(arm.has_image(arm_id), "arm64 image {arm_id} not on arm");
    assert!(!amd.has_image(arm_id), "arm64 image {arm_id} on amd too");

    // The index is right: each platform runs and is what it says.
    let image = format!("{repo}:latest");
    assert_eq!(docker_run_platform(&image, "linux/amd64").trim(), "x86_64");
    assert_eq!(docker_run_platform(&image, "linux/arm64").trim(), "aarch64");
}

// ---------------------------------------------------------------------------------------------
// A builder dies under a job

#[test]
fn a_builder_killed_mid_build_hands_its_job_to_another() {
    let mut doomed = ExtraDaemon::start("doomed");
    let survivor = ExtraDaemon::start("survivor");
    let dir = PlanDir::new("builders-killed");
    let repo = dir.repository();
    let marker = format!("survived-{}", dir.name);
    dir.write(
        "Dockerfile",
        &dockerfile(&format!(
            "RUN sleep 20 && echo {marker} > /result\nCMD [\"cat\", \"/result\"]"
        )),
    );
    // Both build amd64 natively; the first in the plan gets the job (both are idle).
    let builders = format!(
        "  - {{ name: doomed, endpoint: {} }}\n  - {{ name: survivor, endpoint: {} }}\n",
        q(&doomed.host),
        q(&survivor.host)
    );
    dir.write(
        "plan.yaml",
        &plan_with_builders(&builders, &[Image::new(&repo).platforms(&["linux/amd64"])]),
    );

    let plan = dir.plan();
    let started = Instant::now();
    let run = std::thread::spawn(move || mab().args(["build", "--json"]).arg(plan).run());
    // Kill the daemon while its `RUN sleep 20` step runs (both daemons are idle: the first in
    // the plan, doomed, gets the job).
    let deadline = Instant::now() + Duration::from_secs(180);
    while !process_running(&marker) {
        assert!(
            !run.is_finished(),
            "mab finished before the build started on doomed"
        );
        assert!(
            Instant::now() < deadline,
            "the build never started on doomed; its log:\n{}",
            doomed.log_tail()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let killed_after = started.elapsed();
    doomed.kill();
    let out = run.join().expect("the mab thread");
    eprintln!(
        "killed doomed {:.1} s into the run; the run took {:.1} s; its stderr:\n{}",
        killed_after.as_secs_f64(),
        out.took.as_secs_f64(),
        out.stderr
    );
    out.assert_success().assert_stderr_contains(&[
        "warning: [",
        "builder doomed",
        "failed under the job and is no longer used",
        "trying another builder",
        "s on survivor",
    ]);
    let doc = out.json();
    assert_eq!(
        json_builders(json_image(&doc, &repo)),
        vec![("linux/amd64".to_string(), "survivor".to_string())]
    );
    let configs = config_digests(&format!("{repo}:latest"), &repo);
    assert_eq!(configs.len(), 1, "{configs:?}");
    assert_eq!(configs[0].0, "linux/amd64");
    assert!(survivor.has_image(&configs[0].1));
    assert_eq!(
        docker_run_platform(&format!("{repo}:latest"), "linux/amd64").trim(),
        marker
    );
}

// ---------------------------------------------------------------------------------------------
// Unreachable builders

/// A platform this machine cannot emulate (no QEMU binfmt handler registered for it).
fn platform_without_emulation() -> (&'static str, &'static str) {
    [
        ("linux/s390x", "qemu-s390x"),
        ("linux/ppc64le", "qemu-ppc64le"),
        ("linux/riscv64", "qemu-riscv64"),
        ("linux/mips64le", "qemu-mips64el"),
    ]
    .into_iter()
    .find(|(_, handler)| !Path::new("/proc/sys/fs/binfmt_misc").join(handler).exists())
    .expect("a platform without a QEMU binfmt handler on this machine")
}

#[test]
fn all_builders_of_a_platform_unreachable_is_an_error_naming_them() {
    let (platform, _) = platform_without_emulation();
    let dir = PlanDir::new("builders-unreachable");
    let repo = dir.repository();
    dir.write("Dockerfile", &dockerfile("RUN true"));
    let port = closed_port();
    let builders = format!(
        "  - {{ name: local, endpoint: {} }}\n  \
         - {{ name: far-a, endpoint: \"unix:///nonexistent/mab-builder.sock\", platforms: [{platform}] }}\n  \
         - {{ name: far-b, endpoint: \"tcp://127.0.0.1:{port}\", platforms: [{platform}] }}\n",
        q(&main_docker_host())
    );
    dir.write(
        "plan.yaml",
        &plan_with_builders(
            &builders,
            &[Image::new(&repo).platforms(&["linux/amd64", platform])],
        ),
    );
    let out = mab().arg("build").arg(dir.plan()).run();
    out.assert_code(1)
        .assert_error_line()
        .assert_stderr_contains(&[
            "warning: builder far-a (unix:///nonexistent/mab-builder.sock) is unreachable",
            &format!("warning: builder far-b (tcp://127.0.0.1:{port}) is unreachable"),
            &format!("error: no builder can build {platform}:\n  builder `local`"),
            "builder `far-a` (unix:///nonexistent/mab-builder.sock): unreachable (",
            &format!("builder `far-b` (tcp://127.0.0.1:{port}): unreachable ("),
            &format!(
                "builder `local` ({}): native linux/amd64 and cannot emulate {platform}",
                main_docker_host()
            ),
            "nothing was built and no index was published",
        ]);
    assert!(!out.stderr.contains("building"), "a job started:\n{out}");
    assert!(
        !registry_has(&format!("{repo}:latest")),
        "an index was published"
    );

    // `builders ls` says the same, builder by builder; exit code 1.
    let ls = mab().args(["builders", "ls"]).arg(dir.plan()).run();
    ls.assert_code(1);
    assert!(
        ls.stdout
            .lines()
            .any(|l| l.starts_with("far-a ") && l.contains("unreachable")),
        "{ls}"
    );
    assert!(ls.stdout.contains("far-b: unreachable: "), "{ls}");
}

#[test]
fn an_unreachable_builder_is_skipped_when_another_can_build_its_platform() {
    let dir = PlanDir::new("builders-skip");
    let repo = dir.repository();
    dir.write(
        "Dockerfile",
        &dockerfile("RUN uname -m > /arch\nCMD [\"cat\", \"/arch\"]"),
    );
    // The native arm64 builder is gone: the local daemon (amd64, QEMU for arm64 on this
    // machine) builds arm64 too, emulated, and says so.
    let builders = format!(
        "  - {{ name: gone, endpoint: \"unix:///nonexistent/mab-builder.sock\", platforms: [linux/arm64] }}\n  \
         - {{ name: local, endpoint: {} }}\n",
        q(&main_docker_host())
    );
    dir.write(
        "plan.yaml",
        &plan_with_builders(&builders, &[Image::new(&repo)]),
    );
    let out = mab().args(["build", "--json"]).arg(dir.plan()).run();
    out.assert_success().assert_stderr_contains(&[
        "warning: builder gone (unix:///nonexistent/mab-builder.sock) is unreachable and is skipped",
        "builder local: ",
        "linux/amd64] building on local\n",
        "linux/arm64/v8] building on local (emulated)\n",
        "s on local (emulated)",
    ]);
    let doc = out.json();
    let platforms = &json_image(&doc, &repo)["platforms"];
    for p in platforms.as_array().expect("platforms") {
        let emulated = p["platform"] == "linux/arm64/v8";
        assert_eq!(p["builder"], "local", "{p}");
        assert_eq!(p["emulated"].as_bool().unwrap_or(false), emulated, "{p}");
    }
    let image = format!("{repo}:latest");
    assert_eq!(docker_run_platform(&image, "linux/arm64").trim(), "aarch64");
}

// ---------------------------------------------------------------------------------------------
// tcp + TLS

struct Pki {
    ca: rcgen::Certificate,
    ca_key: rcgen::KeyPair,
}

impl Pki {
    fn new(name: &str) -> Self {
        let ca_key = rcgen::KeyPair::generate().expect("ca key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let ca = params.self_signed(&ca_key).expect("ca certificate");
        Self { ca, ca_key }
    }

    /// Writes `<stem>.pem` and `<stem>-key.pem` in `dir`, signed by this CA.
    fn issue(&self, dir: &Path, stem: &str, server: bool) -> (PathBuf, PathBuf) {
        let key = rcgen::KeyPair::generate().expect("key");
        let names = if server {
            vec!["localhost".to_string()]
        } else {
            Vec::new()
        };
        let mut params = rcgen::CertificateParams::new(names).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, stem);
        if server {
            params
                .subject_alt_names
                .push(rcgen::SanType::IpAddress(std::net::IpAddr::from([
                    127, 0, 0, 1,
                ])));
            params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        } else {
            params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        }
        let cert = params
            .signed_by(&key, &self.ca, &self.ca_key)
            .expect("certificate");
        let cert_path = dir.join(format!("{stem}.pem"));
        let key_path = dir.join(format!("{stem}-key.pem"));
        std::fs::write(&cert_path, cert.pem()).expect("writing a certificate");
        std::fs::write(&key_path, key.serialize_pem()).expect("writing a key");
        (cert_path, key_path)
    }

    fn write_ca(&self, path: &Path) {
        std::fs::write(path, self.ca.pem()).expect("writing the ca");
    }
}

#[test]
fn a_tcp_builder_with_tls_client_certificates() {
    let dir = PlanDir::new("builders-tls");
    let repo = dir.repository();
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).expect("certs folder");
    let pki = Pki::new("mab builder test ca");
    pki.write_ca(&certs.join("ca.pem"));
    let (server_cert, server_key) = pki.issue(&certs, "daemon", true);
    pki.issue(&certs, "client", false);
    // A client certificate from a CA the daemon does not trust.
    let stranger = Pki::new("a stranger's ca");
    stranger.write_ca(&certs.join("stranger-ca.pem"));
    stranger.issue(&certs, "stranger", false);

    let port = closed_port();
    let daemon = ExtraDaemon::start_with(
        "tls",
        Some(TcpListener {
            port,
            tls: Some(ServerTls {
                ca: certs.join("ca.pem"),
                cert: server_cert,
                key: server_key,
            }),
        }),
    );
    dir.write(
        "Dockerfile",
        &dockerfile("RUN echo over-tls > /via\nCMD [\"cat\", \"/via\"]"),
    );
    let builders = format!(
        "  - name: secure\n    endpoint: \"tcp://127.0.0.1:{port}\"\n    \
         tls: {{ ca: certs/ca.pem, cert: certs/client.pem, key: certs/client-key.pem }}\n"
    );
    let images = [Image::new(&repo).platforms(&["linux/amd64"])];
    dir.write("plan.yaml", &plan_with_builders(&builders, &images));

    let ls = mab()
        .args(["builders", "ls", "--json"])
        .arg(dir.plan())
        .run();
    ls.assert_success();
    let listed = ls.json();
    assert_eq!(listed["builders"][0]["reachable"], true, "{listed:#}");
    assert_eq!(
        listed["builders"][0]["endpoint"],
        format!("tcp://127.0.0.1:{port} (tls)")
    );
    // A remote daemon: what it can emulate is what its BuildKit workers say (asked over the
    // same tcp+TLS connection): this machine's kernel runs arm64 under QEMU.
    let emulated = listed["builders"][0]["emulated_platforms"]
        .as_array()
        .unwrap_or_else(|| panic!("emulated platforms unknown: {listed:#}"))
        .clone();
    assert!(
        emulated.contains(&Value::String("linux/arm64/v8".to_string())),
        "{listed:#}"
    );

    let out = mab().args(["build", "--json"]).arg(dir.plan()).run();
    out.assert_success()
        .assert_stderr_contains(&["s on secure"]);
    let configs = config_digests(&format!("{repo}:latest"), &repo);
    assert_eq!(configs.len(), 1);
    assert!(
        daemon.has_image(&configs[0].1),
        "the image is not on the TLS daemon"
    );
    assert_eq!(
        docker_run_platform(&format!("{repo}:latest"), "linux/amd64").trim(),
        "over-tls"
    );

    // The daemon refuses a client whose certificate it does not trust, and a client that does
    // not trust the daemon's CA refuses the daemon: both are unreachable, with the reason.
    for (name, ca, cert) in [
        ("untrusted-client", "ca", "stranger"),
        ("untrusted-daemon", "stranger-ca", "client"),
    ] {
        let builders = format!(
            "  - name: {name}\n    endpoint: \"tcp://127.0.0.1:{port}\"\n    \
             tls: {{ ca: certs/{ca}.pem, cert: certs/{cert}.pem, key: certs/{cert}-key.pem }}\n"
        );
        dir.write("plan.yaml", &plan_with_builders(&builders, &images));
        let ls = mab()
            .args(["builders", "ls", "--json"])
            .arg(dir.plan())
            .run();
        ls.assert_code(1);
        let listed = ls.json();
        let builder = &listed["builders"][0];
        assert_eq!(builder["reachable"], false, "{name}: {listed:#}");
        assert!(
            builder["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{name}: {listed:#}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// ssh

/// A local sshd on a free port that lets root in with a key made for the test; an `ssh` on a
/// PATH of its own that uses that key and trusts that sshd's host key (so nothing under ~/.ssh
/// is read or written).
struct Sshd {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Sshd {
    fn start() -> Self {
        let sshd = Path::new("/usr/sbin/sshd");
        assert!(
            sshd.is_file(),
            "the ssh builder test needs sshd: apt-get install -y openssh-server"
        );
        let dir = tempfile::Builder::new()
            .prefix("mab-sshd-")
            .tempdir()
            .expect("sshd folder");
        let d = dir.path();
        for key in ["host_key", "id_ed25519"] {
            let out = run_command(
                {
                    let mut cmd = Command::new("ssh-keygen");
                    cmd.args(["-q", "-t", "ed25519", "-N", "", "-f"])
                        .arg(d.join(key));
                    cmd
                },
                Duration::from_secs(30),
            );
            out.assert_success();
        }
        std::fs::copy(d.join("id_ed25519.pub"), d.join("authorized_keys"))
            .expect("authorized_keys");
        let port = closed_port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {dir}/host_key\nPidFile {dir}/sshd.pid\n\
             AuthorizedKeysFile {dir}/authorized_keys\nPermitRootLogin prohibit-password\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
             StrictModes no\nSetEnv DOCKER_HOST={host}\n",
            dir = d.display(),
            host = main_docker_host()
        );
        std::fs::write(d.join("sshd_config"), config).expect("sshd_config");
        // sshd's privilege separation folder (made by the package's service, which is not run).
        std::fs::create_dir_all("/run/sshd").expect("/run/sshd");
        let host_key = std::fs::read_to_string(d.join("host_key.pub")).expect("host key");
        let mut words = host_key.split_whitespace();
        let (kind, key) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        std::fs::write(
            d.join("known_hosts"),
            format!("[127.0.0.1]:{port} {kind} {key}\n"),
        )
        .expect("known_hosts");
        std::fs::write(
            d.join("ssh_config"),
            format!(
                "Host 127.0.0.1\n  IdentityFile {dir}/id_ed25519\n  IdentitiesOnly yes\n  \
                 UserKnownHostsFile {dir}/known_hosts\n  ConnectTimeout 10\n",
                dir = d.display()
            ),
        )
        .expect("ssh_config");
        let bin = d.join("bin");
        std::fs::create_dir_all(&bin).expect("bin folder");
        let wrapper = bin.join("ssh");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nexec /usr/bin/ssh -F {}/ssh_config \"$@\"\n",
                d.display()
            ),
        )
        .expect("ssh wrapper");
        let _ = Command::new("chmod").arg("755").arg(&wrapper).status();

        let child = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("sshd.log")).expect("sshd log"))
            .spawn()
            .expect("starting sshd");
        let mut sshd = Self { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = sshd.child.try_wait() {
                panic!("sshd exited ({status}):\n{}", sshd.log());
            }
            assert!(
                Instant::now() < deadline,
                "sshd did not listen:\n{}",
                sshd.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        sshd
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// PATH with the test's `ssh` first.
    fn path_env(&self) -> String {
        format!(
            "{}:{}",
            self.dir.path().join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // ssh masters and session processes of this test (their command lines name its folder).
        let needle = self.dir.path().to_string_lossy().into_owned();
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for entry in entries.flatten() {
                let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                    continue;
                };
                if String::from_utf8_lossy(&cmdline).contains(&needle)
                    && let Some(pid) = entry.file_name().to_str().map(str::to_string)
                {
                    let _ = Command::new("kill").args(["-KILL", &pid]).status();
                }
            }
        }
    }
}

#[test]
fn an_ssh_builder_runs_docker_over_ssh() {
    let sshd = Sshd::start();
    let dir = PlanDir::new("builders-ssh");
    let repo = dir.repository();
    dir.write(
        "Dockerfile",
        &dockerfile("RUN echo over-ssh > /via\nCMD [\"cat\", \"/via\"]"),
    );
    let endpoint = format!("ssh://root@127.0.0.1:{}", sshd.port);
    let builders = format!("  - {{ name: tunnel, endpoint: {} }}\n", q(&endpoint));
    dir.write(
        "plan.yaml",
        &plan_with_builders(&builders, &[Image::new(&repo).platforms(&["linux/amd64"])]),
    );
    let with_ssh = |m: Mab| m.env("PATH", sshd.path_env());

    let ls = with_ssh(mab().args(["builders", "ls", "--json"]).arg(dir.plan())).run();
    assert!(
        ls.success(),
        "builders ls over ssh failed\n{ls}\nsshd log:\n{}",
        sshd.log()
    );
    let listed = ls.json();
    assert_eq!(listed["builders"][0]["endpoint"], endpoint.as_str());
    assert!(
        listed["builders"][0]["engine_version"]
            .as_str()
            .is_some_and(|v| !v.is_empty()),
        "{listed:#}"
    );

    let out = with_ssh(mab().arg("build").arg(dir.plan())).run();
    assert!(
        out.success(),
        "build over ssh failed\n{out}\nsshd log:\n{}",
        sshd.log()
    );
    out.assert_stderr_contains(&["builder tunnel: ssh://root@127.0.0.1", "s on tunnel"]);
    assert_eq!(
        docker_run_platform(&format!("{repo}:latest"), "linux/amd64").trim(),
        "over-ssh"
    );
}

// ---------------------------------------------------------------------------------------------
// What a remote builder costs

/// The same trivial build (cached; the push reuses every stored blob) through the unix socket
/// and through TCP of one daemon, and through the unix socket and TCP+TLS of another, many
/// times, interleaved: the medians and their differences are what mab adds per job when the
/// builder is remote. Loopback TCP: a real network adds its round trips on top.
#[test]
#[ignore = "a measurement, not a check: cargo test -p mab-tests --test e2e -- --ignored \
            --nocapture builders::dispatch_overhead"]
fn dispatch_overhead_of_a_tcp_builder() {
    let runs: usize = std::env::var("MAB_OVERHEAD_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(21);
    let dir = PlanDir::new("builders-overhead");
    let repo = dir.repository();
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).expect("certs folder");
    let pki = Pki::new("mab overhead ca");
    pki.write_ca(&certs.join("ca.pem"));
    let (server_cert, server_key) = pki.issue(&certs, "daemon", true);
    pki.issue(&certs, "client", false);
    let plain_port = closed_port();
    let plain = ExtraDaemon::start_with(
        "plain",
        Some(TcpListener {
            port: plain_port,
            tls: None,
        }),
    );
    let tls_port = closed_port();
    let secure = ExtraDaemon::start_with(
        "secure",
        Some(TcpListener {
            port: tls_port,
            tls: Some(ServerTls {
                ca: certs.join("ca.pem"),
                cert: server_cert,
                key: server_key,
            }),
        }),
    );
    dir.write("Dockerfile", &dockerfile("RUN echo trivial > /x"));
    let images = [Image::new(&repo).platforms(&["linux/amd64"])];
    let tls = "\n    tls: { ca: certs/ca.pem, cert: certs/client.pem, key: certs/client-key.pem }";
    let configurations = [
        ("unix socket", plain.host.clone(), ""),
        ("tcp", format!("tcp://127.0.0.1:{plain_port}"), ""),
        ("unix socket (tls daemon)", secure.host.clone(), ""),
        ("tcp+tls", format!("tcp://127.0.0.1:{tls_port}"), tls),
    ];
    let plans: Vec<PathBuf> = configurations
        .iter()
        .enumerate()
        .map(|(n, (_, endpoint, extra))| {
            let builders = format!("  - name: b\n    endpoint: {}{extra}\n", q(endpoint));
            dir.write(
                &format!("plan-{n}.yaml"),
                &plan_with_builders(&builders, &images),
            )
        })
        .collect();
    let run = |plan: &Path| {
        let out = mab().arg("build").arg(plan).run();
        out.assert_success();
        out.took.as_secs_f64()
    };
    for plan in &plans {
        run(plan); // warm: build cache, pushed blobs, layer cache
        run(plan);
    }
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); plans.len()];
    for _ in 0..runs {
        for (n, plan) in plans.iter().enumerate() {
            times[n].push(run(plan));
        }
    }
    let median = |list: &mut Vec<f64>| {
        list.sort_by(f64::total_cmp);
        list[list.len() / 2]
    };
    let medians: Vec<f64> = times.iter_mut().map(median).collect();
    eprintln!("whole `mab build` runs of one cached job, median of {runs}:");
    for ((name, endpoint, _), m) in configurations.iter().zip(&medians) {
        eprintln!("  {name:<26} {endpoint:<45} {:7.1} ms", m * 1000.0);
    }
    eprintln!(
        "  tcp - unix socket: {:+.1} ms; tcp+tls - unix socket: {:+.1} ms",
        (medians[1] - medians[0]) * 1000.0,
        (medians[3] - medians[2]) * 1000.0
    );
}

// ---------------------------------------------------------------------------------------------
// A builder named by a Docker context

/// A docker config folder holding one context, `name`, for the daemon at `host`, stored as the
/// docker CLI stores it (`contexts/meta/<sha256 of the name>/meta.json`).
fn docker_config_with_context(name: &str, host: &str) -> tempfile::TempDir {
    use sha2::Digest as _;
    let dir = tempfile::tempdir().expect("docker config folder");
    let key = hex::encode(sha2::Sha256::digest(name.as_bytes()));
    let meta = dir.path().join("contexts/meta").join(key);
    std::fs::create_dir_all(&meta).expect("context folder");
    let doc = serde_json::json!({
        "Name": name,
        "Metadata": {},
        "Endpoints": { "docker": { "Host": host, "SkipTLSVerify": false } },
    });
    std::fs::write(meta.join("meta.json"), doc.to_string()).expect("meta.json");
    std::fs::write(dir.path().join("config.json"), "{}").expect("config.json");
    dir
}

#[test]
fn a_builder_named_by_its_docker_context_builds_there() {
    let host = main_docker_host();
    let config = docker_config_with_context("e2e-main", &host);
    let dir = PlanDir::new("builders-context");
    let repo = dir.repository();
    dir.write("Dockerfile", &dockerfile("RUN uname -m > /arch"));
    dir.write(
        "plan.yaml",
        &plan_with_builders(
            "  - { name: ctx, context: e2e-main, platforms: [linux/amd64] }\n",
            &[Image::new(&repo).platforms(&["linux/amd64"])],
        ),
    );

    let ls = mab()
        .args(["builders", "ls", "--json"])
        .arg(dir.plan())
        .env("DOCKER_CONFIG", config.path())
        .run();
    ls.assert_success();
    let listed = ls.json();
    assert_eq!(listed["builders"][0]["name"], "ctx", "{listed:#}");
    assert_eq!(
        listed["builders"][0]["endpoint"],
        host.as_str(),
        "{listed:#}"
    );
    assert_eq!(listed["builders"][0]["reachable"], true, "{listed:#}");

    let out = mab()
        .args(["build", "--json"])
        .arg(dir.plan())
        .env("DOCKER_CONFIG", config.path())
        .run();
    out.assert_success();
    assert_eq!(
        json_builders(json_image(&out.json(), &repo)),
        vec![("linux/amd64".to_string(), "ctx".to_string())]
    );

    // A context the docker config does not have: exit 2 before anything is built, naming the
    // context at its line and column.
    dir.write(
        "plan.yaml",
        &plan_with_builders(
            "  - name: ctx\n    context: e2e-mian\n",
            &[Image::new(&repo).platforms(&["linux/amd64"])],
        ),
    );
    let bad = mab()
        .args(["build"])
        .arg(dir.plan())
        .env("DOCKER_CONFIG", config.path())
        .run();
    bad.assert_code(2).assert_stderr_contains(&[
        "plan.yaml:4:14: unknown docker context `e2e-mian`: no such context",
        "`docker context ls` lists them",
    ]);
}
