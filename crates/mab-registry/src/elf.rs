//! Which machines the ELF files of a layer are built for, read from the uncompressed layer tar as
//! it streams past (no second pass, no file held in memory): the facts behind the platform lint
//! ("an x86-64 binary copied into an arm64 image"). The tar is walked by `mab-sbom`'s walker,
//! the one every layer scanner uses.

use std::collections::BTreeMap;

use mab_sbom::tar::{Entry, TarWalker, Visitor};

/// How many example paths are kept per machine.
const SAMPLES: usize = 5;

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

/// Keeps the first 20 bytes of each regular file, to read its ELF header.
#[derive(Default)]
struct Heads {
    open: Option<(String, Vec<u8>)>,
    found: ElfFiles,
}

impl Visitor for Heads {
    fn start(&mut self, entry: &Entry) -> bool {
        if entry.regular && entry.size >= 20 {
            self.open = Some((entry.path.clone(), Vec::with_capacity(20)));
            return true;
        }
        false
    }

    fn content(&mut self, data: &[u8]) {
        if let Some((_, head)) = &mut self.open
            && head.len() < 20
        {
            let want = (20 - head.len()).min(data.len());
            head.extend_from_slice(&data[..want]);
        }
    }

    fn end(&mut self) {
        if let Some((path, head)) = self.open.take()
            && let Some(machine) = elf_machine(&head)
        {
            self.found.add(machine, &path);
        }
    }
}

/// A streaming reader of a layer tar that notes the ELF machine of every regular file.
pub(crate) struct ElfScanner {
    walker: TarWalker<Heads>,
}

impl ElfScanner {
    pub(crate) fn new() -> Self {
        Self {
            walker: TarWalker::new(Heads::default()),
        }
    }

    /// What was found so far.
    pub(crate) fn finish(self) -> ElfFiles {
        self.walker.visitor.found
    }

    /// Feeds the next bytes of the tar stream.
    pub(crate) fn feed(&mut self, data: &[u8]) {
        self.walker.feed(data);
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
