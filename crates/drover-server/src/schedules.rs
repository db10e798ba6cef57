//! Cron schedules of a job, without the launcher: validation (IDs,
//! duplicates, cron expressions, time zones; the message names the field)
//! and the next launch times. Pure functions of the job and a time.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use drover_cron::CronSpec;
use drover_types::{Job, JobSchedule, validate_schedule_id};

/// Checks every schedule of a job (HCL `periodic` and `Schedules`): IDs,
/// duplicates, cron expressions and zones. The message names the field.
pub fn validate_schedules(job: &Job) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    let schedules = job.effective_schedules();
    let n_from_periodic = schedules.len() - job.schedules.len();
    for (schedule_idx, schedule) in schedules.iter().enumerate() {
        let field = if schedule_idx < n_from_periodic {
            "periodic".to_string()
        } else {
            format!("schedules[{}]", schedule_idx - n_from_periodic)
        };
        validate_schedule(schedule).map_err(|err| format!("{field}: {err}"))?;
        if !seen.insert(schedule.id.clone()) {
            return Err(format!("{field} -> id: A schedule with id {} already exists", schedule.id));
        }
    }
    if !job.schedules.is_empty() && job.is_parameterized() {
        return Err("schedules: a parameterized job cannot have schedules".to_string());
    }
    Ok(())
}

/// Checks one schedule; the message starts with the field (`id`, `cron`, `timezone`).
pub fn validate_schedule(schedule: &JobSchedule) -> Result<(), String> {
    validate_schedule_id(&schedule.id).map_err(|err| format!("id: {err}"))?;
    drover_cron::validate_time_zone(&schedule.time_zone).map_err(|err| format!("timezone: {err}"))?;
    CronSpec::parse(&schedule.cron, &schedule.time_zone).map_err(|err| format!("cron: {err}"))?;
    Ok(())
}

/// The next launch of one schedule after `now` (Unix ns), enabled or not.
pub fn next_run_at(job: &Job, schedule: &JobSchedule, now: i64) -> Option<i64> {
    let spec = CronSpec::parse(&schedule.cron, &schedule.time_zone).ok()?;
    let _ = job;
    spec.next_after(to_datetime(now)).map(to_nanos)
}

/// The next launch of any enabled schedule of a job (Unix ns).
pub fn next_launch(job: &Job, now: i64) -> Option<i64> {
    if !job.is_periodic() || job.stop {
        return None;
    }
    job.effective_schedules().iter().filter(|s| s.enabled).filter_map(|s| next_run_at(job, s, now)).min()
}

/// A Unix time in ns as a UTC date-time.
pub(crate) fn to_datetime(nanos: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(nanos)
}

/// A UTC date-time as Unix ns (`i64::MAX` past 2262).
pub(crate) fn to_nanos(at: DateTime<Utc>) -> i64 {
    at.timestamp_nanos_opt().unwrap_or(i64::MAX)
}
