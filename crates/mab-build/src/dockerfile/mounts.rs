//! `RUN --mount=` values, read as BuildKit reads them (`instructions/commands_runmount.go`:
//! comma-separated `key=value` fields in CSV quoting, keys case-insensitive), and what the
//! secret and ssh mounts need from the caller: their ids (a secret's defaults to the base name
//! of its target, an ssh mount's to `default`) and whether each is required.
//!
//! It must not know where secrets or ssh agents come from, nor the plan: the caller compares.
//! Variables in mount options (`id=$ID`) are not expanded (BuildKit expands them with the
//! stage's args): such an id is reported as written.

use std::fmt;

use super::features::At;

/// The kind of a `RUN --mount` (`type=`, `bind` when absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MountType {
    /// `type=bind` (the default): a folder of the context or of a stage, read-only by default.
    Bind,
    /// `type=cache`: a cache folder kept between builds.
    Cache,
    /// `type=tmpfs`.
    Tmpfs,
    /// `type=secret`: a build secret, as a file (or an environment variable).
    Secret,
    /// `type=ssh`: an ssh agent socket.
    Ssh,
}

impl MountType {
    fn parse(value: &str) -> Option<Self> {
        Some(match value.to_ascii_lowercase().as_str() {
            "bind" => MountType::Bind,
            "cache" => MountType::Cache,
            "tmpfs" => MountType::Tmpfs,
            "secret" => MountType::Secret,
            "ssh" => MountType::Ssh,
            _ => return None,
        })
    }
}

impl fmt::Display for MountType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MountType::Bind => "bind",
            MountType::Cache => "cache",
            MountType::Tmpfs => "tmpfs",
            MountType::Secret => "secret",
            MountType::Ssh => "ssh",
        })
    }
}

/// A `RUN --mount` of a secret (`type=secret`) or an ssh agent (`type=ssh`): something the
/// caller provides by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdMount {
    kind: MountType,
    id: String,
    required: bool,
    /// `required=false` written out.
    optional: bool,
    env: Option<String>,
    target: Option<String>,
    line: usize,
    stage: usize,
}

impl IdMount {
    /// [`MountType::Secret`] or [`MountType::Ssh`].
    pub fn kind(&self) -> MountType {
        self.kind
    }

    /// The id: a secret's `id=` (or `source=`), else the base name of its `target=`; an ssh
    /// agent's `id=`, else `default`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether the build fails when it is not given (`required`, `required=true`); otherwise
    /// the secret file (or variable) or the agent socket is just absent.
    pub fn required(&self) -> bool {
        self.required
    }

    /// Whether the mount says outright that it may be absent (`required=false`).
    pub fn explicitly_optional(&self) -> bool {
        self.optional
    }

    /// The environment variable a secret is exposed as (`env=`), if any.
    pub fn env(&self) -> Option<&str> {
        self.env.as_deref()
    }

    /// The `target=` path, as written, if any (a secret without one, and without `env=`, is
    /// the file `/run/secrets/<id>`).
    pub fn target(&self) -> Option<&str> {
        self.target.as_deref()
    }

    /// The 1-based line of the `RUN` instruction.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The stage (index in [`Dockerfile::stages`](super::Dockerfile::stages)) it is in.
    pub fn stage(&self) -> usize {
        self.stage
    }
}

/// A secret or ssh id the Dockerfile mounts, over all its mounts of that id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountedId {
    id: String,
    required: bool,
    optional: bool,
    line: usize,
}

impl MountedId {
    /// The id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether any mount of the id requires it.
    pub fn required(&self) -> bool {
        self.required
    }

    /// Whether every mount of the id says outright that it may be absent (`required=false`).
    pub fn explicitly_optional(&self) -> bool {
        self.optional
    }

    /// The 1-based line of its first mount (of a required one, if any is).
    pub fn line(&self) -> usize {
        self.line
    }
}

/// The distinct ids of `mounts`, in order of first mount.
pub(super) fn mounted_ids<'a>(mounts: impl Iterator<Item = &'a IdMount>) -> Vec<MountedId> {
    let mut ids: Vec<MountedId> = Vec::new();
    for mount in mounts {
        let (id, required, line) = (mount.id(), mount.required(), mount.line());
        match ids.iter_mut().find(|known| known.id == id) {
            Some(known) => {
                known.optional &= mount.explicitly_optional();
                if required && !known.required {
                    known.required = true;
                    known.line = line;
                }
            }
            None => ids.push(MountedId {
                id: id.to_string(),
                required,
                optional: mount.explicitly_optional(),
                line,
            }),
        }
    }
    ids
}

