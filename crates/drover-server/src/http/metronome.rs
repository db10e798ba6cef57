//! The Metronome (DC/OS Jobs) API under `/service/metronome/v1/`, so the
//! DC/OS docs' `curl` examples work against a Drover server as written:
//! jobs (`/jobs`, `/jobs/{id}`), runs (`/jobs/{id}/runs`, `.../{runId}`,
//! `.../actions/stop`) and schedules (`/jobs/{id}/schedules`, `.../{sid}`).
//!
//! Handlers translate Metronome JSON with [`drover_jobspec::metronome`] and
//! call the same [`Server`](crate::Server) operations as the Nomad
//! API (`register_job`, `force_run`, `stop_run`, `add_schedule`, ...), so a
//! job added here is an ordinary Drover job (a batch job marked
//! `RunOnDemand`) seen by the Nomad-style API, the CLI and the UI. Errors use
//! Metronome's bodies and status codes (`{"message": ...}`, 422 with
//! `details`, 404 with the ID, 409 for duplicates). `Authorization:
//! token=...` is accepted and ignored until ACLs exist.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::Value;
#[cfg(test)]
use serde_json::json;

use drover_jobspec::metronome::{self as mapping, FieldError};
use drover_state::Snapshot;
use drover_types::api::metronome::{ErrorBody, ErrorDetail, FinishedRun, History, RunTask, RunView};
use drover_types::{
    Allocation, Job, JobSchedule, Run, client_status, desired_status, format_metronome_time, now_nanos, run_status,
};

use super::{AppState, Params};
use crate::error::ServerError;

const PREFIX: &str = "/service/metronome/v1";

/// Valid `?embed=` options.
const EMBEDS: &[&str] = &["activeRuns", "schedules", "history", "historySummary"];

/// Longest a stop request waits for the run to end before answering.
const STOP_WAIT_CAP: Duration = Duration::from_secs(35);

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(&format!("{PREFIX}/jobs"), get(list_jobs).post(create_job))
        .route(&format!("{PREFIX}/jobs/"), get(list_jobs).post(create_job))
        .route(&format!("{PREFIX}/jobs/{{id}}"), get(get_job).put(update_job).delete(delete_job))
        .route(&format!("{PREFIX}/jobs/{{id}}/runs"), get(list_runs).post(start_run))
        .route(&format!("{PREFIX}/jobs/{{id}}/runs/"), get(list_runs).post(start_run))
        .route(&format!("{PREFIX}/jobs/{{id}}/runs/{{run_id}}"), get(get_run))
        .route(&format!("{PREFIX}/jobs/{{id}}/runs/{{run_id}}/actions/stop"), post(stop_run))
        .route(&format!("{PREFIX}/jobs/{{id}}/schedules"), get(list_schedules).post(add_schedule))
        .route(&format!("{PREFIX}/jobs/{{id}}/schedules/"), get(list_schedules).post(add_schedule))
        .route(
            &format!("{PREFIX}/jobs/{{id}}/schedules/{{schedule_id}}"),
            get(get_schedule).put(update_schedule).delete(delete_schedule),
        )
}

/// A Metronome-shaped error reply: its status and its [`ErrorBody`] as JSON.
#[derive(Debug)]
pub(crate) struct MetronomeError {
    status: StatusCode,
    body: Value,
}

impl MetronomeError {
    fn new(status: StatusCode, body: ErrorBody) -> MetronomeError {
        MetronomeError { status, body: serde_json::to_value(body).unwrap_or_default() }
    }

    fn message(status: StatusCode, message: impl Into<String>) -> MetronomeError {
        MetronomeError::new(status, ErrorBody { message: message.into(), ..ErrorBody::default() })
    }

    /// A 404 naming what was not found (and the job of a run).
    fn not_found(id: &str, job_spec: Option<&str>, message: &str) -> MetronomeError {
        let body = ErrorBody {
            id: Some(id.to_string()),
            job_spec: job_spec.map(str::to_string),
            message: message.to_string(),
            ..ErrorBody::default()
        };
        MetronomeError::new(StatusCode::NOT_FOUND, body)
    }

    fn job_not_found(job_id: &str) -> MetronomeError {
        MetronomeError::not_found(job_id, None, "Job not found")
    }

