//! What the registry saw: the requests of a time window, read from the registry's own log
//! (docker-registry logs one `response completed` line per request, with method, URI and
//! status), and the size of each blob whose upload it committed (HEAD on the blob). This is the
//! independent measure of "bytes uploaded": it does not trust what the client says it sent.

use std::collections::BTreeSet;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use super::http;

/// The registry's log file and address.
pub struct RegistryLog {
    path: PathBuf,
    addr: String,
}

/// The requests of one window.
#[derive(Debug, Default, Clone)]
pub struct Activity {
    pub requests: u32,
    pub heads: u32,
    /// PATCH requests (chunks of uploads).
    pub patches: u32,
    /// Upload sessions opened (POST …/blobs/uploads/ answered 202).
    pub sessions: u32,
    /// Blob uploads the registry committed: (repository, digest).
    pub committed: Vec<(String, String)>,
    /// Cross-repository mounts that succeeded (POST ?mount= answered 201): (repository, digest).
    pub mounted: Vec<(String, String)>,
    /// Manifests stored (PUT …/manifests/… answered 201), tags included.
    pub manifest_puts: u32,
    /// Sum of the sizes of the committed blobs.
    pub blob_bytes: u64,
    /// Requests answered with a status >= 400.
    pub errors: u32,
    /// Seconds the registry spent in requests on upload sessions (POST, PATCH, PUT on
    /// …/blobs/uploads/…), summed from its per-request durations (which include receiving the
    /// body): with one request at a time, wall time minus this is time the client spent between
    /// requests.
    pub upload_secs: f64,
}

impl RegistryLog {
    pub fn new(path: PathBuf, addr: String) -> Self {
        Self { path, addr }
    }

    /// Where the window starts: the log's current length.
    pub fn mark(&self) -> Result<u64> {
        Ok(std::fs::metadata(&self.path)
            .with_context(|| format!("reading {}", self.path.display()))?
            .len())
    }

    /// The requests logged since `mark`, with the sizes of the committed blobs.
    pub fn since(&self, mark: u64) -> Result<Activity> {
        // The registry logs a request right after answering it; let the last line land.
        std::thread::sleep(std::time::Duration::from_millis(150));
        let mut f = std::fs::File::open(&self.path)
            .with_context(|| format!("opening {}", self.path.display()))?;
        f.seek(SeekFrom::Start(mark))?;
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes)?;
        let text = String::from_utf8_lossy(&bytes);
        let mut a = parse(&text);
        let mut seen = BTreeSet::new();
        for (repo, digest) in &a.committed {
            if seen.insert((repo.clone(), digest.clone())) {
                a.blob_bytes += self.blob_size(repo, digest)?;
            }
        }
        Ok(a)
    }

    /// The size of a blob in a repository (HEAD).
    pub fn blob_size(&self, repo: &str, digest: &str) -> Result<u64> {
        let r = http::request(&self.addr, "HEAD", &format!("/v2/{repo}/blobs/{digest}"))?;
        if r.status != 200 {
            bail!(
                "HEAD /v2/{repo}/blobs/{digest} on {} answered {}",
                self.addr,
                r.status
            );
        }
        r.header("content-length")
            .and_then(|v| v.parse().ok())
            .context("HEAD of a blob without Content-Length")
    }

    /// Unlinks blobs from their repositories (DELETE /v2/REPO/blobs/DIGEST), so that no later
    /// push can mount them from there: every push of the push benchmark really uploads.
    pub fn unlink(&self, blobs: &[(String, String)]) -> Result<()> {
        for (repo, digest) in blobs {
            let r = http::request(&self.addr, "DELETE", &format!("/v2/{repo}/blobs/{digest}"))?;
            if r.status != 202 && r.status != 404 {
                bail!(
                    "DELETE /v2/{repo}/blobs/{digest} on {} answered {} (is storage.delete \
                     enabled in docker/registry/config.yml?)",
                    self.addr,
                    r.status
                );
            }
        }
        Ok(())
    }
}

