//! The launcher's policy as a pure function: [`decide`] takes one template
//! job, its schedules, its unfinished runs, the state of their newest child
//! jobs ([`Attempt`]s), the last handled cron slot of every schedule and
//! `now`, and returns the [`Action`]s to write and the next time anything can
//! change ([`Decision`]). No I/O and no clock: the launcher loop in the parent
//! module reads the state, calls it and writes what it returns; the `ON_FAILURE`
//! backoff ([`backoff_nanos`], [`retry_at`]) is here too.

use std::collections::BTreeMap;

use drover_cron::CronSpec;
use drover_types::{ConcurrencyPolicy, Job, NANOS_PER_SEC, Run, RunRestartPolicy, run_status};

use crate::schedules::{to_datetime, to_nanos};

/// Most missed slots recorded one by one after a long outage (the newest ones).
const MAX_MISSED_RECORDED: usize = 10;

/// Most slots looked at when catching up.
const MAX_CATCH_UP: usize = 100_000;

/// Longest wait between `ON_FAILURE` attempts.
const MAX_BACKOFF_SECS: i64 = 60;

/// What the newest attempt (child job) of a run is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ChildState {
    /// The child job no longer exists.
    Missing,
    /// Waiting for placement or for its task to start.
    Pending,
    /// A task runs.
    Running,
    /// Finished successfully at `ended_at` (Unix ns).
    Complete {
        /// When.
        ended_at: i64,
    },
    /// Failed, was lost or stopped, at `ended_at` (Unix ns).
    Failed {
        /// When.
        ended_at: i64,
    },
}

/// The newest attempt of a run, as [`decide`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Attempt {
    /// What it does.
    pub(super) state: ChildState,
    /// Its allocations.
    pub(super) allocs: Vec<String>,
    /// Its exit code once it ended.
    pub(super) exit_code: i32,
}

/// Everything [`decide`] needs about one job.
#[derive(Debug, Clone)]
pub(super) struct JobInput<'a> {
    /// The template job.
    pub(super) job: &'a Job,
    /// Newest handled slot per schedule ID.
    pub(super) slots: &'a BTreeMap<String, i64>,
    /// Its unfinished runs (all of them, or only those named in `runs_only`).
    pub(super) active_runs: Vec<Run>,
    /// True when `active_runs` holds only the runs whose child changed: the
    /// decision then covers those runs and never launches (launch policies
    /// need every active run).
    pub(super) runs_only: bool,
    /// The newest attempt of each unfinished run, by child job ID.
    pub(super) attempts: &'a BTreeMap<String, Attempt>,
    /// The time (Unix ns).
    pub(super) now: i64,
}

/// One thing the launcher writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Action {
    /// Launch a run for `slot` of `schedule_id`, stopping the `replace` runs first.
    Launch {
        /// The schedule.
        schedule_id: String,
        /// The slot (Unix ns).
        slot: i64,
        /// Runs to stop (REPLACE), each with its stop reason set.
        replace: Vec<Run>,
    },
    /// Record a run that did not start (`SKIPPED` or missed `FAILED`) and mark the slot handled.
    Record {
        /// The schedule.
        schedule_id: String,
        /// The slot (Unix ns).
        slot: i64,
        /// `SKIPPED` or `FAILED`.
        status: &'static str,
        /// Why.
        reason: String,
    },
    /// Write a run's new status, allocations or exit codes.
    Update(Run),
    /// Start a new attempt of a run (its exit codes already updated).
    Retry(Run),
    /// Ask a run to stop: its stop reason is set; stop its newest child.
    Stop(Run),
}

/// The actions for one job and when to look again (Unix ns).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct Decision {
    /// What to write, in order.
    pub(super) actions: Vec<Action>,
    /// The next time something may be due.
    pub(super) next_wake: Option<i64>,
}

/// Wait before attempt `n_attempts + 1`: 1 s, 2 s, 4 s ... capped at 60 s.
pub(super) fn backoff_nanos(n_attempts: usize) -> i64 {
    let exponent = n_attempts.saturating_sub(1).min(6) as u32;
    (1_i64 << exponent).min(MAX_BACKOFF_SECS) * NANOS_PER_SEC
}

/// `secs` seconds in ns, saturating: a huge value from a job never overflows.
fn secs_to_nanos(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(NANOS_PER_SEC)
}

/// When the attempt after `n_attempts` failed ones starts, the last having
/// ended at `ended_at`: after the backoff, but with an active deadline at most
/// halfway to it (and at least 1 s after the failure), so attempts go on until
/// the deadline. At or after `deadline` when less than 1 s is left.
pub(super) fn retry_at(ended_at: i64, n_attempts: usize, deadline: Option<i64>) -> i64 {
    let backoff = backoff_nanos(n_attempts);
    let wait = match deadline {
        Some(deadline) => backoff.min((deadline.saturating_sub(ended_at) / 2).max(NANOS_PER_SEC)),
        None => backoff,
    };
    ended_at.saturating_add(wait)
}

