//! `mab manifest …` against the real registry, with the docker CLI and skopeo as independent
//! clients: lists mab makes are read (and run) by docker, lists docker makes are read by mab, the
//! same inputs give the same entries, `--amend` refreshes, and bad input changes nothing.
//!
//! Each test has its own repositories (`REG/e2e/<test>-<random>…`), its own mab store
//! (`MAB_HOME`) and its own docker CLI config (`DOCKER_CONFIG`, where `docker manifest` keeps its
//! lists), so they run in parallel.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use mab_tests::*;
use serde_json::{Value, json};

const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// One test's repositories, mab store and docker config.
struct Fixture {
    env: &'static TestEnv,
    /// `<test>-<random>`.
    name: String,
    home: tempfile::TempDir,
    docker_config: tempfile::TempDir,
}

impl Fixture {
    fn new(test: &str) -> Self {
        Self {
            env: TestEnv::get(),
            name: unique_name(test),
            home: tempfile::tempdir().expect("a temporary MAB_HOME"),
            docker_config: tempfile::tempdir().expect("a temporary DOCKER_CONFIG"),
        }
    }

    /// `REG/e2e/<name>-<suffix>`.
    fn repo(&self, suffix: &str) -> String {
        format!("{}/e2e/{}-{suffix}", self.env.registry, self.name)
    }

    /// The repository of the per-arch source images.
    fn src(&self) -> String {
        self.repo("src")
    }

    /// `mab manifest ARGS` with this test's store.
    fn mab(&self, args: &[&str]) -> Output {
        mab()
            .env("MAB_HOME", self.home.path())
            .arg("manifest")
            .args(args)
            .run()
    }

    /// `docker ARGS` with this test's docker CLI config.
    fn docker(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("docker");
        cmd.env("DOCKER_CONFIG", self.docker_config.path())
            .args(args);
        run_command(cmd, Duration::from_secs(300))
    }

    /// The store's folder.
    fn store(&self) -> PathBuf {
        self.home.path().join("manifests")
    }

    /// Every list document in the store, by file name, with its content.
    fn store_snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        let Ok(dir) = std::fs::read_dir(self.store()) else {
            return BTreeMap::new();
        };
        dir.map(|e| e.expect("a store entry").path())
            .filter(|p| p.is_file())
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read(&p).expect("reading a store file"))
            })
            .collect()
    }

    /// Copies the `arch` image of the test base image to `src:<arch>` (Docker schema 2), and
    /// returns that reference.
    fn src_image(&self, arch: &str) -> String {
        let image = format!("{}:{arch}", self.src());
        skopeo([
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            "--override-os",
            "linux",
            "--override-arch",
            arch,
            "--format",
            "v2s2",
            &format!("docker://{}", self.env.base_image),
            &format!("docker://{image}"),
        ])
        .assert_success();
        image
    }

    /// The local list `list` as mab prints it (the index it will push).
    fn local_list(&self, list: &str) -> Value {
        let out = self.mab(&["inspect", list]);
        out.assert_success();
        out.json()
    }
}

/// The manifest digest of `image` in the registry.
fn registry_digest(image: &str) -> String {
    sha256_digest(&registry_raw(image))
}

/// The entry of `index` whose platform architecture is `arch`.
#[track_caller]
fn entry_for<'a>(index: &'a Value, arch: &str) -> &'a Value {
    let found: Vec<&Value> = index["manifests"]
        .as_array()
        .unwrap_or_else(|| panic!("no manifests in {index:#}"))
        .iter()
        .filter(|m| m["platform"]["architecture"] == arch)
        .collect();
    assert_eq!(found.len(), 1, "one {arch} entry in {index:#}");
    found[0]
}

/// `uname -m` in `image` run for `platform` (pulled fresh, removed after).
#[track_caller]
fn uname_m(image: &str, platform: &str) -> String {
    docker_run_platform_command(image, platform, &["uname", "-m"])
        .trim()
        .to_string()
}

