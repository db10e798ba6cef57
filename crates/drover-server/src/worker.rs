//! Scheduler workers: each takes a batch of evaluations from the broker,
//! runs the pure scheduler over one snapshot, and hands the plans to the one
//! plan applier (`plan_apply`), which re-checks each placement against the
//! newest state and commits. A plan with rejected placements is committed in
//! part and its worker schedules again from fresh state (bounded attempts).
//!
//! Batches: a worker takes up to [`MAX_BATCH`] ready evaluations at once,
//! schedules them one after another against one snapshot (each sees the
//! placements of the earlier ones through [`BatchView`]) and submits their
//! plans as one [`CommitRequest`]: verified together, committed in one
//! transaction, answered with one outcome per evaluation, so only the
//! evaluations whose placements were rejected are scheduled again. A backlog
//! of small jobs thus costs one durable commit per batch, not per job.
//!
//! Blocked classes: an evaluation of a fresh child whose class the broker
//! knows to be blocked (or that an earlier evaluation of the same batch found
//! blocked) gets no scheduler pass: it is written `blocked` with its class's
//! placement failure, inside the batch's commit, and parked in the broker
//! (see [`crate::class::BlockedClass`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use drover_scheduler::{AllocIds, EligibleNodes, Plan, SchedulerInput, StateView};
use drover_state::{AllocDesiredUpdate, Op, Snapshot, Txn};
use drover_types::{Allocation, Evaluation, Job, Node, eval_status, eval_trigger, now_nanos};

use crate::broker::{CapacityEpoch, ClassBlock, EvalBatch, EvalBroker};
use crate::class::BlockedClass;
use crate::plan_apply::{CommitOutcome, CommitRequest, EvalCommit, NodeUsage};
use crate::server::Server;

/// The scheduler's view of a state snapshot.
pub(crate) struct SnapshotView<'a>(pub &'a Snapshot);

impl StateView for SnapshotView<'_> {
    fn index(&self) -> u64 {
        self.0.index()
    }
    fn job_version(&self, namespace: &str, job_id: &str, version: u64) -> Option<Arc<Job>> {
        self.0.job_version(namespace, job_id, version)
    }
    fn nodes(&self) -> Arc<[Arc<Node>]> {
        self.0.nodes_shared()
    }
    fn node(&self, node_id: &str) -> Option<Arc<Node>> {
        self.0.node(node_id)
    }
    fn allocs_by_job(&self, namespace: &str, job_id: &str) -> Vec<Arc<Allocation>> {
        self.0.allocs_by_job(namespace, job_id)
    }
    fn allocs_by_node(&self, node_id: &str) -> Vec<Arc<Allocation>> {
        self.0.allocs_by_node(node_id)
    }
    fn node_used(&self, node_id: &str) -> (u64, u64, u64) {
        self.0.node_used(node_id)
    }
}

/// How many times a worker schedules one evaluation when plans keep being rejected.
const MAX_PLAN_ATTEMPTS: usize = 5;

/// Most evaluations one worker schedules against one snapshot and commits in
/// one transaction.
pub(crate) const MAX_BATCH: usize = 64;

/// The shuffle seed for an evaluation at a state index (same inputs, same plan).
pub(crate) fn plan_seed(eval_id: &str, index: u64, attempt: usize) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    eval_id.hash(&mut hasher);
    index.hash(&mut hasher);
    attempt.hash(&mut hasher);
    hasher.finish()
}

/// The class of an evaluation, if it may wait behind its class without a
/// scheduler pass: a live, pending or blocked evaluation of a child job that
/// has no allocations yet (so its plan depends only on the spec and the cluster).
fn class_of_eval(
    snapshot: &Snapshot,
    broker: &EvalBroker,
    eval: &Evaluation,
    job: Option<&Job>,
) -> Option<BlockedClass> {
    let job = job?;
    if eval.is_terminal() || eval.wait_until > 0 || !eval.node_id.is_empty() {
        return None;
    }
    let class = broker.class_of_child(job)?;
    if !snapshot.allocs_by_job(&job.namespace, &job.id).is_empty() {
        return None;
    }
    Some(class)
}

