//! `drover job history [-p] [-full] <job>`: the job's kept versions, newest
//! first, with `-p` the change each made.

use std::process::ExitCode;

use anyhow::Context;

use drover_types::api::{JobVersionsResponse, diff_type};

use crate::cli::flags::GeneralOptions;
use crate::cli::job::{diff, inspect};
use crate::cli::{format, resolve};

/// Flags of `job history`.
#[derive(Debug, Clone, clap::Args)]
pub struct HistoryArgs {
    /// Show the change each version made.
    #[arg(short = 'p')]
    pub diffs: bool,
    /// Show each version in full as JSON.
    #[arg(long)]
    pub full: bool,
    /// General options.
    #[command(flatten)]
    pub general: GeneralOptions,
    /// Job ID or prefix.
    pub job: String,
}

/// Runs `job history`.
pub async fn run(args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let (client, ui) = args.general.resolve()?;
    let job_id = resolve::job(&client, &args.job).await?.id;
    let versions = client.job_versions(&job_id, args.diffs).await.context("Error retrieving job versions")?;
    ui.line(&render(&versions, args.diffs, args.full)?)?;
    Ok(ExitCode::SUCCESS)
}

/// One `Version = ...` block per version, newest first.
pub fn render(versions: &JobVersionsResponse, diffs: bool, full: bool) -> anyhow::Result<String> {
    let mut jobs = versions.versions.clone();
    jobs.sort_by_key(|job| std::cmp::Reverse(job.version));
    let mut blocks = Vec::new();
    for (idx, job) in jobs.iter().enumerate() {
        let mut pairs = vec![
            ("Version", job.version.to_string()),
            ("Stable", job.stable.to_string()),
            ("Submit Date", format::time(job.submit_time)),
        ];
        let change = versions.diffs.get(idx).filter(|change| diffs && change.diff_type != diff_type::NONE);
        if let Some(change) = change {
            let text = diff::job_diff(change, &Default::default(), false);
            pairs.push(("Diff", format!("\n{}", text.trim())));
        }
        let mut block = format::kv(&pairs);
        if full {
            let value = serde_json::to_value(job).context("Error encoding job")?;
            block.push_str(&format!("\nFull        =\n{}", inspect::pretty(&value)?));
        }
        blocks.push(block);
    }
    Ok(blocks.join("\n\n"))
}

#[cfg(test)]
mod tests {
    use drover_types::{Job, NANOS_PER_SEC};

    use super::*;

    #[test]
    fn versions_newest_first() {
        let version = |version: u64, stable: bool| Job {
            id: "example".to_string(),
            version,
            stable,
            submit_time: 1_509_490_720 * NANOS_PER_SEC,
            ..Job::default()
        };
        let versions =
            JobVersionsResponse { versions: vec![version(0, true), version(1, false)], ..Default::default() };
        assert_eq!(
            render(&versions, false, false).expect("renders"),
            "Version     = 1
Stable      = false
Submit Date = 10/31/17 22:58:40 UTC

Version     = 0
Stable      = true
Submit Date = 10/31/17 22:58:40 UTC"
        );
    }
}
