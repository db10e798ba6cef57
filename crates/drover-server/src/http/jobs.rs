//! `/v1/jobs`, `/v1/job/:id/...`: register, read, plan, stop, versions, summaries.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::routing::{any, get, post};

use drover_state::Snapshot;
use drover_types::api::{
    AllocListStub, JobChildrenSummary, JobListStub, JobPlanRequest, JobPlanResponse, JobRegisterRequest, JobSummary,
    JobVersionsResponse, PlanAnnotations, TaskGroupSummary,
};
use drover_types::{Evaluation, Job, eval_status};

use super::{ApiError, ApiResult, AppState, Params, blocking_snapshot, json_reply, parse_body};
use crate::error::ServerError;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/jobs", get(list_jobs).put(register).post(register))
        .route("/v1/jobs/parse", post(parse_job).put(parse_job))
        .route("/v1/job/{*rest}", any(job_dispatcher))
}

/// The suffixes `/v1/job/<id>/<suffix>` may carry; a job ID may itself contain `/`.
const SUFFIXES: &[&str] = &[
    "summary",
    "allocations",
    "evaluations",
    "versions",
    "plan",
    "evaluate",
    "dispatch",
    "children",
    "deployments",
    "deployment",
    "queue",
    "outcome",
];

fn split_job_path(rest: &str) -> (String, &'static str) {
    let rest = rest.trim_end_matches('/');
    for suffix in SUFFIXES {
        if let Some(id) = rest.strip_suffix(suffix).and_then(|r| r.strip_suffix('/'))
            && !id.is_empty()
        {
            return (decode_id(id), suffix);
        }
    }
    (decode_id(rest), "")
}

fn decode_id(id: &str) -> String {
    id.replace("%2F", "/").replace("%2f", "/")
}

async fn job_dispatcher(
    State(server): State<AppState>,
    method: Method,
    Path(rest): Path<String>,
    params: Params,
    body: Bytes,
) -> ApiResult {
    if let Some(reply) = super::runs::route(&server, &method, &rest, &params, &body).await {
        return reply;
    }
    let (job_id, suffix) = split_job_path(&rest);
    match (method.as_str(), suffix) {
        ("GET", "") => get_job(&server, &params, &job_id).await,
        ("POST" | "PUT", "") => register_at(&server, &params, &job_id, &body).await,
        ("DELETE", "") => deregister(&server, &params, &job_id).await,
        ("GET", "summary") => summary(&server, &params, &job_id).await,
        ("GET", "allocations") => allocations(&server, &params, &job_id).await,
        ("GET", "evaluations") => evaluations(&server, &params, &job_id).await,
        ("GET", "versions") => versions(&server, &params, &job_id).await,
        ("GET", "children") => children(&server, &params, &job_id).await,
        ("GET", "queue") => {
            let snapshot = server.state.snapshot();
            find_job(&snapshot, &params, &job_id)?;
            Ok(json_reply(&server.gate.line(&params.namespace(), &job_id), snapshot.index()))
        }
        ("GET", "outcome") => super::outcome::outcome(&server, &params, &job_id).await,
        ("GET", "deployments") => {
            let snapshot = server.state.snapshot();
            find_job(&snapshot, &params, &job_id)?;
            Ok(json_reply(&Vec::<serde_json::Value>::new(), snapshot.index()))
        }
        // No deployments yet: Nomad answers `null` for a job that has none.
        ("GET", "deployment") => {
            let snapshot = server.state.snapshot();
            find_job(&snapshot, &params, &job_id)?;
            Ok(json_reply(&Option::<serde_json::Value>::None, snapshot.index()))
        }
        ("POST" | "PUT", "plan") => plan(&server, &params, &job_id, &body).await,
        ("POST" | "PUT", "evaluate") => {
            let reply = server.evaluate_job(&params.namespace(), &job_id).await?;
            Ok(json_reply(&reply, reply.index))
        }
        ("POST" | "PUT", "dispatch") => super::dispatch::dispatch(&server, &params, &job_id, &body).await,
        _ => Err(ApiError(ServerError::BadRequest(format!("method {method} not allowed on /v1/job/{rest}")))),
    }
}