    fn run_not_found(job_id: &str, run_id: &str) -> MetronomeError {
        MetronomeError::not_found(run_id, Some(job_id), "Job Run not found")
    }

    fn schedule_not_found(schedule_id: &str) -> MetronomeError {
        MetronomeError::not_found(schedule_id, None, "Schedule not found")
    }

    /// 422 `Object is not valid` with one `details` entry per path.
    fn invalid(errors: &[FieldError]) -> MetronomeError {
        let mut by_path: Vec<(String, Vec<String>)> = Vec::new();
        for error in errors {
            match by_path.iter_mut().find(|(path, _)| *path == error.path) {
                Some((_, messages)) => messages.push(error.message.clone()),
                None => by_path.push((error.path.clone(), vec![error.message.clone()])),
            }
        }
        let details: Vec<ErrorDetail> =
            by_path.into_iter().map(|(path, errors)| ErrorDetail { errors, path }).collect();
        let body =
            ErrorBody { details: Some(details), message: "Object is not valid".to_string(), ..ErrorBody::default() };
        MetronomeError::new(StatusCode::UNPROCESSABLE_ENTITY, body)
    }

    /// A server operation's error: validation problems are 422, the rest keep their status.
    fn from_server(err: ServerError) -> MetronomeError {
        match err {
            ServerError::BadRequest(message) => MetronomeError::message(StatusCode::UNPROCESSABLE_ENTITY, message),
            ServerError::NotFound(message) => MetronomeError::message(StatusCode::NOT_FOUND, message),
            ServerError::Conflict(message) => MetronomeError::message(StatusCode::CONFLICT, message),
            ServerError::PermissionDenied => MetronomeError::message(StatusCode::FORBIDDEN, "Permission denied"),
            ServerError::TooLarge(message) => MetronomeError::message(StatusCode::PAYLOAD_TOO_LARGE, message),
            ServerError::Internal(detail) => {
                tracing::error!(error = %detail, "metronome API request failed");
                MetronomeError::message(StatusCode::INTERNAL_SERVER_ERROR, "internal server error; see the server log")
            }
        }
    }
}

impl IntoResponse for MetronomeError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

type MetronomeResult = Result<Response, MetronomeError>;

fn reply<T: Serialize>(status: StatusCode, body: &T) -> MetronomeResult {
    Ok((status, axum::Json(body)).into_response())
}

/// The body as JSON; Metronome answers malformed JSON with 400.
fn json_body(body: &Bytes) -> Result<Value, MetronomeError> {
    if body.is_empty() {
        return Err(MetronomeError::message(StatusCode::BAD_REQUEST, "Request body is empty; expected JSON"));
    }
    serde_json::from_slice(body)
        .map_err(|err| MetronomeError::message(StatusCode::BAD_REQUEST, format!("Invalid JSON: {err}")))
}

/// `?embed=a,b&embed=c`: repeated or comma-separated; unknown values are a 400.
fn embeds(query: Option<&str>) -> Result<Vec<String>, MetronomeError> {
    let mut out = Vec::new();
    let mut unknown = Vec::new();
    for pair in query.unwrap_or("").split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key != "embed" {
            continue;
        }
        for item in value.split("%2C").flat_map(|part| part.split(',')).filter(|item| !item.is_empty()) {
            if EMBEDS.contains(&item) {
                out.push(item.to_string());
            } else {
                unknown.push(item.to_string());
            }
        }
    }
    if !unknown.is_empty() {
        return Err(MetronomeError::message(
            StatusCode::BAD_REQUEST,
            format!("Unknown embed options. Valid options are: {}", EMBEDS.join(", ")),
        ));
    }
    Ok(out)
}

/// The job if it exists and has a Metronome form (a batch template with one
/// task, not parameterized: what `GET /jobs` lists); a job that exists but
/// does not fit is a 409 saying why, on every `/jobs/{id}...` path alike.
fn metronome_job(snapshot: &Snapshot, namespace: &str, job_id: &str) -> Result<Arc<Job>, MetronomeError> {
    let job = snapshot.job(namespace, job_id).ok_or_else(|| MetronomeError::job_not_found(job_id))?;
    if !job.parent_id.is_empty() {
        return Err(MetronomeError::job_not_found(job_id));
    }
    mapping::job_to_metronome(&job).map_err(|err| MetronomeError::message(StatusCode::CONFLICT, err.to_string()))?;
    Ok(job)
}

