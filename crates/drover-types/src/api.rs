//! Request and response shapes of the HTTP API that are not domain objects
//! themselves: list stubs, summaries, register / dispatch / plan replies.
//! Field names follow Nomad's v1 API so its clients work unchanged.
//!
//! This is the one wire contract: the server builds its replies from these
//! types, and the `drover-api` client and the CLI read them back with the
//! same types. Replies that used to be ad hoc JSON objects keep their fields
//! in alphabetical order, the order those objects had on the wire.
//! [`metronome`] holds the Metronome API's run, history and error shapes.

pub mod metronome;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::alloc::{AllocatedResources, Allocation, TaskState};
use crate::eval::{AllocMetric, Evaluation};
use crate::job::{Job, JobType};
use crate::node::{DriverInfo, Node};
use crate::run::{JobHistory, Run};
use crate::schedule::JobSchedule;

/// `PUT /v1/jobs` and `POST /v1/job/:id` body.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobRegisterRequest {
    /// The job.
    pub job: Option<Job>,
    /// Register only if the job's `JobModifyIndex` equals `job_modify_index`
    /// (0 = the job must not exist).
    pub enforce_index: bool,
    /// See `enforce_index`.
    pub job_modify_index: u64,
    /// Keep the counts of existing groups.
    pub preserve_counts: bool,
    /// Priority of the created evaluation (0 = the job's).
    pub eval_priority: i32,
}

/// Reply to a register, deregister or evaluate.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobRegisterResponse {
    /// The evaluation created ("" for templates).
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    /// Its create index.
    pub eval_create_index: u64,
    /// The job's `JobModifyIndex` after the write.
    pub job_modify_index: u64,
    /// Non-fatal remarks.
    pub warnings: String,
    /// The state index of the write.
    pub index: u64,
}

/// `POST /v1/job/:id/dispatch` body.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobDispatchRequest {
    /// Must equal the path's job ID when given.
    #[serde(rename = "JobID", deserialize_with = "null_as_default")]
    pub job_id: String,
    /// Payload, base64 in JSON.
    #[serde(with = "opt_base64")]
    pub payload: Vec<u8>,
    /// Meta merged into the child's job meta.
    #[serde(deserialize_with = "null_as_default")]
    pub meta: BTreeMap<String, String>,
    /// Dispatch at most once per token.
    #[serde(deserialize_with = "null_as_default")]
    pub idempotency_token: String,
    /// Inserted into the child ID: `<parent>/dispatch-<tpl>-<unix>-<8hex>`.
    #[serde(deserialize_with = "null_as_default")]
    pub id_prefix_template: String,
    /// Priority of the child (0 = the parent's).
    #[serde(deserialize_with = "null_as_default")]
    pub priority: i32,
}

/// Reply to a dispatch.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobDispatchResponse {
    /// The child job's ID.
    #[serde(rename = "DispatchedJobID")]
    pub dispatched_job_id: String,
    /// The child's evaluation ("" when the token matched an existing child).
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    /// The evaluation's create index.
    pub eval_create_index: u64,
    /// The child's create index.
    pub job_create_index: u64,
    /// The state index of the write.
    pub index: u64,
}

/// `DELETE /v1/job/:id` reply.
pub type JobDeregisterResponse = JobRegisterResponse;

/// One row of `GET /v1/jobs`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobListStub {
    /// Job ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// Parent job ID for children.
    #[serde(rename = "ParentID")]
    pub parent_id: String,
    /// Name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Datacenters.
    pub datacenters: Vec<String>,
    /// Node pool.
    pub node_pool: String,
    /// Type (`batch`, `service`...).
    #[serde(rename = "Type")]
    pub job_type: JobType,
    /// Priority.
    pub priority: i32,
    /// Whether it is a cron template.
    pub periodic: bool,
    /// Whether it is a dispatch template.
    pub parameterized_job: bool,
    /// Stopped by a user.
    pub stop: bool,
    /// `pending`, `running`, `dead`.
    pub status: String,
    /// Why.
    pub status_description: String,
    /// Allocation counts per group.
    pub job_summary: Option<JobSummary>,
    /// Create index.
    pub create_index: u64,
    /// Modify index.
    pub modify_index: u64,
    /// Job modify index.
    pub job_modify_index: u64,
    /// Submit time (Unix ns).
    pub submit_time: i64,
    /// Meta (only with `?meta=true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<BTreeMap<String, String>>,
}

