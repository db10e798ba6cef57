//! Reading and parsing a jobspec file (or stdin for `-`) for `job run`,
//! `job plan` and `job validate`.

use anyhow::{Context, anyhow, bail};

use drover_jobspec::Parsed;

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

/// Parses, defaults and validates a jobspec, keeping the warnings the user
/// must see (blocks accepted but ignored); the error is one line starting
/// with `file:line:column` where known.
pub fn parse(source: &str, filename: &str) -> anyhow::Result<Parsed> {
    drover_jobspec::parse_with_warnings(source, filename)
        .map_err(|err| anyhow!("Error parsing job file: {}", one_line(&err.to_string())))
}

/// Reads and parses `path`.
pub fn load(path: &str) -> anyhow::Result<Parsed> {
    let (text, name) = read(path)?;
    parse(&text, &name)
}

/// Refuses `-var` and `-var-file`: HCL2 input variables are not read yet,
/// and a job run without the values given would not be the job asked for.
pub fn no_variables(vars: &[String], var_files: &[String]) -> anyhow::Result<()> {
    if !vars.is_empty() {
        bail!("-var is not supported yet: HCL2 input variables are not implemented");
    }
    if !var_files.is_empty() {
        bail!("-var-file is not supported yet: HCL2 input variables are not implemented");
    }
    Ok(())
}

/// The parser's warnings, then the server's (Nomad's `Warnings`: one per line).
pub fn warnings(local: &[String], server: &str) -> String {
    local
        .iter()
        .map(String::as_str)
        .chain(server.lines())
        .filter(|line| !line.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Multi-line messages joined on one line.
fn one_line(text: &str) -> String {
    text.lines().map(str::trim).filter(|line| !line.is_empty()).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::warnings;

    #[test]
    fn parser_warnings_come_before_the_servers() {
        let local =
            vec!["x.hcl:3:3: job \"x\": the \"affinity\" block is not supported yet and is ignored".to_string()];
        assert_eq!(warnings(&local, ""), local[0]);
        assert_eq!(warnings(&local, "a\nb\n"), format!("{}\na\nb", local[0]));
        assert_eq!(warnings(&[], " \n"), "");
    }
}