/// skopeo copies every manifest and blob the list names out of the list's repository (checking
/// every digest): the list is complete there.
#[track_caller]
fn assert_complete_in_registry(list: &str) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    skopeo([
        "copy",
        "--all",
        "--src-tls-verify=false",
        &format!("docker://{list}"),
        &format!("oci:{}", dir.path().join("copy").display()),
    ])
    .assert_success();
}

/// Standard base64, for comparing with the docker CLI's `Raw`.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn base64_is_standard() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
}

/// mab creates, annotates and pushes a list into another repository than its images; the docker
/// CLI sees every entry with the annotated platform; `docker run --platform` runs the right one.
#[test]
fn mab_list_is_read_by_docker_and_runs_each_arch() {
    let f = Fixture::new("manifest-annotate");
    let amd = f.src_image("amd64");
    let arm = f.src_image("arm64");
    let list = format!("{}:v1", f.repo("list"));

    let out = f.mab(&["create", "--insecure", &list, &amd, &arm]);
    out.assert_success();
    assert!(
        out.stdout
            .contains(&format!("Created manifest list {list}")),
        "{out}"
    );
    f.mab(&[
        "annotate",
        "--variant",
        "v8",
        "--os-version",
        "10.0.1",
        &list,
        &arm,
    ])
    .assert_success();
    f.mab(&["annotate", "--os-features", "sse4,avx2", &list, &amd])
        .assert_success();

    // --insecure was remembered: push needs no flag.
    let pushed = f.mab(&["push", &list]);
    pushed.assert_success();
    let digest = pushed.stdout.trim().to_string();
    assert_eq!(
        registry_digest(&list),
        digest,
        "the digest push printed\n{pushed}"
    );
    assert_eq!(
        f.store_snapshot().len(),
        1,
        "the list stays in the store after a push without --purge"
    );

    let inspect = f.docker(&["manifest", "inspect", "--insecure", &list]);
    inspect.assert_success();
    let doc = inspect.json();
    assert_eq!(doc["mediaType"], DOCKER_LIST, "{inspect}");
    assert_eq!(
        doc["manifests"].as_array().map(Vec::len),
        Some(2),
        "{inspect}"
    );
    let arm_entry = entry_for(&doc, "arm64");
    assert_eq!(
        arm_entry["platform"],
        json!({"architecture": "arm64", "os": "linux", "os.version": "10.0.1", "variant": "v8"}),
        "{inspect}"
    );
    assert_eq!(arm_entry["digest"], registry_digest(&arm), "{inspect}");
    let amd_entry = entry_for(&doc, "amd64");
    assert_eq!(
        amd_entry["platform"],
        json!({"architecture": "amd64", "os": "linux", "os.features": ["sse4", "avx2"]}),
        "{inspect}"
    );
    assert_eq!(amd_entry["digest"], registry_digest(&amd), "{inspect}");

    assert_complete_in_registry(&list);
    if engine_version().0 >= 25 {
        // Current engines (containerd's platform matcher) pass over an entry whose
        // `os.features` the machine does not declare, as the amd64 one here: run each entry
        // by its digest instead.
        let repository = list.rsplit_once(':').map_or(list.as_str(), |(r, _)| r);
        for (digest, platform, want) in [
            (&amd_entry["digest"], "linux/amd64", "x86_64"),
            (&arm_entry["digest"], "linux/arm64", "aarch64"),
        ] {
            let by_digest = format!("{repository}@{}", digest.as_str().expect("a digest"));
            assert_eq!(uname_m(&by_digest, platform), want);
        }
    } else {
        assert_eq!(uname_m(&list, "linux/amd64"), "x86_64");
        assert_eq!(uname_m(&list, "linux/arm64"), "aarch64");
    }

    // --purge deletes the local copy.
    f.mab(&["push", "--purge", &list]).assert_success();
    assert!(
        f.store_snapshot().is_empty(),
        "{:?}",
        f.store_snapshot().keys()
    );
}

