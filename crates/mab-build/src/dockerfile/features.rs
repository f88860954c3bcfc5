//! What a Dockerfile uses that not every builder has: each use of a BuildKit-era feature
//! (heredocs, `COPY --link`, `RUN --mount`, `FROM --platform=$BUILDPLATFORM`, ...) found in
//! an instruction's flags and arguments, with its line and stage, plus the mounts and stage
//! references that come with them.
//!
//! It must not know which engine or builder has what (that is `engine.rs`), nor parse
//! `--mount` values itself (`mounts.rs`).

use std::fmt;

use super::mounts::{IdMount, MountType, RunMount, parse_mount};
use super::words::{builder_flags, is_word_separator};

/// Something a Dockerfile uses that the classic builder, or the BuildKit of older engines,
/// does not have. See [`Feature::minimum_engine`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Feature {
    /// A heredoc in `RUN`, `COPY` or `ADD` (`RUN <<EOF`, `COPY <<EOF /file`, `<<-EOF`,
    /// `<<"EOF"`, several in one instruction): one use per instruction.
    Heredoc,
    /// `COPY --link` / `ADD --link`.
    Link,
    /// `COPY --chmod` / `ADD --chmod`.
    Chmod,
    /// `COPY --parents`.
    Parents,
    /// `COPY --exclude` / `ADD --exclude`.
    Exclude,
    /// `ADD --checksum`.
    AddChecksum,
    /// `ADD` of a git repository (`git@host:repo.git`, `https://host/repo.git`, `ssh://`,
    /// `git://`), or `ADD --keep-git-dir`.
    AddGit,
    /// `RUN --mount=type=...`.
    RunMount(MountType),
    /// A secret mount exposed as an environment variable (`RUN --mount=type=secret,env=NAME`).
    SecretEnv,
    /// `RUN --network=none` or `=default`.
    RunNetwork,
    /// `RUN --network=host`: BuildKit also needs the `network.host` entitlement, which the
    /// daemon asks for only when the build request's network mode is `host`.
    RunNetworkHost,
    /// `RUN --security=sandbox`.
    RunSecurity,
    /// `RUN --security=insecure`: needs the `security.insecure` entitlement.
    RunSecurityInsecure,
    /// `FROM --platform=...` with a value of its own (literal, or from a global `ARG`).
    FromPlatform,
    /// `FROM --platform=` naming the platform the builder runs on (`$BUILDPLATFORM`,
    /// `$BUILDOS`, `$BUILDARCH`, `$BUILDVARIANT`): the cross-compilation pattern.
    FromBuildPlatform,
    /// `FROM --platform=` naming an automatic target arg (`$TARGETPLATFORM`, `$TARGETOS`,
    /// `$TARGETARCH`, `$TARGETVARIANT`) that no global `ARG` declares: BuildKit defines it, the
    /// classic builder does not.
    FromTargetPlatform,
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Feature::Heredoc => f.write_str("a heredoc (<<EOF)"),
            Feature::Link => f.write_str("COPY --link"),
            Feature::Chmod => f.write_str("COPY --chmod"),
            Feature::Parents => f.write_str("COPY --parents"),
            Feature::Exclude => f.write_str("COPY --exclude"),
            Feature::AddChecksum => f.write_str("ADD --checksum"),
            Feature::AddGit => f.write_str("ADD of a git repository"),
            Feature::RunMount(kind) => write!(f, "RUN --mount=type={kind}"),
            Feature::SecretEnv => f.write_str("RUN --mount=type=secret,env=…"),
            Feature::RunNetwork => f.write_str("RUN --network"),
            Feature::RunNetworkHost => f.write_str("RUN --network=host"),
            Feature::RunSecurity => f.write_str("RUN --security"),
            Feature::RunSecurityInsecure => f.write_str("RUN --security=insecure"),
            Feature::FromPlatform => f.write_str("FROM --platform"),
            Feature::FromBuildPlatform => f.write_str("FROM --platform=$BUILDPLATFORM"),
            Feature::FromTargetPlatform => {
                f.write_str("FROM --platform=$TARGETPLATFORM (with no global ARG declaring it)")
            }
        }
    }
}

/// One use of a [`Feature`]: where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureUse {
    feature: Feature,
    line: usize,
    stage: usize,
}

impl FeatureUse {
    pub(super) fn new(feature: Feature, line: usize, stage: usize) -> Self {
        FeatureUse {
            feature,
            line,
            stage,
        }
    }

    /// What is used.
    pub fn feature(&self) -> Feature {
        self.feature
    }

    /// The 1-based line where the instruction using it starts.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The stage (index in [`Dockerfile::stages`](super::Dockerfile::stages)) it is in.
    pub fn stage(&self) -> usize {
        self.stage
    }
}