/// A schedule with its `nextRunAt`.
fn schedule_json(job: &Job, schedule: &JobSchedule, now: i64) -> Value {
    let mut value = mapping::schedule_to_metronome(schedule);
    if let (Some(next), Value::Object(map)) = (crate::schedules::next_run_at(job, schedule, now), &mut value) {
        map.insert("nextRunAt".to_string(), Value::String(format_metronome_time(next)));
    }
    value
}

/// The job in Metronome's shape, every schedule (Nomad `periodic` ones too)
/// with `nextRunAt`, plus the requested embeds.
fn job_json(snapshot: &Snapshot, job: &Job, embeds: &[String]) -> Value {
    let Ok(mut value) = mapping::job_to_metronome(job) else { return Value::Null };
    let now = now_nanos();
    let Value::Object(map) = &mut value else { return value };
    let schedules: Vec<Value> = job.effective_schedules().iter().map(|s| schedule_json(job, s, now)).collect();
    map.insert("schedules".to_string(), Value::Array(schedules));
    if embeds.iter().any(|e| e == "activeRuns") {
        let runs: Vec<RunView> = active_runs(snapshot, job).iter().map(|run| run_view(snapshot, run)).collect();
        map.insert("activeRuns".to_string(), to_json(&runs));
    }
    if embeds.iter().any(|e| e == "history") {
        map.insert("history".to_string(), to_json(&history_view(snapshot, job, true)));
    }
    if embeds.iter().any(|e| e == "historySummary") {
        map.insert("historySummary".to_string(), to_json(&history_view(snapshot, job, false)));
    }
    value
}

/// A reply part as JSON, to go into the job's JSON (`null` if it cannot be
/// encoded, which these types never are).
fn to_json<T: Serialize>(part: &T) -> Value {
    serde_json::to_value(part).unwrap_or_default()
}

fn active_runs(snapshot: &Snapshot, job: &Job) -> Vec<Arc<Run>> {
    let mut runs: Vec<Arc<Run>> =
        snapshot.runs_of_job(&job.namespace, &job.id).into_iter().filter(|run| !run.is_terminal()).collect();
    runs.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.id.cmp(&b.id)));
    runs
}

/// A time in Metronome's format; `None` (`null`) when unset.
fn metronome_time(unix_nanos: i64) -> Option<String> {
    (unix_nanos > 0).then(|| format_metronome_time(unix_nanos))
}

/// Every allocation of every attempt of a run, oldest first.
fn run_allocs(snapshot: &Snapshot, run: &Run) -> Vec<Arc<Allocation>> {
    let mut allocs: Vec<Arc<Allocation>> =
        run.child_job_ids.iter().flat_map(|child| snapshot.allocs_by_job(&run.namespace, child)).collect();
    for alloc_id in &run.allocations {
        if !allocs.iter().any(|alloc| &alloc.id == alloc_id)
            && let Some(alloc) = snapshot.alloc(alloc_id)
        {
            allocs.push(alloc);
        }
    }
    allocs.sort_by_key(|alloc| (alloc.create_index, alloc.create_time));
    allocs
}

/// Mesos-style task status of an allocation.
fn task_status(alloc: &Allocation) -> &'static str {
    match alloc.client_status.as_str() {
        client_status::RUNNING => "TASK_RUNNING",
        client_status::COMPLETE if alloc.desired_status == desired_status::RUN => "TASK_FINISHED",
        client_status::COMPLETE => "TASK_KILLED",
        client_status::FAILED | client_status::LOST => "TASK_FAILED",
        _ if alloc.desired_status != desired_status::RUN => "TASK_KILLED",
        _ if alloc.task_states.values().any(|state| state.started_at > 0) => "TASK_STARTING",
        _ => "TASK_STAGING",
    }
}

