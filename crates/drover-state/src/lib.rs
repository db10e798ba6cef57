//! Drover's state store: every job, evaluation, allocation and node, held in
//! memory in persistent (copy-on-write) indexed maps and made durable in SQLite.
//!
//! Writers hand a [`Txn`] to [`StateStore::apply`]; a single writer thread
//! batches concurrent transactions into one SQLite commit (group commit), and
//! only after that commit is durable does it publish the new [`Snapshot`], wake
//! blocking queries and answer the callers. Readers take a [`Snapshot`]: an
//! immutable view at one state index, cheap to clone, safe to hold while the
//! scheduler thinks.
//!
//! Every object carries `CreateIndex` / `ModifyIndex`, assigned here: all
//! operations of one transaction share one new index.
//!
//! THIS FILE IS THE PUBLIC CONTRACT; bodies are filled in by the state work.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use drover_types::{AllocClientUpdate, Allocation, DrainStrategy, Evaluation, Job, Node};

/// Errors from the state store.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A precondition of the transaction did not hold; nothing was written.
    #[error("{0}")]
    Conflict(String),
    /// An operation named an object that does not exist; nothing was written.
    #[error("{0}")]
    NotFound(String),
    /// The database failed; nothing was acknowledged.
    #[error("storage: {0}")]
    Storage(String),
    /// The store was shut down.
    #[error("state store is closed")]
    Closed,
}

/// A condition checked atomically with the write.
#[derive(Debug, Clone, PartialEq)]
pub enum Precondition {
    /// The job's `JobModifyIndex` must equal `index`; `index == 0` means the job must not exist.
    JobModifyIndex {
        /// Namespace.
        namespace: String,
        /// Job ID.
        job_id: String,
        /// Expected index.
        index: u64,
    },
}

/// A change to an allocation's server-side fields.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AllocDesiredUpdate {
    /// The allocation.
    pub alloc_id: String,
    /// New desired status, if changing.
    pub desired_status: Option<String>,
    /// New desired description, if changing.
    pub desired_description: Option<String>,
    /// New client status (e.g. `lost`), if the server overrides it.
    pub client_status: Option<String>,
    /// Set the replacement allocation.
    pub next_allocation: Option<String>,
    /// Set the follow-up evaluation.
    pub followup_eval_id: Option<String>,
    /// Move to another job version (in-place update).
    pub job_version: Option<u64>,
}

/// One operation in a transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Register or update a job. A spec change (see `Job::spec_eq`) bumps
    /// `Version` and `JobModifyIndex` and keeps the old version readable; an
    /// identical spec only bumps `ModifyIndex`. `Stop` is taken from the job given.
    UpsertJob(Job),
    /// Remove a job and all its versions (allocations and evaluations stay until GC).
    PurgeJob {
        /// Namespace.
        namespace: String,
        /// Job ID.
        job_id: String,
    },
    /// Insert or replace evaluations.
    UpsertEvals(Vec<Evaluation>),
    /// Remove evaluations.
    DeleteEvals(Vec<String>),
    /// Insert or replace allocations (plan applier). `Job` is stripped before storing.
    UpsertAllocs(Vec<Allocation>),
    /// Change server-side fields of allocations.
    UpdateAllocsDesired(Vec<AllocDesiredUpdate>),
    /// Merge client reports (client status, description, task states).
    UpdateAllocsFromClient(Vec<AllocClientUpdate>),
    /// Remove allocations.
    DeleteAllocs(Vec<String>),
    /// Register or re-register a node (keeps `CreateIndex`).
    UpsertNode(Node),
    /// Change a node's status and record a heartbeat time (Unix ns, 0 = leave).
    UpdateNodeStatus {
        /// Node.
        node_id: String,
        /// New status.
        status: String,
        /// Heartbeat time.
        heartbeat: i64,
    },
    /// Change a node's scheduling eligibility.
    UpdateNodeEligibility {
        /// Node.
        node_id: String,
        /// `eligible` or `ineligible`.
        eligibility: String,
    },
    /// Start (`Some`) or end (`None`) a drain.
    UpdateNodeDrain {
        /// Node.
        node_id: String,
        /// The drain.
        drain: Option<DrainStrategy>,
    },
    /// Forget a node.
    DeleteNode(String),
}

/// An atomic group of operations.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Txn {
    /// Checked first; if any fails nothing is written.
    pub preconditions: Vec<Precondition>,
    /// Applied in order.
    pub ops: Vec<Op>,
}

/// What a committed transaction produced.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyResult {
    /// The state index of the commit.
    pub index: u64,
}

/// One object changed by a commit, for the event stream and watchers.
#[derive(Debug, Clone)]
pub struct Change {
    /// The commit's index.
    pub index: u64,
    /// What changed.
    pub object: ChangedObject,
}

/// The object a [`Change`] is about, as it is after the commit (`Deleted*`: gone).
#[derive(Debug, Clone)]
pub enum ChangedObject {
    /// A job registered or updated.
    Job(Arc<Job>),
    /// A job purged.
    JobDeleted {
        /// Namespace.
        namespace: String,
        /// Job ID.
        job_id: String,
    },
    /// An evaluation created or updated.
    Eval(Arc<Evaluation>),
    /// An allocation created or updated.
    Alloc(Arc<Allocation>),
    /// A node registered or updated.
    Node(Arc<Node>),
    /// A node forgotten.
    NodeDeleted(String),
}