fn find_job(snapshot: &Snapshot, params: &Params, job_id: &str) -> Result<Arc<Job>, ApiError> {
    snapshot
        .job(&params.namespace(), job_id)
        .ok_or_else(|| ApiError(ServerError::NotFound("job not found".to_string())))
}

async fn get_job(server: &AppState, params: &Params, job_id: &str) -> ApiResult {
    let snapshot = blocking_snapshot(server, params).await?;
    let job = find_job(&snapshot, params, job_id)?;
    Ok(json_reply(&*job, job.modify_index.max(1)))
}

/// `GET /v1/jobs`: the job list, with Nomad's `prefix`, `filter`,
/// `per_page` and `next_token` (`<namespace>.<id>` of the first job of the
/// next page, in `X-Nomad-NextToken`), and Drover's `parent`, `group`,
/// `label` and `children=false` (leave out dispatched and periodic children:
/// archived children are then skipped without being read, so the list costs
/// what the parents cost, however many children there are).
async fn list_jobs(State(server): State<AppState>, params: Params) -> ApiResult {
    let snapshot = blocking_snapshot(&server, &params).await?;
    let query = JobListQuery::from_params(&params)?;
    let namespaces: Vec<String> = match params.namespace().as_str() {
        "*" => snapshot.job_namespaces().into_iter().collect(),
        namespace => vec![namespace.to_string()],
    };
    let mut stubs: Vec<JobListStub> = Vec::new();
    let mut next_token = None;
    'namespaces: for namespace in &namespaces {
        let from = match &query.from {
            Some((token_namespace, _)) if token_namespace > namespace => continue,
            Some((token_namespace, id)) if token_namespace == namespace => Some(id.as_str()),
            _ => None,
        };
        for entry in snapshot.job_listing(namespace, params.prefix(), from, query.children) {
            let Some(job) = entry.read() else { continue };
            let Some(stub) = query.row(&snapshot, &job) else { continue };
            if query.per_page.is_some_and(|per_page| stubs.len() >= per_page) {
                next_token = Some(format!("{}.{}", job.namespace, job.id));
                break 'namespaces;
            }
            stubs.push(stub);
        }
    }
    let mut reply = json_reply(&stubs, snapshot.index());
    if let Some(token) = next_token
        && let Ok(value) = axum::http::HeaderValue::from_str(&token)
    {
        reply.headers_mut().insert(NEXT_TOKEN_HEADER, value);
    }
    Ok(reply)
}

/// The header naming the first item of the next page (Nomad's).
const NEXT_TOKEN_HEADER: &str = "X-Nomad-NextToken";

/// What `GET /v1/jobs` keeps and how much of it.
struct JobListQuery {
    with_meta: bool,
    parent: Option<String>,
    group: Option<String>,
    labels: Vec<(String, String)>,
    filter: Option<super::filter::Filter>,
    children: bool,
    per_page: Option<usize>,
    /// Where the page starts: `(namespace, job ID)` of `next_token`.
    from: Option<drover_types::JobKey>,
}

impl JobListQuery {
    fn from_params(params: &Params) -> Result<JobListQuery, ApiError> {
        let bad = |message: String| ApiError(ServerError::BadRequest(message));
        let filter = match params.get("filter").filter(|text| !text.is_empty()) {
            Some(text) => Some(super::filter::Filter::parse(text).map_err(bad)?),
            None => None,
        };
        if params.flag("reverse")? {
            return Err(bad("reverse=true is not supported yet on the job list".to_string()));
        }
        let per_page = match params.number("per_page")? {
            Some(0) | None => None,
            Some(n) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
        };
        let from =
            params.get("next_token").filter(|token| !token.is_empty()).map(|token| match token.split_once('.') {
                Some((namespace, id)) => (namespace.to_string(), id.to_string()),
                None => (params.namespace(), token.to_string()),
            });
        let children = params.flag_or("children", true)?;
        Ok(JobListQuery {
            with_meta: params.flag("meta")?,
            parent: params.get("parent").map(str::to_string),
            group: params.get("group").map(str::to_string),
            labels: super::runs::label_filter(params)?,
            filter,
            children,
            per_page,
            from,
        })
    }

