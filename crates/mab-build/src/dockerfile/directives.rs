//! Parser directives: the `# key=value` lines at the very top of a Dockerfile (`# syntax=`,
//! `# escape=`, `# check=`), read as Docker's parser does. The first line that is not a known
//! directive (a plain comment, an unknown key, an instruction) ends them; each may appear once.
//!
//! It must not know instructions or continuations: it sees one line at a time.

/// The parser directives Docker knows; any other `# key=value` line ends the directives.
const KNOWN_DIRECTIVES: [&str; 3] = ["syntax", "escape", "check"];

/// The state of parser-directive reading: directives are only read at the top of the file.
pub(super) struct Directives {
    done: bool,
    seen: Vec<String>,
    escape: char,
}

impl Directives {
    pub(super) fn new() -> Self {
        Directives {
            done: false,
            seen: Vec::new(),
            escape: '\\',
        }
    }

    /// Whether the directives have ended (later `# key=value` lines are comments).
    pub(super) fn done(&self) -> bool {
        self.done
    }

    /// The escape character (`\` unless `# escape=` said otherwise).
    pub(super) fn escape(&self) -> char {
        self.escape
    }

    /// Reads `line` (trimmed at its start) as a directive if directives are still being read;
    /// an error is a lower-case message for that line.
    pub(super) fn read(&mut self, line: &str) -> Result<(), String> {
        if self.done {
            return Ok(());
        }
        let Some((key, value)) = parse_directive(line) else {
            self.done = true;
            return Ok(());
        };
        if !KNOWN_DIRECTIVES.contains(&key.as_str()) {
            self.done = true;
            return Ok(());
        }
        if self.seen.contains(&key) {
            return Err(format!("only one {key} parser directive can be used"));
        }
        if key == "escape" {
            self.escape = match value {
                "\\" => '\\',
                "`" => '`',
                other => {
                    return Err(format!(
                        "invalid escape token '{other}' does not match ` or \\"
                    ));
                }
            };
        }
        self.seen.push(key);
        Ok(())
    }
}

/// A `# key=value` directive line: its lower-cased key and value.
fn parse_directive(line: &str) -> Option<(String, &str)> {
    let rest = line.strip_prefix('#')?;
    let rest = rest.trim_start_matches(is_regex_space);
    let key_len = rest
        .char_indices()
        .find(|&(index, ch)| !(ch.is_ascii_alphabetic() || (index > 0 && ch.is_ascii_digit())))
        .map_or(rest.len(), |(index, _)| index);
    if key_len == 0 {
        return None;
    }
    let key = rest[..key_len].to_ascii_lowercase();
    let rest = rest[key_len..].trim_start_matches(is_regex_space);
    let value = rest.strip_prefix('=')?;
    let value = value.trim_matches(is_regex_space);
    if value.is_empty() {
        return None;
    }
    Some((key, value))
}

/// Go regexp's `\s`.
fn is_regex_space(ch: char) -> bool {
    matches!(ch, '\t' | '\n' | '\u{c}' | '\r' | ' ')
}
