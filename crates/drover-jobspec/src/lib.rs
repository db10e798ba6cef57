//! Jobspecs in HCL and Nomad API JSON, turned into validated [`Job`]s.
//!
//! [`parse`] detects the format ([`detect_format`] gives a [`Format`]) and
//! hands the text to [`parse_hcl`] or [`parse_json`]. Either way the job is
//! then canonicalized ([`Job::canonicalize`], Nomad's defaults) and validated
//! ([`Job::validate`]). Every failure is a [`JobspecError`] whose message
//! starts with the file name and, when known, `line:column`, so editors can
//! jump to it: `example.drover.hcl:5:5: group "cache": count: expected a number, got a string`.
//!
//! Nomad users' HCL jobspecs parse unchanged. Runtime interpolations such as
//! `${attr.kernel.name}` or `${NOMAD_ALLOC_ID}` are kept as literal text,
//! never evaluated; blocks Nomad knows but Drover does not act on (`service`,
//! `template`, `network`, ...) are accepted and ignored; unknown attributes
//! are errors listing the valid names, as in Nomad.
//!
//! [`EXAMPLE_JOB`] is the file `drover job init` writes.
//!
//! ```
//! let job = drover_jobspec::parse(drover_jobspec::EXAMPLE_JOB, "example.drover.hcl")?;
//! assert_eq!(job.id, "example");
//! assert_eq!(job.task_groups[0].name, "cache");
//! # Ok::<(), drover_jobspec::JobspecError>(())
//! ```
//!
//! Decisions: HCL is read with `hcl::edit` (the parser under `hcl-rs`) rather
//! than `hcl::from_str`, because it keeps the spans errors need and gives
//! template strings back unevaluated. Metronome's job JSON is detected but
//! parsed elsewhere: [`parse`] rejects it with [`JobspecError::Unsupported`].

mod detect;
mod error;
mod example;
mod hcl;
mod json;

use drover_types::Job;

pub use detect::{Format, detect_format};
pub use error::{JobspecError, Position};
pub use example::EXAMPLE_JOB;

/// Parses a jobspec file's text; the format is detected: HCL, Nomad API JSON
/// (`{"Job": {...}}` or a bare Job object with PascalCase keys).
pub fn parse(source: &str, filename: &str) -> Result<Job, JobspecError> {
    match detect_format(source) {
        Format::Hcl => parse_hcl(source, filename),
        Format::NomadJson => parse_json(source, filename),
        Format::MetronomeJson => Err(JobspecError::Unsupported {
            file: filename.to_string(),
            format: Format::MetronomeJson,
            message: "this looks like a Metronome job (JSON with \"id\" and \"run\"); the Metronome format is handled by another parser, not the Nomad jobspec parser".to_string(),
        }),
    }
}

/// Parses an HCL jobspec into a canonicalized, validated job.
pub fn parse_hcl(source: &str, filename: &str) -> Result<Job, JobspecError> {
    let (job, ctx) = hcl::read_job(source, filename)?;
    finish(job, filename, |error| ctx.locate(error))
}

/// Parses a Nomad API JSON jobspec into a canonicalized, validated job.
pub fn parse_json(source: &str, filename: &str) -> Result<Job, JobspecError> {
    let job = json::read_job(source, filename)?;
    finish(job, filename, |_| None)
}

fn finish(
    mut job: Job,
    filename: &str,
    locate: impl Fn(&drover_types::ValidationError) -> Option<Position>,
) -> Result<Job, JobspecError> {
    job.canonicalize();
    match job.validate() {
        Ok(()) => Ok(job),
        Err(errors) => {
            let positions = errors.0.iter().map(locate).collect();
            Err(JobspecError::Validation { file: filename.to_string(), errors, positions })
        }
    }
}
