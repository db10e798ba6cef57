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
//! ```
//! use drover_state::{Op, StateStore, Txn};
//! use drover_types::Job;
//!
//! let runtime = tokio::runtime::Runtime::new().expect("a runtime");
//! runtime.block_on(async {
//!     let store = StateStore::in_memory();
//!     let job = Job { id: "web".into(), namespace: "default".into(), ..Job::default() };
//!     let result = store.apply(Txn { ops: vec![Op::UpsertJob(job)], ..Txn::default() }).await.expect("applied");
//!     let snapshot = store.snapshot();
//!     assert_eq!(snapshot.index(), result.index);
//!     assert_eq!(snapshot.job("default", "web").expect("stored").version, 0);
//! });
//! ```
//!
//! # How the pieces connect
//!
//! - `maps`: `StateMaps`, the `imbl` maps and secondary
//!   indexes (allocs by job / node / eval, live allocs by node, evals by job,
//!   children by parent and by idempotency token, children counts per parent,
//!   system jobs, resources used per node), changed only through methods that
//!   keep the indexes in step.
//! - `children`: [`ChildCounts`], how a child job counts in its parent's
//!   summary (status, and for a dead child how it ended).
//! - `apply`: a transaction checked (`check_preconditions`) and applied to
//!   the maps (`apply_ops_in_place`: state, txn, index, now -> changes and
//!   the rows to write; no I/O). Preconditions, versioning, job status
//!   derivation live here.
//! - `writer`: the one writer thread; group commit over a `Backend`.
//! - `backend` / `sqlite`: what is durable; SQLite today, a small trait so
//!   PostgreSQL can follow.
//! - `snapshot`: [`Snapshot`] and its read methods.
//!
//! # Key decisions
//!
//! - Nothing is visible before it is durable: the snapshot, the index watch
//!   and the change stream move only after the backend commit.
//! - A transaction that fails its preconditions or names a missing object is
//!   rejected alone; the rest of its batch commits.
//! - Changes are broadcast once per committed transaction (not per batch).
//! - Deleting evaluations or allocations produces no [`Change`]: there is no
//!   [`ChangedObject`] variant for it (the rows are still deleted).

#![warn(unreachable_pub)]

mod alloc_counts;
mod apply;
mod archive;
mod backend;
mod children;
mod id_index;
#[cfg(test)]
mod index_tests;
mod key;
mod maps;
mod snapshot;
mod sqlite;
mod sqlite_archive;
mod writer;

use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use drover_types::{AllocClientUpdate, Allocation, DrainStrategy, Evaluation, Job, JobHistory, Node, Run};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

pub use crate::alloc_counts::JobAllocCounts;
pub use crate::children::ChildCounts;
pub use crate::snapshot::{ListedJob, Snapshot};

use crate::backend::{Backend, Loaded, MemoryBackend};
use crate::sqlite::SqliteBackend;
use crate::writer::{PublishedSnapshot, WriteRequest, Writer};

/// Transactions that may wait for the writer before `apply` waits to send.
const REQUEST_QUEUE_CAPACITY: usize = 8192;

/// Change batches a slow subscriber may fall behind before it lags.
const CHANGE_STREAM_CAPACITY: usize = 4096;

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
    /// The evaluation that changed it (an in-place update belongs to the new evaluation, as in Nomad).
    pub eval_id: Option<String>,
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
    /// Insert or replace allocations (plan applier). `Job` is stripped before
    /// storing. Shared so the store keeps the allocation it is handed rather
    /// than a copy (see [`Op::upsert_allocs`]).
    UpsertAllocs(Vec<Arc<Allocation>>),
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
    /// Set (`Some`) or delete (`None`) a small durable record in a named
    /// table: server bookkeeping that is not a domain object (idempotency
    /// tokens that outlive their child job, counters of collected children,
    /// last launched cron slots).
    PutKv {
        /// Table name, e.g. `dispatch-token`.
        table: String,
        /// Key within the table.
        key: String,
        /// New value, or `None` to delete.
        value: Option<String>,
    },
    /// Insert or replace runs (`CreateIndex` kept). A run that becomes
    /// terminal here is counted once in its job's [`JobHistory`].
    UpsertRuns(Vec<Run>),
    /// Record the newest cron slot handled for a schedule (never moves back).
    SetScheduleSlot {
        /// Namespace.
        namespace: String,
        /// The template job.
        job_id: String,
        /// The schedule.
        schedule_id: String,
        /// The slot (Unix ns).
        slot: i64,
    },
    /// Delete a job's oldest finished runs beyond the limits (counters stay).
    TrimRuns {
        /// Namespace.
        namespace: String,
        /// Job ID.
        job_id: String,
        /// `SUCCESS` runs kept.
        keep_successful: usize,
        /// `FAILED` and `SKIPPED` runs kept.
        keep_failed: usize,
    },
}

impl Op {
    /// [`Op::UpsertAllocs`] of allocations the caller hands over.
    pub fn upsert_allocs(allocs: Vec<Allocation>) -> Op {
        Op::UpsertAllocs(allocs.into_iter().map(Arc::new).collect())
    }
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
    /// A run created or updated.
    Run(Arc<Run>),
    /// A job's run history changed.
    JobHistory(Arc<JobHistory>),
}