/// An evaluation as it waits behind its blocked class: blocked, with the
/// class's placement failure as its own.
pub(crate) fn parked_eval(mut eval: Evaluation, block: &ClassBlock, now: i64) -> Evaluation {
    eval.status = eval_status::BLOCKED.to_string();
    eval.status_description = format!(
        "waiting for capacity: same placement problem as evaluation {}",
        block.eval_id.get(..8).unwrap_or(&block.eval_id)
    );
    eval.failed_tg_allocs = block.failed_tg_allocs.clone();
    eval.queued_allocations = block.queued_allocations.clone();
    eval.modify_time = now;
    eval
}

/// One scheduler worker: takes batches of ready evaluations until the broker
/// closes, schedules each batch against one snapshot and commits it at once.
pub(crate) async fn run_worker(server: Arc<Server>) {
    while let Some(batch) = server.broker.dequeue_batch(MAX_BATCH).await {
        let results = process_batch(&server, &batch).await;
        for (eval, result) in batch.evals.iter().zip(results) {
            if let Err(err) = result {
                record_failed(&server, eval, &err).await;
            }
            server.broker.ack(eval);
            server.metrics.evals_processed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Writes an evaluation as failed (its processing hit an error).
async fn record_failed(server: &Arc<Server>, eval: &Evaluation, err: &crate::error::ServerError) {
    tracing::error!(eval_id = %eval.id, error = %err, "evaluation failed");
    let mut failed = eval.clone();
    failed.status = eval_status::FAILED.to_string();
    failed.status_description = format!("evaluation failed: {err}");
    failed.modify_time = now_nanos();
    if let Err(err) = server.state.apply(Txn { preconditions: vec![], ops: vec![Op::UpsertEvals(vec![failed])] }).await
    {
        tracing::error!(eval_id = %eval.id, error = %err, "could not record failed evaluation");
    }
}

/// What a worker decided for one evaluation of a batch.
enum Decision {
    /// Already terminal: nothing to do.
    Done,
    /// Scheduled: commit this plan. `class` is set when the evaluation may
    /// reveal its class to be blocked.
    Plan { part: Box<EvalCommit>, class: Option<BlockedClass> },
    /// Its class is blocked: wait behind it without a scheduler pass.
    /// `write` when the state does not say `blocked` yet; `in_batch` when the
    /// class was found blocked by an earlier evaluation of this batch.
    Park { eval: Box<Evaluation>, write: bool, in_batch: bool },
}

/// Schedules a batch: every evaluation against one snapshot, each seeing the
/// placements of the batch's earlier ones, then one commit for all of them;
/// evaluations whose placements were rejected are scheduled again from fresh
/// state (bounded attempts). Returns one result per evaluation of the batch.
async fn process_batch(server: &Arc<Server>, batch: &EvalBatch) -> Vec<Result<(), crate::error::ServerError>> {
    let mut results: Vec<Result<(), crate::error::ServerError>> = batch.evals.iter().map(|_| Ok(())).collect();
    let mut todo: Vec<usize> = (0..batch.evals.len()).collect();
    for attempt in 0..MAX_PLAN_ATTEMPTS {
        if todo.is_empty() {
            return results;
        }
        let snapshot = server.state.snapshot();
        let evals: Vec<Arc<Evaluation>> = todo.iter().map(|idx| batch.evals[*idx].clone()).collect();
        let broker = server.broker.clone();
        let epoch = batch.epoch;
        let decided = tokio::task::spawn_blocking(move || decide_batch(&snapshot, &broker, &evals, epoch, attempt))
            .await
            .map_err(|e| crate::error::ServerError::Internal(format!("scheduler panicked: {e}")));
        let decisions = match decided {
            Ok(decisions) => decisions,
            Err(err) => {
                for idx in todo {
                    results[idx] = Err(crate::error::ServerError::Internal(err.to_string()));
                }
                return results;
            }
        };
        todo = commit_decisions(server, batch, &todo, decisions, &mut results).await;
    }
    for idx in todo {
        results[idx] = block_after_conflicts(server, &batch.evals[idx]).await;
    }
    results
}

/// Commits a batch's decisions in one transaction and acts on the outcome;
/// returns the batch positions to schedule again (placements rejected).
async fn commit_decisions(
    server: &Arc<Server>,
    batch: &EvalBatch,
    todo: &[usize],
    decisions: Vec<Decision>,
    results: &mut [Result<(), crate::error::ServerError>],
) -> Vec<usize> {
    // Planned parts first, in batch order, then the parked evaluations' writes.
    let mut parts = Vec::new();
    let mut parked_writes = Vec::new();
    let mut planned = Vec::new();
    let mut parked = Vec::new();
    for (idx, decision) in todo.iter().copied().zip(decisions) {
        match decision {
            Decision::Done => {}
            Decision::Plan { part, class } => {
                planned.push((idx, class));
                parts.push(*part);
            }
            Decision::Park { eval, write, in_batch } => {
                if write {
                    parked_writes.push(EvalCommit::eval_only((*eval).clone()));
                }
                parked.push((idx, eval, in_batch));
            }
        }
    }
    let n_planned = planned.len();
    parts.extend(parked_writes);
    let outcomes = match server.applier() {
        _ if parts.is_empty() => Ok(Vec::new()),
        Ok(applier) => applier.submit(CommitRequest { parts }).await,
        Err(err) => Err(err),
    };
    let outcomes = match outcomes {
        Ok(outcomes) => outcomes,
        Err(err) => {
            for idx in planned.iter().map(|(idx, _)| *idx).chain(parked.iter().map(|(idx, _, _)| *idx)) {
                results[idx] = Err(crate::error::ServerError::Internal(err.to_string()));
            }
            return Vec::new();
        }
    };
    let any_rejected = outcomes.iter().any(|outcome| outcome.rejected > 0);
    let mut retry = Vec::new();
    for ((idx, class), outcome) in planned.into_iter().zip(outcomes.into_iter().take(n_planned)) {
        if outcome.rejected > 0 {
            tracing::debug!(eval_id = %batch.evals[idx].id, rejected = outcome.rejected, "plan partly rejected; retrying");
            retry.push(idx);
            continue;
        }
        if let Some(class) = class
            && !any_rejected
            && let Some(block) = class_block_of(&outcome)
        {
            server.broker.mark_class_blocked(class, block, batch.epoch);
        }
        after_commit(server, &outcome, batch.epoch);
    }
    for (idx, eval, in_batch) in parked {
        if any_rejected && in_batch {
            // The class was found blocked on a view that counted placements
            // now rejected: schedule it for real.
            retry.push(idx);
            continue;
        }
        if let Some(replaced) = server.broker.block_since(&eval, batch.epoch)
            && replaced.id != batch.evals[idx].id
        {
            cancel_evals(server, vec![(*replaced).clone()]);
        }
    }
    retry
}

/// The class block an outcome reveals: nothing placed, nothing stopped,
/// allocations left to place and waiting blocked.
fn class_block_of(outcome: &CommitOutcome) -> Option<ClassBlock> {
    if outcome.placed > 0 || outcome.freed_capacity || outcome.eval.failed_tg_allocs.is_empty() {
        return None;
    }
    let blocked = match &outcome.blocked {
        Some(blocked) => blocked,
        None if outcome.eval.status == eval_status::BLOCKED => &outcome.eval,
        None => return None,
    };
    Some(ClassBlock {
        eval_id: blocked.id.clone(),
        failed_tg_allocs: blocked.failed_tg_allocs.clone(),
        queued_allocations: blocked.queued_allocations.clone(),
    })
}

/// Schedules the evaluations of a batch in order against one snapshot, each
/// seeing the placements of the earlier ones; an evaluation whose class is
/// known blocked (in the broker since `epoch`, or by an earlier one of this
/// batch) is parked without a pass.
fn decide_batch(
    snapshot: &Snapshot,
    broker: &EvalBroker,
    evals: &[Arc<Evaluation>],
    epoch: CapacityEpoch,
    attempt: usize,
) -> Vec<Decision> {
    let mut view = BatchView { snapshot, added: HashMap::new(), eligible: RefCell::default() };
    let mut found_blocked: HashMap<BlockedClass, ClassBlock> = HashMap::new();
    // The broker's answer for each class, read once per batch: capacity may
    // change (and the broker forget its blocked classes) while the batch is
    // decided, and an evaluation must never get a pass its older siblings
    // earlier in the batch were parked without (it would be placed ahead of
    // them). The parked ones are released again in order (`block_since`).
    let mut broker_blocks: HashMap<BlockedClass, Option<ClassBlock>> = HashMap::new();
    let now = now_nanos();
    let mut decisions = Vec::with_capacity(evals.len());
    for eval in evals {
        let current = snapshot.eval(&eval.id).map(|e| (*e).clone()).unwrap_or_else(|| (**eval).clone());
        if current.is_terminal() {
            decisions.push(Decision::Done);
            continue;
        }
        let job = snapshot.job(&current.namespace, &current.job_id);
        let class = class_of_eval(snapshot, broker, &current, job.as_deref());
        if let Some(class) = &class {
            let in_batch = found_blocked.get(class).cloned();
            let known = in_batch.clone().or_else(|| {
                broker_blocks
                    .entry(class.clone())
                    .or_insert_with(|| {
                        broker.class_block(class).filter(|(_, seen)| *seen == epoch).map(|(block, _)| (*block).clone())
                    })
                    .clone()
            });
            if let Some(block) = known {
                let write = current.status != eval_status::BLOCKED;
                let eval = if write { parked_eval(current, &block, now) } else { current };
                decisions.push(Decision::Park { eval: Box::new(eval), write, in_batch: in_batch.is_some() });
                continue;
            }
        }
        let input = SchedulerInput {
            eval: current.clone(),
            job: job.clone(),
            now,
            seed: plan_seed(&current.id, snapshot.index(), attempt),
            alloc_ids: AllocIds::Ordered,
        };
        let plan = drover_scheduler::schedule(&view, &input);
        view.add_placements(&plan.placements);
        if let Some(class) = &class
            && plan.placements.is_empty()
            && plan.stops.is_empty()
            && plan.needs_blocked_eval
            && !plan.failed_tg_allocs.is_empty()
        {
            found_blocked.insert(
                class.clone(),
                ClassBlock {
                    eval_id: current.id.clone(),
                    failed_tg_allocs: plan.failed_tg_allocs.clone(),
                    queued_allocations: plan.queued_allocations.clone(),
                },
            );
        }
        let part = build_commit(&current, job.as_deref(), plan, snapshot.index());
        decisions.push(Decision::Plan { part: Box::new(part), class });
    }
    decisions
}

/// A snapshot plus the placements of a batch's earlier evaluations, so each
/// evaluation of a batch sees the capacity the ones before it took.
struct BatchView<'a> {
    snapshot: &'a Snapshot,
    /// (cpu, memory, disk) placed per node by this batch so far.
    added: NodeUsage,
    /// The eligible nodes per (node pool, datacenters), listed once per
    /// batch rather than once per evaluation (a walk of every node).
    eligible: RefCell<EligibleByPlace>,
}

/// Eligible nodes by (node pool, datacenters).
type EligibleByPlace = HashMap<(String, Vec<String>), Arc<EligibleNodes>>;

impl BatchView<'_> {
    fn add_placements(&mut self, placements: &[Allocation]) {
        for alloc in placements {
            let entry = self.added.entry(alloc.node_id.clone()).or_default();
            entry.0 += alloc.allocated_resources.cpu();
            entry.1 += alloc.allocated_resources.memory_mb();
            entry.2 += alloc.allocated_resources.disk_mb();
        }
    }
}

impl StateView for BatchView<'_> {
    fn index(&self) -> u64 {
        self.snapshot.index()
    }
    fn job_version(&self, namespace: &str, job_id: &str, version: u64) -> Option<Arc<Job>> {
        self.snapshot.job_version(namespace, job_id, version)
    }
    fn nodes(&self) -> Arc<[Arc<Node>]> {
        self.snapshot.nodes_shared()
    }
    fn node(&self, node_id: &str) -> Option<Arc<Node>> {
        self.snapshot.node(node_id)
    }
    fn allocs_by_job(&self, namespace: &str, job_id: &str) -> Vec<Arc<Allocation>> {
        self.snapshot.allocs_by_job(namespace, job_id)
    }
    fn allocs_by_node(&self, node_id: &str) -> Vec<Arc<Allocation>> {
        self.snapshot.allocs_by_node(node_id)
    }
    fn node_used(&self, node_id: &str) -> (u64, u64, u64) {
        let (cpu, mem, disk) = self.snapshot.node_used(node_id);
        let (add_cpu, add_mem, add_disk) = self.added.get(node_id).copied().unwrap_or_default();
        (cpu + add_cpu, mem + add_mem, disk + add_disk)
    }
    fn eligible_nodes(&self, node_pool: &str, datacenters: &[String]) -> Arc<EligibleNodes> {
        let key = (node_pool.to_string(), datacenters.to_vec());
        let mut eligible = self.eligible.borrow_mut();
        let listed = eligible
            .entry(key)
            .or_insert_with(|| Arc::new(EligibleNodes::list(&self.snapshot.nodes_shared(), node_pool, datacenters)));
        Arc::clone(listed)
    }
}