/// One `RUN --mount=` value, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum RunMount {
    /// A secret or ssh mount.
    ById(IdMount),
    /// A bind, cache or tmpfs mount, with the stage or image it takes files `from=`.
    Other {
        kind: MountType,
        from: Option<String>,
    },
}

impl RunMount {
    pub(super) fn kind(&self) -> MountType {
        match self {
            RunMount::ById(mount) => mount.kind,
            RunMount::Other { kind, .. } => *kind,
        }
    }
}

/// Reads a `--mount=` value (after the shell quotes of the flag were removed). Errors are
/// BuildKit's, as lower-case messages; options mab does not need are not checked.
pub(super) fn parse_mount(value: &str, at: At) -> Result<RunMount, String> {
    let fields =
        csv_fields(value).map_err(|message| format!("failed to parse csv mounts: {message}"))?;
    let mut kind = MountType::Bind;
    let mut id = None;
    let mut source = None;
    let mut target = None;
    let mut from = None;
    let mut env = None;
    let mut required = false;
    let mut optional = false;
    for field in &fields {
        let (key, value) = match field.split_once('=') {
            Some((key, value)) => (key.to_ascii_lowercase(), Some(value)),
            None => (field.to_ascii_lowercase(), None),
        };
        match (key.as_str(), value) {
            ("type", Some(value)) => {
                kind = MountType::parse(value)
                    .ok_or_else(|| format!("unsupported mount type {value:?}"))?;
            }
            ("id", Some(value)) => id = Some(value.to_string()),
            ("source" | "src", Some(value)) => source = Some(value.to_string()),
            ("target" | "dst" | "destination", Some(value)) => target = Some(value.to_string()),
            ("from", Some(value)) => from = Some(value.to_string()),
            ("env", Some(value)) => env = Some(value.to_string()),
            ("required", None) => required = true,
            ("required", Some(value)) => {
                required = parse_bool(value)
                    .ok_or_else(|| format!("invalid value for required: {value}"))?;
                optional = !required;
            }
            _ => {}
        }
    }
    let stage = at.stage;
    let line = at.line;
    Ok(match kind {
        MountType::Secret => {
            if source.is_some() && id.is_some() {
                return Err("both source and id can't be set".to_string());
            }
            let id = match source.or(id) {
                Some(id) => id,
                None => base_name(
                    target
                        .as_deref()
                        .ok_or("invalid secret mount. one of source, target required")?,
                ),
            };
            RunMount::ById(IdMount {
                kind,
                id,
                required,
                optional,
                env,
                target,
                line,
                stage,
            })
        }
        MountType::Ssh => {
            if source.is_some() {
                return Err("ssh does not support source".to_string());
            }
            RunMount::ById(IdMount {
                kind,
                id: id
                    .filter(|id| !id.is_empty())
                    .unwrap_or_else(|| "default".to_string()),
                required,
                optional,
                env: None,
                target,
                line,
                stage,
            })
        }
        kind => RunMount::Other { kind, from },
    })
}

/// Go's `strconv.ParseBool`.
fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `path.Base`: the last element of a `/` path, trailing slashes removed.
fn base_name(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".to_string();
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_string()
}

