//! Image references (`[registry/]repository[:tag][@digest]`), read with the distribution
//! reference grammar and normalised as docker does: `busybox` is
//! `docker.io/library/busybox:latest`.
//!
//! The grammar is matched here by hand rather than by oci-spec's parser: that one compiles, on
//! the first reference a process reads, a regular expression whose Unicode `\w{0,127}` tag
//! makes an automaton of ~50–70 ms of CPU (measured on the project's machine), paid by every
//! `mab` command before its first request. The result is the same `Reference` (a table test
//! holds the two parsers to the same answers), but for tags: ASCII word characters only, as
//! the distribution grammar means (Go's `\w`), where oci-spec also takes other letters.

use std::fmt;
use std::str::FromStr;

use oci_spec::distribution::Reference;

pub use oci_spec::distribution::ParseError as InvalidReference;

use crate::Repository;
use crate::repository::{MAX_NAME_LENGTH, is_domain_component, is_path_component, normalise};

/// An image reference, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReference {
    inner: Reference,
}

impl ImageReference {
    /// Parses and normalises a reference.
    pub fn parse(text: &str) -> Result<Self, InvalidReference> {
        Ok(Self {
            inner: parse_reference(text.trim())?,
        })
    }

    /// `host[:port]` of the registry (`docker.io` for Docker Hub).
    pub fn registry(&self) -> &str {
        self.inner.registry()
    }

    /// The repository path inside the registry (`team/app`, `library/busybox`).
    pub fn repository(&self) -> &str {
        self.inner.repository()
    }

    /// The tag, if the reference has one.
    pub fn tag(&self) -> Option<&str> {
        self.inner.tag()
    }

    /// The digest, if the reference has one.
    pub fn digest(&self) -> Option<&str> {
        self.inner.digest()
    }

    /// `registry/repository`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry(), self.repository())
    }

    /// What a registry is asked for: the digest if there is one, else the tag (`latest` when
    /// none is written).
    pub fn tag_or_digest(&self) -> &str {
        self.digest().or(self.tag()).unwrap_or("latest")
    }

    /// Whether the reference names an image of `repository`.
    pub fn is_in(&self, repository: &Repository) -> bool {
        self.registry() == repository.registry() && self.repository() == repository.path()
    }
}

/// `[domain/]path[:tag][@digest]`, as the distribution reference grammar reads it.
fn parse_reference(text: &str) -> Result<Reference, InvalidReference> {
    if text.is_empty() {
        return Err(InvalidReference::NameEmpty);
    }
    let invalid = InvalidReference::ReferenceInvalidFormat;
    let (name_and_tag, digest) = match text.split_once('@') {
        Some((rest, digest)) if is_digest(digest) => (rest, Some(digest)),
        Some(_) => return Err(invalid),
        None => (text, None),
    };
    // A `:` after the last `/` starts the tag (a port's `:` is always followed by a `/`).
    let (name, tag) = match name_and_tag.rfind(':') {
        Some(colon) if !name_and_tag[colon..].contains('/') => {
            (&name_and_tag[..colon], Some(&name_and_tag[colon + 1..]))
        }
        _ => (name_and_tag, None),
    };
    if tag.is_some_and(|tag| !is_tag(tag)) || !is_name(name) {
        return Err(invalid);
    }
    let (registry, repository) = split_domain(name);
    if repository.len() > MAX_NAME_LENGTH {
        return Err(InvalidReference::NameTooLong);
    }
    if let Some((algorithm, hex)) = digest.and_then(|digest| digest.split_once(':')) {
        let expected = match algorithm {
            "sha256" => 64,
            "sha384" => 96,
            "sha512" => 128,
            _ => return Err(InvalidReference::DigestUnsupported),
        };
        if hex.len() != expected {
            return Err(InvalidReference::DigestInvalidLength);
        }
    }
    Ok(match (tag, digest) {
        (Some(tag), Some(digest)) => {
            Reference::with_tag_and_digest(registry, repository, tag.into(), digest.into())
        }
        (None, Some(digest)) => Reference::with_digest(registry, repository, digest.into()),
        (tag, None) => Reference::with_tag(registry, repository, tag.unwrap_or("latest").into()),
    })
}

