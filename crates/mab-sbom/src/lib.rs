//! What software an image holds, found while its layers stream to the registry (as the ELF lint
//! is): the packages of dpkg (`var/lib/dpkg/status`, `status.d/`) and apk
//! (`lib/apk/db/installed`) databases, the distribution (`etc/os-release`), and the module lists
//! Go (build information) and Rust (`cargo auditable`'s `.dep-v0`) executables carry. rpm
//! databases are noted as found but not read.
//!
//! [`LayerScanner`] is fed an uncompressed layer tar in chunks of any size and holds no file
//! whole but the databases (up to 64 MiB each); its [`LayerContents`] are what one layer holds
//! (serialisable, so a layer reused in a later run keeps its findings); [`ImageContents::merge`]
//! lays an image's layers over each other, whiteouts included.
//!
//! It must not know about registries, manifests, SPDX or printing: it reads bytes and says what
//! they hold; the SBOM document is `mab-attest`'s.

#![warn(missing_docs)]

mod apk;
mod binary;
mod contents;
mod dpkg;
mod golang;
mod rust;
mod scanner;
mod stanza;
pub mod tar;

pub use contents::{Finding, ImageContents, LayerContents, Package, RustPackage};

/// Reads one uncompressed layer tar as it streams.
pub struct LayerScanner {
    walker: tar::TarWalker<scanner::ContentsVisitor>,
}

impl Default for LayerScanner {
    fn default() -> Self {
        Self::new()
    }
}

impl LayerScanner {
    /// A scanner at the start of a layer.
    pub fn new() -> Self {
        Self {
            walker: tar::TarWalker::new(scanner::ContentsVisitor::default()),
        }
    }

    /// Feeds the next bytes of the layer.
    pub fn feed(&mut self, data: &[u8]) {
        self.walker.feed(data);
    }

    /// What the layer holds.
    pub fn finish(self) -> LayerContents {
        self.walker.visitor.contents
    }
}
