//! Target platforms (`os/arch[/variant]`) as every part of mab understands them.
//!
//! One notion of platform for the plan, the build driver and the registry layer: parsing the
//! `--platform` spelling users write, normalising it the way containerd does (`linux/arm64` is
//! `arm64` variant `v8`, `linux/arm` is `arm/v7`, `x86_64` is `amd64`), printing it back, and
//! deciding whether an image config of some os/architecture/variant really is of this platform.
//!
//! This crate knows nothing of YAML, Docker daemons or registries, and does no IO.

#![warn(missing_docs)]

use std::fmt;
use std::str::FromStr;

/// Operating systems mab accepts in a platform (Go's `GOOS` values that images exist for).
const KNOWN_OS: &[&str] = &[
    "linux", "windows", "darwin", "freebsd", "netbsd", "openbsd", "solaris", "illumos", "aix",
    "plan9", "wasip1",
];

/// Architectures mab accepts after normalisation (Go's `GOARCH` values that images exist for).
const KNOWN_ARCH: &[&str] = &[
    "amd64", "arm64", "arm", "386", "ppc64le", "ppc64", "s390x", "riscv64", "mips64le", "mips64",
    "mipsle", "mips", "loong64", "wasm",
];

/// The os/architecture pairs Go (and so Docker) has a port for (`go tool dist list`), limited to
/// [`KNOWN_OS`]: `docker manifest annotate` refuses any other pair, and so does mab.
const SUPPORTED_PAIRS: &[(&str, &str)] = &[
    ("aix", "ppc64"),
    ("darwin", "amd64"),
    ("darwin", "arm64"),
    ("freebsd", "386"),
    ("freebsd", "amd64"),
    ("freebsd", "arm"),
    ("freebsd", "arm64"),
    ("freebsd", "riscv64"),
    ("illumos", "amd64"),
    ("linux", "386"),
    ("linux", "amd64"),
    ("linux", "arm"),
    ("linux", "arm64"),
    ("linux", "loong64"),
    ("linux", "mips"),
    ("linux", "mips64"),
    ("linux", "mips64le"),
    ("linux", "mipsle"),
    ("linux", "ppc64"),
    ("linux", "ppc64le"),
    ("linux", "riscv64"),
    ("linux", "s390x"),
    ("netbsd", "386"),
    ("netbsd", "amd64"),
    ("netbsd", "arm"),
    ("netbsd", "arm64"),
    ("openbsd", "386"),
    ("openbsd", "amd64"),
    ("openbsd", "arm"),
    ("openbsd", "arm64"),
    ("openbsd", "ppc64"),
    ("openbsd", "riscv64"),
    ("plan9", "386"),
    ("plan9", "amd64"),
    ("plan9", "arm"),
    ("solaris", "amd64"),
    ("wasip1", "wasm"),
    ("windows", "386"),
    ("windows", "amd64"),
    ("windows", "arm"),
    ("windows", "arm64"),
];

/// The forms accepted, for error messages.
pub const ACCEPTED_FORMS: &str =
    "os/arch or os/arch/variant, e.g. linux/amd64, linux/arm64, linux/arm/v7, linux/riscv64";

/// A normalised target platform.
///
/// Two platforms that containerd considers the same compare equal: `linux/aarch64` and
/// `linux/arm64/v8` are one value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Platform {
    os: String,
    architecture: String,
    variant: Option<String>,
}

/// A platform string that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid platform {input:?}: {reason} (accepted forms: {ACCEPTED_FORMS})")]
pub struct ParsePlatformError {
    input: String,
    reason: String,
}

impl ParsePlatformError {
    fn new(input: &str, reason: impl Into<String>) -> Self {
        Self {
            input: input.to_string(),
            reason: reason.into(),
        }
    }

    /// The text that failed to parse.
    pub fn input(&self) -> &str {
        &self.input
    }
}

impl Platform {
    /// Builds a platform from its parts, normalising them (architecture aliases, default variants).
    pub fn from_parts(
        os: &str,
        architecture: &str,
        variant: Option<&str>,
    ) -> Result<Self, ParsePlatformError> {
        let display = match variant {
            Some(v) => format!("{os}/{architecture}/{v}"),
            None => format!("{os}/{architecture}"),
        };
        let os = os.to_ascii_lowercase();
        if os.is_empty() {
            return Err(ParsePlatformError::new(&display, "the os is empty"));
        }
        if !KNOWN_OS.contains(&os.as_str()) {
            return Err(ParsePlatformError::new(
                &display,
                format!("unknown os {os:?}"),
            ));
        }
        let (architecture, variant) = normalize_arch(architecture, variant.unwrap_or(""));
        if architecture.is_empty() {
            return Err(ParsePlatformError::new(
                &display,
                "the architecture is empty",
            ));
        }
        if !KNOWN_ARCH.contains(&architecture.as_str()) {
            return Err(ParsePlatformError::new(
                &display,
                format!("unknown architecture {architecture:?}"),
            ));
        }
        if let Some(v) = &variant
            && !is_valid_variant(v)
        {
            return Err(ParsePlatformError::new(
                &display,
                format!("invalid variant {v:?}"),
            ));
        }
        Ok(Self {
            os,
            architecture,
            variant,
        })
    }