/// An evaluation whose plans kept being rejected waits blocked for capacity.
async fn block_after_conflicts(server: &Arc<Server>, eval: &Arc<Evaluation>) -> Result<(), crate::error::ServerError> {
    // The stored copy carries the create index the evaluation waits by.
    let mut failed = server.state.snapshot().eval(&eval.id).map(|e| (*e).clone()).unwrap_or_else(|| (**eval).clone());
    failed.status = eval_status::BLOCKED.to_string();
    failed.status_description = "created due to placement conflicts".to_string();
    failed.triggered_by = eval_trigger::MAX_PLAN_ATTEMPTS.to_string();
    server.state.apply(Txn { preconditions: vec![], ops: vec![Op::UpsertEvals(vec![failed.clone()])] }).await?;
    server.broker.block(&failed);
    Ok(())
}

fn build_commit(eval: &Evaluation, job: Option<&Job>, plan: Plan, snapshot_index: u64) -> EvalCommit {
    let now = now_nanos();
    let mut eval_update = eval.clone();
    eval_update.failed_tg_allocs = plan.failed_tg_allocs.clone();
    eval_update.queued_allocations = plan.queued_allocations.clone();
    eval_update.snapshot_index = snapshot_index;
    eval_update.modify_time = now;
    let mut blocked = None;
    if plan.needs_blocked_eval {
        if eval.status == eval_status::BLOCKED {
            eval_update.status = eval_status::BLOCKED.to_string();
        } else {
            eval_update.status = eval_status::COMPLETE.to_string();
            let blocked_eval = Evaluation {
                job_modify_index: job.map(|j| j.job_modify_index).unwrap_or(eval.job_modify_index),
                status: eval_status::BLOCKED.to_string(),
                status_description: "created to place remaining allocations".to_string(),
                failed_tg_allocs: plan.failed_tg_allocs.clone(),
                queued_allocations: plan.queued_allocations.clone(),
                ..Evaluation::follow_on(eval, eval_trigger::QUEUED_ALLOCS, now)
            };
            eval_update.blocked_eval = blocked_eval.id.clone();
            blocked = Some(blocked_eval);
        }
    } else {
        eval_update.status = eval_status::COMPLETE.to_string();
        if eval.status == eval_status::BLOCKED {
            eval_update.status_description = "placed remaining allocations".to_string();
        }
    }
    let mut followups = Vec::new();
    let mut followup_links = Vec::new();
    for followup in &plan.followups {
        let followup_eval = Evaluation {
            status_description: "created for delayed rescheduling".to_string(),
            wait_until: followup.wait_until,
            ..Evaluation::follow_on(eval, eval_trigger::FAILED_FOLLOW_UP, now)
        };
        for alloc_id in &followup.alloc_ids {
            followup_links.push(AllocDesiredUpdate {
                alloc_id: alloc_id.clone(),
                followup_eval_id: Some(followup_eval.id.clone()),
                ..AllocDesiredUpdate::default()
            });
        }
        followups.push(followup_eval);
    }
    EvalCommit { plan, eval_update, blocked, followups, followup_links }
}

