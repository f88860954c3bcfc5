//! The platform lint: executables (ELF files) in a platform's image that are built for another
//! machine — the classic "x86-64 binary copied into an arm64 image".

use mab_platform::{Platform, elf_machine_name};
use mab_registry::ElfFiles;

/// One line per foreign machine found, naming a few of the files; empty when all is well (or
/// the platform does not run ELF).
pub fn foreign_executables(platform: &Platform, files: &ElfFiles) -> Vec<String> {
    let Some(native) = platform.elf_machine() else {
        return Vec::new();
    };
    files
        .by_machine
        .iter()
        .filter(|(machine, _)| **machine != native)
        .map(|(machine, (count, samples))| {
            format!(
                "{count} executable file(s) for {} in the {platform} image (which runs {}): {}{}",
                elf_machine_name(*machine),
                elf_machine_name(native),
                samples.join(", "),
                if *count as usize > samples.len() {
                    ", …"
                } else {
                    ""
                }
            )
        })
        .collect()
}