/// `GET /v1/job/:id/summary`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobSummary {
    /// Job ID.
    #[serde(rename = "JobID")]
    pub job_id: String,
    /// Namespace.
    pub namespace: String,
    /// Per task group counts.
    pub summary: BTreeMap<String, TaskGroupSummary>,
    /// Children counts for templates.
    pub children: JobChildrenSummary,
    /// Create index.
    pub create_index: u64,
    /// Modify index.
    pub modify_index: u64,
}

/// Allocation counts of one task group.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskGroupSummary {
    /// Waiting for placement.
    pub queued: u64,
    /// Placed, not running yet.
    pub starting: u64,
    /// Running.
    pub running: u64,
    /// Failed.
    pub failed: u64,
    /// Complete.
    pub complete: u64,
    /// Lost with their node.
    pub lost: u64,
    /// On disconnected nodes.
    pub unknown: u64,
}

/// Children counts of a template job.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobChildrenSummary {
    /// Children pending.
    pub pending: u64,
    /// Children running.
    pub running: u64,
    /// Children dead (kept and collected).
    pub dead: u64,
    /// Drover: dead children that completed (kept and collected).
    pub complete: u64,
    /// Drover: dead children that failed or were lost (kept and collected).
    pub failed: u64,
    /// Drover: dead children that were stopped before finishing (kept and collected).
    pub stopped: u64,
    /// Drover: children already garbage-collected (counted in the figures above).
    pub collected: u64,
}

/// One row of allocation lists.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocListStub {
    /// Allocation ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// Evaluation that placed it.
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    /// `<job>.<group>[<idx>]`.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Node.
    #[serde(rename = "NodeID")]
    pub node_id: String,
    /// Node name.
    pub node_name: String,
    /// Job.
    #[serde(rename = "JobID")]
    pub job_id: String,
    /// Job type.
    pub job_type: String,
    /// Job version.
    pub job_version: u64,
    /// Task group.
    pub task_group: String,
    /// Desired status.
    pub desired_status: String,
    /// Desired description.
    pub desired_description: String,
    /// Client status.
    pub client_status: String,
    /// Client description.
    pub client_description: String,
    /// Resources reserved for it (what a node's allocated totals add up).
    pub allocated_resources: AllocatedResources,
    /// Task states.
    pub task_states: BTreeMap<String, TaskState>,
    /// Replaced allocation.
    pub previous_allocation: String,
    /// Replacement allocation.
    pub next_allocation: String,
    /// Follow-up evaluation.
    #[serde(rename = "FollowupEvalID")]
    pub followup_eval_id: String,
    /// Create index.
    pub create_index: u64,
    /// Modify index.
    pub modify_index: u64,
    /// Create time (Unix ns).
    pub create_time: i64,
    /// Modify time (Unix ns).
    pub modify_time: i64,
}

impl AllocListStub {
    /// The stub of an allocation.
    pub fn from_alloc(alloc: &Allocation, job_type: &str) -> AllocListStub {
        AllocListStub {
            id: alloc.id.clone(),
            eval_id: alloc.eval_id.clone(),
            name: alloc.name.clone(),
            namespace: alloc.namespace.clone(),
            node_id: alloc.node_id.clone(),
            node_name: alloc.node_name.clone(),
            job_id: alloc.job_id.clone(),
            job_type: job_type.to_string(),
            job_version: alloc.job_version,
            task_group: alloc.task_group.clone(),
            desired_status: alloc.desired_status.clone(),
            desired_description: alloc.desired_description.clone(),
            client_status: alloc.client_status.clone(),
            client_description: alloc.client_description.clone(),
            allocated_resources: alloc.allocated_resources.clone(),
            task_states: alloc.task_states.clone(),
            previous_allocation: alloc.previous_allocation.clone(),
            next_allocation: alloc.next_allocation.clone(),
            followup_eval_id: alloc.followup_eval_id.clone(),
            create_index: alloc.create_index,
            modify_index: alloc.modify_index,
            create_time: alloc.create_time,
            modify_time: alloc.modify_time,
        }
    }
}