    /// The list row of `job`, if it passes every filter. The summary is
    /// computed only for rows that pass, unless the filter reads it.
    fn row(&self, snapshot: &Snapshot, job: &Job) -> Option<JobListStub> {
        if !self.children && !job.parent_id.is_empty() {
            return None;
        }
        if self.parent.as_ref().is_some_and(|parent| &job.parent_id != parent)
            || self.group.as_deref().is_some_and(|group| !drover_jobspec::metronome::in_group(&job.id, group))
            || !self.labels.iter().all(|(key, value)| job.meta.get(key) == Some(value))
        {
            return None;
        }
        let Some(filter) = &self.filter else { return Some(list_stub(snapshot, job, self.with_meta)) };
        let reads_summary = filter.reads("JobSummary");
        let mut stub = list_stub_with(snapshot, job, true, reads_summary);
        let row = serde_json::to_value(&stub).ok()?;
        if !filter.matches(&row) {
            return None;
        }
        if !reads_summary {
            stub.job_summary = Some(job_summary(snapshot, job));
        }
        if !self.with_meta {
            stub.meta = None;
        }
        Some(stub)
    }
}

/// The list row of a job.
pub(crate) fn list_stub(snapshot: &Snapshot, job: &Job, with_meta: bool) -> JobListStub {
    list_stub_with(snapshot, job, with_meta, true)
}

/// The list row of a job, its summary left out unless `with_summary`.
fn list_stub_with(snapshot: &Snapshot, job: &Job, with_meta: bool, with_summary: bool) -> JobListStub {
    JobListStub {
        id: job.id.clone(),
        parent_id: job.parent_id.clone(),
        name: job.name.clone(),
        namespace: job.namespace.clone(),
        datacenters: job.datacenters.clone(),
        node_pool: job.node_pool.clone(),
        job_type: job.job_type,
        priority: job.priority,
        periodic: job.is_periodic(),
        parameterized_job: job.is_parameterized(),
        stop: job.stop,
        status: job.status.clone(),
        status_description: job.status_description.clone(),
        job_summary: if with_summary { Some(job_summary(snapshot, job)) } else { None },
        create_index: job.create_index,
        modify_index: job.modify_index,
        job_modify_index: job.job_modify_index,
        submit_time: job.submit_time,
        meta: if with_meta { Some(job.meta.clone()) } else { None },
    }
}

/// Allocation counts per group (all allocations of the job) and children
/// counts, both kept by the state as it is written.
pub(crate) fn job_summary(snapshot: &Snapshot, job: &Job) -> JobSummary {
    let mut summary: BTreeMap<String, TaskGroupSummary> =
        job.task_groups.iter().map(|tg| (tg.name.clone(), TaskGroupSummary::default())).collect();
    // Kept by the state in step with every allocation write: read, not counted.
    let counts = snapshot.alloc_counts(&job.namespace, &job.id);
    summary.extend(counts.groups.iter().map(|(group, counted)| (group.clone(), *counted)));
    let modify_index = job.modify_index.max(counts.modify_index);
    if let Some(latest) = latest_eval(snapshot, job)
        && !job.stop
        && matches!(latest.status.as_str(), eval_status::BLOCKED | eval_status::COMPLETE | eval_status::PENDING)
    {
        let blocked = if latest.status == eval_status::BLOCKED {
            Some(latest.clone())
        } else if !latest.blocked_eval.is_empty() {
            snapshot.eval(&latest.blocked_eval).filter(|e| e.status == eval_status::BLOCKED)
        } else {
            None
        };
        if let Some(blocked) = blocked {
            for (group, queued) in &blocked.queued_allocations {
                summary.entry(group.clone()).or_default().queued = *queued;
            }
        }
    }
    let mut children = JobChildrenSummary::default();
    if job.is_template() {
        // Kept by the state in step with every child write: O(1), not O(children).
        let counts = snapshot.children_counts(&job.namespace, &job.id);
        children.pending = counts.pending;
        children.running = counts.running;
        children.dead = counts.dead;
        children.complete = counts.complete;
        children.failed = counts.failed;
        children.stopped = counts.stopped;
        let collected = crate::gc::collected_children(snapshot, &job.namespace, &job.id);
        children.collected = collected.total();
        children.dead += collected.total();
        children.complete += collected.complete;
        children.failed += collected.failed;
        children.stopped += collected.stopped;
    }
    JobSummary {
        job_id: job.id.clone(),
        namespace: job.namespace.clone(),
        summary,
        children,
        create_index: job.create_index,
        modify_index,
    }
}

