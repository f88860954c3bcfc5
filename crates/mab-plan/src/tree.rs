//! The YAML document as a generic tree in which every node knows where it came from.
//!
//! serde stops at the first error, so typed structs (even with `deny_unknown_fields`) can report
//! only one unknown key or wrong type per run, and `#[serde(flatten)]` loses `Spanned` locations.
//! Instead serde-saphyr deserialises the document into this tree (it reports syntax errors with
//! their line and column); [`crate::raw`] then reads the tree and reports every shape problem.
//!
//! Scalars keep their original spelling: `1.10` given where a string is expected stays `"1.10"`
//! (the spelling is cut out of the source text with the node's byte span), not `1.1`.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

/// A 1-based line and character column in the plan file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Position {
    pub(crate) line: usize,
    pub(crate) column: usize,
}

impl Position {
    /// The first character of the file.
    pub(crate) const START: Self = Self { line: 1, column: 1 };

    fn from_location(location: Location) -> Self {
        if location.line() == 0 {
            return Self::START;
        }
        Self {
            line: location.line() as usize,
            column: location.column().max(1) as usize,
        }
    }

    /// The position `chars` characters to the right on the same line (a value of a `--set`
    /// stays where it is: it has no columns).
    pub(crate) fn right(self, chars: usize) -> Self {
        if self.override_index().is_some() {
            return self;
        }
        Self {
            line: self.line,
            column: self.column + chars,
        }
    }

    /// Where the value of the `index`th `--set` of the command line goes: not in the file
    /// (line 0), so that a problem with it is reported as the `--set`'s.
    pub(crate) fn of_override(index: usize) -> Self {
        Self {
            line: 0,
            column: index + 1,
        }
    }

    /// Which `--set` a position is in, if it is one of theirs.
    pub(crate) fn override_index(self) -> Option<usize> {
        (self.line == 0).then(|| self.column.saturating_sub(1))
    }
}

/// What YAML made of a scalar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScalarKind {
    /// `~`, `null` or nothing at all.
    Null,
    /// `true` or `false` (YAML 1.2 spellings only).
    Bool,
    /// An integer or a float, such as `10` or `1.10`.
    Number,
    /// Anything else, quoted or not.
    String,
}

/// One node of the document.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// Where the node starts (for an alias: where the alias is used).
    pub(crate) at: Position,
    pub(crate) value: NodeValue,
}

#[derive(Debug, Clone)]
pub(crate) enum NodeValue {
    Scalar(Scalar),
    Sequence(Vec<Node>),
    Mapping(Vec<(Node, Node)>),
}

#[derive(Debug, Clone)]
pub(crate) struct Scalar {
    pub(crate) kind: ScalarKind,
    /// The string's value; for a null, boolean or number, its spelling in the file.
    pub(crate) text: String,
    /// How many characters after [`Node::at`] the text starts when it appears verbatim on one
    /// line of the file (0 for a plain scalar, 1 for a quoted one without escapes), so that a
    /// message can point inside the value; `None` when it does not appear verbatim.
    pub(crate) verbatim_offset: Option<usize>,
}

impl Node {
    /// A short description of what the node is, for "found ..." in messages.
    pub(crate) fn describe(&self) -> String {
        match &self.value {
            NodeValue::Scalar(scalar) => match scalar.kind {
                ScalarKind::Null => "an empty value".to_string(),
                ScalarKind::Bool => format!("the boolean `{}`", scalar.text),
                ScalarKind::Number => format!("the number `{}`", scalar.text),
                ScalarKind::String => format!("the string {:?}", scalar.text),
            },
            NodeValue::Sequence(_) => "a list".to_string(),
            NodeValue::Mapping(_) => "a mapping".to_string(),
        }
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(&self.value, NodeValue::Scalar(s) if s.kind == ScalarKind::Null)
    }
}

/// A YAML syntax error (or a document serde-saphyr refuses), with its message and position.
#[derive(Debug)]
pub(crate) struct SyntaxError {
    pub(crate) at: Position,
    pub(crate) message: String,
}

