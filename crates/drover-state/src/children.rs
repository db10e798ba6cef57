//! Per-parent counts of children (dispatched or periodic jobs) by status and,
//! for dead children, by how they ended: the job summary's `Children` block
//! and the `max_concurrent` gate read these instead of walking every child.
//!
//! A child's [`ChildClass`] depends on the child job and on its allocations,
//! so `StateMaps` classifies the child before and after every write to either
//! and moves it between buckets (see `StateMaps::recount_child`).

use drover_types::{Allocation, Job, JobEnding, job_status};

/// How many children of one parent are in each state.
///
/// `dead` = `complete + failed + stopped`; `pending + running + dead` is the
/// number of children in the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChildCounts {
    /// Children neither running nor dead (waiting for placement or held).
    pub pending: u64,
    /// Children with a live allocation.
    pub running: u64,
    /// Children that finished.
    pub dead: u64,
    /// Dead children that completed.
    pub complete: u64,
    /// Dead children that failed or were lost with their node.
    pub failed: u64,
    /// Dead children stopped before completing anything.
    pub stopped: u64,
    /// Children that are not dead and not stopped: what counts against a
    /// parent's `max_concurrent` (held children included).
    pub active: u64,
}

impl ChildCounts {
    /// Whether no child is counted.
    pub(crate) fn is_empty(&self) -> bool {
        *self == ChildCounts::default()
    }

    /// Counts one more child of `class`.
    pub(crate) fn add(&mut self, class: ChildClass) {
        self.step_counters_of(class, |counter| *counter += 1);
    }

    /// Counts one child of `class` less.
    pub(crate) fn remove(&mut self, class: ChildClass) {
        self.step_counters_of(class, |counter| *counter = counter.saturating_sub(1));
    }

    /// Applies `step` to every counter a child of `class` is counted in.
    fn step_counters_of(&mut self, class: ChildClass, step: impl Fn(&mut u64)) {
        match class.status {
            ChildStatus::Pending => step(&mut self.pending),
            ChildStatus::Running => step(&mut self.running),
            ChildStatus::Dead(ending) => {
                step(&mut self.dead);
                step(match ending {
                    JobEnding::Complete => &mut self.complete,
                    JobEnding::Failed | JobEnding::Lost => &mut self.failed,
                    JobEnding::Stopped => &mut self.stopped,
                });
            }
        }
        if class.active() {
            step(&mut self.active);
        }
    }
}

/// What one child counts as in its parent's [`ChildCounts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChildClass {
    status: ChildStatus,
    stop: bool,
}

/// A child's status bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChildStatus {
    Pending,
    Running,
    Dead(JobEnding),
}

impl ChildClass {
    /// Classifies `child` given every allocation it has.
    pub(crate) fn of<'a>(child: &Job, allocs: impl IntoIterator<Item = &'a Allocation>) -> ChildClass {
        let status = match child.status.as_str() {
            job_status::RUNNING => ChildStatus::Running,
            job_status::DEAD => {
                ChildStatus::Dead(drover_types::job_ending(child, allocs).unwrap_or(JobEnding::Complete))
            }
            _ => ChildStatus::Pending,
        };
        ChildClass { status, stop: child.stop }
    }

    fn active(self) -> bool {
        !self.stop && !matches!(self.status, ChildStatus::Dead(_))
    }

    /// Whether the child is dead (the only class an archived child has).
    pub(crate) fn is_dead(self) -> bool {
        matches!(self.status, ChildStatus::Dead(_))
    }

    /// The class of an archived child (dead, or pending) as a small number
    /// for its row (`jobs.archived`), so a restart can count archived
    /// children without decoding them; `None` for a running child.
    pub(crate) fn archive_code(self) -> Option<i64> {
        let status = match self.status {
            ChildStatus::Dead(JobEnding::Complete) => 0,
            ChildStatus::Dead(JobEnding::Failed) => 1,
            ChildStatus::Dead(JobEnding::Lost) => 2,
            ChildStatus::Dead(JobEnding::Stopped) => 3,
            ChildStatus::Pending => 4,
            ChildStatus::Running => return None,
        };
        Some(status * 2 + i64::from(self.stop))
    }

    /// The class an archived row's code stands for (see [`ChildClass::archive_code`]).
    pub(crate) fn from_archive_code(code: i64) -> Option<ChildClass> {
        if !(0..10).contains(&code) {
            return None;
        }
        let status = match code / 2 {
            0 => ChildStatus::Dead(JobEnding::Complete),
            1 => ChildStatus::Dead(JobEnding::Failed),
            2 => ChildStatus::Dead(JobEnding::Lost),
            3 => ChildStatus::Dead(JobEnding::Stopped),
            _ => ChildStatus::Pending,
        };
        Some(ChildClass { status, stop: code % 2 == 1 })
    }
}

