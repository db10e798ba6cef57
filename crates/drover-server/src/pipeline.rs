//! The scheduling pipeline: scheduler workers take evaluations from the
//! broker, run the pure scheduler over a snapshot, and hand plans to the one
//! plan applier, which re-checks each placement against the newest state and
//! commits. A plan with rejected placements is committed in part and its
//! worker schedules again from fresh state (bounded attempts).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::{mpsc, oneshot};

use drover_scheduler::{Plan, SchedulerInput, StateView};
use drover_state::{AllocDesiredUpdate, Op, Snapshot, Txn};
use drover_types::{Allocation, Evaluation, Job, Node, eval_status, eval_trigger, new_id, now_nanos};

use crate::server::ServerInner;

/// The scheduler's view of a state snapshot.
pub(crate) struct SnapshotView<'a>(pub &'a Snapshot);

impl StateView for SnapshotView<'_> {
    fn index(&self) -> u64 {
        self.0.index()
    }
    fn job_version(&self, namespace: &str, job_id: &str, version: u64) -> Option<Arc<Job>> {
        self.0.job_version(namespace, job_id, version)
    }
    fn nodes(&self) -> Vec<Arc<Node>> {
        self.0.nodes()
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

/// The shuffle seed for an evaluation at a state index (same inputs, same plan).
pub(crate) fn plan_seed(eval_id: &str, index: u64, attempt: usize) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    eval_id.hash(&mut hasher);
    index.hash(&mut hasher);
    attempt.hash(&mut hasher);
    hasher.finish()
}

/// One scheduler worker: runs until the broker closes.
pub(crate) async fn run_worker(server: Arc<ServerInner>) {
    while let Some(eval) = server.broker.dequeue().await {
        if let Err(err) = process_eval(&server, &eval).await {
            tracing::error!(eval_id = %eval.id, error = %err, "evaluation failed");
            let mut failed = (*eval).clone();
            failed.status = eval_status::FAILED.to_string();
            failed.status_description = format!("evaluation failed: {err}");
            failed.modify_time = now_nanos();
            if let Err(err) =
                server.state.apply(Txn { preconditions: vec![], ops: vec![Op::UpsertEvals(vec![failed])] }).await
            {
                tracing::error!(eval_id = %eval.id, error = %err, "could not record failed evaluation");
            }
        }
        server.broker.ack(&eval);
        server.metrics.evals_processed.fetch_add(1, Ordering::Relaxed);
    }
}

async fn process_eval(server: &Arc<ServerInner>, eval: &Arc<Evaluation>) -> Result<(), crate::error::ServerError> {
    for attempt in 0..MAX_PLAN_ATTEMPTS {
        let snapshot = server.state.snapshot();
        let current = snapshot.eval(&eval.id).map(|e| (*e).clone()).unwrap_or_else(|| (**eval).clone());
        if current.is_terminal() {
            return Ok(());
        }
        let job = snapshot.job(&current.namespace, &current.job_id);
        let input = SchedulerInput {
            eval: current.clone(),
            job: job.clone(),
            now: now_nanos(),
            seed: plan_seed(&current.id, snapshot.index(), attempt),
        };
        let snapshot_for_plan = snapshot.clone();
        let plan =
            tokio::task::spawn_blocking(move || drover_scheduler::schedule(&SnapshotView(&snapshot_for_plan), &input))
                .await
                .map_err(|e| crate::error::ServerError::Internal(format!("scheduler panicked: {e}")))?;
        let request = build_commit(&current, job.as_deref(), plan, snapshot.index());
        let outcome = server.applier.submit(request).await?;
        if outcome.rejected == 0 {
            after_commit(server, &outcome);
            return Ok(());
        }
        tracing::debug!(eval_id = %eval.id, rejected = outcome.rejected, attempt, "plan partly rejected; retrying");
    }
    let mut failed = (**eval).clone();
    failed.status = eval_status::BLOCKED.to_string();
    failed.status_description = "created due to placement conflicts".to_string();
    failed.triggered_by = eval_trigger::MAX_PLAN_ATTEMPTS.to_string();
    let failed = Arc::new(failed);
    server.state.apply(Txn { preconditions: vec![], ops: vec![Op::UpsertEvals(vec![(*failed).clone()])] }).await?;
    server.broker.block(failed);
    Ok(())
}

/// A plan plus the evaluation changes that go with it.
pub(crate) struct CommitRequest {
    plan: Plan,
    /// The processed evaluation as it ends (complete / blocked).
    eval_update: Evaluation,
    /// A new blocked evaluation, if any.
    blocked: Option<Evaluation>,
    /// New delayed follow-up evaluations.
    followups: Vec<Evaluation>,
    /// Alloc updates that point failed allocations at their follow-ups.
    followup_links: Vec<AllocDesiredUpdate>,
}