/// Parses `text` into a tree. Duplicate keys are passed through; [`crate::raw`] reports them all.
pub(crate) fn parse(text: &str) -> Result<Node, SyntaxError> {
    let mut options = serde_saphyr::Options::default();
    // YAML 1.2 booleans only: `yes`, `on` or `N` stay strings.
    options.strict_booleans = true;
    // `010` and `1_000` stay strings (they are not numbers in YAML 1.2's core schema).
    options.leading_zero_numbers_as_strings = true;
    options.underscored_numbers_as_strings = true;
    // `.nan` and `1e999` are numbers whose spelling we keep, not errors.
    options.non_finite_float_policy = serde_saphyr::NonFiniteFloatPolicy::PassThrough;
    // Every repeated key reaches the tree, so that all of them can be reported at once.
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::PassThrough;
    // We render our own snippet.
    options.with_snippet = false;

    match serde_saphyr::from_str_with_options::<Spanned<SpannedValue>>(text, options) {
        Ok(root) => Ok(to_node(root, text)),
        Err(error) => Err(syntax_error(&error)),
    }
}

fn syntax_error(error: &serde_saphyr::Error) -> SyntaxError {
    use serde_saphyr::MessageFormatter;
    let error = error.without_snippet();
    let at = error
        .location()
        .map(Position::from_location)
        .unwrap_or(Position::START);
    let message = match error {
        serde_saphyr::Error::MultipleDocuments { .. } => {
            "a plan is one YAML document, but this file has another one here".to_string()
        }
        other => {
            let message = serde_saphyr::UserMessageFormatter.format_message(other);
            format!(
                "invalid YAML: {}",
                lower_first(message.trim_end_matches('.'))
            )
        }
    };
    SyntaxError { at, message }
}

fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) if !text.starts_with("YAML") => first.to_lowercase().chain(chars).collect(),
        _ => text.to_string(),
    }
}

/// What serde-saphyr gives us: untyped values whose children carry spans.
enum SpannedValue {
    Null,
    Bool(bool),
    Integer(String),
    Float(f64),
    String(String),
    Sequence(Vec<Spanned<SpannedValue>>),
    Mapping(Vec<(Spanned<SpannedValue>, Spanned<SpannedValue>)>),
}

impl<'de> Deserialize<'de> for SpannedValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SpannedValueVisitor)
    }
}

struct SpannedValueVisitor;

