//! Just enough of the Dockerfile language to find the base images of every stage and pin them.
//!
//! The reading follows Docker's (BuildKit's `frontend/dockerfile/parser` and `shell` packages,
//! which the classic builder of Docker 20.10 also uses): parser directives at the top
//! (`# syntax=`, `# escape=`), comment lines, line continuations with the escape character
//! (comment and blank lines inside a continuation are skipped), case-insensitive instruction
//! names, heredocs of `RUN`/`COPY`/`ADD` skipped over, and the global `ARG`s before the first
//! `FROM` substituted into `FROM` lines with the shell-like rules of Docker (`$VAR`, `${VAR}`,
//! `${VAR:-default}`, `${VAR:+alt}`, `${VAR-default}`, `${VAR+alt}`, `${VAR:?message}`, quotes
//! and escapes). Everything after the first `FROM` other than further `FROM` lines is left alone.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::BuildError;

/// The build args Docker (BuildKit) defines by itself: they are visible in `FROM` lines even
/// without a global `ARG` declaring them (the caller passes their values in the build args).
const AUTOMATIC_PLATFORM_ARGS: [&str; 8] = [
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDARCH",
    "BUILDVARIANT",
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETARCH",
    "TARGETVARIANT",
];

/// The image name that means "no base image".
const SCRATCH: &str = "scratch";

/// The parser directives Docker knows; any other `# key=value` line ends the directives.
const KNOWN_DIRECTIVES: [&str; 3] = ["syntax", "escape", "check"];

/// An external image named by a `FROM` line (not `scratch`, not an earlier stage).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BaseImage {
    /// The image reference after ARG substitution, as written (e.g. `alpine`, `127.0.0.1:5000/a/b:1`).
    pub reference: String,
    /// The platform from `FROM --platform=...` after substitution, if the line has the flag
    /// (a flag that substitutes to an empty value counts as absent, as in Docker).
    pub platform: Option<String>,
}

/// What a build stage starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageBase {
    /// An external image, to be found on the daemon or pulled.
    Image(BaseImage),
    /// An earlier stage of the same Dockerfile (its index in [`Dockerfile::stages`]), named by
    /// its `AS` name (case-insensitively) or by its index.
    Stage(usize),
    /// `scratch`, the empty image.
    Scratch,
}

/// One build stage: a `FROM` line and what it starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// The 1-based line number where the `FROM` instruction starts.
    pub line: usize,
    /// The stage name given with `AS name`, lower-cased as Docker does, if any.
    pub name: Option<String>,
    /// What the stage starts from.
    pub base: StageBase,
}

/// A parsed Dockerfile: its text and the stages found in it.
#[derive(Debug, Clone)]
pub struct Dockerfile {
    text: String,
    escape: char,
    stages: Vec<Stage>,
    /// Where the image word of each stage's `FROM` line is in `text`, one per stage.
    image_words: Vec<ImageWord>,
}

/// Where the image word of a `FROM` line is in the original text.
#[derive(Debug, Clone)]
struct ImageWord {
    /// The byte range from the word's first to its last byte in the original text.
    range: Range<usize>,
    layout: WordLayout,
}

/// Whether a word was written in one piece or broken over lines by continuations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WordLayout {
    /// The range holds exactly the word.
    Contiguous,
    /// The range also holds line continuations (and maybe comment lines) inside the word.
    SpansLines,
}

impl Dockerfile {
    /// Parses `text` (read from `path`, named in errors) with the given build args.
    ///
    /// Only the global `ARG`s (those before the first `FROM`) and the automatic platform args
    /// (`BUILDPLATFORM`, `TARGETARCH`, ...) are visible in `FROM` lines, as in Docker: a build
    /// arg overrides the default of the `ARG` that declares it, and build args that no global
    /// `ARG` declares are not visible.
    pub fn parse(
        path: &Path,
        text: &str,
        build_args: &BTreeMap<String, String>,
    ) -> Result<Self, BuildError> {
        Parser::new(path, text, build_args).run()
    }

    /// Every distinct external base image, in order of first use.
    pub fn base_images(&self) -> Vec<BaseImage> {
        let mut images: Vec<BaseImage> = Vec::new();
        for stage in &self.stages {
            if let StageBase::Image(image) = &stage.base
                && !images.contains(image)
            {
                images.push(image.clone());
            }
        }
        images
    }

    /// Every build stage, in order.
    pub fn stages(&self) -> &[Stage] {
        &self.stages
    }

    /// The text the Dockerfile was parsed from.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The Dockerfile text with each external base image replaced by `pinned[base]` (an image id
    /// like `sha256:...`); everything else kept byte for byte.
    ///
    /// Only the image word of a `FROM` line changes (the `--platform=` flag and `AS name` stay).
    /// In the rare case of an image word broken over lines by a continuation, the replaced word
    /// starts with as many escape-only continuation lines as it spanned, so line numbers stay the
    /// same. A base missing from `pinned` leaves its lines unchanged.
    pub fn pinned(&self, pinned: &BTreeMap<BaseImage, String>) -> String {
        let mut out = String::with_capacity(self.text.len() + 64 * self.stages.len());
        let mut copied_up_to = 0;
        for (stage, word) in self.stages.iter().zip(&self.image_words) {
            let StageBase::Image(image) = &stage.base else {
                continue;
            };
            let Some(id) = pinned.get(image) else {
                continue;
            };
            out.push_str(&self.text[copied_up_to..word.range.start]);
            if word.layout == WordLayout::SpansLines {
                let line_breaks = self.text[word.range.clone()].matches('\n').count();
                for _ in 0..line_breaks {
                    out.push(self.escape);
                    out.push('\n');
                }
            }
            out.push_str(id);
            copied_up_to = word.range.end;
        }
        out.push_str(&self.text[copied_up_to..]);
        out
    }
}