/// One row of `GET /v1/nodes`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeListStub {
    /// Address the client serves on.
    pub address: String,
    /// Node ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// Datacenter.
    pub datacenter: String,
    /// Name.
    pub name: String,
    /// Node pool.
    pub node_pool: String,
    /// Node class.
    pub node_class: String,
    /// Agent version.
    pub version: String,
    /// Draining.
    pub drain: bool,
    /// Eligibility.
    pub scheduling_eligibility: String,
    /// Status.
    pub status: String,
    /// Status description.
    pub status_description: String,
    /// Drivers.
    pub drivers: BTreeMap<String, DriverInfo>,
    /// Last heartbeat (Unix ns). Drover addition.
    pub last_heartbeat: i64,
    /// Non-terminal allocations on it. Drover addition.
    pub allocs_running: u64,
    /// Create index.
    pub create_index: u64,
    /// Modify index.
    pub modify_index: u64,
}

impl NodeListStub {
    /// The stub of a node.
    pub fn from_node(node: &Node, allocs_running: u64) -> NodeListStub {
        NodeListStub {
            address: node.http_addr.clone(),
            id: node.id.clone(),
            datacenter: node.datacenter.clone(),
            name: node.name.clone(),
            node_pool: node.node_pool.clone(),
            node_class: node.node_class.clone(),
            version: node.version.clone(),
            drain: node.drain,
            scheduling_eligibility: node.scheduling_eligibility.clone(),
            status: node.status.clone(),
            status_description: node.status_description.clone(),
            drivers: node.drivers.clone(),
            last_heartbeat: node.last_heartbeat,
            allocs_running,
            create_index: node.create_index,
            modify_index: node.modify_index,
        }
    }
}

/// `POST /v1/job/:id/plan` body.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobPlanRequest {
    /// The job as it would be submitted.
    pub job: Option<Job>,
    /// Whether to return the diff.
    pub diff: bool,
}

/// Reply to a plan.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobPlanResponse {
    /// What the scheduler would do per group.
    pub annotations: PlanAnnotations,
    /// Placements that would fail, per group.
    #[serde(rename = "FailedTGAllocs")]
    pub failed_tg_allocs: BTreeMap<String, AllocMetric>,
    /// The current job's `JobModifyIndex` (0 if it does not exist).
    pub job_modify_index: u64,
    /// The spec diff against the registered job.
    pub diff: Option<JobDiff>,
    /// Next cron launch (Unix ns), for periodic jobs.
    pub next_periodic_launch: i64,
    /// Non-fatal remarks.
    pub warnings: String,
    /// State index the plan was made at.
    pub index: u64,
}

/// What a plan would do.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct PlanAnnotations {
    /// Per task group.
    #[serde(rename = "DesiredTGUpdates")]
    pub desired_tg_updates: BTreeMap<String, DesiredUpdates>,
}

/// Counts of what a plan does to one task group.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct DesiredUpdates {
    /// Left alone.
    pub ignore: u64,
    /// Created.
    pub place: u64,
    /// Moved off draining nodes.
    pub migrate: u64,
    /// Stopped.
    pub stop: u64,
    /// Updated without a restart.
    pub in_place_update: u64,
    /// Replaced (stop + create).
    pub destructive_update: u64,
    /// Canaries.
    pub canary: u64,
    /// Preemptions.
    pub preemptions: u64,
    /// Rescheduled now.
    pub reschedule_now: u64,
    /// Rescheduled later.
    pub reschedule_later: u64,
}

/// Diff kinds, as Nomad names them.
pub mod diff_type {
    /// Only in the new job.
    pub const ADDED: &str = "Added";
    /// Only in the old job.
    pub const DELETED: &str = "Deleted";
    /// In both, changed.
    pub const EDITED: &str = "Edited";
    /// In both, unchanged.
    pub const NONE: &str = "None";
}

