//! Lines as Docker reads them: the text split into physical lines (Go's `bufio.ScanLines`, a
//! UTF-8 BOM dropped), and an instruction's lines joined across continuations (the escape
//! character at the end of a line; comment and blank lines inside a continuation skipped) into
//! one logical line that remembers, for every byte, where it was in the text.
//!
//! It must not know instructions, directives or words: the escape character is given to it.

use std::ops::Range;

/// One line of the file as written: its number, where its content starts in the text, and its
/// content without the line break (and without a trailing `\r`).
pub(super) struct PhysicalLine<'a> {
    pub(super) number: usize,
    pub(super) start: usize,
    pub(super) content: &'a str,
}

/// Splits `text` into lines the way Go's `bufio.ScanLines` does, dropping a leading UTF-8 BOM.
pub(super) fn physical_lines(text: &str) -> Vec<PhysicalLine<'_>> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut number = 0;
    while start < text.len() {
        let end = text[start..]
            .find('\n')
            .map_or(text.len(), |offset| start + offset);
        let mut content = &text[start..end];
        let mut content_start = start;
        if let Some(without_cr) = content.strip_suffix('\r') {
            content = without_cr;
        }
        if number == 0
            && let Some(without_bom) = content.strip_prefix('\u{feff}')
        {
            content = without_bom;
            content_start += '\u{feff}'.len_utf8();
        }
        number += 1;
        lines.push(PhysicalLine {
            number,
            start: content_start,
            content,
        });
        start = end + 1;
    }
    lines
}

/// An instruction with its continuation lines joined, and for every byte of it the offset of
/// that byte in the original text.
pub(super) struct LogicalLine {
    pub(super) text: String,
    origin: Vec<usize>,
    /// The 1-based number of the physical line the instruction starts on.
    pub(super) first_line: usize,
}

/// Where a piece of a logical line is in the original text.
#[derive(Debug, Clone)]
pub(super) struct SourceSpan {
    /// The byte range from the piece's first to its last byte in the original text.
    pub(super) range: Range<usize>,
    pub(super) layout: WordLayout,
}

/// Whether a word was written in one piece or broken over lines by continuations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WordLayout {
    /// The range holds exactly the word.
    Contiguous,
    /// The range also holds line continuations (and maybe comment lines) inside the word.
    SpansLines,
}

impl LogicalLine {
    fn push(&mut self, segment: &str, origin_start: usize) {
        self.text.push_str(segment);
        self.origin
            .extend(origin_start..origin_start + segment.len());
    }

    /// The original-text location of the logical byte range `range` (non-empty).
    pub(super) fn source_span(&self, range: Range<usize>) -> SourceSpan {
        let first = self.origin[range.start];
        let last = self.origin[range.end - 1];
        let layout = if last - first == range.end - 1 - range.start {
            WordLayout::Contiguous
        } else {
            WordLayout::SpansLines
        };
        SourceSpan {
            range: first..last + 1,
            layout,
        }
    }
}

/// The instruction starting on `lines[*next - 1]` (whose content, trimmed at the start, is
/// `content`, starting at byte `content_start` of the text), joined with its continuation
/// lines, which are consumed (`*next` moves past them); `None` for a blank line.
pub(super) fn logical_line(
    lines: &[PhysicalLine<'_>],
    first: &PhysicalLine<'_>,
    next: &mut usize,
    escape: char,
) -> Option<LogicalLine> {
    let content = first.content.trim_start();
    let content_start = first.start + (first.content.len() - content.len());
    let (segment, mut line_end) = trim_continuation(content, escape);
    if line_end == LineEnd::Ends && segment.is_empty() {
        return None;
    }
    let mut logical = LogicalLine {
        text: String::new(),
        origin: Vec::new(),
        first_line: first.number,
    };
    logical.push(segment, content_start);
    while line_end == LineEnd::Continues && *next < lines.len() {
        let line = &lines[*next];
        *next += 1;
        let left_trimmed = line.content.trim_start();
        if left_trimmed.starts_with('#') || left_trimmed.is_empty() {
            continue;
        }
        let (segment, end) = trim_continuation(line.content, escape);
        logical.push(segment, line.start);
        line_end = end;
    }
    Some(logical)
}

/// Removes the escape character ending `line` (it may be followed by spaces and tabs); returns
/// the rest and whether the line continues on the next one.
fn trim_continuation(line: &str, escape: char) -> (&str, LineEnd) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    match trimmed.strip_suffix(escape) {
        Some(rest) => (rest, LineEnd::Continues),
        None => (line, LineEnd::Ends),
    }
}

/// Whether a line ends its instruction or continues on the next line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineEnd {
    Ends,
    Continues,
}