/// One line of the file as written: its number, where its content starts in the text, and its
/// content without the line break (and without a trailing `\r`).
struct PhysicalLine<'a> {
    number: usize,
    start: usize,
    content: &'a str,
}

/// Splits `text` into lines the way Go's `bufio.ScanLines` does, dropping a leading UTF-8 BOM.
fn physical_lines(text: &str) -> Vec<PhysicalLine<'_>> {
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
struct LogicalLine {
    text: String,
    origin: Vec<usize>,
    first_line: usize,
}

impl LogicalLine {
    fn push(&mut self, segment: &str, origin_start: usize) {
        self.text.push_str(segment);
        self.origin
            .extend(origin_start..origin_start + segment.len());
    }

    /// The original-text location of the logical byte range `range` (non-empty).
    fn image_word(&self, range: Range<usize>) -> ImageWord {
        let first = self.origin[range.start];
        let last = self.origin[range.end - 1];
        let layout = if last - first == range.end - 1 - range.start {
            WordLayout::Contiguous
        } else {
            WordLayout::SpansLines
        };
        ImageWord {
            range: first..last + 1,
            layout,
        }
    }
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

/// Docker's whitespace between an instruction's words (`[\t\v\f\r ]`).
fn is_word_separator(ch: char) -> bool {
    matches!(ch, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ')
}

/// The byte ranges of the words of `text` separated by [`is_word_separator`] characters.
fn separated_words(text: &str) -> Vec<Range<usize>> {
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

/// The state of parser-directive reading: directives are only read at the top of the file.
struct Directives {
    done: bool,
    seen: Vec<String>,
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

/// Reads a Dockerfile, instruction by instruction.
struct Parser<'a> {
    path: &'a Path,
    text: &'a str,
    build_args: &'a BTreeMap<String, String>,
    escape: char,
    /// The values of the global ARGs (and automatic platform args) visible in `FROM` lines.
    global_args: HashMap<String, String>,
    stages: Vec<Stage>,
    image_words: Vec<ImageWord>,
}

impl<'a> Parser<'a> {
    fn new(path: &'a Path, text: &'a str, build_args: &'a BTreeMap<String, String>) -> Self {
        let global_args = AUTOMATIC_PLATFORM_ARGS
            .iter()
            .filter_map(|name| {
                build_args
                    .get(*name)
                    .map(|value| (name.to_string(), value.clone()))
            })
            .collect();
        Parser {
            path,
            text,
            build_args,
            escape: '\\',
            global_args,
            stages: Vec::new(),
            image_words: Vec::new(),
        }
    }

    fn error(&self, line: usize, message: impl Into<String>) -> BuildError {
        BuildError::DockerfileSyntax {
            path: PathBuf::from(self.path),
            line,
            message: message.into(),
        }
    }

    fn run(mut self) -> Result<Dockerfile, BuildError> {
        let lines = physical_lines(self.text);
        let mut directives = Directives {
            done: false,
            seen: Vec::new(),
        };
        let mut next = 0;
        while next < lines.len() {
            let line = &lines[next];
            next += 1;
            let content = line.content.trim_start();
            let content_start = line.start + (line.content.len() - content.len());
            if !directives.done {
                self.read_directive(&mut directives, content, line.number)?;
            }
            if content.starts_with('#') {
                continue;
            }
            let (segment, mut line_end) = trim_continuation(content, self.escape);
            if line_end == LineEnd::Ends && segment.is_empty() {
                continue;
            }
            let mut logical = LogicalLine {
                text: String::new(),
                origin: Vec::new(),
                first_line: line.number,
            };
            logical.push(segment, content_start);
            while line_end == LineEnd::Continues && next < lines.len() {
                let line = &lines[next];
                next += 1;
                let left_trimmed = line.content.trim_start();
                if left_trimmed.starts_with('#') || left_trimmed.is_empty() {
                    continue;
                }
                let (segment, end) = trim_continuation(line.content, self.escape);
                logical.push(segment, line.start);
                line_end = end;
            }
            next = self.instruction(&logical, &lines, next)?;
        }
        if self.stages.is_empty() {
            return Err(self.error(
                1,
                "no FROM instruction: a Dockerfile needs at least one stage",
            ));
        }
        Ok(Dockerfile {
            text: self.text.to_string(),
            escape: self.escape,
            stages: self.stages,
            image_words: self.image_words,
        })
    }

    fn read_directive(
        &mut self,
        directives: &mut Directives,
        line: &str,
        number: usize,
    ) -> Result<(), BuildError> {
        let Some((key, value)) = parse_directive(line) else {
            directives.done = true;
            return Ok(());
        };
        if !KNOWN_DIRECTIVES.contains(&key.as_str()) {
            directives.done = true;
            return Ok(());
        }
        if directives.seen.contains(&key) {
            return Err(self.error(
                number,
                format!("only one {key} parser directive can be used"),
            ));
        }
        if key == "escape" {
            self.escape = match value {
                "\\" => '\\',
                "`" => '`',
                other => {
                    return Err(self.error(
                        number,
                        format!("invalid escape token '{other}' does not match ` or \\"),
                    ));
                }
            };
        }
        directives.seen.push(key);
        Ok(())
    }

    /// Handles one instruction; returns the index of the next physical line to read (after the
    /// heredocs of the instruction, if any).
    fn instruction(
        &mut self,
        logical: &LogicalLine,
        lines: &[PhysicalLine<'_>],
        mut next: usize,
    ) -> Result<usize, BuildError> {
        let text = logical.text.as_str();
        let trimmed_start = text.len() - text.trim_start().len();
        let trimmed = text.trim();
        let keyword_len = trimmed.find(is_word_separator).unwrap_or(trimmed.len());
        let keyword = trimmed[..keyword_len].to_ascii_lowercase();
        let rest_start = trimmed_start
            + keyword_len
            + (trimmed[keyword_len..].len()
                - trimmed[keyword_len..]
                    .trim_start_matches(is_word_separator)
                    .len());
        let rest = &text[rest_start..];

        match keyword.as_str() {
            "from" => self.from(logical, rest_start)?,
            "arg" if self.stages.is_empty() => self.global_arg(logical.first_line, rest)?,
            "arg" => {}
            other if self.stages.is_empty() => {
                return Err(self.error(
                    logical.first_line,
                    format!(
                        "{} instruction before the first FROM (only ARG may come before it)",
                        other.to_ascii_uppercase()
                    ),
                ));
            }
            _ => {}
        }

        if matches!(keyword.as_str(), "run" | "copy" | "add") {
            for heredoc in heredocs(rest) {
                let mut terminated = false;
                while next < lines.len() {
                    let content = lines[next].content;
                    next += 1;
                    let candidate = match heredoc.chomp {
                        HeredocChomp::LeadingTabs => content.trim_start_matches('\t'),
                        HeredocChomp::None => content,
                    };
                    if candidate == heredoc.terminator {
                        terminated = true;
                        break;
                    }
                }
                if !terminated {
                    return Err(self.error(
                        logical.first_line,
                        format!("unterminated heredoc {}", heredoc.terminator),
                    ));
                }
            }
        }
        Ok(next)
    }

    fn global_arg(&mut self, line: usize, rest: &str) -> Result<(), BuildError> {
        let (_, flags_end) = builder_flags(rest);
        let words = shell_words(&rest[flags_end..], self.escape);
        if words.is_empty() {
            return Err(self.error(line, "ARG requires at least one argument"));
        }
        for word in words {
            let (name, default) = match word.split_once('=') {
                Some((name, default)) => (name, Some(default)),
                None => (word.as_str(), None),
            };
            if name.is_empty() {
                return Err(self.error(line, "ARG names can not be blank"));
            }
            let value = match (self.build_args.get(name), default) {
                (Some(value), _) => Some(value.clone()),
                (None, Some(default)) => Some(
                    expand_word(default, &self.global_args, self.escape)
                        .map_err(|message| self.error(line, message))?,
                ),
                (None, None) => None,
            };
            match value {
                Some(value) => {
                    self.global_args.insert(name.to_string(), value);
                }
                None => {
                    self.global_args.remove(name);
                }
            }
        }
        Ok(())
    }

    fn from(&mut self, logical: &LogicalLine, rest_start: usize) -> Result<(), BuildError> {
        let line = logical.first_line;
        let rest = &logical.text[rest_start..];
        let (flags, flags_end) = builder_flags(rest);
        let args_start = rest_start + flags_end;
        let words = separated_words(&logical.text[args_start..]);
        let word_text =
            |range: &Range<usize>| &logical.text[args_start + range.start..args_start + range.end];
        let name = match words.as_slice() {
            [_] => None,
            [_, as_word, name_word] if word_text(as_word).eq_ignore_ascii_case("as") => {
                let written = word_text(name_word);
                let name = written.to_lowercase();
                if !is_valid_stage_name(&name) {
                    return Err(self.error(
                        line,
                        format!(
                            "invalid name for build stage: {written:?}, name can't start with a number or contain symbols"
                        ),
                    ));
                }
                Some(name)
            }
            _ => {
                return Err(self.error(
                    line,
                    "FROM requires either one or three arguments (FROM <image> [AS <name>])",
                ));
            }
        };

        let mut platform = None;
        for flag in &flags {
            let flag = flag.strip_prefix("--").unwrap_or(flag);
            match flag.split_once('=') {
                Some(("platform", value)) => {
                    let value = expand_word(value, &self.global_args, self.escape)
                        .map_err(|message| self.error(line, message))?;
                    platform = Some(value).filter(|value| !value.is_empty());
                }
                None if flag == "platform" => {
                    return Err(self.error(line, "missing a value on flag: platform"));
                }
                _ => {
                    let flag_name = flag.split_once('=').map_or(flag, |(name, _)| name);
                    return Err(self.error(line, format!("unknown flag for FROM: {flag_name}")));
                }
            }
        }

        let image_range = words[0].start + args_start..words[0].end + args_start;
        let raw_image = &logical.text[image_range.clone()];
        let image = expand_word(raw_image, &self.global_args, self.escape)
            .map_err(|message| self.error(line, message))?;
        if image.is_empty() {
            return Err(self.error(
                line,
                format!("FROM names no image: {raw_image:?} is empty after ARG substitution"),
            ));
        }

        let earlier_stage = self
            .stages
            .iter()
            .position(|stage| {
                stage
                    .name
                    .as_deref()
                    .is_some_and(|name| name.eq_ignore_ascii_case(&image))
            })
            .or_else(|| {
                image
                    .parse::<usize>()
                    .ok()
                    .filter(|index| *index < self.stages.len())
            });
        let base = match earlier_stage {
            Some(index) => StageBase::Stage(index),
            None if image == SCRATCH => StageBase::Scratch,
            None => StageBase::Image(BaseImage {
                reference: image,
                platform,
            }),
        };
        self.stages.push(Stage { line, name, base });
        self.image_words.push(logical.image_word(image_range));
        Ok(())
    }
}

/// Docker's rule for stage names (checked on the lower-cased name): `[a-z][a-z0-9-_.]*`.
fn is_valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|first| first.is_ascii_lowercase())
        && chars.all(|ch| {
            ch.is_ascii_lowercase() || ch.is_ascii_digit() || matches!(ch, '-' | '_' | '.')
        })
}

/// Splits the leading `--flag[=value]` words off an instruction's arguments, as Docker's
/// `extractBuilderFlags` does (quotes removed, `\` escapes the next character). Returns the
/// flags and the byte offset in `line` where the remaining arguments start.
fn builder_flags(line: &str) -> (Vec<String>, usize) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote(char),
    }
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut flags = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quoted_word = false;
    let mut index = 0;
    while index < chars.len() {
        let (offset, ch) = chars[index];
        match phase {
            Phase::Spaces => {
                if ch.is_whitespace() {
                    index += 1;
                    continue;
                }
                let starts_flag =
                    ch == '-' && chars.get(index + 1).is_some_and(|&(_, next)| next == '-');
                if !starts_flag {
                    return (flags, offset);
                }
                phase = Phase::Word;
            }
            Phase::Word => {
                if ch.is_whitespace() {
                    phase = Phase::Spaces;
                    if word == "--" {
                        return (flags, offset);
                    }
                    if quoted_word || !word.is_empty() {
                        flags.push(std::mem::take(&mut word));
                    }
                    quoted_word = false;
                    index += 1;
                    continue;
                }
                if ch == '\'' || ch == '"' {
                    phase = Phase::Quote(ch);
                    quoted_word = true;
                    index += 1;
                    continue;
                }
                if ch == '\\' {
                    index += 1;
                    match chars.get(index) {
                        Some(&(_, escaped)) => word.push(escaped),
                        None => continue,
                    }
                } else {
                    word.push(ch);
                }
                index += 1;
            }
            Phase::Quote(quote) => {
                if ch == quote {
                    phase = Phase::Word;
                    index += 1;
                    continue;
                }
                if ch == '\\' {
                    index += 1;
                    match chars.get(index) {
                        Some(&(_, escaped)) => word.push(escaped),
                        None => {
                            phase = Phase::Word;
                            continue;
                        }
                    }
                } else {
                    word.push(ch);
                }
                index += 1;
            }
        }
    }
    if phase != Phase::Spaces && word != "--" && (quoted_word || !word.is_empty()) {
        flags.push(word);
    }
    (flags, line.len())
}

