//! Stanzas of `Key: value` (dpkg, os-release) or `K:value` (apk) lines, separated by blank
//! lines; continuation lines (starting with a space or a tab) are joined to their field.

use std::collections::HashMap;

/// The stanzas of `text`, each as its fields (first value of a repeated key wins).
pub(crate) fn stanzas(
    text: &str,
    separator: char,
) -> impl Iterator<Item = HashMap<String, String>> + '_ {
    text.split("\n\n").filter_map(move |block| {
        let mut fields: HashMap<String, String> = HashMap::new();
        let mut last: Option<String> = None;
        for line in block.lines() {
            if line.starts_with([' ', '\t']) {
                if let Some(value) = last.as_ref().and_then(|key| fields.get_mut(key)) {
                    value.push('\n');
                    value.push_str(line.trim());
                }
                continue;
            }
            let Some((key, value)) = line.split_once(separator) else {
                continue;
            };
            let key = key.trim().to_string();
            fields
                .entry(key.clone())
                .or_insert_with(|| value.trim().to_string());
            last = Some(key);
        }
        (!fields.is_empty()).then_some(fields)
    })
}

/// The packages of a database of stanzas, each made by `package` (`None`: not one), sorted.
pub(crate) fn packages(
    text: &str,
    package: impl FnMut(HashMap<String, String>) -> Option<crate::contents::Package>,
) -> Vec<crate::contents::Package> {
    let mut packages: Vec<_> = stanzas(text, ':').filter_map(package).collect();
    packages.sort();
    packages
}

/// `etc/os-release`: `KEY=value` lines, values maybe quoted.
pub(crate) fn os_release(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let (key, value) = line.trim().split_once('=')?;
            let value = value.trim();
            let unquoted = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(value);
            Some((key.trim().to_string(), unquoted.to_string()))
        })
        .collect()
}
