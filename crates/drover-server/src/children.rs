//! Every child job is made here: a dispatched child (`<parent>/dispatch-...`),
//! and a launched one (`<parent>/periodic-<unix seconds>`: a cron launch, a
//! manual run, an `ON_FAILURE` retry), with its ID, its first evaluation, its
//! run record and the write that creates them: one transaction whose
//! precondition is that no job has the child's ID yet, so a child never
//! overwrites a job.
//!
//! Pure builders: no server state, no I/O (the IDs come from the ordered
//! clocks of `ordered_ids`).

use std::collections::BTreeMap;

use drover_state::{Op, Precondition, Snapshot, Txn};
use drover_types::api::JobDispatchRequest;
use drover_types::{Evaluation, Job, NANOS_PER_SEC, Run, eval_trigger, run_id, run_status};

/// The ID of a dispatched child: `<parent>/dispatch-[<tpl>-]<unix seconds>-<8 hex>`.
pub fn dispatched_id(parent_id: &str, prefix_template: &str, unix_seconds: i64, suffix: u64) -> String {
    if prefix_template.is_empty() {
        format!("{parent_id}/dispatch-{unix_seconds}-{suffix:08x}")
    } else {
        format!("{parent_id}/dispatch-{prefix_template}-{unix_seconds}-{suffix:08x}")
    }
}

/// A dispatched child ID (see [`dispatched_id`]) no job in `snapshot` has, drawing
/// `(unix second, suffix)` pairs from `draw` until one is free.
pub(crate) fn free_dispatch_id(
    snapshot: &Snapshot,
    namespace: &str,
    parent_id: &str,
    prefix_template: &str,
    mut draw: impl FnMut() -> (i64, u64),
) -> String {
    loop {
        let (unix_seconds, suffix) = draw();
        let candidate = dispatched_id(parent_id, prefix_template, unix_seconds, suffix);
        if snapshot.job(namespace, &candidate).is_none() {
            return candidate;
        }
    }
}

/// A fresh child of `parent` (dispatched or launched): the parent's spec under
/// the child's ID, with the server-managed fields reset.
pub(crate) fn child_of(parent: &Job, child_id: &str, now: i64) -> Job {
    let mut child = parent.clone();
    child.id = child_id.to_string();
    child.name = child_id.to_string();
    child.parent_id = parent.id.clone();
    child.stop = false;
    child.status = String::new();
    child.status_description = String::new();
    child.version = 0;
    child.create_index = 0;
    child.modify_index = 0;
    child.job_modify_index = 0;
    child.submit_time = now;
    child
}

/// Builds the child job of a validated dispatch.
pub fn build_child(parent: &Job, request: &JobDispatchRequest, child_id: String, now: i64) -> Job {
    let mut child = child_of(parent, &child_id, now);
    child.dispatched = true;
    child.dispatch_idempotency_token = request.idempotency_token.clone();
    child.payload = request.payload.clone();
    if request.priority != 0 {
        child.priority = request.priority;
    }
    let mut meta: BTreeMap<String, String> = parent.meta.clone();
    if let Some(config) = &parent.parameterized_job {
        for key in &config.meta_optional {
            meta.entry(key.clone()).or_default();
        }
    }
    meta.extend(request.meta.clone());
    child.meta = meta;
    child
}

/// A new run ID for a run created at `now` (Unix ns): later runs sort later
/// (see [`crate::ordered_ids`]).
pub fn new_run_id(now: i64) -> String {
    let (unix_seconds, suffix) = crate::ordered_ids::RUN_SUFFIXES.next(now);
    run_id(unix_seconds, &drover_types::run_id_suffix(suffix))
}

/// A fresh run of `job` with its first child.
pub fn new_run(job: &Job, child_id: &str, trigger: &str, scheduled_for: i64, now: i64) -> Run {
    Run {
        id: new_run_id(now),
        namespace: job.namespace.clone(),
        job_id: job.id.clone(),
        child_job_ids: vec![child_id.to_string()],
        trigger: trigger.to_string(),
        scheduled_for,
        status: run_status::STARTING.to_string(),
        reason: String::new(),
        created_at: now,
        ..Run::default()
    }
}

/// The child job of a periodic launch (Nomad: `<job>/periodic-<unix seconds>`).
pub fn build_periodic_child(parent: &Job, child_id: &str, now: i64) -> Job {
    let mut child = child_of(parent, child_id, now);
    child.periodic = None;
    child.schedules = Vec::new();
    child.canonicalize();
    child
}

/// A free child ID `<job>/periodic-<unix seconds>[-n]`.
pub(crate) fn free_periodic_id(snapshot: &Snapshot, job: &Job, at: i64) -> String {
    let base = format!("{}/periodic-{}", job.id, at.div_euclid(NANOS_PER_SEC));
    if snapshot.job(&job.namespace, &base).is_none() {
        return base;
    }
    (1..).map(|n| format!("{base}-{n}")).find(|id| snapshot.job(&job.namespace, id).is_none()).unwrap_or(base)
}

/// The evaluation of a launched (cron, manual or retried) child.
pub(crate) fn periodic_child_eval(child: &Job, now: i64) -> Evaluation {
    Evaluation::new_for_job(child, eval_trigger::PERIODIC_JOB, now)
}

/// A launched child of `parent` for the slot or moment `at`: its free ID,
/// the job and its pending evaluation.
pub(crate) fn periodic_child(snapshot: &Snapshot, parent: &Job, at: i64, now: i64) -> (Job, Evaluation) {
    let child_id = free_periodic_id(snapshot, parent, at);
    let child = build_periodic_child(parent, &child_id, now);
    let eval = periodic_child_eval(&child, now);
    (child, eval)
}

/// The write that creates a child: the precondition that no job has its ID
/// yet, then the job, its evaluations and its run, added to `txn`.
pub(crate) fn add_new_child(txn: &mut Txn, child: Job, evals: &[Evaluation], run: Option<Run>) {
    txn.preconditions.push(Precondition::JobModifyIndex {
        namespace: child.namespace.clone(),
        job_id: child.id.clone(),
        index: 0,
    });
    txn.ops.push(Op::UpsertJob(child));
    if !evals.is_empty() {
        txn.ops.push(Op::UpsertEvals(evals.to_vec()));
    }
    if let Some(run) = run {
        txn.ops.push(Op::UpsertRuns(vec![run]));
    }
}