/// The docker CLI creates and pushes a list; mab's `inspect` prints it as stored, and
/// `inspect -v` gives the docker CLI's verbose shape with the full manifests.
#[test]
fn docker_list_is_read_by_mab_inspect() {
    let f = Fixture::new("manifest-docker-made");
    let amd = f.src_image("amd64");
    let arm = f.src_image("arm64");
    let list = format!("{}:v1", f.repo("list"));
    f.docker(&["manifest", "create", "--insecure", &list, &amd, &arm])
        .assert_success();
    f.docker(&["manifest", "push", "--insecure", &list])
        .assert_success();
    let raw = registry_raw(&list);

    let out = f.mab(&["inspect", "--insecure", &list]);
    out.assert_success();
    assert_eq!(
        out.stdout.trim_end().as_bytes(),
        raw.trim_ascii_end(),
        "inspect prints the list byte for byte\n{out}"
    );

    let out = f.mab(&["inspect", "-v", "--insecure", &list]);
    out.assert_success();
    let verbose = out.json();
    let stored: Value = serde_json::from_slice(&raw).expect("the list is JSON");
    let items = verbose
        .as_array()
        .unwrap_or_else(|| panic!("an array\n{out}"));
    assert_eq!(items.len(), 2, "{out}");
    for (item, descriptor) in items.iter().zip(stored["manifests"].as_array().unwrap()) {
        let digest = descriptor["digest"].as_str().unwrap();
        assert_eq!(item["Ref"], format!("{}@{digest}", f.repo("list")), "{out}");
        assert_eq!(item["Descriptor"]["digest"], descriptor["digest"], "{out}");
        assert_eq!(item["Descriptor"]["size"], descriptor["size"], "{out}");
        assert_eq!(
            item["Descriptor"]["mediaType"], descriptor["mediaType"],
            "{out}"
        );
        assert_eq!(
            item["Descriptor"]["platform"], descriptor["platform"],
            "{out}"
        );
        let child_raw = registry_raw(&format!("{}@{digest}", f.repo("list")));
        assert_eq!(item["Raw"], base64(&child_raw), "{out}");
        let child: Value = serde_json::from_slice(&child_raw).unwrap();
        assert_eq!(item["SchemaV2Manifest"], child, "{out}");
        assert!(
            !item["SchemaV2Manifest"]["layers"]
                .as_array()
                .unwrap()
                .is_empty(),
            "{out}"
        );
    }

    // A single image: as stored without -v; one object with its config's platform with -v.
    let out = f.mab(&["inspect", "--insecure", &arm]);
    out.assert_success();
    assert_eq!(
        out.stdout.trim_end().as_bytes(),
        registry_raw(&arm).trim_ascii_end()
    );
    let out = f.mab(&["inspect", "-v", "--insecure", &arm]);
    out.assert_success();
    let one = out.json();
    assert_eq!(one["Ref"], arm, "{out}");
    assert_eq!(one["Descriptor"]["digest"], registry_digest(&arm), "{out}");
    assert_eq!(
        one["Descriptor"]["platform"]["architecture"], "arm64",
        "{out}"
    );
    // The docker CLI agrees on that descriptor.
    let theirs = f.docker(&["manifest", "inspect", "-v", "--insecure", &arm]);
    theirs.assert_success();
    assert_eq!(theirs.json()["Descriptor"], one["Descriptor"], "{theirs}");
}