/// Splits arguments into words at whitespace outside quotes, keeping quotes and escapes in the
/// words (Docker's `parseWords`, used for `ARG name=value ...`).
fn shell_words(text: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote(char),
    }
    let chars: Vec<char> = text.chars().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quoted_word = false;
    let mut index = 0;
    while index < chars.len() {
        let ch = chars[index];
        if phase == Phase::Spaces {
            if ch.is_whitespace() {
                index += 1;
                continue;
            }
            phase = Phase::Word;
        }
        match phase {
            Phase::Spaces => {}
            Phase::Word => {
                if ch.is_whitespace() {
                    phase = Phase::Spaces;
                    if quoted_word || !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    quoted_word = false;
                    index += 1;
                    continue;
                }
                if ch == '\'' || ch == '"' {
                    phase = Phase::Quote(ch);
                    quoted_word = true;
                }
                if ch == escape {
                    if index + 1 == chars.len() {
                        index += 1;
                        continue;
                    }
                    word.push(ch);
                    index += 1;
                }
                word.push(chars[index]);
                index += 1;
            }
            Phase::Quote(quote) => {
                if ch == quote {
                    phase = Phase::Word;
                }
                if ch == escape && quote != '\'' {
                    if index + 1 == chars.len() {
                        phase = Phase::Word;
                        index += 1;
                        continue;
                    }
                    word.push(ch);
                    index += 1;
                }
                word.push(chars[index]);
                index += 1;
            }
        }
    }
    if phase != Phase::Spaces && (quoted_word || !word.is_empty()) {
        words.push(word);
    }
    words
}

