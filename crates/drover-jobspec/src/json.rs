//! Nomad API JSON jobspecs: `{"Job": {...}}` or a bare Job object.
//!
//! The domain types already carry Nomad's field names, so this is serde_json
//! plus error positions, after [`crate::api_json`] has checked every key:
//! unknown keys are errors, Nomad blocks Drover does not run are refused (or
//! warned about), as in HCL.

use drover_types::Job;
use serde::Deserialize;

use crate::api_json::{self, JsonFieldError};
use crate::error::JobspecError;
use crate::fields::{Level, attribute_unset};

/// The register request shape, read from the text only for the line and
/// column of a type error.
#[derive(Deserialize)]
struct Wrapped {
    #[serde(rename = "Job")]
    _job: Job,
}

/// Reads a job from Nomad API JSON, without canonicalizing or validating it;
/// also returns the warnings (soft preferences Drover ignores).
pub(crate) fn read_job(source: &str, file: &str) -> Result<(Job, Vec<String>), JobspecError> {
    let text = source.trim_start_matches('\u{feff}');
    let mut value: serde_json::Value = serde_json::from_str(text).map_err(|err| syntax(file, &err))?;
    let Some(object) = value.as_object() else {
        return Err(JobspecError::Invalid {
            file: file.to_string(),
            line: Some(1),
            column: Some(1),
            path: String::new(),
            message: format!("expected a JSON object with a Job, got {}", json_kind(&value)),
        });
    };
    if object.contains_key("job") && !object.contains_key("Job") {
        return Err(JobspecError::Invalid {
            file: file.to_string(),
            line: None,
            column: None,
            path: String::new(),
            message: "HCL's JSON syntax ({\"job\": {...}}) is not supported; use the Nomad API shape {\"Job\": {...}}"
                .to_string(),
        });
    }
    let wrapped = object.contains_key("Job");
    let (job, warnings) = if wrapped {
        let warnings = api_json::check(&mut value, Level::RegisterRequest, "").map_err(|err| invalid(file, err))?;
        request_options_unset(&value).map_err(|err| invalid(file, err))?;
        let job = match value.get("Job") {
            Some(job) => api_json::read(job, Level::Job, "Job"),
            None => Err(JsonFieldError::new("Job", "expected a job object, got null")),
        };
        (job, warnings)
    } else {
        let warnings = api_json::check(&mut value, Level::Job, "Job").map_err(|err| invalid(file, err))?;
        (api_json::read(&value, Level::Job, "Job"), warnings)
    };
    match job {
        Ok(job) => Ok((job, warnings)),
        Err(err) => Err(positioned(text, file, wrapped, err)),
    }
}

/// The register request's options (`EnforceIndex`, ...) are the command
/// line's to give (`-check-index`); a file that sets one is refused rather
/// than have it ignored.
fn request_options_unset(request: &serde_json::Value) -> Result<(), JsonFieldError> {
    let Some(map) = request.as_object() else { return Ok(()) };
    match map.iter().find(|(key, item)| *key != "Job" && !attribute_unset(item)) {
        Some((key, _)) => Err(JsonFieldError::new(
            key,
            "a register request option is not read from a jobspec file; give it on the command line (-check-index)",
        )),
        None => Ok(()),
    }
}

fn invalid(file: &str, err: JsonFieldError) -> JobspecError {
    JobspecError::Invalid { file: file.to_string(), line: None, column: None, path: err.path, message: err.message }
}

/// A type error at its JSON path, with the line and column serde gives for
/// the same error when reading the text directly.
fn positioned(text: &str, file: &str, wrapped: bool, err: JsonFieldError) -> JobspecError {
    let direct =
        if wrapped { serde_json::from_str::<Wrapped>(text).err() } else { serde_json::from_str::<Job>(text).err() };
    let (line, column) = match direct.as_ref().map(|direct| (syntax(file, direct), direct)) {
        Some((JobspecError::Invalid { message, .. }, direct)) if message == err.message => {
            (Some(direct.line().max(1)), Some(direct.column().max(1)))
        }
        _ => (None, None),
    };
    JobspecError::Invalid { file: file.to_string(), line, column, path: err.path, message: err.message }
}

pub(crate) fn syntax(file: &str, err: &serde_json::Error) -> JobspecError {
    // serde_json appends " at line L column C"; the position goes in front instead.
    let text = err.to_string();
    let message = match text.rfind(" at line ") {
        Some(idx) if err.line() > 0 => text[..idx].to_string(),
        _ => text,
    };
    let (line, column) = (err.line().max(1), err.column().max(1));
    match err.classify() {
        serde_json::error::Category::Data => JobspecError::Invalid {
            file: file.to_string(),
            line: Some(line),
            column: Some(column),
            path: String::new(),
            message,
        },
        _ => JobspecError::Syntax { file: file.to_string(), line, column, message },
    }
}

pub(crate) fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a bool",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
