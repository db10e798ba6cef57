//! Allocations: one task group instance placed on one node, and the task
//! states its client reports.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::eval::AllocMetric;
use crate::job::Job;

/// What the server wants for an allocation.
pub mod desired_status {
    /// Keep it running.
    pub const RUN: &str = "run";
    /// Stop it.
    pub const STOP: &str = "stop";
    /// Stop it to make room (preemption, drain).
    pub const EVICT: &str = "evict";
}

/// What the client reports for an allocation.
pub mod client_status {
    /// Placed, no task started yet.
    pub const PENDING: &str = "pending";
    /// Tasks are running.
    pub const RUNNING: &str = "running";
    /// Every task finished successfully.
    pub const COMPLETE: &str = "complete";
    /// A task failed.
    pub const FAILED: &str = "failed";
    /// Its node went down.
    pub const LOST: &str = "lost";
    /// Its node is disconnected.
    pub const UNKNOWN: &str = "unknown";

    /// Whether the allocation will never run again.
    pub fn is_terminal(status: &str) -> bool {
        matches!(status, COMPLETE | FAILED | LOST)
    }
}

/// An allocation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct Allocation {
    /// UUID.
    #[serde(rename = "ID")]
    pub id: String,
    /// The job's namespace.
    pub namespace: String,
    /// The evaluation that placed it.
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    /// `<job>.<group>[<index>]`.
    pub name: String,
    /// The node it runs on.
    #[serde(rename = "NodeID")]
    pub node_id: String,
    /// The node's name.
    pub node_name: String,
    /// The job.
    #[serde(rename = "JobID")]
    pub job_id: String,
    /// The job version it runs.
    pub job_version: u64,
    /// The job spec at that version. Filled in when served to clients and API
    /// readers; not kept in the store (the store keeps job versions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<Box<Job>>,
    /// The task group it instantiates.
    pub task_group: String,
    /// Resources reserved for it on the node.
    pub allocated_resources: AllocatedResources,
    /// Placement metrics of the evaluation that placed it.
    pub metrics: AllocMetric,
    /// See [`desired_status`].
    pub desired_status: String,
    /// Why it has its desired status.
    pub desired_description: String,
    /// See [`client_status`].
    pub client_status: String,
    /// Why it has its client status.
    pub client_description: String,
    /// Per task state, reported by the client.
    pub task_states: BTreeMap<String, TaskState>,
    /// The allocation this one replaces.
    pub previous_allocation: String,
    /// The allocation that replaced this one.
    pub next_allocation: String,
    /// Reschedules so far, for the reschedule policy.
    pub reschedule_tracker: Option<RescheduleTracker>,
    /// A delayed evaluation that will reschedule it.
    #[serde(rename = "FollowupEvalID")]
    pub followup_eval_id: String,
    /// State index at creation.
    pub create_index: u64,
    /// State index of the last change.
    pub modify_index: u64,
    /// State index of the last server-side change.
    pub alloc_modify_index: u64,
    /// Creation time (Unix ns).
    pub create_time: i64,
    /// Last change time (Unix ns).
    pub modify_time: i64,
}

impl Allocation {
    /// Whether the client is done with it.
    pub fn client_terminal(&self) -> bool {
        client_status::is_terminal(&self.client_status)
    }

    /// Whether the server wants it stopped.
    pub fn server_terminal(&self) -> bool {
        self.desired_status == desired_status::STOP || self.desired_status == desired_status::EVICT
    }

    /// Whether it no longer uses resources on its node.
    pub fn terminal(&self) -> bool {
        self.client_terminal() || (self.server_terminal() && self.client_status == client_status::PENDING)
    }

    /// The index in `<job>.<group>[<index>]`.
    pub fn index(&self) -> u32 {
        let Some(open) = self.name.rfind('[') else { return 0 };
        self.name[open + 1..].trim_end_matches(']').parse().unwrap_or(0)
    }
}

/// The name of allocation `idx` of a job's group.
pub fn alloc_name(job_id: &str, group: &str, idx: u32) -> String {
    format!("{job_id}.{group}[{idx}]")
}

/// Resources reserved for an allocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocatedResources {
    /// Per task.
    pub tasks: BTreeMap<String, AllocatedTaskResources>,
    /// Shared by the group.
    pub shared: AllocatedSharedResources,
}

impl AllocatedResources {
    /// Total CPU (MHz) over all tasks.
    pub fn cpu(&self) -> u64 {
        self.tasks.values().map(|t| t.cpu.cpu_shares).sum()
    }

    /// Total memory (MB) over all tasks.
    pub fn memory_mb(&self) -> u64 {
        self.tasks.values().map(|t| t.memory.memory_mb).sum()
    }

    /// Disk (MB).
    pub fn disk_mb(&self) -> u64 {
        self.shared.disk_mb
    }
}

