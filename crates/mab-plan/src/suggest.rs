//! "Did you mean ...?" for misspelt keys and values.

/// The candidate closest to `word` by edit distance (ignoring case, `-` versus `_`, and counting
/// a swap of two neighbours as one edit), if it is close enough to be a likely typo.
pub(crate) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let normal = |s: &str| -> Vec<char> {
        s.chars()
            .map(|c| {
                if c == '-' {
                    '_'
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect()
    };
    let word = normal(word);
    candidates
        .iter()
        .map(|candidate| (edit_distance(&word, &normal(candidate)), *candidate))
        .filter(|(distance, candidate)| *distance <= (candidate.len() / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps.
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMAGE_KEYS: &[&str] = &[
        "repository",
        "context",
        "dockerfile",
        "platforms",
        "tags",
        "build_args",
        "format",
    ];

    #[test]
    fn suggests_near_misses() {
        assert_eq!(closest("platfroms", IMAGE_KEYS), Some("platforms"));
        assert_eq!(closest("platform", IMAGE_KEYS), Some("platforms"));
        assert_eq!(closest("tag", IMAGE_KEYS), Some("tags"));
        assert_eq!(closest("buildArgs", IMAGE_KEYS), Some("build_args"));
        assert_eq!(closest("build-args", IMAGE_KEYS), Some("build_args"));
        assert_eq!(closest("Dockerfile", IMAGE_KEYS), Some("dockerfile"));
        assert_eq!(closest("repo", IMAGE_KEYS), None);
        assert_eq!(closest("x", IMAGE_KEYS), None);
        assert_eq!(closest("squash", IMAGE_KEYS), None);
    }
}
