//! Reply shapes of the Metronome (DC/OS Jobs) API under
//! `/service/metronome/v1`: runs, run history and error bodies, in
//! Metronome's camelCase names. Times are Metronome's text
//! (`2019-04-11T00:20:00.000+0000`), `null` when unset. The job and schedule
//! shapes are `drover_jobspec::metronome`'s, which reads them too.
//!
//! Fields are in alphabetical order, the order these objects had on the wire
//! when they were built as JSON values.

use serde::{Deserialize, Serialize};

/// A Metronome error reply: `{"message": ...}`, with the ID (and job) of what
/// was not found, or one `details` entry per invalid path.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct ErrorBody {
    /// Per JSON path of an invalid object, its errors (`Object is not valid`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<ErrorDetail>>,
    /// The job, run or schedule not found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The job of a run not found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_spec: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// The errors of one path of an invalid object.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct ErrorDetail {
    /// Messages, in the order found.
    pub errors: Vec<String>,
    /// JSON path, e.g. `/run/mem`.
    pub path: String,
}

/// A run as Metronome shows it.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct RunView {
    /// When it ended.
    pub completed_at: Option<String>,
    /// When it was created.
    pub created_at: Option<String>,
    /// Run ID.
    pub id: String,
    /// Job ID.
    pub job_id: String,
    /// `INITIAL`, `STARTING`, `ACTIVE`, `SUCCESS`, `FAILED`.
    pub status: String,
    /// Every allocation of every attempt, oldest first.
    pub tasks: Vec<RunTask>,
}

/// One task (allocation) of a [`RunView`].
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct RunTask {
    /// When it ended.
    pub completed_at: Option<String>,
    /// Allocation ID.
    pub id: String,
    /// When it started.
    pub started_at: Option<String>,
    /// Mesos-style status: `TASK_RUNNING`, `TASK_FINISHED`, `TASK_FAILED`...
    pub status: String,
}

/// A job's `history` (with the finished runs kept) or `historySummary`
/// (counters only: the run lists are left out).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct History {
    /// Finished runs that failed, newest first (`history` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_finished_runs: Option<Vec<FinishedRun>>,
    /// Runs that failed.
    pub failure_count: u64,
    /// When a run last failed.
    pub last_failure_at: Option<String>,
    /// When a run last succeeded.
    pub last_success_at: Option<String>,
    /// Runs that succeeded.
    pub success_count: u64,
    /// Finished runs that succeeded, newest first (`history` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub successful_finished_runs: Option<Vec<FinishedRun>>,
}

/// A finished run in a [`History`].
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct FinishedRun {
    /// When it was created.
    pub created_at: Option<String>,
    /// When it ended.
    pub finished_at: Option<String>,
    /// Run ID.
    pub id: String,
    /// Its allocations' IDs.
    pub tasks: Vec<String>,
}
