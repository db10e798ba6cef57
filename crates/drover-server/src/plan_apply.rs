//! The plan applier: the one task that commits the scheduler workers' plans
//! (`worker`). It verifies each batch's placements, in order, against the
//! newest snapshot plus the placements of plans still being written, so
//! commits can overlap (pipelining) without ever over-committing a node; a
//! batch's accepted placements and evaluation changes go into one
//! transaction, and each evaluation is answered with its [`CommitOutcome`].

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::{mpsc, oneshot};

use drover_scheduler::Plan;
use drover_state::{AllocDesiredUpdate, Op, Snapshot, Txn};
use drover_types::{Allocation, Evaluation};

/// One evaluation's share of a commit: its plan plus the evaluation changes
/// that go with it.
pub(crate) struct EvalCommit {
    /// The scheduler's plan.
    pub(crate) plan: Plan,
    /// The processed evaluation as it ends (complete / blocked).
    pub(crate) eval_update: Evaluation,
    /// A new blocked evaluation, if any.
    pub(crate) blocked: Option<Evaluation>,
    /// New delayed follow-up evaluations.
    pub(crate) followups: Vec<Evaluation>,
    /// Alloc updates that point failed allocations at their follow-ups.
    pub(crate) followup_links: Vec<AllocDesiredUpdate>,
}

impl EvalCommit {
    /// Just an evaluation update (an evaluation parked behind its class).
    pub(crate) fn eval_only(eval_update: Evaluation) -> EvalCommit {
        EvalCommit {
            plan: Plan { eval_id: eval_update.id.clone(), ..Plan::default() },
            eval_update,
            blocked: None,
            followups: Vec::new(),
            followup_links: Vec::new(),
        }
    }
}

/// The plans of one worker's batch, verified together and committed in one
/// transaction.
pub(crate) struct CommitRequest {
    /// One part per evaluation, in the batch's order.
    pub(crate) parts: Vec<EvalCommit>,
}

/// What the applier did with one evaluation's plan.
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

/// The handle workers submit plans through.
#[derive(Clone)]
pub(crate) struct PlanApplier {
    tx: mpsc::Sender<(CommitRequest, oneshot::Sender<CommitReply>)>,
}

/// The applier's answer to a request: one outcome per part, in order.
type CommitReply = Result<Vec<CommitOutcome>, crate::error::ServerError>;

impl PlanApplier {
    /// Submits a batch's plans and waits until they are committed (or partly rejected).
    pub(crate) async fn submit(&self, request: CommitRequest) -> CommitReply {
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
    let (tx, mut rx) = mpsc::channel::<(CommitRequest, oneshot::Sender<CommitReply>)>(256);
    let in_flight: InFlightUsage = Arc::default();
    let limit = Arc::new(tokio::sync::Semaphore::new(64));
    tokio::spawn(async move {
        while let Some((request, reply)) = rx.recv().await {
            let snapshot = server_state.snapshot();
            let (txn, outcomes, usage) = verify(&snapshot, request, &in_flight);
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
                        for outcome in &outcomes {
                            metrics.plans_applied.fetch_add(1, Ordering::Relaxed);
                            metrics.placements.fetch_add(outcome.placed as u64, Ordering::Relaxed);
                            metrics.plan_rejections.fetch_add(outcome.rejected as u64, Ordering::Relaxed);
                        }
                        Ok(outcomes)
                    }
                    Err(err) => Err(err.into()),
                };
                let _ = reply.send(reply_value);
            });
        }
    });
    PlanApplier { tx }
}

/// Resources per node: (cpu, memory, disk).
pub(crate) type NodeUsage = HashMap<String, (u64, u64, u64)>;

/// The operations of one transaction, gathered from several plans.
#[derive(Default)]
struct TxnOps {
    allocs: Vec<Allocation>,
    desired: Vec<AllocDesiredUpdate>,
    evals: Vec<Evaluation>,
}

