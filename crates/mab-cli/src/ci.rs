//! What `mab build` gives CI besides its output: `--metadata-file` (the `--json` document,
//! written atomically, also when the run fails) and, under GitHub Actions (`GITHUB_ACTIONS=true`),
//! step outputs (`GITHUB_OUTPUT`), a job summary (`GITHUB_STEP_SUMMARY`) and `::error::`
//! annotations.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::exit::UsageError;

/// `--metadata-file F`: a temporary file next to F, opened before anything is built (so that an
/// unwritable place is a usage error and nothing is built), renamed over F when the run ends.
pub struct MetadataFile {
    path: PathBuf,
    temp: tempfile::NamedTempFile,
}

impl MetadataFile {
    /// Checks that `path` can be written, by opening a temporary file in its folder.
    pub fn open(path: &Path) -> Result<Self, UsageError> {
        let unwritable = |why: String| {
            UsageError(format!(
                "--metadata-file {}: cannot be written: {why}",
                path.display()
            ))
        };
        if path.is_dir() {
            return Err(unwritable("it is a folder".to_string()));
        }
        let folder = match path.parent() {
            Some(folder) if !folder.as_os_str().is_empty() => folder,
            _ => Path::new("."),
        };
        if !folder.is_dir() {
            return Err(unwritable(format!(
                "its folder {} does not exist",
                folder.display()
            )));
        }
        let temp = tempfile::Builder::new()
            .prefix(".mab-metadata-")
            .tempfile_in(folder)
            .map_err(|e| unwritable(format!("{} in {}", e.kind(), folder.display())))?;
        Ok(Self {
            path: path.to_path_buf(),
            temp,
        })
    }

    /// Writes `document` (pretty JSON and a newline) and renames it over the file, so that a
    /// reader sees the old file or the whole new one.
    pub fn write(mut self, document: &impl serde::Serialize) -> anyhow::Result<()> {
        let mut text = serde_json::to_string_pretty(document)?;
        text.push('\n');
        let file = self.temp.as_file_mut();
        file.write_all(text.as_bytes())?;
        // A temporary file is private; the metadata is not.
        file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
        file.sync_all()?;
        self.temp.persist(&self.path).map_err(|e| {
            anyhow::anyhow!(
                "writing --metadata-file {}: {}",
                self.path.display(),
                e.error
            )
        })?;
        Ok(())
    }
}

/// One row of the job summary.
pub struct SummaryRow {
    pub image: String,
    pub platform: String,
    pub digest: String,
    pub size: String,
    pub time: String,
    pub how: String,
}

/// GitHub Actions' files and annotations, when the run is a GitHub Actions step.
pub struct GitHub {
    output: Option<PathBuf>,
    summary: Option<PathBuf>,
}

impl GitHub {
    /// `Some` when `GITHUB_ACTIONS` is `true`.
    pub fn from_env() -> Option<Self> {
        if std::env::var("GITHUB_ACTIONS").ok().as_deref() != Some("true") {
            return None;
        }
        let file = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Some(Self {
            output: file("GITHUB_OUTPUT"),
            summary: file("GITHUB_STEP_SUMMARY"),
        })
    }

    /// Appends `metadata=<compact JSON>` and each `NAME=VALUE` of `outputs` to `GITHUB_OUTPUT`.
    pub fn write_outputs(
        &self,
        document: &impl serde::Serialize,
        outputs: &[(String, String)],
    ) -> anyhow::Result<()> {
        let Some(path) = &self.output else {
            return Ok(());
        };
        // Compact JSON is one line: strings keep their newlines escaped.
        let mut text = format!("metadata={}\n", serde_json::to_string(document)?);
        for (name, value) in outputs {
            text.push_str(&format!("{name}={value}\n"));
        }
        append(path, &text, "GITHUB_OUTPUT")
    }

    /// Appends a markdown table of `rows` (and the errors) to `GITHUB_STEP_SUMMARY`.
    pub fn write_summary(
        &self,
        title: &str,
        rows: &[SummaryRow],
        errors: &[String],
    ) -> anyhow::Result<()> {
        let Some(path) = &self.summary else {
            return Ok(());
        };
        append(
            path,
            &summary_markdown(title, rows, errors),
            "GITHUB_STEP_SUMMARY",
        )
    }
}

