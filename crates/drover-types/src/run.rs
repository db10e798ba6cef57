//! Runs and run history: one launch of a job (by a schedule, by hand or by a
//! dispatch), its attempts, and the per-job counters.
//!
//! A [`Run`] owns one child job per attempt (`ChildJobIDs`); its status follows
//! the newest child. [`JobHistory`] keeps the counters (which only grow) and the
//! last launched cron slot of every schedule, so a restarted server neither
//! launches a slot twice nor forgets one. [`RunPolicy`] says what happens when
//! an attempt fails (Metronome's `restart` block) and how many finished runs
//! are kept.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Status values of a [`Run`] (Metronome's, plus `SKIPPED`).
pub mod run_status {
    /// Created but not written yet (only ever seen in a reply).
    pub const INITIAL: &str = "INITIAL";
    /// Written; its child is waiting for placement or for its task to start.
    pub const STARTING: &str = "STARTING";
    /// A task of its child is running.
    pub const ACTIVE: &str = "ACTIVE";
    /// Its child completed.
    pub const SUCCESS: &str = "SUCCESS";
    /// It failed, was stopped, killed at its deadline, or its launch was missed.
    pub const FAILED: &str = "FAILED";
    /// Drover: a scheduled launch the concurrency policy skipped; it never ran.
    pub const SKIPPED: &str = "SKIPPED";

    /// Whether a run in `status` is finished.
    pub fn is_terminal(status: &str) -> bool {
        matches!(status, SUCCESS | FAILED | SKIPPED)
    }
}

/// What started a run.
pub mod run_trigger {
    /// `drover job periodic force`, `POST /v1/job/:id/periodic/force`.
    pub const MANUAL: &str = "manual";
    /// `POST /v1/job/:id/dispatch`.
    pub const DISPATCH: &str = "dispatch";
    /// Prefix of a scheduled launch: `schedule:<schedule id>`.
    pub const SCHEDULE_PREFIX: &str = "schedule:";

    /// The trigger of a launch by schedule `schedule_id`.
    pub fn schedule(schedule_id: &str) -> String {
        format!("{SCHEDULE_PREFIX}{schedule_id}")
    }
}

/// One launch of a job and its attempts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct Run {
    /// `yyyyMMddHHmmss` (UTC) and 5 `[A-Za-z0-9]`, e.g. `20160725212507ghwfZ`; a later run's sorts later.
    #[serde(rename = "ID")]
    pub id: String,
    /// Namespace of the job.
    pub namespace: String,
    /// The template (periodic or parameterized) job.
    #[serde(rename = "JobID")]
    pub job_id: String,
    /// One child job per attempt, oldest first.
    #[serde(rename = "ChildJobIDs")]
    pub child_job_ids: Vec<String>,
    /// `schedule:<id>`, `manual` or `dispatch` (see [`run_trigger`]).
    pub trigger: String,
    /// The cron slot it was launched for (Unix ns); for other triggers its creation time.
    pub scheduled_for: i64,
    /// See [`run_status`].
    pub status: String,
    /// Why it has its status, e.g. `skipped: concurrency policy FORBID`.
    pub reason: String,
    /// Set when a stop was asked for (by a user, REPLACE or the active deadline):
    /// the reason it will end with once its child is dead.
    pub stop_reason: String,
    /// When it was created (Unix ns).
    pub created_at: i64,
    /// When it started running (Unix ns, 0 = not yet).
    pub started_at: i64,
    /// When it finished (Unix ns, 0 = not yet).
    pub finished_at: i64,
    /// When its newest attempt ended (Unix ns), for the retry backoff.
    pub last_attempt_ended_at: i64,
    /// Allocations of every attempt, oldest first.
    pub allocations: Vec<String>,
    /// Exit codes of every attempt that exited, oldest first.
    pub exit_codes: Vec<i32>,
    /// State index at which it was created.
    pub create_index: u64,
    /// State index of its last change.
    pub modify_index: u64,
}

impl Run {
    /// Whether the run is finished.
    pub fn is_terminal(&self) -> bool {
        run_status::is_terminal(&self.status)
    }

    /// The schedule that launched it, if any.
    pub fn schedule_id(&self) -> Option<&str> {
        self.trigger.strip_prefix(run_trigger::SCHEDULE_PREFIX)
    }

    /// The child job of the newest attempt.
    pub fn current_child(&self) -> Option<&str> {
        self.child_job_ids.last().map(String::as_str)
    }
}

