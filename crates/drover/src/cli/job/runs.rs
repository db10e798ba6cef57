//! `drover job runs <job>`: a job's runs, newest first; `drover job runs
//! stop <job> <run>`: stops one (its child job is stopped: queued work goes at
//! once, running tasks get SIGTERM, then SIGKILL after their `kill_timeout`).

use std::process::ExitCode;

use anyhow::Context;

use drover_types::{Run, now_nanos};

use crate::cli::flags::GeneralOptions;
use crate::cli::{format, resolve, server_error};

/// Flags of `job runs`.
#[derive(Debug, Clone, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RunsArgs {
    /// `stop`, or nothing to list.
    #[command(subcommand)]
    pub command: Option<RunsCommand>,
    /// Print the runs as JSON.
    #[arg(long)]
    pub json: bool,
    /// General options.
    #[command(flatten)]
    pub general: GeneralOptions,
    /// Job ID or prefix.
    pub job: Option<String>,
}

/// Subcommands of `job runs`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum RunsCommand {
    /// Stop a run
    Stop(StopArgs),
}

/// Flags of `job runs stop`.
#[derive(Debug, Clone, clap::Args)]
pub struct StopArgs {
    /// General options.
    #[command(flatten)]
    pub general: GeneralOptions,
    /// Job ID or prefix.
    pub job: String,
    /// Run ID.
    pub run_id: String,
}

/// Runs `job runs ...`.
pub async fn run(args: RunsArgs) -> anyhow::Result<ExitCode> {
    if let Some(RunsCommand::Stop(stop)) = args.command {
        return stop_run(stop).await;
    }
    let Some(prefix) = args.job.as_deref() else {
        anyhow::bail!("a job ID is required: drover job runs <job>");
    };
    let (client, ui) = args.general.resolve()?;
    let job = resolve::job(&client, prefix).await?;
    let (runs, _): (Vec<Run>, _) = client
        .get_json(&format!("/v1/job/{}/runs", job.id), &[])
        .await
        .map_err(server_error)
        .context("Error querying runs")?;
    if args.json {
        ui.line(&serde_json::to_string_pretty(&runs)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        ui.line(&format!("No runs of job {:?}", job.id))?;
        return Ok(ExitCode::SUCCESS);
    }
    ui.line(&render(&runs, now_nanos()))?;
    Ok(ExitCode::SUCCESS)
}

/// The runs table, in the order given (the API's: newest first).
pub fn render(runs: &[Run], now: i64) -> String {
    let mut rows =
        vec![["ID", "Trigger", "Status", "Created", "Finished", "Exit Codes", "Reason"].map(String::from).to_vec()];
    for run in runs {
        let codes: Vec<String> = run.exit_codes.iter().map(i32::to_string).collect();
        rows.push(vec![
            run.id.clone(),
            run.trigger.clone(),
            run.status.clone(),
            format::age(run.created_at, now),
            if run.finished_at > 0 { format::age(run.finished_at, now) } else { "-".to_string() },
            if codes.is_empty() { "-".to_string() } else { codes.join(",") },
            run.reason.clone(),
        ]);
    }
    format::table(&rows)
}

async fn stop_run(args: StopArgs) -> anyhow::Result<ExitCode> {
    let (client, ui) = args.general.resolve()?;
    let job = resolve::job(&client, &args.job).await?;
    let run: Run = client
        .write_json::<(), _>(reqwest::Method::POST, &format!("/v1/job/{}/runs/{}/stop", job.id, args.run_id), &[], None)
        .await
        .map_err(server_error)
        .context("Error stopping run")?;
    if run.stop_reason.is_empty() {
        ui.line(&format!("Run {} already finished: {}", run.id, run.status))?;
    } else {
        ui.line(&format!("Stopping run {} (child job {:?})", run.id, run.current_child().unwrap_or_default()))?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_table() {
        let now = 1_000 * drover_types::NANOS_PER_SEC;
        let run = Run {
            id: "20260101000000abcde".to_string(),
            trigger: "schedule:every".to_string(),
            status: "FAILED".to_string(),
            created_at: now - 65 * drover_types::NANOS_PER_SEC,
            finished_at: now - 5 * drover_types::NANOS_PER_SEC,
            exit_codes: vec![1, 1],
            reason: "failed: exit code 1".to_string(),
            ..Run::default()
        };
        let skipped = Run {
            id: "20260101000002abcde".to_string(),
            status: "SKIPPED".to_string(),
            created_at: now,
            ..Run::default()
        };
        assert_eq!(
            render(&[skipped, run], now),
            "ID                   Trigger         Status   Created   Finished  Exit Codes  Reason\n\
             20260101000002abcde                  SKIPPED  0s ago    -         -\n\
             20260101000000abcde  schedule:every  FAILED   1m5s ago  5s ago    1,1         failed: exit code 1"
        );
    }
}
