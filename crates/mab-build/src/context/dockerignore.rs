//! The `.dockerignore` matcher: Docker's pattern language (the CLI's `dockerignore.ReadAll`
//! and moby's `patternmatcher`), parsed and compiled once, then asked path by path whether a
//! path is excluded, given what its parent folder matched.
//!
//! It must not know the file system (it sees `/`-separated relative paths only) or tars.

use std::path::Path;

use regex::Regex;

use super::DOCKERIGNORE;
use crate::BuildError;

/// The patterns of a `.dockerignore` file, with Docker's semantics (the Docker CLI's
/// `dockerignore.ReadAll` and moby's `patternmatcher`):
///
/// - a line starting with `#` is a comment (only in the first column); other lines are trimmed
///   of surrounding whitespace, and empty ones skipped; a UTF-8 BOM is ignored;
/// - `!` starts an exception (whitespace after it is trimmed);
/// - the pattern is cleaned like Go's `filepath.Clean` (`./a/../b//c/` is `b/c`) and a leading
///   `/` dropped, so patterns are always relative to the context root;
/// - matching is against the whole cleaned path relative to the root: `*` matches any run of
///   characters but `/`, `?` one character but `/`, `[a-z]`/`[^a-z]` a character class, `\`
///   escapes the next character, `**` any number of folders (`**/x` matches `x` and `a/b/x`;
///   a trailing `/**` everything below); Docker's quirks are kept (e.g. `**x` with no other
///   wildcard matches any path ending in `x`);
/// - a path is excluded when the last pattern matching it, or one of its parent folders, is
///   not an exception; later lines win;
/// - an excluded folder is still walked when an exception pattern, written out, starts with
///   the folder's path (`!dir/keep` under an excluded `dir`); an exception starting with a
///   wildcard (`!*/keep`) does not re-include anything inside an excluded folder, as in Docker
///   (moby/moby#30018);
/// - `.dockerignore` itself is always sent.
#[derive(Debug, Default)]
pub(super) struct IgnorePatterns {
    patterns: Vec<IgnorePattern>,
}

#[derive(Debug)]
struct IgnorePattern {
    /// The cleaned pattern, without the `!` of an exception.
    text: String,
    exception: PatternKind,
    matcher: PathMatcher,
}

/// Whether a pattern excludes paths or is an exception (`!`) re-including them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PatternKind {
    Exclusion,
    Exception,
}

/// How a pattern is matched (Docker's `matchType`).
#[derive(Debug)]
enum PathMatcher {
    /// The path equals the pattern (no wildcards).
    Exact(String),
    /// The path starts with this (the pattern ended in `**` with no other wildcard).
    Prefix(String),
    /// The path ends with this (the pattern started with `**` with no other wildcard), or the
    /// path equals it without its leading `/`.
    Suffix(String),
    Regex(Regex),
}

impl PathMatcher {
    fn matches(&self, path: &str) -> bool {
        match self {
            PathMatcher::Exact(pattern) => path == pattern,
            PathMatcher::Prefix(prefix) => path.starts_with(prefix.as_str()),
            PathMatcher::Suffix(suffix) => {
                path.ends_with(suffix.as_str())
                    || suffix.strip_prefix('/').is_some_and(|rest| path == rest)
            }
            PathMatcher::Regex(regex) => regex.is_match(path),
        }
    }
}

/// For each pattern, whether it matched a folder or one of its parents (Docker's `MatchInfo`);
/// empty when not known.
#[derive(Debug, Clone, Default)]
pub(super) struct MatchedPatterns(Vec<bool>);

impl IgnorePatterns {
    /// Reads the text of a `.dockerignore` file (`path` is named in errors).
    pub(super) fn parse(text: &str, path: &Path) -> Result<Self, BuildError> {
        let mut patterns = Vec::new();
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (index, line) in text.split_inclusive('\n').enumerate() {
            let line = line.strip_suffix('\n').unwrap_or(line);
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.starts_with('#') {
                continue;
            }
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let error = |message: String| BuildError::Dockerignore {
                path: path.to_path_buf(),
                line: index + 1,
                message,
            };
            let (kind, rest) = match line.strip_prefix('!') {
                Some(rest) => (PatternKind::Exception, rest.trim()),
                None => (PatternKind::Exclusion, line),
            };
            let mut cleaned = if rest.is_empty() {
                String::new()
            } else {
                let cleaned = clean_path(rest);
                match cleaned.strip_prefix('/') {
                    Some(relative) if !relative.is_empty() => relative.to_string(),
                    _ => cleaned,
                }
            };
            if kind == PatternKind::Exception {
                // Docker cleans the pattern again with its `!`, which only matters for `!/`.
                cleaned = clean_path(&format!("!{cleaned}"))
                    .strip_prefix('!')
                    .unwrap_or_default()
                    .to_string();
                if cleaned.is_empty() {
                    return Err(error("illegal exclusion pattern: \"!\"".to_string()));
                }
            }
            let matcher = compile_pattern(&cleaned).map_err(error)?;
            patterns.push(IgnorePattern {
                text: cleaned,
                exception: kind,
                matcher,
            });
        }
        Ok(IgnorePatterns { patterns })
    }