/// A stage named by `COPY --from=` or `RUN --mount=from=` (or an image: told apart later).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct StageReference {
    /// The stage that uses it.
    pub(super) stage: usize,
    /// The name as written.
    pub(super) name: String,
}

/// What the instructions of a Dockerfile use, collected while it is read.
#[derive(Debug, Clone, Default)]
pub(super) struct Uses {
    pub(super) features: Vec<FeatureUse>,
    pub(super) secrets: Vec<IdMount>,
    pub(super) ssh: Vec<IdMount>,
    pub(super) references: Vec<StageReference>,
    /// Whether an `ADD` fetches something from the network (a URL or a git repository).
    pub(super) remote_sources: bool,
}

/// Where an instruction is: its first line and its stage.
#[derive(Debug, Clone, Copy)]
pub(super) struct At {
    pub(super) line: usize,
    pub(super) stage: usize,
}

impl Uses {
    fn add(&mut self, feature: Feature, at: At) {
        self.features
            .push(FeatureUse::new(feature, at.line, at.stage));
    }

    /// Notes what the instruction `keyword` (lower-case) with arguments `rest` uses; it starts
    /// `heredocs` heredocs. Errors are lower-case messages for the instruction's line.
    pub(super) fn instruction(
        &mut self,
        keyword: &str,
        rest: &str,
        heredocs: usize,
        at: At,
    ) -> Result<(), String> {
        if heredocs > 0 {
            self.add(Feature::Heredoc, at);
        }
        let (flags, flags_end) = builder_flags(rest);
        let flags = flags.iter().map(|flag| split_flag(flag));
        match keyword {
            "run" => {
                for (name, value) in flags {
                    self.run_flag(name, value.unwrap_or_default(), at)?;
                }
            }
            "copy" | "add" => {
                let mut git = false;
                for (name, value) in flags {
                    match (name, value) {
                        ("link", value) if is_true(value) => self.add(Feature::Link, at),
                        ("chmod", Some(value)) if !value.is_empty() => self.add(Feature::Chmod, at),
                        ("parents", value) if is_true(value) => self.add(Feature::Parents, at),
                        ("exclude", Some(_)) => self.add(Feature::Exclude, at),
                        ("checksum", Some(value)) if keyword == "add" && !value.is_empty() => {
                            self.add(Feature::AddChecksum, at)
                        }
                        ("keep-git-dir", _) if keyword == "add" => git = true,
                        ("from", Some(name)) if keyword == "copy" => {
                            self.references.push(StageReference {
                                stage: at.stage,
                                name: name.to_string(),
                            });
                        }
                        _ => {}
                    }
                }
                if keyword == "add" && (git || sources(&rest[flags_end..]).any(is_git_source)) {
                    self.add(Feature::AddGit, at);
                }
                if keyword == "add"
                    && (git || sources(&rest[flags_end..]).any(|s| is_remote_source(&s)))
                {
                    self.remote_sources = true;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn run_flag(&mut self, name: &str, value: &str, at: At) -> Result<(), String> {
        match name {
            "mount" => {
                let mount = parse_mount(value, at)?;
                self.add(Feature::RunMount(mount.kind()), at);
                match mount {
                    RunMount::ById(secret) if secret.kind() == MountType::Secret => {
                        if secret.env().is_some() {
                            self.add(Feature::SecretEnv, at);
                        }
                        self.secrets.push(secret);
                    }
                    RunMount::ById(ssh) => self.ssh.push(ssh),
                    RunMount::Other { from, .. } => {
                        if let Some(name) = from {
                            self.references.push(StageReference {
                                stage: at.stage,
                                name,
                            });
                        }
                    }
                }
            }
            "network" if value.eq_ignore_ascii_case("host") => {
                self.add(Feature::RunNetworkHost, at)
            }
            "network" => self.add(Feature::RunNetwork, at),
            "security" if value.eq_ignore_ascii_case("insecure") => {
                self.add(Feature::RunSecurityInsecure, at)
            }
            "security" => self.add(Feature::RunSecurity, at),
            _ => {}
        }
        Ok(())
    }
}

/// `--name=value` → (`name`, `Some(value)`), `--name` → (`name`, `None`).
fn split_flag(flag: &str) -> (&str, Option<&str>) {
    let flag = flag.strip_prefix("--").unwrap_or(flag);
    match flag.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (flag, None),
    }
}

/// Whether a boolean flag is on: `--link` and `--link=true` are, `--link=false` is not (any
/// other value is BuildKit's error to report; it counts as a use).
fn is_true(value: Option<&str>) -> bool {
    !value.is_some_and(|value| value.eq_ignore_ascii_case("false"))
}

/// The sources of `COPY`/`ADD` arguments (all words but the destination), in the JSON form
/// (`["a", "b", "/dest"]`) or the plain one.
fn sources(arguments: &str) -> impl Iterator<Item = String> {
    let arguments = arguments.trim_matches(is_word_separator);
    let mut words = json_strings(arguments).unwrap_or_else(|| {
        arguments
            .split(is_word_separator)
            .filter(|word| !word.is_empty())
            .map(str::to_string)
            .collect()
    });
    words.pop();
    words.into_iter()
}

/// A JSON array of strings (Docker's JSON form of arguments), `None` if `text` is not one.
fn json_strings(text: &str) -> Option<Vec<String>> {
    let mut chars = text
        .strip_prefix('[')?
        .strip_suffix(']')?
        .chars()
        .peekable();
    let mut strings = Vec::new();
    loop {
        while chars.next_if(|ch| ch.is_whitespace()).is_some() {}
        if chars.peek().is_none() && strings.is_empty() {
            return Some(strings);
        }
        if chars.next()? != '"' {
            return None;
        }
        let mut string = String::new();
        loop {
            match chars.next()? {
                '"' => break,
                '\\' => match chars.next()? {
                    'n' => string.push('\n'),
                    't' => string.push('\t'),
                    'r' => string.push('\r'),
                    'b' => string.push('\u{8}'),
                    'f' => string.push('\u{c}'),
                    'u' => {
                        let hex: String = (0..4).filter_map(|_| chars.next()).collect();
                        string.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                    }
                    other => string.push(other),
                },
                other => string.push(other),
            }
        }
        strings.push(string);
        while chars.next_if(|ch| ch.is_whitespace()).is_some() {}
        match chars.next() {
            Some(',') => continue,
            None => return Some(strings),
            Some(_) => return None,
        }
    }
}

/// Whether an `ADD` source is fetched from the network: a URL or a git repository.
fn is_remote_source(source: &str) -> bool {
    source.contains("://") || is_git_source(source.to_string())
}

/// Whether an `ADD` source is a git repository, as BuildKit tells (`dfgitutil.ParseGitRef`):
/// `http(s)://` URLs whose path ends in `.git`, any `ssh://` or `git://` URL, and scp-like
/// `user@host:path`; `github.com/...` without a scheme is a local path.
pub(super) fn is_git_source(source: String) -> bool {
    if source.starts_with("./") || source.starts_with("../") || source.starts_with("github.com/") {
        return false;
    }
    if let Some((scheme, rest)) = source.split_once("://")
        && !scheme.is_empty()
        && scheme.chars().all(|ch| ch.is_ascii_alphanumeric())
    {
        let path = rest.split(['#', '?']).next().unwrap_or_default();
        let path = path.split_once('/').map_or("", |(_, path)| path);
        return match scheme.to_ascii_lowercase().as_str() {
            "ssh" | "git" => true,
            "http" | "https" => path.ends_with(".git"),
            _ => false,
        };
    }
    is_scp_like(&source)
}

/// BuildKit's scp-like git URL: `^[a-zA-Z0-9-_]+@[a-zA-Z0-9-.]+:`.
fn is_scp_like(source: &str) -> bool {
    let Some((user, rest)) = source.split_once('@') else {
        return false;
    };
    let Some((host, _)) = rest.split_once(':') else {
        return false;
    };
    !user.is_empty()
        && user
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
        && !host.is_empty()
        && host
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_sources_like_buildkit() {
        let cases: &[(&str, bool)] = &[
            ("git@github.com:moby/buildkit.git", true),
            ("git@github.com:moby/buildkit.git#v0.10.1", true),
            ("https://github.com/moby/buildkit.git", true),
            ("https://github.com/moby/buildkit.git#main:docs", true),
            ("HTTPS://github.com/moby/buildkit.git?ref=main", true),
            ("ssh://git@example.com/repo", true),
            ("git://example.com/repo", true),
            ("https://example.com/file.tar.gz", false),
            ("https://example.com/", false),
            ("https://example.com/repo.git/file", false),
            ("github.com/moby/buildkit", false),
            ("./git@x:y", false),
            ("src/", false),
            ("user@host", false),
            ("a b@host:x", false),
            ("ftp://example.com/repo.git", false),
        ];
        for &(source, git) in cases {
            assert_eq!(is_git_source(source.to_string()), git, "{source}");
        }
    }

    #[test]
    fn json_form() {
        assert_eq!(
            json_strings(r#"["a b", "c\"d", "\u0041"]"#),
            Some(vec!["a b".to_string(), "c\"d".to_string(), "A".to_string()])
        );
        assert_eq!(json_strings("[]"), Some(Vec::new()));
        assert_eq!(json_strings(r#"["a",]"#), None);
        assert_eq!(json_strings(r#"["a" "b"]"#), None);
        assert_eq!(json_strings("a b"), None);
        let words: Vec<String> = sources(r#" ["git@h:r.git", "/src"] "#).collect();
        assert_eq!(words, vec!["git@h:r.git"]);
        let words: Vec<String> = sources("a  b\tc").collect();
        assert_eq!(words, vec!["a", "b"]);
    }
}
