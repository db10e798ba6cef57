//! Nomad API JSON jobspecs: `{"Job": {...}}` or a bare Job object.
//!
//! The domain types already carry Nomad's field names, so this is serde_json
//! plus error positions; unknown fields are ignored as Nomad's API has many
//! Drover does not model.

use drover_types::Job;
use serde::Deserialize;

use crate::error::JobspecError;

/// The register request shape: other keys (`Submission`, `EnforceIndex`, ...) are ignored.
#[derive(Deserialize)]
struct Wrapped {
    #[serde(rename = "Job")]
    job: Job,
}

/// Reads a job from Nomad API JSON, without canonicalizing or validating it.
pub(crate) fn read_job(source: &str, file: &str) -> Result<Job, JobspecError> {
    let text = source.trim_start_matches('\u{feff}');
    let value: serde_json::Value = serde_json::from_str(text).map_err(|err| syntax(file, &err))?;
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
    if object.contains_key("Job") {
        let wrapped: Wrapped = serde_json::from_str(text).map_err(|err| syntax(file, &err))?;
        return Ok(wrapped.job);
    }
    serde_json::from_str(text).map_err(|err| syntax(file, &err))
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

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a bool",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
