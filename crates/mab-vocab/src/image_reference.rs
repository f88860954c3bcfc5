//! Image references (`[registry/]repository[:tag][@digest]`), read with the distribution
//! reference grammar (oci-spec's parser) and normalised as docker does: `busybox` is
//! `docker.io/library/busybox:latest`.

use std::fmt;
use std::str::FromStr;

use oci_spec::distribution::Reference;

pub use oci_spec::distribution::ParseError as InvalidReference;

use crate::Repository;

/// An image reference, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReference {
    inner: Reference,
}

impl ImageReference {
    /// Parses and normalises a reference.
    pub fn parse(text: &str) -> Result<Self, InvalidReference> {
        Ok(Self {
            inner: Reference::try_from(text.trim())?,
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
