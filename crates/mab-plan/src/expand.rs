//! Environment variable expansion in plan values: `${NAME}`, `${NAME:-default}` and `$$`.
//!
//! - `${NAME}` is the variable's value (empty if it is set to the empty string).
//! - `${NAME:-default}` is the default when the variable is unset or empty; the default may
//!   itself use `${...}` and `$$`, and ends at the first `}` that closes the expansion.
//! - `$$` is a literal `$`. Any other `$` is an error, so that `$HOME` (shell style, not
//!   supported) or a stray `$` is never silently kept as text.
//! - A variable name is `[A-Za-z_][A-Za-z0-9_]*`.
//!
//! A lookup answers `Ok(Some(value))`, `Ok(None)` (unset) or `Err(reason)`: the variable is
//! computed (`GIT_SHA`, `GIT_TAG`) and could not be; a default is used then, as for an unset
//! variable, and without one the reason is the error.

/// Looks a variable up: its value, `None` when unset, or why it could not be computed.
pub(crate) type Lookup<'a> = dyn Fn(&str) -> Result<Option<String>, String> + 'a;

/// A problem found while expanding one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExpandError {
    /// The index (in characters) in the value where the problem starts.
    pub(crate) offset: usize,
    pub(crate) message: String,
}

/// One piece of a parsed value.
#[derive(Debug)]
enum Piece {
    Literal(String),
    Variable {
        name: String,
        /// The index (in characters) of the `$` that starts the expansion.
        offset: usize,
        default: Option<Vec<Piece>>,
    },
}

/// Expands `input`, looking variables up with `lookup`. Reports every unset variable, or the
/// first syntax error.
pub(crate) fn expand(input: &str, lookup: &Lookup<'_>) -> Result<String, Vec<ExpandError>> {
    let chars: Vec<char> = input.chars().collect();
    let mut parser = Parser {
        chars: &chars,
        position: 0,
    };
    let pieces = parser.pieces(false).map_err(|error| vec![error])?;
    let mut errors = Vec::new();
    let mut out = String::with_capacity(input.len());
    evaluate(&pieces, lookup, &mut out, &mut errors);
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn evaluate(
    pieces: &[Piece],
    lookup: &Lookup<'_>,
    out: &mut String,
    errors: &mut Vec<ExpandError>,
) {
    for piece in pieces {
        match piece {
            Piece::Literal(text) => out.push_str(text),
            Piece::Variable {
                name,
                offset,
                default,
            } => match (lookup(name), default) {
                (Ok(Some(value)), None) => out.push_str(&value),
                (Ok(Some(value)), Some(_)) if !value.is_empty() => out.push_str(&value),
                (_, Some(default)) => evaluate(default, lookup, out, errors),
                (Ok(None), None) => errors.push(ExpandError {
                    offset: *offset,
                    message: format!(
                        "environment variable `{name}` is not set \
                         (set it, or give a default with `${{{name}:-default}}`)"
                    ),
                }),
                (Err(reason), None) => errors.push(ExpandError {
                    offset: *offset,
                    message: format!(
                        "`${{{name}}}` is not available: {reason} \
                         (set {name} in the environment, or give a default with `${{{name}:-default}}`)"
                    ),
                }),
            },
        }
    }
}

struct Parser<'a> {
    chars: &'a [char],
    position: usize,
}