/// Acts on a committed plan: blocked evaluations wait (found blocked from a
/// snapshot at capacity epoch `seen`), follow-ups are queued, freed capacity
/// releases the blocked line.
fn after_commit(server: &Arc<Server>, outcome: &CommitOutcome, seen: CapacityEpoch) {
    let now = now_nanos();
    if let Some(blocked) = &outcome.blocked
        && let Some(replaced) = server.broker.block_since(blocked, seen)
    {
        cancel_evals(server, vec![(*replaced).clone()]);
    }
    if outcome.eval.status == eval_status::BLOCKED {
        server.broker.block_since(&outcome.eval, seen);
    } else if outcome.blocked.is_none()
        && outcome.eval.failed_tg_allocs.is_empty()
        && let Some(stale) = server.broker.unblock_job(&outcome.eval.namespace, &outcome.eval.job_id)
        && stale.id != outcome.eval.id
    {
        // Everything is placed now: the job's older blocked evaluation is moot.
        cancel_evals(server, vec![(*stale).clone()]);
    }
    for followup in &outcome.followups {
        server.broker.enqueue(Arc::new(followup.clone()), now);
    }
    if outcome.freed_capacity {
        server.broker.unblock_all();
    }
}

/// Marks evaluations canceled (in the background; best effort).
pub(crate) fn cancel_evals(server: &Arc<Server>, evals: Vec<Evaluation>) {
    if evals.is_empty() {
        return;
    }
    let server = server.clone();
    tokio::spawn(async move {
        let now = now_nanos();
        let canceled: Vec<Evaluation> = evals
            .into_iter()
            .map(|mut e| {
                e.status = eval_status::CANCELED.to_string();
                e.status_description = "canceled: superseded by a newer evaluation".to_string();
                e.modify_time = now;
                e
            })
            .collect();
        if let Err(err) = server.state.apply(Txn { preconditions: vec![], ops: vec![Op::UpsertEvals(canceled)] }).await
        {
            tracing::warn!(error = %err, "could not cancel superseded evaluations");
        }
    });
}

