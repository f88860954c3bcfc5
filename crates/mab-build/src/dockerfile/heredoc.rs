//! Heredocs (`RUN <<EOF`, `COPY <<-"END" /file`, `3<<EOF`): the markers an instruction line
//! starts, and the body lines after the instruction, which belong to it and are never read as
//! instructions (a body line starting with `FROM` is not a stage).
//!
//! It must not know which instructions take heredocs or what a body means.

use std::collections::HashMap;

use super::expand::expand_word;
use super::lines::PhysicalLine;
use super::words::shell_words;

/// Whether a heredoc's terminator line may be indented with tabs (`<<-EOF`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HeredocChomp {
    None,
    LeadingTabs,
}

/// A heredoc started on an instruction line: `<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Heredoc {
    pub(super) terminator: String,
    pub(super) chomp: HeredocChomp,
}

/// The heredocs an instruction's arguments start, in order.
pub(super) fn heredocs(arguments: &str) -> Vec<Heredoc> {
    shell_words(arguments, '\\')
        .iter()
        .filter_map(|word| {
            let after_fd = word.trim_start_matches(|ch: char| ch.is_ascii_digit());
            let marker = after_fd.strip_prefix("<<")?;
            let (chomp, name) = match marker.strip_prefix('-') {
                Some(name) => (HeredocChomp::LeadingTabs, name),
                None => (HeredocChomp::None, marker),
            };
            if name.contains('<') {
                return None;
            }
            let terminator = expand_word(name, &HashMap::new(), '\\').ok()?;
            (!terminator.is_empty()).then_some(Heredoc { terminator, chomp })
        })
        .collect()
}

/// Skips the body of `heredoc`, from `lines[next]` up to and including its terminator line;
/// returns the index of the line after it, or `None` when the text ends first.
pub(super) fn skip_body(
    heredoc: &Heredoc,
    lines: &[PhysicalLine<'_>],
    mut next: usize,
) -> Option<usize> {
    while next < lines.len() {
        let content = lines[next].content;
        next += 1;
        let candidate = match heredoc.chomp {
            HeredocChomp::LeadingTabs => content.trim_start_matches('\t'),
            HeredocChomp::None => content,
        };
        if candidate == heredoc.terminator {
            return Some(next);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heredoc_markers() {
        assert_eq!(
            heredocs("<<EOF cat"),
            vec![Heredoc {
                terminator: "EOF".to_string(),
                chomp: HeredocChomp::None
            }]
        );
        assert_eq!(
            heredocs("3<<-'X' <<Y"),
            vec![
                Heredoc {
                    terminator: "X".to_string(),
                    chomp: HeredocChomp::LeadingTabs
                },
                Heredoc {
                    terminator: "Y".to_string(),
                    chomp: HeredocChomp::None
                }
            ]
        );
        assert!(heredocs("echo a<<b").is_empty());
        assert!(heredocs("cat <<< word").is_empty());
    }
}
