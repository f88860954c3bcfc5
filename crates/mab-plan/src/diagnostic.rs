//! Problems found in a plan, each tied to a line and column, and the crate's error type.

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

use crate::tree::Position;

/// One problem in a plan file, or in a `--set` of the command line: where it is, what is wrong,
/// and the line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    line: usize,
    column: usize,
    message: String,
    /// The text of line `line` of the plan file, shown under the message.
    source_line: String,
    /// `TARGET.KEY` of the `--set` the problem is in (then `line` and `column` are 0), and
    /// which `--set` of the command line it is.
    set: Option<String>,
    set_index: usize,
}

impl Diagnostic {
    pub(crate) fn new(at: Position, message: impl Into<String>, text: &str) -> Self {
        let source_line = yaml_lines(text)
            .nth(at.line.saturating_sub(1))
            .unwrap_or("")
            .to_string();
        Self {
            line: at.line,
            column: at.column,
            message: message.into(),
            source_line,
            set: None,
            set_index: 0,
        }
    }

    /// A problem with the `index`th `--set`, whose left side (`TARGET.KEY`) is `set`.
    pub(crate) fn in_override(index: usize, set: &str, message: impl Into<String>) -> Self {
        Self {
            line: 0,
            column: 0,
            message: message.into(),
            source_line: String::new(),
            set: Some(set.to_string()),
            set_index: index,
        }
    }

    /// The 1-based line of the problem (0 for a problem in a `--set`).
    pub fn line(&self) -> usize {
        self.line
    }

    /// The 1-based column (in characters) of the problem (0 for a problem in a `--set`).
    pub fn column(&self) -> usize {
        self.column
    }

    /// What is wrong, in lower case without a trailing period.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// `TARGET.KEY` of the `--set` the problem is in, when it is in one rather than in the file.
    pub fn set(&self) -> Option<&str> {
        self.set.as_deref()
    }

    /// Writes `error: FILE:LINE:COL: MESSAGE`, the offending line and a caret under the column
    /// (`error: --set TARGET.KEY: MESSAGE` for a problem in a `--set`).
    fn render(&self, file: &Path, out: &mut String) {
        if let Some(set) = &self.set {
            let _ = write!(out, "error: --set {set}: {}", self.message);
            return;
        }
        let number = self.line.to_string();
        let width = number.len().max(4);
        // Keep tabs before the column so that the caret lines up with the character.
        let indent: String = self
            .source_line
            .chars()
            .take(self.column.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let _ = write!(
            out,
            "error: {}:{}:{}: {}\n{number:>width$} | {}\n{:width$} | {indent}^",
            file.display(),
            self.line,
            self.column,
            self.message,
            self.source_line.trim_end(),
            "",
        );
    }
}

/// The lines of `text` as YAML counts them: a line ends with `\n`, `\r\n` or a lone `\r`.
pub(crate) fn yaml_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        match current.find(['\n', '\r']) {
            Some(end) => {
                let next = if current[end..].starts_with("\r\n") {
                    end + 2
                } else {
                    end + 1
                };
                rest = Some(&current[next..]);
                Some(&current[..end])
            }
            None => {
                rest = None;
                (!current.is_empty()).then_some(current)
            }
        }
    })
}

/// Everything that can go wrong in this crate.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// The plan file has one or more problems. The message lists every one of them, each with
    /// its file, line, column and the offending line.
    #[error("{}", render_report(.file, .diagnostics))]
    Invalid {
        /// The plan file, as the user named it.
        file: PathBuf,
        /// The problems, in the order they appear in the file.
        diagnostics: Vec<Diagnostic>,
    },
    /// Images or platforms asked for on the command line that the plan does not have.
    #[error("{}", render_selection(.file, .problems))]
    Selection {
        /// The plan file, as the user named it.
        file: PathBuf,
        /// One line per problem.
        problems: Vec<String>,
    },
}

impl PlanError {
    /// The located problems (empty for errors that are not about a plan file's content).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            PlanError::Invalid { diagnostics, .. } => diagnostics,
            PlanError::Selection { .. } => &[],
        }
    }
}

fn render_selection(file: &Path, problems: &[String]) -> String {
    let mut out = String::new();
    if problems.len() > 1 {
        let _ = writeln!(
            out,
            "{} problems with what was asked of plan {}",
            problems.len(),
            file.display()
        );
    }
    let lines: Vec<String> = problems.iter().map(|p| format!("error: {p}")).collect();
    out.push_str(&lines.join("\n"));
    out
}