/// What the applier did with a plan.
pub(crate) struct CommitOutcome {
    /// Placements rejected by the re-check (0 = the whole plan, eval included, committed).
    pub rejected: usize,
    /// Placements committed.
    pub placed: usize,
    /// The processed evaluation as committed.
    pub eval: Evaluation,
    /// The blocked evaluation committed, if any.
    pub blocked: Option<Evaluation>,
    /// Follow-up evaluations committed.
    pub followups: Vec<Evaluation>,
    /// Whether the plan stopped allocations (capacity freed).
    pub freed_capacity: bool,
}

fn build_commit(eval: &Evaluation, job: Option<&Job>, plan: Plan, snapshot_index: u64) -> CommitRequest {
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
                id: new_id(),
                namespace: eval.namespace.clone(),
                priority: eval.priority,
                eval_type: eval.eval_type,
                triggered_by: eval_trigger::QUEUED_ALLOCS.to_string(),
                job_id: eval.job_id.clone(),
                job_modify_index: job.map(|j| j.job_modify_index).unwrap_or(eval.job_modify_index),
                status: eval_status::BLOCKED.to_string(),
                status_description: "created to place remaining allocations".to_string(),
                previous_eval: eval.id.clone(),
                failed_tg_allocs: plan.failed_tg_allocs.clone(),
                queued_allocations: plan.queued_allocations.clone(),
                create_time: now,
                modify_time: now,
                ..Evaluation::default()
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
            id: new_id(),
            namespace: eval.namespace.clone(),
            priority: eval.priority,
            eval_type: eval.eval_type,
            triggered_by: eval_trigger::FAILED_FOLLOW_UP.to_string(),
            job_id: eval.job_id.clone(),
            status: eval_status::PENDING.to_string(),
            status_description: "created for delayed rescheduling".to_string(),
            previous_eval: eval.id.clone(),
            wait_until: followup.wait_until,
            create_time: now,
            modify_time: now,
            ..Evaluation::default()
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
    CommitRequest { plan, eval_update, blocked, followups, followup_links }
}

