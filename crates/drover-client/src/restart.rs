//! The restart policy as a pure decision: given the group's policy, the job
//! type, past restarts and how the task ended, whether and when to restart.
//! Mirrors Nomad's restart tracker (`client/allocrunner/taskrunner/restarts`).

use drover_types::{JobType, RestartPolicy, format_duration};

/// How a task run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// Exit code 0.
    Success,
    /// Non-zero exit, signal, lost task, recoverable start failure.
    Failure,
    /// A start failure retrying cannot fix (`missing command`).
    Unrecoverable,
}

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestartDecision {
    /// Restart after `delay` ns.
    Restart {
        /// Wait before starting again (ns).
        delay: i64,
        /// Nomad's restart reason.
        reason: String,
    },
    /// Stop for good with a `Not Restarting` event.
    NotRestarting {
        /// Nomad's restart reason (the event's message).
        reason: String,
        /// Whether the task failed.
        failed: bool,
    },
    /// A batch task finished successfully: dead, not failed, no event.
    Completed,
}

/// Everything the decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct RestartInput<'a> {
    /// The group's policy.
    pub policy: &'a RestartPolicy,
    /// The job's type.
    pub job_type: JobType,
    /// Times (Unix ns) of earlier policy restarts.
    pub restart_times: &'a [i64],
    /// Now (Unix ns).
    pub now: i64,
    /// How the run ended.
    pub outcome: RunOutcome,
    /// Fraction (0..=0.25) of `delay` added as jitter.
    pub jitter: f64,
}

/// Nomad's reason when restarts are allowed.
pub const REASON_WITHIN_POLICY: &str = "Restart within policy";
/// Nomad's reason when attempts are used up in `delay` mode.
pub const REASON_DELAY: &str = "Exceeded allowed attempts, applying a delay";
/// Nomad's reason for unrecoverable errors.
pub const REASON_UNRECOVERABLE: &str = "Error was unrecoverable";

