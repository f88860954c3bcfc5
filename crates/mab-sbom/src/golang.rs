//! A Go executable's build information (what `go version -m` prints): the `\xff Go buildinf:`
//! header in its data, then (Go 1.18 and later) the toolchain version and the module
//! information as length-prefixed strings.

use crate::contents::{Finding, Package};

/// The header's first bytes.
pub(crate) const MAGIC: &[u8] = b"\xff Go buildinf:";
/// How many bytes after the header's start are kept to read it (the module list of a large
/// program is tens of KiB).
pub(crate) const MAX_BUILDINFO: usize = 1024 * 1024;
/// The flag of the Go 1.18+ header: strings inline, not pointers.
const FLAG_INLINE: u8 = 0x2;

/// Reads the build information starting at `data[0]` (the magic); `None` when `data` is not
/// a whole header yet (or not one at all).
pub(crate) fn read(data: &[u8]) -> Option<Finding> {
    if data.len() < 32 || !data.starts_with(MAGIC) {
        return None;
    }
    if data[15] & FLAG_INLINE == 0 {
        return Some(Finding::Unread {
            reason: "a Go executable built before Go 1.18: its module list is not read".into(),
        });
    }
    let (toolchain, rest) = length_prefixed(&data[32..])?;
    let (modinfo, _) = length_prefixed(rest)?;
    // The module information is framed by 16-byte sentinels.
    let modinfo = if modinfo.len() >= 33 && modinfo[modinfo.len() - 17] == b'\n' {
        &modinfo[16..modinfo.len() - 16]
    } else {
        modinfo
    };
    Some(parse(
        &String::from_utf8_lossy(toolchain),
        &String::from_utf8_lossy(modinfo),
    ))
}

fn length_prefixed(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut length: u64 = 0;
    for (i, byte) in data.iter().enumerate().take(10) {
        length |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let start = i + 1;
            let end = start.checked_add(usize::try_from(length).ok()?)?;
            return (end <= data.len()).then(|| (&data[start..end], &data[end..]));
        }
    }
    None
}

/// The `go version -m` text: `path`, `mod`, `dep` and `=>` (replacement of the line before)
/// lines, tab-separated.
fn parse(toolchain: &str, modinfo: &str) -> Finding {
    let mut path = String::new();
    let mut main: Option<Package> = None;
    let mut deps: Vec<Package> = Vec::new();
    let module = |fields: &[&str]| {
        let mut package = Package::new(fields[1], fields.get(2).copied().unwrap_or_default());
        package.checksum = fields.get(3).map(|s| s.to_string());
        package
    };
    let mut last_was_main = false;
    for line in modinfo.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            ["path", p, ..] => path = p.to_string(),
            ["mod", ..] if fields.len() >= 2 => {
                main = Some(module(&fields));
                last_was_main = true;
            }
            ["dep", ..] if fields.len() >= 2 => {
                deps.push(module(&fields));
                last_was_main = false;
            }
            ["=>", ..] if fields.len() >= 2 => {
                let replacement = module(&fields);
                let target = if last_was_main {
                    main.as_mut()
                } else {
                    deps.last_mut()
                };
                if let Some(target) = target {
                    *target = replacement;
                }
            }
            _ => {}
        }
    }
    deps.sort();
    Finding::Go {
        toolchain: toolchain.to_string(),
        path,
        main,
        deps,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A Go 1.18+ build information header, as the linker writes it.
    pub(crate) fn header(toolchain: &str, modinfo: &str) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.push(8); // pointer size
        out.push(FLAG_INLINE);
        out.resize(32, 0);
        let mut framed = vec![0x30u8; 16];
        framed.extend_from_slice(modinfo.as_bytes());
        framed.extend_from_slice(&[0xf9u8; 16]);
        for s in [toolchain.as_bytes(), &framed[..]] {
            let mut n = s.len();
            loop {
                let byte = (n & 0x7f) as u8;
                n >>= 7;
                if n == 0 {
                    out.push(byte);
                    break;
                }
                out.push(byte | 0x80);
            }
            out.extend_from_slice(s);
        }
        out
    }

    #[test]
    fn reads_the_toolchain_main_module_and_dependencies() {
        let modinfo = "path\texample.com/app/cmd/app\n\
                       mod\texample.com/app\t(devel)\t\n\
                       dep\tgolang.org/x/sys\tv0.20.0\th1:abc=\n\
                       dep\texample.com/greeting\tv1.2.3\t\n\
                       =>\t./greeting\t(devel)\t\n\
                       build\t-compiler=gc\n";
        let Some(Finding::Go {
            toolchain,
            path,
            main,
            deps,
        }) = read(&header("go1.22.1", modinfo))
        else {
            panic!("not read");
        };
        assert_eq!(toolchain, "go1.22.1");
        assert_eq!(path, "example.com/app/cmd/app");
        assert_eq!(main.unwrap().name, "example.com/app");
        let names: Vec<(&str, &str)> = deps
            .iter()
            .map(|d| (d.name.as_str(), d.version.as_str()))
            .collect();
        assert_eq!(
            names,
            [("./greeting", "(devel)"), ("golang.org/x/sys", "v0.20.0")]
        );
        assert_eq!(deps[1].checksum.as_deref(), Some("h1:abc="));
    }

    #[test]
    fn a_cut_header_is_not_read_yet() {
        let whole = header("go1.22.1", "path\tx\n");
        assert!(read(&whole[..whole.len() - 3]).is_none());
        assert!(read(&whole).is_some());
    }
}