fn after_commit(server: &Arc<ServerInner>, outcome: &CommitOutcome) {
    let now = now_nanos();
    if let Some(blocked) = &outcome.blocked
        && let Some(replaced) = server.broker.block(Arc::new(blocked.clone()))
    {
        cancel_evals(server, vec![(*replaced).clone()]);
    }
    if outcome.eval.status == eval_status::BLOCKED {
        server.broker.block(Arc::new(outcome.eval.clone()));
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
pub(crate) fn cancel_evals(server: &Arc<ServerInner>, evals: Vec<Evaluation>) {
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

/// The handle workers submit plans through.
#[derive(Clone)]
pub(crate) struct PlanApplier {
    tx: mpsc::Sender<(CommitRequest, oneshot::Sender<Result<CommitOutcome, crate::error::ServerError>>)>,
}

impl PlanApplier {
    /// Submits a plan and waits until it is committed (or partly rejected).
    pub(crate) async fn submit(&self, request: CommitRequest) -> Result<CommitOutcome, crate::error::ServerError> {
        let (reply_tx, reply_rx) = oneshot::channel();
        self.tx
            .send((request, reply_tx))
            .await
            .map_err(|_| crate::error::ServerError::Internal("plan applier stopped".to_string()))?;
        reply_rx.await.map_err(|_| crate::error::ServerError::Internal("plan applier stopped".to_string()))?
    }
}

/// Placements verified but not yet visible in snapshots: (cpu, mem, disk) per node.
type InFlightUsage = Arc<std::sync::Mutex<HashMap<String, (u64, u64, u64)>>>;

/// Starts the plan applier; it runs until every `PlanApplier` is dropped.
///
/// Plans are verified one at a time, in order, against the newest snapshot
/// plus the placements of plans still being written, so commits can overlap
/// (pipelining) without ever over-committing a node.
pub(crate) fn start_applier(
    server_state: drover_state::StateStore,
    metrics: Arc<crate::metrics::Metrics>,
) -> PlanApplier {
    let (tx, mut rx) =
        mpsc::channel::<(CommitRequest, oneshot::Sender<Result<CommitOutcome, crate::error::ServerError>>)>(256);
    let in_flight: InFlightUsage = Arc::default();
    let limit = Arc::new(tokio::sync::Semaphore::new(64));
    tokio::spawn(async move {
        while let Some((request, reply)) = rx.recv().await {
            let snapshot = server_state.snapshot();
            let (txn, outcome, usage) = verify(&snapshot, request, &in_flight);
            let Ok(permit) = limit.clone().acquire_owned().await else { break };
            {
                let mut map = in_flight.lock().unwrap_or_else(|p| p.into_inner());
                for (node, (cpu, mem, disk)) in &usage {
                    let entry = map.entry(node.clone()).or_default();
                    entry.0 += cpu;
                    entry.1 += mem;
                    entry.2 += disk;
                }
            }
            let state = server_state.clone();
            let in_flight = in_flight.clone();
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let result = state.apply(txn).await;
                {
                    let mut map = in_flight.lock().unwrap_or_else(|p| p.into_inner());
                    for (node, (cpu, mem, disk)) in &usage {
                        if let Some(entry) = map.get_mut(node) {
                            entry.0 = entry.0.saturating_sub(*cpu);
                            entry.1 = entry.1.saturating_sub(*mem);
                            entry.2 = entry.2.saturating_sub(*disk);
                            if *entry == (0, 0, 0) {
                                map.remove(node);
                            }
                        }
                    }
                }
                drop(permit);
                let reply_value = match result {
                    Ok(_) => {
                        metrics.plans_applied.fetch_add(1, Ordering::Relaxed);
                        metrics.placements.fetch_add(outcome.placed as u64, Ordering::Relaxed);
                        metrics.plan_rejections.fetch_add(outcome.rejected as u64, Ordering::Relaxed);
                        Ok(outcome)
                    }
                    Err(err) => Err(err.into()),
                };
                let _ = reply.send(reply_value);
            });
        }
    });
    PlanApplier { tx }
}

type NodeUsage = HashMap<String, (u64, u64, u64)>;

/// Re-checks a plan's placements; builds the transaction to commit.
fn verify(snapshot: &Snapshot, request: CommitRequest, in_flight: &InFlightUsage) -> (Txn, CommitOutcome, NodeUsage) {
    let CommitRequest { plan, eval_update, blocked, followups, followup_links } = request;
    let in_flight = in_flight.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut added: NodeUsage = HashMap::new();
    let mut accepted = Vec::with_capacity(plan.placements.len());
    let mut rejected = 0;
    let stopping: std::collections::HashSet<&str> = plan.stops.iter().map(|s| s.alloc_id.as_str()).collect();
    for alloc in plan.placements {
        let fits = snapshot.node(&alloc.node_id).is_some_and(|node| {
            if !node.ready_for_work() {
                return false;
            }
            let (cap_cpu, cap_mem, cap_disk) = node.allocatable();
            let (mut used_cpu, mut used_mem, mut used_disk) = snapshot.node_used(&node.id);
            // Allocations this plan stops on the node free their resources.
            let stops_here = if stopping.is_empty() { Vec::new() } else { snapshot.live_allocs_by_node(&node.id) };
            for existing in stops_here {
                if stopping.contains(existing.id.as_str()) && !existing.terminal() {
                    used_cpu = used_cpu.saturating_sub(existing.allocated_resources.cpu());
                    used_mem = used_mem.saturating_sub(existing.allocated_resources.memory_mb());
                    used_disk = used_disk.saturating_sub(existing.allocated_resources.disk_mb());
                }
            }
            let pending = in_flight.get(&node.id).copied().unwrap_or_default();
            let this_plan = added.get(&node.id).copied().unwrap_or_default();
            let res = &alloc.allocated_resources;
            used_cpu + pending.0 + this_plan.0 + res.cpu() <= cap_cpu
                && used_mem + pending.1 + this_plan.1 + res.memory_mb() <= cap_mem
                && used_disk + pending.2 + this_plan.2 + res.disk_mb() <= cap_disk
        });
        if fits {
            let entry = added.entry(alloc.node_id.clone()).or_default();
            entry.0 += alloc.allocated_resources.cpu();
            entry.1 += alloc.allocated_resources.memory_mb();
            entry.2 += alloc.allocated_resources.disk_mb();
            accepted.push(alloc);
        } else {
            rejected += 1;
        }
    }
    let placed = accepted.len();
    let freed_capacity = !plan.stops.is_empty();
    let mut ops = Vec::new();
    if !accepted.is_empty() {
        ops.push(Op::UpsertAllocs(accepted));
    }
    let mut desired: Vec<AllocDesiredUpdate> = plan
        .stops
        .iter()
        .map(|stop| AllocDesiredUpdate {
            alloc_id: stop.alloc_id.clone(),
            desired_status: Some(drover_types::desired_status::STOP.to_string()),
            desired_description: Some(stop.desired_description.clone()),
            client_status: stop.client_status.clone(),
            next_allocation: stop.next_allocation.clone(),
            ..AllocDesiredUpdate::default()
        })
        .filter(|update| snapshot.alloc(&update.alloc_id).is_some())
        .collect();
    desired.extend(plan.in_place_updates.iter().filter(|u| snapshot.alloc(&u.alloc_id).is_some()).map(|update| {
        AllocDesiredUpdate {
            alloc_id: update.alloc_id.clone(),
            job_version: Some(update.job_version),
            eval_id: Some(plan.eval_id.clone()),
            ..AllocDesiredUpdate::default()
        }
    }));
    if rejected == 0 {
        desired.extend(followup_links.into_iter().filter(|u| snapshot.alloc(&u.alloc_id).is_some()));
    }
    if !desired.is_empty() {
        ops.push(Op::UpdateAllocsDesired(desired));
    }
    let (blocked, followups) = if rejected == 0 {
        let mut evals = vec![eval_update.clone()];
        evals.extend(blocked.iter().cloned());
        evals.extend(followups.iter().cloned());
        ops.push(Op::UpsertEvals(evals));
        (blocked, followups)
    } else {
        (None, Vec::new())
    };
    let outcome = CommitOutcome { rejected, placed, eval: eval_update, blocked, followups, freed_capacity };
    (Txn { preconditions: vec![], ops }, outcome, added)
}
