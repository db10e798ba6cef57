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
//! Metronome (DC/OS Jobs) job JSON is detected too and read by
//! [`parse_metronome`] (see the [`metronome`] module for the mapping, both
//! ways); its errors name the JSON path, `myjob.json: /run/mem: must be at least 32, got 16`.
//!
//! Decisions: HCL is read with `hcl::edit` (the parser under `hcl-rs`) rather
//! than `hcl::from_str`, because it keeps the spans errors need and gives
//! template strings back unevaluated.

mod detect;
mod error;
mod example;
mod hcl;
mod json;
pub mod metronome;

use drover_types::Job;

pub use detect::{Format, detect_format};
pub use error::{JobspecError, Position};
pub use example::EXAMPLE_JOB;
pub use metronome::FieldError;

/// Parses a jobspec file's text; the format is detected: HCL, Nomad API JSON
/// (`{"Job": {...}}` or a bare Job object with PascalCase keys) or Metronome
/// job JSON (`{"id": ..., "run": {...}}`).
pub fn parse(source: &str, filename: &str) -> Result<Job, JobspecError> {
    match detect_format(source) {
        Format::Hcl => parse_hcl(source, filename),
        Format::NomadJson => parse_json(source, filename),
        Format::MetronomeJson => parse_metronome(source, filename),
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

/// Parses a Metronome job JSON file into a canonicalized, validated job (a
/// batch job that runs only when started; see [`metronome`]).
pub fn parse_metronome(source: &str, filename: &str) -> Result<Job, JobspecError> {
    let text = source.trim_start_matches('\u{feff}');
    let value: serde_json::Value = serde_json::from_str(text).map_err(|err| json::syntax(filename, &err))?;
    metronome::metronome_to_job(&value).map_err(|errors| JobspecError::Metronome { file: filename.to_string(), errors })
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
