//! `drover job stop [-purge] [-detach] [-yes] [-verbose] <job>`: stops a job
//! and monitors the evaluation that stops its allocations.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::flags::GeneralOptions;
use crate::cli::{monitor, resolve};

/// Flags of `job stop`.
#[derive(Debug, Clone, clap::Args)]
pub struct StopArgs {
    /// Forget the job now instead of keeping it as stopped until GC.
    #[arg(long)]
    pub purge: bool,
    /// Return after stopping, printing the evaluation ID.
    #[arg(long)]
    pub detach: bool,
    /// Do not ask for confirmation when a prefix was given.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Full IDs.
    #[arg(long)]
    pub verbose: bool,
    /// General options.
    #[command(flatten)]
    pub general: GeneralOptions,
    /// Job ID or prefix.
    pub job: String,
}

/// Runs `job stop`.
pub async fn run(args: StopArgs) -> anyhow::Result<ExitCode> {
    let (client, ui) = args.general.resolve()?;
    let job = resolve::job(&client, &args.job).await?;
    if job.id != args.job && !args.yes && std::io::stdin().is_terminal() && !confirm(&job.id)? {
        ui.line("Cancelling job stop")?;
        return Ok(ExitCode::SUCCESS);
    }
    let resp = client.job_deregister(&job.id, args.purge).await.context("Error deregistering job")?;
    if resp.eval_id.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    if args.detach {
        ui.line(&resp.eval_id)?;
        return Ok(ExitCode::SUCCESS);
    }
    monitor::monitor(&client, &ui, &resp.eval_id, args.verbose).await
}

fn confirm(job_id: &str) -> anyhow::Result<bool> {
    print!("Are you sure you want to stop job {job_id:?}? [y/N] ");
    std::io::stdout().flush().context("Error writing output")?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).context("Error reading answer")?;
    Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}