/// An `::error::` workflow command for `message` (`title` shown above it, e.g. the image and
/// platform), escaped as GitHub's runner reads it.
pub fn error_annotation(title: Option<&str>, message: &str) -> String {
    let data = message
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A");
    match title {
        Some(title) => {
            let title = title
                .replace('%', "%25")
                .replace('\r', "%0D")
                .replace('\n', "%0A")
                .replace(':', "%3A")
                .replace(',', "%2C");
            format!("::error title={title}::{data}")
        }
        None => format!("::error::{data}"),
    }
}

/// The job summary: a heading, a table (image, platform, digest, size, time, built/reused)
/// and the errors.
pub fn summary_markdown(title: &str, rows: &[SummaryRow], errors: &[String]) -> String {
    let cell = |text: &str| text.replace('|', "\\|").replace('\n', " ");
    let mut text = format!("### {title}\n\n");
    if !rows.is_empty() {
        text.push_str("| image | platform | digest | size | time | |\n");
        text.push_str("|---|---|---|---:|---:|---|\n");
        for row in rows {
            text.push_str(&format!(
                "| `{}` | {} | `{}` | {} | {} | {} |\n",
                cell(&row.image),
                cell(&row.platform),
                cell(&row.digest),
                cell(&row.size),
                cell(&row.time),
                cell(&row.how)
            ));
        }
        text.push('\n');
    }
    for error in errors {
        text.push_str(&format!(
            "> [!CAUTION]\n> {}\n\n",
            error.replace('\n', "\n> ")
        ));
    }
    text
}

/// `NAME` for `NAME-digest` outputs: letters, digits, `-` and `_`; anything else becomes `-`.
pub fn output_name(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn append(path: &Path, text: &str, what: &str) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot write {what} ({}): {e}", path.display()))?;
    file.write_all(text.as_bytes())
        .map_err(|e| anyhow::anyhow!("cannot write {what} ({}): {e}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_annotations_are_escaped() {
        assert_eq!(
            error_annotation(Some("app linux/arm64"), "100% failed\nat step 2"),
            "::error title=app linux/arm64::100%25 failed%0Aat step 2"
        );
        assert_eq!(
            error_annotation(Some("a:b,c"), "x"),
            "::error title=a%3Ab%2Cc::x"
        );
        assert_eq!(error_annotation(None, "x"), "::error::x");
    }

    #[test]
    fn output_names_are_safe() {
        assert_eq!(output_name("app"), "app");
        assert_eq!(output_name("team/app.v2"), "team-app-v2");
    }

    #[test]
    fn the_summary_is_a_markdown_table() {
        let rows = [SummaryRow {
            image: "127.0.0.1:5000/a|b".to_string(),
            platform: "linux/amd64".to_string(),
            digest: "sha256:0123".to_string(),
            size: "1.0 MiB".to_string(),
            time: "1.2s".to_string(),
            how: "built".to_string(),
        }];
        let text = summary_markdown("mab build plan.yaml", &rows, &["boom\nline 2".to_string()]);
        assert_eq!(
            text,
            "### mab build plan.yaml\n\n\
             | image | platform | digest | size | time | |\n\
             |---|---|---|---:|---:|---|\n\
             | `127.0.0.1:5000/a\\|b` | linux/amd64 | `sha256:0123` | 1.0 MiB | 1.2s | built |\n\n\
             > [!CAUTION]\n> boom\n> line 2\n\n"
        );
    }

    #[test]
    fn the_metadata_file_replaces_the_old_one_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.json");
        std::fs::write(&path, "old").unwrap();
        let file = MetadataFile::open(&path).unwrap();
        // Until the end, the old file stays.
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        file.write(&serde_json::json!({"images": []})).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\n  \"images\": []\n}\n"
        );
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1);
    }

    #[test]
    fn an_unwritable_metadata_file_is_a_usage_error() {
        let error = MetadataFile::open(Path::new("/nonexistent/folder/meta.json"))
            .err()
            .unwrap();
        assert!(
            error
                .0
                .ends_with("cannot be written: its folder /nonexistent/folder does not exist"),
            "{}",
            error.0
        );
        let dir = tempfile::tempdir().unwrap();
        let error = MetadataFile::open(dir.path()).err().unwrap();
        assert!(error.0.contains("it is a folder"), "{}", error.0);
    }
}