/// A handle to the store; clones share it. When the last clone is dropped
/// the writer thread finishes its batch and stops.
#[derive(Clone)]
pub struct StateStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// `None` once dropping, or when the writer never started.
    request_sender: Option<mpsc::Sender<WriteRequest>>,
    published: PublishedSnapshot,
    index_receiver: watch::Receiver<u64>,
    change_sender: broadcast::Sender<Arc<Vec<Change>>>,
    writer_thread: Option<JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel stops the writer once its current batch is committed;
        // waiting for it means the database is closed when the last handle is gone.
        self.request_sender = None;
        if let Some(writer_thread) = self.writer_thread.take()
            && writer_thread.join().is_err()
        {
            tracing::error!("state writer thread panicked");
        }
    }
}

impl StateStore {
    /// Opens (creating if needed) a SQLite store at `path` and loads it into memory.
    pub fn open(path: &Path) -> Result<StateStore, StateError> {
        let mut backend = SqliteBackend::open(path)?;
        let loaded = backend.load()?;
        StateStore::start(Box::new(backend), loaded)
    }

    /// A store with no durability, for tests and dry runs.
    pub fn in_memory() -> StateStore {
        match StateStore::start(Box::new(MemoryBackend), Loaded::default()) {
            Ok(store) => store,
            Err(err) => {
                // Only a failed thread spawn gets here; every write will say `Closed`.
                tracing::error!(error = %err, "in-memory state store has no writer");
                let (inner, _writer) = StateStore::unstarted(Box::new(MemoryBackend), Loaded::default());
                StateStore { inner: Arc::new(inner) }
            }
        }
    }

    /// Builds the store's shared part and its writer, without starting the writer thread.
    fn unstarted(backend: Box<dyn Backend>, loaded: Loaded) -> (Inner, Writer) {
        let index = loaded.index;
        let maps = loaded.into_maps();
        let archive = backend.archive();
        let published: PublishedSnapshot =
            Arc::new(RwLock::new(Arc::new(Snapshot::new(index, maps.clone(), archive.clone()))));
        let (request_sender, requests) = mpsc::channel(REQUEST_QUEUE_CAPACITY);
        let (index_sender, index_receiver) = watch::channel(index);
        let (change_sender, _) = broadcast::channel(CHANGE_STREAM_CAPACITY);
        let writer = Writer {
            backend,
            maps,
            index,
            requests,
            published: Arc::clone(&published),
            index_sender,
            change_sender: change_sender.clone(),
            archive,
        };
        let inner = Inner {
            request_sender: Some(request_sender),
            published,
            index_receiver,
            change_sender,
            writer_thread: None,
        };
        (inner, writer)
    }

    fn start(backend: Box<dyn Backend>, loaded: Loaded) -> Result<StateStore, StateError> {
        let (mut inner, writer) = StateStore::unstarted(backend, loaded);
        let writer_thread = std::thread::Builder::new()
            .name("drover-state-writer".to_string())
            .spawn(move || writer.run())
            .map_err(|err| StateError::Storage(format!("starting the writer thread: {err}")))?;
        inner.writer_thread = Some(writer_thread);
        Ok(StateStore { inner: Arc::new(inner) })
    }

    /// The latest committed snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.inner.published.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The latest committed index.
    pub fn index(&self) -> u64 {
        *self.inner.index_receiver.borrow()
    }

    /// Waits until the index is above `index` or `timeout` passes; returns the
    /// index then (for blocking queries).
    ///
    /// # Cancel safety
    ///
    /// Safe: it changes nothing; dropping it just stops waiting.
    pub async fn wait_index_above(&self, index: u64, timeout: Duration) -> u64 {
        let mut receiver = self.inner.index_receiver.clone();
        let current = *receiver.borrow_and_update();
        if current > index {
            return current;
        }
        // A closed watch (writer gone) ends the wait at once: the index will not move.
        let _ = tokio::time::timeout(timeout, receiver.wait_for(|current| *current > index)).await;
        *receiver.borrow()
    }

    /// Applies a transaction; returns once it is durable.
    ///
    /// # Cancel safety
    ///
    /// Once the transaction is queued (the first poll usually queues it), it
    /// is applied whether or not the caller still waits. Dropped while the
    /// queue is full, it is not applied.
    pub async fn apply(&self, txn: Txn) -> Result<ApplyResult, StateError> {
        let Some(request_sender) = &self.inner.request_sender else { return Err(StateError::Closed) };
        let (reply, reply_receiver) = oneshot::channel();
        request_sender.send(WriteRequest { txn, reply }).await.map_err(|_| StateError::Closed)?;
        reply_receiver.await.map_err(|_| StateError::Closed)?
    }

    /// Changes of every commit from now on: one message per committed
    /// transaction, in index order. A receiver that falls more than ~4096
    /// transactions behind gets `Lagged` and should re-read a snapshot.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Vec<Change>>> {
        self.inner.change_sender.subscribe()
    }
}
