//! Cron schedules of periodic jobs: the stored shape and the schedule ID rule.
//!
//! A [`JobSchedule`] is what a user writes (Metronome's `schedules[]` entry in
//! Drover/Nomad field names). The expression and zone are only strings here; the
//! `drover-cron` crate parses them and computes launch times, so this crate stays
//! free of time-zone data.

use serde::{Deserialize, Serialize};

/// Metronome's default `startingDeadlineSeconds`: a launch missed by more than
/// 15 minutes is skipped.
pub const DEFAULT_STARTING_DEADLINE_SECONDS: u64 = 900;

/// What a scheduled launch does when a run of the same job is still active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum ConcurrencyPolicy {
    /// Start the new run alongside the active ones.
    #[default]
    Allow,
    /// Skip the launch (and record why) while a run is active.
    Forbid,
    /// Stop the active runs, then start the new one.
    Replace,
}

/// One cron schedule of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobSchedule {
    /// Unique within the job; see [`validate_schedule_id`].
    #[serde(rename = "ID")]
    pub id: String,
    /// The cron expression: 5 fields, 6 with seconds first, or a macro such as `@daily`.
    pub cron: String,
    /// IANA zone the expression is read in, e.g. `America/New_York`; empty means UTC.
    pub time_zone: String,
    /// A disabled schedule launches nothing but is kept.
    pub enabled: bool,
    /// What to do when a run is still active at launch time.
    pub concurrency_policy: ConcurrencyPolicy,
    /// How late a launch may still start; later ones are skipped. 0 means no deadline.
    pub starting_deadline_seconds: u64,
}

impl Default for JobSchedule {
    fn default() -> Self {
        JobSchedule {
            id: String::new(),
            cron: String::new(),
            time_zone: String::new(),
            enabled: true,
            concurrency_policy: ConcurrencyPolicy::Allow,
            starting_deadline_seconds: DEFAULT_STARTING_DEADLINE_SECONDS,
        }
    }
}

/// Checks a schedule ID: at least 2 characters of `a-z`, `0-9` and `-`, not
/// starting or ending with `-` (Metronome's rule).
pub fn validate_schedule_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("schedule ID is empty: expected at least 2 characters of a-z, 0-9 and '-'".to_string());
    }
    if let Some(bad) = id.chars().find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '-')) {
        return Err(format!(
            "schedule ID {id:?} contains {bad:?}: only lowercase letters a-z, digits 0-9 and '-' are allowed"
        ));
    }
    if id.len() < 2 {
        return Err(format!("schedule ID {id:?} is too short: expected at least 2 characters"));
    }
    if id.starts_with('-') {
        return Err(format!("schedule ID {id:?} starts with '-'"));
    }
    if id.ends_with('-') {
        return Err(format!("schedule ID {id:?} ends with '-'"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_id(id: &str, expect: Result<(), &str>) {
        assert_eq!(validate_schedule_id(id), expect.map_err(str::to_string), "schedule ID {id:?}");
    }

    #[test]
    fn schedule_ids() {
        check_id("ab", Ok(()));
        check_id("nightly", Ok(()));
        check_id("every-5-min", Ok(()));
        check_id("0-9", Ok(()));
        check_id("", Err("schedule ID is empty: expected at least 2 characters of a-z, 0-9 and '-'"));
        check_id("a", Err(r#"schedule ID "a" is too short: expected at least 2 characters"#));
        check_id("-ab", Err(r#"schedule ID "-ab" starts with '-'"#));
        check_id("ab-", Err(r#"schedule ID "ab-" ends with '-'"#));
        check_id("--", Err(r#"schedule ID "--" starts with '-'"#));
        check_id(
            "Nightly",
            Err(r#"schedule ID "Nightly" contains 'N': only lowercase letters a-z, digits 0-9 and '-' are allowed"#),
        );
        check_id(
            "a_b",
            Err(r#"schedule ID "a_b" contains '_': only lowercase letters a-z, digits 0-9 and '-' are allowed"#),
        );
        check_id(
            "né",
            Err(r#"schedule ID "né" contains 'é': only lowercase letters a-z, digits 0-9 and '-' are allowed"#),
        );
    }

    #[test]
    fn defaults_fill_missing_fields() {
        let schedule: JobSchedule = serde_json::from_str(r#"{"ID":"nightly","Cron":"0 2 * * *"}"#).expect("valid JSON");
        assert_eq!(
            schedule,
            JobSchedule {
                id: "nightly".to_string(),
                cron: "0 2 * * *".to_string(),
                time_zone: String::new(),
                enabled: true,
                concurrency_policy: ConcurrencyPolicy::Allow,
                starting_deadline_seconds: 900,
            }
        );
    }

    #[test]
    fn json_field_names() {
        let schedule = JobSchedule {
            id: "nightly".to_string(),
            cron: "30 2 * * *".to_string(),
            time_zone: "Europe/Berlin".to_string(),
            enabled: false,
            concurrency_policy: ConcurrencyPolicy::Forbid,
            starting_deadline_seconds: 0,
        };
        let json = serde_json::to_string(&schedule).expect("serializable");
        assert_eq!(
            json,
            r#"{"ID":"nightly","Cron":"30 2 * * *","TimeZone":"Europe/Berlin","Enabled":false,"ConcurrencyPolicy":"FORBID","StartingDeadlineSeconds":0}"#
        );
        let back: JobSchedule = serde_json::from_str(&json).expect("round trip");
        assert_eq!(back, schedule);
        for (text, policy) in [
            (r#""ALLOW""#, ConcurrencyPolicy::Allow),
            (r#""FORBID""#, ConcurrencyPolicy::Forbid),
            (r#""REPLACE""#, ConcurrencyPolicy::Replace),
        ] {
            assert_eq!(serde_json::from_str::<ConcurrencyPolicy>(text).expect("known policy"), policy);
        }
        assert!(serde_json::from_str::<ConcurrencyPolicy>(r#""allow""#).is_err());
    }
}
