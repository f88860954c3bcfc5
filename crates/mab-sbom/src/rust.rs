//! A Rust executable's dependency list as `cargo auditable` embeds it: the `.dep-v0` section,
//! zlib-compressed JSON `{"packages":[{"name","version","source","kind","dependencies","root"}]}`.
//!
//! A layer streams past once and an ELF file's section table comes at its end, so the section
//! cannot be looked up by name: every zlib stream in the file is a candidate, inflated only as
//! far as it takes to see whether it starts the way that JSON does.

use flate2::{Decompress, FlushDecompress, Status};
use serde::Deserialize;

use crate::contents::{Finding, Package, RustPackage};

/// How the JSON starts.
const JSON_START: &[u8] = b"{\"packages\":[";
/// The largest dependency list inflated.
const MAX_JSON: usize = 16 * 1024 * 1024;
/// zlib headers (CMF 0x78: deflate, 32 KiB window) at each compression level.
pub(crate) const ZLIB_SECOND_BYTES: [u8; 4] = [0x01, 0x5e, 0x9c, 0xda];

/// A zlib stream being inflated to see whether it is the dependency list.
pub(crate) struct Candidate {
    inflater: Decompress,
    json: Vec<u8>,
    done: bool,
}

/// What feeding a candidate says.
pub(crate) enum Fed {
    /// Keep feeding it.
    More,
    /// It is not the dependency list.
    Dropped,
    /// It is: the finding.
    Found(Box<Finding>),
}

impl Candidate {
    pub(crate) fn new() -> Self {
        Self {
            inflater: Decompress::new(true),
            json: Vec::new(),
            done: false,
        }
    }

    /// Inflates the next compressed bytes.
    pub(crate) fn feed(&mut self, mut input: &[u8]) -> Fed {
        let mut buffer = [0u8; 16 * 1024];
        while !input.is_empty() && !self.done {
            let before_in = self.inflater.total_in();
            let before_out = self.inflater.total_out();
            let status = match self
                .inflater
                .decompress(input, &mut buffer, FlushDecompress::None)
            {
                Ok(status) => status,
                Err(_) => return Fed::Dropped,
            };
            let consumed = (self.inflater.total_in() - before_in) as usize;
            let produced = (self.inflater.total_out() - before_out) as usize;
            input = &input[consumed..];
            self.json.extend_from_slice(&buffer[..produced]);
            let checked = self.json.len().min(JSON_START.len());
            if self.json[..checked] != JSON_START[..checked] || self.json.len() > MAX_JSON {
                return Fed::Dropped;
            }
            match status {
                Status::StreamEnd => self.done = true,
                _ if consumed == 0 && produced == 0 => return Fed::Dropped,
                _ => {}
            }
        }
        if !self.done {
            return Fed::More;
        }
        match parse(&self.json) {
            Some(finding) => Fed::Found(Box::new(finding)),
            None => Fed::Dropped,
        }
    }
}

#[derive(Deserialize)]
struct VersionInfo {
    packages: Vec<AuditedPackage>,
}

#[derive(Deserialize)]
struct AuditedPackage {
    name: String,
    version: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    root: bool,
}

fn parse(json: &[u8]) -> Option<Finding> {
    let info: VersionInfo = serde_json::from_slice(json).ok()?;
    let mut packages: Vec<RustPackage> = info
        .packages
        .into_iter()
        .map(|p| RustPackage {
            package: Package::new(p.name, p.version),
            source: p.source,
            root: p.root,
            build_only: p.kind.as_deref() == Some("build"),
        })
        .collect();
    packages.sort();
    Some(Finding::Rust { packages })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A `.dep-v0` section's bytes, as cargo auditable writes them.
    pub(crate) fn section(json: &str) -> Vec<u8> {
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(7));
        std::io::Write::write_all(&mut encoder, json.as_bytes()).unwrap();
        encoder.finish().unwrap()
    }

    pub(crate) const JSON: &str = r#"{"packages":[{"name":"hello","version":"0.1.0","source":"local","dependencies":[1,2],"root":true},{"name":"hex","version":"0.4.3","source":"crates.io"},{"name":"cc","version":"1.0.83","source":"crates.io","kind":"build"}]}"#;

    #[test]
    fn reads_the_list_fed_in_pieces_and_drops_other_streams() {
        let bytes = section(JSON);
        let mut candidate = Candidate::new();
        let mut found = None;
        for piece in bytes.chunks(3) {
            match candidate.feed(piece) {
                Fed::More => {}
                Fed::Dropped => panic!("dropped"),
                Fed::Found(finding) => found = Some(*finding),
            }
        }
        let Some(Finding::Rust { packages }) = found else {
            panic!("not found");
        };
        let names: Vec<(&str, bool, bool)> = packages
            .iter()
            .map(|p| (p.package.name.as_str(), p.root, p.build_only))
            .collect();
        assert_eq!(
            names,
            [
                ("cc", false, true),
                ("hello", true, false),
                ("hex", false, false)
            ]
        );
        let other = section("{\"something\":\"else\"}");
        assert!(matches!(Candidate::new().feed(&other), Fed::Dropped));
    }
}
