//! Which machines the ELF files of a layer are built for, read from the uncompressed layer tar as
//! it streams past (no second pass, no file held in memory): the facts behind the platform lint
//! ("an x86-64 binary copied into an arm64 image").

use std::collections::BTreeMap;

/// How many example paths are kept per machine.
const SAMPLES: usize = 5;
/// Longest GNU long name / pax header content read.
const MAX_META: u64 = 64 * 1024;

/// ELF files found, by `e_machine`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ElfFiles {
    /// `e_machine` → (how many files, up to a few of their paths).
    pub by_machine: BTreeMap<u16, (u64, Vec<String>)>,
}

impl ElfFiles {
    fn add(&mut self, machine: u16, path: &str) {
        let (count, samples) = self.by_machine.entry(machine).or_default();
        *count += 1;
        if samples.len() < SAMPLES {
            samples.push(path.to_string());
        }
    }

    /// Adds what another layer had.
    pub fn merge(&mut self, other: &ElfFiles) {
        for (machine, (count, samples)) in &other.by_machine {
            let (total, kept) = self.by_machine.entry(*machine).or_default();
            *total += count;
            for path in samples {
                if kept.len() < SAMPLES {
                    kept.push(path.clone());
                }
            }
        }
    }
}

enum State {
    Header,
    Content {
        remaining: u64,
        padding: u64,
        capture: Capture,
    },
    Padding(u64),
}

enum Capture {
    /// The first bytes of a regular file, to read its ELF header.
    FileHead {
        path: String,
        head: Vec<u8>,
    },
    /// A GNU long name (`L`) or pax header (`x`) that names the next entry.
    Meta {
        pax: bool,
        data: Vec<u8>,
    },
    Nothing,
}

/// A streaming reader of tar headers that notes the ELF machine of every regular file.
pub(crate) struct ElfScanner {
    state: State,
    header: Vec<u8>,
    next_name: Option<String>,
    found: ElfFiles,
}

impl ElfScanner {
    pub(crate) fn new() -> Self {
        Self {
            state: State::Header,
            header: Vec::with_capacity(512),
            next_name: None,
            found: ElfFiles::default(),
        }
    }

    /// What was found so far.
    pub(crate) fn finish(self) -> ElfFiles {
        self.found
    }

    /// Feeds the next bytes of the tar stream.
    pub(crate) fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match &mut self.state {
                State::Header => {
                    let take = (512 - self.header.len()).min(data.len());
                    self.header.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if self.header.len() == 512 {
                        let header = std::mem::take(&mut self.header);
                        self.start_entry(&header);
                    }
                }
                State::Content {
                    remaining,
                    padding,
                    capture,
                } => {
                    let take = (*remaining).min(data.len() as u64) as usize;
                    match capture {
                        Capture::FileHead { head, .. } if head.len() < 20 => {
                            let want = (20 - head.len()).min(take);
                            head.extend_from_slice(&data[..want]);
                        }
                        Capture::Meta { data: meta, .. } => meta.extend_from_slice(&data[..take]),
                        _ => {}
                    }
                    *remaining -= take as u64;
                    data = &data[take..];
                    if *remaining == 0 {
                        let padding = *padding;
                        let capture = std::mem::replace(capture, Capture::Nothing);
                        self.end_entry(capture);
                        self.state = State::Padding(padding);
                    }
                }
                State::Padding(remaining) => {
                    let take = (*remaining).min(data.len() as u64);
                    *remaining -= take;
                    data = &data[take as usize..];
                    if *remaining == 0 {
                        self.state = State::Header;
                    }
                }
            }
        }
    }

    fn start_entry(&mut self, header: &[u8]) {
        if header.iter().all(|&b| b == 0) {
            return; // end-of-archive blocks
        }
        let size = parse_size(&header[124..136]);
        let padding = (512 - size % 512) % 512;
        let typeflag = header[156];
        let name = match self.next_name.take() {
            Some(name) => name,
            None => {
                let name = c_string(&header[0..100]);
                let prefix = if &header[257..262] == b"ustar" {
                    c_string(&header[345..500])
                } else {
                    String::new()
                };
                if prefix.is_empty() {
                    name
                } else {
                    format!("{prefix}/{name}")
                }
            }
        };
        let capture = match typeflag {
            b'0' | 0 | b'7' if size >= 20 => Capture::FileHead {
                path: name,
                head: Vec::with_capacity(20),
            },
            b'L' if size <= MAX_META => Capture::Meta {
                pax: false,
                data: Vec::new(),
            },
            b'x' if size <= MAX_META => Capture::Meta {
                pax: true,
                data: Vec::new(),
            },
            _ => Capture::Nothing,
        };
        self.state = if size == 0 {
            self.end_entry(capture);
            State::Header
        } else {
            State::Content {
                remaining: size,
                padding,
                capture,
            }
        };
    }

    fn end_entry(&mut self, capture: Capture) {
        match capture {
            Capture::FileHead { path, head } => {
                if let Some(machine) = elf_machine(&head) {
                    self.found.add(machine, path.trim_start_matches("./"));
                }
            }
            Capture::Meta { pax: false, data } => {
                self.next_name = Some(c_string(&data));
            }
            Capture::Meta { pax: true, data } => {
                self.next_name = pax_path(&data);
            }
            Capture::Nothing => {}
        }
    }
}

