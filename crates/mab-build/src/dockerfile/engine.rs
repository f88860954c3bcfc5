//! Which builder of which Docker engine has which [`Feature`], and the uses of a Dockerfile
//! that the chosen one lacks.
//!
//! The facts, from the moby and moby/buildkit sources (the BuildKit each engine vendors, and
//! the build tags its built-in Dockerfile frontend is compiled with: moby sets none, so only
//! the frontend's mainline channel is built in):
//! - the classic builder has none of the BuildKit-only syntax. It refuses `RUN` flags and
//!   `--chmod` ("requires BuildKit"), and on 20.10 heredocs are "unknown instruction"s; but
//!   from 23.0 on it reads Dockerfiles with BuildKit's parser and silently ignores heredoc
//!   bodies, `--link`, `--parents`, `--exclude`, `--checksum` and git sources (moby
//!   `builder/dockerfile/dispatchers.go`): only refusing them first keeps a wrong image from
//!   being built. It defines no automatic platform args in `FROM` (only global `ARG`s are
//!   visible there), and cannot `COPY --from` a stage of another platform than the target;
//! - Docker 20.10 vendors BuildKit 0.8 (Dockerfile frontend 1.2): `RUN --mount` of every type,
//!   `COPY/ADD --chmod`, `FROM --platform=$BUILDPLATFORM`; `RUN --network`/`--security` only
//!   behind the `dfrunnetwork`/`dfrunsecurity` build tags, so not in Docker's build;
//! - 23.0: BuildKit 0.10 (frontend 1.4): heredocs, `--link`, `RUN --network`;
//! - 24.0: BuildKit 0.11 (1.5): `ADD --checksum` and git sources only behind `dfaddchecksum`
//!   and `dfaddgit` ("requires the labs channel"); 25.0: BuildKit 0.12 (1.6): both built in;
//! - 27.3: BuildKit 0.16 (1.10): the `env=` option of secret mounts;
//! - 28.5: BuildKit 0.25 (1.19): `--exclude` built in (behind `dfexcludepatterns` before);
//! - 29.1: BuildKit 0.26 (1.20): `COPY --parents` and `RUN --security` built in (behind
//!   `dfparents`/`dfrunsecurity` before).
//! - `RUN --security=insecure` needs the `security.insecure` entitlement, which the daemon's
//!   build endpoint never asks for (moby `daemon/internal/builder-next/builder.go` asks only for
//!   `network.host`, when the build's network mode is `host`).
//!
//! It must not know how the engine version is learnt or what the caller does about it.

use std::fmt;
use std::path::Path;

use super::Dockerfile;
use super::features::{Feature, FeatureUse};
use crate::BuildError;
use crate::backend::BuilderKind;

/// A Docker engine version, `MAJOR.MINOR.PATCH` as the daemon reports it (`20.10.24+dfsg1`,
/// `26.1.5`, `29.0.0-rc.1`): what follows the numbers is not compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EngineVersion {
    major: u32,
    minor: u32,
    patch: u32,
}

impl EngineVersion {
    /// The oldest engine mab's facts go back to (Docker 20.10, the first whose built-in
    /// frontend has `RUN --mount` without a `# syntax=` line).
    pub const OLDEST_KNOWN: EngineVersion = EngineVersion::new(20, 10, 0);

    /// The version `major.minor.patch`.
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        EngineVersion {
            major,
            minor,
            patch,
        }
    }

    /// Reads a version as the daemon reports it (`Version` of `GET /version`): a leading `v`
    /// is allowed, the patch may be absent, anything after the numbers (`+dfsg1`, `-rc.1`,
    /// `-ce`) is ignored. `None` when it does not start with `MAJOR.MINOR` (e.g. `dev`).
    pub fn parse(version: &str) -> Option<Self> {
        let version = version.trim();
        let version = version.strip_prefix('v').unwrap_or(version);
        let end = version
            .find(|ch: char| !(ch.is_ascii_digit() || ch == '.'))
            .unwrap_or(version.len());
        let mut numbers = version[..end].split('.');
        let major = numbers.next()?.parse().ok()?;
        let minor = numbers.next()?.parse().ok()?;
        let patch = match numbers.next() {
            Some(patch) => patch.parse().ok()?,
            None => 0,
        };
        Some(EngineVersion::new(major, minor, patch))
    }
}

