//! Arbitrary bytes as a manifest or index served by a registry: an error is fine, a panic is not,
//! and a document that parses names only well-formed digests.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(document) = mab_registry::parse_document(data, "fuzz/input:latest") {
        assert!(document.children.iter().all(|d| d.len() == 71));
    }
});