/// Whether a heredoc's terminator line may be indented with tabs (`<<-EOF`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeredocChomp {
    None,
    LeadingTabs,
}

/// A heredoc started on an instruction line: `<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Heredoc {
    terminator: String,
    chomp: HeredocChomp,
}

/// The heredocs an instruction's arguments start, in order.
fn heredocs(arguments: &str) -> Vec<Heredoc> {
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

/// Expands one word the way Docker's shell lexer (`ProcessWord`) does: quotes removed, the
/// escape character escapes the next character, `$VAR` and `${VAR...}` substituted from `args`
/// (unset variables expand to nothing). Errors are lower-case messages.
fn expand_word(word: &str, args: &HashMap<String, String>, escape: char) -> Result<String, String> {
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

    fn args(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    }

    fn parse(text: &str) -> Dockerfile {
        parse_with(text, &[])
    }

    fn parse_with(text: &str, build_args: &[(&str, &str)]) -> Dockerfile {
        match Dockerfile::parse(Path::new("Dockerfile"), text, &args(build_args)) {
            Ok(dockerfile) => dockerfile,
            Err(error) => panic!("parse failed: {error}"),
        }
    }

    fn parse_error(text: &str) -> (usize, String) {
        match Dockerfile::parse(Path::new("Dockerfile"), text, &BTreeMap::new()) {
            Ok(dockerfile) => panic!("expected an error, got {:?}", dockerfile.stages()),
            Err(BuildError::DockerfileSyntax { line, message, .. }) => (line, message),
            Err(other) => panic!("unexpected error {other}"),
        }
    }

    fn image(reference: &str) -> BaseImage {
        BaseImage {
            reference: reference.to_string(),
            platform: None,
        }
    }

    fn image_on(reference: &str, platform: &str) -> BaseImage {
        BaseImage {
            reference: reference.to_string(),
            platform: Some(platform.to_string()),
        }
    }

    fn references(dockerfile: &Dockerfile) -> Vec<String> {
        dockerfile
            .base_images()
            .into_iter()
            .map(|base| base.reference)
            .collect()
    }

    fn pin_all(dockerfile: &Dockerfile) -> String {
        let map = dockerfile
            .base_images()
            .into_iter()
            .enumerate()
            .map(|(index, base)| (base, format!("sha256:{index:064}")))
            .collect();
        dockerfile.pinned(&map)
    }

    #[test]
    fn single_from() {
        let dockerfile = parse("FROM alpine:3.19\nRUN echo hi\n");
        assert_eq!(dockerfile.base_images(), vec![image("alpine:3.19")]);
        assert_eq!(dockerfile.stages()[0].line, 1);
        assert_eq!(dockerfile.stages()[0].name, None);
    }

    #[test]
    fn instructions_are_case_insensitive() {
        let dockerfile = parse("from alpine As Build\nFrOm build\n");
        assert_eq!(dockerfile.base_images(), vec![image("alpine")]);
        assert_eq!(dockerfile.stages()[0].name.as_deref(), Some("build"));
        assert_eq!(dockerfile.stages()[1].base, StageBase::Stage(0));
    }

    #[test]
    fn registry_with_port_and_digest() {
        let dockerfile = parse(
            "FROM 127.0.0.1:5000/a/b:1\nFROM ghcr.io/o/i@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
        );
        assert_eq!(
            references(&dockerfile),
            vec![
                "127.0.0.1:5000/a/b:1",
                "ghcr.io/o/i@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
            ]
        );
    }

    #[test]
    fn global_arg_default_and_override() {
        let text = "ARG BASE=alpine\nARG TAG=3.19\nFROM ${BASE}:$TAG\n";
        assert_eq!(references(&parse(text)), vec!["alpine:3.19"]);
        assert_eq!(
            references(&parse_with(text, &[("TAG", "3.20")])),
            vec!["alpine:3.20"]
        );
        assert_eq!(
            references(&parse_with(text, &[("BASE", "debian"), ("TAG", "12")])),
            vec!["debian:12"]
        );
    }

    #[test]
    fn global_arg_without_default() {
        let text = "ARG TAG\nFROM alpine:${TAG:-latest}\n";
        assert_eq!(references(&parse(text)), vec!["alpine:latest"]);
        assert_eq!(
            references(&parse_with(text, &[("TAG", "3")])),
            vec!["alpine:3"]
        );
    }

    #[test]
    fn undeclared_build_args_are_not_visible_in_from() {
        let text = "FROM alpine:${TAG:-default}\n";
        assert_eq!(
            references(&parse_with(text, &[("TAG", "3")])),
            vec!["alpine:default"]
        );
    }

    #[test]
    fn arg_multiple_form_and_quotes() {
        let text = "ARG A=one B=\"two words\" C\nFROM img:$A\nFROM img:${C:-none}\n";
        let dockerfile = parse(text);
        assert_eq!(references(&dockerfile), vec!["img:one", "img:none"]);
        let dockerfile = parse("ARG A='x y'\nARG B=\"${A}\"z\nFROM \"img:${B}\"\n");
        // Quotes are removed and the default of B sees A.
        assert_eq!(references(&dockerfile), vec!["img:x yz"]);
    }

    #[test]
    fn arg_default_refers_to_earlier_arg() {
        let text = "ARG REGISTRY=docker.io\nARG IMAGE=$REGISTRY/library/alpine\nFROM $IMAGE\n";
        assert_eq!(references(&parse(text)), vec!["docker.io/library/alpine"]);
        assert_eq!(
            references(&parse_with(text, &[("REGISTRY", "127.0.0.1:5000")])),
            vec!["127.0.0.1:5000/library/alpine"]
        );
    }

    #[test]
    fn alternative_value_substitution() {
        let text = "ARG SUFFIX\nFROM alpine${SUFFIX:+-$SUFFIX}\n";
        assert_eq!(references(&parse(text)), vec!["alpine"]);
        assert_eq!(
            references(&parse_with(text, &[("SUFFIX", "edge")])),
            vec!["alpine-edge"]
        );
    }

    #[test]
    fn non_colon_modifiers_distinguish_empty_from_unset() {
        let text = "ARG EMPTY=\nFROM img:a${EMPTY-x}b${UNSET-y}${EMPTY+z}${UNSET+w}\n";
        assert_eq!(references(&parse(text)), vec!["img:abyz"]);
    }

    #[test]
    fn args_after_first_from_do_not_apply_to_later_from_lines() {
        let text = "ARG V=1\nFROM img:$V\nARG V=2\nFROM img:$V\n";
        assert_eq!(references(&parse(text)), vec!["img:1"]);
    }

    #[test]
    fn platform_flag() {
        let text = "FROM --platform=$BUILDPLATFORM golang:1.22 AS build\nFROM --platform=linux/arm64 alpine\nFROM alpine\n";
        let dockerfile = parse_with(text, &[("BUILDPLATFORM", "linux/amd64")]);
        assert_eq!(
            dockerfile.base_images(),
            vec![
                image_on("golang:1.22", "linux/amd64"),
                image_on("alpine", "linux/arm64"),
                image("alpine"),
            ]
        );
    }

    #[test]
    fn platform_flag_that_expands_to_nothing_is_absent() {
        let dockerfile = parse("FROM --platform=$TARGETPLATFORM alpine\n");
        assert_eq!(dockerfile.base_images(), vec![image("alpine")]);
        let dockerfile = parse("FROM --platform=\"${TARGETOS}/${TARGETARCH}\" alpine\n");
        assert_eq!(dockerfile.base_images(), vec![image_on("alpine", "/")]);
    }

    #[test]
    fn platform_flag_with_global_arg() {
        let text = "ARG P=linux/arm/v7\nFROM --platform=${P} alpine\n";
        assert_eq!(
            parse(text).base_images(),
            vec![image_on("alpine", "linux/arm/v7")]
        );
    }

    #[test]
    fn bad_flags_are_errors() {
        assert_eq!(parse_error("FROM --platform alpine\n").0, 1);
        let (line, message) = parse_error("\nFROM --pull=always alpine\n");
        assert_eq!(line, 2);
        assert!(message.contains("unknown flag"), "{message}");
    }

    #[test]
    fn scratch_is_not_external() {
        let dockerfile = parse("FROM scratch\nCOPY a /a\n");
        assert!(dockerfile.base_images().is_empty());
        assert_eq!(dockerfile.stages()[0].base, StageBase::Scratch);
    }

    #[test]
    fn stage_references_are_not_external() {
        let text = "FROM golang AS Build\nRUN go build\nFROM BUILD AS test\nFROM 0\nFROM alpine\nCOPY --from=build /x /x\n";
        let dockerfile = parse(text);
        assert_eq!(references(&dockerfile), vec!["golang", "alpine"]);
        let bases: Vec<StageBase> = dockerfile.stages().iter().map(|s| s.base.clone()).collect();
        assert_eq!(bases[1], StageBase::Stage(0));
        assert_eq!(bases[2], StageBase::Stage(0));
    }

    #[test]
    fn stage_named_like_an_image() {
        let text =
            "FROM alpine AS alpine\nRUN touch /x\nFROM alpine\nFROM debian AS base\nFROM base\n";
        let dockerfile = parse(text);
        assert_eq!(references(&dockerfile), vec!["alpine", "debian"]);
        assert_eq!(dockerfile.stages()[1].base, StageBase::Stage(0));
        assert_eq!(dockerfile.stages()[3].base, StageBase::Stage(2));
    }

    #[test]
    fn later_stage_names_are_not_visible_earlier() {
        let dockerfile = parse("FROM base\nFROM alpine AS base\n");
        assert_eq!(references(&dockerfile), vec!["base", "alpine"]);
    }

    #[test]
    fn stage_reference_through_arg() {
        let dockerfile = parse("ARG STAGE=builder\nFROM golang AS builder\nFROM $STAGE\n");
        assert_eq!(references(&dockerfile), vec!["golang"]);
        assert_eq!(dockerfile.stages()[1].base, StageBase::Stage(0));
    }

    #[test]
    fn distinct_bases_in_order_of_first_use() {
        let text = "FROM b\nFROM a\nFROM b\nFROM --platform=linux/arm64 b\nFROM a\n";
        assert_eq!(
            parse(text).base_images(),
            vec![image("b"), image("a"), image_on("b", "linux/arm64")]
        );
    }

    #[test]
    fn comments_blank_lines_and_indentation() {
        let text = "# a comment\n\n   # indented comment\n\t FROM  \t alpine \n  RUN x\n";
        let dockerfile = parse(text);
        assert_eq!(references(&dockerfile), vec!["alpine"]);
        assert_eq!(dockerfile.stages()[0].line, 4);
    }

    #[test]
    fn continuation_lines() {
        let text = "FROM \\\n  --platform=linux/amd64 \\\n  alpine \\\n  AS base\nRUN a \\\n  b\nFROM base\n";
        let dockerfile = parse(text);
        assert_eq!(
            dockerfile.base_images(),
            vec![image_on("alpine", "linux/amd64")]
        );
        assert_eq!(dockerfile.stages()[0].name.as_deref(), Some("base"));
        assert_eq!(dockerfile.stages()[1].line, 7);
        assert_eq!(dockerfile.stages()[1].base, StageBase::Stage(0));
    }

    #[test]
    fn continuation_with_trailing_spaces_and_crlf() {
        let text = "FROM \\  \r\n alpine\r\nRUN echo\r\n";
        let dockerfile = parse(text);
        assert_eq!(references(&dockerfile), vec!["alpine"]);
        assert_eq!(
            pin_all(&dockerfile),
            format!("FROM \\  \r\n sha256:{:064}\r\nRUN echo\r\n", 0)
        );
    }

    #[test]
    fn comments_and_blank_lines_between_continuation_lines() {
        let text = "FROM \\\n# a comment\n\n  # another\n  alpine \\\n  # between\n  AS base\nFROM debian\n";
        let dockerfile = parse(text);
        assert_eq!(references(&dockerfile), vec!["alpine", "debian"]);
        assert_eq!(dockerfile.stages()[0].name.as_deref(), Some("base"));
        assert_eq!(dockerfile.stages()[1].line, 8);
    }

    #[test]
    fn run_continuation_does_not_hide_from() {
        // "FROM" inside a continued RUN is part of the RUN.
        let text = "FROM alpine\nRUN echo \\\n  FROM debian\nFROM busybox\n";
        assert_eq!(references(&parse(text)), vec!["alpine", "busybox"]);
    }

    #[test]
    fn escape_directive_backtick() {
        let text = "# escape=`\nFROM mcr.microsoft.com/windows/servercore `\n  AS base\nRUN dir c:\\ \nFROM base\n";
        let dockerfile = parse(text);
        assert_eq!(
            references(&dockerfile),
            vec!["mcr.microsoft.com/windows/servercore"]
        );
        assert_eq!(dockerfile.stages()[1].base, StageBase::Stage(0));
        // With the backtick escape, a backslash at the end of a line is no continuation.
        assert_eq!(dockerfile.stages()[1].line, 5);
    }

    #[test]
    fn escape_directive_after_syntax_directive() {
        let text = "# syntax=docker/dockerfile:1\n# escape=`\nFROM alpine`\n:3\n";
        assert_eq!(references(&parse(text)), vec!["alpine:3"]);
    }

    #[test]
    fn escape_directive_is_ignored_after_a_comment() {
        // Once a plain comment was read, `# escape=` is just a comment too.
        let text = "# hello\n# escape=`\nFROM alpine \\\n  AS base\n";
        let dockerfile = parse(text);
        assert_eq!(dockerfile.stages()[0].name.as_deref(), Some("base"));
    }

    #[test]
    fn escape_directive_errors() {
        assert_eq!(parse_error("# escape=x\nFROM alpine\n").0, 1);
        let (line, message) = parse_error("# escape=`\n# escape=\\\nFROM alpine\n");
        assert_eq!(line, 2);
        assert!(message.contains("only one escape"), "{message}");
    }

    #[test]
    fn escape_character_escapes_in_from() {
        let dockerfile = parse("# escape=`\nARG V=1\nFROM img:`$V\n");
        assert_eq!(references(&dockerfile), vec!["img:$V"]);
    }

    #[test]
    fn utf8_bom_is_ignored() {
        assert_eq!(references(&parse("\u{feff}FROM alpine\n")), vec!["alpine"]);
        let dockerfile = parse("\u{feff}# escape=`\nFROM alpine `\n AS x\n");
        assert_eq!(dockerfile.stages()[0].name.as_deref(), Some("x"));
    }

    #[test]
    fn no_from_is_an_error() {
        let (line, message) = parse_error("# only a comment\nARG A=1\n");
        assert_eq!(line, 1);
        assert!(message.contains("no FROM"), "{message}");
        parse_error("");
    }

    #[test]
    fn instruction_before_from_is_an_error() {
        let (line, message) = parse_error("ARG A\nRUN echo\nFROM alpine\n");
        assert_eq!(line, 2);
        assert!(message.contains("RUN"), "{message}");
    }

    #[test]
    fn empty_image_after_substitution_is_an_error() {
        let (line, message) = parse_error("ARG IMAGE\n\nFROM $IMAGE\n");
        assert_eq!(line, 3);
        assert!(message.contains("$IMAGE"), "{message}");
    }

    #[test]
    fn wrong_argument_counts_are_errors() {
        assert_eq!(parse_error("FROM\n").0, 1);
        assert_eq!(parse_error("FROM a b\n").0, 1);
        assert_eq!(parse_error("FROM alpine AS\n").0, 1);
        assert_eq!(parse_error("FROM a xs b\n").0, 1);
        assert_eq!(parse_error("FROM a AS 1bad\n").0, 1);
    }

    #[test]
    fn bad_substitution_is_an_error() {
        assert_eq!(parse_error("FROM img:${TAG\n").0, 1);
        assert_eq!(parse_error("FROM img:${}\n").0, 1);
        assert_eq!(parse_error("FROM img:${TAG:x}\n").0, 1);
        let (line, message) = parse_error("ARG A\nFROM img:${A:?must_be_set}\n");
        assert_eq!(line, 2);
        assert!(message.contains("A: must_be_set"), "{message}");
        // Whitespace splits FROM's words before substitution, as in Docker.
        assert!(
            parse_error("FROM img:${A:-a b}\n")
                .1
                .contains("one or three")
        );
    }

    #[test]
    fn heredocs_are_skipped() {
        let text = "# syntax=docker/dockerfile:1\nFROM alpine\nRUN <<EOF\nFROM debian\nEOF\nCOPY <<-\"END\" /x\n\tFROM ubuntu\n\tEND\nFROM busybox\n";
        let dockerfile = parse(text);
        assert_eq!(references(&dockerfile), vec!["alpine", "busybox"]);
        assert_eq!(dockerfile.stages()[1].line, 9);
    }

    #[test]
    fn unterminated_heredoc_is_an_error() {
        assert_eq!(parse_error("FROM alpine\nRUN <<EOF\necho\n").0, 2);
    }

    #[test]
    fn pinned_replaces_only_the_image_word() {
        let text = "# syntax=docker/dockerfile:1\nARG TAG=3\n# the base\nFROM --platform=$BUILDPLATFORM alpine:${TAG} AS build\nRUN echo alpine\nFROM scratch\nFROM build AS again\nfrom  debian:12\tas final\nCOPY --from=build / /\n";
        let dockerfile = parse_with(text, &[("BUILDPLATFORM", "linux/amd64")]);
        let pinned = dockerfile.pinned(&BTreeMap::from([
            (
                image_on("alpine:3", "linux/amd64"),
                "sha256:aaa".to_string(),
            ),
            (image("debian:12"), "sha256:ddd".to_string()),
        ]));
        assert_eq!(
            pinned,
            "# syntax=docker/dockerfile:1\nARG TAG=3\n# the base\nFROM --platform=$BUILDPLATFORM sha256:aaa AS build\nRUN echo alpine\nFROM scratch\nFROM build AS again\nfrom  sha256:ddd\tas final\nCOPY --from=build / /\n"
        );
    }

    #[test]
    fn pinned_leaves_unmapped_bases_alone() {
        let text = "FROM a\nFROM b\nFROM a\n";
        let dockerfile = parse(text);
        let pinned = dockerfile.pinned(&BTreeMap::from([(image("a"), "sha256:1".to_string())]));
        assert_eq!(pinned, "FROM sha256:1\nFROM b\nFROM sha256:1\n");
        assert_eq!(dockerfile.pinned(&BTreeMap::new()), text);
    }

    #[test]
    fn pinned_distinguishes_platforms() {
        let text = "FROM --platform=linux/amd64 a\nFROM a\n";
        let dockerfile = parse(text);
        let pinned = dockerfile.pinned(&BTreeMap::from([
            (image_on("a", "linux/amd64"), "sha256:amd".to_string()),
            (image("a"), "sha256:target".to_string()),
        ]));
        assert_eq!(
            pinned,
            "FROM --platform=linux/amd64 sha256:amd\nFROM sha256:target\n"
        );
    }

    #[test]
    fn pinned_keeps_continuation_layout() {
        let text = "FROM \\\n  # comment\n  alpine \\\n  AS base\nRUN true\n";
        let dockerfile = parse(text);
        assert_eq!(
            pin_all(&dockerfile),
            format!(
                "FROM \\\n  # comment\n  sha256:{:064} \\\n  AS base\nRUN true\n",
                0
            )
        );
    }

    #[test]
    fn pinned_word_broken_over_lines_keeps_line_numbers() {
        let text = "FROM alp\\\n# c\nine AS x\nFROM x\nRUN true\n";
        let dockerfile = parse(text);
        assert_eq!(references(&dockerfile), vec!["alpine"]);
        let pinned = pin_all(&dockerfile);
        assert_eq!(
            pinned,
            format!("FROM \\\n\\\nsha256:{:064} AS x\nFROM x\nRUN true\n", 0)
        );
        let reparsed = parse(&pinned);
        assert_eq!(reparsed.stages()[1].line, 4);
        assert_eq!(reparsed.stages()[1].base, StageBase::Stage(0));
    }

    #[test]
    fn pinned_word_at_end_of_broken_instruction() {
        let text = "FROM \\\nalp\\\nine\nRUN true\n";
        let dockerfile = parse(text);
        let pinned = pin_all(&dockerfile);
        let reparsed = parse(&pinned);
        assert_eq!(references(&reparsed), vec![format!("sha256:{:064}", 0)]);
        assert_eq!(pinned.lines().count(), text.lines().count());
    }

    #[test]
    fn pinned_with_backtick_escape() {
        let text = "# escape=`\nFROM a`\nlpine\nRUN dir\n";
        let dockerfile = parse(text);
        assert_eq!(references(&dockerfile), vec!["alpine"]);
        let pinned =
            dockerfile.pinned(&BTreeMap::from([(image("alpine"), "sha256:x".to_string())]));
        assert_eq!(pinned, "# escape=`\nFROM `\nsha256:x\nRUN dir\n");
    }

    #[test]
    fn pinned_text_parses_to_the_ids() {
        let text = "ARG V=3\nFROM alpine:$V AS a\nFROM --platform=linux/arm64 debian AS b\nFROM a\nFROM scratch\n";
        let dockerfile = parse(text);
        let reparsed = parse(&pin_all(&dockerfile));
        assert_eq!(
            reparsed.base_images(),
            vec![
                image(&format!("sha256:{:064}", 0)),
                image_on(&format!("sha256:{:064}", 1), "linux/arm64"),
            ]
        );
        assert_eq!(reparsed.stages()[2].base, StageBase::Stage(0));
        assert_eq!(reparsed.stages()[3].base, StageBase::Scratch);
    }

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
