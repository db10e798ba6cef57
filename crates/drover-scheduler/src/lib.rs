//! Drover's scheduler: a pure, synchronous function from a state snapshot and
//! an evaluation to a [`Plan`].
//!
//! [`schedule`] reads an immutable [`StateView`] and never writes: the server's
//! plan applier alone commits what the plan says, after re-checking fit. Given
//! the same view, evaluation, `now` and seed (and [`AllocIds::Seeded`]), the
//! plan is the same, so placement is testable by tables and cheap to benchmark
//! with thousands of nodes.
//!
//! Stages, each its own module: reconcile (desired vs existing allocations),
//! feasibility (node -> pass or the reason it is filtered), ranking (bin-pack),
//! select. The job type picks the path: service and batch place `count`
//! instances anywhere feasible; system and sysbatch place one per eligible node.
//!
//! Key decisions:
//! - Nodes are sorted by ID and shuffled once per eval with
//!   `StdRng::seed_from_u64(seed)`; allocation IDs come from the same RNG, or
//!   (the server, [`AllocIds::Ordered`]) from the ordered ID clock.
//! - Each placement walks the shuffled nodes from a cursor that continues
//!   where the previous one stopped, scores the first `limit` feasible nodes
//!   that fit (2 for batch, `max(2, ceil(log2 n))` otherwise) and takes the
//!   best, so a placement costs O(limit), not O(nodes). Class-level checks are
//!   cached per `Node::computed_class`.
//! - Fit counts the state's usage plus this plan's placements; resources of
//!   allocations this plan stops are not credited (the applier re-checks).
//!
//! [`testing::MemoryState`] is an in-memory [`StateView`] for tests:
//!
//! ```
//! use drover_scheduler::testing::{MemoryState, input, node, service_job};
//! let mut state = MemoryState::default();
//! state.add_node(node("n1", "dc1"));
//! let job = state.add_job(service_job("web", 1));
//! let plan = drover_scheduler::schedule(&state, &input(&job, 7));
//! assert_eq!(plan.placements[0].node_id, "n1");
//! ```

#![warn(unreachable_pub)]

use std::sync::Arc;

use drover_types::api::{DesiredUpdates, JobDiff};
use drover_types::{AllocMetric, Allocation, Evaluation, Job, Node};

/// What the scheduler reads. Implemented by the server over a state snapshot,
/// and by in-memory fixtures in tests.
pub trait StateView {
    /// The snapshot's state index.
    fn index(&self) -> u64;
    /// One version of a job, for deciding in-place vs destructive updates.
    fn job_version(&self, namespace: &str, job_id: &str, version: u64) -> Option<Arc<Job>>;
    /// Every node, ordered by ID (shared: the list is read for every evaluation).
    fn nodes(&self) -> Arc<[Arc<Node>]>;
    /// One node.
    fn node(&self, node_id: &str) -> Option<Arc<Node>>;
    /// Every allocation of a job (all versions, terminal ones included).
    fn allocs_by_job(&self, namespace: &str, job_id: &str) -> Vec<Arc<Allocation>>;
    /// Every allocation on a node (terminal ones included).
    fn allocs_by_node(&self, node_id: &str) -> Vec<Arc<Allocation>>;
    /// Resources held on a node by its non-terminal allocations: (cpu MHz, memory MB, disk MB).
    fn node_used(&self, node_id: &str) -> (u64, u64, u64);
    /// [`EligibleNodes::list`] of [`StateView::nodes`] for a job's node pool
    /// and datacenters. Listing walks every node, so a view that several
    /// evaluations share may keep the answer per pool and datacenters.
    fn eligible_nodes(&self, node_pool: &str, datacenters: &[String]) -> Arc<EligibleNodes> {
        Arc::new(EligibleNodes::list(&self.nodes(), node_pool, datacenters))
    }
}

/// The nodes a job may use before any per-node check: in its node pool,
/// ready for work and in one of its datacenters, with the counts its
/// placement metrics report (see [`EligibleNodes::list`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EligibleNodes {
    /// Their positions in [`StateView::nodes`] (so in ID order).
    pub positions: Vec<usize>,
    /// Nodes in the pool, ready or not.
    pub nodes_in_pool: u64,
    /// Eligible nodes per datacenter; each of the job's datacenters without
    /// a wildcard is listed, with 0 when it has none.
    pub nodes_available: std::collections::BTreeMap<String, u64>,
    /// Ready nodes of the pool outside the job's datacenters.
    pub dc_filtered: u64,
}