/// For the same inputs, the list mab pushes (docker format, the default) has the same entries,
/// digests, sizes and platforms, as the one `docker manifest push` pushes; `--format oci` gives an
/// OCI index of the same entries, with the index annotations asked for.
#[test]
fn docker_format_entries_match_docker_manifest_push() {
    let f = Fixture::new("manifest-same-entries");
    let amd = f.src_image("amd64");
    let arm = f.src_image("arm64");
    let repo = f.repo("list");
    let theirs = format!("{repo}:docker");
    let ours = format!("{repo}:mab");
    let ours_oci = format!("{repo}:oci");

    f.docker(&["manifest", "create", "--insecure", &theirs, &amd, &arm])
        .assert_success();
    f.docker(&["manifest", "push", "--insecure", &theirs])
        .assert_success();
    f.mab(&["create", "--insecure", &ours, &amd, &arm])
        .assert_success();
    f.mab(&["push", &ours]).assert_success();

    let theirs: Value = serde_json::from_slice(&registry_raw(&theirs)).unwrap();
    let ours: Value = serde_json::from_slice(&registry_raw(&ours)).unwrap();
    assert_eq!(theirs["mediaType"], DOCKER_LIST);
    assert_eq!(ours["mediaType"], theirs["mediaType"]);
    assert_eq!(ours["schemaVersion"], theirs["schemaVersion"]);
    assert_eq!(
        ours["manifests"], theirs["manifests"],
        "same entries, in the same order, field for field"
    );

    f.mab(&[
        "create",
        "--insecure",
        "--format",
        "oci",
        "--annotation",
        "org.opencontainers.image.description=two arches",
        &ours_oci,
        &amd,
        &arm,
    ])
    .assert_success();
    f.mab(&["push", &ours_oci]).assert_success();
    let oci: Value = serde_json::from_slice(&registry_raw(&ours_oci)).unwrap();
    assert_eq!(oci["mediaType"], OCI_INDEX, "{oci:#}");
    assert_eq!(
        oci["annotations"]["org.opencontainers.image.description"],
        "two arches"
    );
    assert_eq!(oci["manifests"], theirs["manifests"], "{oci:#}");
    assert_complete_in_registry(&ours_oci);
}

/// `create --amend` reads every entry again: an image re-pushed under the same tag gets its new
/// digest (the docker CLI keeps the stale one), and a platform set with annotate survives.
#[test]
fn amend_picks_up_a_repushed_image() {
    let f = Fixture::new("manifest-amend");
    let amd = f.src_image("amd64");
    let arm = f.src_image("arm64");
    let list = format!("{}:v1", f.repo("list"));
    f.mab(&["create", "--insecure", &list, &amd, &arm])
        .assert_success();
    f.mab(&["annotate", "--os-version", "1.2.3", &list, &amd])
        .assert_success();
    let old = registry_digest(&amd);
    assert_eq!(entry_for(&f.local_list(&list), "amd64")["digest"], old);

    // Re-push src:amd64 as an OCI manifest: same image, new manifest digest.
    skopeo([
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--format",
        "oci",
        &format!("docker://{amd}"),
        &format!("docker://{amd}"),
    ])
    .assert_success();
    let new = registry_digest(&amd);
    assert_ne!(new, old);

    let out = f.mab(&["create", "--amend", &list]);
    out.assert_success();
    out.assert_stderr_contains(&[&format!("(was {old})")]);
    let local = f.local_list(&list);
    let amd_entry = entry_for(&local, "amd64");
    assert_eq!(amd_entry["digest"], new, "{local:#}");
    assert_eq!(amd_entry["mediaType"], OCI_MANIFEST, "{local:#}");
    assert_eq!(amd_entry["platform"]["os.version"], "1.2.3", "{local:#}");
    assert_eq!(entry_for(&local, "arm64")["digest"], registry_digest(&arm));

    let pushed = f.mab(&["push", &list]);
    pushed.assert_success();
    let stored: Value = serde_json::from_slice(&registry_raw(&list)).unwrap();
    assert_eq!(entry_for(&stored, "amd64")["digest"], new, "{stored:#}");
    assert_complete_in_registry(&list);
}

// ---------------------------------------------------------------------------------------------
// An index with attestations, pushed by hand over plain HTTP.

/// One HTTP/1.1 request to the plain-HTTP test registry: (status, headers, body).
fn http(method: &str, url_path: &str, content_type: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let registry = &TestEnv::get().registry;
    let mut stream = std::net::TcpStream::connect(registry).expect("connecting to the registry");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let head = format!(
        "{method} {url_path} HTTP/1.1\r\nHost: {registry}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer");
    let headers = String::from_utf8_lossy(&answer[..split]).into_owned();
    let status = headers
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    (status, headers, answer[split + 4..].to_vec())
}

