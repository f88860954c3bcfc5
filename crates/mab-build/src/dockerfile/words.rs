//! Splitting an instruction's arguments into words as Docker does: the leading `--flag=value`
//! words (`extractBuilderFlags`), words at whitespace outside quotes with the quotes kept
//! (`parseWords`, for `ARG a=b c=d`), and plain whitespace-separated words (`FROM`).
//!
//! It must not know what a flag or word means, nor substitute variables (`expand.rs`).

use std::ops::Range;

/// Docker's whitespace between an instruction's words (`[\t\v\f\r ]`).
pub(super) fn is_word_separator(ch: char) -> bool {
    matches!(ch, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ')
}

/// The byte ranges of the words of `text` separated by [`is_word_separator`] characters.
pub(super) fn separated_words(text: &str) -> Vec<Range<usize>> {
    let mut words = Vec::new();
    let mut start = None;
    for (index, ch) in text.char_indices() {
        match (is_word_separator(ch), start) {
            (true, Some(word_start)) => {
                words.push(word_start..index);
                start = None;
            }
            (false, None) => start = Some(index),
            _ => {}
        }
    }
    if let Some(word_start) = start {
        words.push(word_start..text.len());
    }
    words
}

/// Splits the leading `--flag[=value]` words off an instruction's arguments, as Docker's
/// `extractBuilderFlags` does (quotes removed, `\` escapes the next character). Returns the
/// flags and the byte offset in `line` where the remaining arguments start.
pub(super) fn builder_flags(line: &str) -> (Vec<String>, usize) {
    let mut scanner = WordScanner::new(line, Quoting::Removed);
    let mut flags = Vec::new();
    loop {
        let Some(offset) = scanner.skip_spaces() else {
            return (flags, line.len());
        };
        if !scanner.at_flag() {
            return (flags, offset);
        }
        let word = scanner.word();
        if word.text == "--" {
            return (flags, scanner.offset());
        }
        flags.push(word.text);
    }
}

/// Splits arguments into words at whitespace outside quotes, keeping quotes and escapes in the
/// words (Docker's `parseWords`, used for `ARG name=value ...`).
pub(super) fn shell_words(text: &str, escape: char) -> Vec<String> {
    let mut scanner = WordScanner::new(text, Quoting::Kept { escape });
    let mut words = Vec::new();
    while scanner.skip_spaces().is_some() {
        let word = scanner.word();
        if word.quoted || !word.text.is_empty() {
            words.push(word.text);
        }
    }
    words
}

/// What becomes of a word's quotes and escapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quoting {
    /// Removed, as in flags: `\` escapes the next character, also inside single quotes.
    Removed,
    /// Kept in the word, as `parseWords` does: `escape` escapes the next character, except
    /// inside single quotes.
    Kept { escape: char },
}

/// One word as [`WordScanner::word`] read it.
struct ScannedWord {
    text: String,
    /// Whether the word had quotes (so `""` is a word, though empty once they are removed).
    quoted: bool,
}

/// Reads whitespace-separated words, where quotes group whitespace into a word.
struct WordScanner {
    chars: Vec<(usize, char)>,
    length: usize,
    index: usize,
    quoting: Quoting,
}

impl WordScanner {
    fn new(text: &str, quoting: Quoting) -> Self {
        WordScanner {
            chars: text.char_indices().collect(),
            length: text.len(),
            index: 0,
            quoting,
        }
    }

    /// The byte offset of the next character (the text's length at its end).
    fn offset(&self) -> usize {
        self.chars
            .get(self.index)
            .map_or(self.length, |&(offset, _)| offset)
    }

    fn char_at(&self, index: usize) -> Option<char> {
        self.chars.get(index).map(|&(_, ch)| ch)
    }

    /// Skips whitespace; the byte offset of the next word, `None` at the end.
    fn skip_spaces(&mut self) -> Option<usize> {
        while self.char_at(self.index)?.is_whitespace() {
            self.index += 1;
        }
        Some(self.offset())
    }

    /// Whether the next word starts with `--`.
    fn at_flag(&self) -> bool {
        self.char_at(self.index) == Some('-') && self.char_at(self.index + 1) == Some('-')
    }

    /// Reads a word, up to the whitespace after it (not consumed) or the end.
    fn word(&mut self) -> ScannedWord {
        let (escape, keep) = match self.quoting {
            Quoting::Removed => ('\\', false),
            Quoting::Kept { escape } => (escape, true),
        };
        let mut word = ScannedWord {
            text: String::new(),
            quoted: false,
        };
        let mut quote: Option<char> = None;
        while let Some(ch) = self.char_at(self.index) {
            self.index += 1;
            match quote {
                None if ch.is_whitespace() => {
                    self.index -= 1;
                    break;
                }
                None if ch == '\'' || ch == '"' => {
                    quote = Some(ch);
                    word.quoted = true;
                    if keep {
                        word.text.push(ch);
                    }
                }
                Some(open) if ch == open => {
                    quote = None;
                    if keep {
                        word.text.push(ch);
                    }
                }
                _ if ch == escape && (!keep || quote != Some('\'')) => {
                    match self.char_at(self.index) {
                        Some(escaped) => {
                            self.index += 1;
                            if keep {
                                word.text.push(ch);
                            }
                            word.text.push(escaped);
                        }
                        // A trailing escape is dropped (and ends a quote).
                        None => quote = None,
                    }
                }
                _ => word.text.push(ch),
            }
        }
        word
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_flags_rules() {
        assert_eq!(
            builder_flags("--platform=linux/amd64 alpine AS x"),
            (vec!["--platform=linux/amd64".to_string()], 23)
        );
        assert_eq!(
            builder_flags("  --platform=\"a b\"  img"),
            (vec!["--platform=a b".to_string()], 20)
        );
        assert_eq!(builder_flags("alpine"), (Vec::new(), 0));
        assert_eq!(builder_flags("-x alpine"), (Vec::new(), 0));
        assert_eq!(
            builder_flags("--a --b"),
            (vec!["--a".to_string(), "--b".to_string()], 7)
        );
    }

    #[test]
    fn shell_words_rules() {
        assert_eq!(
            shell_words("A=1 B=\"x y\"  C='p q' D", '\\'),
            vec!["A=1", "B=\"x y\"", "C='p q'", "D"]
        );
        assert_eq!(shell_words("A=a\\ b", '\\'), vec!["A=a\\ b"]);
    }
}
