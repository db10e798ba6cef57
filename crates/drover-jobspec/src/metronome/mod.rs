//! Metronome (DC/OS Jobs) job JSON, both ways: [`metronome_to_job`] turns a
//! Metronome job into a Drover [`Job`](drover_types::Job),
//! [`job_to_metronome`] renders a job back in Metronome's shape for the
//! `/service/metronome/v1` API.
//!
//! The mapping: a `batch` job marked `RunOnDemand` (it runs only when started,
//! by hand or by a schedule), one group and one task named after the last
//! segment of the ID. `run.cmd` runs as `raw_exec` `/bin/sh -c <cmd>`,
//! `run.args` as the command line itself; with `run.docker` the task uses the
//! `docker` driver (`image`, `args`, `privileged`, `force_pull`). `cpus` ×
//! 1000 is the CPU in MHz, `mem` the memory in MB, `disk` the group's
//! ephemeral disk in MB; `labels` and `description` are job meta;
//! `restart` is the job's run policy and `maxLaunchDelay` (default 3600 s)
//! its `MaxLaunchDelaySeconds`; `taskKillGracePeriodSeconds` the
//! task's kill timeout; `placement.constraints` become job constraints on
//! node meta (`hostname` on `${attr.unique.hostname}`).
//!
//! Validation follows Metronome's schema (unknown fields are rejected, as
//! its `additionalProperties: false` says) and reports every problem with its
//! JSON pointer path ([`FieldError`]), which the API turns into Metronome's
//! 422 `details`. Decision: the JSON is walked as a [`serde_json::Value`]
//! rather than derived, so every error carries its path and all of them are
//! reported at once.
//!
//! The reader (`read`: the walk, its field tables and checks) and the writer
//! (`write`) are apart; this module holds what both use (the meta key of
//! `description`, the GPU attribute, the job ID rules) and re-exports their
//! entry points.

mod read;
mod write;

pub use read::{FieldError, metronome_to_job, metronome_to_schedule};
pub use write::{NotMetronome, job_to_metronome, schedule_to_metronome};

/// Meta key holding a Metronome job's `description`.
pub const DESCRIPTION_META_KEY: &str = "description";

/// The regular expression Metronome documents for job IDs.
pub const JOB_ID_PATTERN: &str = r"^([a-z0-9]+(\-+[a-z0-9]+)*)(\.([a-z0-9]+(\-+[a-z0-9]+)*))*$";

/// Node attribute a GPU count is checked against (no node sets it yet, so
/// a job asking for GPUs is honestly unplaceable).
const GPU_ATTRIBUTE: &str = "${attr.gpu.count}";

/// Checks a job ID against [`JOB_ID_PATTERN`]: dot-separated segments of
/// `a-z`, `0-9` and `-`, each starting and ending with a letter or digit.
pub fn validate_job_id(id: &str) -> Result<(), String> {
    let segment_ok = |segment: &str| {
        !segment.is_empty()
            && segment.chars().all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-'))
            && !segment.starts_with('-')
            && !segment.ends_with('-')
    };
    if id.split('.').all(segment_ok) {
        return Ok(());
    }
    Err(format!(
        "{id:?} is not a valid job id: dot-separated segments of lowercase letters, digits and '-', each starting and ending with a letter or digit (pattern {JOB_ID_PATTERN})"
    ))
}

/// The job group of an ID: everything before the last dot (`marketing` for
/// `marketing.myjob`); empty for an ID without dots.
pub fn job_group(id: &str) -> &str {
    id.rsplit_once('.').map_or("", |(group, _)| group)
}

/// Whether job `job_id` is in job group `group`, directly (`marketing.myjob`
/// in `marketing`) or in a nested group (`marketing.eu.myjob`).
pub fn in_group(job_id: &str, group: &str) -> bool {
    let group = group.trim_end_matches('.');
    !group.is_empty() && job_id.strip_prefix(group).is_some_and(|rest| rest.starts_with('.'))
}

#[cfg(test)]
mod tests {
    use drover_types::{Job, JobType};
    use serde_json::json;

    use super::*;

