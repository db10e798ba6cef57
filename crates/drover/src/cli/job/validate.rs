//! `drover job validate <file>`: parses and validates a jobspec locally.

use std::process::ExitCode;

use crate::cli::job::spec;
use crate::cli::ui::Ui;

/// Flags of `job validate`.
#[derive(Debug, Clone, clap::Args)]
pub struct ValidateArgs {
    /// Not supported yet (HCL2 input variables): giving it is an error.
    #[arg(long = "var", value_name = "key=value")]
    pub vars: Vec<String>,
    /// Not supported yet (HCL2 input variables): giving it is an error.
    #[arg(long = "var-file", value_name = "path")]
    pub var_files: Vec<String>,
    /// The jobspec file, `-` for stdin.
    pub file: String,
}

/// Runs `job validate`: 0 valid (after the warnings, if any), 1 invalid.
pub fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    spec::no_variables(&args.vars, &args.var_files)?;
    let parsed = spec::load(&args.file)?;
    let ui = Ui::plain();
    if !parsed.warnings.is_empty() {
        ui.line(&format!("Job Warnings:\n{}\n", parsed.warnings.join("\n")))?;
    }
    ui.line("Job validation successful")?;
    Ok(ExitCode::SUCCESS)
}
