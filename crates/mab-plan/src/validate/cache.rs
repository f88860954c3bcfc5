//! `cache_from`: the images whose build cache a build may use, each a valid image reference
//! (`repository[:tag][@sha256:digest]`) once variables are expanded.

use super::{Validator, shown};
use crate::Repository;
use crate::raw::{Field, Item, Text};

impl Validator<'_, '_, '_, '_> {
    /// The images of `cache_from`, expanded and checked; duplicates are reported.
    pub(super) fn cache_images(&mut self, field: &Field<Vec<Item<Text>>>) -> Field<Vec<String>> {
        let list = match field {
            Field::Absent => return Field::Absent,
            Field::Invalid => return Field::Invalid,
            Field::Given(list) => list,
        };
        let mut images: Vec<(String, &Text)> = Vec::new();
        let mut valid = true;
        for text in list {
            let Some(text) = text else {
                valid = false;
                continue;
            };
            let Some(value) = self.expand_non_empty(text, "an image of `cache_from`", "") else {
                valid = false;
                continue;
            };
            if let Err(reason) = check_image_reference(&value) {
                self.diagnostics.error(
                    text.at,
                    format!(
                        "invalid image {} in `cache_from`: {reason}",
                        shown(text, &value)
                    ),
                );
                valid = false;
                continue;
            }
            if let Some((_, first)) = images.iter().find(|(image, _)| *image == value) {
                self.diagnostics.error(
                    text.at,
                    format!(
                        "image {} is listed twice in `cache_from` (first at line {})",
                        shown(text, &value),
                        first.at.line
                    ),
                );
                valid = false;
                continue;
            }
            images.push((value, text));
        }
        if valid {
            Field::Given(images.into_iter().map(|(image, _)| image).collect())
        } else {
            Field::Invalid
        }
    }
}

/// `repository[:tag][@sha256:<64 hex>]`, explaining what is wrong.
pub(crate) fn check_image_reference(reference: &str) -> Result<(), String> {
    let (name, digest) = match reference.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (reference, None),
    };
    if let Some(digest) = digest {
        let hex = digest.strip_prefix("sha256:").ok_or_else(|| {
            format!("the digest `{digest}` is not `sha256:` followed by 64 hex digits")
        })?;
        if hex.len() != 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            return Err(format!(
                "the digest `{digest}` is not `sha256:` followed by 64 lower-case hex digits"
            ));
        }
    }
    // A `:` after the last `/` starts a tag; before it, it is a registry's port.
    let (repository, tag) = match name.rfind(':') {
        Some(colon) if !name[colon..].contains('/') => (&name[..colon], Some(&name[colon + 1..])),
        _ => (name, None),
    };
    if tag == Some("") {
        return Err("it ends with `:` but no tag follows".to_string());
    }
    if let Some(tag) = tag {
        super::tags::check_tag(tag).map_err(|reason| format!("invalid tag `{tag}`: {reason}"))?;
    }
    Repository::parse(repository)?;
    // What the checks above let through, the one reference parser has the last word on.
    mab_vocab::ImageReference::parse(reference)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::check_image_reference;

    #[test]
    fn image_references_have_a_repository_and_an_optional_tag_and_digest() {
        let digest = format!("sha256:{}", "a".repeat(64));
        for good in [
            "ghcr.io/team/app".to_string(),
            "ghcr.io/team/app:buildcache".to_string(),
            "127.0.0.1:5000/team/app".to_string(),
            "127.0.0.1:5000/team/app:1.2".to_string(),
            format!("127.0.0.1:5000/team/app@{digest}"),
            format!("alpine:3@{digest}"),
        ] {
            assert_eq!(check_image_reference(&good), Ok(()), "{good}");
        }
        for (bad, why) in [
            ("ghcr.io/Team/app", "upper-case"),
            ("ghcr.io/team/app:", "no tag follows"),
            ("ghcr.io/team/app:a b", "whitespace"),
            ("ghcr.io/team/app@sha256:abc", "64"),
            ("ghcr.io/team/app@md5:abc", "sha256:"),
            ("https://ghcr.io/team/app", "scheme"),
        ] {
            let error = check_image_reference(bad).unwrap_err();
            assert!(error.contains(why), "{bad}: {error}");
        }
    }
}