fn latest_eval(snapshot: &Snapshot, job: &Job) -> Option<Arc<Evaluation>> {
    snapshot
        .evals_by_job(&job.namespace, &job.id)
        .into_iter()
        .filter(|e| e.status != eval_status::CANCELED)
        .max_by_key(|e| (e.create_index, e.create_time))
}

async fn register(State(server): State<AppState>, params: Params, body: Bytes) -> ApiResult {
    let (request, warnings) = job_body(&body, drover_jobspec::read_register_request)?;
    register_request(&server, &params, request, warnings, None).await
}

async fn register_at(server: &AppState, params: &Params, job_id: &str, body: &Bytes) -> ApiResult {
    let (request, warnings) = job_body(body, drover_jobspec::read_register_request)?;
    register_request(server, params, request, warnings, Some(job_id)).await
}

/// A request read by `drover_jobspec`, with its warnings.
type Checked<T> = (T, Vec<String>);

/// A register or plan body read key by key (unknown keys and Nomad blocks
/// Drover does not run are 400s naming them), with its warnings.
fn job_body<T>(
    body: &Bytes,
    read: fn(&[u8]) -> Result<Checked<T>, drover_jobspec::JsonFieldError>,
) -> Result<Checked<T>, ApiError> {
    if body.is_empty() {
        return Err(ApiError(ServerError::BadRequest("request body is empty; expected JSON".to_string())));
    }
    read(body).map_err(|err| ApiError(ServerError::BadRequest(err.to_string())))
}

/// Nomad's `Warnings`: one per line, after any the operation gave itself.
fn with_warnings(own: String, warnings: &[String]) -> String {
    std::iter::once(own).filter(|own| !own.is_empty()).chain(warnings.iter().cloned()).collect::<Vec<_>>().join("\n")
}

async fn register_request(
    server: &AppState,
    params: &Params,
    request: JobRegisterRequest,
    warnings: Vec<String>,
    path_id: Option<&str>,
) -> ApiResult {
    if request.eval_priority != 0 {
        return Err(ApiError(ServerError::BadRequest(
            "EvalPriority is not supported yet; the evaluation takes the job's priority".to_string(),
        )));
    }
    let Some(mut job) = request.job else {
        return Err(ApiError(ServerError::BadRequest("Job must be specified".to_string())));
    };
    if job.id.is_empty() {
        return Err(ApiError(ServerError::BadRequest("Job ID hasn't been provided".to_string())));
    }
    if let Some(path_id) = path_id
        && path_id != job.id
    {
        return Err(ApiError(ServerError::BadRequest("Job ID does not match name".to_string())));
    }
    if job.namespace.is_empty() {
        job.namespace = params.namespace();
    }
    if request.preserve_counts
        && let Some(existing) = server.state.snapshot().job(&job.namespace, &job.id)
    {
        for tg in &mut job.task_groups {
            if let Some(old) = existing.task_group(&tg.name) {
                tg.count = old.count;
            }
        }
    }
    let enforce = if request.enforce_index { Some(request.job_modify_index) } else { None };
    let mut reply = server.register_job(job, enforce).await?;
    reply.warnings = with_warnings(reply.warnings, &warnings);
    Ok(json_reply(&reply, reply.index))
}

