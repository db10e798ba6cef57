//! `drover job stop [-purge] [-detach] [-yes] [-verbose] [-children] <job>`:
//! stops a job and monitors the evaluation that stops its allocations. With
//! `-children` the parent and all its children are stopped (or purged) in one
//! write.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;

use drover_api::Client;

use crate::cli::flags::GeneralOptions;
use crate::cli::ui::Ui;
use crate::cli::{monitor, resolve, server_error};

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
    /// Stop (with -purge: purge) the job's children too, in the same write.
    #[arg(long)]
    pub children: bool,
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
    if args.children {
        return stop_family(&client, &ui, &job.id, &args).await;
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

/// `-children`: one write stops or purges the parent and every child; then
/// the first evaluation it created is monitored and the count is printed.
async fn stop_family(client: &Client, ui: &Ui, job_id: &str, args: &StopArgs) -> anyhow::Result<ExitCode> {
    let n_known = client.job_children(job_id, &[]).await.map(|children| children.len()).unwrap_or(0);
    let resp = client
        .job_deregister_family(job_id, args.purge)
        .await
        .map_err(server_error)
        .context("Error deregistering job")?;
    let mut code = ExitCode::SUCCESS;
    if !resp.eval_id.is_empty() {
        if args.detach {
            ui.line(&resp.eval_id)?;
        } else {
            code = monitor::monitor(client, ui, &resp.eval_id, args.verbose).await?;
        }
    }
    let n_children = children_count(&resp.warnings).unwrap_or(n_known);
    ui.line(&family_line(job_id, n_children, args.purge))?;
    Ok(code)
}

/// The count in the reply's `N children stopped` warning.
fn children_count(warnings: &str) -> Option<usize> {
    warnings.split_whitespace().next()?.parse().ok()
}

/// `Stopped parent "<id>" and N children` (`Purged ...` with -purge).
pub fn family_line(job_id: &str, n_children: usize, purge: bool) -> String {
    let verb = if purge { "Purged" } else { "Stopped" };
    let noun = if n_children == 1 { "child" } else { "children" };
    format!("{verb} parent {job_id:?} and {n_children} {noun}")
}

fn confirm(job_id: &str) -> anyhow::Result<bool> {
    print!("Are you sure you want to stop job {job_id:?}? [y/N] ");
    std::io::stdout().flush().context("Error writing output")?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).context("Error reading answer")?;
    Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_lines() {
        assert_eq!(children_count("3 children stopped"), Some(3));
        assert_eq!(children_count(""), None);
        assert_eq!(family_line("video-encode", 3, false), "Stopped parent \"video-encode\" and 3 children");
        assert_eq!(family_line("video-encode", 1, true), "Purged parent \"video-encode\" and 1 child");
    }
}