/// Uploads a blob (monolithic) to `repo` (`e2e/…`, without the registry); returns its digest.
fn put_blob(repo: &str, bytes: &[u8]) -> String {
    let digest = sha256_digest(bytes);
    let (status, headers, _) = http(
        "POST",
        &format!("/v2/{repo}/blobs/uploads/"),
        "text/plain",
        b"",
    );
    assert_eq!(status, 202, "{headers}");
    let location = headers
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("location"))
                .map(|(_, v)| v.trim().to_string())
        })
        .expect("a Location header");
    let path = match location.find("/v2/") {
        Some(at) => location[at..].to_string(),
        None => location,
    };
    let separator = if path.contains('?') { '&' } else { '?' };
    let (status, headers, body) = http(
        "PUT",
        &format!("{path}{separator}digest={digest}"),
        "application/octet-stream",
        bytes,
    );
    assert_eq!(status, 201, "{headers}\n{}", String::from_utf8_lossy(&body));
    digest
}

/// Stores a manifest under `reference` (tag or digest) in `repo`.
fn put_manifest(repo: &str, reference: &str, media_type: &str, bytes: &[u8]) {
    let (status, headers, body) = http(
        "PUT",
        &format!("/v2/{repo}/manifests/{reference}"),
        media_type,
        bytes,
    );
    assert_eq!(status, 201, "{headers}\n{}", String::from_utf8_lossy(&body));
}

/// A MANIFEST that is an index with an attestation (as BuildKit pushes): its platform images
/// are taken and the `unknown/unknown` attestation left out, unless `--keep-attestations`; an
/// entry of it is annotated by digest; pushing copies the attestation's blobs too.
#[test]
fn an_index_with_attestations_is_accepted() {
    let f = Fixture::new("manifest-attest");
    let amd = f.src_image("amd64");
    let arm = f.src_image("arm64");
    let src_path = f.src()[TestEnv::get().registry.len() + 1..].to_string();

    // An attestation manifest for the amd64 image, as BuildKit makes them.
    let statement = br#"{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://slsa.dev/provenance/v0.2","subject":[],"predicate":{}}"#;
    let layer = put_blob(&src_path, statement);
    let config = br#"{"architecture":"unknown","os":"unknown","config":{},"rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_digest = put_blob(&src_path, config);
    let attestation = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len()},
        "layers": [{
            "mediaType": "application/vnd.in-toto+json",
            "digest": layer,
            "size": statement.len(),
            "annotations": {"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"}
        }]
    }))
    .unwrap();
    let attestation_digest = sha256_digest(&attestation);
    put_manifest(&src_path, &attestation_digest, OCI_MANIFEST, &attestation);

    let descriptor = |image: &str, platform: Value| {
        let raw = registry_raw(image);
        json!({"mediaType": DOCKER_MANIFEST, "digest": sha256_digest(&raw), "size": raw.len(), "platform": platform})
    };
    let amd_digest = registry_digest(&amd);
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            descriptor(&amd, json!({"architecture": "amd64", "os": "linux"})),
            descriptor(&arm, json!({"architecture": "arm64", "os": "linux", "variant": "v8"})),
            {
                "mediaType": OCI_MANIFEST,
                "digest": attestation_digest,
                "size": attestation.len(),
                "platform": {"architecture": "unknown", "os": "unknown"},
                "annotations": {
                    "vnd.docker.reference.digest": amd_digest,
                    "vnd.docker.reference.type": "attestation-manifest"
                }
            }
        ]
    }))
    .unwrap();
    put_manifest(&src_path, "multi", OCI_INDEX, &index);
    let multi = format!("{}:multi", f.src());

    let list = format!("{}:v1", f.repo("list"));
    f.mab(&["create", "--insecure", &list, &multi])
        .assert_success();
    let local = f.local_list(&list);
    assert_eq!(
        local["manifests"].as_array().map(Vec::len),
        Some(2),
        "{local:#}"
    );
    assert_eq!(entry_for(&local, "amd64")["digest"], amd_digest);
    assert_eq!(entry_for(&local, "arm64")["platform"]["variant"], "v8");

    // The index names two entries: annotate wants one, by digest.
    let out = f.mab(&["annotate", "--os-version", "2", &list, &multi]);
    out.assert_code(1)
        .assert_stderr_contains(&["names 2 entries", &multi]);
    let arm_by_digest = format!("{}@{}", f.src(), registry_digest(&arm));
    f.mab(&["annotate", "--os-version", "2", &list, &arm_by_digest])
        .assert_success();
    f.mab(&["push", &list]).assert_success();
    assert_complete_in_registry(&list);

    let with = format!("{}:attested", f.repo("list"));
    f.mab(&[
        "create",
        "--insecure",
        "--format",
        "oci",
        "--keep-attestations",
        &with,
        &multi,
    ])
    .assert_success();
    let local = f.local_list(&with);
    assert_eq!(
        local["manifests"].as_array().map(Vec::len),
        Some(3),
        "{local:#}"
    );
    let kept = entry_for(&local, "unknown");
    assert_eq!(kept["digest"], attestation_digest);
    assert_eq!(
        kept["annotations"]["vnd.docker.reference.digest"],
        amd_digest
    );
    f.mab(&["push", &with]).assert_success();
    // The attestation's blobs were brought into the list's repository.
    let list_path = f.repo("list")[TestEnv::get().registry.len() + 1..].to_string();
    for blob in [&layer, &config_digest] {
        let (status, headers, _) = http(
            "HEAD",
            &format!("/v2/{list_path}/blobs/{blob}"),
            "text/plain",
            b"",
        );
        assert_eq!(status, 200, "{blob} in {list_path}\n{headers}");
    }
}

