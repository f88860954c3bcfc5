//! `sha256:` digests, as image ids, manifests, blobs (and mab's own keys) are named.

/// The 64 hex digits of a `sha256:` digest; `None` for anything else.
pub fn sha256_hex(digest: &str) -> Option<&str> {
    digest
        .strip_prefix("sha256:")
        .filter(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::sha256_hex;

    #[test]
    fn only_sha256_and_64_hex_digits() {
        let hex = "84654c3dc92c7757b956d51836c24dad05d80e6a0642f553e2eb9ed5490ec2a4";
        assert_eq!(sha256_hex(&format!("sha256:{hex}")), Some(hex));
        for other in [
            hex.to_string(),
            format!("sha256:{}", &hex[1..]),
            format!("sha256:{hex}0"),
            format!("sha512:{hex}"),
            format!("sha256:{}g", &hex[1..]),
            "sha256:../x".to_string(),
            String::new(),
        ] {
            assert_eq!(sha256_hex(&other), None, "{other}");
        }
    }
}