/// A run as Metronome shows it: `{id, jobId, status, createdAt, completedAt, tasks}`.
fn run_view(snapshot: &Snapshot, run: &Run) -> RunView {
    let tasks: Vec<RunTask> = run_allocs(snapshot, run)
        .iter()
        .map(|alloc| {
            let started = alloc.task_states.values().map(|s| s.started_at).filter(|t| *t > 0).min().unwrap_or(0);
            let finished = if alloc.client_terminal() {
                alloc.task_states.values().map(|s| s.finished_at).max().unwrap_or(alloc.modify_time)
            } else {
                0
            };
            RunTask {
                completed_at: metronome_time(finished),
                id: alloc.id.clone(),
                started_at: metronome_time(started),
                status: task_status(alloc).to_string(),
            }
        })
        .collect();
    // Metronome has no SKIPPED: a launch its policy skipped never ran.
    let status = if run.status == run_status::SKIPPED { run_status::FAILED } else { run.status.as_str() };
    RunView {
        completed_at: metronome_time(run.finished_at),
        created_at: metronome_time(run.created_at),
        id: run.id.clone(),
        job_id: run.job_id.clone(),
        status: status.to_string(),
        tasks,
    }
}

/// `history` (with the finished runs kept) or `historySummary` (counters only).
fn history_view(snapshot: &Snapshot, job: &Job, with_runs: bool) -> History {
    let history = snapshot.job_history(&job.namespace, &job.id);
    let (successes, failures, last_success, last_failure) = history
        .as_ref()
        .map(|h| (h.success_count, h.failure_count, h.last_success_at, h.last_failure_at))
        .unwrap_or_default();
    let mut view = History {
        failure_count: failures,
        last_failure_at: metronome_time(last_failure),
        last_success_at: metronome_time(last_success),
        success_count: successes,
        ..History::default()
    };
    if with_runs {
        let mut finished: Vec<Arc<Run>> = snapshot
            .runs_of_job(&job.namespace, &job.id)
            .into_iter()
            .filter(|run| run.is_terminal() && run.status != run_status::SKIPPED)
            .collect();
        finished.sort_by(|a, b| b.finished_at.cmp(&a.finished_at).then_with(|| b.id.cmp(&a.id)));
        let entry = |run: &Run| {
            let tasks: Vec<String> = run_allocs(snapshot, run).iter().map(|alloc| alloc.id.clone()).collect();
            FinishedRun {
                created_at: metronome_time(run.created_at),
                finished_at: metronome_time(run.finished_at),
                id: run.id.clone(),
                tasks,
            }
        };
        let successful: Vec<FinishedRun> =
            finished.iter().filter(|run| run.status == run_status::SUCCESS).map(|run| entry(run)).collect();
        let failed: Vec<FinishedRun> =
            finished.iter().filter(|run| run.status != run_status::SUCCESS).map(|run| entry(run)).collect();
        view.successful_finished_runs = Some(successful);
        view.failed_finished_runs = Some(failed);
    }
    view
}

/// A boolean query parameter as Metronome (Play) reads it: `true`, `false`,
/// `1` or `0` (any case); absent is false; anything else is a 400.
fn bool_param(params: &Params, key: &str) -> Result<bool, MetronomeError> {
    match params.get(key).map(str::to_ascii_lowercase).as_deref() {
        None => Ok(false),
        Some("true" | "1") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(_) => Err(MetronomeError::message(
            StatusCode::BAD_REQUEST,
            format!(
                "Cannot parse parameter {key} as Boolean: should be true, false, 0 or 1, got {:?}",
                params.get(key).unwrap_or_default()
            ),
        )),
    }
}

// ---- jobs ----

async fn list_jobs(State(server): State<AppState>, params: Params, RawQuery(query): RawQuery) -> MetronomeResult {
    let embeds = embeds(query.as_deref())?;
    let snapshot = server.state.snapshot();
    let namespace = params.namespace();
    let jobs: Vec<Value> = snapshot
        .jobs_by_prefix(&namespace, "")
        .iter()
        .filter(|job| job.parent_id.is_empty() && mapping::job_to_metronome(job).is_ok())
        .map(|job| job_json(&snapshot, job, &embeds))
        .collect();
    reply(StatusCode::OK, &jobs)
}