    /// The operating system, e.g. `linux`.
    pub fn os(&self) -> &str {
        &self.os
    }

    /// The architecture in its normalised (Go) spelling, e.g. `arm64`.
    pub fn architecture(&self) -> &str {
        &self.architecture
    }

    /// The variant, e.g. `v8` for arm64 and `v7` for arm; `None` for amd64.
    pub fn variant(&self) -> Option<&str> {
        self.variant.as_deref()
    }

    /// Whether this os/architecture pair is one that images exist for (Go has a port for it):
    /// `linux/arm64` is, `linux/wasm` and `windows/s390x` are not. Parsing accepts any known os
    /// with any known architecture; callers that take a pair apart (`mab manifest annotate
    /// --arch` without `--os`) check this too.
    pub fn is_supported_pair(&self) -> bool {
        SUPPORTED_PAIRS
            .iter()
            .any(|(os, arch)| *os == self.os && *arch == self.architecture)
    }

    /// Whether an image config that declares `os`, `architecture` and (maybe) `variant` is of this
    /// platform. A config without a variant (the classic builder records none) matches the
    /// platform's default variant.
    pub fn matches_config(&self, os: &str, architecture: &str, variant: Option<&str>) -> bool {
        let variant = variant.filter(|v| !v.is_empty());
        let (arch, norm_variant) = normalize_arch(architecture, variant.unwrap_or(""));
        if !os.eq_ignore_ascii_case(&self.os) || arch != self.architecture {
            return false;
        }
        match variant {
            None => true,
            Some(_) => norm_variant == self.variant,
        }
    }
}

impl Platform {
    /// The ELF `e_machine` of native executables of this platform, when it runs ELF.
    pub fn elf_machine(&self) -> Option<u16> {
        match self.architecture.as_str() {
            "amd64" => Some(62),
            "arm64" => Some(183),
            "arm" => Some(40),
            "386" => Some(3),
            "ppc64le" | "ppc64" => Some(21),
            "s390x" => Some(22),
            "riscv64" => Some(243),
            "mips64le" | "mips64" | "mipsle" | "mips" => Some(8),
            "loong64" => Some(258),
            _ => None,
        }
    }
}

/// A readable name of an ELF `e_machine` value.
pub fn elf_machine_name(machine: u16) -> String {
    match machine {
        3 => "x86 (386)".to_string(),
        8 => "mips".to_string(),
        21 => "powerpc64".to_string(),
        22 => "s390x".to_string(),
        40 => "arm".to_string(),
        62 => "x86-64 (amd64)".to_string(),
        183 => "aarch64 (arm64)".to_string(),
        243 => "risc-v".to_string(),
        258 => "loongarch".to_string(),
        other => format!("elf machine {other}"),
    }
}

