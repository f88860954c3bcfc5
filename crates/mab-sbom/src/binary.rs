//! One executable file as it streams past: is it ELF, and does it carry a Go build
//! information header or a `cargo auditable` dependency list. Bounded: at most one header
//! kept (1 MiB), a few zlib candidates inflated at once.

use memchr::memmem;

use crate::contents::Finding;
use crate::golang::{self, MAGIC, MAX_BUILDINFO};
use crate::rust::{Candidate, Fed, ZLIB_SECOND_BYTES};

/// How many zlib streams are inflated at once.
const MAX_CANDIDATES: usize = 16;
/// Bytes kept from the end of the previous chunk, to see a header that spans two chunks.
const CARRY: usize = 16;

/// The scan of one file.
pub(crate) struct BinaryScan {
    /// Bytes of the file seen so far.
    offset: u64,
    /// The first bytes, until it is known whether the file is ELF.
    head: Vec<u8>,
    elf: Option<bool>,
    carry: Vec<u8>,
    /// The Go header, from its magic on, while it is read.
    go: Option<Vec<u8>>,
    candidates: Vec<Candidate>,
    found: Vec<Finding>,
}

impl BinaryScan {
    pub(crate) fn new() -> Self {
        Self {
            offset: 0,
            head: Vec::with_capacity(4),
            elf: None,
            carry: Vec::with_capacity(CARRY * 2),
            go: None,
            candidates: Vec::new(),
            found: Vec::new(),
        }
    }

    /// Whether the file is (still possibly) ELF: the caller may stop feeding when not.
    pub(crate) fn wanted(&self) -> bool {
        self.elf != Some(false)
    }

    pub(crate) fn feed(&mut self, data: &[u8]) {
        if self.elf.is_none() {
            let take = (4 - self.head.len()).min(data.len());
            self.head.extend_from_slice(&data[..take]);
            if self.head.len() == 4 {
                self.elf = Some(self.head == b"\x7fELF");
            }
        }
        if self.elf == Some(false) {
            return;
        }
        // Streams already started get the whole chunk.
        if let Some(go) = &mut self.go {
            let take = (MAX_BUILDINFO - go.len()).min(data.len());
            go.extend_from_slice(&data[..take]);
        }
        self.feed_candidates(data);
        // New starts: in the bytes carried over (spanning into this chunk), then in the chunk.
        let carried = self.carry.len();
        let mut joined = std::mem::take(&mut self.carry);
        joined.extend_from_slice(&data[..data.len().min(CARRY)]);
        let chunk_start = self.offset;
        for start in starts(&joined)
            .into_iter()
            .filter(|s| s.position < carried && s.position + s.len > carried)
        {
            let at = chunk_start - (carried - start.position) as u64;
            self.begin(start.kind, at, &joined[start.position..carried], data);
        }
        for start in starts(data) {
            let at = chunk_start + start.position as u64;
            self.begin(start.kind, at, &[], &data[start.position..]);
        }
        let keep_from = joined.len().saturating_sub(CARRY);
        let mut carry = if data.len() >= CARRY {
            data[data.len() - CARRY..].to_vec()
        } else {
            joined[keep_from..].to_vec()
        };
        carry.truncate(CARRY);
        self.carry = carry;
        self.offset += data.len() as u64;
    }

    /// A header found at file offset `at`: `before` then `rest` are its bytes so far.
    fn begin(&mut self, kind: StartKind, at: u64, before: &[u8], rest: &[u8]) {
        match kind {
            // Go aligns the header to 16 bytes.
            StartKind::Go if self.go.is_none() && at.is_multiple_of(16) => {
                let mut bytes = before.to_vec();
                let take = (MAX_BUILDINFO - bytes.len()).min(rest.len());
                bytes.extend_from_slice(&rest[..take]);
                self.go = Some(bytes);
            }
            StartKind::Zlib if self.candidates.len() < MAX_CANDIDATES && !self.has_rust() => {
                let mut candidate = Candidate::new();
                let mut fed = candidate.feed(before);
                if matches!(fed, Fed::More) {
                    fed = candidate.feed(rest);
                }
                match fed {
                    Fed::More => self.candidates.push(candidate),
                    Fed::Dropped => {}
                    Fed::Found(finding) => self.found.push(*finding),
                }
            }
            _ => {}
        }
    }

