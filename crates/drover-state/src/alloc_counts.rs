//! Allocation counts per job and task group, kept in step with every
//! allocation write, so a job's summary (and every row of the job list) is
//! read, not recomputed from the job's allocations on each request.

use std::collections::BTreeMap;

use drover_types::api::TaskGroupSummary;
use drover_types::{Allocation, client_status, desired_status};

/// How a job's allocations stand, per task group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobAllocCounts {
    /// Counts by task group name (`Queued` is never set here: it comes from
    /// the job's blocked evaluation, not from its allocations).
    pub groups: BTreeMap<String, TaskGroupSummary>,
    /// The highest `ModifyIndex` of any allocation written for the job.
    pub modify_index: u64,
}

impl JobAllocCounts {
    /// The counts of `allocs`, from scratch (archived jobs, and tests).
    pub fn of<'a>(allocs: impl IntoIterator<Item = &'a Allocation>) -> JobAllocCounts {
        let mut counts = JobAllocCounts::default();
        for alloc in allocs {
            counts.add(alloc);
        }
        counts
    }

    /// Counts one more allocation.
    pub(crate) fn add(&mut self, alloc: &Allocation) {
        self.modify_index = self.modify_index.max(alloc.modify_index);
        let mut summary = self.groups.get(&alloc.task_group).copied().unwrap_or_default();
        if let Some(slot) = slot(&mut summary, alloc) {
            *slot += 1;
            self.groups.insert(alloc.task_group.clone(), summary);
        }
    }

    /// Counts one allocation less (it was removed or is being replaced).
    pub(crate) fn remove(&mut self, alloc: &Allocation) {
        if let Some(summary) = self.groups.get_mut(&alloc.task_group) {
            if let Some(slot) = slot(summary, alloc) {
                *slot = slot.saturating_sub(1);
            }
            if *summary == TaskGroupSummary::default() {
                self.groups.remove(&alloc.task_group);
            }
        }
    }

    /// Whether no allocation is counted.
    pub(crate) fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

/// The count an allocation adds to: starting while pending and wanted,
/// complete once pending but no longer wanted (it will never start), else
/// its client status's.
fn slot<'a>(summary: &'a mut TaskGroupSummary, alloc: &Allocation) -> Option<&'a mut u64> {
    match alloc.client_status.as_str() {
        client_status::PENDING if alloc.desired_status == desired_status::RUN => Some(&mut summary.starting),
        client_status::PENDING => Some(&mut summary.complete),
        client_status::RUNNING => Some(&mut summary.running),
        client_status::COMPLETE => Some(&mut summary.complete),
        client_status::FAILED => Some(&mut summary.failed),
        client_status::LOST => Some(&mut summary.lost),
        client_status::UNKNOWN => Some(&mut summary.unknown),
        _ => None,
    }
}
