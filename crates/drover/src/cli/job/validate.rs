//! `drover job validate <file>`: parses and validates a jobspec locally.

use std::process::ExitCode;

use crate::cli::job::spec;
use crate::cli::ui::Ui;

/// Flags of `job validate`.
#[derive(Debug, Clone, clap::Args)]
pub struct ValidateArgs {
    /// Ignored (accepted for Nomad compatibility).
    #[arg(long = "var", value_name = "key=value")]
    pub vars: Vec<String>,
    /// The jobspec file, `-` for stdin.
    pub file: String,
}

/// Runs `job validate`: 0 valid, 1 invalid.
pub fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    spec::load(&args.file)?;
    Ui::plain().line("Job validation successful")?;
    Ok(ExitCode::SUCCESS)
}