/// Difference between the registered job and a new one.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobDiff {
    /// See [`diff_type`].
    #[serde(rename = "Type")]
    pub diff_type: String,
    /// Job ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// Job-level fields.
    pub fields: Vec<FieldDiff>,
    /// Job-level blocks.
    pub objects: Vec<ObjectDiff>,
    /// Task groups.
    pub task_groups: Vec<TaskGroupDiff>,
}

/// Difference of one task group.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskGroupDiff {
    /// See [`diff_type`].
    #[serde(rename = "Type")]
    pub diff_type: String,
    /// Group name.
    pub name: String,
    /// Fields.
    pub fields: Vec<FieldDiff>,
    /// Blocks.
    pub objects: Vec<ObjectDiff>,
    /// Tasks.
    pub tasks: Vec<TaskDiff>,
    /// What the scheduler would do: `create`, `destroy`, `in-place update`,
    /// `create/destroy update`, `ignore` with counts.
    pub updates: BTreeMap<String, u64>,
}

/// Difference of one task.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskDiff {
    /// See [`diff_type`].
    #[serde(rename = "Type")]
    pub diff_type: String,
    /// Task name.
    pub name: String,
    /// Fields.
    pub fields: Vec<FieldDiff>,
    /// Blocks.
    pub objects: Vec<ObjectDiff>,
    /// `forces create/destroy update`, `forces in-place update`.
    pub annotations: Vec<String>,
}

/// Difference of one named block (`Config`, `Resources`, ...).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct ObjectDiff {
    /// See [`diff_type`].
    #[serde(rename = "Type")]
    pub diff_type: String,
    /// Block name.
    pub name: String,
    /// Fields.
    pub fields: Vec<FieldDiff>,
    /// Nested blocks.
    pub objects: Vec<ObjectDiff>,
}

/// Difference of one field.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct FieldDiff {
    /// See [`diff_type`].
    #[serde(rename = "Type")]
    pub diff_type: String,
    /// Field name.
    pub name: String,
    /// Old value as text.
    pub old: String,
    /// New value as text.
    pub new: String,
    /// `forces create`, `forces destroy`, `forces in-place update`...
    pub annotations: Vec<String>,
}

/// `PUT /v1/node/register` reply (client agent protocol).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeRegisterResponse {
    /// The node's ID.
    #[serde(rename = "NodeID")]
    pub node_id: String,
    /// Heartbeat within this long (ns) or be marked down.
    #[serde(rename = "HeartbeatTTL")]
    pub heartbeat_ttl: i64,
    /// State index of the write.
    pub index: u64,
}

/// `GET /v1/node/:id/client-allocs` reply (client agent protocol): every
/// allocation on the node the client must act on, each with its job embedded.
/// With `?since=S` (the index of the client's last complete view) the
/// allocations the server has not changed since `S` come as IDs alone in
/// `Unchanged`, so a long poll woken by one allocation does not resend the
/// node's others.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct ClientAllocsResponse {
    /// Allocations, with `Job` set: all of them, or with `?since=S` those
    /// whose `AllocModifyIndex` is above `S`.
    pub allocs: Vec<Allocation>,
    /// With `?since=S`: IDs of the node's other allocations, unchanged on the
    /// server since `S`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unchanged: Vec<String>,
    /// State index the list was read at; pass it back as `?index=` to block.
    pub index: u64,
}

impl ClientAllocsResponse {
    /// The IDs the reply lists: those of the allocations it carries and those
    /// it names unchanged. `None` when an unchanged one is not `known` to the
    /// caller: its view has a gap, so it must fetch the whole list.
    pub fn listed_ids(&self, known: impl Fn(&str) -> bool) -> Option<HashSet<String>> {
        let mut listed = HashSet::with_capacity(self.allocs.len() + self.unchanged.len());
        for id in &self.unchanged {
            if !known(id) {
                return None;
            }
            listed.insert(id.clone());
        }
        listed.extend(self.allocs.iter().map(|alloc| alloc.id.clone()));
        Some(listed)
    }
}