async fn create_job(State(server): State<AppState>, params: Params, body: Bytes) -> MetronomeResult {
    let value = json_body(&body)?;
    let mut job = mapping::metronome_to_job(&value).map_err(|errors| MetronomeError::invalid(&errors))?;
    job.namespace = params.namespace();
    crate::schedules::validate_schedules(&job)
        .map_err(|message| MetronomeError::message(StatusCode::UNPROCESSABLE_ENTITY, message))?;
    if server.state.snapshot().job(&job.namespace, &job.id).is_some() {
        return Err(MetronomeError::message(StatusCode::CONFLICT, "Job with this id already exists"));
    }
    server.register_job(job.clone(), Some(0)).await.map_err(|err| match err {
        ServerError::BadRequest(message) if message.contains("index") => {
            MetronomeError::message(StatusCode::CONFLICT, "Job with this id already exists")
        }
        other => MetronomeError::from_server(other),
    })?;
    let snapshot = server.state.snapshot();
    let stored = snapshot.job(&job.namespace, &job.id).ok_or_else(|| MetronomeError::job_not_found(&job.id))?;
    reply(StatusCode::CREATED, &job_json(&snapshot, &stored, &[]))
}

async fn get_job(
    State(server): State<AppState>,
    Path(job_id): Path<String>,
    params: Params,
    RawQuery(query): RawQuery,
) -> MetronomeResult {
    let embeds = embeds(query.as_deref())?;
    let snapshot = server.state.snapshot();
    let job = metronome_job(&snapshot, &params.namespace(), &job_id)?;
    reply(StatusCode::OK, &job_json(&snapshot, &job, &embeds))
}

/// `PUT /jobs/{id}`: replaces the spec. Without a `schedules` key the stored
/// schedules are kept (Metronome always keeps them; Drover replaces them
/// when the body has the key).
async fn update_job(
    State(server): State<AppState>,
    Path(job_id): Path<String>,
    params: Params,
    body: Bytes,
) -> MetronomeResult {
    let namespace = params.namespace();
    let existing = metronome_job(&server.state.snapshot(), &namespace, &job_id)?;
    let mut value = json_body(&body)?;
    let has_schedules = value.get("schedules").is_some();
    if let Value::Object(map) = &mut value
        && !map.contains_key("id")
    {
        map.insert("id".to_string(), Value::String(job_id.clone()));
    }
    let mut job = mapping::metronome_to_job(&value).map_err(|errors| MetronomeError::invalid(&errors))?;
    if job.id != job_id {
        return Err(MetronomeError::invalid(&[FieldError {
            path: "/id".to_string(),
            message: format!("the job id {:?} does not match the path's {job_id:?}", job.id),
        }]));
    }
    job.namespace = namespace.clone();
    if !has_schedules {
        job.schedules = existing.schedules.clone();
        job.periodic = existing.periodic.clone();
    }
    crate::schedules::validate_schedules(&job)
        .map_err(|message| MetronomeError::message(StatusCode::UNPROCESSABLE_ENTITY, message))?;
    server.register_job(job, None).await.map_err(MetronomeError::from_server)?;
    let snapshot = server.state.snapshot();
    let stored = metronome_job(&snapshot, &namespace, &job_id)?;
    reply(StatusCode::OK, &job_json(&snapshot, &stored, &[]))
}

/// `DELETE /jobs/{id}?stopCurrentJobRuns=true|false`: refuses while runs are
/// active unless told to stop them; then purges the job and its children.
async fn delete_job(State(server): State<AppState>, Path(job_id): Path<String>, params: Params) -> MetronomeResult {
    let namespace = params.namespace();
    let snapshot = server.state.snapshot();
    let job = metronome_job(&snapshot, &namespace, &job_id)?;
    let body = job_json(&snapshot, &job, &[]);
    let stop_runs = bool_param(&params, "stopCurrentJobRuns")?;
    let active = active_runs(&snapshot, &job);
    if !active.is_empty() && !stop_runs {
        return Err(MetronomeError::message(
            StatusCode::CONFLICT,
            "There are active job runs. Override with stopCurrentJobRuns=true",
        ));
    }
    for run in &active {
        server.stop_run(&namespace, &job_id, &run.id).await.map_err(MetronomeError::from_server)?;
    }
    server.deregister_family(&namespace, &job_id, true).await.map_err(MetronomeError::from_server)?;
    reply(StatusCode::OK, &body)
}

// ---- runs ----

async fn list_runs(State(server): State<AppState>, Path(job_id): Path<String>, params: Params) -> MetronomeResult {
    let snapshot = server.state.snapshot();
    let job = metronome_job(&snapshot, &params.namespace(), &job_id)?;
    let runs: Vec<RunView> = active_runs(&snapshot, &job).iter().map(|run| run_view(&snapshot, run)).collect();
    reply(StatusCode::OK, &runs)
}

