//! Output: writing to stdout (a closed pipe ends the program quietly) and the
//! optional bold of headers.

use std::io::Write;

/// Stdout was closed by the reader (`drover job status | head -1`): not an
/// error, the command stops and exits 0.
#[derive(Debug)]
pub struct BrokenPipe;

impl std::fmt::Display for BrokenPipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("broken pipe")
    }
}

impl std::error::Error for BrokenPipe {}

/// Output settings of one command run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ui {
    /// Whether ANSI styles are written.
    pub color: bool,
}

impl Ui {
    /// Output settings; `color` decides whether headers are bold.
    pub fn new(color: bool) -> Ui {
        Ui { color }
    }

    /// Plain output, as tests and pipes get it.
    pub fn plain() -> Ui {
        Ui { color: false }
    }

    /// `text` in bold when colour is on.
    pub fn bold(&self, text: &str) -> String {
        if self.color { format!("\x1b[1m{text}\x1b[0m") } else { text.to_string() }
    }

    /// Writes `text` and a newline to stdout.
    pub fn line(&self, text: &str) -> anyhow::Result<()> {
        write_stdout(format!("{text}\n").as_bytes())
    }

    /// Writes `text` to stdout as is.
    pub fn text(&self, text: &str) -> anyhow::Result<()> {
        write_stdout(text.as_bytes())
    }
}

/// Writes bytes to stdout and flushes; a closed pipe becomes [`BrokenPipe`].
pub fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    let res = stdout.write_all(bytes).and_then(|()| stdout.flush());
    match res {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Err(BrokenPipe.into()),
        Err(err) => Err(anyhow::Error::new(err).context("Error writing output")),
    }
}
