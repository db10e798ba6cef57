//! `drover job schedule add|show|update|remove`: a job's cron schedules
//! (Metronome's `dcos job schedule`). Files are Metronome schedule JSON:
//! `{"id":"nightly","cron":"20 0 * * *","timezone":"UTC","enabled":true,
//! "concurrencyPolicy":"ALLOW","startingDeadlineSeconds":900}`.
//!
//! Also the schedule and run-history sections of `drover job status`.

use std::process::ExitCode;

use anyhow::Context;

use drover_api::Client;
use drover_types::api::{IndexResponse, ScheduleView};
use drover_types::{Job, JobHistory, now_nanos};

use crate::cli::flags::GeneralOptions;
use crate::cli::ui::Ui;
use crate::cli::{format, resolve, server_error};

/// `drover job schedule ...`.
#[derive(Debug, Clone, clap::Args)]
pub struct ScheduleArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ScheduleCommand,
}

/// Subcommands of `job schedule`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ScheduleCommand {
    /// Add a schedule from a JSON file
    Add(FileArgs),
    /// Show a job's schedules
    Show(ShowArgs),
    /// Replace a schedule (the file's id names it)
    Update(FileArgs),
    /// Remove a schedule
    Remove(RemoveArgs),
}

/// `add` / `update`: a job and a schedule file.
#[derive(Debug, Clone, clap::Args)]
pub struct FileArgs {
    /// General options.
    #[command(flatten)]
    pub general: GeneralOptions,
    /// Job ID or prefix.
    pub job: String,
    /// Schedule JSON file, `-` for stdin.
    pub file: String,
}

/// `show`.
#[derive(Debug, Clone, clap::Args)]
pub struct ShowArgs {
    /// Print the schedules as JSON.
    #[arg(long)]
    pub json: bool,
    /// General options.
    #[command(flatten)]
    pub general: GeneralOptions,
    /// Job ID or prefix.
    pub job: String,
}

/// `remove`.
#[derive(Debug, Clone, clap::Args)]
pub struct RemoveArgs {
    /// General options.
    #[command(flatten)]
    pub general: GeneralOptions,
    /// Job ID or prefix.
    pub job: String,
    /// Schedule ID.
    pub schedule_id: String,
}

/// Runs `job schedule ...`.
pub async fn run(args: ScheduleArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        ScheduleCommand::Add(args) => write(args, false).await,
        ScheduleCommand::Update(args) => write(args, true).await,
        ScheduleCommand::Show(args) => show(args).await,
        ScheduleCommand::Remove(args) => remove(args).await,
    }
}

fn read_file(file: &str) -> anyhow::Result<String> {
    if file == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).context("Error reading stdin")?;
        return Ok(text);
    }
    std::fs::read_to_string(file).with_context(|| format!("Error reading schedule file {file}"))
}

async fn write(args: FileArgs, update: bool) -> anyhow::Result<ExitCode> {
    let text = read_file(&args.file)?;
    let body: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("Error parsing schedule file {}", args.file))?;
    let schedule_id = body.get("id").or_else(|| body.get("ID")).and_then(serde_json::Value::as_str).unwrap_or("");
    if schedule_id.is_empty() {
        anyhow::bail!("field \"id\" needs to be set in schedule JSON");
    }
    let (client, ui) = args.general.resolve()?;
    let job = resolve::job(&client, &args.job).await?;
    let (method, path, verb) = if update {
        (reqwest::Method::PUT, format!("/v1/job/{}/schedules/{schedule_id}", job.id), "updating")
    } else {
        (reqwest::Method::POST, format!("/v1/job/{}/schedules", job.id), "adding")
    };
    let _: IndexResponse = client
        .write_json(method, &path, &[], Some(&body))
        .await
        .map_err(server_error)
        .with_context(|| format!("Error {verb} schedule"))?;
    ui.line(&format!("Schedule {schedule_id:?} {} job {:?}", if update { "updated on" } else { "added to" }, job.id))?;
    Ok(ExitCode::SUCCESS)
}

async fn remove(args: RemoveArgs) -> anyhow::Result<ExitCode> {
    let (client, ui) = args.general.resolve()?;
    let job = resolve::job(&client, &args.job).await?;
    let _: IndexResponse = client
        .write_json::<(), _>(
            reqwest::Method::DELETE,
            &format!("/v1/job/{}/schedules/{}", job.id, args.schedule_id),
            &[],
            None,
        )
        .await
        .map_err(server_error)
        .context("Error removing schedule")?;
    ui.line(&format!("Schedule {:?} removed from job {:?}", args.schedule_id, job.id))?;
    Ok(ExitCode::SUCCESS)
}

