//! `drover job runs <job>`: a job's runs, newest first; `drover job runs
//! stop <job> <run>`: stops one (its child job is stopped: queued work goes at
//! once, running tasks get SIGTERM, then SIGKILL after their `kill_timeout`);
//! `drover job runs logs <job> [<run>]`: the task log of a run (the newest
//! one that has an allocation when none is named), printed by `alloc logs`'s code.

use std::process::ExitCode;

use anyhow::{Context, bail};

use drover_api::Client;
use drover_types::{Run, now_nanos};

use crate::cli::alloc::{LogOutput, print_logs};
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
    Stop(Box<StopArgs>),
    /// Print a run's task log (the newest run's when no run is given)
    Logs(Box<LogsArgs>),
}

/// Flags of `job runs logs`.
#[derive(Debug, Clone, clap::Args)]
pub struct LogsArgs {
    /// Which log and how much (as `alloc logs`).
    #[command(flatten)]
    pub output: LogOutput,
    /// The task (optional when the job has one task).
    #[arg(long, value_name = "name")]
    pub task: Option<String>,
    /// General options.
    #[command(flatten)]
    pub general: GeneralOptions,
    /// Job ID or prefix.
    pub job: String,
    /// Run ID or prefix; the newest run that has an allocation when omitted.
    pub run_id: Option<String>,
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
    match args.command {
        Some(RunsCommand::Stop(stop)) => return stop_run(*stop).await,
        Some(RunsCommand::Logs(logs)) => return run_logs(*logs).await,
        None => {}
    }
    let Some(prefix) = args.job.as_deref() else {
        anyhow::bail!("a job ID is required: drover job runs <job>");
    };
    let (client, ui) = args.general.resolve()?;
    let job = resolve::job(&client, prefix).await?;
    let runs = fetch_runs(&client, &job.id).await?;
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

/// The kept runs of a job, newest first.
pub async fn fetch_runs(client: &Client, job_id: &str) -> anyhow::Result<Vec<Run>> {
    let (runs, _): (Vec<Run>, _) = client
        .get_json(&format!("/v1/job/{job_id}/runs"), &[])
        .await
        .map_err(server_error)
        .context("Error querying runs")?;
    Ok(runs)
}

/// The run (by ID or unique prefix; else the newest run that has an
/// allocation) of `runs` (newest first) and its newest allocation.
pub fn run_alloc(job_id: &str, runs: &[Run], run_prefix: Option<&str>) -> anyhow::Result<(String, String)> {
    let run = match run_prefix {
        Some(prefix) => {
            let matching: Vec<&Run> = match runs.iter().find(|run| run.id == prefix) {
                Some(exact) => vec![exact],
                None => runs.iter().filter(|run| run.id.starts_with(prefix)).collect(),
            };
            match matching.as_slice() {
                [run] => *run,
                [] => bail!("No run with ID or prefix {prefix:?} of job {job_id:?} (see drover job runs {job_id})"),
                several => bail!(
                    "Prefix {prefix:?} matched several runs of job {job_id:?}: {}",
                    several.iter().map(|run| run.id.as_str()).collect::<Vec<_>>().join(", ")
                ),
            }
        }
        None => match runs.iter().find(|run| !run.allocations.is_empty()) {
            Some(run) => run,
            None if runs.is_empty() => bail!("Job {job_id:?} has no runs"),
            None => bail!(
                "No run of job {job_id:?} has an allocation yet; the newest, {}, is {}",
                runs[0].id,
                describe(&runs[0])
            ),
        },
    };
    match run.allocations.last() {
        Some(alloc) => Ok((run.id.clone(), alloc.clone())),
        None => bail!("Run {} of job {job_id:?} has no allocation: it is {}", run.id, describe(run)),
    }
}

/// A run's status and reason, for messages: `SKIPPED (skipped: ...)`.
fn describe(run: &Run) -> String {
    if run.reason.is_empty() { run.status.clone() } else { format!("{} ({})", run.status, run.reason) }
}

async fn run_logs(args: LogsArgs) -> anyhow::Result<ExitCode> {
    let (client, _ui) = args.general.resolve()?;
    let job = resolve::job(&client, &args.job).await?;
    let runs = fetch_runs(&client, &job.id).await?;
    let (_, alloc_id) = run_alloc(&job.id, &runs, args.run_id.as_deref())?;
    print_logs(&client, &alloc_id, args.task.as_deref(), &args.output).await
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
    fn a_runs_logs_come_from_its_newest_allocation() {
        let run = |id: &str, status: &str, allocs: &[&str]| Run {
            id: id.to_string(),
            status: status.to_string(),
            allocations: allocs.iter().map(|alloc| alloc.to_string()).collect(),
            ..Run::default()
        };
        let mut skipped = run("20260102000000aaaaa", "SKIPPED", &[]);
        skipped.reason = "skipped: concurrency policy FORBID".to_string();
        let runs = vec![
            skipped,
            run("20260101000001bbbbb", "FAILED", &["a1", "a2"]),
            run("20260101000000ccccc", "SUCCESS", &["a0"]),
        ];
        let pick = |prefix: Option<&str>| run_alloc("cron", &runs, prefix).map_err(|err| err.to_string());
        // The newest run that has an allocation, and its newest (last) attempt.
        assert_eq!(pick(None), Ok(("20260101000001bbbbb".to_string(), "a2".to_string())));
        assert_eq!(pick(Some("20260101000000ccccc")), Ok(("20260101000000ccccc".to_string(), "a0".to_string())));
        assert_eq!(pick(Some("20260101000000c")), Ok(("20260101000000ccccc".to_string(), "a0".to_string())));
        assert_eq!(
            pick(Some("2026010100000")),
            Err("Prefix \"2026010100000\" matched several runs of job \"cron\": 20260101000001bbbbb, 20260101000000ccccc"
                .to_string())
        );
        assert_eq!(
            pick(Some("2025")),
            Err("No run with ID or prefix \"2025\" of job \"cron\" (see drover job runs cron)".to_string())
        );
        assert_eq!(
            pick(Some("20260102")),
            Err("Run 20260102000000aaaaa of job \"cron\" has no allocation: it is SKIPPED (skipped: concurrency policy FORBID)"
                .to_string())
        );
        assert_eq!(
            run_alloc("cron", &runs[..1], None).map_err(|err| err.to_string()),
            Err("No run of job \"cron\" has an allocation yet; the newest, 20260102000000aaaaa, is SKIPPED (skipped: concurrency policy FORBID)"
                .to_string())
        );
        assert_eq!(
            run_alloc("cron", &[], None).map_err(|err| err.to_string()),
            Err("Job \"cron\" has no runs".to_string())
        );
    }

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
