//! `drover job init [-short] [file]`: writes an example jobspec.

use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::cli::ui::Ui;

/// The file written when none is named.
pub const DEFAULT_FILE: &str = "example.drover.hcl";

/// Flags of `job init`.
#[derive(Debug, Clone, clap::Args)]
pub struct InitArgs {
    /// Write the example without comments.
    #[arg(long)]
    pub short: bool,
    /// Where to write it.
    pub file: Option<String>,
}

/// Runs `job init`.
pub fn run(args: InitArgs) -> anyhow::Result<ExitCode> {
    let file = args.file.unwrap_or_else(|| DEFAULT_FILE.to_string());
    if std::path::Path::new(&file).exists() {
        bail!("Job '{file}' already exists");
    }
    let text =
        if args.short { strip_comments(drover_jobspec::EXAMPLE_JOB) } else { drover_jobspec::EXAMPLE_JOB.to_string() };
    std::fs::write(&file, text).with_context(|| format!("Failed to write '{file}'"))?;
    Ui::plain().line(&format!("Example job file written to {file}"))?;
    Ok(ExitCode::SUCCESS)
}

/// The example without comment lines and the blank lines they leave.
fn strip_comments(text: &str) -> String {
    let mut out = String::new();
    let mut last_blank = true;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') || trimmed.starts_with("//") {
            continue;
        }
        let blank = trimmed.is_empty();
        if blank && last_blank {
            continue;
        }
        last_blank = blank;
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_example_has_no_comments() {
        let text = "# top\njob \"x\" {\n  # c\n\n  group \"g\" {}\n}\n";
        assert_eq!(strip_comments(text), "job \"x\" {\n\n  group \"g\" {}\n}\n");
    }
}
