//! Docker's shell-word substitution (the `shell` package's `ProcessWord`): quotes removed, the
//! escape character escaping the next character, `$VAR`, `${VAR}`, `${VAR:-default}`,
//! `${VAR:+alt}`, `${VAR-default}`, `${VAR+alt}`, `${VAR:?message}` (and `?` without colon)
//! substituted from a map of values.
//!
//! It must not know instructions or which args are visible where: the caller gives the values.

use std::collections::HashMap;

/// Expands one word the way Docker's shell lexer (`ProcessWord`) does: quotes removed, the
/// escape character escapes the next character, `$VAR` and `${VAR...}` substituted from `args`
/// (unset variables expand to nothing). Errors are lower-case messages.
pub(super) fn expand_word(
    word: &str,
    args: &HashMap<String, String>,
    escape: char,
) -> Result<String, String> {
    let mut lexer = WordLexer {
        chars: word.chars().collect(),
        position: 0,
        args,
        escape,
    };
    lexer.until(None)
}

/// The state of [`expand_word`].
struct WordLexer<'a> {
    chars: Vec<char>,
    position: usize,
    args: &'a HashMap<String, String>,
    escape: char,
}

impl WordLexer<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.position).copied()
    }

    fn next_char(&mut self) -> Option<char> {
        let ch = self.peek()?;
        self.position += 1;
        Some(ch)
    }

    /// Reads up to (and consumes) `stop`, or to the end of the word if `stop` is `None`.
    fn until(&mut self, stop: Option<char>) -> Result<String, String> {
        let mut result = String::new();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.position += 1;
                return Ok(result);
            }
            match ch {
                '\'' => result.push_str(&self.single_quoted()?),
                '"' => result.push_str(&self.double_quoted()?),
                '$' => result.push_str(&self.dollar()?),
                _ => {
                    self.position += 1;
                    if ch == self.escape {
                        match self.next_char() {
                            Some(escaped) => result.push(escaped),
                            None => break,
                        }
                    } else {
                        result.push(ch);
                    }
                }
            }
        }
        match stop {
            Some(stop) => Err(format!(
                "unexpected end of statement while looking for matching {stop}"
            )),
            None => Ok(result),
        }
    }

    fn single_quoted(&mut self) -> Result<String, String> {
        self.position += 1;
        let mut result = String::new();
        loop {
            match self.next_char() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .to_string(),
                    );
                }
                Some('\'') => return Ok(result),
                Some(ch) => result.push(ch),
            }
        }
    }

    fn double_quoted(&mut self) -> Result<String, String> {
        self.position += 1;
        let mut result = String::new();
        while let Some(ch) = self.peek() {
            match ch {
                '"' => {
                    self.position += 1;
                    return Ok(result);
                }
                '$' => result.push_str(&self.dollar()?),
                _ => {
                    self.position += 1;
                    let mut ch = ch;
                    if ch == self.escape
                        && let Some(next) = self.peek()
                        && (next == '"' || next == '$' || next == self.escape)
                    {
                        ch = next;
                        self.position += 1;
                    }
                    result.push(ch);
                }
            }
        }
        Err("unexpected end of statement while looking for matching double-quote".to_string())
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        if let Some(first) = self.peek() {
            if first.is_ascii_digit() {
                while let Some(digit) = self.peek().filter(char::is_ascii_digit) {
                    name.push(digit);
                    self.position += 1;
                }
                return name;
            }
            if matches!(first, '@' | '*' | '#' | '?' | '-' | '$' | '!') {
                self.position += 1;
                name.push(first);
                return name;
            }
        }
        while let Some(ch) = self.peek().filter(|ch| ch.is_alphanumeric() || *ch == '_') {
            name.push(ch);
            self.position += 1;
        }
        name
    }

    fn dollar(&mut self) -> Result<String, String> {
        self.position += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok(self.args.get(&name).cloned().unwrap_or_default());
        }
        self.position += 1;
        match self.peek() {
            None => return Err("syntax error: missing '}'".to_string()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".to_string()),
            Some(_) => {}
        }
        let name = self.name();
        let value = self.args.get(&name);
        match self.next_char() {
            None => Err("syntax error: missing '}'".to_string()),
            Some('}') => Ok(value.cloned().unwrap_or_default()),
            Some(':') => {
                let modifier = self.next_char();
                let word = self.substitution_word()?;
                let value = value.map(String::as_str).unwrap_or_default();
                match modifier {
                    Some('-') => Ok(if value.is_empty() {
                        word
                    } else {
                        value.to_string()
                    }),
                    Some('+') => Ok(if value.is_empty() {
                        String::new()
                    } else {
                        word
                    }),
                    Some('?') if value.is_empty() => Err(unset_message(&name, &word)),
                    Some('?') => Ok(value.to_string()),
                    Some(other) => Err(format!("unsupported modifier ({other}) in substitution")),
                    None => Err("syntax error: missing '}'".to_string()),
                }
            }
            Some('-') => {
                let word = self.substitution_word()?;
                Ok(value.cloned().unwrap_or(word))
            }
            Some('+') => {
                let word = self.substitution_word()?;
                Ok(if value.is_some() { word } else { String::new() })
            }
            Some('?') => {
                let word = self.substitution_word()?;
                value.cloned().ok_or_else(|| unset_message(&name, &word))
            }
            Some(other) => Err(format!("unsupported modifier ({other}) in substitution")),
        }
    }

    /// The word of `${VAR<modifier>word}`, itself expanded, up to the closing brace.
    fn substitution_word(&mut self) -> Result<String, String> {
        self.until(Some('}')).map_err(|message| {
            if self.peek().is_none() {
                "syntax error: missing '}'".to_string()
            } else {
                message
            }
        })
    }
}

fn unset_message(name: &str, word: &str) -> String {
    if word.is_empty() {
        format!("{name}: is not allowed to be unset")
    } else {
        format!("{name}: {word}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expand_word_rules() {
        let env: HashMap<String, String> = [
            ("A".to_string(), "x".to_string()),
            ("E".to_string(), String::new()),
        ]
        .into();
        let expand = |word: &str| expand_word(word, &env, '\\');
        assert_eq!(expand("$A-${A}").as_deref(), Ok("x-x"));
        assert_eq!(expand("'$A'").as_deref(), Ok("$A"));
        assert_eq!(expand("\"$A\\$A\"").as_deref(), Ok("x$A"));
        assert_eq!(expand("\\$A").as_deref(), Ok("$A"));
        assert_eq!(expand("${E:-d}${A:-d}").as_deref(), Ok("dx"));
        assert_eq!(expand("${E:+a}${A:+a}").as_deref(), Ok("a"));
        assert_eq!(expand("${U:-${A}y}").as_deref(), Ok("xy"));
        assert_eq!(expand("$").as_deref(), Ok("$"));
        assert_eq!(expand("a$/b").as_deref(), Ok("a$/b"));
        assert!(expand("'open").is_err());
        assert!(expand("\"open").is_err());
    }
}
