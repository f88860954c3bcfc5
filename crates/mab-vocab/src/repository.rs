//! Repository names, as the distribution reference grammar defines them (without tag or digest).
//!
//! ```text
//! name             := [registry '/'] path
//! registry         := host [':' port]            (first component with '.' or ':', or localhost)
//! host             := domain-component ('.' domain-component)* | '[' IPv6 ']'
//! domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
//! path             := path-component ('/' path-component)*
//! path-component   := [a-z0-9]+ (([._] | '__' | '-'*) [a-z0-9]+)*
//! ```
//!
//! Docker Hub shorthands are normalised as Docker does: `alpine` is `docker.io/library/alpine`,
//! `me/app` is `docker.io/me/app`, and `index.docker.io` is `docker.io`.

use std::fmt;
use std::str::FromStr;

/// Docker Hub's registry name.
const DOCKER_HUB: &str = "docker.io";
/// The longest repository name (registry and path) the distribution grammar allows.
pub(crate) const MAX_NAME_LENGTH: usize = 255;

/// A repository: where images are pushed, without tag or digest (e.g. `ghcr.io/me/app`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Repository {
    registry: String,
    path: String,
}

impl Repository {
    /// The registry host, with its port if any: `127.0.0.1:5000`, `ghcr.io`, or `docker.io` for
    /// Docker Hub names such as `alpine` or `me/app`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The path in the registry: `demo/echo-platform`, or `library/alpine` for `alpine`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Parses `input`, explaining what is wrong with it when it is not a repository.
    pub fn parse(input: &str) -> Result<Self, String> {
        if input.is_empty() {
            return Err("it is empty".to_string());
        }
        if let Some(at) = input.find('@') {
            return Err(format!(
                "it contains a digest (`{}`); name the repository only and put tags under `tags:`",
                &input[at..]
            ));
        }
        if let Some(scheme) = input.find("://") {
            return Err(format!(
                "it starts with a scheme (`{}`); give the registry host without it",
                &input[..scheme + 3]
            ));
        }
        if input.chars().any(char::is_whitespace) {
            return Err("it contains whitespace".to_string());
        }
        let (registry, path) = match input.split_once('/') {
            Some((first, rest))
                if first.contains(['.', ':']) || first == "localhost" || first.is_empty() =>
            {
                (Some(first), rest)
            }
            _ => (None, input),
        };
        if let Some(registry) = registry {
            check_registry(registry)?;
        }
        let last = path.rsplit('/').next().unwrap_or(path);
        if let Some(colon) = last.find(':') {
            let tag = &last[colon + 1..];
            let hint = if registry.is_none()
                && !path.contains('/')
                && !tag.is_empty()
                && tag.chars().all(|c| c.is_ascii_digit())
            {
                format!(
                    " (if `{input}` is a registry host, add the repository path, e.g. `{input}/team/app`)"
                )
            } else {
                String::new()
            };
            return Err(format!(
                "it contains a tag (`:{tag}`); put tags under `tags:`{hint}"
            ));
        }
        for component in path.split('/') {
            check_path_component(component)?;
        }
        if input.len() > MAX_NAME_LENGTH {
            return Err(format!(
                "it is {} characters long; the limit is {MAX_NAME_LENGTH}",
                input.len()
            ));
        }
        let (registry, path) = normalise(registry, path);
        Ok(Self { registry, path })
    }
}

/// Docker's names on Docker Hub: no registry, or `index.docker.io`, is `docker.io`, and a
/// one-component path there is in `library/`.
pub(crate) fn normalise(registry: Option<&str>, path: &str) -> (String, String) {
    let registry = match registry {
        None | Some("index.docker.io") => DOCKER_HUB,
        Some(registry) => registry,
    };
    let path = if registry == DOCKER_HUB && !path.contains('/') {
        format!("library/{path}")
    } else {
        path.to_string()
    };
    (registry.to_string(), path)
}

