//! The figures: what was measured, the summary table (terminal) and BENCHMARKS.md.

mod figures;
mod machine;
mod markdown;
mod measured;
mod side_by_side;
mod summary;

pub use figures::human;
pub(crate) use figures::{fmt_ratio, median, ratio, secs, verdict, walls};
pub use machine::{Machine, loadavg};
pub use measured::{DockerFlow, Flow, MabRun, Push, Results, Scale};
pub use side_by_side::markdown_all;
pub use summary::table;
pub(crate) use summary::{Row, row};