/// `[domain/]path`: the first component may be a domain only if more follow.
fn is_name(name: &str) -> bool {
    is_path(name)
        || name
            .split_once('/')
            .is_some_and(|(domain, path)| is_domain(domain) && is_path(path))
}

/// `host[:port]`: dot-separated labels, then digits.
fn is_domain(domain: &str) -> bool {
    let (host, port) = match domain.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (domain, None),
    };
    host.split('.').all(is_domain_component)
        && port.is_none_or(|port| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
}

/// Slash-separated path components.
fn is_path(path: &str) -> bool {
    path.split('/').all(is_path_component)
}

/// A word character, then up to 127 word characters, dots and hyphens.
fn is_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    tag.len() <= 128
        && tag.bytes().next().is_some_and(word)
        && tag.bytes().all(|b| word(b) || b == b'.' || b == b'-')
}

/// `algorithm:hex`, the algorithm letters and digits joined by `-_+.`, at least 32 hex digits.
fn is_digest(digest: &str) -> bool {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return false;
    };
    let part = |part: &str| {
        part.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            && part.bytes().all(|b| b.is_ascii_alphanumeric())
    };
    algorithm.split(['-', '_', '+', '.']).all(part)
        && hex.len() >= 32
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Docker's normalisation: a first component that has no `.` or `:` and is not `localhost` is
/// part of a Docker Hub path ([`normalise`] then names Docker Hub as Repository does).
fn split_domain(name: &str) -> (String, String) {
    match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
            normalise(Some(first), rest)
        }
        _ => normalise(None, name),
    }
}

impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.whole())
    }
}