/// Checks `host[:port]` (the key of `registries:` and the first part of a repository).
pub fn check_registry(registry: &str) -> Result<(), String> {
    if registry.is_empty() {
        return Err("the registry host is empty".to_string());
    }
    if let Some(scheme) = registry.find("://") {
        return Err(format!(
            "it starts with a scheme (`{}`); give the registry host without it",
            &registry[..scheme + 3]
        ));
    }
    let (host, port) = if let Some(rest) = registry.strip_prefix('[') {
        // [IPv6]:port
        let Some((address, after)) = rest.split_once(']') else {
            return Err(format!("the registry `{registry}` has no closing `]`"));
        };
        let valid_address =
            !address.is_empty() && address.chars().all(|c| c.is_ascii_hexdigit() || c == ':');
        if !valid_address {
            return Err(format!(
                "the registry `{registry}` has an invalid IPv6 address `{address}`"
            ));
        }
        match after {
            "" => (None, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => {
                    return Err(format!(
                        "the registry `{registry}` has `{after}` after its IPv6 address"
                    ));
                }
            },
        }
    } else {
        match registry.rsplit_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(registry), None),
        }
    };
    if let Some(host) = host {
        let valid = !host.is_empty() && host.split('.').all(is_domain_component);
        if !valid {
            return Err(format!(
                "the registry host `{host}` is not a valid host name \
                 (letters, digits and `-` in dot-separated parts, e.g. `registry.example.com`)"
            ));
        }
    }
    if let Some(port) = port {
        let valid = !port.is_empty() && port.len() <= 5 && port.chars().all(|c| c.is_ascii_digit());
        if !valid || port.parse::<u32>().map_or(true, |p| p > 65535) {
            return Err(format!(
                "the registry `{registry}` has an invalid port `{port}` (a number up to 65535)"
            ));
        }
    }
    Ok(())
}

/// A label of a host name: letters, digits and `-`, not at either end.
pub(crate) fn is_domain_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    !bytes.is_empty()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
}

