//! Semver tag expansion: `{ semver: "1.2.3" }` is the tags `1.2.3`, `1.2` and `1`.
//!
//! - The version is `MAJOR.MINOR.PATCH` (numbers without leading zeros), optionally preceded by
//!   `v` (dropped: `v1.2.3` gives the same tags as `1.2.3`, so `${GIT_TAG}` can be used as is).
//! - A pre-release (`1.2.3-rc.1`) expands only to itself: `1.2` and `1` name releases.
//! - Build metadata (`1.2.3+build.5`) is refused: `+` cannot appear in a tag.
//! - `latest: true` adds `latest` (never for a pre-release).

/// The tags a semver version expands to, most specific first.
pub(crate) fn expand(version: &str, latest: bool) -> Result<Vec<String>, String> {
    let bare = version.strip_prefix('v').unwrap_or(version);
    if bare.is_empty() {
        return Err("it is empty".to_string());
    }
    if let Some(at) = bare.find('+') {
        return Err(format!(
            "it has build metadata (`{}`), which a tag cannot carry (`+` is not allowed in tags)",
            &bare[at..]
        ));
    }
    let (core, pre_release) = match bare.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (bare, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    let [major, minor, patch] = parts.as_slice() else {
        return Err(format!(
            "`{core}` has {} part{}; a version is MAJOR.MINOR.PATCH, e.g. 1.2.3",
            parts.len(),
            if parts.len() == 1 { "" } else { "s" }
        ));
    };
    for (what, part) in [("major", major), ("minor", minor), ("patch", patch)] {
        check_number(what, part)?;
    }
    if let Some(pre) = pre_release {
        check_pre_release(pre)?;
        return Ok(vec![bare.to_string()]);
    }
    let mut tags = vec![
        format!("{major}.{minor}.{patch}"),
        format!("{major}.{minor}"),
        major.to_string(),
    ];
    if latest {
        tags.push("latest".to_string());
    }
    Ok(tags)
}

fn check_number(what: &str, part: &str) -> Result<(), String> {
    if part.is_empty() {
        return Err(format!("the {what} version is empty"));
    }
    if !part.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("the {what} version `{part}` is not a number"));
    }
    if part.len() > 1 && part.starts_with('0') {
        return Err(format!(
            "the {what} version `{part}` has a leading zero, which semver does not allow"
        ));
    }
    Ok(())
}

fn check_pre_release(pre: &str) -> Result<(), String> {
    for identifier in pre.split('.') {
        if identifier.is_empty() {
            return Err(format!("the pre-release `{pre}` has an empty part"));
        }
        if !identifier
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(format!(
                "the pre-release `{pre}` may only have letters, digits, `-` and `.`"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_release_expands_to_its_shorter_forms() {
        assert_eq!(expand("1.2.3", false).unwrap(), ["1.2.3", "1.2", "1"]);
        assert_eq!(expand("v10.0.7", false).unwrap(), ["10.0.7", "10.0", "10"]);
        assert_eq!(
            expand("0.1.0", true).unwrap(),
            ["0.1.0", "0.1", "0", "latest"]
        );
    }

    #[test]
    fn a_pre_release_expands_to_itself_only() {
        assert_eq!(expand("1.2.3-rc.1", true).unwrap(), ["1.2.3-rc.1"]);
        assert_eq!(expand("v2.0.0-beta-2", false).unwrap(), ["2.0.0-beta-2"]);
    }

    #[test]
    fn rejects_what_is_not_a_version() {
        let cases = [
            ("", "it is empty"),
            ("v", "it is empty"),
            ("1.2", "has 2 parts"),
            ("1", "has 1 part;"),
            ("1.2.3.4", "has 4 parts"),
            ("1.x.3", "minor version `x` is not a number"),
            ("01.2.3", "leading zero"),
            ("1..3", "minor version is empty"),
            ("1.2.3+build.1", "build metadata (`+build.1`)"),
            ("1.2.3-", "pre-release `` has an empty part"),
            ("1.2.3-rc..1", "empty part"),
            ("1.2.3-rc_1", "may only have letters"),
            ("latest", "has 1 part"),
        ];
        for (input, want) in cases {
            let reason = expand(input, false).unwrap_err();
            assert!(reason.contains(want), "{input}: {reason}");
        }
    }
}
