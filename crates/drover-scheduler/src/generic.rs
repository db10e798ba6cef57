//! The entry point and the generic path (service and batch jobs).
//!
//! [`schedule`] handles what every job type shares (a purged or stopped job
//! stops everything; templates get nothing), then one table,
//! [`scheduler_path`], picks the path by job type. The generic path
//! reconciles each group ([`crate::reconcile`]), then places what is missing
//! with the [`Placer`], group by group.

use std::collections::BTreeMap;
use std::sync::Arc;

use drover_types::{
    AllocMetric, Allocation, DEFAULT_NAMESPACE, Job, JobType, Node, TaskGroup, alloc_name, client_status,
    desired_status,
};

use crate::rank::allocated_resources;
use crate::reconcile::{
    DESC_JOB_STOPPED, DESC_LOST, DESC_NOT_NEEDED, PlaceRequest, Reconciler, ReplaceLink, stoppable,
};
use crate::select::{GroupPlacement, Placer};
use crate::{AllocStop, Followup, Plan, SchedulerInput, StateView, system};

/// Which scheduler a job type uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SchedulerPath {
    /// Place `count` instances per group anywhere feasible.
    Generic,
    /// One instance per ready, eligible, feasible node.
    System,
}

/// The one table from job type to scheduler path.
pub(crate) fn scheduler_path(job_type: JobType) -> SchedulerPath {
    match job_type {
        JobType::Service | JobType::Batch => SchedulerPath::Generic,
        JobType::System | JobType::Sysbatch => SchedulerPath::System,
    }
}

/// Decides the plan for one eval (see [`crate::schedule`]).
pub(crate) fn schedule(state: &dyn StateView, input: &SchedulerInput) -> Plan {
    let mut plan = Plan { eval_id: input.eval.id.clone(), ..Plan::default() };
    let live_job = input.job.as_deref().filter(|job| !job.stop);
    let Some(job) = live_job else {
        let (namespace, job_id) = match input.job.as_deref() {
            Some(job) => (job_namespace(job, input), job.id.as_str()),
            None => (non_empty_namespace(&input.eval.namespace), input.eval.job_id.as_str()),
        };
        stop_all(state, namespace, job_id, &mut plan);
        return plan;
    };
    if job.is_template() {
        return plan;
    }
    let allocs = sorted_allocs(state.allocs_by_job(job_namespace(job, input), &job.id));
    stop_removed_groups(state, job, &allocs, &mut plan);
    match scheduler_path(job.job_type) {
        SchedulerPath::Generic => schedule_generic(state, input, job, &allocs, &mut plan),
        SchedulerPath::System => system::schedule_system(state, input, job, &allocs, &mut plan),
    }
    plan
}

fn non_empty_namespace(namespace: &str) -> &str {
    if namespace.is_empty() { DEFAULT_NAMESPACE } else { namespace }
}

pub(crate) fn job_namespace<'a>(job: &'a Job, input: &'a SchedulerInput) -> &'a str {
    if job.namespace.is_empty() { non_empty_namespace(&input.eval.namespace) } else { &job.namespace }
}

/// A job's allocations in a stable order: by name index, then creation, then ID.
pub(crate) fn sorted_allocs(mut allocs: Vec<Arc<Allocation>>) -> Vec<Arc<Allocation>> {
    allocs.sort_by(|left, right| {
        (left.task_group.as_str(), left.index(), left.create_time, left.id.as_str()).cmp(&(
            right.task_group.as_str(),
            right.index(),
            right.create_time,
            right.id.as_str(),
        ))
    });
    allocs
}

/// Whether the node is down or gone.
fn node_lost(state: &dyn StateView, node_id: &str) -> bool {
    state.node(node_id).is_none_or(|node| node.status == drover_types::node_status::DOWN)
}

/// Stops every allocation that is still running or pending (purged or stopped job).
fn stop_all(state: &dyn StateView, namespace: &str, job_id: &str, plan: &mut Plan) {
    for alloc in sorted_allocs(state.allocs_by_job(namespace, job_id)) {
        if !stoppable(&alloc) {
            continue;
        }
        let lost = node_lost(state, &alloc.node_id);
        plan.stops.push(AllocStop {
            alloc_id: alloc.id.clone(),
            desired_description: DESC_JOB_STOPPED.to_string(),
            client_status: lost.then(|| client_status::LOST.to_string()),
            next_allocation: None,
        });
        plan.desired_updates.entry(alloc.task_group.clone()).or_default().stop += 1;
    }
}

/// Stops allocations of groups the job no longer has.
fn stop_removed_groups(state: &dyn StateView, job: &Job, allocs: &[Arc<Allocation>], plan: &mut Plan) {
    for alloc in allocs {
        if job.task_group(&alloc.task_group).is_some() || !stoppable(alloc) {
            continue;
        }
        let lost = node_lost(state, &alloc.node_id);
        plan.stops.push(AllocStop {
            alloc_id: alloc.id.clone(),
            desired_description: if lost { DESC_LOST } else { DESC_NOT_NEEDED }.to_string(),
            client_status: lost.then(|| client_status::LOST.to_string()),
            next_allocation: None,
        });
        plan.desired_updates.entry(alloc.task_group.clone()).or_default().stop += 1;
    }
}

