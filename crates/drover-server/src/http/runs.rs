//! Runs, run history, forced launches and schedules of a job:
//!
//! - `GET /v1/job/:id/runs[?limit=N]` (newest first), `GET /v1/job/:id/runs/:run_id`,
//!   `POST /v1/job/:id/runs/:run_id/stop`
//! - `GET /v1/job/:id/history`
//! - `POST /v1/job/:id/periodic/force` (Nomad's reply `{EvalID, EvalCreateIndex, Index}`,
//!   plus `RunID` and `DispatchedJobID`)
//! - `GET|POST /v1/job/:id/schedules`, `GET|PUT|DELETE /v1/job/:id/schedules/:schedule_id`;
//!   bodies are a Drover schedule (`{"ID":...,"Cron":...}`) or a Metronome one
//!   (`{"id":...,"cron":...,"timezone":...,"concurrencyPolicy":...}`, unknown
//!   fields rejected).
//!
//! Job IDs may contain `/`, so these paths are recognised by their tail
//! before the generic `/v1/job/...` suffixes.

use axum::body::Bytes;
use axum::http::Method;
use serde::Deserialize;

use drover_types::api::{IndexResponse, PeriodicForceResponse, ScheduleView};
use drover_types::{ConcurrencyPolicy, Job, JobHistory, JobSchedule, Run, format_metronome_time, now_nanos};

use super::{ApiError, ApiResult, AppState, Params, blocking_snapshot, json_reply, parse_body};
use crate::error::ServerError;

/// Which of this module's endpoints a path names.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Runs,
    Run(String),
    StopRun(String),
    History,
    Force,
    Schedules,
    Schedule(String),
}

fn decode_id(id: &str) -> String {
    id.replace("%2F", "/").replace("%2f", "/")
}

/// `(job ID, route)` when `rest` (after `/v1/job/`) is one of this module's paths.
fn split(rest: &str) -> Option<(String, Route)> {
    let rest = rest.trim_end_matches('/');
    let non_empty = |job: &str| (!job.is_empty()).then(|| decode_id(job));
    if let Some(job) = rest.strip_suffix("/periodic/force") {
        return Some((non_empty(job)?, Route::Force));
    }
    if let Some(job) = rest.strip_suffix("/history") {
        return Some((non_empty(job)?, Route::History));
    }
    if let Some(job) = rest.strip_suffix("/runs") {
        return Some((non_empty(job)?, Route::Runs));
    }
    if let Some(job) = rest.strip_suffix("/schedules") {
        return Some((non_empty(job)?, Route::Schedules));
    }
    if let Some((job, tail)) = rest.rsplit_once("/runs/") {
        let job = non_empty(job)?;
        return match tail.split_once('/') {
            None => Some((job, Route::Run(tail.to_string()))),
            Some((run_id, "stop")) => Some((job, Route::StopRun(run_id.to_string()))),
            Some(_) => None,
        };
    }
    if let Some((job, schedule_id)) = rest.rsplit_once("/schedules/")
        && !schedule_id.contains('/')
    {
        return Some((non_empty(job)?, Route::Schedule(schedule_id.to_string())));
    }
    None
}

/// Answers `rest` if it is one of this module's paths; `None` otherwise.
pub(super) async fn route(
    server: &AppState,
    method: &Method,
    rest: &str,
    params: &Params,
    body: &Bytes,
) -> Option<ApiResult> {
    let (job_id, route) = split(rest)?;
    let namespace = params.namespace();
    let result = match (method.as_str(), route) {
        ("GET", Route::Runs) => list_runs(server, params, &job_id).await,
        ("GET", Route::Run(run_id)) => get_run(server, params, &job_id, &run_id).await,
        ("POST" | "PUT", Route::StopRun(run_id)) => server
            .stop_run(&namespace, &job_id, &run_id)
            .await
            .map(|(run, index)| json_reply(&run, index))
            .map_err(ApiError),
        ("GET", Route::History) => history(server, params, &job_id).await,
        ("POST" | "PUT", Route::Force) => force(server, &namespace, &job_id).await,
        ("GET", Route::Schedules) => list_schedules(server, params, &job_id).await,
        ("POST", Route::Schedules) => match parse_schedule(body) {
            Ok(schedule) => server
                .add_schedule(&namespace, &job_id, schedule)
                .await
                .map(|index| json_reply(&IndexResponse { index }, index))
                .map_err(ApiError),
            Err(err) => Err(err),
        },
        ("GET", Route::Schedule(schedule_id)) => get_schedule(server, params, &job_id, &schedule_id).await,
        ("PUT" | "POST", Route::Schedule(schedule_id)) => match parse_schedule(body) {
            Ok(mut schedule) => {
                if schedule.id.is_empty() {
                    schedule.id = schedule_id.clone();
                }
                if schedule.id != schedule_id {
                    Err(ApiError(ServerError::BadRequest(format!(
                        "id: schedule ID {:?} does not match the path's {schedule_id:?}",
                        schedule.id
                    ))))
                } else {
                    server
                        .update_schedule(&namespace, &job_id, schedule)
                        .await
                        .map(|index| json_reply(&IndexResponse { index }, index))
                        .map_err(ApiError)
                }
            }
            Err(err) => Err(err),
        },
        ("DELETE", Route::Schedule(schedule_id)) => server
            .remove_schedule(&namespace, &job_id, &schedule_id)
            .await
            .map(|index| json_reply(&IndexResponse { index }, index))
            .map_err(ApiError),
        (method, _) => Err(ApiError(ServerError::BadRequest(format!("method {method} not allowed on /v1/job/{rest}")))),
    };
    Some(result)
}