// ---------------------------------------------------------------------------------------------
// Bad input

/// Each bad input is a clear error naming what is wrong, exit code 1 or 2, and the store is
/// exactly as it was.
#[test]
fn bad_input_is_refused_and_leaves_the_store_unchanged() {
    let f = Fixture::new("manifest-bad-input");
    let amd = f.src_image("amd64");
    let list = format!("{}:v1", f.repo("list"));
    f.mab(&["create", "--insecure", &list, &amd])
        .assert_success();
    let before = f.store_snapshot();
    assert_eq!(before.len(), 1, "{:?}", before.keys());

    let unknown_list = format!("{}:v1", f.repo("nolist"));
    let missing_image = format!("{}:nope", f.src());
    let not_in_list = format!("{}:arm64", f.src());
    let new_list = format!("{}:v2", f.repo("list"));
    let list_by_digest = format!("{list}@sha256:{}", "0".repeat(64));
    let cases: Vec<(Vec<&str>, i32, Vec<&str>)> = vec![
        // An unknown list, for every verb that needs a local one.
        (
            vec!["push", &unknown_list],
            1,
            vec![&unknown_list, "no local manifest list"],
        ),
        (
            vec!["annotate", "--os-version", "1", &unknown_list, &amd],
            1,
            vec![&unknown_list],
        ),
        (vec!["inspect", &unknown_list, &amd], 1, vec![&unknown_list]),
        (vec!["rm", &unknown_list], 1, vec![&unknown_list]),
        (
            vec!["rm", &list, &unknown_list],
            1,
            vec![&unknown_list, "nothing was deleted"],
        ),
        // An image that is not in the registry: named, never looked for on Docker Hub.
        (
            vec!["create", "--insecure", &new_list, &missing_image],
            1,
            vec![&missing_image, "is not in registry"],
        ),
        (
            vec!["create", "--amend", &list, &missing_image],
            1,
            vec![&missing_image, "is not in registry"],
        ),
        (
            vec!["inspect", "--insecure", &missing_image],
            1,
            vec![&missing_image, "is not in registry"],
        ),
        // A list with no entries.
        (vec!["create", "--insecure", &new_list], 2, vec!["MANIFEST"]),
        // Annotating an image that is not in the list.
        (
            vec!["annotate", "--os-version", "1", &list, &not_in_list],
            1,
            vec![&not_in_list, &list, "has no entry"],
        ),
        // --arch without --os, where the pair with the entry's os is invalid; and bad names.
        (
            vec!["annotate", "--arch", "wasm", &list, &amd],
            2,
            vec!["linux/wasm", &amd],
        ),
        (
            vec![
                "annotate", "--os", "windows", "--arch", "s390x", &list, &amd,
            ],
            2,
            vec!["windows/s390x"],
        ),
        (
            vec!["annotate", "--arch", "amd65", &list, &amd],
            2,
            vec!["unknown architecture \"amd65\""],
        ),
        (
            vec!["annotate", &list, &amd],
            2,
            vec!["nothing to annotate"],
        ),
        // Creating over an existing list without --amend.
        (
            vec!["create", "--insecure", &list, &amd],
            1,
            vec![&list, "already exists", "--amend"],
        ),
        // Annotations need the OCI format; KEY=VALUE.
        (
            vec![
                "create",
                "--insecure",
                "--annotation",
                "a=b",
                &new_list,
                &amd,
            ],
            2,
            vec!["--format oci"],
        ),
        (
            vec![
                "create",
                "--insecure",
                "--format",
                "oci",
                "--annotation",
                "novalue",
                &new_list,
                &amd,
            ],
            2,
            vec!["KEY=VALUE"],
        ),
        // Bad references; images from another registry.
        (
            vec!["create", "--insecure", "Not/A/Reference", &amd],
            2,
            vec!["invalid image reference"],
        ),
        (
            vec!["create", "--insecure", &list_by_digest, &amd],
            2,
            vec!["has a digest"],
        ),
        (
            vec![
                "create",
                "--amend",
                &list,
                "docker.io/library/busybox:latest",
            ],
            2,
            vec!["docker.io", &list],
        ),
    ];
    for (args, code, needles) in cases {
        let out = f.mab(&args);
        out.assert_code(code)
            .assert_error_line()
            .assert_stderr_contains(&needles);
        assert_eq!(
            f.store_snapshot(),
            before,
            "the store changed after {args:?}\n{out}"
        );
    }
}

