//! `mab builders ls [PLAN]`, and the fleet of builders every command that builds uses: the
//! plan's `builders:`, or one builder from `DOCKER_HOST` (else the local socket).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use mab_build::{BuilderConfig, BuilderStatus, DaemonEndpoint, Fleet, TlsFiles};
use mab_pipeline::FleetBuilders as Builders;
use mab_plan::Plan;
use serde::Serialize;

use crate::exit::{FAILURE, SUCCESS};
use crate::progress::Progress;

#[derive(Debug, Args)]
pub struct BuildersArgs {
    #[command(subcommand)]
    pub command: BuildersCommand,
}

#[derive(Debug, Subcommand)]
pub enum BuildersCommand {
    /// List each builder: endpoint, reachable or not (and why), engine version, native
    /// platforms, platforms it can emulate, containers running (builds in progress). Exit code
    /// 1 when one is unreachable.
    Ls {
        /// A plan whose `builders:` to list; without it, the daemon of DOCKER_HOST (else the
        /// local socket).
        plan: Option<PathBuf>,
        /// Print one JSON document on stdout.
        #[arg(long)]
        json: bool,
    },
}

/// The builder used when a plan declares none.
pub(crate) const DEFAULT_BUILDER: &str = "default";

/// The configuration of the plan's builders, or of the default one.
pub(crate) fn configs(plan: Option<&Plan>) -> anyhow::Result<(Vec<BuilderConfig>, bool)> {
    let declared = plan.map(Plan::builders).unwrap_or_default();
    if declared.is_empty() {
        let config = BuilderConfig {
            name: DEFAULT_BUILDER.to_string(),
            endpoint: crate::commands::local_endpoint()?,
            platforms: Vec::new(),
            max_jobs: None,
        };
        return Ok((vec![config], false));
    }
    let configs = declared
        .iter()
        .map(|builder| {
            let tls = builder.tls().map(|tls| TlsFiles {
                ca: tls.ca().to_path_buf(),
                cert: tls.cert().to_path_buf(),
                key: tls.key().to_path_buf(),
            });
            Ok(BuilderConfig {
                name: builder.name().to_string(),
                endpoint: DaemonEndpoint::new(builder.endpoint(), tls)?,
                platforms: builder.platforms().to_vec(),
                max_jobs: builder.max_jobs(),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((configs, true))
}

/// Connects to the builders of `plan` (or the default one).
pub(crate) async fn connect(plan: Option<&Plan>) -> anyhow::Result<Builders> {
    let (configs, declared) = configs(plan)?;
    Ok(Builders {
        fleet: Fleet::connect(configs).await,
        declared,
    })
}

/// Says on stderr which builders there are. The default builder being unreachable is the run's
/// error (as it always was); a declared one being unreachable is a warning (whether others can
/// take its platforms is checked per platform).
pub(crate) fn report(builders: &Builders, progress: &Progress) -> anyhow::Result<()> {
    let statuses: Vec<&BuilderStatus> = builders.fleet.statuses().collect();
    if !builders.declared {
        let status = statuses[0];
        if !status.reachable() {
            let error = builders
                .fleet
                .take_connect_error(0)
                .map(anyhow::Error::new)
                .unwrap_or_else(|| {
                    anyhow::anyhow!(
                        "cannot reach the docker daemon at {} ({}); set DOCKER_HOST to a \
                             daemon that answers",
                        status.endpoint,
                        status.info.as_ref().err().map(String::as_str).unwrap_or("")
                    )
                });
            return Err(error);
        }
        progress.println(&format!(
            "daemon: {}{}",
            status.endpoint,
            status
                .native
                .first()
                .map(|p| format!(" ({p})"))
                .unwrap_or_default()
        ));
        return Ok(());
    }
    for status in statuses {
        match &status.info {
            Ok(info) => progress.println(&format!(
                "builder {}: {}, engine {}, native {}, emulates {}, up to {} jobs",
                status.name,
                status.endpoint,
                info.engine_version,
                list_or(&status.native, "unknown"),
                match &status.emulated {
                    Some(list) => list_or(list, "nothing"),
                    None => "unknown (remote)".to_string(),
                },
                status.max_jobs
            )),
            Err(reason) => progress.println(&format!(
                "warning: builder {} ({}) is unreachable and is skipped: {reason}",
                status.name, status.endpoint
            )),
        }
    }
    Ok(())
}

fn list_or(platforms: &[mab_platform::Platform], none: &str) -> String {
    if platforms.is_empty() {
        none.to_string()
    } else {
        platforms
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One builder in `mab builders ls --json`.
#[derive(Serialize)]
struct BuilderReport<'a> {
    name: &'a str,
    endpoint: &'a str,
    reachable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    engine_version: Option<&'a str>,
    /// The daemon's own platform, as it says.
    #[serde(skip_serializing_if = "Option::is_none")]
    daemon_platform: Option<String>,
    /// What it builds natively: the plan's `platforms`, else the daemon's own.
    native_platforms: Vec<String>,
    native_declared: bool,
    /// `null` when it cannot be known (a remote daemon).
    emulated_platforms: Option<Vec<String>>,
    /// Containers running on the daemon (builds in progress show up here).
    #[serde(skip_serializing_if = "Option::is_none")]
    jobs_running: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cpus: Option<u64>,
    max_jobs: usize,
}

pub async fn run(args: BuildersArgs) -> anyhow::Result<u8> {
    let BuildersCommand::Ls { plan, json } = args.command;
    let plan = plan.as_deref().map(super::plan::load).transpose()?;
    let builders = connect(plan.as_ref()).await?;
    let statuses: Vec<&BuilderStatus> = builders.fleet.statuses().collect();
    let strings =
        |list: &[mab_platform::Platform]| list.iter().map(ToString::to_string).collect::<Vec<_>>();
    let reports: Vec<BuilderReport> = statuses
        .iter()
        .map(|status| {
            let info = status.info.as_ref().ok();
            BuilderReport {
                name: &status.name,
                endpoint: &status.endpoint,
                reachable: info.is_some(),
                error: status.info.as_ref().err().map(String::as_str),
                engine_version: info.map(|i| i.engine_version.as_str()),
                daemon_platform: info
                    .and_then(|i| i.native_platform.as_ref())
                    .map(ToString::to_string),
                native_platforms: strings(&status.native),
                native_declared: status.declared,
                emulated_platforms: info.and(status.emulated.as_deref()).map(strings),
                jobs_running: info.map(|i| i.containers_running),
                cpus: info.map(|i| i.cpus),
                max_jobs: status.max_jobs,
            }
        })
        .collect();
    if json {
        #[derive(Serialize)]
        struct Document<'a> {
            builders: Vec<BuilderReport<'a>>,
        }
        let document = Document { builders: reports };
        println!("{}", serde_json::to_string_pretty(&document)?);
        return Ok(exit_code(&document.builders));
    }
    print_table(&reports);
    Ok(exit_code(&reports))
}

/// 0 when every builder answered, else 1.
fn exit_code(reports: &[BuilderReport]) -> u8 {
    if reports.iter().all(|r| r.reachable) {
        SUCCESS
    } else {
        FAILURE
    }
}

fn print_table(reports: &[BuilderReport]) {
    let header = [
        "NAME", "ENDPOINT", "STATUS", "ENGINE", "NATIVE", "EMULATES", "RUNNING", "MAX JOBS",
    ];
    let rows: Vec<[String; 8]> = reports
        .iter()
        .map(|r| {
            let dash = || "-".to_string();
            let mut native = r.native_platforms.join(",");
            if native.is_empty() {
                native = dash();
            } else if r.native_declared {
                native.push_str(" (declared)");
            }
            [
                r.name.to_string(),
                r.endpoint.to_string(),
                if r.reachable {
                    "reachable"
                } else {
                    "unreachable"
                }
                .to_string(),
                r.engine_version.map_or_else(dash, str::to_string),
                native,
                match &r.emulated_platforms {
                    _ if !r.reachable => dash(),
                    Some(list) if list.is_empty() => dash(),
                    Some(list) => list.join(","),
                    None => "unknown (remote)".to_string(),
                },
                r.jobs_running.map_or_else(dash, |n| n.to_string()),
                r.max_jobs.to_string(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut text = String::new();
        for (n, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if n + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  "));
            }
        }
        text
    };
    println!("{}", line(&header.map(str::to_string)));
    for row in &rows {
        println!("{}", line(row));
    }
    for r in reports {
        if let Some(error) = r.error {
            println!("{}: unreachable: {error}", r.name);
        }
    }
}