/// Decides what happens after a task run ended.
pub fn decide(input: RestartInput<'_>) -> RestartDecision {
    let RestartInput { policy, job_type, restart_times, now, outcome, jitter } = input;
    match outcome {
        RunOutcome::Unrecoverable => {
            return RestartDecision::NotRestarting { reason: REASON_UNRECOVERABLE.to_string(), failed: true };
        }
        RunOutcome::Success if job_type.runs_to_completion() => return RestartDecision::Completed,
        RunOutcome::Success | RunOutcome::Failure => {}
    }
    let window_start = now.saturating_sub(policy.interval);
    let in_window: Vec<i64> = restart_times.iter().copied().filter(|t| *t > window_start).collect();
    let jittered = policy.delay + (policy.delay as f64 * jitter.clamp(0.0, 0.25)) as i64;
    if (in_window.len() as u64) < u64::from(policy.attempts) {
        return RestartDecision::Restart { delay: jittered, reason: REASON_WITHIN_POLICY.to_string() };
    }
    if policy.mode == "delay" {
        let oldest = in_window.iter().copied().min().unwrap_or(now);
        let until_window_passes = (oldest + policy.interval - now).max(0);
        return RestartDecision::Restart { delay: until_window_passes.max(jittered), reason: REASON_DELAY.to_string() };
    }
    let reason = if policy.attempts == 0 {
        "Policy allows no restarts".to_string()
    } else {
        format!(
            "Exceeded allowed attempts {} in interval {} and mode is \"{}\"",
            policy.attempts,
            format_duration(policy.interval),
            if policy.mode.is_empty() { "fail" } else { &policy.mode }
        )
    };
    RestartDecision::NotRestarting { reason, failed: true }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_types::NANOS_PER_SEC;

    const S: i64 = NANOS_PER_SEC;

    fn policy(attempts: u32, interval: i64, delay: i64, mode: &str) -> RestartPolicy {
        RestartPolicy { attempts, interval, delay, mode: mode.to_string() }
    }

    /// name, policy, job type, earlier restarts, outcome, jitter, expected decision.
    type Case<'a> = (&'a str, &'a RestartPolicy, JobType, Vec<i64>, RunOutcome, f64, RestartDecision);

    #[test]
    fn restart_table() {
        let batch = RestartPolicy::for_job_type(JobType::Batch);
        let service = RestartPolicy::for_job_type(JobType::Service);
        let delay_mode = policy(2, 60 * S, 5 * S, "delay");
        let no_attempts = policy(0, 60 * S, S, "fail");
        let now = 1_000_000 * S;
        let restart = |delay: i64| RestartDecision::Restart { delay, reason: REASON_WITHIN_POLICY.to_string() };
        let cases: Vec<Case<'_>> = vec![
            (
                "batch success completes",
                &batch,
                JobType::Batch,
                vec![],
                RunOutcome::Success,
                0.0,
                RestartDecision::Completed,
            ),
            ("batch failure restarts", &batch, JobType::Batch, vec![], RunOutcome::Failure, 0.0, restart(15 * S)),
            (
                "jitter adds up to 25%",
                &batch,
                JobType::Batch,
                vec![],
                RunOutcome::Failure,
                0.25,
                restart(15 * S + 15 * S / 4),
            ),
            (
                "jitter is capped",
                &batch,
                JobType::Batch,
                vec![],
                RunOutcome::Failure,
                3.0,
                restart(15 * S + 15 * S / 4),
            ),
            (
                "third restart allowed",
                &batch,
                JobType::Batch,
                vec![now - 2 * S, now - S],
                RunOutcome::Failure,
                0.0,
                restart(15 * S),
            ),
            (
                "batch attempts exhausted",
                &batch,
                JobType::Batch,
                vec![now - 3 * S, now - 2 * S, now - S],
                RunOutcome::Failure,
                0.0,
                RestartDecision::NotRestarting {
                    reason: "Exceeded allowed attempts 3 in interval 24h0m0s and mode is \"fail\"".to_string(),
                    failed: true,
                },
            ),
            (
                "old restarts fall out of the interval",
                &service,
                JobType::Service,
                vec![now - 3600 * S, now - 3000 * S],
                RunOutcome::Failure,
                0.0,
                restart(15 * S),
            ),
            (
                "service restarts on success",
                &service,
                JobType::Service,
                vec![],
                RunOutcome::Success,
                0.0,
                restart(15 * S),
            ),
            (
                "service attempts exhausted",
                &service,
                JobType::Service,
                vec![now - 2 * S, now - S],
                RunOutcome::Success,
                0.0,
                RestartDecision::NotRestarting {
                    reason: "Exceeded allowed attempts 2 in interval 30m0s and mode is \"fail\"".to_string(),
                    failed: true,
                },
            ),
            (
                "delay mode waits out the interval",
                &delay_mode,
                JobType::Service,
                vec![now - 50 * S, now - 10 * S],
                RunOutcome::Failure,
                0.0,
                RestartDecision::Restart { delay: 10 * S, reason: REASON_DELAY.to_string() },
            ),
            (
                "delay mode never waits less than delay",
                &delay_mode,
                JobType::Service,
                vec![now - 59 * S, now - 10 * S],
                RunOutcome::Failure,
                0.0,
                RestartDecision::Restart { delay: 5 * S, reason: REASON_DELAY.to_string() },
            ),
            (
                "unrecoverable never restarts",
                &service,
                JobType::Service,
                vec![],
                RunOutcome::Unrecoverable,
                0.0,
                RestartDecision::NotRestarting { reason: REASON_UNRECOVERABLE.to_string(), failed: true },
            ),
            (
                "zero attempts",
                &no_attempts,
                JobType::Batch,
                vec![],
                RunOutcome::Failure,
                0.0,
                RestartDecision::NotRestarting { reason: "Policy allows no restarts".to_string(), failed: true },
            ),
        ];
        for (name, policy, job_type, restart_times, outcome, jitter, expect) in cases {
            let got = decide(RestartInput { policy, job_type, restart_times: &restart_times, now, outcome, jitter });
            assert_eq!(got, expect, "{name}");
        }
    }
}