fn schedule_generic(
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
        let decision = reconciler.reconcile_group(group, &group_allocs, &mut placement, &mut placer);
        decisions.push((group, placement, decision));
    }
    for (_, _, decision) in &decisions {
        for alloc in &decision.kept {
            placer.record_existing(alloc);
        }
    }
    let mut followups: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    // One reservation instead of doubling through a large count (each growth
    // copies every allocation placed so far).
    plan.placements.reserve(decisions.iter().map(|(_, _, decision)| decision.places.len()).sum());
    for (group, mut placement, decision) in decisions {
        let stop_offset = plan.stops.len();
        plan.stops.extend(decision.stops);
        plan.in_place_updates.extend(decision.in_place);
        for (wait_until, alloc_id) in decision.followups {
            followups.entry(wait_until).or_default().push(alloc_id);
        }
        plan.desired_updates.entry(group.name.clone()).or_default().add(&decision.updates);
        plan.queued_allocations.insert(group.name.clone(), 0);
        let context = PlacementContext {
            job,
            namespace: job_namespace(job, input),
            group,
            eval_id: &input.eval.id,
            now: input.now,
        };
        for request in &decision.places {
            place_one(&context, &mut placer, &mut placement, request, stop_offset, plan);
        }
    }
    plan.followups = followups.into_iter().map(|(wait_until, alloc_ids)| Followup { wait_until, alloc_ids }).collect();
}

/// What every new allocation of one group shares.
pub(crate) struct PlacementContext<'a> {
    /// The job.
    pub(crate) job: &'a Job,
    /// The job's namespace (never empty).
    pub(crate) namespace: &'a str,
    /// The group.
    pub(crate) group: &'a TaskGroup,
    /// The eval placing it.
    pub(crate) eval_id: &'a str,
    /// Now (Unix ns).
    pub(crate) now: i64,
}

fn place_one(
    context: &PlacementContext<'_>,
    placer: &mut Placer<'_>,
    placement: &mut GroupPlacement,
    request: &PlaceRequest,
    stop_offset: usize,
    plan: &mut Plan,
) {
    if placement.failed {
        record_failure(plan, &placement.name, None);
        return;
    }
    let selected = match placer.select(placement) {
        Ok(selected) => selected,
        Err(metric) => {
            placement.failed = true;
            record_failure(plan, &placement.name, Some(*metric));
            return;
        }
    };
    placer.commit(placement, selected.node_pos);
    let alloc_id = placer.new_alloc_id();
    let node = Arc::clone(placer.node(selected.node_pos));
    link_replacement(request, &alloc_id, stop_offset, plan);
    let mut alloc = new_allocation(context, alloc_id, request.index, &node, selected.metric);
    if let Some(previous) = &request.previous {
        alloc.previous_allocation = previous.id.clone();
    }
    alloc.reschedule_tracker = request.reschedule_tracker.clone();
    plan.placements.push(alloc);
}

/// Points what a new allocation replaces at it.
pub(crate) fn link_replacement(request: &PlaceRequest, alloc_id: &str, stop_offset: usize, plan: &mut Plan) {
    match (&request.link, &request.previous) {
        (ReplaceLink::Stop(stop_idx), _) => {
            if let Some(stop) = plan.stops.get_mut(stop_offset + stop_idx) {
                stop.next_allocation = Some(alloc_id.to_string());
            }
        }
        (ReplaceLink::Terminal(description), Some(previous)) => plan.stops.push(AllocStop {
            alloc_id: previous.id.clone(),
            desired_description: description.to_string(),
            client_status: None,
            next_allocation: Some(alloc_id.to_string()),
        }),
        _ => {}
    }
}

/// Records one placement that could not be made: the first keeps its metric,
/// later ones are coalesced into it.
pub(crate) fn record_failure(plan: &mut Plan, group_name: &str, metric: Option<AllocMetric>) {
    plan.needs_blocked_eval = true;
    *plan.queued_allocations.entry(group_name.to_string()).or_insert(0) += 1;
    match (plan.failed_tg_allocs.get_mut(group_name), metric) {
        (Some(existing), _) => existing.coalesced_failures += 1,
        (None, Some(metric)) => {
            plan.failed_tg_allocs.insert(group_name.to_string(), metric);
        }
        (None, None) => {
            plan.failed_tg_allocs.insert(group_name.to_string(), AllocMetric::default());
        }
    }
}

/// A new allocation of `context.group` on `node`, pending and wanted running.
pub(crate) fn new_allocation(
    context: &PlacementContext<'_>,
    alloc_id: String,
    index: u32,
    node: &Node,
    metric: AllocMetric,
) -> Allocation {
    Allocation {
        id: alloc_id,
        namespace: context.namespace.to_string(),
        eval_id: context.eval_id.to_string(),
        name: alloc_name(&context.job.id, &context.group.name, index),
        node_id: node.id.clone(),
        node_name: node.name.clone(),
        job_id: context.job.id.clone(),
        job_version: context.job.version,
        job: None,
        task_group: context.group.name.clone(),
        allocated_resources: allocated_resources(context.group),
        metrics: metric,
        desired_status: desired_status::RUN.to_string(),
        client_status: client_status::PENDING.to_string(),
        create_time: context.now,
        modify_time: context.now,
        ..Allocation::default()
    }
}

/// Adds counts to a group's desired updates.
pub(crate) trait AddUpdates {
    /// Adds every count of `other`.
    fn add(&mut self, other: &Self);
}

impl AddUpdates for drover_types::api::DesiredUpdates {
    fn add(&mut self, other: &Self) {
        self.ignore += other.ignore;
        self.place += other.place;
        self.migrate += other.migrate;
        self.stop += other.stop;
        self.in_place_update += other.in_place_update;
        self.destructive_update += other.destructive_update;
        self.canary += other.canary;
        self.preemptions += other.preemptions;
        self.reschedule_now += other.reschedule_now;
        self.reschedule_later += other.reschedule_later;
    }
}