/// The policy: what to do for one job at `input.now`.
pub(super) fn decide(input: &JobInput<'_>) -> Decision {
    let now = input.now;
    let policy = input.job.run_policy;
    let mut decision = Decision::default();
    let wake = |at: i64, decision: &mut Decision| {
        decision.next_wake = Some(decision.next_wake.map_or(at, |current| current.min(at)));
    };
    let mut still_active: Vec<Run> = Vec::new();
    for run in &input.active_runs {
        let Some(child_id) = run.current_child() else {
            continue;
        };
        let attempt = input.attempts.get(child_id).cloned().unwrap_or(Attempt {
            state: ChildState::Missing,
            allocs: Vec::new(),
            exit_code: 0,
        });
        let mut updated = run.clone();
        for alloc in &attempt.allocs {
            if !updated.allocations.contains(alloc) {
                updated.allocations.push(alloc.clone());
            }
        }
        let deadline = (policy.active_deadline_seconds > 0)
            .then(|| run.created_at.saturating_add(secs_to_nanos(policy.active_deadline_seconds)));
        let finish = |mut run: Run, status: &str, reason: String, at: i64| {
            run.status = status.to_string();
            run.reason = reason;
            run.finished_at = at;
            run
        };
        match attempt.state {
            ChildState::Missing => {
                let reason = if run.stop_reason.is_empty() {
                    format!("failed: child job {child_id} is gone")
                } else {
                    run.stop_reason.clone()
                };
                decision.actions.push(Action::Update(finish(updated, run_status::FAILED, reason, now)));
                continue;
            }
            ChildState::Complete { ended_at } => {
                if updated.exit_codes.len() < updated.child_job_ids.len() {
                    updated.exit_codes.push(attempt.exit_code);
                }
                updated.last_attempt_ended_at = ended_at;
                // A stopped run fails even when its task exits 0 on SIGTERM (as in Metronome).
                let (status, reason) = if run.stop_reason.is_empty() {
                    (run_status::SUCCESS, "completed".to_string())
                } else {
                    (run_status::FAILED, run.stop_reason.clone())
                };
                decision.actions.push(Action::Update(finish(updated, status, reason, ended_at.max(run.created_at))));
                continue;
            }
            ChildState::Failed { ended_at } => {
                if updated.exit_codes.len() < updated.child_job_ids.len() {
                    updated.exit_codes.push(attempt.exit_code);
                }
                updated.last_attempt_ended_at = ended_at;
                let n_attempts = updated.child_job_ids.len();
                if !run.stop_reason.is_empty() {
                    let reason = run.stop_reason.clone();
                    decision.actions.push(Action::Update(finish(updated, run_status::FAILED, reason, now)));
                    continue;
                }
                if policy.restart_policy == RunRestartPolicy::OnFailure {
                    let retry_at = retry_at(ended_at, n_attempts, deadline);
                    match deadline {
                        Some(deadline) if now >= deadline => {
                            let reason = format!(
                                "failed: active deadline {}s reached after {n_attempts} {} (last exit code {})",
                                policy.active_deadline_seconds,
                                if n_attempts == 1 { "attempt" } else { "attempts" },
                                attempt.exit_code
                            );
                            decision.actions.push(Action::Update(finish(updated, run_status::FAILED, reason, now)));
                        }
                        // Under a second left: no attempt could run; the run
                        // fails at its deadline.
                        Some(deadline) if retry_at >= deadline => {
                            updated.reason = format!(
                                "attempt {n_attempts} failed with exit code {}; no time for another before the active deadline",
                                attempt.exit_code
                            );
                            if updated != *run {
                                decision.actions.push(Action::Update(updated.clone()));
                            }
                            wake(deadline, &mut decision);
                            still_active.push(updated);
                        }
                        _ if now >= retry_at => {
                            updated.status = run_status::STARTING.to_string();
                            updated.reason =
                                format!("attempt {n_attempts} failed with exit code {}", attempt.exit_code);
                            decision.actions.push(Action::Retry(updated.clone()));
                            still_active.push(updated);
                        }
                        _ => {
                            updated.reason =
                                format!("attempt {n_attempts} failed with exit code {}; retrying", attempt.exit_code);
                            if updated != *run {
                                decision.actions.push(Action::Update(updated.clone()));
                            }
                            wake(retry_at, &mut decision);
                            still_active.push(updated);
                        }
                    }
                    continue;
                }
                let reason = format!("failed: exit code {}", attempt.exit_code);
                decision.actions.push(Action::Update(finish(updated, run_status::FAILED, reason, ended_at.max(now))));
                continue;
            }
            ChildState::Pending => {
                updated.status = run_status::STARTING.to_string();
            }
            ChildState::Running => {
                updated.status = run_status::ACTIVE.to_string();
                if updated.started_at == 0 {
                    updated.started_at = now;
                }
            }
        }
        // The max launch delay applies while the first attempt waits to run.
        let launch_by = (policy.max_launch_delay_seconds > 0
            && attempt.state == ChildState::Pending
            && updated.started_at == 0
            && updated.child_job_ids.len() == 1)
            .then(|| run.created_at.saturating_add(secs_to_nanos(policy.max_launch_delay_seconds)));
        if !run.stop_reason.is_empty() {
            if updated != *run {
                decision.actions.push(Action::Update(updated.clone()));
            }
        } else if deadline.is_some_and(|deadline| now >= deadline) {
            updated.stop_reason = format!("killed: active deadline {}s passed", policy.active_deadline_seconds);
            decision.actions.push(Action::Stop(updated.clone()));
        } else if launch_by.is_some_and(|launch_by| now >= launch_by) {
            updated.stop_reason =
                format!("failed: not started within its max launch delay of {}s", policy.max_launch_delay_seconds);
            decision.actions.push(Action::Stop(updated.clone()));
        } else {
            for at in deadline.into_iter().chain(launch_by) {
                wake(at, &mut decision);
            }
            if updated != *run {
                decision.actions.push(Action::Update(updated.clone()));
            }
        }
        still_active.push(updated);
    }

    if input.runs_only || input.job.stop || !input.job.is_periodic() {
        return decision;
    }
    let mut n_launched = 0;
    for schedule in input.job.effective_schedules() {
        if !schedule.enabled {
            continue;
        }
        let Ok(spec) = CronSpec::parse(&schedule.cron, &schedule.time_zone) else { continue };
        let handled = input.slots.get(&schedule.id).copied().unwrap_or(0);
        let base = handled.max(input.job.submit_time);
        let due = spec.launches_between(to_datetime(base), to_datetime(now), MAX_CATCH_UP);
        let Some(latest) = due.last().copied() else {
            if let Some(next) = spec.next_after(to_datetime(base)) {
                wake(to_nanos(next), &mut decision);
            }
            continue;
        };
        let n_older = due.len() - 1;
        for (slot_idx, missed) in due[..n_older].iter().enumerate() {
            if n_older - slot_idx > MAX_MISSED_RECORDED {
                continue;
            }
            decision.actions.push(Action::Record {
                schedule_id: schedule.id.clone(),
                slot: to_nanos(*missed),
                status: run_status::FAILED,
                reason: "missed: not launched at its time (only the newest missed launch starts late)".to_string(),
            });
        }
        let slot = to_nanos(latest);
        let lateness = now - slot;
        let deadline = secs_to_nanos(schedule.starting_deadline_seconds);
        if schedule.starting_deadline_seconds > 0 && lateness > deadline {
            decision.actions.push(Action::Record {
                schedule_id: schedule.id.clone(),
                slot,
                status: run_status::FAILED,
                reason: format!(
                    "missed: starting deadline {}s passed ({}s late)",
                    schedule.starting_deadline_seconds,
                    lateness / NANOS_PER_SEC
                ),
            });
        } else {
            let busy = !still_active.is_empty() || n_launched > 0;
            match schedule.concurrency_policy {
                ConcurrencyPolicy::Forbid if busy => {
                    let blocking = still_active.first().map(|run| format!(" (run {} is {})", run.id, run.status));
                    decision.actions.push(Action::Record {
                        schedule_id: schedule.id.clone(),
                        slot,
                        status: run_status::SKIPPED,
                        reason: format!("skipped: concurrency policy FORBID{}", blocking.unwrap_or_default()),
                    });
                }
                ConcurrencyPolicy::Replace => {
                    let replace: Vec<Run> = still_active
                        .drain(..)
                        .filter(|run| run.stop_reason.is_empty())
                        .map(|mut run| {
                            run.stop_reason =
                                format!("replaced: concurrency policy REPLACE (schedule {})", schedule.id);
                            run
                        })
                        .collect();
                    decision.actions.push(Action::Launch { schedule_id: schedule.id.clone(), slot, replace });
                    n_launched += 1;
                }
                _ => {
                    decision.actions.push(Action::Launch { schedule_id: schedule.id.clone(), slot, replace: vec![] });
                    n_launched += 1;
                }
            }
        }
        if let Some(next) = spec.next_after(latest.max(to_datetime(now))) {
            wake(to_nanos(next), &mut decision);
        }
    }
    decision
}