fn render_report(file: &Path, diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    if diagnostics.len() > 1 {
        let _ = writeln!(
            out,
            "plan {} has {} errors",
            file.display(),
            diagnostics.len()
        );
    }
    for (index, diagnostic) in diagnostics.iter().enumerate() {
        if index > 0 {
            out.push_str("\n\n");
        }
        diagnostic.render(file, &mut out);
    }
    out
}

impl fmt::Display for Diagnostic {
    /// The message alone, prefixed with its line and column (`7:5: unknown key ...`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.set {
            Some(set) => write!(f, "--set {set}: {}", self.message),
            None => write!(f, "{}:{}: {}", self.line, self.column, self.message),
        }
    }
}

/// Collects diagnostics for one plan file and the `--set`s laid over it.
pub(crate) struct Diagnostics<'a> {
    text: &'a str,
    /// `TARGET.KEY` of each `--set`, by index (see [`Position::of_override`]).
    overrides: Vec<String>,
    found: Vec<Diagnostic>,
}

impl<'a> Diagnostics<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Self {
            text,
            overrides: Vec::new(),
            found: Vec::new(),
        }
    }

    /// Diagnostics for a plan whose `--set`s have these left sides (`TARGET.KEY`), in order.
    pub(crate) fn with_overrides(text: &'a str, overrides: Vec<String>) -> Self {
        Self {
            overrides,
            ..Self::new(text)
        }
    }

    /// Records a problem at `at` (in the file, or in a `--set`).
    pub(crate) fn error(&mut self, at: Position, message: impl Into<String>) {
        let diagnostic = match at.override_index() {
            Some(index) => Diagnostic::in_override(
                index,
                self.overrides.get(index).map_or("", String::as_str),
                message,
            ),
            None => Diagnostic::new(at, message, self.text),
        };
        self.found.push(diagnostic);
    }

    /// Records a problem at `at` whose line holds a secret (a password in an address): the
    /// secret is shown as `***`, in the message and in the line quoted under it.
    pub(crate) fn error_hiding(&mut self, at: Position, message: impl Into<String>, secret: &str) {
        self.error(at, message);
        let diagnostic = self.found.last_mut().expect("just recorded");
        if !secret.is_empty() {
            diagnostic.message = diagnostic.message.replace(secret, "***");
            diagnostic.source_line = diagnostic.source_line.replace(secret, "***");
        }
    }

    pub(crate) fn count(&self) -> usize {
        self.found.len()
    }

    /// The problems of the `--set`s (in their order, each once: a `--set` for every image may
    /// be wrong in each the same way), then those of the file in file order (stable for
    /// problems at the same place).
    pub(crate) fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.found.sort_by_key(|d| (d.line, d.column, d.set_index));
        let mut seen = std::collections::HashSet::new();
        self.found
            .retain(|d| d.set.is_none() || seen.insert((d.set_index, d.message.clone())));
        self.found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_caret_under_the_column() {
        let text = "version: 1\nimages:\n  - platfroms: [x]\n";
        let diagnostic = Diagnostic::new(Position { line: 3, column: 5 }, "unknown key", text);
        let error = PlanError::Invalid {
            file: PathBuf::from("dir/plan.yaml"),
            diagnostics: vec![diagnostic],
        };
        assert_eq!(
            error.to_string(),
            "error: dir/plan.yaml:3:5: unknown key\n   3 |   - platfroms: [x]\n     |     ^"
        );
    }

    #[test]
    fn lines_end_as_in_yaml() {
        let lines: Vec<&str> = yaml_lines("a\nb\r\nc\rd\r\re\n").collect();
        assert_eq!(lines, ["a", "b", "c", "d", "", "e"]);
        assert_eq!(yaml_lines("").count(), 0);
        assert_eq!(yaml_lines("x").collect::<Vec<_>>(), ["x"]);
    }

    #[test]
    fn shows_the_line_of_a_file_with_carriage_returns_only() {
        let diagnostic = Diagnostic::new(Position { line: 3, column: 2 }, "m", "a\rb\rcd\r");
        assert_eq!(diagnostic.source_line, "cd");
    }

    #[test]
    fn summarises_several_errors() {
        let text = "a\nb\n";
        let mut diagnostics = Diagnostics::new(text);
        diagnostics.error(Position { line: 2, column: 1 }, "second");
        diagnostics.error(Position { line: 1, column: 1 }, "first");
        let error = PlanError::Invalid {
            file: PathBuf::from("p.yaml"),
            diagnostics: diagnostics.into_sorted(),
        };
        let text = error.to_string();
        assert!(text.starts_with("plan p.yaml has 2 errors\nerror: p.yaml:1:1: first\n"));
        assert_eq!(error.diagnostics()[1].message(), "second");
    }
}
