//! A real `docker-registry` with token authentication, and the token service it trusts: made
//! for the test, it answers OAuth2 refresh-token grants (what a docker config's `identitytoken`
//! is traded in) with tokens signed by a key the registry trusts, and refuses everyone else.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

const SERVICE: &str = "mab-test-registry";
const ISSUER: &str = "mab-test-token-service";

/// A running registry (plain HTTP, on 127.0.0.1) behind token authentication.
pub struct TokenRegistry {
    child: Child,
    _dir: tempfile::TempDir,
    stop: Arc<AtomicBool>,
    granted: Arc<AtomicUsize>,
    signer: Arc<Signer>,
    /// `127.0.0.1:PORT` of the registry.
    pub address: String,
}

/// What signs the tokens: an ECDSA P-256 key and its self-signed certificate (DER).
struct Signer {
    key: ring::signature::EcdsaKeyPair,
    certificate: Vec<u8>,
}

impl TokenRegistry {
    /// Starts the token service and the registry; the service grants tokens to the holder of
    /// `refresh_token` only.
    pub fn start(refresh_token: &str) -> Self {
        let dir = tempfile::tempdir().expect("registry folder");
        let key = rcgen::KeyPair::generate().expect("signing key");
        let certificate = rcgen::CertificateParams::new(vec!["mab-test-token".to_string()])
            .expect("certificate")
            .self_signed(&key)
            .expect("self-signed certificate");
        std::fs::write(dir.path().join("token-ca.pem"), certificate.pem()).expect("token-ca.pem");
        let signer = Signer {
            key: ring::signature::EcdsaKeyPair::from_pkcs8(
                &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &key.serialize_der(),
                &ring::rand::SystemRandom::new(),
            )
            .expect("ring reads the key"),
            certificate: certificate.der().to_vec(),
        };

        let listener = TcpListener::bind("127.0.0.1:0").expect("token service");
        listener.set_nonblocking(true).expect("nonblocking");
        let realm = format!("http://{}/token", listener.local_addr().expect("address"));
        let stop = Arc::new(AtomicBool::new(false));
        let granted = Arc::new(AtomicUsize::new(0));
        let signer = Arc::new(signer);
        {
            let (stop, granted) = (Arc::clone(&stop), Arc::clone(&granted));
            let signer = Arc::clone(&signer);
            let refresh_token = refresh_token.to_string();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let _ = answer(stream, &signer, &refresh_token, &granted);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            });
        }

        let port = crate::closed_port();
        let address = format!("127.0.0.1:{port}");
        let config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\n\
             http:\n  addr: {address}\n\
             auth:\n  token:\n    realm: {realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {bundle}\n",
            root = dir.path().join("storage").display(),
            bundle = dir.path().join("token-ca.pem").display(),
        );
        let child = crate::secure_registry::serve(dir.path(), &config, &address);
        Self {
            child,
            _dir: dir,
            stop,
            granted,
            signer,
            address,
        }
    }

    /// A token to pull `repository` (its path in the registry), minted directly: for an
    /// independent client (`skopeo --registry-token`) to read what mab pushed.
    pub fn pull_token(&self, repository: &str) -> String {
        self.signer.token(&format!("repository:{repository}:pull"))
    }

    /// How many tokens the service granted.
    pub fn tokens_granted(&self) -> usize {
        self.granted.load(Ordering::SeqCst)
    }

    /// A docker config folder (for `DOCKER_CONFIG`) holding `identity_token` for this registry.
    pub fn docker_config(
        &self,
        identity_token: &str,
        into: &std::path::Path,
    ) -> std::path::PathBuf {
        let config = serde_json::json!({
            "auths": { &self.address: {
                "auth": STANDARD.encode("<token>:"),
                "identitytoken": identity_token,
            } }
        });
        std::fs::create_dir_all(into).expect("docker config folder");
        std::fs::write(into.join("config.json"), config.to_string()).expect("config.json");
        into.to_path_buf()
    }
}

impl Drop for TokenRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Answers one request to the token service.
fn answer(
    mut stream: TcpStream,
    signer: &Signer,
    refresh_token: &str,
    granted: &AtomicUsize,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut data = Vec::new();
    let mut buffer = [0u8; 4096];
    let (head, mut body) = loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let body = data.split_off(end + 4);
            break (String::from_utf8_lossy(&data).to_string(), body);
        }
        let n = stream.read(&mut buffer)?;
        if n == 0 {
            return Ok(());
        }
        data.extend_from_slice(&buffer[..n]);
    };
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while body.len() < length {
        let n = stream.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buffer[..n]);
    }
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let is_post = head.starts_with("POST ");
    let reply = if is_post
        && field("grant_type") == Some("refresh_token")
        && field("refresh_token") == Some(refresh_token)
        && field("service") == Some(SERVICE)
    {
        granted.fetch_add(1, Ordering::SeqCst);
        let token = signer.token(field("scope").unwrap_or(""));
        let json = serde_json::json!({ "access_token": token, "expires_in": 300 }).to_string();
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
            json.len()
        )
    } else {
        let json = r#"{"error":"invalid_grant"}"#;
        format!(
            "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
            json.len()
        )
    };
    stream.write_all(reply.as_bytes())?;
    Ok(())
}

impl Signer {
    /// A token granting what `scope` asks (`repository:NAME:ACTIONS`, space-separated).
    fn token(&self, scope: &str) -> String {
        let access: Vec<serde_json::Value> = scope
            .split_whitespace()
            .filter_map(|s| {
                let (kind, rest) = s.split_once(':')?;
                let (name, actions) = rest.rsplit_once(':')?;
                Some(serde_json::json!({
                    "type": kind,
                    "name": name,
                    "actions": actions.split(',').collect::<Vec<_>>(),
                }))
            })
            .collect();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("time")
            .as_secs();
        let header = serde_json::json!({
            "typ": "JWT",
            "alg": "ES256",
            "x5c": [STANDARD.encode(&self.certificate)],
        });
        let claims = serde_json::json!({
            "iss": ISSUER,
            "sub": "mab-test-user",
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": format!("{now}-{}", access.len()),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .key
            .sign(&ring::rand::SystemRandom::new(), signing_input.as_bytes())
            .expect("signing");
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        )
    }
}
