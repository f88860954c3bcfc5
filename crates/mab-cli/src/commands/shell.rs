//! `mab completions SHELL` (clap_complete) and `mab manpages DIR` (clap_mangen): generated from
//! the command line's own definition, so they cannot drift from it.

use std::path::Path;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::exit::{SUCCESS, UsageError};

/// Prints the completion script for `shell` on stdout.
pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<u8> {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "mab", &mut std::io::stdout());
    Ok(SUCCESS)
}

/// Writes `mab.1` and one page per subcommand (`mab-build.1`, `mab-manifest-push.1`, ...) into
/// `dir`, creating it; prints each file written.
pub fn manpages(dir: &Path) -> anyhow::Result<u8> {
    std::fs::create_dir_all(dir)
        .map_err(|e| UsageError(format!("cannot create {}: {e}", dir.display())))?;
    clap_mangen::generate_to(Cli::command(), dir).map_err(|e| {
        UsageError(format!(
            "cannot write man pages into {}: {e}",
            dir.display()
        ))
    })?;
    for page in pages(dir) {
        println!("{}", page.display());
    }
    Ok(SUCCESS)
}

/// The `mab*.1` files in `dir`, sorted.
fn pages(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            path.extension().is_some_and(|e| e == "1")
                && path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("mab"))
        })
        .collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(shell: clap_complete::Shell) -> String {
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "mab", &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_shell_gets_a_script_that_knows_the_flags() {
        use clap_complete::Shell::*;
        for (shell, marker) in [
            (Bash, "complete -F _mab"),
            (Zsh, "#compdef mab"),
            (Fish, "complete -c mab"),
            (PowerShell, "Register-ArgumentCompleter"),
            (Elvish, "edit:completion:arg-completer[mab]"),
        ] {
            let text = script(shell);
            assert!(text.contains(marker), "{shell}: no {marker:?}");
            for flag in ["metadata-file", "no-push", "load", "progress", "platform"] {
                assert!(text.contains(flag), "{shell}: no {flag}");
            }
        }
    }

    #[test]
    fn man_pages_cover_every_command() {
        let dir = tempfile::tempdir().unwrap();
        let pages: Vec<String> = {
            clap_mangen::generate_to(Cli::command(), dir.path()).unwrap();
            pages(dir.path())
                .iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect()
        };
        for page in [
            "mab.1",
            "mab-build.1",
            "mab-manifest-push.1",
            "mab-completions.1",
        ] {
            assert!(pages.iter().any(|p| p == page), "{page} not in {pages:?}");
        }
        let build = std::fs::read_to_string(dir.path().join("mab-build.1")).unwrap();
        assert!(build.starts_with(".ie"), "{build}");
        assert!(build.contains(".TH mab-build 1"), "{build}");
        assert!(build.contains("metadata\\-file"), "{build}");
    }
}