async fn deregister(server: &AppState, params: &Params, job_id: &str) -> ApiResult {
    let purge = params.flag("purge")?;
    let namespace = params.namespace();
    if params.flag("children")? {
        let reply = server.deregister_family(&namespace, job_id, purge).await?;
        return Ok(json_reply(&reply, reply.index));
    }
    let reply = server.deregister_job(&namespace, job_id, purge).await?;
    Ok(json_reply(&reply, reply.index))
}

async fn summary(server: &AppState, params: &Params, job_id: &str) -> ApiResult {
    let snapshot = blocking_snapshot(server, params).await?;
    let job = find_job(&snapshot, params, job_id)?;
    let summary = job_summary(&snapshot, &job);
    Ok(json_reply(&summary, snapshot.index()))
}

async fn allocations(server: &AppState, params: &Params, job_id: &str) -> ApiResult {
    let snapshot = blocking_snapshot(server, params).await?;
    let namespace = params.namespace();
    let job = snapshot.job(&namespace, job_id);
    let job_type = job.as_ref().map(|j| j.job_type.as_str()).unwrap_or("");
    let mut allocs: Vec<AllocListStub> = snapshot
        .allocs_by_job(&namespace, job_id)
        .iter()
        .map(|alloc| AllocListStub::from_alloc(alloc, job_type))
        .collect();
    allocs.sort_by(|a, b| b.create_index.cmp(&a.create_index).then_with(|| a.name.cmp(&b.name)));
    Ok(json_reply(&allocs, snapshot.index()))
}

async fn evaluations(server: &AppState, params: &Params, job_id: &str) -> ApiResult {
    let snapshot = blocking_snapshot(server, params).await?;
    let mut evals: Vec<Evaluation> =
        snapshot.evals_by_job(&params.namespace(), job_id).iter().map(|e| (**e).clone()).collect();
    evals.sort_by_key(|e| std::cmp::Reverse(e.create_index));
    Ok(json_reply(&evals, snapshot.index()))
}

async fn versions(server: &AppState, params: &Params, job_id: &str) -> ApiResult {
    let snapshot = blocking_snapshot(server, params).await?;
    find_job(&snapshot, params, job_id)?;
    let versions: Vec<Job> = snapshot.job_versions(&params.namespace(), job_id).iter().map(|j| (**j).clone()).collect();
    // Diffs[i] is what changed from version i+1 (older) to version i (newer).
    let diffs: Vec<drover_types::api::JobDiff> = if params.flag("diffs")? {
        versions
            .windows(2)
            .map(|pair| drover_scheduler::job_diff(Some(&pair[1]), &pair[0], &drover_scheduler::Plan::default()))
            .collect()
    } else {
        Vec::new()
    };
    let reply = JobVersionsResponse { diffs, index: snapshot.index(), versions };
    Ok(json_reply(&reply, snapshot.index()))
}

/// `GET /v1/job/:id/children`: a parent's children, filtered by `status`
/// (pending / running / dead / queued), `meta.<key>=<value>`, `since` and
/// `before` (a duration like `1h`: submitted within / earlier than that), newest first.
async fn children(server: &AppState, params: &Params, job_id: &str) -> ApiResult {
    let snapshot = blocking_snapshot(server, params).await?;
    let parent = find_job(&snapshot, params, job_id)?;
    let filter = ChildFilter::from_params(params)?;
    let now = drover_types::now_nanos();
    let mut stubs: Vec<JobListStub> = snapshot
        .children_of(&parent.namespace, &parent.id)
        .iter()
        .filter(|child| filter.matches(child, server.gate.is_held(&parent.namespace, &parent.id, &child.id), now))
        .map(|child| list_stub(&snapshot, child, true))
        .collect();
    stubs.sort_by(|a, b| b.submit_time.cmp(&a.submit_time).then_with(|| b.id.cmp(&a.id)));
    Ok(json_reply(&stubs, snapshot.index()))
}