/// One task's reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocatedTaskResources {
    /// CPU.
    pub cpu: AllocatedCpu,
    /// Memory.
    pub memory: AllocatedMemory,
}

/// CPU reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocatedCpu {
    /// MHz.
    pub cpu_shares: u64,
}

/// Memory reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocatedMemory {
    /// MB.
    #[serde(rename = "MemoryMB")]
    pub memory_mb: u64,
}

/// Group-wide reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocatedSharedResources {
    /// MB.
    #[serde(rename = "DiskMB")]
    pub disk_mb: u64,
}

/// Past reschedules of an allocation's lineage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct RescheduleTracker {
    /// One per reschedule, oldest first.
    pub events: Vec<RescheduleEvent>,
}

/// One reschedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct RescheduleEvent {
    /// When (Unix ns).
    pub reschedule_time: i64,
    /// The failed allocation.
    #[serde(rename = "PrevAllocID")]
    pub prev_alloc_id: String,
    /// The node it failed on.
    #[serde(rename = "PrevNodeID")]
    pub prev_node_id: String,
    /// The delay applied (ns).
    pub delay: i64,
}

/// Task state values.
pub mod task_state {
    /// Not started yet.
    pub const PENDING: &str = "pending";
    /// Running.
    pub const RUNNING: &str = "running";
    /// Finished, for good.
    pub const DEAD: &str = "dead";
}

/// One task's state on its client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskState {
    /// See [`task_state`].
    pub state: String,
    /// Whether it died failed.
    pub failed: bool,
    /// Restarts so far.
    pub restarts: u64,
    /// Time of the last restart (Unix ns).
    pub last_restart: i64,
    /// Time it first started (Unix ns).
    pub started_at: i64,
    /// Time it finished (Unix ns).
    pub finished_at: i64,
    /// Events, oldest first (the client keeps the last 10... we keep 20).
    pub events: Vec<TaskEvent>,
}

/// Task event types, as Nomad names them.
pub mod task_event {
    /// The client got the allocation.
    pub const RECEIVED: &str = "Received";
    /// The task dir is being built.
    pub const TASK_SETUP: &str = "Task Setup";
    /// The driver started the task.
    pub const STARTED: &str = "Started";
    /// The task exited.
    pub const TERMINATED: &str = "Terminated";
    /// The task will be restarted.
    pub const RESTARTING: &str = "Restarting";
    /// The task will not be restarted.
    pub const NOT_RESTARTING: &str = "Not Restarting";
    /// The task is being killed.
    pub const KILLING: &str = "Killing";
    /// The task was killed.
    pub const KILLED: &str = "Killed";
    /// A sibling task failed, so this one is stopped.
    pub const SIBLING_FAILED: &str = "Sibling Task Failed";
    /// Setting the task up failed.
    pub const SETUP_FAILURE: &str = "Setup Failure";
    /// The driver failed to start it.
    pub const DRIVER_FAILURE: &str = "Driver Failure";
    /// The client could not re-attach after a restart.
    pub const FAILED_RESTORING: &str = "Failed Restoring Task";
    /// A message from the driver.
    pub const DRIVER: &str = "Driver";
}

/// One event in a task's life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskEvent {
    /// See [`task_event`].
    #[serde(rename = "Type")]
    pub event_type: String,
    /// When (Unix ns).
    pub time: i64,
    /// Human message.
    pub message: String,
    /// Message for display (`Task started by client`).
    pub display_message: String,
    /// Structured details.
    pub details: BTreeMap<String, String>,
    /// Whether this event fails the task.
    pub fails_task: bool,
    /// Why a restart happens.
    pub restart_reason: String,
    /// Setup failure text.
    pub setup_error: String,
    /// Driver failure text.
    pub driver_error: String,
    /// Exit code (Terminated).
    pub exit_code: i32,
    /// Signal that ended it (Terminated), 0 if none.
    pub signal: i32,
    /// Kill timeout applied (ns).
    pub kill_timeout: i64,
    /// Kill failure text.
    pub kill_error: String,
    /// Why it was killed.
    pub kill_reason: String,
    /// Delay before a restart (ns).
    pub start_delay: i64,
    /// The sibling that failed.
    pub failed_sibling: String,
}

impl TaskEvent {
    /// A new event of a type at a time, with its display message.
    pub fn new(event_type: &str, time: i64, display_message: impl Into<String>) -> TaskEvent {
        TaskEvent {
            event_type: event_type.to_string(),
            time,
            display_message: display_message.into(),
            ..TaskEvent::default()
        }
    }
}

/// What a client reports about one allocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocClientUpdate {
    /// The allocation.
    #[serde(rename = "ID")]
    pub id: String,
    /// New client status.
    pub client_status: String,
    /// New client description.
    pub client_description: String,
    /// Task states, whole.
    pub task_states: BTreeMap<String, TaskState>,
}
