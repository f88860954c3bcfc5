//! Exit codes and how errors are shown.

/// Everything went well.
pub const SUCCESS: u8 = 0;
/// A build, push or other operation failed.
pub const FAILURE: u8 = 1;
/// The plan or the command line is wrong.
pub const USAGE: u8 = 2;
/// Interrupted by Ctrl-C (128 + SIGINT), as shells report it.
pub const INTERRUPTED: u8 = 130;

/// An error caused by what the user asked for (bad plan, bad arguments): exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The exit code for an error.
pub fn code_for(error: &anyhow::Error) -> u8 {
    let is_usage = error
        .chain()
        .any(|cause| cause.is::<UsageError>() || cause.is::<mab_plan::PlanError>());
    if is_usage { USAGE } else { FAILURE }
}

/// `error: <top>` followed by each cause on its own line (`  caused by: …`).
pub fn render_error(error: &anyhow::Error) -> String {
    let top = error.to_string();
    // A plan error already starts each diagnostic with `error: `.
    let mut text = if top.starts_with("error: ") {
        top
    } else {
        format!("error: {top}")
    };
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if text.contains(&cause) {
            continue; // reqwest and friends repeat their source in their own message
        }
        text.push_str("\n  caused by: ");
        text.push_str(&cause.replace('\n', "\n    "));
    }
    text
}