impl Parser<'_> {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.position + ahead).copied()
    }

    /// Parses text up to the end, or (in a default) up to the `}` that closes the expansion.
    fn pieces(&mut self, in_default: bool) -> Result<Vec<Piece>, ExpandError> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        while let Some(c) = self.peek(0) {
            match c {
                '}' if in_default => break,
                '$' => match self.peek(1) {
                    Some('$') => {
                        literal.push('$');
                        self.position += 2;
                    }
                    Some('{') => {
                        if !literal.is_empty() {
                            pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                        }
                        pieces.push(self.variable()?);
                    }
                    _ => {
                        return Err(ExpandError {
                            offset: self.position,
                            message: "a `$` must start `${NAME}` or `${NAME:-default}`; \
                                      write `$$` for a literal `$`"
                                .to_string(),
                        });
                    }
                },
                other => {
                    literal.push(other);
                    self.position += 1;
                }
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        Ok(pieces)
    }

    /// Parses `${NAME}` or `${NAME:-default}`, starting at the `$`.
    fn variable(&mut self) -> Result<Piece, ExpandError> {
        let offset = self.position;
        self.position += 2;
        let name_start = self.position;
        while let Some(c) = self.peek(0) {
            let valid = c == '_'
                || c.is_ascii_alphabetic()
                || (c.is_ascii_digit() && self.position > name_start);
            if !valid {
                break;
            }
            self.position += 1;
        }
        let name: String = self.chars[name_start..self.position].iter().collect();
        let error = |message: String| ExpandError { offset, message };
        match (self.peek(0), self.peek(1)) {
            (Some('}'), _) if !name.is_empty() => {
                self.position += 1;
                Ok(Piece::Variable {
                    name,
                    offset,
                    default: None,
                })
            }
            (Some(':'), Some('-')) if !name.is_empty() => {
                self.position += 2;
                let default = self.pieces(true)?;
                if self.peek(0) != Some('}') {
                    return Err(error(format!("`${{{name}:-` is not closed with `}}`")));
                }
                self.position += 1;
                Ok(Piece::Variable {
                    name,
                    offset,
                    default: Some(default),
                })
            }
            (None, _) => Err(error(if name.is_empty() {
                "`${` is not closed with `}`".to_string()
            } else {
                format!("`${{{name}` is not closed with `}}`")
            })),
            _ if name.is_empty() => Err(error(
                "`${` must be followed by a variable name \
                 (letters, digits and `_`, not starting with a digit)"
                    .to_string(),
            )),
            (Some(':' | '-' | '?' | '+' | '='), _) => Err(error(format!(
                "unsupported expansion after `${{{name}`; \
                 use `${{{name}}}` or `${{{name}:-default}}`"
            ))),
            _ => Err(error(format!(
                "`${{{name}` is not closed: a `}}` must follow the variable name"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Result<Option<String>, String> {
        Ok(match name {
            "HOST" => Some("127.0.0.1:5000".to_string()),
            "EMPTY" => Some(String::new()),
            "V_2" => Some("2".to_string()),
            "GIT_TAG" => return Err("no tag points at HEAD".to_string()),
            _ => None,
        })
    }

    fn ok(input: &str) -> String {
        expand(input, &env).unwrap_or_else(|e| panic!("{input}: {e:?}"))
    }

    fn err(input: &str) -> Vec<ExpandError> {
        expand(input, &env).expect_err(input)
    }

    #[test]
    fn expands_variables_and_defaults() {
        assert_eq!(ok("plain"), "plain");
        assert_eq!(ok(""), "");
        assert_eq!(ok("${HOST}/demo/app"), "127.0.0.1:5000/demo/app");
        assert_eq!(ok("v${V_2}.${V_2}"), "v2.2");
        assert_eq!(ok("${MISSING:-latest}"), "latest");
        assert_eq!(ok("${EMPTY:-fallback}"), "fallback");
        assert_eq!(ok("[${EMPTY}]"), "[]");
        assert_eq!(ok("${HOST:-unused}"), "127.0.0.1:5000");
        assert_eq!(ok("${MISSING:-}"), "");
        assert_eq!(ok("${MISSING:-${V_2}}"), "2");
        assert_eq!(ok("${MISSING:-a${OTHER:-b}c}"), "abc");
        assert_eq!(ok("{}"), "{}");
    }

    #[test]
    fn a_computed_variable_that_fails_uses_its_default_or_says_why() {
        assert_eq!(ok("${GIT_TAG:-dev}"), "dev");
        let errors = err("v-${GIT_TAG}");
        assert_eq!(errors[0].offset, 2);
        assert!(
            errors[0]
                .message
                .starts_with("`${GIT_TAG}` is not available: no tag points at HEAD"),
            "{errors:?}"
        );
    }

    #[test]
    fn a_double_dollar_is_a_literal_dollar() {
        assert_eq!(ok("$$"), "$");
        assert_eq!(ok("a$$b$${HOST}"), "a$b${HOST}");
        assert_eq!(ok("${MISSING:-$$}"), "$");
    }

    #[test]
    fn reports_every_unset_variable_where_it_starts() {
        let errors = err("${A}-${HOST}-${B}");
        let offsets: Vec<_> = errors.iter().map(|e| e.offset).collect();
        assert_eq!(offsets, [0, 13]);
        assert!(errors[0].message.contains("`A` is not set"), "{errors:?}");
        assert!(errors[0].message.contains("${A:-default}"), "{errors:?}");
        // Only the default that is used is evaluated.
        assert!(expand("${HOST:-${UNSET}}", &env).is_ok());
        assert_eq!(err("${UNSET:-${ALSO_UNSET}}")[0].offset, 9);
    }

    #[test]
    fn rejects_bad_syntax() {
        let cases = [
            ("$HOME", 0, "write `$$` for a literal `$`"),
            ("a$", 1, "write `$$`"),
            ("${", 0, "`${` is not closed"),
            ("${HOST", 0, "`${HOST` is not closed"),
            ("${HOST:-x", 0, "`${HOST:-` is not closed"),
            ("${}", 0, "must be followed by a variable name"),
            ("x${1A}", 1, "must be followed by a variable name"),
            ("${HOST-x}", 0, "unsupported expansion after `${HOST`"),
            ("${HOST:?x}", 0, "unsupported expansion"),
            (
                "${A B}",
                0,
                "`${A` is not closed: a `}` must follow the variable name",
            ),
            ("${HOST/app", 0, "`${HOST` is not closed"),
        ];
        for (input, offset, message) in cases {
            let errors = err(input);
            assert_eq!(errors.len(), 1, "{input}");
            assert_eq!(errors[0].offset, offset, "{input}");
            assert!(
                errors[0].message.contains(message),
                "{input}: {}",
                errors[0].message
            );
        }
    }
}
