//! Reschedule policy: whether and when a failed allocation is replaced.

use drover_types::{Allocation, JobType, ReschedulePolicy, TaskGroup};

/// What to do with a failed allocation that has no replacement yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RescheduleDecision {
    /// Replace it now, after this delay (ns) was waited out.
    Now {
        /// The delay applied.
        delay: i64,
    },
    /// Replace it at this time (Unix ns).
    Later {
        /// When it becomes due.
        wait_until: i64,
    },
    /// No attempts left: it stays failed.
    Never,
}

/// The group's reschedule policy, or the job type's default.
pub(crate) fn group_policy(job_type: JobType, group: &TaskGroup) -> ReschedulePolicy {
    group.reschedule_policy.clone().unwrap_or_else(|| ReschedulePolicy::for_job_type(job_type))
}

/// When the allocation last changed on its client: the latest task finish
/// time, else its modify time (Nomad's `LastEventTime`).
pub(crate) fn last_event_time(alloc: &Allocation) -> i64 {
    let finished = alloc.task_states.values().map(|task_state| task_state.finished_at).max().unwrap_or(0);
    if finished > 0 { finished } else { alloc.modify_time }
}

/// Decides a failed allocation's reschedule under `policy` at `now`.
pub(crate) fn decide(policy: &ReschedulePolicy, alloc: &Allocation, now: i64) -> RescheduleDecision {
    let events = alloc.reschedule_tracker.as_ref().map(|tracker| tracker.events.as_slice()).unwrap_or_default();
    if !policy.unlimited {
        let window_start = now.saturating_sub(policy.interval);
        let n_recent =
            events.iter().filter(|event| policy.interval <= 0 || event.reschedule_time > window_start).count();
        if n_recent >= policy.attempts as usize {
            return RescheduleDecision::Never;
        }
    }
    let delay = next_delay(policy, events.len());
    let due = last_event_time(alloc).saturating_add(delay);
    if due <= now { RescheduleDecision::Now { delay } } else { RescheduleDecision::Later { wait_until: due } }
}

/// The delay before reschedule number `n_previous + 1`.
pub(crate) fn next_delay(policy: &ReschedulePolicy, n_previous: usize) -> i64 {
    let base = policy.delay.max(0);
    let cap = |delay: i64| if policy.max_delay > 0 { delay.min(policy.max_delay) } else { delay };
    let delay = match policy.delay_function.as_str() {
        "exponential" => {
            let mut delay = base;
            for _ in 0..n_previous {
                delay = cap(delay.saturating_mul(2));
            }
            delay
        }
        "fibonacci" => {
            let (mut previous, mut current) = (base, base);
            for _ in 1..n_previous {
                let next = cap(previous.saturating_add(current));
                previous = current;
                current = next;
            }
            current
        }
        _ => base,
    };
    cap(delay)
}