#[cfg(test)]
mod tests {
    use drover_types::client_status;

    use super::*;

    fn child(status: &str, stop: bool) -> Job {
        Job { status: status.to_string(), stop, ..Job::default() }
    }

    fn counts_of(class: ChildClass) -> ChildCounts {
        let mut counts = ChildCounts::default();
        counts.add(class);
        counts
    }

    #[test]
    fn each_class_lands_in_its_buckets() {
        let failed = Allocation { client_status: client_status::FAILED.to_string(), ..Allocation::default() };
        let lost = Allocation { client_status: client_status::LOST.to_string(), ..Allocation::default() };
        let cases = [
            (ChildClass::of(&child("pending", false), []), ChildCounts { pending: 1, active: 1, ..Default::default() }),
            (ChildClass::of(&child("", false), []), ChildCounts { pending: 1, active: 1, ..Default::default() }),
            (ChildClass::of(&child("pending", true), []), ChildCounts { pending: 1, ..Default::default() }),
            (ChildClass::of(&child("running", false), []), ChildCounts { running: 1, active: 1, ..Default::default() }),
            (ChildClass::of(&child("dead", false), []), ChildCounts { dead: 1, complete: 1, ..Default::default() }),
            (ChildClass::of(&child("dead", true), []), ChildCounts { dead: 1, stopped: 1, ..Default::default() }),
            (
                ChildClass::of(&child("dead", false), [&failed]),
                ChildCounts { dead: 1, failed: 1, ..Default::default() },
            ),
            (ChildClass::of(&child("dead", true), [&lost]), ChildCounts { dead: 1, failed: 1, ..Default::default() }),
        ];
        for (class, expected) in cases {
            assert_eq!(counts_of(class), expected, "{class:?}");
        }
    }

    #[test]
    fn archive_codes_round_trip_for_dead_and_pending_classes() {
        let lost = Allocation { client_status: client_status::LOST.to_string(), ..Allocation::default() };
        for stop in [false, true] {
            let classes = [
                ChildClass::of(&child("dead", stop), []),
                ChildClass::of(&child("dead", stop), [&lost]),
                ChildClass::of(&child("pending", stop), []),
            ];
            for class in classes {
                let code = class.archive_code().expect("an archivable class has a code");
                assert_eq!(ChildClass::from_archive_code(code), Some(class));
            }
        }
        assert_eq!(ChildClass::of(&child("running", false), []).archive_code(), None);
        assert_eq!(ChildClass::from_archive_code(10), None);
        assert_eq!(ChildClass::from_archive_code(-1), None);
    }

    #[test]
    fn remove_undoes_add() {
        let mut counts = ChildCounts::default();
        let running = ChildClass::of(&child("running", false), []);
        let dead = ChildClass::of(&child("dead", true), []);
        counts.add(running);
        counts.add(dead);
        counts.remove(running);
        assert_eq!(counts, ChildCounts { dead: 1, stopped: 1, ..Default::default() });
        counts.remove(dead);
        assert!(counts.is_empty());
    }
}
