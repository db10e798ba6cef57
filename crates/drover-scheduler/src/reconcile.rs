//! Reconcile: desired versus existing allocations of one task group, for
//! service and batch jobs.
//!
//! The result ([`GroupReconcile`]) says what to stop, what to update in
//! place, which indexes to place (with the allocation each replaces) and which
//! failed allocations to reschedule later. Placing is left to the caller.
//! Shared pieces (node health, in-place vs destructive) are also used by the
//! system path.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use drover_types::api::DesiredUpdates;
use drover_types::{
    Allocation, Job, JobType, Node, RescheduleEvent, RescheduleTracker, TaskGroup, client_status, node_status,
};

use crate::reschedule::{RescheduleDecision, decide, group_policy};
use crate::select::{GroupPlacement, Placer};
use crate::update::needs_restart;
use crate::{AllocStop, InPlaceUpdate, StateView};

/// Desired description of allocations of a stopped or purged job.
pub(crate) const DESC_JOB_STOPPED: &str = "alloc not needed as job is stopped";
/// Desired description of allocations on a down or missing node.
pub(crate) const DESC_LOST: &str = "alloc is lost since its node is down";
/// Desired description of allocations moved off a draining node.
pub(crate) const DESC_MIGRATING: &str = "alloc is being migrated";
/// Desired description of allocations no longer wanted after a job change.
pub(crate) const DESC_NOT_NEEDED: &str = "alloc not needed due to job update";
/// Desired description of allocations replaced by a new version.
pub(crate) const DESC_UPDATING: &str = "alloc is being updated due to job update";
/// Desired description set on a failed allocation when it is replaced.
pub(crate) const DESC_RESCHEDULED: &str = "alloc was rescheduled because it failed";

/// How an allocation's node affects it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeHealth {
    /// The node is fine (it may be ineligible: existing work stays).
    Healthy,
    /// The node is down or gone: the allocation is lost.
    Lost,
    /// The node is draining: the allocation moves.
    Draining,
}

/// How an allocation at an older job version moves to the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UpdateKind {
    /// Already at the current version.
    Ignore,
    /// New version without a restart.
    InPlace,
    /// Stop and place anew.
    Destructive,
}

/// How a new allocation relates to the one it replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReplaceLink {
    /// A fresh instance.
    Fresh,
    /// Replaces the stop at this position in [`GroupReconcile::stops`].
    Stop(usize),
    /// Replaces a terminal allocation: on success an [`AllocStop`] with this
    /// description sets its `next_allocation`.
    Terminal(&'static str),
}

/// One allocation to place.
#[derive(Debug, Clone)]
pub(crate) struct PlaceRequest {
    /// Its name index.
    pub(crate) index: u32,
    /// The allocation it replaces.
    pub(crate) previous: Option<Arc<Allocation>>,
    /// Reschedule history to carry.
    pub(crate) reschedule_tracker: Option<RescheduleTracker>,
    /// How to link it to what it replaces.
    pub(crate) link: ReplaceLink,
}

/// What reconcile decided for one group.
#[derive(Debug, Default)]
pub(crate) struct GroupReconcile {
    /// Allocations to stop.
    pub(crate) stops: Vec<AllocStop>,
    /// Allocations to move to the current version in place.
    pub(crate) in_place: Vec<InPlaceUpdate>,
    /// Allocations to place.
    pub(crate) places: Vec<PlaceRequest>,
    /// Failed allocations to reschedule later: (when, alloc ID).
    pub(crate) followups: Vec<(i64, String)>,
    /// Counts for `job plan`.
    pub(crate) updates: DesiredUpdates,
    /// Live allocations that keep running on their node.
    pub(crate) kept: Vec<Arc<Allocation>>,
}

/// Per-eval lookups shared by every group: nodes and old job versions.
pub(crate) struct Reconciler<'a> {
    state: &'a dyn StateView,
    job: &'a Job,
    now: i64,
    nodes: HashMap<String, Option<Arc<Node>>>,
    versions: HashMap<u64, Option<Arc<Job>>>,
}