    /// Adds the exception Docker's CLI adds so that `.dockerignore` is always sent.
    pub(super) fn keeping_dockerignore(mut self) -> Self {
        if self.matches(DOCKERIGNORE, &MatchedPatterns::default()).0 {
            self.patterns.push(IgnorePattern {
                text: DOCKERIGNORE.to_string(),
                exception: PatternKind::Exception,
                matcher: PathMatcher::Exact(DOCKERIGNORE.to_string()),
            });
        }
        self
    }

    fn has_exceptions(&self) -> bool {
        self.patterns
            .iter()
            .any(|pattern| pattern.exception == PatternKind::Exception)
    }

    /// Whether `path` (relative, cleaned, `/`-separated) is excluded, given which patterns its
    /// folder matched; also returns which patterns `path` matched, for its own entries (Docker's
    /// `MatchesUsingParentResults`).
    pub(super) fn matches(&self, path: &str, parent: &MatchedPatterns) -> (bool, MatchedPatterns) {
        let mut excluded = false;
        let mut matched = vec![false; self.patterns.len()];
        for (index, pattern) in self.patterns.iter().enumerate() {
            let mut hit = parent.0.get(index).copied().unwrap_or(false);
            if !hit {
                // Only an exclusion can change an included path, only an exception an
                // excluded one.
                if (pattern.exception == PatternKind::Exception) != excluded {
                    continue;
                }
                hit = pattern.matcher.matches(path);
                if !hit
                    && parent.0.is_empty()
                    && let Some((parent_path, _)) = path.rsplit_once('/')
                {
                    let mut end = 0;
                    for part in parent_path.split('/') {
                        end += part.len();
                        if pattern.matcher.matches(&parent_path[..end]) {
                            hit = true;
                            break;
                        }
                        end += 1;
                    }
                }
            }
            matched[index] = hit;
            if hit {
                excluded = pattern.exception == PatternKind::Exclusion;
            }
        }
        (excluded, MatchedPatterns(matched))
    }

    /// Whether an excluded folder must still be walked because an exception pattern names
    /// something inside it.
    pub(super) fn may_reinclude_under(&self, folder: &str) -> bool {
        if !self.has_exceptions() {
            return false;
        }
        let folder = format!("{folder}/");
        self.patterns.iter().any(|pattern| {
            pattern.exception == PatternKind::Exception
                && format!("{}/", pattern.text).starts_with(&folder)
        })
    }
}

/// Go's `path.Clean`: the shortest equivalent path, lexically.
fn clean_path(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            part => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// How a pattern compiles so far (Docker's `matchType` while compiling).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CompiledKind {
    Exact,
    Prefix,
    Suffix,
    Regex,
}

/// Compiles a cleaned pattern the way moby's `patternmatcher` does, checking its syntax like
/// Go's `filepath.Match` (errors are lower-case messages).
fn compile_pattern(pattern: &str) -> Result<PathMatcher, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut regex = String::from("(?s)^");
    let mut kind = CompiledKind::Exact;
    let mut index = 0;
    let mut first_token = true;
    while index < chars.len() {
        let ch = chars[index];
        index += 1;
        match ch {
            '*' if chars.get(index) == Some(&'*') => {
                index += 1;
                // `**/` is the same as `**`.
                if chars.get(index) == Some(&'/') {
                    index += 1;
                }
                if index == chars.len() {
                    if kind == CompiledKind::Exact {
                        kind = CompiledKind::Prefix;
                    } else {
                        regex.push_str(".*");
                        kind = CompiledKind::Regex;
                    }
                } else {
                    regex.push_str("(?:.*/)?");
                    kind = CompiledKind::Regex;
                }
                if first_token {
                    kind = CompiledKind::Suffix;
                }
            }
            '*' => {
                regex.push_str("[^/]*");
                kind = CompiledKind::Regex;
            }
            '?' => {
                regex.push_str("[^/]");
                kind = CompiledKind::Regex;
            }
            '\\' => {
                let Some(&escaped) = chars.get(index) else {
                    return Err("a pattern cannot end with an escaping backslash".to_string());
                };
                index += 1;
                regex.push_str(&regex::escape(&escaped.to_string()));
                kind = CompiledKind::Regex;
            }
            '[' => {
                let (class, next) = character_class(&chars, index)?;
                index = next;
                regex.push_str(&class);
                kind = CompiledKind::Regex;
            }
            other => regex.push_str(&regex::escape(&other.to_string())),
        }
        first_token = false;
    }
    Ok(match kind {
        CompiledKind::Exact => PathMatcher::Exact(pattern.to_string()),
        CompiledKind::Prefix => {
            PathMatcher::Prefix(pattern.strip_suffix("**").unwrap_or(pattern).to_string())
        }
        CompiledKind::Suffix => {
            PathMatcher::Suffix(pattern.strip_prefix("**").unwrap_or(pattern).to_string())
        }
        CompiledKind::Regex => {
            regex.push('$');
            PathMatcher::Regex(Regex::new(&regex).map_err(|error| error.to_string())?)
        }
    })
}