/// Everything [`schedule`] needs besides the state.
#[derive(Debug, Clone)]
pub struct SchedulerInput {
    /// The evaluation being processed.
    pub eval: Evaluation,
    /// The job as it is now (`None` when purged). A stopped job (`stop = true`)
    /// means every allocation is stopped.
    pub job: Option<Arc<Job>>,
    /// Current time (Unix ns), for reschedule delays.
    pub now: i64,
    /// Seed for the node shuffle (derived from eval ID and state index by the caller).
    pub seed: u64,
    /// Where the IDs of new allocations come from.
    pub alloc_ids: AllocIds,
}

/// Where the IDs of new allocations come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocIds {
    /// The eval's seeded RNG, after the shuffle: the same input gives the same
    /// IDs (tables of tests, `job plan`).
    Seeded,
    /// [`drover_types::new_id`]: IDs in the order they are made, so the store
    /// appends new allocations to its ID index (the server's placements).
    Ordered,
}

/// A stop (or mark-lost) of an existing allocation.
#[derive(Debug, Clone, PartialEq)]
pub struct AllocStop {
    /// The allocation.
    pub alloc_id: String,
    /// Shown as its desired description, e.g. `alloc not needed due to job update`.
    pub desired_description: String,
    /// Set to `lost` when its node is down; `None` leaves the client status alone.
    pub client_status: Option<String>,
    /// Set when the allocation is replaced by a new one.
    pub next_allocation: Option<String>,
}

/// An existing allocation moved to a new job version without a restart.
#[derive(Debug, Clone, PartialEq)]
pub struct InPlaceUpdate {
    /// The allocation.
    pub alloc_id: String,
    /// The job version it now runs.
    pub job_version: u64,
}

/// What the scheduler decided for one evaluation.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The evaluation's ID.
    pub eval_id: String,
    /// New allocations, complete (IDs assigned, `NodeID`, resources, `Metrics`,
    /// `DesiredStatus = run`, `ClientStatus = pending`). Indexes are left 0 for the applier.
    pub placements: Vec<Allocation>,
    /// Allocations to stop.
    pub stops: Vec<AllocStop>,
    /// Allocations to move to the current job version in place.
    pub in_place_updates: Vec<InPlaceUpdate>,
    /// Per task group counts of what the plan does (for `job plan`).
    pub desired_updates: std::collections::BTreeMap<String, DesiredUpdates>,
    /// Per task group placement failures.
    pub failed_tg_allocs: std::collections::BTreeMap<String, AllocMetric>,
    /// Per task group allocations that could not be placed now.
    pub queued_allocations: std::collections::BTreeMap<String, u64>,
    /// Whether a blocked evaluation must be created for what could not be placed.
    pub needs_blocked_eval: bool,
    /// Delayed follow-up evaluations for reschedules that are not due yet:
    /// (time to run at, Unix ns). The applier creates one eval per entry and
    /// sets `FollowupEvalID` on the allocations listed.
    pub followups: Vec<Followup>,
}

/// A reschedule that is not due yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Followup {
    /// When to evaluate again (Unix ns).
    pub wait_until: i64,
    /// The failed allocations it will reschedule.
    pub alloc_ids: Vec<String>,
}

/// Decides placements for one evaluation. No I/O, and no clock or global RNG
/// in the decisions; the one exception is the IDs of new allocations under
/// [`AllocIds::Ordered`], which come from the process's ordered ID clock
/// (`drover_types::new_id`): with [`AllocIds::Seeded`] the same input gives
/// the same plan, IDs included.
pub fn schedule(state: &dyn StateView, input: &SchedulerInput) -> Plan {
    generic::schedule(state, input)
}

/// The spec difference between the registered job (`old`, `None` if new) and
/// `new`, with per-group update counts from `plan` filled into `Updates`
/// (`create`, `destroy`, `in-place update`, `create/destroy update`, `ignore`).
pub fn job_diff(old: Option<&Job>, new: &Job, plan: &Plan) -> JobDiff {
    diff::job_diff(old, new, plan)
}

mod diff;
mod feasible;
mod generic;
mod ids;
mod rank;
mod reconcile;
mod reschedule;
mod select;
mod system;
pub mod testing;
mod update;

#[cfg(test)]
mod tests;
