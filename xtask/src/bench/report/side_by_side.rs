//! BENCHMARKS.md for several engines: their summaries side by side, then each engine's whole
//! report, its headings one level down.

use std::fmt::Write as _;

use super::markdown::markdown;
use super::measured::Results;
use super::summary::{Row, rows};

/// BENCHMARKS.md: each engine's summary side by side (when there are several), then each
/// engine's whole report, its headings one level down.
pub fn markdown_all(all: &[Results]) -> String {
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(w, "# Benchmarks\n");
    let engines: Vec<String> = all.iter().map(|r| r.machine.docker.clone()).collect();
    let _ = writeln!(
        w,
        "Written by `{}`: the same benchmarks on {} engine(s), one after the other: {}. \
         Reproduce with `cargo xtask bench` (both engines, medians of 5 runs), `--quick` (2 \
         runs), `--engine 20.10|newest` (one).\n",
        all.first()
            .map_or("cargo xtask bench", |r| r.command.as_str()),
        all.len(),
        engines.join("; ")
    );
    if all.len() > 1 {
        let _ = writeln!(w, "## Both engines side by side\n");
        // Rows by (benchmark, figure), in the order they first appear.
        let mut keys: Vec<(String, String, String)> = Vec::new();
        let mut cells: Vec<std::collections::HashMap<(String, String), Row>> = Vec::new();
        for r in all {
            let mut of_engine = std::collections::HashMap::new();
            let mut group = String::new();
            let mut after: Option<usize> = None;
            for x in rows(r) {
                if !x.bench.is_empty() {
                    group = x.bench.clone();
                }
                let key = (group.clone(), x.figure.trim().to_string());
                match keys.iter().position(|(g, f, _)| (g, f) == (&key.0, &key.1)) {
                    Some(at) => after = Some(at),
                    // A row only this engine has goes right after the row before it here.
                    None => {
                        let at = after.map_or(keys.len(), |a| a + 1);
                        keys.insert(at, (key.0.clone(), key.1.clone(), x.target.clone()));
                        after = Some(at);
                    }
                }
                of_engine.insert(key, x);
            }
            cells.push(of_engine);
        }
        let heads: Vec<String> = all
            .iter()
            .map(|r| {
                let short = r
                    .machine
                    .docker
                    .split(" (")
                    .next()
                    .unwrap_or("")
                    .to_string();
                format!("{short}: median | ratio | result")
            })
            .collect();
        let _ = writeln!(w, "| benchmark | figure | target | {} |", heads.join(" | "));
        let _ = writeln!(w, "|---|---|---|{}", "---:|---:|---|".repeat(all.len()));
        let mut last_group = String::new();
        for (group, figure, target) in &keys {
            let shown = if *group == last_group {
                ""
            } else {
                group.as_str()
            };
            last_group = group.clone();
            let mut line = format!("| {shown} | {figure} | {target} |");
            for of_engine in &cells {
                match of_engine.get(&(group.clone(), figure.clone())) {
                    Some(x) => {
                        let result = if x.result == "PASS" || x.result == "MISS" {
                            format!("**{}**", x.result)
                        } else {
                            x.result.clone()
                        };
                        let _ = write!(line, " {} | {} | {result} |", x.value, x.ratio);
                    }
                    None => line.push_str(" n/a | | not measured on this engine |"),
                }
            }
            let _ = writeln!(w, "{line}");
        }
        let _ = writeln!(w);
    }
    for r in all {
        let one = markdown(r);
        let title = format!(
            "## {}",
            r.machine.docker.split(" (").next().unwrap_or("engine")
        );
        let body = one
            .replace("\n## ", "\n### ")
            .replacen("# Benchmarks", &title, 1);
        w.push_str(&body);
        w.push('\n');
    }
    s
}
