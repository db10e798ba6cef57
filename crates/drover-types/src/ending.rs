//! How a finished job ended (complete, failed, lost or stopped), decided from
//! its allocations alone, so the state store can keep per-parent counts of
//! finished children and the server can answer `GET /v1/job/:id/outcome`
//! with the same rule.

use crate::alloc::{Allocation, client_status};
use crate::job::{Job, job_status};

/// How a dead job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobEnding {
    /// Its last allocations finished without failure.
    Complete,
    /// The last allocation of some group instance failed.
    Failed,
    /// The last allocation of some group instance was lost with its node (and none failed).
    Lost,
    /// It was stopped before any allocation completed.
    Stopped,
}

impl JobEnding {
    /// The outcome word of the API (`complete`, `failed`, `lost`, `stopped`).
    pub fn as_str(self) -> &'static str {
        match self {
            JobEnding::Complete => "complete",
            JobEnding::Failed => "failed",
            JobEnding::Lost => "lost",
            JobEnding::Stopped => "stopped",
        }
    }
}

/// How `job` ended, given every allocation it has (in any order); `None`
/// while the job is not dead.
///
/// The latest allocation of each name (highest `CreateIndex`, then ID)
/// decides, so a rescheduled failure that later succeeded is a success. A
/// stopped job with no complete allocation at all ended `Stopped`.
pub fn job_ending<'a>(job: &Job, allocs: impl IntoIterator<Item = &'a Allocation>) -> Option<JobEnding> {
    if job.status != job_status::DEAD {
        return None;
    }
    // (name, create index, ID, client status) of the latest allocation of each name.
    let mut latest: Vec<(&str, u64, &str, &str)> = Vec::new();
    let mut any_complete = false;
    for alloc in allocs {
        any_complete |= alloc.client_status == client_status::COMPLETE;
        let candidate = (alloc.name.as_str(), alloc.create_index, alloc.id.as_str(), alloc.client_status.as_str());
        match latest.iter_mut().find(|entry| entry.0 == candidate.0) {
            Some(entry) if (candidate.1, candidate.2) > (entry.1, entry.2) => *entry = candidate,
            Some(_) => {}
            None => latest.push(candidate),
        }
    }
    let any_latest = |status: &str| latest.iter().any(|entry| entry.3 == status);
    let ending = if any_latest(client_status::FAILED) {
        JobEnding::Failed
    } else if any_latest(client_status::LOST) {
        JobEnding::Lost
    } else if job.stop && !any_complete {
        JobEnding::Stopped
    } else {
        JobEnding::Complete
    };
    Some(ending)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dead(stop: bool) -> Job {
        Job { status: job_status::DEAD.to_string(), stop, ..Job::default() }
    }

    fn alloc(id: &str, name: &str, create_index: u64, status: &str) -> Allocation {
        Allocation {
            id: id.to_string(),
            name: name.to_string(),
            create_index,
            client_status: status.to_string(),
            ..Allocation::default()
        }
    }

    fn check(job: &Job, allocs: &[Allocation], expected: Option<JobEnding>) {
        assert_eq!(job_ending(job, allocs), expected, "{allocs:?}");
        let reversed: Vec<&Allocation> = allocs.iter().rev().collect();
        assert_eq!(job_ending(job, reversed), expected, "order does not matter: {allocs:?}");
    }

    #[test]
    fn only_dead_jobs_have_an_ending() {
        let running = Job { status: job_status::RUNNING.to_string(), ..Job::default() };
        check(&running, &[alloc("a", "j.g[0]", 1, client_status::FAILED)], None);
        check(&Job::default(), &[], None);
    }

    #[test]
    fn the_latest_allocation_of_each_name_decides() {
        let rescheduled = [alloc("a", "j.g[0]", 1, client_status::FAILED), alloc("b", "j.g[0]", 2, "complete")];
        check(&dead(false), &rescheduled, Some(JobEnding::Complete));
        let failed_later = [alloc("a", "j.g[0]", 1, client_status::COMPLETE), alloc("b", "j.g[0]", 2, "failed")];
        check(&dead(false), &failed_later, Some(JobEnding::Failed));
        // Same create index: the higher ID is the later one.
        let tie = [alloc("b", "j.g[0]", 3, client_status::FAILED), alloc("a", "j.g[0]", 3, "complete")];
        check(&dead(false), &tie, Some(JobEnding::Failed));
        let other_name_failed = [alloc("a", "j.g[0]", 1, client_status::COMPLETE), alloc("b", "j.g[1]", 1, "failed")];
        check(&dead(false), &other_name_failed, Some(JobEnding::Failed));
    }

    #[test]
    fn failed_beats_lost_beats_stopped() {
        let both = [alloc("a", "j.g[0]", 1, client_status::LOST), alloc("b", "j.g[1]", 1, client_status::FAILED)];
        check(&dead(true), &both, Some(JobEnding::Failed));
        check(&dead(true), &[alloc("a", "j.g[0]", 1, client_status::LOST)], Some(JobEnding::Lost));
        check(&dead(true), &[], Some(JobEnding::Stopped));
        check(&dead(true), &[alloc("a", "j.g[0]", 1, client_status::PENDING)], Some(JobEnding::Stopped));
    }

    #[test]
    fn a_stopped_job_that_completed_something_is_complete() {
        let replaced = [alloc("a", "j.g[0]", 1, client_status::COMPLETE), alloc("b", "j.g[0]", 2, "pending")];
        check(&dead(true), &replaced, Some(JobEnding::Complete));
        check(&dead(false), &[], Some(JobEnding::Complete));
    }
}