/// Reads a character class whose `[` is just before `start` (Go's `filepath.Match` syntax:
/// `[^...]` negates, `a-z` ranges, `\` escapes, at least one item); returns it as a regex
/// class and the index after its `]`.
fn character_class(chars: &[char], start: usize) -> Result<(String, usize), String> {
    let mut index = start;
    let mut class = String::from("[");
    if chars.get(index) == Some(&'^') {
        class.push('^');
        index += 1;
    }
    let mut items = 0;
    loop {
        if chars.get(index) == Some(&']') && items > 0 {
            index += 1;
            break;
        }
        let (low, next) = class_char(chars, index)?;
        index = next;
        let mut high = low;
        if chars.get(index) == Some(&'-') {
            let (end, next) = class_char(chars, index + 1)?;
            high = end;
            index = next;
        }
        if low > high {
            return Err(format!("character range {low}-{high} is reversed"));
        }
        class.push_str(&format!("\\x{{{:x}}}-\\x{{{:x}}}", low as u32, high as u32));
        items += 1;
    }
    class.push(']');
    Ok((class, index))
}

/// One character of a class (Go's `getEsc`), which must be followed by more of the pattern.
fn class_char(chars: &[char], index: usize) -> Result<(char, usize), String> {
    let unclosed = || "unclosed or empty character class".to_string();
    let mut index = index;
    let mut ch = *chars.get(index).ok_or_else(unclosed)?;
    if ch == '-' || ch == ']' {
        return Err(format!("unexpected {ch} in character class"));
    }
    if ch == '\\' {
        index += 1;
        ch = *chars.get(index).ok_or_else(unclosed)?;
    }
    index += 1;
    if index >= chars.len() {
        return Err(unclosed());
    }
    Ok((ch, index))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(text: &str) -> IgnorePatterns {
        match IgnorePatterns::parse(text, Path::new(".dockerignore")) {
            Ok(patterns) => patterns,
            Err(error) => panic!("{error}"),
        }
    }

    fn pattern_error(text: &str) -> (usize, String) {
        match IgnorePatterns::parse(text, Path::new(".dockerignore")) {
            Ok(patterns) => panic!("expected an error, got {patterns:?}"),
            Err(BuildError::Dockerignore { line, message, .. }) => (line, message),
            Err(other) => panic!("unexpected error {other}"),
        }
    }

    /// Docker's `MatchesOrParentMatches`: excluded, looking at the path and its parents.
    fn excluded(text: &str, path: &str) -> bool {
        patterns(text).matches(path, &MatchedPatterns::default()).0
    }

    fn texts(text: &str) -> Vec<String> {
        patterns(text)
            .patterns
            .into_iter()
            .map(|p| p.text)
            .collect()
    }

    #[test]
    fn pattern_lines_are_cleaned() {
        assert_eq!(
            texts(
                "\u{feff}/a\n./b/\nc/../d\n  e  \r\n\n#comment\n  # not a comment\n! /f\n//g//h\n"
            ),
            vec!["a", "b", "d", "e", "# not a comment", "f", "g/h"]
        );
    }

    #[test]
    fn exception_needs_a_pattern() {
        assert_eq!(pattern_error("a\n!\n").0, 2);
        assert_eq!(pattern_error("!  \n").0, 1);
    }

    #[test]
    fn invalid_patterns_are_errors() {
        assert_eq!(pattern_error("ok\n[\n").0, 2);
        pattern_error("a\\");
        pattern_error("[]a]");
        pattern_error("[-a]");
        pattern_error("[a-]");
        pattern_error("[a");
        pattern_error("[z-a]");
    }

    /// (.dockerignore text, path, excluded?): Docker's answers (moby's patternmatcher tests).
    const MATCHES: &[(&str, &str, bool)] = &[
        ("foo", "foo", true),
        ("foo", "foobar", false),
        ("*.go", "a.go", true),
        ("*.go", "dir/a.go", false),
        ("dir/*.go", "dir/a.go", true),
        ("dir/*.go", "dir/sub/a.go", false),
        ("*", "anything", true),
        // A matching parent excludes its contents.
        ("*", "dir/below", true),
        ("a?c", "abc", true),
        ("a?c", "a/c", false),
        ("[a-c]x", "bx", true),
        ("[a-c]x", "dx", false),
        ("[^a]x", "bx", true),
        ("[^a]x", "ax", false),
        ("[\\]]", "]", true),
        ("\\*x", "*x", true),
        ("\\*x", "ax", false),
        ("a.b", "a.b", true),
        ("a.b", "axb", false),
        ("a+(b)|{c}$", "a+(b)|{c}$", true),
        ("**", "a", true),
        ("**", "a/b/c", true),
        ("**/foo", "foo", true),
        ("**/foo", "a/b/foo", true),
        ("**/foo", "afoo", false),
        ("**/*.go", "a.go", true),
        ("**/*.go", "x/y/a.go", true),
        ("a/**/b", "a/b", true),
        ("a/**/b", "a/x/y/b", true),
        ("a/**/b", "a/xb", false),
        ("dir/**", "dir/a", true),
        ("dir/**", "dir/a/b", true),
        ("dir/**", "dir", false),
        ("dir/**", "dirx", false),
        ("foo**", "foobar/x", true),
        ("a*/**", "ab/c", true),
        // Docker's quirk: `**x` without other wildcards is a plain suffix.
        ("**foo", "afoo", true),
        ("**foo", "a/bfoo", true),
        // Exceptions, and later lines win.
        ("*.md\n!README.md\n", "a.md", true),
        ("*.md\n!README.md\n", "README.md", false),
        ("!a\na\n", "a", true),
        ("a\n!a\n", "a", false),
        ("*\n!keep\nkeep\n", "keep", true),
    ];

    #[test]
    fn patterns_match_like_docker() {
        for &(text, path, expected) in MATCHES {
            assert_eq!(excluded(text, path), expected, "{text:?} on {path:?}");
        }
    }

    #[test]
    fn parent_results_are_inherited() {
        let patterns = patterns("docs\n!docs/keep\n");
        let (docs_excluded, docs) = patterns.matches("docs", &MatchedPatterns::default());
        assert!(docs_excluded);
        assert!(patterns.may_reinclude_under("docs"));
        assert!(!patterns.may_reinclude_under("doc"));
        let (keep_excluded, keep) = patterns.matches("docs/keep", &docs);
        assert!(!keep_excluded);
        assert!(patterns.matches("docs/other", &docs).0);
        assert!(!patterns.matches("docs/keep/file", &keep).0);
    }

    #[test]
    fn wildcard_exceptions_do_not_reach_into_excluded_folders() {
        // As in Docker (moby/moby#30018): nothing starts with `dir/`, so `dir` is not walked.
        let patterns = patterns("dir\n!*/keep\n");
        assert!(!patterns.may_reinclude_under("dir"));
        // But a written-out folder with a wildcard below it is.
        let patterns = IgnorePatterns::parse("dir\n!dir/*.txt\n", Path::new("x"));
        assert!(patterns.is_ok_and(|p| p.may_reinclude_under("dir")));
    }

    #[test]
    fn dockerignore_is_kept() {
        let kept = patterns("*\n").keeping_dockerignore();
        assert!(!kept.matches(".dockerignore", &MatchedPatterns::default()).0);
        assert!(kept.matches("other", &MatchedPatterns::default()).0);
        assert_eq!(patterns("a\n").keeping_dockerignore().patterns.len(), 1);
    }

    #[test]
    fn clean_path_like_go() {
        for (input, cleaned) in [
            ("", "."),
            (".", "."),
            ("a/./b", "a/b"),
            ("a/../..", ".."),
            ("../a", "../a"),
            ("/../a", "/a"),
            ("/", "/"),
            ("a//b/", "a/b"),
        ] {
            assert_eq!(clean_path(input), cleaned, "{input}");
        }
    }
}
