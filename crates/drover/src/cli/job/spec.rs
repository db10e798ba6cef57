//! Reading and parsing a jobspec file (or stdin for `-`) for `job run`,
//! `job plan` and `job validate`.

use anyhow::{Context, anyhow};

use drover_types::Job;

/// The file name shown for a jobspec read from stdin.
pub const STDIN_NAME: &str = "<stdin>";

/// The jobspec text of `path` (`-` reads stdin) and the name to report it by.
pub fn read(path: &str) -> anyhow::Result<(String, String)> {
    if path == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).context("Error reading job file from stdin")?;
        return Ok((text, STDIN_NAME.to_string()));
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("Error reading job file {path:?}"))?;
    Ok((text, path.to_string()))
}

/// Parses, defaults and validates a jobspec; the error is one line starting
/// with `file:line:column` where known.
pub fn parse(source: &str, filename: &str) -> anyhow::Result<Job> {
    drover_jobspec::parse(source, filename)
        .map_err(|err| anyhow!("Error parsing job file: {}", one_line(&err.to_string())))
}

/// Reads and parses `path`.
pub fn load(path: &str) -> anyhow::Result<Job> {
    let (text, name) = read(path)?;
    parse(&text, &name)
}

/// Multi-line messages joined on one line.
fn one_line(text: &str) -> String {
    text.lines().map(str::trim).filter(|line| !line.is_empty()).collect::<Vec<_>>().join(" ")
}