impl<'de> Visitor<'de> for SpannedValueVisitor {
    type Value = SpannedValue;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any YAML value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<SpannedValue, E> {
        Ok(SpannedValue::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<SpannedValue, E> {
        Ok(SpannedValue::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<SpannedValue, D::Error> {
        SpannedValue::deserialize(deserializer)
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<SpannedValue, E> {
        Ok(SpannedValue::Bool(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<SpannedValue, E> {
        Ok(SpannedValue::Integer(value.to_string()))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<SpannedValue, E> {
        Ok(SpannedValue::Integer(value.to_string()))
    }

    fn visit_i128<E: de::Error>(self, value: i128) -> Result<SpannedValue, E> {
        Ok(SpannedValue::Integer(value.to_string()))
    }

    fn visit_u128<E: de::Error>(self, value: u128) -> Result<SpannedValue, E> {
        Ok(SpannedValue::Integer(value.to_string()))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<SpannedValue, E> {
        Ok(SpannedValue::Float(value))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<SpannedValue, E> {
        Ok(SpannedValue::String(value.to_string()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<SpannedValue, E> {
        Ok(SpannedValue::String(value))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<SpannedValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = access.next_element()? {
            items.push(item);
        }
        Ok(SpannedValue::Sequence(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<SpannedValue, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = access.next_key()? {
            let value = access.next_value()?;
            entries.push((key, value));
        }
        Ok(SpannedValue::Mapping(entries))
    }
}

fn to_node(spanned: Spanned<SpannedValue>, text: &str) -> Node {
    let at = Position::from_location(spanned.referenced);
    // For an alias the referenced span is `*name`; the defined one is the anchored value.
    let source = source_text(spanned.defined, text);
    let scalar = |kind: ScalarKind, fallback: String| {
        let text = match kind {
            ScalarKind::String => fallback,
            _ => source
                .map(str::trim)
                .filter(|s| !s.is_empty() || kind == ScalarKind::Null)
                .map(str::to_string)
                .unwrap_or(fallback),
        };
        let verbatim_offset = verbatim_offset(&text, source, spanned.referenced, spanned.defined);
        NodeValue::Scalar(Scalar {
            kind,
            text,
            verbatim_offset,
        })
    };
    let value = match spanned.value {
        SpannedValue::Null => scalar(ScalarKind::Null, String::new()),
        SpannedValue::Bool(value) => scalar(ScalarKind::Bool, value.to_string()),
        SpannedValue::Integer(value) => scalar(ScalarKind::Number, value),
        SpannedValue::Float(value) => scalar(ScalarKind::Number, value.to_string()),
        SpannedValue::String(value) => scalar(ScalarKind::String, value),
        SpannedValue::Sequence(items) => {
            NodeValue::Sequence(items.into_iter().map(|item| to_node(item, text)).collect())
        }
        SpannedValue::Mapping(entries) => NodeValue::Mapping(
            entries
                .into_iter()
                .map(|(key, value)| (to_node(key, text), to_node(value, text)))
                .collect(),
        ),
    };
    Node { at, value }
}

/// The source text a location spans, when serde-saphyr knows its bytes.
fn source_text(location: Location, text: &str) -> Option<&str> {
    let span = location.span();
    let start = usize::try_from(span.byte_offset()?).ok()?;
    let len = usize::try_from(span.byte_len()?).ok()?;
    text.get(start..start.checked_add(len)?)
}

fn verbatim_offset(
    value: &str,
    source: Option<&str>,
    referenced: Location,
    defined: Location,
) -> Option<usize> {
    let source = source?;
    if referenced != defined || value.contains('\n') {
        return None;
    }
    if source == value {
        return Some(0);
    }
    let quoted = (source.starts_with('"') && source.ends_with('"'))
        || (source.starts_with('\'') && source.ends_with('\''));
    (quoted && source.len() >= 2 && &source[1..source.len() - 1] == value).then_some(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalars(node: &Node, out: &mut Vec<(String, ScalarKind, Position, Option<usize>)>) {
        match &node.value {
            NodeValue::Scalar(s) => out.push((s.text.clone(), s.kind, node.at, s.verbatim_offset)),
            NodeValue::Sequence(items) => items.iter().for_each(|i| scalars(i, out)),
            NodeValue::Mapping(entries) => entries.iter().for_each(|(k, v)| {
                scalars(k, out);
                scalars(v, out);
            }),
        }
    }

    #[test]
    fn numbers_keep_their_spelling() {
        let root = parse("tags: [1.10, 10, 0x10, 1e3, '1.0', yes, 010, ~]\n").unwrap();
        let mut found = Vec::new();
        scalars(&root, &mut found);
        let texts: Vec<_> = found.iter().map(|(t, k, _, _)| (t.as_str(), *k)).collect();
        assert_eq!(
            texts,
            [
                ("tags", ScalarKind::String),
                ("1.10", ScalarKind::Number),
                ("10", ScalarKind::Number),
                ("0x10", ScalarKind::Number),
                ("1e3", ScalarKind::Number),
                ("1.0", ScalarKind::String),
                ("yes", ScalarKind::String),
                ("010", ScalarKind::String),
                ("~", ScalarKind::Null),
            ]
        );
        let quoted = &found[5];
        assert_eq!(
            quoted.2,
            Position {
                line: 1,
                column: 29
            }
        );
        assert_eq!(quoted.3, Some(1));
    }

    #[test]
    fn aliases_keep_the_anchored_spelling() {
        let root = parse("a: &x 1.50\nb: *x\n").unwrap();
        let mut found = Vec::new();
        scalars(&root, &mut found);
        assert_eq!(found[3].0, "1.50");
        assert_eq!(found[3].2, Position { line: 2, column: 4 });
        assert_eq!(found[3].3, None);
    }

    #[test]
    fn spelling_survives_a_byte_order_mark_and_crlf_line_ends() {
        let root = parse("\u{feff}a: 1\r\ntags: [1.10, \"é\", 2.50]\r\n").unwrap();
        let mut found = Vec::new();
        scalars(&root, &mut found);
        let texts: Vec<_> = found
            .iter()
            .map(|(t, _, at, _)| (t.as_str(), *at))
            .collect();
        assert_eq!(texts[3], ("1.10", Position { line: 2, column: 8 }));
        assert_eq!(
            texts[4],
            (
                "é",
                Position {
                    line: 2,
                    column: 14
                }
            )
        );
        assert_eq!(
            texts[5],
            (
                "2.50",
                Position {
                    line: 2,
                    column: 19
                }
            )
        );
    }

    #[test]
    fn duplicate_keys_reach_the_tree() {
        let root = parse("a: 1\na: 2\n").unwrap();
        let NodeValue::Mapping(entries) = root.value else {
            panic!("not a mapping")
        };
        assert_eq!(entries.len(), 2);
    }

    #[test]
    fn syntax_errors_have_positions() {
        let error = parse("a: [1, 2\nb: c\n").unwrap_err();
        assert_eq!(error.at.line, 2);
        assert!(
            error.message.starts_with("invalid YAML: "),
            "{}",
            error.message
        );
    }
}