/// Parses the `response completed` lines of a docker-registry log.
fn parse(text: &str) -> Activity {
    let mut a = Activity::default();
    for line in text.lines() {
        if !line.contains("msg=\"response completed") {
            continue;
        }
        let fields = logfmt(line);
        let get = |k: &str| {
            fields
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
                .unwrap_or("")
        };
        let method = get("http.request.method");
        let uri = get("http.request.uri");
        let status: u16 = get("http.response.status").parse().unwrap_or(0);
        a.requests += 1;
        if status >= 400 {
            a.errors += 1;
        }
        let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
        let repo = path
            .strip_prefix("/v2/")
            .and_then(|p| {
                p.split_once("/blobs/")
                    .or_else(|| p.split_once("/manifests/"))
            })
            .map(|(r, _)| r.to_string())
            .unwrap_or_default();
        let digest = query_param(query, "digest");
        let uploads = path.contains("/blobs/uploads");
        if uploads {
            a.upload_secs += go_duration(get("http.response.duration")).unwrap_or(0.0);
        }
        match method {
            "HEAD" => a.heads += 1,
            "PATCH" => a.patches += 1,
            "POST" if uploads => {
                if status == 202 {
                    a.sessions += 1;
                }
                if status == 201 {
                    if let Some(d) = query_param(query, "mount") {
                        a.mounted.push((repo, d));
                    } else if let Some(d) = digest {
                        a.committed.push((repo, d));
                    }
                }
            }
            "PUT" if uploads && status == 201 => {
                if let Some(d) = digest {
                    a.committed.push((repo, d));
                }
            }
            "PUT" if path.contains("/manifests/") && status == 201 => a.manifest_puts += 1,
            _ => {}
        }
    }
    a
}

/// A Go duration (`848.388µs`, `1.27ms`, `3.1s`, `1m2.5s`) in seconds.
fn go_duration(s: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "µs" | "us" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    Some(total)
}

/// `key=value` pairs of a logfmt line; quoted values unquoted (with `\"` and `\\` unescaped).
fn logfmt(line: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        let k0 = i;
        while i < b.len() && b[i] != b'=' && b[i] != b' ' {
            i += 1;
        }
        let key = &line[k0..i];
        if i >= b.len() || b[i] != b'=' {
            continue;
        }
        i += 1;
        let mut value = String::new();
        if i < b.len() && b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                }
                let ch = line[i..].chars().next().expect("in bounds");
                value.push(ch);
                i += ch.len_utf8();
            }
            i += 1;
        } else {
            let v0 = i;
            while i < b.len() && b[i] != b' ' {
                i += 1;
            }
            value.push_str(&line[v0..i]);
        }
        out.push((key.to_string(), value));
    }
    out
}

/// A query parameter, percent-decoded (`sha256%3A…` → `sha256:…`).
fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| percent_decode(v))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = if b[i] == b'%' {
            s.get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        } else {
            None
        };
        match hex {
            Some(v) => {
                out.push(v);
                i += 3;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The registry's storage folder: xtask's registry keeps it in a temporary directory named
/// `mab-registry-PORT-*`; the newest such folder with a `storage` inside.
pub fn storage_dir(port: &str) -> Option<PathBuf> {
    let prefix = format!("mab-registry-{port}-");
    std::fs::read_dir(std::env::temp_dir())
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path().join("storage"))
        .filter(|p| p.is_dir())
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
}

/// Total size of the files under `dir` (what `du -sb` counts, without directory entries).
pub fn tree_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => total += e.metadata().map(|m| m.len()).unwrap_or(0),
                _ => {}
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_uploads_mounts_and_manifests() {
        let log = r#"time="x" level=info msg="response completed" http.request.method=POST http.request.uri=/v2/a/b/blobs/uploads/ http.response.status=202
time="x" level=info msg="response completed" http.request.method=PATCH http.request.uri="/v2/a/b/blobs/uploads/u?_state=x" http.response.duration=1.5s http.response.status=202
time="x" level=info msg="response completed" http.request.method=PUT http.request.uri="/v2/a/b/blobs/uploads/u?_state=x%3D&digest=sha256%3Aabc" http.response.status=201
time="x" level=info msg="response completed" http.request.method=POST http.request.uri="/v2/c/blobs/uploads/?from=a%2Fb&mount=sha256%3Aabc" http.response.status=201
time="x" level=info msg="response completed" http.request.method=PUT http.request.uri=/v2/c/manifests/latest http.response.status=201
time="x" level=info msg="response completed with error" err.code="blob unknown" http.request.method=HEAD http.request.uri=/v2/c/blobs/sha256:def http.response.status=404
time="x" level=info msg="listening on 127.0.0.1:5000""#;
        let a = parse(log);
        assert_eq!(a.requests, 6);
        assert_eq!(a.sessions, 1);
        assert_eq!(a.patches, 1);
        assert_eq!(a.committed, vec![("a/b".into(), "sha256:abc".into())]);
        assert_eq!(a.mounted, vec![("c".into(), "sha256:abc".into())]);
        assert_eq!(a.manifest_puts, 1);
        assert_eq!(a.heads, 1);
        assert_eq!(a.errors, 1);
        assert_eq!(a.upload_secs, 1.5);
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("1.5s"), Some(1.5));
        assert_eq!(go_duration("1m2s"), Some(62.0));
        assert!((go_duration("848.388µs").unwrap() - 0.000848388).abs() < 1e-12);
        assert!((go_duration("1.25ms").unwrap() - 0.00125).abs() < 1e-12);
        assert_eq!(go_duration(""), None);
        assert_eq!(go_duration("3 parsecs"), None);
    }
}
