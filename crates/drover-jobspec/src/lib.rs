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
//! never evaluated; unknown attributes and keys are errors listing the valid
//! names, as in Nomad. Nothing written is dropped without a word: a Nomad
//! block Drover does not run yet (`service`, `template`, `network`, `vault`,
//! ...) is an error naming it, in HCL and in JSON alike, except Nomad's soft
//! preferences (`affinity`, `spread`), which are accepted with a warning
//! ([`parse_with_warnings`]); the table is in one place, `fields.rs`. The
//! HTTP API's register and plan bodies go through the same checks
//! ([`read_register_request`], [`read_plan_request`]).
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

#![warn(unreachable_pub)]

mod api_json;
mod detect;
mod error;
mod example;
mod fields;
mod hcl;
mod json;
pub mod metronome;

use drover_types::Job;
use drover_types::api::{JobPlanRequest, JobRegisterRequest};

pub use api_json::JsonFieldError;
pub use detect::{Format, detect_format};
pub use error::{JobspecError, Position};
pub use example::EXAMPLE_JOB;
pub use metronome::FieldError;

/// A job read from a jobspec, with what the user must be told about it.
///
/// Exists because a jobspec can be valid yet not run entirely as written:
/// Nomad's soft preferences (`affinity`, `spread`) are accepted and ignored,
/// and whoever shows the job to a user (`drover job run`, `plan`,
/// `validate`) must say so.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The canonicalized, validated job.
    pub job: Job,
    /// One line each, starting with the file and where known `line:column`:
    /// `job.hcl:4:3: job "x": the "affinity" block is not supported yet and is ignored; ...`.
    pub warnings: Vec<String>,
}

/// Parses a jobspec file's text; the format is detected: HCL, Nomad API JSON
/// (`{"Job": {...}}` or a bare Job object with PascalCase keys) or Metronome
/// job JSON (`{"id": ..., "run": {...}}`). Warnings are left out: a caller
/// that shows the job to a user calls [`parse_with_warnings`].
pub fn parse(source: &str, filename: &str) -> Result<Job, JobspecError> {
    parse_with_warnings(source, filename).map(|parsed| parsed.job)
}

/// [`parse`], with the warnings the user must see.
pub fn parse_with_warnings(source: &str, filename: &str) -> Result<Parsed, JobspecError> {
    match detect_format(source) {
        Format::Hcl => parse_hcl_with_warnings(source, filename),
        Format::NomadJson => parse_json_with_warnings(source, filename),
        Format::MetronomeJson => parse_metronome(source, filename).map(|job| Parsed { job, warnings: Vec::new() }),
    }
}

/// Parses an HCL jobspec into a canonicalized, validated job (warnings left
/// out; see [`parse_hcl_with_warnings`]).
pub fn parse_hcl(source: &str, filename: &str) -> Result<Job, JobspecError> {
    parse_hcl_with_warnings(source, filename).map(|parsed| parsed.job)
}

/// [`parse_hcl`], with the warnings the user must see.
pub fn parse_hcl_with_warnings(source: &str, filename: &str) -> Result<Parsed, JobspecError> {
    let (job, mut ctx) = hcl::read_job(source, filename)?;
    let warnings = ctx.take_warnings();
    let job = finish(job, filename, |error| ctx.locate(error))?;
    Ok(Parsed { job, warnings })
}

/// Parses a Nomad API JSON jobspec into a canonicalized, validated job
/// (warnings left out; see [`parse_json_with_warnings`]).
pub fn parse_json(source: &str, filename: &str) -> Result<Job, JobspecError> {
    parse_json_with_warnings(source, filename).map(|parsed| parsed.job)
}

/// [`parse_json`], with the warnings the user must see.
pub fn parse_json_with_warnings(source: &str, filename: &str) -> Result<Parsed, JobspecError> {
    let (job, warnings) = json::read_job(source, filename)?;
    let job = finish(job, filename, |_| None)?;
    let warnings = warnings.into_iter().map(|warning| format!("{filename}: {warning}")).collect();
    Ok(Parsed { job, warnings })
}

/// Reads a `PUT /v1/jobs` (or `POST /v1/job/:id`) body, Nomad's
/// `JobRegisterRequest`, checking every key of the request and its job as
/// a jobspec file's are (see [`parse_with_warnings`]); the job is neither
/// canonicalized nor validated. The warnings start with their JSON path
/// (`Job.Affinities: ...`).
pub fn read_register_request(body: &[u8]) -> Result<(JobRegisterRequest, Vec<String>), JsonFieldError> {
    read_request(body, fields::Level::RegisterRequest)
}

/// Reads a `POST /v1/job/:id/plan` body, Nomad's `JobPlanRequest`, as
/// [`read_register_request`] does.
pub fn read_plan_request(body: &[u8]) -> Result<(JobPlanRequest, Vec<String>), JsonFieldError> {
    read_request(body, fields::Level::PlanRequest)
}

fn read_request<T: serde::de::DeserializeOwned>(
    body: &[u8],
    level: fields::Level,
) -> Result<(T, Vec<String>), JsonFieldError> {
    let mut value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|err| JsonFieldError::new("", format!("failed to parse JSON body: {err}")))?;
    if !value.is_object() {
        return Err(JsonFieldError::new(
            "",
            format!("expected a JSON object with a Job, got {}", json::json_kind(&value)),
        ));
    }
    let warnings = api_json::check(&mut value, level, "")?;
    Ok((api_json::read(&value, level, "")?, warnings))
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
