//! apk's database, `lib/apk/db/installed`: one stanza per package, one `X:value` line per
//! field (`P` name, `V` version, `A` architecture, `L` license, `o` origin, `U` URL, `m`
//! maintainer), files listed after.

use crate::contents::Package;
use crate::stanza::packages;

/// The installed packages.
pub(crate) fn installed_packages(text: &str) -> Vec<Package> {
    packages(text, |mut fields| {
        let name = fields.remove("P")?;
        let mut package = Package::new(name, fields.remove("V").unwrap_or_default());
        package.arch = fields.remove("A");
        package.license = fields.remove("L");
        package.source = fields.remove("o");
        package.homepage = fields.remove("U");
        package.supplier = fields.remove("m");
        Some(package)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_package() {
        let text = "C:Q1abc=\nP:musl\nV:1.2.5-r0\nA:aarch64\nS:1\nI:2\nT:the musl c library\n\
                    U:https://musl.libc.org/\nL:MIT\no:musl\nm:Natanael Copa <ncopa@alpinelinux.org>\n\
                    t:1\nc:abc\nF:lib\nR:ld-musl-aarch64.so.1\na:0:0:755\nZ:Q1xyz=\n\n\
                    C:Q1def=\nP:busybox\nV:1.36.1-r29\nA:aarch64\nL:GPL-2.0-only\no:busybox\n";
        let packages = installed_packages(text);
        assert_eq!(packages.len(), 2);
        assert_eq!(packages[0].name, "busybox");
        assert_eq!(packages[1].name, "musl");
        assert_eq!(packages[1].version, "1.2.5-r0");
        assert_eq!(packages[1].license.as_deref(), Some("MIT"));
        assert_eq!(packages[1].arch.as_deref(), Some("aarch64"));
    }
}
