//! The system path (system and sysbatch jobs): one instance of each group
//! per ready, eligible, feasible node.
//!
//! Existing allocations are checked first (lost on a down node, stopped on a
//! draining one, updated in place or replaced on their node); then every
//! candidate node without an instance gets one if it passes the checkers and
//! has room. A node filtered by a constraint is not a failure; a feasible node
//! without room is. Sysbatch never runs again on a node where the job's
//! allocation finished.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use drover_types::{Allocation, Job, JobType};

use crate::generic::{AddUpdates, PlacementContext, job_namespace, link_replacement, new_allocation, record_failure};
use crate::reconcile::{
    DESC_LOST, DESC_NOT_NEEDED, DESC_UPDATING, GroupReconcile, NodeHealth, PlaceRequest, Reconciler, ReplaceLink,
    UpdateKind, stop,
};
use crate::select::{GroupPlacement, NodeCheck, Placer, record_exhausted, score_meta};
use crate::{Plan, SchedulerInput, StateView};

/// Desired description of system allocations on a draining node.
const DESC_NODE_DRAINING: &str = "alloc not needed as node is draining";

/// Schedules a system or sysbatch job into `plan`.
pub(crate) fn schedule_system(
    state: &dyn StateView,
    input: &SchedulerInput,
    job: &Job,
    allocs: &[Arc<Allocation>],
    plan: &mut Plan,
) {
    let mut placer = Placer::new(state, job, input.seed, input.alloc_ids);
    let n_candidates = placer.n_candidates();
    let mut reconciler = Reconciler::new(state, job, input.now);
    let mut decisions = Vec::with_capacity(job.task_groups.len());
    for group in &job.task_groups {
        let mut placement = GroupPlacement::new(job, group, n_candidates);
        let group_allocs: Vec<&Arc<Allocation>> =
            allocs.iter().filter(|alloc| alloc.task_group == group.name).collect();
        let (decision, occupied, replacing) =
            reconcile_system_group(job, &group_allocs, &mut reconciler, &mut placement, &mut placer);
        decisions.push((group, placement, decision, occupied, replacing));
    }
    for (_, _, decision, _, _) in &decisions {
        for alloc in &decision.kept {
            placer.record_existing(alloc);
        }
    }
    let candidates: Vec<usize> = placer.candidates().to_vec();
    for (group, mut placement, decision, occupied, mut replacing) in decisions {
        let stop_offset = plan.stops.len();
        plan.stops.extend(decision.stops);
        plan.in_place_updates.extend(decision.in_place);
        let updates = plan.desired_updates.entry(group.name.clone()).or_default();
        updates.add(&decision.updates);
        plan.queued_allocations.insert(group.name.clone(), 0);
        let context = PlacementContext {
            job,
            namespace: job_namespace(job, input),
            group,
            eval_id: &input.eval.id,
            now: input.now,
        };
        for &node_pos in &candidates {
            let node = Arc::clone(placer.node(node_pos));
            if occupied.contains(node.id.as_str()) {
                continue;
            }
            let request = replacing.remove(node.id.as_str()).unwrap_or(PlaceRequest {
                index: 0,
                previous: None,
                reschedule_tracker: None,
                link: ReplaceLink::Fresh,
            });
            let mut metric = placer.base_metric();
            metric.nodes_evaluated = 1;
            let check = placer.check_node(&mut placement, node_pos);
            if matches!(check, NodeCheck::Filtered(_)) {
                continue;
            }
            if !matches!(request.link, ReplaceLink::Stop(_)) {
                plan.desired_updates.entry(group.name.clone()).or_default().place += 1;
            }
            match check {
                NodeCheck::Filtered(_) => {}
                NodeCheck::Exhausted(dimension) => {
                    record_exhausted(&mut metric, &node, dimension);
                    let first = !plan.failed_tg_allocs.contains_key(&group.name);
                    record_failure(plan, &group.name, first.then_some(metric));
                    if !first && let Some(existing) = plan.failed_tg_allocs.get_mut(&group.name) {
                        existing.nodes_evaluated += 1;
                        record_exhausted(existing, &node, dimension);
                    }
                }
                NodeCheck::Fits(score) => {
                    placer.commit(&placement, node_pos);
                    metric.score_meta_data = vec![score_meta(&node.id, &score)];
                    let alloc_id = placer.new_alloc_id();
                    link_replacement(&request, &alloc_id, stop_offset, plan);
                    let mut alloc = new_allocation(&context, alloc_id, 0, &node, metric);
                    if let Some(previous) = &request.previous {
                        alloc.previous_allocation = previous.id.clone();
                    }
                    plan.placements.push(alloc);
                }
            }
        }
    }
}

