//! `tags`: plain tags and semver versions expanded to their tags, each valid by the
//! distribution spec, none twice.

use std::collections::HashMap;

use super::{Validator, check_characters, shown};
use crate::raw::{Field, Item, RawTag};
use crate::tree::Position;

/// The longest tag the distribution spec allows.
const MAX_TAG_LENGTH: usize = 128;

impl Validator<'_, '_, '_, '_> {
    pub(super) fn tags(&mut self, field: &Field<Vec<Item<RawTag>>>) -> Field<Vec<String>> {
        let list = match field {
            Field::Invalid => return Field::Invalid,
            Field::Absent => return Field::Absent,
            Field::Given(list) => list,
        };
        let mut tags = Vec::new();
        // Each tag, with where it was written and, for a semver expansion, the version.
        let mut first_seen: HashMap<String, Position> = HashMap::new();
        let mut valid = true;
        for item in list {
            let Some(item) = item else {
                valid = false;
                continue;
            };
            let (text, expanded) = match item {
                RawTag::Plain(text) => {
                    let Some(tag) = self.expand_non_empty(text, "a tag", "") else {
                        valid = false;
                        continue;
                    };
                    if let Err(reason) = check_tag(&tag) {
                        self.diagnostics.error(
                            text.at,
                            format!("invalid tag {}: {reason}", shown(text, &tag)),
                        );
                        valid = false;
                        continue;
                    }
                    (text, vec![(tag, String::new())])
                }
                RawTag::Semver { version, latest } => {
                    let Some(value) = self.expand(version) else {
                        valid = false;
                        continue;
                    };
                    match crate::semver::expand(&value, *latest) {
                        Ok(expanded) => {
                            let origin = format!(" (from the semver expansion of `{value}`)");
                            let mut out = Vec::new();
                            for tag in expanded {
                                if let Err(reason) = check_tag(&tag) {
                                    self.diagnostics.error(
                                        version.at,
                                        format!("invalid tag `{tag}`{origin}: {reason}"),
                                    );
                                    valid = false;
                                    continue;
                                }
                                out.push((tag, origin.clone()));
                            }
                            (version, out)
                        }
                        Err(reason) => {
                            self.diagnostics.error(
                                version.at,
                                format!(
                                    "invalid semver version {}: {reason}",
                                    shown(version, &value)
                                ),
                            );
                            valid = false;
                            continue;
                        }
                    }
                }
            };
            // Tags this item repeats, reported together.
            let mut repeated: Vec<(String, Position)> = Vec::new();
            let mut origin = String::new();
            for (tag, tag_origin) in expanded {
                if let Some(first) = first_seen.get(&tag) {
                    repeated.push((tag, *first));
                    origin = tag_origin;
                    continue;
                }
                first_seen.insert(tag.clone(), text.at);
                tags.push(tag);
            }
            match repeated.as_slice() {
                [] => {}
                [(tag, first)] => {
                    let written = if origin.is_empty() {
                        shown(text, tag)
                    } else {
                        format!("`{tag}`{origin}")
                    };
                    self.diagnostics.error(
                        text.at,
                        format!(
                            "tag {written} is listed twice (first at line {}, column {})",
                            first.line, first.column
                        ),
                    );
                    valid = false;
                }
                [.., (_, first)] => {
                    let list: Vec<String> =
                        repeated.iter().map(|(tag, _)| format!("`{tag}`")).collect();
                    self.diagnostics.error(
                        text.at,
                        format!(
                            "tags {}{origin} are listed already (first at line {}, column {})",
                            list.join(", "),
                            first.line,
                            first.column
                        ),
                    );
                    valid = false;
                }
            }
        }
        if valid {
            Field::Given(tags)
        } else {
            Field::Invalid
        }
    }
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`, explaining what is wrong.
pub(super) fn check_tag(tag: &str) -> Result<(), String> {
    check_characters(tag, "a tag is letters, digits, `_`, `.` and `-`")?;
    let first = tag.chars().next().unwrap_or_default();
    if first == '.' || first == '-' {
        return Err(format!("a tag must not start with `{first}`"));
    }
    let length = tag.chars().count();
    if length > MAX_TAG_LENGTH {
        return Err(format!(
            "it is {length} characters long; the limit is {MAX_TAG_LENGTH}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_tags() {
        for good in ["latest", "1.0.0", "v1", "_x", "A-b_c.d", &"a".repeat(128)] {
            assert_eq!(check_tag(good), Ok(()), "{good}");
        }
        let cases = [
            ("", "it is empty"),
            (".x", "must not start with `.`"),
            ("-x", "must not start with `-`"),
            ("1.0+build", "`+` is not allowed"),
            ("a b", "whitespace is not allowed"),
            ("a:b", "`:` is not allowed"),
        ];
        for (bad, want) in cases {
            let reason = check_tag(bad).unwrap_err();
            assert!(reason.contains(want), "{bad}: {reason}");
        }
        assert!(
            check_tag(&"a".repeat(129))
                .unwrap_err()
                .contains("the limit is 128")
        );
    }
}