/// `POST /v1/client/allocs/update` body (client agent protocol).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct ClientAllocsUpdateRequest {
    /// The reporting node.
    #[serde(rename = "NodeID")]
    pub node_id: String,
    /// The updates.
    pub allocs: Vec<crate::alloc::AllocClientUpdate>,
}

/// `GET /v1/search` / `PUT /v1/search` body.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct SearchRequest {
    /// ID prefix.
    pub prefix: String,
    /// `jobs`, `evals`, `allocs`, `nodes` or `all`.
    pub context: String,
}

/// Reply to a search.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct SearchResponse {
    /// IDs found per context.
    pub matches: BTreeMap<String, Vec<String>>,
    /// Whether a context had more than the limit.
    pub truncations: BTreeMap<String, bool>,
    /// State index.
    pub index: u64,
}

/// One event of `GET /v1/event/stream`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct StreamEvent {
    /// `Job`, `Evaluation`, `Allocation`, `Node`.
    pub topic: String,
    /// `JobRegistered`, `EvaluationUpdated`, `AllocationUpdated`, `NodeRegistration`...
    #[serde(rename = "Type")]
    pub event_type: String,
    /// The object's ID.
    pub key: String,
    /// The object's namespace.
    pub namespace: String,
    /// State index of the change.
    pub index: u64,
    /// `{"Job": {...}}`, `{"Evaluation": {...}}`...
    pub payload: EventPayload,
}

/// The object an event carries, under its topic's key: `{"Job": {...}}`.
///
/// Read back, a deregistered job or node (only its ID) comes as the `Job` or
/// `Node` variant with the other fields at their defaults; the event's `Type`
/// says which it was.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum EventPayload {
    /// A job written (`JobRegistered`).
    Job {
        /// The job.
        #[serde(rename = "Job")]
        job: Arc<Job>,
    },
    /// An evaluation written.
    Evaluation {
        /// The evaluation.
        #[serde(rename = "Evaluation")]
        eval: Arc<Evaluation>,
    },
    /// An allocation written.
    Allocation {
        /// The allocation.
        #[serde(rename = "Allocation")]
        alloc: Arc<Allocation>,
    },
    /// A node registered or changed (its secret ID cleared).
    Node {
        /// The node.
        #[serde(rename = "Node")]
        node: Arc<Node>,
    },
    /// A run written.
    Run {
        /// The run.
        #[serde(rename = "Run")]
        run: Arc<Run>,
    },
    /// A job's run history written.
    History {
        /// The history.
        #[serde(rename = "History")]
        history: Arc<JobHistory>,
    },
    /// A job purged (`JobDeregistered`).
    JobDeleted {
        /// The purged job's ID and namespace.
        #[serde(rename = "Job")]
        job: DeletedJob,
    },
    /// A node purged (`NodeDeregistration`).
    NodeDeleted {
        /// The purged node's ID.
        #[serde(rename = "Node")]
        node: DeletedNode,
    },
}

/// A purged job in an event: what is left to name it.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeletedJob {
    /// Job ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// Namespace.
    pub namespace: String,
}

/// A purged node in an event: its ID.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeletedNode {
    /// Node ID.
    #[serde(rename = "ID")]
    pub id: String,
}

/// A batch of events as the stream sends them: one JSON line each.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct StreamEvents {
    /// State index.
    pub index: u64,
    /// Events.
    pub events: Vec<StreamEvent>,
}

/// `GET /v1/agent/self` (the parts Drover fills; Nomad's names).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct AgentSelf {
    /// The agent's configuration.
    #[serde(deserialize_with = "null_as_default")]
    pub config: AgentConfig,
    /// The agent as a cluster member.
    #[serde(deserialize_with = "null_as_default")]
    pub member: AgentMember,
    /// Figures per subsystem (`drover`, `broker`, `raft`, `client`), as text.
    #[serde(deserialize_with = "null_as_default")]
    pub stats: BTreeMap<String, BTreeMap<String, String>>,
}