    fn feed_candidates(&mut self, data: &[u8]) {
        let mut found = Vec::new();
        self.candidates
            .retain_mut(|candidate| match candidate.feed(data) {
                Fed::More => true,
                Fed::Dropped => false,
                Fed::Found(finding) => {
                    found.push(*finding);
                    false
                }
            });
        self.found.extend(found);
        if self.has_rust() {
            self.candidates.clear();
        }
    }

    fn has_rust(&self) -> bool {
        self.found.iter().any(|f| matches!(f, Finding::Rust { .. }))
    }

    /// What the file held: a Go and/or Rust finding.
    pub(crate) fn finish(mut self) -> Vec<Finding> {
        if let Some(go) = self.go.take() {
            self.found
                .push(golang::read(&go).unwrap_or(Finding::Unread {
                    reason: "a Go build information header that does not read".into(),
                }));
        }
        self.found
    }
}

#[derive(Clone, Copy)]
enum StartKind {
    Go,
    Zlib,
}

struct Start {
    kind: StartKind,
    position: usize,
    /// How many bytes the pattern that starts there has.
    len: usize,
}

/// Where Go headers and zlib streams may start in `data`.
fn starts(data: &[u8]) -> Vec<Start> {
    let mut found: Vec<Start> = memmem::find_iter(data, MAGIC)
        .map(|position| Start {
            kind: StartKind::Go,
            position,
            len: MAGIC.len(),
        })
        .collect();
    found.extend(
        memchr::memchr_iter(0x78, data)
            .filter(|&i| {
                data.get(i + 1)
                    .is_some_and(|b| ZLIB_SECOND_BYTES.contains(b))
            })
            .map(|position| Start {
                kind: StartKind::Zlib,
                position,
                len: 2,
            }),
    );
    found.sort_by_key(|s| s.position);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn executable(parts: &[&[u8]]) -> Vec<u8> {
        let mut out = b"\x7fELF\x02\x01\x01".to_vec();
        out.resize(4096, 0);
        for part in parts {
            // Pad to 16 bytes, as Go aligns its header.
            out.resize(out.len().div_ceil(16) * 16, 0x78);
            out.extend_from_slice(part);
            out.extend_from_slice(b"x\x9c some noise that is not zlib x\xda\x00\x00");
        }
        out.resize(out.len() + 1000, 0);
        out
    }

    #[test]
    fn finds_go_and_rust_lists_whatever_the_chunking() {
        let go = crate::golang::tests::header("go1.22.1", "path\texample.com/app\n");
        let rust = crate::rust::tests::section(crate::rust::tests::JSON);
        let file = executable(&[&go, &rust]);
        for chunk in [1, 2, 7, 15, 16, 17, 100, 4096, file.len()] {
            let mut scan = BinaryScan::new();
            for piece in file.chunks(chunk) {
                scan.feed(piece);
            }
            let found = scan.finish();
            assert_eq!(found.len(), 2, "chunk {chunk}: {found:?}");
            assert!(
                found
                    .iter()
                    .any(|f| matches!(f, Finding::Go { path, .. } if path == "example.com/app"))
            );
            assert!(
                found
                    .iter()
                    .any(|f| matches!(f, Finding::Rust { packages } if packages.len() == 3))
            );
        }
    }

    #[test]
    fn other_files_are_not_scanned() {
        let mut scan = BinaryScan::new();
        scan.feed(b"#!/bin/sh\n");
        assert!(!scan.wanted());
        scan.feed(&crate::golang::tests::header("go1.22.1", "path\tx\n"));
        assert!(scan.finish().is_empty());
    }
}
