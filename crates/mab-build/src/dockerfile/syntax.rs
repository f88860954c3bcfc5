//! The `# syntax=` parser directive: which Dockerfile frontend BuildKit should run. With one,
//! the daemon's BuildKit pulls that frontend image and lets it read the Dockerfile (the
//! classic builder ignores the line); without, the frontend built into the engine reads it.
//!
//! It must not know how or whether the image is pulled: it only says what the line names.

/// The repository of Docker's own Dockerfile frontend, as `# syntax=` lines name it.
const STANDARD_FRONTEND: &str = "docker/dockerfile";

/// The `# syntax=` directive of a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syntax {
    reference: String,
    line: usize,
}

impl Syntax {
    pub(super) fn new(reference: &str, line: usize) -> Self {
        Syntax {
            reference: reference.to_string(),
            line,
        }
    }

    /// The frontend image reference, as written (e.g. `docker/dockerfile:1.4`).
    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// The 1-based line of the directive.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The tag the line asks of Docker's own Dockerfile frontend, when it names that frontend
    /// (`docker/dockerfile`, also as `docker.io/docker/dockerfile` or
    /// `index.docker.io/docker/dockerfile`; an absent tag is `latest`; a digest is ignored):
    /// `1`, `1.4`, `1.4.3`, `1-labs`, `latest`, ... `None` for any other frontend.
    pub fn standard_frontend_tag(&self) -> Option<&str> {
        let without_digest = self.reference.split('@').next().unwrap_or_default();
        let (repository, tag) = match without_digest.rsplit_once(':') {
            Some((repository, tag)) if !tag.contains('/') => (repository, tag),
            _ => (without_digest, "latest"),
        };
        let repository = repository
            .strip_prefix("docker.io/")
            .or_else(|| repository.strip_prefix("index.docker.io/"))
            .unwrap_or(repository);
        (repository == STANDARD_FRONTEND).then_some(tag)
    }

    /// Whether the frontend built into the engine's BuildKit may stand in for the named one
    /// when it cannot be pulled: the line names Docker's own frontend on its stable channel
    /// (`docker/dockerfile:1`, `:1.4`, `:1.4.3`, `:latest`, untagged), whose language the
    /// built-in frontend also reads (the features of a later version than the built-in are
    /// found by [`Dockerfile::unsupported`](super::Dockerfile::unsupported)). Not for the labs
    /// channel (`1-labs`, `labs`) or any other frontend.
    pub fn builtin_may_stand_in(&self) -> bool {
        self.standard_frontend_tag().is_some_and(|tag| {
            tag == "latest"
                || (tag.starts_with("1")
                    && tag
                        .split('.')
                        .all(|part| !part.is_empty() && part.chars().all(|ch| ch.is_ascii_digit())))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_frontend() {
        // (reference, the standard frontend's tag, whether the built-in may stand in)
        let cases: &[(&str, Option<&str>, bool)] = &[
            ("docker/dockerfile:1", Some("1"), true),
            ("docker/dockerfile:1.4", Some("1.4"), true),
            ("docker/dockerfile:1.4.3", Some("1.4.3"), true),
            ("docker.io/docker/dockerfile:1.7", Some("1.7"), true),
            ("index.docker.io/docker/dockerfile", Some("latest"), true),
            (
                "docker/dockerfile:1@sha256:ac85f380a63b13dfcefa89046420e1781752bab202122f8f50032edf31be0021",
                Some("1"),
                true,
            ),
            ("docker/dockerfile:1-labs", Some("1-labs"), false),
            ("docker/dockerfile:labs", Some("labs"), false),
            ("docker/dockerfile:1.", Some("1."), false),
            ("docker/dockerfile-upstream:master", None, false),
            ("127.0.0.1:5000/docker/dockerfile:1", None, false),
            ("tonistiigi/dockerfile:runmount20180618", None, false),
        ];
        for &(reference, tag, stands_in) in cases {
            let syntax = Syntax::new(reference, 1);
            assert_eq!(syntax.standard_frontend_tag(), tag, "{reference}");
            assert_eq!(syntax.builtin_may_stand_in(), stands_in, "{reference}");
        }
    }
}

/// `text` without its `# syntax=` directive on line `line` (1-based), so that the engine's
/// built-in frontend reads it: the other directives keep their place at the top and a plain `#`
/// line follows them, so every later line keeps its number.
pub(crate) fn without_syntax_directive(text: &str, line: usize) -> String {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let directives = lines.iter().take_while(|l| is_directive_line(l)).count();
    if line == 0 || line > directives {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    for (index, piece) in lines.iter().enumerate() {
        if index + 1 != line {
            out.push_str(piece);
        }
        if index + 1 == directives {
            out.push_str("#\n");
        }
    }
    out
}

/// Whether a line is a parser directive (`# key=value` with a key Docker knows).
fn is_directive_line(line: &str) -> bool {
    let Some(rest) = line.trim().strip_prefix('#') else {
        return false;
    };
    let Some((key, _)) = rest.split_once('=') else {
        return false;
    };
    matches!(
        key.trim().to_ascii_lowercase().as_str(),
        "syntax" | "escape" | "check"
    )
}

#[cfg(test)]
mod rewrite_tests {
    use super::without_syntax_directive;

    #[test]
    fn the_syntax_line_goes_and_every_other_line_keeps_its_number() {
        let text = "# syntax=docker/dockerfile:1\n# escape=`\nFROM alpine\nRUN echo `\n  hi\n";
        let out = without_syntax_directive(text, 1);
        assert_eq!(out, "# escape=`\n#\nFROM alpine\nRUN echo `\n  hi\n");
        assert_eq!(out.lines().count(), text.lines().count());
        let text = "# syntax = docker/dockerfile:1.4\nFROM alpine\n";
        assert_eq!(without_syntax_directive(text, 1), "#\nFROM alpine\n");
        // Not a directive line: unchanged.
        let text = "FROM alpine\n# syntax=docker/dockerfile:1\n";
        assert_eq!(without_syntax_directive(text, 2), text);
    }
}