/// The `Config` of [`AgentSelf`].
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct AgentConfig {
    /// Client mode.
    #[serde(deserialize_with = "null_as_default")]
    pub client: AgentClientConfig,
    /// Data directory.
    pub data_dir: String,
    /// Datacenter.
    pub datacenter: String,
    /// Node name.
    pub node_name: String,
    /// Region.
    pub region: String,
    /// Server mode.
    #[serde(deserialize_with = "null_as_default")]
    pub server: AgentServerConfig,
    /// The agent's build.
    #[serde(deserialize_with = "null_as_default")]
    pub version: AgentVersion,
}

/// The `Config.Client` of [`AgentSelf`].
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct AgentClientConfig {
    /// Whether this agent runs a client (a node).
    pub enabled: bool,
    /// The local node's ID ("" without a client). Drover addition.
    #[serde(rename = "NodeID")]
    pub node_id: String,
}

/// The `Config.Server` of [`AgentSelf`].
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct AgentServerConfig {
    /// Whether this agent runs a server.
    pub enabled: bool,
    /// Scheduler workers.
    pub num_schedulers: usize,
}

/// The `Config.Version` of [`AgentSelf`].
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct AgentVersion {
    /// `drover`.
    pub name: String,
    /// The version number.
    pub version: String,
}

/// The `Member` of [`AgentSelf`].
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct AgentMember {
    /// HTTP address.
    pub addr: String,
    /// Node name.
    pub name: String,
    /// `alive`.
    pub status: String,
    /// `region`, `dc`, `role`.
    pub tags: BTreeMap<String, String>,
}

/// `GET /v1/agent/health` reply.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(default)]
pub struct AgentHealthResponse {
    /// The client's health.
    pub client: AgentHealth,
    /// The server's health.
    pub server: AgentHealth,
}

/// One part of [`AgentHealthResponse`].
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(default)]
pub struct AgentHealth {
    /// What is wrong, or `ok`.
    pub message: String,
    /// Healthy.
    pub ok: bool,
}

/// `GET /v1/metrics` reply (Nomad's `MetricsSummary`, the parts Drover fills).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct MetricsSummary {
    /// Counters since start.
    pub counters: Vec<MetricCounter>,
    /// Current values.
    pub gauges: Vec<MetricGauge>,
    /// Request latencies per route (milliseconds).
    pub samples: Vec<MetricSample>,
    /// When it was taken (Unix seconds, as text).
    pub timestamp: String,
}

/// A counter of [`MetricsSummary`].
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct MetricCounter {
    /// How many.
    pub count: u64,
    /// `drover.<what>`.
    pub name: String,
    /// The count again, as Nomad sums it.
    pub sum: f64,
}

/// A gauge of [`MetricsSummary`].
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct MetricGauge {
    /// `drover.<what>`.
    pub name: String,
    /// Its value.
    pub value: f64,
}

/// A sample (request latencies of one route) of [`MetricsSummary`].
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct MetricSample {
    /// Requests.
    pub count: u64,
    /// `route`: `<METHOD> <path pattern>`.
    pub labels: BTreeMap<String, String>,
    /// Longest (ms).
    pub max: f64,
    /// Mean (ms).
    pub mean: f64,
    /// `drover.http.request`.
    pub name: String,
    /// Total (ms).
    pub sum: f64,
}

/// Error body for JSON error replies (Drover's API answers plain text like
/// Nomad; this is used where a structured error is asked for).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct ErrorBody {
    /// The message.
    pub message: String,
}

/// `drover-api` client's HTTP header for tokens.
pub const TOKEN_HEADER: &str = "X-Nomad-Token";
/// Response header carrying the state index.
pub const INDEX_HEADER: &str = "X-Nomad-Index";

/// Serde for payload bytes: base64 text in JSON, absent or null when empty.
mod opt_base64 {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        if bytes.is_empty() {
            return serializer.serialize_none();
        }
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text: Option<String> = Option::deserialize(deserializer)?;
        match text {
            None => Ok(Vec::new()),
            Some(text) => STANDARD.decode(text.as_bytes()).map_err(serde::de::Error::custom),
        }
    }
}