impl<'a> Reconciler<'a> {
    /// Starts a reconcile of `job` at `now`.
    pub(crate) fn new(state: &'a dyn StateView, job: &'a Job, now: i64) -> Reconciler<'a> {
        Reconciler { state, job, now, nodes: HashMap::new(), versions: HashMap::new() }
    }

    /// A node, looked up once per eval.
    pub(crate) fn node(&mut self, node_id: &str) -> Option<Arc<Node>> {
        if let Some(node) = self.nodes.get(node_id) {
            return node.clone();
        }
        let node = self.state.node(node_id);
        self.nodes.insert(node_id.to_string(), node.clone());
        node
    }

    /// How the allocation's node affects it.
    pub(crate) fn node_health(&mut self, alloc: &Allocation) -> NodeHealth {
        match self.node(&alloc.node_id) {
            None => NodeHealth::Lost,
            Some(node) if node.status == node_status::DOWN => NodeHealth::Lost,
            Some(node) if node.drain => NodeHealth::Draining,
            Some(_) => NodeHealth::Healthy,
        }
    }

    /// Whether a live allocation is ignored, updated in place or replaced.
    /// In place needs the group's restart-relevant spec unchanged and its
    /// drivers and constraints still satisfied on the allocation's node.
    pub(crate) fn update_kind(
        &mut self,
        alloc: &Allocation,
        placement: &mut GroupPlacement,
        placer: &mut Placer<'_>,
    ) -> UpdateKind {
        if alloc.job_version == self.job.version {
            return UpdateKind::Ignore;
        }
        let old_job = match self.versions.get(&alloc.job_version) {
            Some(old_job) => old_job.clone(),
            None => {
                let old_job = self.state.job_version(&self.job.namespace, &self.job.id, alloc.job_version);
                self.versions.insert(alloc.job_version, old_job.clone());
                old_job
            }
        };
        let Some(old_job) = old_job else { return UpdateKind::Destructive };
        if needs_restart(&old_job, self.job, &alloc.task_group) {
            return UpdateKind::Destructive;
        }
        let Some(node) = self.node(&alloc.node_id) else { return UpdateKind::Destructive };
        if placer.node_feasible(placement, &node).is_some() {
            return UpdateKind::Destructive;
        }
        UpdateKind::InPlace
    }

    /// Reconciles one group of a service or batch job.
    pub(crate) fn reconcile_group(
        &mut self,
        group: &TaskGroup,
        group_allocs: &[&Arc<Allocation>],
        placement: &mut GroupPlacement,
        placer: &mut Placer<'_>,
    ) -> GroupReconcile {
        let mut result = GroupReconcile::default();
        let count = group.count;
        let mut filled = vec![false; count as usize];
        // Live allocations first: they hold their index.
        for alloc in group_allocs.iter().filter(|alloc| !alloc.server_terminal() && !alloc.client_terminal()) {
            let index = alloc.index();
            let health = self.node_health(alloc);
            let surplus = index >= count || filled[index as usize];
            if surplus {
                let lost = health == NodeHealth::Lost;
                result.stops.push(stop(alloc, if lost { DESC_LOST } else { DESC_NOT_NEEDED }, lost));
                result.updates.stop += 1;
                continue;
            }
            filled[index as usize] = true;
            match health {
                NodeHealth::Lost => {
                    result.stops.push(stop(alloc, DESC_LOST, true));
                    result.updates.stop += 1;
                    result.updates.place += 1;
                    result.places.push(replacement(alloc, index, ReplaceLink::Stop(result.stops.len() - 1)));
                }
                NodeHealth::Draining => {
                    result.stops.push(stop(alloc, DESC_MIGRATING, false));
                    result.updates.migrate += 1;
                    result.places.push(replacement(alloc, index, ReplaceLink::Stop(result.stops.len() - 1)));
                }
                NodeHealth::Healthy => match self.update_kind(alloc, placement, placer) {
                    UpdateKind::Ignore => {
                        result.updates.ignore += 1;
                        result.kept.push(Arc::clone(alloc));
                    }
                    UpdateKind::InPlace => {
                        result.updates.in_place_update += 1;
                        result
                            .in_place
                            .push(InPlaceUpdate { alloc_id: alloc.id.clone(), job_version: self.job.version });
                        result.kept.push(Arc::clone(alloc));
                    }
                    UpdateKind::Destructive => {
                        result.stops.push(stop(alloc, DESC_UPDATING, false));
                        result.updates.destructive_update += 1;
                        result.places.push(replacement(alloc, index, ReplaceLink::Stop(result.stops.len() - 1)));
                    }
                },
            }
        }
        // Terminal allocations of indexes no live allocation holds.
        let mut terminal_by_index: BTreeMap<u32, Vec<&Arc<Allocation>>> = BTreeMap::new();
        for alloc in group_allocs.iter().filter(|alloc| !alloc.server_terminal() && alloc.client_terminal()) {
            let index = alloc.index();
            if index < count && !filled[index as usize] {
                terminal_by_index.entry(index).or_default().push(alloc);
            }
        }
        let job_type = self.job.job_type;
        for (index, history) in terminal_by_index {
            if job_type == JobType::Batch && history.iter().any(|alloc| alloc.client_status == client_status::COMPLETE)
            {
                filled[index as usize] = true;
                continue;
            }
            let latest = history
                .iter()
                .filter(|alloc| alloc.next_allocation.is_empty())
                .max_by(|left, right| left.create_time.cmp(&right.create_time).then_with(|| left.id.cmp(&right.id)));
            let Some(latest) = latest else {
                // Every one was already replaced; for batch, do not run the work again.
                if job_type == JobType::Batch {
                    filled[index as usize] = true;
                }
                continue;
            };
            filled[index as usize] = true;
            match latest.client_status.as_str() {
                client_status::FAILED => self.reschedule(group, latest, index, &mut result),
                client_status::LOST => {
                    result.updates.place += 1;
                    result.places.push(replacement(latest, index, ReplaceLink::Terminal(DESC_LOST)));
                }
                _ => {
                    // A service allocation that completed: run it again.
                    result.updates.place += 1;
                    result.places.push(replacement(latest, index, ReplaceLink::Fresh));
                }
            }
        }
        for (index, is_filled) in filled.iter().enumerate() {
            if !is_filled {
                result.updates.place += 1;
                result.places.push(PlaceRequest {
                    index: index as u32,
                    previous: None,
                    reschedule_tracker: None,
                    link: ReplaceLink::Fresh,
                });
            }
        }
        result
    }

    fn reschedule(&mut self, group: &TaskGroup, alloc: &Arc<Allocation>, index: u32, result: &mut GroupReconcile) {
        let policy = group_policy(self.job.job_type, group);
        match decide(&policy, alloc, self.now) {
            RescheduleDecision::Now { delay } => {
                let mut tracker = alloc.reschedule_tracker.clone().unwrap_or_default();
                tracker.events.push(RescheduleEvent {
                    reschedule_time: self.now,
                    prev_alloc_id: alloc.id.clone(),
                    prev_node_id: alloc.node_id.clone(),
                    delay,
                });
                result.updates.place += 1;
                result.updates.reschedule_now += 1;
                result.places.push(PlaceRequest {
                    index,
                    previous: Some(Arc::clone(alloc)),
                    reschedule_tracker: Some(tracker),
                    link: ReplaceLink::Terminal(DESC_RESCHEDULED),
                });
            }
            RescheduleDecision::Later { wait_until } => {
                if alloc.followup_eval_id.is_empty() {
                    result.updates.reschedule_later += 1;
                    result.followups.push((wait_until, alloc.id.clone()));
                } else {
                    result.updates.ignore += 1;
                }
            }
            RescheduleDecision::Never => {}
        }
    }
}

/// A stop of `alloc`, marked lost when `lost`.
pub(crate) fn stop(alloc: &Allocation, description: &str, lost: bool) -> AllocStop {
    AllocStop {
        alloc_id: alloc.id.clone(),
        desired_description: description.to_string(),
        client_status: if lost { Some(client_status::LOST.to_string()) } else { None },
        next_allocation: None,
    }
}

fn replacement(alloc: &Arc<Allocation>, index: u32, link: ReplaceLink) -> PlaceRequest {
    PlaceRequest { index, previous: Some(Arc::clone(alloc)), reschedule_tracker: None, link }
}

/// Whether an allocation still needs a stop when its job goes away.
pub(crate) fn stoppable(alloc: &Allocation) -> bool {
    !alloc.server_terminal() && !alloc.client_terminal()
}
