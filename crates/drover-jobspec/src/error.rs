//! [`JobspecError`]: everything that can be wrong with a jobspec file, each
//! variant carrying the file name and, where known, the line and column.

use std::fmt;

use drover_types::ValidationErrors;
use thiserror::Error;

use crate::detect::Format;

/// A one-based line and column (in characters) in a jobspec file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// Line, starting at 1.
    pub line: usize,
    /// Column in characters, starting at 1.
    pub column: usize,
}

impl Position {
    /// The position of byte `offset` in `source` (clamped to the text's end).
    pub fn of_offset(source: &str, offset: usize) -> Position {
        let mut offset = offset.min(source.len());
        while !source.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &source[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |idx| idx + 1);
        let column = before[line_start..].chars().count() + 1;
        Position { line, column }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Why a jobspec could not be turned into a valid job. Display always starts
/// with the file name, then `line:column` when known.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JobspecError {
    /// The text is not well-formed HCL or JSON.
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        /// The file name given to the parser.
        file: String,
        /// One-based line of the error.
        line: usize,
        /// One-based column of the error.
        column: usize,
        /// What the parser expected, lowercase.
        message: String,
    },
    /// Well-formed, but not a jobspec: an unknown attribute, a value of the
    /// wrong type, a missing label, a missing or repeated `job` block.
    #[error("{}", render_invalid(file, *line, *column, path, message))]
    Invalid {
        /// The file name given to the parser.
        file: String,
        /// One-based line of the offending block or attribute, when known.
        line: Option<usize>,
        /// One-based column of the offending block or attribute, when known.
        column: Option<usize>,
        /// The block at fault, e.g. `group "cache" -> task "redis"`; empty at top level.
        path: String,
        /// What is wrong, lowercase, no trailing period.
        message: String,
    },
    /// A job was read but breaks the rules of [`drover_types::Job::validate`].
    #[error("{}", render_validation(file, errors, positions))]
    Validation {
        /// The file name given to the parser.
        file: String,
        /// Every problem found, in validation order.
        errors: ValidationErrors,
        /// Where each error's block is in the file (same order as `errors`), when known.
        positions: Vec<Option<Position>>,
    },
    /// A Metronome job JSON file breaks Metronome's schema or Drover's
    /// mapping; every problem carries its JSON path.
    #[error("{}", render_metronome(file, errors))]
    Metronome {
        /// The file name given to the parser.
        file: String,
        /// Every problem found, in document order.
        errors: Vec<crate::metronome::FieldError>,
    },
    /// The file is in a format this crate does not parse.
    #[error("{file}: {message}")]
    Unsupported {
        /// The file name given to the parser.
        file: String,
        /// The detected format.
        format: Format,
        /// What to do instead.
        message: String,
    },
}

impl JobspecError {
    /// The file name the error refers to.
    pub fn file(&self) -> &str {
        match self {
            JobspecError::Syntax { file, .. }
            | JobspecError::Invalid { file, .. }
            | JobspecError::Validation { file, .. }
            | JobspecError::Metronome { file, .. }
            | JobspecError::Unsupported { file, .. } => file,
        }
    }
}

fn render_invalid(file: &str, line: Option<usize>, column: Option<usize>, path: &str, message: &str) -> String {
    let mut res = file.to_string();
    if let Some(line) = line {
        res.push_str(&format!(":{line}"));
        if let Some(column) = column {
            res.push_str(&format!(":{column}"));
        }
    }
    res.push_str(": ");
    if !path.is_empty() {
        res.push_str(path);
        res.push_str(": ");
    }
    res.push_str(message);
    res
}

fn render_metronome(file: &str, errors: &[crate::metronome::FieldError]) -> String {
    errors.iter().map(|error| format!("{file}: {error}")).collect::<Vec<_>>().join("\n")
}

fn render_validation(file: &str, errors: &ValidationErrors, positions: &[Option<Position>]) -> String {
    let lines: Vec<String> = errors
        .0
        .iter()
        .enumerate()
        .map(|(error_idx, error)| match positions.get(error_idx).copied().flatten() {
            Some(position) => format!("{file}:{position}: {error}"),
            None => format!("{file}: {error}"),
        })
        .collect();
    lines.join("\n")
}