/// Per-job counters and cron bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobHistory {
    /// Namespace of the job.
    pub namespace: String,
    /// The job.
    #[serde(rename = "JobID")]
    pub job_id: String,
    /// Runs that ended `SUCCESS` (never decreases; counts beyond retention).
    pub success_count: u64,
    /// Runs that ended `FAILED`, missed launches included.
    pub failure_count: u64,
    /// Launches skipped by the concurrency policy.
    pub skipped_count: u64,
    /// When the last successful run finished (Unix ns, 0 = never).
    pub last_success_at: i64,
    /// When the last failed run finished (Unix ns, 0 = never).
    pub last_failure_at: i64,
    /// Per schedule ID: the newest cron slot handled (launched, skipped or
    /// recorded missed), Unix ns.
    pub schedule_slots: BTreeMap<String, i64>,
    /// State index of its last change.
    pub modify_index: u64,
}

/// What happens to a run whose attempt fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunRestartPolicy {
    /// The run fails with its first failed attempt (Metronome's default).
    #[default]
    Never,
    /// A new attempt starts until one succeeds or `ActiveDeadlineSeconds` passes.
    OnFailure,
}

/// A job's run policy (Metronome's `run.restart` plus history retention).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct RunPolicy {
    /// `NEVER` or `ON_FAILURE`.
    pub restart_policy: RunRestartPolicy,
    /// A run still going this long after its creation is killed and fails; with
    /// `ON_FAILURE` no attempt starts after it. 0 = no deadline.
    pub active_deadline_seconds: u64,
    /// A run whose first attempt is still waiting to run (for placement or
    /// for its task to start) this long after its creation is stopped and
    /// fails (Metronome's `maxLaunchDelay`). 0 = it waits as long as it takes.
    pub max_launch_delay_seconds: u64,
    /// Successful finished runs kept; 0 = the server's `run_history_successful`.
    pub history_successful: u32,
    /// Failed (and skipped) finished runs kept; 0 = the server's `run_history_failed`.
    pub history_failed: u32,
}

/// Characters of a run ID's suffix, in byte order (a larger suffix value
/// spelled in them sorts later).
pub const RUN_ID_ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `value` (below 62^5) as a run ID's 5 suffix characters of
/// [`RUN_ID_ALPHABET`]: a larger value sorts later.
pub fn run_id_suffix(mut value: u64) -> String {
    let mut digits = [b'0'; 5];
    for digit in digits.iter_mut().rev() {
        *digit = RUN_ID_ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    digits.iter().map(|&byte| char::from(byte)).collect()
}

/// A run ID: `yyyyMMddHHmmss` of `unix_seconds` in UTC, then `suffix`
/// (5 characters of [`RUN_ID_ALPHABET`], e.g. from [`run_id_suffix`]).
pub fn run_id(unix_seconds: i64, suffix: &str) -> String {
    let time = chrono::DateTime::from_timestamp(unix_seconds, 0).unwrap_or_default();
    format!("{}{suffix}", time.format("%Y%m%d%H%M%S"))
}

/// Metronome's time format in UTC: `2019-04-11T00:20:00.000+0000`.
pub fn format_metronome_time(unix_nanos: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(unix_nanos).format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_utc_timestamps_with_a_suffix() {
        assert_eq!(run_id(1_469_481_907, "ghwfZ"), "20160725212507ghwfZ");
        assert_eq!(run_id(0, "AAAAA"), "19700101000000AAAAA");
        assert_eq!(run_id(951_782_400, "x0000"), "20000229000000x0000", "leap day");
    }

    #[test]
    fn run_id_suffixes_sort_like_their_values() {
        assert_eq!(run_id_suffix(0), "00000");
        assert_eq!(run_id_suffix(62u64.pow(5) - 1), "zzzzz");
        let values = [0, 61, 62, 899, 900_000, 123_456_789, 899_999_999];
        let encoded: Vec<String> = values.iter().map(|&v| run_id_suffix(v)).collect();
        assert!(encoded.windows(2).all(|w| w[0] < w[1]), "{encoded:?}");
    }

    #[test]
    fn metronome_times() {
        assert_eq!(format_metronome_time(1_554_942_000 * 1_000_000_000 + 5_000_000), "2019-04-11T00:20:00.005+0000");
    }

    #[test]
    fn statuses_and_json_names() {
        assert!(run_status::is_terminal(run_status::SKIPPED));
        assert!(!run_status::is_terminal(run_status::ACTIVE));
        let run = Run {
            id: "r".into(),
            trigger: run_trigger::schedule("nightly"),
            child_job_ids: vec!["a/periodic-1".into()],
            ..Run::default()
        };
        assert_eq!(run.schedule_id(), Some("nightly"));
        let json = serde_json::to_value(&run).expect("serializable");
        assert_eq!(json["ChildJobIDs"][0], "a/periodic-1");
        assert_eq!(json["JobID"], "");
        let policy: RunPolicy =
            serde_json::from_str(r#"{"RestartPolicy":"ON_FAILURE","ActiveDeadlineSeconds":30}"#).expect("valid");
        assert_eq!(policy.restart_policy, RunRestartPolicy::OnFailure);
        assert_eq!(serde_json::to_string(&RunRestartPolicy::Never).expect("serializable"), r#""NEVER""#);
    }
}