impl FromStr for Platform {
    type Err = ParsePlatformError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(ParsePlatformError::new(input, "it is empty"));
        }
        let parts: Vec<&str> = trimmed.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(ParsePlatformError::new(input, "it has an empty part"));
        }
        let result = match parts.as_slice() {
            [single] => {
                if KNOWN_OS.contains(&single.to_ascii_lowercase().as_str()) {
                    return Err(ParsePlatformError::new(
                        input,
                        "it names an os but no architecture",
                    ));
                }
                Platform::from_parts("linux", single, None)
            }
            [os, arch] => Platform::from_parts(os, arch, None),
            [os, arch, variant] => Platform::from_parts(os, arch, Some(variant)),
            _ => {
                return Err(ParsePlatformError::new(
                    input,
                    "it has more than three parts",
                ));
            }
        };
        result.map_err(|e| ParsePlatformError::new(input, e.reason))
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl serde::Serialize for Platform {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Platform {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

fn is_valid_variant(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 32
        && v.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.')
}

/// containerd's `normalizeArch`, with the default variants its `Parse` fills in.
fn normalize_arch(arch: &str, variant: &str) -> (String, Option<String>) {
    let arch = arch.to_ascii_lowercase();
    let variant = variant.to_ascii_lowercase();
    let (arch, variant): (&str, String) = match arch.as_str() {
        "i386" | "i686" => ("386", String::new()),
        "x86_64" | "x86-64" | "amd64" => {
            let v = if variant == "v1" {
                String::new()
            } else {
                variant
            };
            ("amd64", v)
        }
        "aarch64" | "arm64" => {
            let v = match variant.as_str() {
                "" | "8" | "v8" | "v8.0" => "v8".to_string(),
                other if other.chars().all(|c| c.is_ascii_digit() || c == '.') => {
                    format!("v{other}")
                }
                other => other.to_string(),
            };
            ("arm64", v)
        }
        "armhf" => ("arm", "v7".to_string()),
        "armel" => ("arm", "v6".to_string()),
        "arm" => {
            let v = match variant.as_str() {
                "" | "7" => "v7".to_string(),
                "5" | "6" | "8" => format!("v{variant}"),
                _ => variant,
            };
            ("arm", v)
        }
        other => (other, variant),
    };
    let variant = (!variant.is_empty()).then_some(variant);
    (arch.to_string(), variant)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> String {
        s.parse::<Platform>().unwrap().to_string()
    }

    #[test]
    fn normalises_like_containerd() {
        let cases = [
            ("linux/amd64", "linux/amd64"),
            ("linux/x86_64", "linux/amd64"),
            ("linux/arm64", "linux/arm64/v8"),
            ("linux/aarch64", "linux/arm64/v8"),
            ("linux/arm64/v8", "linux/arm64/v8"),
            ("linux/arm64/8", "linux/arm64/v8"),
            ("linux/arm", "linux/arm/v7"),
            ("linux/armhf", "linux/arm/v7"),
            ("linux/armel", "linux/arm/v6"),
            ("linux/arm/6", "linux/arm/v6"),
            ("linux/386", "linux/386"),
            ("linux/i386", "linux/386"),
            ("LINUX/AMD64", "linux/amd64"),
            ("arm64", "linux/arm64/v8"),
            ("linux/riscv64", "linux/riscv64"),
            ("linux/amd64/v3", "linux/amd64/v3"),
        ];
        for (input, want) in cases {
            assert_eq!(p(input), want, "{input}");
        }
    }

    #[test]
    fn rejects_bad_platforms_with_the_accepted_forms() {
        for bad in [
            "",
            "linux",
            "linux/",
            "/amd64",
            "linux/amd64/v8/x",
            "linux/amd65",
            "lunix/amd64",
            "linux/arm64/V 8",
        ] {
            let err = bad.parse::<Platform>().unwrap_err().to_string();
            assert!(err.contains("accepted forms"), "{bad}: {err}");
            assert!(err.contains(&format!("{bad:?}")), "{bad}: {err}");
        }
    }

    #[test]
    fn config_matching() {
        let arm64: Platform = "linux/arm64".parse().unwrap();
        assert!(arm64.matches_config("linux", "arm64", None));
        assert!(arm64.matches_config("linux", "arm64", Some("")));
        assert!(arm64.matches_config("linux", "arm64", Some("v8")));
        assert!(arm64.matches_config("linux", "aarch64", None));
        assert!(!arm64.matches_config("linux", "amd64", None));
        assert!(!arm64.matches_config("windows", "arm64", None));
        let armv6: Platform = "linux/arm/v6".parse().unwrap();
        assert!(!armv6.matches_config("linux", "arm", Some("v7")));
        let amd64: Platform = "linux/amd64".parse().unwrap();
        assert!(amd64.matches_config("linux", "amd64", None));
        assert!(!amd64.matches_config("linux", "arm64", None));
    }

    #[test]
    fn supported_pairs() {
        for good in [
            "linux/amd64",
            "linux/arm64",
            "linux/arm/v7",
            "windows/amd64",
            "linux/s390x",
        ] {
            assert!(
                good.parse::<Platform>().unwrap().is_supported_pair(),
                "{good}"
            );
        }
        for bad in ["linux/wasm", "windows/s390x", "darwin/386", "wasip1/amd64"] {
            assert!(
                !bad.parse::<Platform>().unwrap().is_supported_pair(),
                "{bad}"
            );
        }
        // Every pair names a known os and a known architecture.
        for (os, arch) in SUPPORTED_PAIRS {
            assert!(
                KNOWN_OS.contains(os) && KNOWN_ARCH.contains(arch),
                "{os}/{arch}"
            );
        }
    }

    #[test]
    fn equal_after_normalisation() {
        let a: Platform = "linux/aarch64".parse().unwrap();
        let b: Platform = "linux/arm64/v8".parse().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.variant(), Some("v8"));
        let amd: Platform = "linux/amd64".parse().unwrap();
        assert_eq!(amd.variant(), None);
    }
}