/// A handle to the store; clones share it.
#[derive(Clone)]
pub struct StateStore {
    inner: Arc<Inner>,
}

struct Inner;

/// An immutable view of the whole state at one index.
#[derive(Clone)]
pub struct Snapshot {
    _private: (),
}

impl StateStore {
    /// Opens (creating if needed) a SQLite store at `path` and loads it into memory.
    pub fn open(path: &Path) -> Result<StateStore, StateError> {
        let _ = path;
        todo!()
    }

    /// A store with no durability, for tests and dry runs.
    pub fn in_memory() -> StateStore {
        todo!()
    }

    /// The latest committed snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        let _ = &self.inner;
        todo!()
    }

    /// The latest committed index.
    pub fn index(&self) -> u64 {
        todo!()
    }

    /// Waits until the index is above `index` or `timeout` passes; returns the
    /// index then. # Cancel safety: safe; dropping it stops waiting.
    pub async fn wait_index_above(&self, index: u64, timeout: Duration) -> u64 {
        let _ = (index, timeout);
        todo!()
    }

    /// Applies a transaction; returns once it is durable.
    /// # Cancel safety: the write happens (or not) whether or not the caller waits.
    pub async fn apply(&self, txn: Txn) -> Result<ApplyResult, StateError> {
        let _ = txn;
        todo!()
    }

    /// Changes of every commit from now on.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<Vec<Change>>> {
        todo!()
    }
}

impl Snapshot {
    /// The index of this snapshot.
    pub fn index(&self) -> u64 {
        todo!()
    }
    /// One job (its latest version).
    pub fn job(&self, namespace: &str, job_id: &str) -> Option<Arc<Job>> {
        let _ = (namespace, job_id);
        todo!()
    }
    /// Every job, ordered by (namespace, ID).
    pub fn jobs(&self) -> Vec<Arc<Job>> {
        todo!()
    }
    /// Jobs whose ID starts with `prefix` (`namespace == "*"`: every namespace), ordered.
    pub fn jobs_by_prefix(&self, namespace: &str, prefix: &str) -> Vec<Arc<Job>> {
        let _ = (namespace, prefix);
        todo!()
    }
    /// One version of a job.
    pub fn job_version(&self, namespace: &str, job_id: &str, version: u64) -> Option<Arc<Job>> {
        let _ = (namespace, job_id, version);
        todo!()
    }
    /// Every kept version of a job, newest first.
    pub fn job_versions(&self, namespace: &str, job_id: &str) -> Vec<Arc<Job>> {
        let _ = (namespace, job_id);
        todo!()
    }
    /// Children (dispatched or periodic) of a job, ordered by ID.
    pub fn children_of(&self, namespace: &str, parent_id: &str) -> Vec<Arc<Job>> {
        let _ = (namespace, parent_id);
        todo!()
    }
    /// One evaluation.
    pub fn eval(&self, eval_id: &str) -> Option<Arc<Evaluation>> {
        let _ = eval_id;
        todo!()
    }
    /// Every evaluation, ordered by ID.
    pub fn evals(&self) -> Vec<Arc<Evaluation>> {
        todo!()
    }
    /// Evaluations whose ID starts with `prefix`, ordered.
    pub fn evals_by_prefix(&self, prefix: &str) -> Vec<Arc<Evaluation>> {
        let _ = prefix;
        todo!()
    }
    /// Evaluations of a job.
    pub fn evals_by_job(&self, namespace: &str, job_id: &str) -> Vec<Arc<Evaluation>> {
        let _ = (namespace, job_id);
        todo!()
    }
    /// One allocation.
    pub fn alloc(&self, alloc_id: &str) -> Option<Arc<Allocation>> {
        let _ = alloc_id;
        todo!()
    }
    /// Every allocation, ordered by ID.
    pub fn allocs(&self) -> Vec<Arc<Allocation>> {
        todo!()
    }
    /// Allocations whose ID starts with `prefix`, ordered.
    pub fn allocs_by_prefix(&self, prefix: &str) -> Vec<Arc<Allocation>> {
        let _ = prefix;
        todo!()
    }
    /// Allocations of a job.
    pub fn allocs_by_job(&self, namespace: &str, job_id: &str) -> Vec<Arc<Allocation>> {
        let _ = (namespace, job_id);
        todo!()
    }
    /// Allocations on a node.
    pub fn allocs_by_node(&self, node_id: &str) -> Vec<Arc<Allocation>> {
        let _ = node_id;
        todo!()
    }
    /// Allocations placed by an evaluation.
    pub fn allocs_by_eval(&self, eval_id: &str) -> Vec<Arc<Allocation>> {
        let _ = eval_id;
        todo!()
    }
    /// One node.
    pub fn node(&self, node_id: &str) -> Option<Arc<Node>> {
        let _ = node_id;
        todo!()
    }
    /// Every node, ordered by ID.
    pub fn nodes(&self) -> Vec<Arc<Node>> {
        todo!()
    }
    /// Nodes whose ID starts with `prefix`, ordered.
    pub fn nodes_by_prefix(&self, prefix: &str) -> Vec<Arc<Node>> {
        let _ = prefix;
        todo!()
    }
    /// (cpu MHz, memory MB, disk MB) held on a node by non-terminal allocations.
    pub fn node_used(&self, node_id: &str) -> (u64, u64, u64) {
        let _ = node_id;
        todo!()
    }
}