/// Filters of the children list.
#[derive(Debug, Default)]
pub(crate) struct ChildFilter {
    status: Option<String>,
    meta: Vec<(String, String)>,
    since: Option<i64>,
    before: Option<i64>,
}

impl ChildFilter {
    pub(crate) fn from_params(params: &Params) -> Result<ChildFilter, ApiError> {
        let duration = |key: &str| -> Result<Option<i64>, ApiError> {
            match params.get(key) {
                None | Some("") => Ok(None),
                Some(text) => drover_types::parse_duration(text)
                    .map(Some)
                    .map_err(|e| ApiError(ServerError::BadRequest(format!("invalid {key} {text:?}: {e}")))),
            }
        };
        let status = params.get("status").filter(|s| !s.is_empty()).map(str::to_string);
        if let Some(status) = &status
            && !matches!(status.as_str(), "pending" | "running" | "dead" | "queued")
        {
            return Err(ApiError(ServerError::BadRequest(format!(
                "invalid status {status:?}: expected pending, running, dead or queued"
            ))));
        }
        let mut meta: Vec<(String, String)> = params
            .0
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("meta.").map(|key| (key.to_string(), v.clone())))
            .collect();
        meta.sort();
        Ok(ChildFilter { status, meta, since: duration("since")?, before: duration("before")? })
    }

    pub(crate) fn matches(&self, child: &Job, held: bool, now: i64) -> bool {
        if let Some(status) = &self.status {
            let matches_status = match status.as_str() {
                "queued" => held,
                other => child.status == other && !(held && other == "pending"),
            };
            if !matches_status {
                return false;
            }
        }
        if !self.meta.iter().all(|(k, v)| child.meta.get(k) == Some(v)) {
            return false;
        }
        if let Some(since) = self.since
            && child.submit_time < now - since
        {
            return false;
        }
        if let Some(before) = self.before
            && child.submit_time > now - before
        {
            return false;
        }
        true
    }
}

async fn plan(server: &AppState, params: &Params, job_id: &str, body: &Bytes) -> ApiResult {
    let (request, warnings): (JobPlanRequest, _) = job_body(body, drover_jobspec::read_plan_request)?;
    let Some(mut job) = request.job else {
        return Err(ApiError(ServerError::BadRequest("Job must be specified".to_string())));
    };
    if job.id != job_id {
        return Err(ApiError(ServerError::BadRequest("Job ID does not match".to_string())));
    }
    if job.namespace.is_empty() {
        job.namespace = params.namespace();
    }
    let mut reply = plan_job(server, job, request.diff).await?;
    reply.warnings = with_warnings(reply.warnings, &warnings);
    Ok(json_reply(&reply, reply.index))
}