/// Label (job `meta`) filters of the job list: `?label=team=ml`, several
/// separated by `,`; every one must match. (`?filter=` is Nomad's expression
/// language: `Meta.team == "ml"`.)
pub(super) fn label_filter(params: &Params) -> Result<Vec<(String, String)>, ApiError> {
    let mut labels = Vec::new();
    let Some(text) = params.get("label").filter(|text| !text.is_empty()) else { return Ok(labels) };
    for item in text.split(',') {
        let Some((key, value)) = item.split_once('=').filter(|(key, _)| !key.is_empty()) else {
            return Err(ApiError(ServerError::BadRequest(format!("invalid label {item:?}: expected <key>=<value>"))));
        };
        labels.push((key.to_string(), value.to_string()));
    }
    Ok(labels)
}

fn find_job(snapshot: &drover_state::Snapshot, namespace: &str, job_id: &str) -> Result<std::sync::Arc<Job>, ApiError> {
    snapshot.job(namespace, job_id).ok_or_else(|| ApiError(ServerError::NotFound("job not found".to_string())))
}

async fn list_runs(server: &AppState, params: &Params, job_id: &str) -> ApiResult {
    let snapshot = blocking_snapshot(server, params).await?;
    let namespace = params.namespace();
    let limit = match params.number("limit")? {
        None => usize::MAX,
        Some(0) => return Err(ApiError(ServerError::BadRequest("invalid limit 0: expected at least 1".to_string()))),
        Some(limit) => usize::try_from(limit).unwrap_or(usize::MAX),
    };
    find_job(&snapshot, &namespace, job_id)?;
    let runs: Vec<Run> =
        snapshot.runs_of_job(&namespace, job_id).iter().take(limit).map(|run| (**run).clone()).collect();
    Ok(json_reply(&runs, snapshot.index()))
}

async fn get_run(server: &AppState, params: &Params, job_id: &str, run_id: &str) -> ApiResult {
    let snapshot = blocking_snapshot(server, params).await?;
    let run = snapshot
        .run(&params.namespace(), job_id, run_id)
        .ok_or_else(|| ApiError(ServerError::NotFound(format!("run not found: {run_id}"))))?;
    Ok(json_reply(&*run, snapshot.index()))
}

async fn history(server: &AppState, params: &Params, job_id: &str) -> ApiResult {
    let snapshot = blocking_snapshot(server, params).await?;
    let namespace = params.namespace();
    let job = find_job(&snapshot, &namespace, job_id)?;
    let history = snapshot.job_history(&namespace, job_id).map(|history| (*history).clone()).unwrap_or(JobHistory {
        namespace: job.namespace.clone(),
        job_id: job.id.clone(),
        ..JobHistory::default()
    });
    Ok(json_reply(&history, snapshot.index()))
}

async fn force(server: &AppState, namespace: &str, job_id: &str) -> ApiResult {
    let (run, eval_id, index) = server.force_run(namespace, job_id).await?;
    let reply = PeriodicForceResponse {
        eval_id,
        eval_create_index: index,
        index,
        dispatched_job_id: run.current_child().unwrap_or_default().to_string(),
        run_id: run.id,
    };
    Ok(json_reply(&reply, index))
}

fn schedule_views(job: &Job) -> Vec<ScheduleView> {
    let now = now_nanos();
    let schedules = job.effective_schedules();
    let n_from_periodic = schedules.len() - job.schedules.len();
    schedules
        .into_iter()
        .enumerate()
        .map(|(schedule_idx, schedule)| {
            let next_run_at = crate::schedules::next_run_at(job, &schedule, now).unwrap_or(0);
            ScheduleView {
                source: if schedule_idx < n_from_periodic { "periodic" } else { "schedules" }.to_string(),
                next_run_at,
                next_run_at_text: if next_run_at > 0 { format_metronome_time(next_run_at) } else { String::new() },
                schedule,
            }
        })
        .collect()
}

