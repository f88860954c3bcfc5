//! A registry serving malformed manifests (through the fault proxy, which answers for it): each
//! case gets its own specific error naming the reference, and no panic.

use mab_tests::fault_proxy::{Fault, FaultProxy, Rule};
use mab_tests::*;

fn respond(content_type: &str, digest: Option<&str>, body: Vec<u8>) -> Fault {
    let mut headers = vec![format!("Content-Type: {content_type}")];
    if let Some(digest) = digest {
        headers.push(format!("Docker-Content-Digest: {digest}"));
    }
    Fault::Respond {
        status: 200,
        headers,
        body,
    }
}

#[test]
fn every_malformed_manifest_gets_its_own_error() {
    let env = TestEnv::get();
    let sound = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
    let other_digest = sha256_digest(b"something else");
    let cases: Vec<(&str, Fault, &str)> = vec![
        (
            "truncated json",
            respond(OCI_INDEX, None, sound[..40].to_vec()),
            "the manifest is not valid json",
        ),
        (
            "a media type that is no manifest",
            respond(
                "application/vnd.example.thing+json",
                None,
                br#"{"schemaVersion":2,"mediaType":"application/vnd.example.thing+json","config":{}}"#.to_vec(),
            ),
            "media type application/vnd.example.thing+json is neither an image manifest nor an index",
        ),
        (
            "a digest that does not match the bytes",
            respond(OCI_INDEX, Some(&other_digest), sound.to_vec()),
            "expected",
        ),
        (
            "schema version 1",
            respond(OCI_INDEX, None, br#"{"schemaVersion":1,"name":"x"}"#.to_vec()),
            "schema version Some(1) is not supported",
        ),
        (
            "a huge manifest",
            respond(OCI_INDEX, None, vec![b' '; 5 * 1024 * 1024]),
            "more than the 4194304 bytes a manifest may have",
        ),
        (
            "an index with no manifests",
            respond(OCI_INDEX, None, sound.to_vec()),
            "lists no manifests",
        ),
    ];
    for (name, fault, expected) in cases {
        let proxy = FaultProxy::start(
            &env.registry,
            vec![Rule::new("GET", "/manifests/", fault, usize::MAX)],
        );
        let reference = format!(
            "{}/e2e/{}:latest",
            proxy.address(),
            unique_name("malformed")
        );
        let out = mab().args(["verify", "--insecure"]).arg(&reference).run();
        assert_eq!(out.code, Some(1), "{name}: {}", out.all());
        assert!(
            out.stderr.contains(expected),
            "{name}: expected {expected:?} in:\n{}",
            out.all()
        );
        assert!(!out.stderr.contains("panicked"), "{name}: {}", out.all());
    }
}