/// One item of `GET /v1/queue`: work not running yet, in the order it will be taken.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct QueueItem {
    /// 1 = taken first.
    pub position: usize,
    /// `pending`, `delayed`, `blocked`, `held` or `starting`.
    pub kind: String,
    /// Namespace of the job.
    pub namespace: String,
    /// The job.
    #[serde(rename = "JobID")]
    pub job_id: String,
    /// The evaluation, for evaluation and held items.
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    /// The allocation, for starting items.
    #[serde(rename = "AllocID")]
    pub alloc_id: String,
    /// The runner it is placed on (starting items).
    #[serde(rename = "NodeID")]
    pub node_id: String,
    /// The runner's name.
    pub node_name: String,
    /// Job priority.
    pub priority: i32,
    /// Since when it waits (Unix ns).
    pub since: i64,
    /// Why it waits.
    pub reason: String,
}

/// One allocation running on a runner, in `GET /v1/queue`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct RunningItem {
    /// Namespace of the job.
    pub namespace: String,
    /// The job.
    #[serde(rename = "JobID")]
    pub job_id: String,
    /// The allocation.
    #[serde(rename = "AllocID")]
    pub alloc_id: String,
    /// Its task group.
    pub task_group: String,
    /// The runner.
    #[serde(rename = "NodeID")]
    pub node_id: String,
    /// The runner's name.
    pub node_name: String,
    /// When it started (Unix ns; its creation time when unknown).
    pub since: i64,
}

/// The reply of `GET /v1/queue`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct QueueResponse {
    /// Work not running yet, in order: the first `limit` items.
    pub queued: Vec<QueueItem>,
    /// Work running, by runner then job: the first `limit` items.
    pub running: Vec<RunningItem>,
    /// How many items are queued in all (more than `queued` holds when the
    /// list was cut at `limit`).
    pub queued_total: usize,
    /// How many items are running in all.
    pub running_total: usize,
}

/// One held dispatch of `GET /v1/job/:id/queue` (`parameterized { max_concurrent }`).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct QueuedDispatch {
    /// The waiting child job.
    #[serde(rename = "JobID")]
    pub job_id: String,
    /// Its held evaluation.
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    /// 1 = next to run.
    pub position: u64,
    /// The child's priority (higher runs first).
    pub priority: i32,
    /// Why it waits.
    pub reason: String,
}

/// `GET /v1/job/:id/outcome` reply: how a job ended.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobOutcome {
    /// The job.
    #[serde(rename = "JobID")]
    pub job_id: String,
    /// `pending`, `running` or `dead`.
    pub status: String,
    /// Whether the job is dead; the wait timed out otherwise.
    pub finished: bool,
    /// `complete`, `failed`, `lost`, `stopped`, or "" while not finished.
    pub outcome: String,
    /// The exit code to report: the first failed task's, else the last task's, else 0.
    pub exit_code: i32,
    /// Per allocation: ID, client status and each task's last exit code.
    pub allocations: Vec<AllocOutcome>,
    /// State index.
    pub index: u64,
}

/// One allocation of a [`JobOutcome`].
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocOutcome {
    /// Allocation ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// Client status.
    pub client_status: String,
    /// Task name → its last exit code (`None` if it never exited).
    pub tasks: BTreeMap<String, Option<i32>>,
}

/// Reply to writes whose only news is the state index: client allocation
/// updates (`POST /v1/client/allocs/update` and `update-batch`) and schedule
/// changes (`POST /v1/job/:id/schedules`, `PUT|DELETE .../schedules/:id`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct IndexResponse {
    /// State index of the write.
    pub index: u64,
}

/// `POST /v1/job/:id/evaluate` body (Nomad's `JobEvaluateRequest`).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobEvaluateRequest {
    /// The job.
    #[serde(rename = "JobID")]
    pub job_id: String,
    /// Options of the evaluation.
    pub eval_options: EvalOptions,
}

/// Options of a forced evaluation.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct EvalOptions {
    /// Reschedule failed allocations now (not supported yet: always false).
    pub force_reschedule: bool,
}

