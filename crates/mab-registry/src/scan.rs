//! What a layer holds, read while it streams to its upload: the hook `archive.rs` feeds every
//! uncompressed block of a layer into. Each scanner sees the same tar bytes: the ELF machines of
//! its executables (for the platform lint, `elf.rs`) and the software it holds (for the SBOM,
//! `mab-sbom`).

use mab_sbom::{LayerContents, LayerScanner};

use crate::ElfFiles;
use crate::archive::PushedManifest;

/// What the scanners found in one layer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayerFindings {
    /// The ELF files, by machine.
    pub elf: ElfFiles,
    /// The software it holds; `None` when the layer was not read (it came compressed from the
    /// daemon, or reused from an earlier run that did not remember it).
    pub contents: Option<LayerContents>,
}

/// The scanners of one layer, fed its uncompressed tar in order.
pub(crate) struct LayerScan {
    elf: crate::elf::ElfScanner,
    contents: LayerScanner,
}

impl LayerScan {
    pub(crate) fn new() -> Self {
        Self {
            elf: crate::elf::ElfScanner::new(),
            contents: LayerScanner::new(),
        }
    }

    /// The next bytes of the layer.
    pub(crate) fn feed(&mut self, data: &[u8]) {
        self.elf.feed(data);
        self.contents.feed(data);
    }

    /// What the layer held.
    pub(crate) fn finish(self) -> LayerFindings {
        LayerFindings {
            elf: self.elf.finish(),
            contents: Some(self.contents.finish()),
        }
    }
}

impl PushedManifest {
    /// Each layer, bottom first: its diff id and what it holds (`None`: not read).
    pub fn layer_contents(&self) -> Vec<(&str, Option<&LayerContents>)> {
        self.layers
            .iter()
            .map(|layer| (layer.diff_id.as_str(), layer.findings.contents.as_ref()))
            .collect()
    }
}