/// The fields of one CSV record, as Go's `encoding/csv` reads them: split at commas, a field
/// that starts with `"` is quoted (`""` inside is one quote), a quote elsewhere is an error.
fn csv_fields(record: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = record.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next() {
                    None => return Err("extraneous or missing \" in quoted-field".to_string()),
                    Some('"') if chars.next_if_eq(&'"').is_some() => field.push('"'),
                    Some('"') => break,
                    Some(ch) => field.push(ch),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(_) => return Err("extraneous or missing \" in quoted-field".to_string()),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => return Err("bare \" in non-quoted-field".to_string()),
                    Some(ch) => field.push(ch),
                }
            }
            fields.push(field);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: At = At { line: 7, stage: 1 };

    fn secret(id: &str, required: bool, env: Option<&str>, target: Option<&str>) -> RunMount {
        RunMount::ById(IdMount {
            kind: MountType::Secret,
            id: id.to_string(),
            required,
            optional: false,
            env: env.map(str::to_string),
            target: target.map(str::to_string),
            line: AT.line,
            stage: AT.stage,
        })
    }

    fn ssh(id: &str, required: bool, target: Option<&str>) -> RunMount {
        RunMount::ById(IdMount {
            kind: MountType::Ssh,
            id: id.to_string(),
            required,
            optional: false,
            env: None,
            target: target.map(str::to_string),
            line: AT.line,
            stage: AT.stage,
        })
    }

    fn other(kind: MountType, from: Option<&str>) -> RunMount {
        RunMount::Other {
            kind,
            from: from.map(str::to_string),
        }
    }

    #[test]
    fn mounts_like_buildkit() {
        let cases: Vec<(&str, RunMount)> = vec![
            (
                "type=cache,target=/root/.cache/go-build",
                other(MountType::Cache, None),
            ),
            (
                "type=cache,id=apt,sharing=locked,target=/var/cache/apt",
                other(MountType::Cache, None),
            ),
            ("target=/src", other(MountType::Bind, None)),
            (
                "type=bind,from=build,source=/out,target=/out",
                other(MountType::Bind, Some("build")),
            ),
            (
                "type=tmpfs,target=/tmp,size=64m",
                other(MountType::Tmpfs, None),
            ),
            (
                "TYPE=Secret,ID=npmrc,target=/root/.npmrc",
                secret("npmrc", false, None, Some("/root/.npmrc")),
            ),
            ("type=secret,id=aws", secret("aws", false, None, None)),
            (
                "type=secret,target=/run/secrets/token,required",
                secret("token", true, None, Some("/run/secrets/token")),
            ),
            (
                "type=secret,target=/etc/creds/,required=false",
                match secret("creds", false, None, Some("/etc/creds/")) {
                    RunMount::ById(mount) => RunMount::ById(IdMount {
                        optional: true,
                        ..mount
                    }),
                    other => other,
                },
            ),
            (
                "type=secret,source=pip,required=true",
                secret("pip", true, None, None),
            ),
            (
                "type=secret,id=token,env=GITHUB_TOKEN",
                secret("token", false, Some("GITHUB_TOKEN"), None),
            ),
            (
                "\"type=secret\",\"id=a,b\"",
                secret("a,b", false, None, None),
            ),
            ("type=ssh", ssh("default", false, None)),
            ("type=ssh,id=gitlab,required", ssh("gitlab", true, None)),
            (
                "type=ssh,target=/agent.sock,mode=0600",
                ssh("default", false, Some("/agent.sock")),
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(parse_mount(value, AT), Ok(expected), "{value}");
        }
    }

    #[test]
    fn bad_mounts_are_errors() {
        let cases: &[(&str, &str)] = &[
            ("type=volume,target=/x", "unsupported mount type \"volume\""),
            ("type=secret", "one of source, target required"),
            ("type=secret,id=a,source=b", "both source and id"),
            (
                "type=secret,id=a,required=maybe",
                "invalid value for required",
            ),
            ("type=ssh,source=x", "ssh does not support source"),
            ("type=cache,target=\"/x", "bare \""),
            ("\"type=cache", "extraneous or missing"),
        ];
        for &(value, fragment) in cases {
            match parse_mount(value, AT) {
                Err(message) => assert!(message.contains(fragment), "{value}: {message}"),
                Ok(mount) => panic!("{value}: expected an error, got {mount:?}"),
            }
        }
    }

    #[test]
    fn go_path_base() {
        for (path, base) in [
            ("/a/b", "b"),
            ("/a/b//", "b"),
            ("b", "b"),
            ("/", "/"),
            ("", "."),
        ] {
            assert_eq!(base_name(path), base, "{path}");
        }
    }

    #[test]
    fn ids_over_mounts() {
        let mount = |id: &str, required: bool, optional: bool, line: usize| IdMount {
            kind: MountType::Secret,
            id: id.to_string(),
            required,
            optional,
            env: None,
            target: None,
            line,
            stage: 0,
        };
        let mounts = [
            mount("a", false, false, 3),
            mount("b", false, true, 4),
            mount("a", true, false, 9),
            mount("a", false, true, 12),
            mount("c", false, true, 13),
            mount("c", false, false, 14),
        ];
        let ids = mounted_ids(mounts.iter());
        let summary: Vec<(&str, bool, bool, usize)> = ids
            .iter()
            .map(|id| (id.id(), id.required(), id.explicitly_optional(), id.line()))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("a", true, false, 9),
                ("b", false, true, 4),
                ("c", false, false, 13)
            ]
        );
    }
}
