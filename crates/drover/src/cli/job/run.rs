//! `drover job run [-detach] [-check-index N] [-verbose] <file|->`: registers
//! a job and monitors the evaluation it creates. Exit codes: 0 placed,
//! 2 placement failures, 1 any other error.

use std::process::ExitCode;

use anyhow::Context;

use drover_types::api::JobRegisterRequest;

use crate::cli::flags::GeneralOptions;
use crate::cli::job::spec;
use crate::cli::{monitor, server_error};

/// Flags of `job run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Return after registering, printing the evaluation ID.
    #[arg(long)]
    pub detach: bool,
    /// Register only if the job's modify index is this (0: the job must not exist).
    #[arg(long = "check-index", value_name = "index")]
    pub check_index: Option<u64>,
    /// Full IDs.
    #[arg(long)]
    pub verbose: bool,
    /// Not supported yet (HCL2 input variables): giving it is an error.
    #[arg(long = "var", value_name = "key=value")]
    pub vars: Vec<String>,
    /// Not supported yet (HCL2 input variables): giving it is an error.
    #[arg(long = "var-file", value_name = "path")]
    pub var_files: Vec<String>,
    /// General options.
    #[command(flatten)]
    pub general: GeneralOptions,
    /// The jobspec file, `-` for stdin.
    pub file: String,
}

/// Runs `job run`.
pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    spec::no_variables(&args.vars, &args.var_files)?;
    let parsed = spec::load(&args.file)?;
    let mut job = parsed.job;
    let (client, ui) = args.general.resolve()?;
    let namespace = &client.config().namespace;
    if !namespace.is_empty() && (job.namespace.is_empty() || job.namespace == drover_types::DEFAULT_NAMESPACE) {
        job.namespace = namespace.clone();
    }
    let is_template = job.is_template();
    let is_periodic = job.is_periodic();
    let job_id = job.id.clone();
    let request = JobRegisterRequest {
        job: Some(job),
        enforce_index: args.check_index.is_some(),
        job_modify_index: args.check_index.unwrap_or(0),
        ..JobRegisterRequest::default()
    };
    let resp = client.job_register(&request).await.map_err(server_error).context("Error submitting job")?;
    let warnings = spec::warnings(&parsed.warnings, &resp.warnings);
    if !warnings.is_empty() {
        ui.line(&ui.bold(&format!("Job Warnings:\n{warnings}\n")))?;
    }
    if is_template || resp.eval_id.is_empty() {
        ui.line("Job registration successful")?;
        if is_periodic && let Some(line) = crate::cli::job::schedule::next_launch_line(&client, &job_id).await? {
            ui.line(&line)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.detach {
        ui.line("Job registration successful")?;
        ui.line(&format!("Evaluation ID: {}", resp.eval_id))?;
        return Ok(ExitCode::SUCCESS);
    }
    monitor::monitor(&client, &ui, &resp.eval_id, args.verbose).await
}
