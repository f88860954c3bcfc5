//! A real `docker-registry` with TLS (a CA made for the test) and htpasswd authentication, on a
//! free 127.0.0.1 port, stopped and removed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running registry that speaks TLS and wants a user and password.
pub struct SecureRegistry {
    child: Child,
    dir: tempfile::TempDir,
    /// `127.0.0.1:PORT`.
    pub address: String,
    pub user: String,
    pub password: String,
}

impl SecureRegistry {
    /// Starts the registry; the CA that signed its certificate is at [`Self::ca_pem`].
    pub fn start(user: &str, password: &str) -> Self {
        let dir = tempfile::tempdir().expect("registry folder");
        let port = crate::closed_port();
        let address = format!("127.0.0.1:{port}");

        let ca_key = rcgen::KeyPair::generate().expect("ca key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "mab test ca");
        let ca = ca_params.self_signed(&ca_key).expect("ca certificate");
        let server_key = rcgen::KeyPair::generate().expect("server key");
        let mut server_params =
            rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("server");
        server_params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress(std::net::IpAddr::from([
                127, 0, 0, 1,
            ])));
        let server = server_params
            .signed_by(&server_key, &ca, &ca_key)
            .expect("server certificate");
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).expect("ca.pem");
        std::fs::write(dir.path().join("server.pem"), server.pem()).expect("server.pem");
        std::fs::write(
            dir.path().join("server-key.pem"),
            server_key.serialize_pem(),
        )
        .expect("server-key.pem");

        let hash = bcrypt::hash(password, 4).expect("bcrypt");
        std::fs::write(dir.path().join("htpasswd"), format!("{user}:{hash}\n")).expect("htpasswd");
        let root = dir.path().join("storage");
        let config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\n\
             http:\n  addr: {address}\n  tls:\n    certificate: {cert}\n    key: {key}\n\
             auth:\n  htpasswd:\n    realm: mab-test\n    path: {htpasswd}\n",
            root = root.display(),
            cert = dir.path().join("server.pem").display(),
            key = dir.path().join("server-key.pem").display(),
            htpasswd = dir.path().join("htpasswd").display(),
        );
        let child = serve(dir.path(), &config, &address);
        Self {
            child,
            dir,
            address,
            user: user.to_string(),
            password: password.to_string(),
        }
    }

    /// The CA certificate (PEM) that signed the registry's certificate.
    pub fn ca_pem(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A docker config folder (for `DOCKER_CONFIG`) holding `password` for this registry.
    pub fn docker_config(&self, password: &str, into: &Path) -> PathBuf {
        use base64::Engine as _;
        let auth =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{password}", self.user));
        let config = serde_json::json!({ "auths": { &self.address: { "auth": auth } } });
        std::fs::create_dir_all(into).expect("docker config folder");
        std::fs::write(into.join("config.json"), config.to_string()).expect("config.json");
        into.to_path_buf()
    }

    /// A folder with the CA as `ca.crt`, for skopeo's `--cert-dir`.
    pub fn cert_dir(&self) -> PathBuf {
        let dir = self.dir.path().join("certs.d");
        std::fs::create_dir_all(&dir).expect("certs.d");
        std::fs::copy(self.ca_pem(), dir.join("ca.crt")).expect("ca.crt");
        dir
    }
}

impl Drop for SecureRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `docker-registry serve` with `config` (written to `dir/config.yml`, its log to
/// `dir/registry.log`) and waits until it listens on `address`.
pub(crate) fn serve(dir: &Path, config: &str, address: &str) -> Child {
    let config_path = dir.join("config.yml");
    std::fs::write(&config_path, config).expect("config.yml");
    let log = std::fs::File::create(dir.join("registry.log")).expect("log");
    let mut child = Command::new("docker-registry")
        .arg("serve")
        .arg(&config_path)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("starting docker-registry");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(address).is_err() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "the registry on {address} did not start: {}",
                std::fs::read_to_string(dir.join("registry.log")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}
