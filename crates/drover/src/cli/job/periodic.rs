//! `drover job periodic force [-detach] [-verbose] <job>`: launches a
//! periodic job now, whatever its concurrency policy, and monitors the
//! evaluation of the child it created.

use std::process::ExitCode;

use anyhow::Context;

use drover_types::api::PeriodicForceResponse;

use crate::cli::flags::GeneralOptions;
use crate::cli::{monitor, resolve, server_error};

/// `drover job periodic ...`.
#[derive(Debug, Clone, clap::Args)]
pub struct PeriodicArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: PeriodicCommand,
}

/// Subcommands of `job periodic`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum PeriodicCommand {
    /// Launch a periodic job now, ignoring its concurrency policy
    Force(ForceArgs),
}

/// Flags of `job periodic force`.
#[derive(Debug, Clone, clap::Args)]
pub struct ForceArgs {
    /// Return at once, printing the evaluation ID.
    #[arg(long)]
    pub detach: bool,
    /// Full IDs.
    #[arg(long)]
    pub verbose: bool,
    /// General options.
    #[command(flatten)]
    pub general: GeneralOptions,
    /// Job ID or prefix.
    pub job: String,
}

/// Runs `job periodic ...`.
pub async fn run(args: PeriodicArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        PeriodicCommand::Force(args) => force(args).await,
    }
}

async fn force(args: ForceArgs) -> anyhow::Result<ExitCode> {
    let (client, ui) = args.general.resolve()?;
    let job = resolve::job(&client, &args.job).await?;
    let reply: PeriodicForceResponse = client
        .write_json::<(), _>(reqwest::Method::POST, &format!("/v1/job/{}/periodic/force", job.id), &[], None)
        .await
        .map_err(server_error)
        .context("Error forcing periodic job")?;
    ui.line(&format!("Run {} started: child job {:?}", reply.run_id, reply.dispatched_job_id))?;
    let eval_id = reply.eval_id;
    if args.detach || eval_id.is_empty() {
        ui.line(&format!("Evaluation ID: {eval_id}"))?;
        return Ok(ExitCode::SUCCESS);
    }
    monitor::monitor(&client, &ui, &eval_id, args.verbose).await
}
