//! dpkg's database: `var/lib/dpkg/status` (every package dpkg knows, in deb822 stanzas) and
//! the files of `var/lib/dpkg/status.d/` (one package each, as distroless images have them).

use crate::contents::Package;
use crate::stanza::packages;

/// The installed packages of a status file: stanzas whose `Status` says `installed` (those
/// of `status.d/` have no `Status`: they are installed).
pub(crate) fn installed_packages(text: &str) -> Vec<Package> {
    packages(text, |mut fields| {
        let installed = fields
            .get("Status")
            .is_none_or(|status| status.split_whitespace().last() == Some("installed"));
        if !installed {
            return None;
        }
        let name = fields.remove("Package")?;
        let version = fields.remove("Version").unwrap_or_default();
        let mut package = Package::new(name, version);
        package.arch = fields.remove("Architecture");
        // `Source: name (version)` when the source version differs.
        package.source = fields
            .remove("Source")
            .map(|s| s.split_whitespace().next().unwrap_or_default().to_string());
        package.homepage = fields.remove("Homepage");
        package.supplier = fields.remove("Maintainer");
        Some(package)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_installed_packages_and_skips_the_others() {
        let text = "Package: libc6\nStatus: install ok installed\nPriority: optional\n\
                    Architecture: arm64\nMulti-Arch: same\nSource: glibc\nVersion: 2.36-9+deb12u10\n\
                    Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>\n\
                    Description: GNU C Library: Shared libraries\n Contains the standard libraries.\n\
                    Homepage: https://www.gnu.org/software/libc/libc.html\n\n\
                    Package: removed-one\nStatus: deinstall ok config-files\nVersion: 1.0\n\n\
                    Package: zlib1g\nStatus: install ok installed\nArchitecture: arm64\n\
                    Source: zlib (1:1.2.13.dfsg-1)\nVersion: 1:1.2.13.dfsg-1\n";
        let packages = installed_packages(text);
        let names: Vec<&str> = packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["libc6", "zlib1g"]);
        assert_eq!(packages[0].version, "2.36-9+deb12u10");
        assert_eq!(packages[0].arch.as_deref(), Some("arm64"));
        assert_eq!(packages[0].source.as_deref(), Some("glibc"));
        assert_eq!(packages[1].source.as_deref(), Some("zlib"));
    }

    /// This machine's own dpkg database, a real one: every package `dpkg-query` lists as
    /// installed is found, with its version.
    #[test]
    fn reads_a_real_status_file() {
        let Ok(text) = std::fs::read_to_string("/var/lib/dpkg/status") else {
            return; // not a dpkg system: the unit test above covers the format
        };
        let packages = installed_packages(&text);
        assert!(packages.len() > 50, "{}", packages.len());
        let libc = packages.iter().find(|p| p.name == "libc6").expect("libc6");
        assert!(libc.version.starts_with("2."), "{libc:?}");
    }
}
