//! Shell integration: `mab completions SHELL` gives a script the shell runs (bash completes
//! subcommands and flags with it) and `mab manpages DIR` gives pages `man` renders.

use std::process::Command;
use std::time::Duration;

use mab_tests::*;

/// What bash's completion offers for the command line `words` (the last one being completed),
/// with the script `mab completions bash` printed loaded.
fn bash_completes(words: &[&str]) -> Vec<String> {
    let script = tempfile::NamedTempFile::new().unwrap();
    let out = mab().args(["completions", "bash"]).run();
    out.assert_success();
    std::fs::write(script.path(), &out.stdout).unwrap();
    let line = words.join(" ");
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source {script}\n\
         COMP_WORDS=({quoted})\n\
         COMP_CWORD={cword}\n\
         COMP_LINE='{line}'\n\
         COMP_POINT=${{#COMP_LINE}}\n\
         _mab mab \"${{COMP_WORDS[$COMP_CWORD]}}\" \"${{COMP_WORDS[$COMP_CWORD-1]}}\"\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script = script.path().display(),
        cword = words.len() - 1,
        quoted = quoted.join(" "),
    );
    let mut cmd = Command::new("bash");
    cmd.args(["--norc", "-c", &program]);
    let out = run_command(cmd, Duration::from_secs(60));
    out.assert_success();
    out.stdout.lines().map(str::to_string).collect()
}

#[test]
fn bash_completes_subcommands_and_flags() {
    assert_eq!(bash_completes(&["mab", "bu"]), ["build", "builders"]);
    let flags = bash_completes(&["mab", "build", "--meta"]);
    assert_eq!(flags, ["--metadata-file"]);
    let modes = bash_completes(&["mab", "build", "--progress", ""]);
    assert_eq!(modes, ["auto", "tty", "plain", "quiet"]);
}

#[test]
fn every_shell_has_a_script() {
    for (shell, marker) in [
        ("bash", "complete -F _mab"),
        ("zsh", "#compdef mab"),
        ("fish", "complete -c mab"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "edit:completion:arg-completer[mab]"),
    ] {
        let out = mab().args(["completions", shell]).run();
        out.assert_success();
        assert!(out.stdout.contains(marker), "{shell}\n{out}");
        assert!(out.stdout.contains("no-push"), "{shell}");
    }
    let out = mab().args(["completions", "tcsh"]).run();
    out.assert_code(2)
        .assert_stderr_contains(&["invalid value 'tcsh'"]);
}

#[test]
fn man_renders_the_pages() {
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("man1");
    let out = mab().arg("manpages").arg(&pages).run();
    out.assert_success();
    for page in [
        "mab.1",
        "mab-build.1",
        "mab-manifest-create.1",
        "mab-completions.1",
    ] {
        assert!(
            out.stdout.lines().any(|l| l.ends_with(&format!("/{page}"))),
            "{page} not listed\n{out}"
        );
    }
    let mut cmd = Command::new("man");
    cmd.arg("-l")
        .arg(pages.join("mab-build.1"))
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100");
    let man = run_command(cmd, Duration::from_secs(60));
    man.assert_success();
    for text in [
        "mab-build",
        "--metadata-file",
        "--no-push",
        "--platform",
        "IMAGE",
    ] {
        assert!(man.stdout.contains(text), "{text} not in the page\n{man}");
    }
    // A folder that cannot be made is a usage error.
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    mab()
        .arg("manpages")
        .arg(file.join("man1"))
        .run()
        .assert_code(2)
        .assert_error_line();
}