/// Reconciles one system group: returns the decision, the nodes that need no
/// new instance, and the replacements keyed by node ID.
fn reconcile_system_group<'n>(
    job: &Job,
    group_allocs: &[&'n Arc<Allocation>],
    reconciler: &mut Reconciler<'_>,
    placement: &mut GroupPlacement,
    placer: &mut Placer<'_>,
) -> (GroupReconcile, HashSet<&'n str>, HashMap<&'n str, PlaceRequest>) {
    let mut result = GroupReconcile::default();
    let mut occupied: HashSet<&'n str> = HashSet::new();
    let mut replacing: HashMap<&'n str, PlaceRequest> = HashMap::new();
    for alloc in group_allocs.iter().filter(|alloc| !alloc.server_terminal() && !alloc.client_terminal()) {
        let node_id = alloc.node_id.as_str();
        if occupied.contains(node_id) || replacing.contains_key(node_id) {
            result.stops.push(stop(alloc, DESC_NOT_NEEDED, false));
            result.updates.stop += 1;
            continue;
        }
        match reconciler.node_health(alloc) {
            NodeHealth::Lost => {
                result.stops.push(stop(alloc, DESC_LOST, true));
                result.updates.stop += 1;
                occupied.insert(node_id);
            }
            NodeHealth::Draining => {
                let ignore_system_jobs = reconciler
                    .node(node_id)
                    .and_then(|node| node.drain_strategy.as_ref().map(|drain| drain.ignore_system_jobs))
                    .unwrap_or(false);
                if ignore_system_jobs {
                    result.updates.ignore += 1;
                    result.kept.push(Arc::clone(alloc));
                } else {
                    result.stops.push(stop(alloc, DESC_NODE_DRAINING, false));
                    result.updates.stop += 1;
                }
                occupied.insert(node_id);
            }
            NodeHealth::Healthy => match reconciler.update_kind(alloc, placement, placer) {
                UpdateKind::Ignore => {
                    result.updates.ignore += 1;
                    result.kept.push(Arc::clone(alloc));
                    occupied.insert(node_id);
                }
                UpdateKind::InPlace => {
                    result.updates.in_place_update += 1;
                    result.in_place.push(crate::InPlaceUpdate { alloc_id: alloc.id.clone(), job_version: job.version });
                    result.kept.push(Arc::clone(alloc));
                    occupied.insert(node_id);
                }
                UpdateKind::Destructive => {
                    result.stops.push(stop(alloc, DESC_UPDATING, false));
                    result.updates.destructive_update += 1;
                    replacing.insert(
                        node_id,
                        PlaceRequest {
                            index: alloc.index(),
                            previous: Some(Arc::clone(alloc)),
                            reschedule_tracker: None,
                            link: ReplaceLink::Stop(result.stops.len() - 1),
                        },
                    );
                }
            },
        }
    }
    // Terminal allocations: sysbatch work that finished (or failed, with no
    // reschedule for sysbatch) is done on that node; a failed system
    // allocation is replaced on its node.
    for alloc in group_allocs.iter().filter(|alloc| !alloc.server_terminal() && alloc.client_terminal()) {
        let node_id = alloc.node_id.as_str();
        if occupied.contains(node_id) || replacing.contains_key(node_id) {
            continue;
        }
        if job.job_type == JobType::Sysbatch && alloc.client_status != drover_types::client_status::LOST {
            occupied.insert(node_id);
            continue;
        }
        replacing.insert(
            node_id,
            PlaceRequest {
                index: 0,
                previous: Some(Arc::clone(alloc)),
                reschedule_tracker: None,
                link: ReplaceLink::Fresh,
            },
        );
    }
    (result, occupied, replacing)
}