#[cfg(test)]
mod tests {
    use drover_scheduler::testing::{job, node};
    use drover_types::new_id;
    use drover_types::{Allocation, JobType, client_status, desired_status};

    use super::*;
    use crate::class::{class_of_child, placement_fingerprint};

    /// Room for two children per node.
    const CHILD_MEMORY_MB: u64 = 4000;

    struct Fixture {
        server: Arc<Server>,
        _dir: tempfile::TempDir,
    }

    async fn fixture(n_nodes: usize) -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = crate::config::ServerConfig::new(dir.path().to_path_buf());
        let state = drover_state::StateStore::open(&dir.path().join("state.db")).expect("state opens");
        let server = Server::new(config, state);
        server.set_plan_applier(true);
        let nodes = (0..n_nodes).map(|idx| Op::UpsertNode(node(&format!("node-{idx}"), "dc1"))).collect();
        server.state.apply(Txn { preconditions: vec![], ops: nodes }).await.expect("nodes written");
        Fixture { server, _dir: dir }
    }

    fn child(name: &str) -> Job {
        let mut child = job(&format!("parent/dispatch-{name}"), JobType::Batch, 1);
        child.parent_id = "parent".to_string();
        child.dispatched = true;
        child.task_groups[0].tasks[0].resources.memory_mb = CHILD_MEMORY_MB;
        child
    }

    fn pending_eval(job: &Job) -> Evaluation {
        Evaluation {
            id: new_id(),
            namespace: job.namespace.clone(),
            priority: job.priority,
            eval_type: job.job_type,
            triggered_by: eval_trigger::JOB_REGISTER.to_string(),
            job_id: job.id.clone(),
            status: eval_status::PENDING.to_string(),
            ..Evaluation::default()
        }
    }

    /// Writes the children and their pending evaluations; returns the evaluations.
    async fn dispatch(server: &Arc<Server>, names: &[&str]) -> Vec<Arc<Evaluation>> {
        let jobs: Vec<Job> = names.iter().map(|name| child(name)).collect();
        let evals: Vec<Evaluation> = jobs.iter().map(pending_eval).collect();
        let mut ops: Vec<Op> = jobs.into_iter().map(Op::UpsertJob).collect();
        ops.push(Op::UpsertEvals(evals.clone()));
        server.state.apply(Txn { preconditions: vec![], ops }).await.expect("children written");
        let snapshot = server.state.snapshot();
        evals.iter().map(|eval| snapshot.eval(&eval.id).expect("stored")).collect()
    }

    fn batch_of(server: &Arc<Server>, evals: &[Arc<Evaluation>]) -> EvalBatch {
        EvalBatch { evals: evals.to_vec(), epoch: server.broker.capacity_epoch() }
    }

    fn stored(server: &Arc<Server>, eval: &Evaluation) -> Arc<Evaluation> {
        server.state.snapshot().eval(&eval.id).expect("evaluation stored")
    }

    #[tokio::test]
    async fn a_batch_is_scheduled_in_order_and_committed_at_once() {
        let fixture = fixture(1).await;
        let server = &fixture.server;
        let evals = dispatch(server, &["a", "b", "c", "d"]).await;
        let results = process_batch(server, &batch_of(server, &evals)).await;
        assert!(results.iter().all(Result::is_ok));

        // The first two fit on the node; the third sees their placements and blocks.
        let (a, b, c, d) = (
            stored(server, &evals[0]),
            stored(server, &evals[1]),
            stored(server, &evals[2]),
            stored(server, &evals[3]),
        );
        let snapshot = server.state.snapshot();
        for placed in [&a, &b] {
            assert_eq!(placed.status, eval_status::COMPLETE, "{placed:?}");
            assert_eq!(snapshot.allocs_by_job("default", &placed.job_id).len(), 1);
        }
        assert_eq!(c.status, eval_status::COMPLETE);
        assert!(!c.blocked_eval.is_empty(), "c left a blocked evaluation");
        let c_blocked = snapshot.eval(&c.blocked_eval).expect("blocked evaluation stored");
        assert_eq!(c_blocked.status, eval_status::BLOCKED);
        // d's class was found blocked by c in the same batch: no pass, no new evaluation.
        assert_eq!(d.status, eval_status::BLOCKED);
        assert_eq!(d.failed_tg_allocs, c_blocked.failed_tg_allocs);
        assert!(d.blocked_eval.is_empty());
        assert_eq!(snapshot.evals_by_job("default", &d.job_id).len(), 1, "d has its one evaluation only");
        // One commit: every evaluation and allocation carries the same index.
        let indexes: std::collections::BTreeSet<u64> = [&a, &b, &c, &d]
            .iter()
            .map(|e| e.modify_index)
            .chain(snapshot.allocs_by_job("default", &a.job_id).iter().map(|alloc| alloc.create_index))
            .chain(std::iter::once(c_blocked.create_index))
            .collect();
        assert_eq!(indexes.len(), 1, "one transaction: {indexes:?}");
        assert_eq!(server.broker.stats().blocked, 2, "c's blocked evaluation and d wait for capacity");
    }

    #[tokio::test]
    async fn an_evaluation_of_a_blocked_class_gets_no_pass_and_no_new_evaluation() {
        let fixture = fixture(0).await;
        let server = &fixture.server;
        let first = dispatch(server, &["first"]).await;
        process_batch(server, &batch_of(server, &first)).await;
        let blocked_id = stored(server, &first[0]).blocked_eval.clone();
        assert!(!blocked_id.is_empty(), "no node: the first child blocks");
        let class = class_of_child(&child("later")).expect("a child has a class");
        let (block, _) = server.broker.class_block(&class).expect("the class is known blocked");
        assert_eq!(block.eval_id, blocked_id);

        let later = dispatch(server, &["later"]).await;
        let applied_before = server.metrics.plans_applied.load(Ordering::Relaxed);
        process_batch(server, &batch_of(server, &later)).await;
        let parked = stored(server, &later[0]);
        assert_eq!(parked.status, eval_status::BLOCKED);
        assert!(parked.status_description.contains("same placement problem"), "{}", parked.status_description);
        assert_eq!(parked.failed_tg_allocs, block.failed_tg_allocs);
        assert_eq!(server.state.snapshot().evals_by_job("default", &later[0].job_id).len(), 1);
        // Only the parked evaluation's status was written (one update, no plan with placements).
        assert_eq!(server.metrics.plans_applied.load(Ordering::Relaxed), applied_before + 1);
        let waiting: Vec<String> = server.broker.waiting().iter().map(|(e, _)| e.id.clone()).collect();
        assert_eq!(waiting, vec![blocked_id, parked.id.clone()], "parked behind the class's blocked evaluation");

        // Capacity: the class is forgotten, and the parked child is scheduled for real.
        server.broker.unblock_all();
        assert!(server.broker.class_block(&class).is_none());
        server
            .state
            .apply(Txn { preconditions: vec![], ops: vec![Op::UpsertNode(node("n1", "dc1"))] })
            .await
            .expect("node");
        let released = server.broker.dequeue_batch(MAX_BATCH).await.expect("open");
        assert_eq!(released.evals.len(), 2);
        process_batch(server, &released).await;
        for eval in &released.evals {
            assert_eq!(stored(server, eval).status, eval_status::COMPLETE, "placed once capacity appeared");
            server.broker.ack(eval);
        }
    }

    fn placement(job: &Job, node_id: &str) -> Allocation {
        let mut alloc = drover_scheduler::testing::running_alloc(job, "group", 0, node_id);
        alloc.id = new_id();
        alloc.client_status = client_status::PENDING.to_string();
        alloc.desired_status = desired_status::RUN.to_string();
        alloc
    }

    #[tokio::test]
    async fn a_rejected_placement_retries_only_its_evaluation() {
        let fixture = fixture(1).await;
        let server = &fixture.server;
        let evals = dispatch(server, &["x", "y", "z"]).await;
        let snapshot = server.state.snapshot();
        // Three plans each put one child on the one node, which has room for two:
        // verified together, the third no longer fits.
        let decisions: Vec<Decision> = evals
            .iter()
            .map(|eval| {
                let job = snapshot.job("default", &eval.job_id).expect("child stored");
                let plan =
                    Plan { eval_id: eval.id.clone(), placements: vec![placement(&job, "node-0")], ..Plan::default() };
                Decision::Plan { part: Box::new(build_commit(eval, Some(&job), plan, snapshot.index())), class: None }
            })
            .collect();
        let batch = batch_of(server, &evals);
        let mut results: Vec<Result<(), crate::error::ServerError>> = evals.iter().map(|_| Ok(())).collect();
        let retry = commit_decisions(server, &batch, &[0, 1, 2], decisions, &mut results).await;
        assert_eq!(retry, vec![2], "only z is scheduled again");
        assert_eq!(stored(server, &evals[0]).status, eval_status::COMPLETE);
        assert_eq!(stored(server, &evals[1]).status, eval_status::COMPLETE);
        assert_eq!(stored(server, &evals[2]).status, eval_status::PENDING, "z's evaluation was not committed");
        assert!(server.state.snapshot().allocs_by_job("default", &evals[2].job_id).is_empty());

        // Scheduled again from fresh state, z finds the node full and blocks.
        let retried = batch_of(server, &evals[2..]);
        process_batch(server, &retried).await;
        let z = stored(server, &evals[2]);
        assert_eq!(z.status, eval_status::COMPLETE);
        assert!(!z.blocked_eval.is_empty());
    }

    #[tokio::test]
    async fn a_batch_lists_the_eligible_nodes_once_per_pool_and_datacenters() {
        let fixture = fixture(3).await;
        let snapshot = fixture.server.state.snapshot();
        let view = BatchView { snapshot: &snapshot, added: HashMap::new(), eligible: RefCell::default() };
        let dc1 = vec!["dc1".to_string()];
        let first = view.eligible_nodes("default", &dc1);
        assert_eq!(first.positions, vec![0, 1, 2]);
        assert!(Arc::ptr_eq(&first, &view.eligible_nodes("default", &dc1)), "listed once");
        let elsewhere = view.eligible_nodes("default", &["dc2".to_string()]);
        assert!(elsewhere.positions.is_empty());
        assert_eq!(elsewhere.dc_filtered, 3);
    }

    #[test]
    fn the_fingerprint_follows_the_placement_spec_only() {
        let base = child("one");
        let mut other_meta = child("two");
        other_meta.meta.insert("input".to_string(), "x".to_string());
        other_meta.payload = b"payload".to_vec();
        other_meta.priority = 90;
        assert_eq!(placement_fingerprint(&base), placement_fingerprint(&other_meta));
        let mut bigger = child("three");
        bigger.task_groups[0].tasks[0].resources.memory_mb += 1;
        assert_ne!(placement_fingerprint(&base), placement_fingerprint(&bigger));
        let mut not_a_child = child("four");
        not_a_child.parent_id.clear();
        assert!(class_of_child(&not_a_child).is_none());
    }
}