async fn start_run(State(server): State<AppState>, Path(job_id): Path<String>, params: Params) -> MetronomeResult {
    let namespace = params.namespace();
    metronome_job(&server.state.snapshot(), &namespace, &job_id)?;
    let (run, _, _) = server.force_run(&namespace, &job_id).await.map_err(MetronomeError::from_server)?;
    let snapshot = server.state.snapshot();
    let run = snapshot.run(&namespace, &job_id, &run.id).map(|stored| (*stored).clone()).unwrap_or(run);
    reply(StatusCode::CREATED, &run_view(&snapshot, &run))
}

async fn get_run(
    State(server): State<AppState>,
    Path((job_id, run_id)): Path<(String, String)>,
    params: Params,
) -> MetronomeResult {
    let namespace = params.namespace();
    let snapshot = server.state.snapshot();
    metronome_job(&snapshot, &namespace, &job_id)?;
    let run =
        snapshot.run(&namespace, &job_id, &run_id).ok_or_else(|| MetronomeError::run_not_found(&job_id, &run_id))?;
    reply(StatusCode::OK, &run_view(&snapshot, &run))
}

/// Stops a run and answers with it once it has ended (as Metronome does),
/// or, if its tasks take longer than their kill grace, as it stands then.
async fn stop_run(
    State(server): State<AppState>,
    Path((job_id, run_id)): Path<(String, String)>,
    params: Params,
) -> MetronomeResult {
    let namespace = params.namespace();
    let snapshot = server.state.snapshot();
    let job = metronome_job(&snapshot, &namespace, &job_id)?;
    if snapshot.run(&namespace, &job_id, &run_id).is_none() {
        return Err(MetronomeError::run_not_found(&job_id, &run_id));
    }
    let (run, mut index) = server.stop_run(&namespace, &job_id, &run_id).await.map_err(|err| match err {
        ServerError::NotFound(_) => MetronomeError::run_not_found(&job_id, &run_id),
        other => MetronomeError::from_server(other),
    })?;
    let grace = job
        .task_groups
        .iter()
        .flat_map(|tg| &tg.tasks)
        .map(|task| drover_types::nanos_to_duration(task.kill_timeout))
        .max()
        .unwrap_or_default();
    let deadline = tokio::time::Instant::now() + (grace + Duration::from_secs(5)).min(STOP_WAIT_CAP);
    let mut latest = run;
    loop {
        let snapshot = server.state.snapshot();
        if let Some(stored) = snapshot.run(&namespace, &job_id, &run_id) {
            latest = (*stored).clone();
        }
        let now = tokio::time::Instant::now();
        if latest.is_terminal() || now >= deadline {
            return reply(StatusCode::OK, &run_view(&snapshot, &latest));
        }
        index = index.max(snapshot.index());
        server.state.wait_index_above(index, deadline - now).await;
    }
}

// ---- schedules ----

async fn list_schedules(State(server): State<AppState>, Path(job_id): Path<String>, params: Params) -> MetronomeResult {
    let snapshot = server.state.snapshot();
    let job = metronome_job(&snapshot, &params.namespace(), &job_id)?;
    let now = now_nanos();
    let schedules: Vec<Value> = job.effective_schedules().iter().map(|s| schedule_json(&job, s, now)).collect();
    reply(StatusCode::OK, &schedules)
}

fn schedule_body(body: &Bytes) -> Result<JobSchedule, MetronomeError> {
    let value = json_body(body)?;
    mapping::metronome_to_schedule(&value).map_err(|errors| MetronomeError::invalid(&errors))
}

/// The stored schedule `schedule_id` of a job, with `nextRunAt`.
fn stored_schedule(server: &AppState, namespace: &str, job_id: &str, schedule_id: &str) -> MetronomeResult {
    let snapshot = server.state.snapshot();
    let job = metronome_job(&snapshot, namespace, job_id)?;
    let schedules = job.effective_schedules();
    let schedule = schedules
        .iter()
        .find(|schedule| schedule.id == schedule_id)
        .ok_or_else(|| MetronomeError::schedule_not_found(schedule_id))?;
    reply(StatusCode::OK, &schedule_json(&job, schedule, now_nanos()))
}