async fn list_schedules(server: &AppState, params: &Params, job_id: &str) -> ApiResult {
    let snapshot = blocking_snapshot(server, params).await?;
    let job = find_job(&snapshot, &params.namespace(), job_id)?;
    Ok(json_reply(&schedule_views(&job), snapshot.index()))
}

async fn get_schedule(server: &AppState, params: &Params, job_id: &str, schedule_id: &str) -> ApiResult {
    let snapshot = blocking_snapshot(server, params).await?;
    let job = find_job(&snapshot, &params.namespace(), job_id)?;
    let view = schedule_views(&job)
        .into_iter()
        .find(|view| view.schedule.id == schedule_id)
        .ok_or_else(|| ApiError(ServerError::NotFound(format!("schedule not found: {schedule_id}"))))?;
    Ok(json_reply(&view, snapshot.index()))
}

/// A Metronome schedule file (`dcos job schedule add`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MetronomeSchedule {
    id: String,
    cron: String,
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    concurrency_policy: Option<ConcurrencyPolicy>,
    #[serde(default)]
    starting_deadline_seconds: Option<u64>,
    /// Read-only; accepted and ignored so a `schedule show` output can be sent back.
    #[serde(default)]
    #[allow(dead_code)]
    next_run_at: Option<String>,
}

/// A schedule body in Drover's or Metronome's field names.
fn parse_schedule(body: &Bytes) -> Result<JobSchedule, ApiError> {
    let value: serde_json::Value = parse_body(body)?;
    let bad = |err: serde_json::Error| ApiError(ServerError::BadRequest(format!("invalid schedule: {err}")));
    if value.get("ID").is_some() {
        return serde_json::from_value(value).map_err(bad);
    }
    let metronome: MetronomeSchedule = serde_json::from_value(value).map_err(bad)?;
    let defaults = JobSchedule::default();
    Ok(JobSchedule {
        id: metronome.id,
        cron: metronome.cron,
        time_zone: metronome.timezone.unwrap_or_default(),
        enabled: metronome.enabled.unwrap_or(defaults.enabled),
        concurrency_policy: metronome.concurrency_policy.unwrap_or(defaults.concurrency_policy),
        starting_deadline_seconds: metronome.starting_deadline_seconds.unwrap_or(defaults.starting_deadline_seconds),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_on_their_tail() {
        let check = |rest: &str, expect: Option<(&str, Route)>| {
            assert_eq!(split(rest), expect.map(|(job, route)| (job.to_string(), route)), "{rest}");
        };
        check("cron/runs", Some(("cron", Route::Runs)));
        check("a/b/runs/20260101000000abcde", Some(("a/b", Route::Run("20260101000000abcde".to_string()))));
        check("cron/runs/r1/stop", Some(("cron", Route::StopRun("r1".to_string()))));
        check("cron/history", Some(("cron", Route::History)));
        check("cron/periodic/force", Some(("cron", Route::Force)));
        check("cron/schedules/", Some(("cron", Route::Schedules)));
        check("cron/schedules/nightly", Some(("cron", Route::Schedule("nightly".to_string()))));
        check("cron", None);
        check("cron/summary", None);
        check("/runs", None);
    }

    #[test]
    fn schedule_bodies_in_both_shapes() {
        let metronome = Bytes::from_static(
            br#"{"id":"nightly","cron":"20 0 * * *","timezone":"UTC","enabled":true,"concurrencyPolicy":"FORBID","startingDeadlineSeconds":60,"nextRunAt":"2016-07-26T00:20:00.000+0000"}"#,
        );
        let parsed = parse_schedule(&metronome).expect("valid");
        assert_eq!(
            (
                parsed.id.as_str(),
                parsed.concurrency_policy,
                parsed.starting_deadline_seconds,
                parsed.time_zone.as_str()
            ),
            ("nightly", ConcurrencyPolicy::Forbid, 60, "UTC")
        );
        let defaults = parse_schedule(&Bytes::from_static(br#"{"id":"ab","cron":"* * * * *"}"#)).expect("valid");
        assert_eq!((defaults.enabled, defaults.starting_deadline_seconds), (true, 900));
        let drover = parse_schedule(&Bytes::from_static(br#"{"ID":"ab","Cron":"* * * * *"}"#)).expect("valid");
        assert_eq!(drover.cron, "* * * * *");
        let err = parse_schedule(&Bytes::from_static(br#"{"id":"ab","cron":"* * * * *","timeZone":"UTC"}"#))
            .expect_err("unknown field");
        assert!(err.0.to_string().contains("unknown field `timeZone`"), "{}", err.0);
    }
}
