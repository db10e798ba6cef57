//! `drover job eval [-detach] [-verbose] <job>`: forces a new evaluation of a
//! job and monitors it.

use std::process::ExitCode;

use anyhow::Context;

use crate::cli::flags::GeneralOptions;
use crate::cli::{monitor, resolve, server_error};

/// Flags of `job eval`.
#[derive(Debug, Clone, clap::Args)]
pub struct EvalArgs {
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

/// Runs `job eval`.
pub async fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let (client, ui) = args.general.resolve()?;
    let job = resolve::job(&client, &args.job).await?;
    let resp = client.job_evaluate(&job.id).await.map_err(server_error).context("Error evaluating job")?;
    if args.detach || resp.eval_id.is_empty() {
        ui.line(&format!("Created eval ID: {:?}", resp.eval_id))?;
        return Ok(ExitCode::SUCCESS);
    }
    monitor::monitor(&client, &ui, &resp.eval_id, args.verbose).await
}