async fn add_schedule(
    State(server): State<AppState>,
    Path(job_id): Path<String>,
    params: Params,
    body: Bytes,
) -> MetronomeResult {
    let namespace = params.namespace();
    metronome_job(&server.state.snapshot(), &namespace, &job_id)?;
    let schedule = schedule_body(&body)?;
    let schedule_id = schedule.id.clone();
    server.add_schedule(&namespace, &job_id, schedule).await.map_err(|err| match err {
        ServerError::Conflict(message) => {
            MetronomeError::message(StatusCode::CONFLICT, format!("requirement failed: {message}"))
        }
        other => MetronomeError::from_server(other),
    })?;
    let response = stored_schedule(&server, &namespace, &job_id, &schedule_id)?;
    let (mut parts, body) = response.into_parts();
    parts.status = StatusCode::CREATED;
    Ok(Response::from_parts(parts, body))
}

async fn get_schedule(
    State(server): State<AppState>,
    Path((job_id, schedule_id)): Path<(String, String)>,
    params: Params,
) -> MetronomeResult {
    stored_schedule(&server, &params.namespace(), &job_id, &schedule_id)
}

async fn update_schedule(
    State(server): State<AppState>,
    Path((job_id, schedule_id)): Path<(String, String)>,
    params: Params,
    body: Bytes,
) -> MetronomeResult {
    let namespace = params.namespace();
    metronome_job(&server.state.snapshot(), &namespace, &job_id)?;
    let mut value = json_body(&body)?;
    if let Value::Object(map) = &mut value
        && !map.contains_key("id")
    {
        map.insert("id".to_string(), Value::String(schedule_id.clone()));
    }
    let schedule = mapping::metronome_to_schedule(&value).map_err(|errors| MetronomeError::invalid(&errors))?;
    if schedule.id != schedule_id {
        return Err(MetronomeError::invalid(&[FieldError {
            path: "/id".to_string(),
            message: format!("the schedule id {:?} does not match the path's {schedule_id:?}", schedule.id),
        }]));
    }
    server.update_schedule(&namespace, &job_id, schedule).await.map_err(|err| match err {
        ServerError::NotFound(_) => MetronomeError::schedule_not_found(&schedule_id),
        other => MetronomeError::from_server(other),
    })?;
    stored_schedule(&server, &namespace, &job_id, &schedule_id)
}

async fn delete_schedule(
    State(server): State<AppState>,
    Path((job_id, schedule_id)): Path<(String, String)>,
    params: Params,
) -> MetronomeResult {
    let namespace = params.namespace();
    let response = stored_schedule(&server, &namespace, &job_id, &schedule_id)?;
    server.remove_schedule(&namespace, &job_id, &schedule_id).await.map_err(|err| match err {
        ServerError::NotFound(_) => MetronomeError::schedule_not_found(&schedule_id),
        other => MetronomeError::from_server(other),
    })?;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embed_options_repeat_or_split_on_commas() {
        assert_eq!(
            embeds(Some("embed=activeRuns,history&embed=historySummary&x=1")).expect("valid"),
            vec!["activeRuns", "history", "historySummary"]
        );
        assert_eq!(embeds(Some("embed=schedules%2Chistory")).expect("valid"), vec!["schedules", "history"]);
        assert_eq!(embeds(None).expect("valid"), Vec::<String>::new());
        let err = embeds(Some("embed=activeRuns,bogus")).expect_err("unknown embed");
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            err.body,
            json!({"message": "Unknown embed options. Valid options are: activeRuns, schedules, history, historySummary"})
        );
    }

    #[test]
    fn invalid_objects_group_errors_by_path() {
        let err = MetronomeError::invalid(&[
            FieldError { path: "/run/mem".to_string(), message: "a".to_string() },
            FieldError { path: "/id".to_string(), message: "b".to_string() },
            FieldError { path: "/run/mem".to_string(), message: "c".to_string() },
        ]);
        assert_eq!(err.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            err.body,
            json!({"message": "Object is not valid", "details": [
                {"path": "/run/mem", "errors": ["a", "c"]}, {"path": "/id", "errors": ["b"]}]})
        );
    }
}