impl fmt::Display for EngineVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl Feature {
    /// The oldest Docker engine whose `builder` has this feature, `None` when none has (in
    /// Docker's own build of the engine, with its built-in Dockerfile frontend; a `# syntax=`
    /// frontend brings its own). Engines older than [`EngineVersion::OLDEST_KNOWN`] are not
    /// tracked: a feature that version has counts as missing from them.
    pub fn minimum_engine(self, builder: BuilderKind) -> Option<EngineVersion> {
        let since = EngineVersion::new;
        match builder {
            BuilderKind::Classic => match self {
                Feature::FromPlatform => Some(EngineVersion::OLDEST_KNOWN),
                _ => None,
            },
            BuilderKind::BuildKit => match self {
                Feature::RunMount(_)
                | Feature::Chmod
                | Feature::FromPlatform
                | Feature::FromBuildPlatform
                | Feature::FromTargetPlatform => Some(EngineVersion::OLDEST_KNOWN),
                Feature::Heredoc
                | Feature::Link
                | Feature::RunNetwork
                | Feature::RunNetworkHost => Some(since(23, 0, 0)),
                Feature::AddChecksum | Feature::AddGit => Some(since(25, 0, 0)),
                Feature::SecretEnv => Some(since(27, 3, 0)),
                Feature::Exclude => Some(since(28, 5, 0)),
                Feature::Parents | Feature::RunSecurity => Some(since(29, 1, 0)),
                Feature::RunSecurityInsecure => None,
            },
        }
    }
}

/// A use of a feature that the chosen builder of the engine does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsupported {
    usage: FeatureUse,
    minimum: Option<EngineVersion>,
}

impl Unsupported {
    /// The use.
    pub fn usage(&self) -> FeatureUse {
        self.usage
    }

    /// The oldest engine whose builder of the same kind has it, `None` when none has.
    pub fn minimum_engine(&self) -> Option<EngineVersion> {
        self.minimum
    }

    /// One line saying so: `PATH:LINE: FEATURE needs ...`.
    pub fn describe(&self, path: &Path, engine: EngineVersion, builder: BuilderKind) -> String {
        let feature = self.usage.feature();
        let at = format!("{}:{}", path.display(), self.usage.line());
        match (builder, self.minimum) {
            (BuilderKind::Classic, _) => format!(
                "{at}: {feature} needs BuildKit; the classic builder (docker {engine}) does not have it"
            ),
            (BuilderKind::BuildKit, Some(minimum)) => format!(
                "{at}: {feature} needs docker {minimum} or later with BuildKit; this engine is docker {engine}"
            ),
            (BuilderKind::BuildKit, None) => format!(
                "{at}: {feature} cannot be built through the docker daemon's build endpoint (docker {engine})"
            ),
        }
    }
}

impl Dockerfile {
    /// The feature uses that `builder` of Docker `engine` does not have, in order of lines,
    /// each with the oldest engine that has it. For BuildKit this is its built-in Dockerfile
    /// frontend: a `# syntax=` frontend that is pulled brings its own language (see
    /// [`Dockerfile::syntax`]). Uses are counted in every stage, built or not: an engine that
    /// does not know a flag refuses the whole Dockerfile.
    pub fn unsupported(&self, engine: EngineVersion, builder: BuilderKind) -> Vec<Unsupported> {
        self.features()
            .iter()
            .filter_map(|usage| {
                let minimum = usage.feature().minimum_engine(builder);
                let supported = minimum.is_some_and(|minimum| minimum <= engine);
                (!supported).then_some(Unsupported {
                    usage: *usage,
                    minimum,
                })
            })
            .collect()
    }

    /// [`Dockerfile::unsupported`] as an error naming every unsupported use, its file and
    /// line, and the engine (`BuildError::DockerfileUnsupported`); `Ok` when there is none.
    pub fn check_supported(
        &self,
        engine: EngineVersion,
        builder: BuilderKind,
    ) -> Result<(), BuildError> {
        let unsupported = self.unsupported(engine, builder);
        if unsupported.is_empty() {
            return Ok(());
        }
        Err(BuildError::DockerfileUnsupported {
            path: self.path.clone(),
            problems: unsupported
                .iter()
                .map(|item| item.describe(&self.path, engine, builder))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_as_daemons_report_them() {
        type Numbers = Option<(u32, u32, u32)>;
        let cases: &[(&str, Numbers)] = &[
            ("20.10.24", Some((20, 10, 24))),
            ("20.10.24+dfsg1", Some((20, 10, 24))),
            ("26.1.5+dfsg1", Some((26, 1, 5))),
            ("28.5.2", Some((28, 5, 2))),
            ("29.0.0-rc.1", Some((29, 0, 0))),
            ("v25.0", Some((25, 0, 0))),
            ("17.03.1-ce", Some((17, 3, 1))),
            ("dev", None),
            ("", None),
            ("28", None),
            ("28.x", None),
        ];
        for &(text, expected) in cases {
            let expected = expected.map(|(a, b, c)| EngineVersion::new(a, b, c));
            assert_eq!(EngineVersion::parse(text), expected, "{text:?}");
        }
        assert!(EngineVersion::new(20, 10, 24) < EngineVersion::new(23, 0, 0));
        assert!(EngineVersion::new(28, 10, 0) > EngineVersion::new(28, 5, 2));
        assert_eq!(EngineVersion::new(20, 10, 24).to_string(), "20.10.24");
    }
}