/// The scheduler's dry run for a job as it would be submitted.
pub(crate) async fn plan_job(server: &AppState, mut job: Job, with_diff: bool) -> Result<JobPlanResponse, ApiError> {
    job.canonicalize();
    job.validate().map_err(|e| ApiError(ServerError::BadRequest(e.to_string())))?;
    let snapshot = server.state.snapshot();
    let existing = snapshot.job(&job.namespace, &job.id);
    if let Some(existing) = &existing {
        job.create_index = existing.create_index;
        job.job_modify_index = existing.job_modify_index;
        job.version = if existing.spec_eq(&job) { existing.version } else { existing.version + 1 };
    }
    let job = Arc::new(job);
    let eval = Evaluation::new_for_job(&job, drover_types::eval_trigger::JOB_REGISTER, drover_types::now_nanos());
    let input = drover_scheduler::SchedulerInput {
        eval,
        job: if job.is_template() { None } else { Some(job.clone()) },
        now: drover_types::now_nanos(),
        seed: crate::worker::plan_seed(&job.id, snapshot.index(), 0),
        alloc_ids: drover_scheduler::AllocIds::Seeded,
    };
    let snapshot_for_plan = snapshot.clone();
    let job_for_diff = job.clone();
    let existing_for_diff = existing.clone();
    let (plan, diff) = tokio::task::spawn_blocking(move || {
        let plan = if input.job.is_some() {
            drover_scheduler::schedule(&crate::worker::SnapshotView(&snapshot_for_plan), &input)
        } else {
            drover_scheduler::Plan::default()
        };
        let diff = drover_scheduler::job_diff(existing_for_diff.as_deref(), &job_for_diff, &plan);
        (plan, diff)
    })
    .await
    .map_err(|e| ApiError(ServerError::Internal(format!("planner panicked: {e}"))))?;
    Ok(JobPlanResponse {
        annotations: PlanAnnotations { desired_tg_updates: plan.desired_updates.clone() },
        failed_tg_allocs: plan.failed_tg_allocs.clone(),
        job_modify_index: existing.map(|j| j.job_modify_index).unwrap_or(0),
        diff: if with_diff { Some(diff) } else { None },
        next_periodic_launch: crate::schedules::next_launch(&job, drover_types::now_nanos()).unwrap_or(0),
        warnings: String::new(),
        index: snapshot.index(),
    })
}

/// The header listing a parsed jobspec's warnings (its reply body is the
/// job itself, as in Nomad, so they cannot go there).
const WARNINGS_HEADER: &str = "X-Drover-Warnings";

async fn parse_job(State(server): State<AppState>, body: Bytes) -> ApiResult {
    /// Nomad's `JobsParseRequest`; every field it has is read or refused.
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase", deny_unknown_fields)]
    struct ParseRequest {
        #[serde(rename = "JobHCL")]
        job_hcl: String,
        /// HCL1 or HCL2: Drover's parser reads both layouts.
        #[serde(default, rename = "hclv1")]
        _hcl_v1: bool,
        #[serde(default)]
        variables: String,
        #[serde(default)]
        canonicalize: bool,
    }
    let request: ParseRequest = parse_body(&body)?;
    if !request.variables.trim().is_empty() {
        return Err(ApiError(ServerError::BadRequest(
            "Variables is not supported yet: HCL2 input variables are not implemented".to_string(),
        )));
    }
    let parsed = drover_jobspec::parse_hcl_with_warnings(&request.job_hcl, "input.hcl")
        .map_err(|e| ApiError(ServerError::BadRequest(e.to_string())))?;
    let mut job = parsed.job;
    if request.canonicalize {
        job.canonicalize();
    }
    let mut reply = json_reply(&job, server.state.index());
    if !parsed.warnings.is_empty() {
        // A header holds one line of visible ASCII.
        let text: String = parsed
            .warnings
            .join("; ")
            .chars()
            .map(|c| if c == ' ' || c.is_ascii_graphic() { c } else { '?' })
            .collect();
        if let Ok(value) = axum::http::HeaderValue::from_str(&text) {
            reply.headers_mut().insert(WARNINGS_HEADER, value);
        }
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::split_job_path;

    #[test]
    fn job_paths_split_on_known_suffixes() {
        assert_eq!(split_job_path("example"), ("example".to_string(), ""));
        assert_eq!(split_job_path("example/summary"), ("example".to_string(), "summary"));
        assert_eq!(
            split_job_path("video-encode/dispatch-1485379325-cb38d00d/allocations"),
            ("video-encode/dispatch-1485379325-cb38d00d".to_string(), "allocations")
        );
        assert_eq!(split_job_path("video%2Fdispatch-1"), ("video/dispatch-1".to_string(), ""));
        assert_eq!(split_job_path("video/dispatch"), ("video".to_string(), "dispatch"));
    }
}