impl TxnOps {
    fn into_txn(self) -> Txn {
        let mut ops = Vec::new();
        if !self.allocs.is_empty() {
            ops.push(Op::upsert_allocs(self.allocs));
        }
        if !self.desired.is_empty() {
            ops.push(Op::UpdateAllocsDesired(self.desired));
        }
        if !self.evals.is_empty() {
            ops.push(Op::UpsertEvals(self.evals));
        }
        Txn { preconditions: vec![], ops }
    }
}

/// Re-checks the placements of a batch's plans, in order, each against the
/// snapshot, the plans still being written and the batch's earlier plans;
/// builds the one transaction that commits them all.
fn verify(
    snapshot: &Snapshot,
    request: CommitRequest,
    in_flight: &InFlightUsage,
) -> (Txn, Vec<CommitOutcome>, NodeUsage) {
    let in_flight = in_flight.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut added: NodeUsage = HashMap::new();
    let mut ops = TxnOps::default();
    let outcomes =
        request.parts.into_iter().map(|part| verify_part(snapshot, part, &in_flight, &mut added, &mut ops)).collect();
    (ops.into_txn(), outcomes, added)
}

/// Re-checks one plan's placements (see [`verify`]) and adds what it commits to `ops`.
fn verify_part(
    snapshot: &Snapshot,
    part: EvalCommit,
    in_flight: &NodeUsage,
    added: &mut NodeUsage,
    ops: &mut TxnOps,
) -> CommitOutcome {
    let EvalCommit { plan, eval_update, blocked, followups, followup_links } = part;
    let mut rejected = 0;
    let mut placed = 0;
    let stopping: std::collections::HashSet<&str> = plan.stops.iter().map(|s| s.alloc_id.as_str()).collect();
    ops.allocs.reserve(plan.placements.len());
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
            let this_batch = added.get(&node.id).copied().unwrap_or_default();
            let res = &alloc.allocated_resources;
            used_cpu + pending.0 + this_batch.0 + res.cpu() <= cap_cpu
                && used_mem + pending.1 + this_batch.1 + res.memory_mb() <= cap_mem
                && used_disk + pending.2 + this_batch.2 + res.disk_mb() <= cap_disk
        });
        if fits {
            let entry = added.entry(alloc.node_id.clone()).or_default();
            entry.0 += alloc.allocated_resources.cpu();
            entry.1 += alloc.allocated_resources.memory_mb();
            entry.2 += alloc.allocated_resources.disk_mb();
            ops.allocs.push(alloc);
            placed += 1;
        } else {
            rejected += 1;
        }
    }
    let freed_capacity = !plan.stops.is_empty();
    ops.desired.extend(
        plan.stops
            .iter()
            .map(|stop| AllocDesiredUpdate {
                alloc_id: stop.alloc_id.clone(),
                desired_status: Some(drover_types::desired_status::STOP.to_string()),
                desired_description: Some(stop.desired_description.clone()),
                client_status: stop.client_status.clone(),
                next_allocation: stop.next_allocation.clone(),
                ..AllocDesiredUpdate::default()
            })
            .filter(|update| snapshot.alloc(&update.alloc_id).is_some()),
    );
    ops.desired.extend(plan.in_place_updates.iter().filter(|u| snapshot.alloc(&u.alloc_id).is_some()).map(|update| {
        AllocDesiredUpdate {
            alloc_id: update.alloc_id.clone(),
            job_version: Some(update.job_version),
            eval_id: Some(plan.eval_id.clone()),
            ..AllocDesiredUpdate::default()
        }
    }));
    let (blocked, followups) = if rejected == 0 {
        ops.desired.extend(followup_links.into_iter().filter(|u| snapshot.alloc(&u.alloc_id).is_some()));
        ops.evals.push(eval_update.clone());
        ops.evals.extend(blocked.iter().cloned());
        ops.evals.extend(followups.iter().cloned());
        (blocked, followups)
    } else {
        (None, Vec::new())
    };
    CommitOutcome { rejected, placed, eval: eval_update, blocked, followups, freed_capacity }
}