impl FromStr for ImageReference {
    type Err = InvalidReference;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_normalised_as_docker_does() {
        for (text, registry, repository, tag) in [
            ("busybox", "docker.io", "library/busybox", Some("latest")),
            ("me/app:1", "docker.io", "me/app", Some("1")),
            (
                "index.docker.io/me/app",
                "docker.io",
                "me/app",
                Some("latest"),
            ),
            ("127.0.0.1:5000/a/b:c", "127.0.0.1:5000", "a/b", Some("c")),
        ] {
            let parsed = ImageReference::parse(text).unwrap();
            assert_eq!(
                (parsed.registry(), parsed.repository(), parsed.tag()),
                (registry, repository, tag),
                "{text}"
            );
        }
        let pinned = ImageReference::parse(
            "127.0.0.1:5000/a/b@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        )
        .unwrap();
        assert!(pinned.tag_or_digest().starts_with("sha256:"));
        assert!(ImageReference::parse("127.0.0.1:5000/UPPER").is_err());
    }

    /// The hand-written grammar gives oci-spec's answer (its regular expression is the oracle)
    /// for every reference here: valid ones, each way of being invalid, and the corners of the
    /// grammar (separators, ports, a tag that looks like a port, digests).
    #[test]
    fn the_grammar_reads_references_as_oci_spec_does() {
        let hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let hex32 = "0123456789abcdef0123456789abcdef";
        let long_tag = "t".repeat(128);
        let too_long_tag = "t".repeat(129);
        let long_path = format!("r/{}", "a".repeat(254));
        let mut cases: Vec<String> = [
            "busybox",
            "busybox:latest",
            "library/busybox",
            "me/app:1",
            "me/app:v1.2-rc_3",
            "index.docker.io/me/app",
            "docker.io/busybox",
            "localhost/app",
            "localhost:5000/app",
            "localhost:5000",
            "localhost:tag",
            "test.com:tag",
            "test.com:5000",
            "test.com/repo:tag",
            "test:5000/repo",
            "test:5000/repo:tag",
            "127.0.0.1:5000/a/b:c",
            "[::1]:5000/a",
            "a.b.c/d/e/f:g",
            "a-b.c/d",
            "-a.c/d",
            "a-.c/d",
            "a..c/d",
            "a.c:/d",
            "a.c:x/d",
            "foo_bar",
            "foo__bar",
            "foo___bar",
            "foo.bar",
            "foo..bar",
            "foo-bar",
            "foo--bar",
            "foo-",
            "-foo",
            "foo.",
            "_foo",
            "foo/",
            "/foo",
            "foo//bar",
            "Foo",
            "foo/Bar",
            "FOO.com/bar",
            "foo:",
            ":tag",
            "foo:-tag",
            "foo:.tag",
            "foo:_tag",
            "foo:ta/g",
            "foo:tag:tag",
            "foo@",
            "foo@sha256",
            "foo@sha256:",
            "",
            " ",
            "a b",
            "é/app",
            "app:tág",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for (prefix, digest) in [
            ("foo@", format!("sha256:{hex64}")),
            ("foo:tag@", format!("sha256:{hex64}")),
            ("127.0.0.1:5000/a@", format!("sha256:{hex64}")),
            ("foo@", format!("sha256:{hex32}")),
            ("foo@", format!("sha256:{}", &hex32[1..])),
            ("foo@", format!("sha256:{}", hex64.to_uppercase())),
            ("foo@", format!("sha512:{hex64}{hex64}")),
            ("foo@", format!("sha384:{hex64}{hex32}")),
            ("foo@", format!("md5:{hex32}")),
            ("foo@", format!("sha256+b64:{hex64}")),
            ("foo@", format!("sha256:{hex64}x")),
            ("foo@", format!("256:{hex64}")),
            ("foo@bar@", format!("sha256:{hex64}")),
        ] {
            cases.push(format!("{prefix}{digest}"));
        }
        cases.push(format!("foo:{long_tag}"));
        cases.push(format!("foo:{too_long_tag}"));
        cases.push(long_path.clone());
        cases.push(format!("{long_path}a"));
        cases.push(format!("example.com/{}", &long_path[..255]));
        cases.push(format!("example.com/{}a", &long_path[..255]));
        for case in &cases {
            let ours = parse_reference(case);
            let theirs = Reference::try_from(case.as_str());
            // oci-spec's `\w` is Unicode; the distribution grammar's is ASCII.
            if case == "app:tág" {
                assert!(ours.is_err() && theirs.is_ok(), "{case}");
                continue;
            }
            assert_eq!(ours, theirs, "{case:?}");
        }
    }

    #[test]
    fn a_reference_is_in_its_repository() {
        let yes = [
            ("127.0.0.1:5000/demo/base:1.2.3", "127.0.0.1:5000/demo/base"),
            (
                "127.0.0.1:5000/demo/base@sha256:0000000000000000000000000000000000000000000000000000000000000000",
                "127.0.0.1:5000/demo/base",
            ),
            ("alpine:3", "docker.io/library/alpine"),
            ("me/app", "docker.io/me/app"),
            ("index.docker.io/me/app:1", "docker.io/me/app"),
        ];
        for (reference, repository) in yes {
            let reference = ImageReference::parse(reference).unwrap();
            assert!(
                reference.is_in(&repository.parse().unwrap()),
                "{reference} {repository}"
            );
        }
        let no = [
            ("127.0.0.1:5000/demo/base2:1", "127.0.0.1:5000/demo/base"),
            ("127.0.0.1:5001/demo/base", "127.0.0.1:5000/demo/base"),
            ("alpine", "docker.io/me/alpine"),
        ];
        for (reference, repository) in no {
            let reference = ImageReference::parse(reference).unwrap();
            assert!(
                !reference.is_in(&repository.parse().unwrap()),
                "{reference} {repository}"
            );
        }
    }
}