async fn fetch_schedules(client: &Client, job_id: &str) -> anyhow::Result<Vec<ScheduleView>> {
    let (schedules, _) = client
        .get_json(&format!("/v1/job/{job_id}/schedules"), &[])
        .await
        .map_err(server_error)
        .context("Error querying schedules")?;
    Ok(schedules)
}

async fn show(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let (client, ui) = args.general.resolve()?;
    let job = resolve::job(&client, &args.job).await?;
    let schedules = fetch_schedules(&client, &job.id).await?;
    if args.json {
        // Through a JSON value, whose keys are sorted, as this output always had them.
        ui.line(&serde_json::to_string_pretty(&serde_json::to_value(&schedules)?)?)?;
    } else if schedules.is_empty() {
        ui.line(&format!("Job {:?} has no schedules", job.id))?;
    } else {
        ui.line(&table(&schedules))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `ID  CRON  ENABLED  NEXT RUN  CONCURRENCY POLICY`, as `dcos job schedule show`.
pub fn table(schedules: &[ScheduleView]) -> String {
    let mut rows = vec![["ID", "CRON", "ENABLED", "NEXT RUN", "CONCURRENCY POLICY"].map(String::from).to_vec()];
    for view in schedules {
        let schedule = &view.schedule;
        let mut cron = schedule.cron.clone();
        let zone = &schedule.time_zone;
        if !zone.is_empty() && zone != "UTC" {
            cron = format!("{cron} ({zone})");
        }
        // The policy as the API names it (`ALLOW`...).
        let policy = serde_json::to_value(schedule.concurrency_policy)
            .ok()
            .and_then(|value| value.as_str().map(str::to_string))
            .unwrap_or_default();
        rows.push(vec![
            schedule.id.clone(),
            cron,
            if schedule.enabled { "True" } else { "False" }.to_string(),
            view.next_run_at_text.clone(),
            policy,
        ]);
    }
    format::table(&rows)
}

/// The extra `job status` sections of a periodic job: next launch,
/// schedules and the run-history summary.
pub async fn status_sections(client: &Client, ui: &Ui, job: &Job) -> anyhow::Result<String> {
    let schedules = fetch_schedules(client, &job.id).await?;
    let (history, _): (JobHistory, _) = client
        .get_json(&format!("/v1/job/{}/history", job.id), &[])
        .await
        .map_err(server_error)
        .context("Error querying run history")?;
    let now = now_nanos();
    let next =
        schedules.iter().filter(|view| view.schedule.enabled).map(|view| view.next_run_at).filter(|at| *at > 0).min();
    let next_text = match next {
        Some(at) if !job.stop => format!("{} ({})", format::time(at), format::age(at, now)),
        _ => "none".to_string(),
    };
    let last =
        |at: i64| if at > 0 { format!("{} ({})", format::time(at), format::age(at, now)) } else { "never".to_string() };
    Ok(format!(
        "{}\n{}\n\n{}\n{}\n\n{}\nSuccess = {}, Failure = {}, Skipped = {}, Last Success = {}, Last Failure = {}",
        ui.bold("Periodic Launches"),
        format::kv(&[("Next Periodic Launch", next_text)]),
        ui.bold("Schedules"),
        table(&schedules),
        ui.bold("Run History"),
        history.success_count,
        history.failure_count,
        history.skipped_count,
        last(history.last_success_at),
        last(history.last_failure_at),
    ))
}

/// `Approximate next launch time: ...` for `job run` of a periodic job.
pub async fn next_launch_line(client: &Client, job_id: &str) -> anyhow::Result<Option<String>> {
    let schedules = fetch_schedules(client, job_id).await?;
    let next =
        schedules.iter().filter(|view| view.schedule.enabled).map(|view| view.next_run_at).filter(|at| *at > 0).min();
    Ok(next.map(|at| format!("Approximate next launch time: {} ({})", format::time(at), format::age(at, now_nanos()))))
}

/// `GET /v1/jobs?label=<key>=<value>,...`: jobs whose labels (meta) match every `meta.<key>=<value>` filter.
pub async fn jobs_with_labels(
    client: &Client,
    filters: &[String],
) -> anyhow::Result<Vec<drover_types::api::JobListStub>> {
    if let Some(bad) = filters.iter().find(|filter| !filter.starts_with("meta.") || !filter.contains('=')) {
        anyhow::bail!("invalid filter {bad:?}: the job list filters by labels, meta.<key>=<value>");
    }
    let labels: Vec<&str> = filters.iter().filter_map(|filter| filter.strip_prefix("meta.")).collect();
    let (jobs, _) = client
        .get_json("/v1/jobs", &[("label", labels.join(","))])
        .await
        .map_err(server_error)
        .context("Error querying jobs")?;
    Ok(jobs)
}