fn check_path_component(component: &str) -> Result<(), String> {
    if component.is_empty() {
        return Err(
            "it has an empty path component (`//`, or a `/` at the start or end)".to_string(),
        );
    }
    if component.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!(
            "the path component `{component}` has upper-case letters; repository paths are lower case"
        ));
    }
    if !is_path_component(component) {
        return Err(format!(
            "the path component `{component}` is not valid: it must be lower-case letters and \
             digits, separated by one `.`, one or two `_`, or dashes"
        ));
    }
    Ok(())
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*`
pub(crate) fn is_path_component(component: &str) -> bool {
    let is_alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut chars = component.chars().peekable();
    loop {
        // An alphanumeric run.
        let mut run = 0;
        while chars.peek().is_some_and(|c| is_alnum(*c)) {
            chars.next();
            run += 1;
        }
        if run == 0 {
            return false;
        }
        // A separator, or the end.
        let mut separator = String::new();
        while let Some(c) = chars.peek().copied().filter(|c| !is_alnum(*c)) {
            separator.push(c);
            chars.next();
        }
        if separator.is_empty() {
            return chars.peek().is_none();
        }
        let valid =
            matches!(separator.as_str(), "." | "_" | "__") || separator.chars().all(|c| c == '-');
        if !valid {
            return false;
        }
    }
}

impl fmt::Display for Repository {
    /// `registry/path`, e.g. `docker.io/library/alpine`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.path)
    }
}

impl serde::Serialize for Repository {
    /// As its [`fmt::Display`] form, `registry/path`.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl FromStr for Repository {
    type Err = InvalidRepository;

    /// Parses a repository name; a tag or digest in it is an error (tags go under `tags:`).
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Repository::parse(input).map_err(|reason| InvalidRepository {
            input: input.to_string(),
            reason,
        })
    }
}

/// A repository name that is not valid, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidRepository {
    /// The text that was given.
    pub input: String,
    /// Why it is not a repository.
    pub reason: String,
}

impl fmt::Display for InvalidRepository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid repository {:?}: {}", self.input, self.reason)
    }
}

impl std::error::Error for InvalidRepository {}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(input: &str) -> (String, String) {
        let repository: Repository = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
        (
            repository.registry().to_string(),
            repository.path().to_string(),
        )
    }

    fn reason(input: &str) -> String {
        Repository::parse(input).expect_err(input)
    }

    #[test]
    fn parses_registries_and_paths() {
        let cases = [
            (
                "127.0.0.1:5000/demo/echo-platform",
                "127.0.0.1:5000",
                "demo/echo-platform",
            ),
            ("ghcr.io/me/app", "ghcr.io", "me/app"),
            ("localhost/app", "localhost", "app"),
            ("localhost:5000/a/b/c", "localhost:5000", "a/b/c"),
            ("Registry.Example.com/app", "Registry.Example.com", "app"),
            ("[::1]:5000/app", "[::1]:5000", "app"),
            ("alpine", "docker.io", "library/alpine"),
            ("me/app", "docker.io", "me/app"),
            ("docker.io/alpine", "docker.io", "library/alpine"),
            ("index.docker.io/me/app", "docker.io", "me/app"),
            (
                "a.b/x_y/x__y/x.y/x-y/x---y/x9",
                "a.b",
                "x_y/x__y/x.y/x-y/x---y/x9",
            ),
        ];
        for (input, registry, path) in cases {
            assert_eq!(
                parts(input),
                (registry.to_string(), path.to_string()),
                "{input}"
            );
        }
    }

    #[test]
    fn displays_registry_and_path() {
        let repository: Repository = "alpine".parse().unwrap();
        assert_eq!(repository.to_string(), "docker.io/library/alpine");
        let repository: Repository = "127.0.0.1:5000/demo/echo".parse().unwrap();
        assert_eq!(repository.to_string(), "127.0.0.1:5000/demo/echo");
    }

    #[test]
    fn rejects_tags_and_digests() {
        assert!(reason("alpine:3.19").contains("contains a tag (`:3.19`); put tags under `tags:`"));
        assert!(reason("127.0.0.1:5000/demo/echo:1.0").contains("contains a tag (`:1.0`)"));
        assert!(reason("localhost:5000").contains("add the repository path"));
        assert!(reason("me/app@sha256:abc").contains("contains a digest (`@sha256:abc`)"));
    }

    #[test]
    fn rejects_invalid_names() {
        let cases = [
            ("", "it is empty"),
            ("Me/app", "upper-case letters"),
            ("me/App", "upper-case letters"),
            ("me//app", "empty path component"),
            ("me/app/", "empty path component"),
            ("/app", "the registry host is empty"),
            ("me/-app", "path component `-app` is not valid"),
            ("me/app-", "path component `app-` is not valid"),
            ("me/a___b", "path component `a___b` is not valid"),
            ("me/a..b", "path component `a..b` is not valid"),
            ("me/a+b", "path component `a+b` is not valid"),
            ("https://ghcr.io/me/app", "scheme (`https://`)"),
            (
                "bad_host.io/app",
                "registry host `bad_host.io` is not a valid host name",
            ),
            ("-host.io/app", "not a valid host name"),
            ("host.io:/app", "invalid port ``"),
            ("host.io:99999/app", "invalid port `99999`"),
            ("host.io:http/app", "invalid port `http`"),
            ("[::1/app", "no closing `]`"),
            ("me/my app", "whitespace"),
        ];
        for (input, want) in cases {
            let got = reason(input);
            assert!(got.contains(want), "{input}: {got}");
        }
        let long = format!("me/{}", "a".repeat(300));
        assert!(reason(&long).contains("the limit is 255"));
    }

    #[test]
    fn from_str_errors_name_the_input() {
        let error = "Me/app".parse::<Repository>().unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("invalid repository \"Me/app\": ")
        );
    }

    #[test]
    fn checks_registry_hosts() {
        for good in [
            "127.0.0.1:5000",
            "ghcr.io",
            "localhost",
            "[::1]",
            "[fe80::1]:443",
        ] {
            assert_eq!(check_registry(good), Ok(()), "{good}");
        }
        for bad in ["", "host:", "a..b", "http://x", "[::1", "x:1:2"] {
            assert!(check_registry(bad).is_err(), "{bad}");
        }
    }
}