/// Two processes annotating the same list at once: both changes are kept.
#[test]
fn concurrent_annotates_lose_nothing() {
    let f = Fixture::new("manifest-concurrent");
    let amd = f.src_image("amd64");
    let list = format!("{}:v1", f.repo("list"));
    f.mab(&["create", "--insecure", &list, &amd])
        .assert_success();
    let rounds = 8;
    std::thread::scope(|scope| {
        for writer in 0..2 {
            let (f, list, amd) = (&f, &list, &amd);
            scope.spawn(move || {
                for round in 0..rounds {
                    let feature = format!("f{writer}-{round}");
                    f.mab(&["annotate", "--os-features", &feature, list, amd])
                        .assert_success();
                }
            });
        }
    });
    let local = f.local_list(&list);
    let features = entry_for(&local, "amd64")["platform"]["os.features"]
        .as_array()
        .map(Vec::len);
    assert_eq!(features, Some(2 * rounds), "{local:#}");
}

/// A registry that refuses cross-repository mounts (the proxy answers them 404): `push` copies
/// the blobs the list's repository lacks, streamed from the images' repository, and the list is
/// complete there.
#[test]
fn blobs_are_copied_when_the_registry_refuses_mounts() {
    let f = Fixture::new("manifest-copy");
    let proxy = mab_tests::fault_proxy::FaultProxy::start(
        &f.env.registry,
        vec![mab_tests::fault_proxy::Rule::new(
            "POST",
            "mount=",
            mab_tests::fault_proxy::Fault::Status(404),
            usize::MAX,
        )],
    );
    let through = |image: &str| image.replacen(&f.env.registry, proxy.address(), 1);
    let amd = through(&f.src_image("amd64"));
    let arm = through(&f.src_image("arm64"));
    let list = format!("{}:v1", f.repo("list"));

    f.mab(&["create", "--insecure", &through(&list), &amd, &arm])
        .assert_success();
    let pushed = f.mab(&["push", &through(&list)]);
    pushed.assert_success();
    assert!(proxy.injected() >= 1, "a mount was asked and refused");
    let uploads = proxy.requests("POST", "/blobs/uploads/") - proxy.requests("POST", "mount=");
    assert!(
        uploads >= 3,
        "the blobs were uploaded instead ({uploads} upload sessions)\n{pushed}"
    );
    // Read from the real registry, not through the proxy.
    assert_eq!(registry_digest(&list), pushed.stdout.trim());
    assert_complete_in_registry(&list);
}