/// `GET /v1/job/:id/versions` reply.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobVersionsResponse {
    /// `diffs[i]` is the change from `versions[i + 1]` to `versions[i]`
    /// (only with `?diffs=true`; empty otherwise, `null` from Nomad).
    #[serde(deserialize_with = "null_as_default")]
    pub diffs: Vec<JobDiff>,
    /// State index.
    pub index: u64,
    /// Versions, newest first.
    #[serde(deserialize_with = "null_as_default")]
    pub versions: Vec<Job>,
}

/// `POST /v1/allocation/:id/stop` reply.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocStopResponse {
    /// The evaluation created to replace the allocation.
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    /// State index of the write.
    pub index: u64,
}

/// `POST /v1/client/allocation/:id/restart` body (Nomad's `AllocRestartRequest`).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocRestartRequest {
    /// The task to restart; "" restarts every task.
    pub task_name: String,
}

/// `PUT /v1/node/:id/heartbeat` body (client agent protocol).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeHeartbeatRequest {
    /// The node's secret, as registered.
    #[serde(rename = "SecretID")]
    pub secret_id: String,
}

/// `POST /v1/node/:id/drain` body (Nomad's `NodeUpdateDrainRequest`).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeDrainRequest {
    /// The drain to start; `None` ends a drain.
    pub drain_spec: Option<DrainSpec>,
    /// Make the node eligible again when ending the drain.
    pub mark_eligible: bool,
}

/// A drain to start.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct DrainSpec {
    /// How long allocations get to move (ns); 0 = no deadline.
    pub deadline: i64,
    /// Leave system jobs running.
    pub ignore_system_jobs: bool,
}

/// `POST /v1/node/:id/drain` reply.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeDrainResponse {
    /// State index of the evaluations' write.
    pub eval_create_index: u64,
    /// Evaluations created to move the node's work.
    #[serde(rename = "EvalIDs", deserialize_with = "null_as_default")]
    pub eval_ids: Vec<String>,
    /// State index of the write.
    pub index: u64,
    /// The node's modify index after the write.
    pub node_modify_index: u64,
}

/// `POST /v1/node/:id/eligibility` body.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeEligibilityRequest {
    /// `eligible` or `ineligible`.
    pub eligibility: String,
}

/// Reply to a node eligibility change or purge.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeModifyResponse {
    /// State index of the write.
    pub index: u64,
    /// The node's modify index after the write.
    pub node_modify_index: u64,
}

/// `POST /v1/node/:id/test` reply: whether a runner (node) can run work end to end.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeTestResult {
    /// The node tested.
    #[serde(rename = "NodeID")]
    pub node_id: String,
    /// Whether the probe ran and exited 0.
    pub success: bool,
    /// From submitting the probe to its end (or to the failure).
    pub duration_ms: u64,
    /// `probe task exited 0 on raw_exec` or what went wrong.
    pub message: String,
}

/// `PUT /v1/system/gc` reply.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct SystemGcResponse {
    /// How many objects were collected. Drover addition.
    pub purged: usize,
}

/// `POST /v1/job/:id/periodic/force` reply: Nomad's `PeriodicForceResponse`,
/// plus the run and child Drover created.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct PeriodicForceResponse {
    /// The child's evaluation.
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    /// Its create index.
    pub eval_create_index: u64,
    /// State index of the write.
    pub index: u64,
    /// The run started.
    #[serde(rename = "RunID")]
    pub run_id: String,
    /// The child job launched.
    #[serde(rename = "DispatchedJobID")]
    pub dispatched_job_id: String,
}

/// One schedule of `GET /v1/job/:id/schedules[/:id]`: the stored fields,
/// where it comes from and its next launch.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct ScheduleView {
    /// The schedule.
    #[serde(flatten)]
    pub schedule: JobSchedule,
    /// `periodic` (the job's Nomad block) or `schedules`.
    pub source: String,
    /// Next launch (Unix ns, 0 = none), computed even when disabled, as Metronome does.
    pub next_run_at: i64,
    /// The same in Metronome's format, `2019-04-11T00:20:00.000+0000`.
    pub next_run_at_text: String,
}

/// `null` read as the type's default, as Go servers send empty lists.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}
