//! Evaluations: the record of "something changed, decide placements again".

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::job::JobType;

/// Evaluation statuses.
pub mod eval_status {
    /// Waiting in the broker for a scheduler worker.
    pub const PENDING: &str = "pending";
    /// Processed; its plan (if any) is committed.
    pub const COMPLETE: &str = "complete";
    /// Processing failed for good.
    pub const FAILED: &str = "failed";
    /// Waiting for capacity to place what is left.
    pub const BLOCKED: &str = "blocked";
    /// Superseded; will never be processed.
    pub const CANCELED: &str = "canceled";

    /// Whether no further change will happen to an evaluation in this status.
    pub fn is_terminal(status: &str) -> bool {
        matches!(status, COMPLETE | FAILED | CANCELED)
    }
}

/// Start of the status description of a dispatched child's evaluation held
/// by its parent's `max_concurrent` (stored `blocked`, not scheduled until
/// the line moves): the server writes it and finds held evaluations by it
/// after a restart; the CLI reads it to say a dispatch waits in line.
pub const HELD_DESCRIPTION: &str = "waiting for max_concurrent";

/// What created an evaluation.
pub mod eval_trigger {
    /// A job was registered or its spec changed.
    pub const JOB_REGISTER: &str = "job-register";
    /// A job was stopped or purged.
    pub const JOB_DEREGISTER: &str = "job-deregister";
    /// A cron launch.
    pub const PERIODIC_JOB: &str = "periodic-job";
    /// A node began draining.
    pub const NODE_DRAIN: &str = "node-drain";
    /// A node changed status or eligibility.
    pub const NODE_UPDATE: &str = "node-update";
    /// An allocation was stopped by a user.
    pub const ALLOC_STOP: &str = "alloc-stop";
    /// An allocation failed on its client.
    pub const ALLOC_FAILURE: &str = "alloc-failure";
    /// Placement of the rest of a job once capacity appears.
    pub const QUEUED_ALLOCS: &str = "queued-allocs";
    /// A delayed reschedule came due.
    pub const FAILED_FOLLOW_UP: &str = "failed-follow-up";
    /// Plans kept getting rejected.
    pub const MAX_PLAN_ATTEMPTS: &str = "max-plan-attempts";
    /// `drover job eval` forced one.
    pub const JOB_EVALUATE: &str = "job-evaluate";
}

/// One decision request for one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct Evaluation {
    /// UUID.
    #[serde(rename = "ID")]
    pub id: String,
    /// The job's namespace.
    pub namespace: String,
    /// The job's priority when created; orders the broker.
    pub priority: i32,
    /// The job's scheduler type.
    #[serde(rename = "Type")]
    pub eval_type: JobType,
    /// See [`eval_trigger`].
    pub triggered_by: String,
    /// The job to evaluate.
    #[serde(rename = "JobID")]
    pub job_id: String,
    /// The job's `JobModifyIndex` when created.
    pub job_modify_index: u64,
    /// The node whose change triggered it, if any.
    #[serde(rename = "NodeID")]
    pub node_id: String,
    /// See [`eval_status`].
    pub status: String,
    /// Why it has its status.
    pub status_description: String,
    /// Not processed before this time (Unix ns), for delayed reschedules.
    pub wait_until: i64,
    /// The evaluation that follows this one (a delayed follow-up).
    pub next_eval: String,
    /// The evaluation this one follows.
    pub previous_eval: String,
    /// The blocked evaluation created to place what this one could not.
    pub blocked_eval: String,
    /// Why placements failed, per task group.
    #[serde(rename = "FailedTGAllocs")]
    pub failed_tg_allocs: BTreeMap<String, AllocMetric>,
    /// Allocations still waiting to be placed, per task group.
    pub queued_allocations: BTreeMap<String, u64>,
    /// Node classes known to be (in)eligible, for blocked-eval wakeups.
    pub class_eligibility: BTreeMap<String, bool>,
    /// State index the scheduler saw.
    pub snapshot_index: u64,
    /// State index at creation.
    pub create_index: u64,
    /// State index of the last change.
    pub modify_index: u64,
    /// Creation time (Unix ns).
    pub create_time: i64,
    /// Last change time (Unix ns).
    pub modify_time: i64,
}

impl Evaluation {
    /// A new pending evaluation of `job`, made at `now` (Unix ns) for
    /// `triggered_by`: the one constructor of every evaluation a server
    /// operation starts (register, stop, dispatch, a cron launch, a drain,
    /// a plan's dry run...), so they all carry the same fields.
    pub fn new_for_job(job: &crate::Job, triggered_by: &str, now: i64) -> Evaluation {
        Evaluation {
            id: crate::new_id(),
            namespace: job.namespace.clone(),
            priority: job.priority,
            eval_type: job.job_type,
            triggered_by: triggered_by.to_string(),
            job_id: job.id.clone(),
            job_modify_index: job.job_modify_index,
            status: eval_status::PENDING.to_string(),
            create_time: now,
            modify_time: now,
            ..Evaluation::default()
        }
    }

    /// A new evaluation that follows `previous` for the same job (a blocked
    /// evaluation for what it could not place, a delayed follow-up for a
    /// reschedule), pending, made at `now`.
    pub fn follow_on(previous: &Evaluation, triggered_by: &str, now: i64) -> Evaluation {
        Evaluation {
            id: crate::new_id(),
            namespace: previous.namespace.clone(),
            priority: previous.priority,
            eval_type: previous.eval_type,
            triggered_by: triggered_by.to_string(),
            job_id: previous.job_id.clone(),
            status: eval_status::PENDING.to_string(),
            previous_eval: previous.id.clone(),
            create_time: now,
            modify_time: now,
            ..Evaluation::default()
        }
    }

    /// Whether no further change will happen to it.
    pub fn is_terminal(&self) -> bool {
        eval_status::is_terminal(&self.status)
    }
}

/// Why nodes were or were not chosen for one task group: what `job run`
/// prints after "failed to place".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocMetric {
    /// Nodes looked at.
    pub nodes_evaluated: u64,
    /// Nodes removed by a constraint or missing driver.
    pub nodes_filtered: u64,
    /// Nodes in the job's node pool.
    pub nodes_in_pool: u64,
    /// The node pool considered.
    pub node_pool: String,
    /// Ready nodes per datacenter.
    pub nodes_available: BTreeMap<String, u64>,
    /// Nodes filtered per node class.
    pub class_filtered: BTreeMap<String, u64>,
    /// Nodes filtered per constraint (its text).
    pub constraint_filtered: BTreeMap<String, u64>,
    /// Nodes without enough free resources.
    pub nodes_exhausted: u64,
    /// Nodes exhausted per node class.
    pub class_exhausted: BTreeMap<String, u64>,
    /// Nodes exhausted per dimension (`cpu`, `memory`, `disk`).
    pub dimension_exhausted: BTreeMap<String, u64>,
    /// Scores of the best nodes considered.
    pub score_meta_data: Vec<NodeScoreMeta>,
    /// Time spent placing (ns).
    pub allocation_time: i64,
    /// Further failures of the same shape folded into this one.
    pub coalesced_failures: u64,
}

/// One node's scores, for `-verbose` placement output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeScoreMeta {
    /// The node.
    #[serde(rename = "NodeID")]
    pub node_id: String,
    /// Score per ranker, in thousandths.
    pub scores: BTreeMap<String, i64>,
    /// Normalised score, in thousandths.
    pub norm_score: i64,
}