    #[test]
    fn job_ids_follow_metronome_pattern() {
        for good in ["a", "myjob", "prod.example.app", "a--b", "0.1-x"] {
            assert_eq!(validate_job_id(good), Ok(()), "{good}");
        }
        for bad in ["", "-a", "a-", "a..b", ".a", "a.", "A", "a_b", "a/b"] {
            assert!(validate_job_id(bad).is_err(), "{bad}");
        }
        assert_eq!(job_group("marketing.myjob"), "marketing");
        assert_eq!(job_group("a.b.c"), "a.b");
        assert_eq!(job_group("solo"), "");
        assert!(in_group("marketing.myjob", "marketing"));
        assert!(in_group("marketing.eu.myjob", "marketing"));
        assert!(in_group("marketing.eu.myjob", "marketing.eu."));
        assert!(!in_group("marketingx.myjob", "marketing"));
        assert!(!in_group("marketing", "marketing"));
        assert!(!in_group("a.b", ""));
    }

    #[test]
    fn jobs_render_back_in_metronome_shape() {
        let input = json!({
            "id": "marketing.report",
            "description": "weekly",
            "labels": {"team": "web"},
            "run": {"cmd": "echo hi", "cpus": 0.5, "mem": 64, "disk": 10, "gpus": 0,
                    "env": {"X": "1"}, "user": "nobody",
                    "restart": {"policy": "ON_FAILURE", "activeDeadlineSeconds": 30},
                    "taskKillGracePeriodSeconds": 7.5, "maxLaunchDelay": 120,
                    "artifacts": [{"uri": "https://e.com/x", "executable": true, "extract": false, "cache": false}],
                    "placement": {"constraints": [{"attribute": "rack", "operator": "IS", "value": "r1"}]}},
            "schedules": [{"id": "nightly", "cron": "20 0 * * *", "timezone": "Europe/Berlin",
                           "startingDeadlineSeconds": 60, "concurrencyPolicy": "REPLACE", "enabled": false}]
        });
        let job = metronome_to_job(&input).expect("valid");
        let back = job_to_metronome(&job).expect("metronome form");
        assert_eq!(back, input);
        let docker = json!({"id": "img", "labels": {}, "run": {"args": ["--flag"], "cpus": 1.0, "mem": 32, "disk": 0, "gpus": 0,
            "docker": {"image": "alpine", "forcePullImage": false, "privileged": true, "parameters": []},
            "restart": {"policy": "NEVER"}, "taskKillGracePeriodSeconds": 5.0}, "schedules": []});
        let job = metronome_to_job(&docker).expect("valid");
        // An absent maxLaunchDelay is Metronome's default, shown back.
        let mut with_default = docker.clone();
        with_default["run"]["maxLaunchDelay"] = json!(3600);
        assert_eq!(job_to_metronome(&job).expect("metronome form"), with_default);
        let service = Job { id: "web".to_string(), job_type: JobType::Service, ..Job::default() };
        assert_eq!(
            job_to_metronome(&service).map_err(|e| e.to_string()),
            Err("job \"web\" has no Metronome form: it is a service job, not batch".to_string())
        );
        // Only templates a Metronome run can start: not a batch job that ran
        // when registered, nor a parameterized one.
        let mut plain = job.clone();
        plain.run_on_demand = false;
        assert_eq!(
            job_to_metronome(&plain).map_err(|e| e.to_string()),
            Err("job \"img\" has no Metronome form: it runs when registered, not on demand or on a schedule"
                .to_string())
        );
        plain.parameterized_job = Some(drover_types::ParameterizedJobConfig::default());
        assert_eq!(
            job_to_metronome(&plain).map_err(|e| e.to_string()),
            Err("job \"img\" has no Metronome form: it is a parameterized job: it runs by dispatch (POST /v1/job/<id>/dispatch)"
                .to_string())
        );
    }

    #[test]
    fn schedules_alone() {
        let schedule =
            metronome_to_schedule(&json!({"id": "nightly", "cron": "20 0 * * *", "timeZone": "America/New_York",
            "nextRunAt": "2016-07-26T00:20:00.000+0000", "startingDeadlineSeconds": 900}))
            .expect("valid");
        assert_eq!(schedule.time_zone, "America/New_York");
        assert_eq!(
            schedule_to_metronome(&schedule),
            json!({"id": "nightly", "cron": "20 0 * * *", "timezone": "America/New_York",
                   "startingDeadlineSeconds": 900, "concurrencyPolicy": "ALLOW", "enabled": true})
        );
        let errors = metronome_to_schedule(&json!({"cron": 5})).expect_err("invalid");
        assert_eq!(
            errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
            vec!["/id: is required", "/cron: expected a string, got a number"]
        );
    }
}