/// `e_machine` of an ELF header, if `head` starts one.
fn elf_machine(head: &[u8]) -> Option<u16> {
    if head.len() < 20 || &head[..4] != b"\x7fELF" {
        return None;
    }
    let bytes = [head[18], head[19]];
    match head[5] {
        1 => Some(u16::from_le_bytes(bytes)),
        2 => Some(u16::from_be_bytes(bytes)),
        _ => None,
    }
}

fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// A tar size field: octal text, or base-256 when the high bit is set.
fn parse_size(field: &[u8]) -> u64 {
    if field[0] & 0x80 != 0 {
        return field[1..].iter().fold(0u64, |n, &b| {
            n.saturating_mul(256).saturating_add(u64::from(b))
        });
    }
    let text = c_string(field);
    u64::from_str_radix(text.trim(), 8).unwrap_or(0)
}

/// The `path` record of a pax extended header.
fn pax_path(data: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(data);
    text.lines().find_map(|record| {
        let (_, key_value) = record.split_once(' ')?;
        key_value.strip_prefix("path=").map(str::to_string)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elf(machine: u16) -> Vec<u8> {
        let mut head = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0];
        head.resize(18, 0);
        head.extend_from_slice(&machine.to_le_bytes());
        head.resize(64, 0);
        head
    }

    fn layer() -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut add = |path: &str, data: &[u8]| {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o755);
            header.set_cksum();
            builder.append_data(&mut header, path, data).unwrap();
        };
        add("bin/app", &elf(62));
        add("bin/tool", &elf(183));
        add("etc/config", b"not an elf file at all, just text");
        add(&format!("usr/{}/deep", "long".repeat(40)), &elf(62));
        add("bin/tiny", b"\x7fELF");
        builder.into_inner().unwrap()
    }

    #[test]
    fn finds_the_machine_of_every_elf_file_whatever_the_chunking() {
        let tar = layer();
        for chunk in [1, 7, 511, 512, 513, 4096, tar.len()] {
            let mut scanner = ElfScanner::new();
            for piece in tar.chunks(chunk) {
                scanner.feed(piece);
            }
            let found = scanner.finish();
            assert_eq!(found.by_machine.len(), 2, "chunk {chunk}: {found:?}");
            let (count, paths) = &found.by_machine[&62];
            assert_eq!(*count, 2, "chunk {chunk}");
            assert_eq!(paths[0], "bin/app");
            assert!(
                paths[1].ends_with("/deep") && paths[1].len() > 100,
                "{paths:?}"
            );
            assert_eq!(found.by_machine[&183], (1, vec!["bin/tool".to_string()]));
        }
    }
}
