//! Table tests of the launcher policy ([`decide`]) with a fixed clock: each
//! case is a job, its runs and slots, a time, and the actions expected,
//! rendered as one line per action.

use std::collections::BTreeMap;

use drover_types::{
    ConcurrencyPolicy, Job, JobSchedule, NANOS_PER_SEC, PeriodicConfig, Run, RunPolicy, RunRestartPolicy,
};

use super::decide::{Action, Attempt, ChildState, Decision, JobInput, backoff_nanos, decide, retry_at};
use super::*;
use crate::schedules::validate_schedules;

/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600 * NANOS_PER_SEC;

fn secs(n: i64) -> i64 {
    T0 + n * NANOS_PER_SEC
}

fn schedule(id: &str, cron: &str, policy: ConcurrencyPolicy, deadline: u64) -> JobSchedule {
    JobSchedule {
        id: id.to_string(),
        cron: cron.to_string(),
        time_zone: String::new(),
        enabled: true,
        concurrency_policy: policy,
        starting_deadline_seconds: deadline,
    }
}

fn job(schedules: Vec<JobSchedule>) -> Job {
    Job { id: "cron".to_string(), namespace: "default".to_string(), schedules, submit_time: T0, ..Job::default() }
}

fn run(run_id: &str, child: &str, status: &str, created: i64) -> Run {
    Run {
        id: run_id.to_string(),
        namespace: "default".to_string(),
        job_id: "cron".to_string(),
        child_job_ids: vec![child.to_string()],
        trigger: "schedule:every".to_string(),
        status: status.to_string(),
        created_at: created,
        allocations: vec!["a1".to_string()],
        started_at: created,
        ..Run::default()
    }
}

fn attempt(state: ChildState, exit_code: i32) -> Attempt {
    Attempt { state, allocs: vec!["a1".to_string()], exit_code }
}

/// One line per action, times in seconds after T0.
fn render(decision: &Decision) -> String {
    let at = |nanos: i64| (nanos - T0) / NANOS_PER_SEC;
    let mut lines: Vec<String> = decision
        .actions
        .iter()
        .map(|action| match action {
            Action::Launch { schedule_id, slot, replace } => {
                let replaced: Vec<String> = replace.iter().map(|r| format!("{} ({})", r.id, r.stop_reason)).collect();
                format!("launch {schedule_id}@{} replace [{}]", at(*slot), replaced.join(", "))
            }
            Action::Record { schedule_id, slot, status, reason } => {
                format!("record {schedule_id}@{} {status} {reason}", at(*slot))
            }
            Action::Update(run) => format!(
                "update {} {} {:?} exit {:?} allocs {:?}",
                run.id, run.status, run.reason, run.exit_codes, run.allocations
            ),
            Action::Retry(run) => format!("retry {} {:?} exit {:?}", run.id, run.reason, run.exit_codes),
            Action::Stop(run) => format!("stop {} {:?}", run.id, run.stop_reason),
        })
        .collect();
    lines.push(format!("wake {:?}", decision.next_wake.map(at)));
    lines.join("\n")
}

struct Case<'a> {
    job: Job,
    slots: &'a [(&'a str, i64)],
    runs: Vec<Run>,
    attempts: Vec<(&'a str, Attempt)>,
    now: i64,
}

fn check(case: Case<'_>, expect: &str) {
    let slots: BTreeMap<String, i64> = case.slots.iter().map(|(id, slot)| (id.to_string(), *slot)).collect();
    let attempts: BTreeMap<String, Attempt> =
        case.attempts.into_iter().map(|(child, attempt)| (child.to_string(), attempt)).collect();
    let input = JobInput {
        job: &case.job,
        slots: &slots,
        active_runs: case.runs,
        runs_only: false,
        attempts: &attempts,
        now: case.now,
    };
    let got = render(&decide(&input));
    assert_eq!(got, expect.trim(), "\n--- got ---\n{got}\n");
}

#[test]
fn launches_at_each_slot_and_sleeps_until_the_next() {
    let every_2s = || job(vec![schedule("every", "*/2 * * * * *", ConcurrencyPolicy::Allow, 0)]);
    check(Case { job: every_2s(), slots: &[], runs: vec![], attempts: vec![], now: secs(1) }, "wake Some(2)");
    check(
        Case { job: every_2s(), slots: &[], runs: vec![], attempts: vec![], now: secs(2) },
        "launch every@2 replace []\nwake Some(4)",
    );
    // Already handled: nothing, however often it is asked.
    check(
        Case { job: every_2s(), slots: &[("every", secs(2))], runs: vec![], attempts: vec![], now: secs(3) },
        "wake Some(4)",
    );
    // ALLOW launches beside an active run.
    check(
        Case {
            job: every_2s(),
            slots: &[("every", secs(2))],
            runs: vec![run("r1", "cron/periodic-2", "ACTIVE", secs(2))],
            attempts: vec![("cron/periodic-2", attempt(ChildState::Running, 0))],
            now: secs(4),
        },
        "launch every@4 replace []\nwake Some(6)",
    );
    // A disabled schedule or a stopped job launches nothing.
    let mut disabled = every_2s();
    disabled.schedules[0].enabled = false;
    check(Case { job: disabled, slots: &[], runs: vec![], attempts: vec![], now: secs(2) }, "wake None");
    check(
        Case { job: Job { stop: true, ..every_2s() }, slots: &[], runs: vec![], attempts: vec![], now: secs(2) },
        "wake None",
    );
}

#[test]
fn nomad_periodic_block_is_a_schedule() {
    let job = Job {
        periodic: Some(PeriodicConfig {
            spec: "*/5 * * * * *".to_string(),
            prohibit_overlap: true,
            ..PeriodicConfig::default()
        }),
        ..job(vec![])
    };
    check(
        Case {
            job,
            slots: &[],
            runs: vec![run("r1", "cron/periodic-0", "ACTIVE", T0)],
            attempts: vec![("cron/periodic-0", attempt(ChildState::Running, 0))],
            now: secs(5),
        },
        "record periodic@5 SKIPPED skipped: concurrency policy FORBID (run r1 is ACTIVE)\nwake Some(10)",
    );
}

#[test]
fn concurrency_policies() {
    let with = |policy| job(vec![schedule("every", "*/2 * * * * *", policy, 0)]);
    let active = || vec![run("r1", "cron/periodic-2", "ACTIVE", secs(2))];
    let running = || vec![("cron/periodic-2", attempt(ChildState::Running, 0))];
    check(
        Case {
            job: with(ConcurrencyPolicy::Forbid),
            slots: &[("every", secs(2))],
            runs: active(),
            attempts: running(),
            now: secs(4),
        },
        "record every@4 SKIPPED skipped: concurrency policy FORBID (run r1 is ACTIVE)\nwake Some(6)",
    );
    check(
        Case {
            job: with(ConcurrencyPolicy::Replace),
            slots: &[("every", secs(2))],
            runs: active(),
            attempts: running(),
            now: secs(4),
        },
        "launch every@4 replace [r1 (replaced: concurrency policy REPLACE (schedule every))]\nwake Some(6)",
    );
    // FORBID launches once the run finished, in the same decision.
    check(
        Case {
            job: with(ConcurrencyPolicy::Forbid),
            slots: &[("every", secs(2))],
            runs: active(),
            attempts: vec![("cron/periodic-2", attempt(ChildState::Complete { ended_at: secs(3) }, 0))],
            now: secs(4),
        },
        r#"
update r1 SUCCESS "completed" exit [0] allocs ["a1"]
launch every@4 replace []
wake Some(6)"#,
    );
}

#[test]
fn missed_launches_after_a_restart() {
    // Down from 2s to 9s: slots 4, 6, 8 were missed. Within a 5 s deadline the
    // newest starts late; the older ones are recorded.
    let with_deadline = |deadline| job(vec![schedule("every", "*/2 * * * * *", ConcurrencyPolicy::Allow, deadline)]);
    check(
        Case { job: with_deadline(5), slots: &[("every", secs(2))], runs: vec![], attempts: vec![], now: secs(9) },
        r#"
record every@4 FAILED missed: not launched at its time (only the newest missed launch starts late)
record every@6 FAILED missed: not launched at its time (only the newest missed launch starts late)
launch every@8 replace []
wake Some(10)"#,
    );
    // 1 s deadline: the newest is 1.5 s late, missed too.
    check(
        Case {
            job: with_deadline(1),
            slots: &[("every", secs(6))],
            runs: vec![],
            attempts: vec![],
            now: secs(9) + NANOS_PER_SEC / 2,
        },
        r#"
record every@8 FAILED missed: starting deadline 1s passed (1s late)
wake Some(10)"#,
    );
    // No deadline (Nomad's periodic): the newest always starts late.
    check(
        Case { job: with_deadline(0), slots: &[("every", secs(2))], runs: vec![], attempts: vec![], now: secs(5) },
        r#"
launch every@4 replace []
wake Some(6)"#,
    );
}

#[test]
fn run_status_follows_its_child() {
    let plain = || job(vec![]);
    check(
        Case {
            job: plain(),
            slots: &[],
            runs: vec![run("r1", "cron/periodic-2", "STARTING", secs(2))],
            attempts: vec![("cron/periodic-2", attempt(ChildState::Running, 0))],
            now: secs(3),
        },
        r#"
update r1 ACTIVE "" exit [] allocs ["a1"]
wake None"#,
    );
    check(
        Case {
            job: plain(),
            slots: &[],
            runs: vec![run("r1", "cron/periodic-2", "ACTIVE", secs(2))],
            attempts: vec![("cron/periodic-2", attempt(ChildState::Failed { ended_at: secs(3) }, 3))],
            now: secs(4),
        },
        r#"
update r1 FAILED "failed: exit code 3" exit [3] allocs ["a1"]
wake None"#,
    );
    let mut stopping = run("r1", "cron/periodic-2", "ACTIVE", secs(2));
    stopping.stop_reason = "stopped: by request".to_string();
    check(
        Case {
            job: plain(),
            slots: &[],
            runs: vec![stopping],
            attempts: vec![("cron/periodic-2", attempt(ChildState::Failed { ended_at: secs(3) }, 143))],
            now: secs(4),
        },
        r#"
update r1 FAILED "stopped: by request" exit [143] allocs ["a1"]
wake None"#,
    );
    check(
        Case {
            job: plain(),
            slots: &[],
            runs: vec![run("r1", "cron/periodic-2", "ACTIVE", secs(2))],
            attempts: vec![],
            now: secs(4),
        },
        r#"
update r1 FAILED "failed: child job cron/periodic-2 is gone" exit [] allocs ["a1"]
wake None"#,
    );
}

#[test]
fn on_failure_retries_with_backoff_until_the_deadline() {
    let policy = |deadline| RunPolicy {
        restart_policy: RunRestartPolicy::OnFailure,
        active_deadline_seconds: deadline,
        ..RunPolicy::default()
    };
    let failed_at = |ended| vec![("cron/periodic-2", attempt(ChildState::Failed { ended_at: ended }, 1))];
    let active = || vec![run("r1", "cron/periodic-2", "ACTIVE", secs(2))];
    // First failure at 3 s: the retry waits 1 s.
    check(
        Case {
            job: Job { run_policy: policy(0), ..job(vec![]) },
            slots: &[],
            runs: active(),
            attempts: failed_at(secs(3)),
            now: secs(3),
        },
        r#"
update r1 ACTIVE "attempt 1 failed with exit code 1; retrying" exit [1] allocs ["a1"]
wake Some(4)"#,
    );
    check(
        Case {
            job: Job { run_policy: policy(0), ..job(vec![]) },
            slots: &[],
            runs: active(),
            attempts: failed_at(secs(3)),
            now: secs(4),
        },
        r#"
retry r1 "attempt 1 failed with exit code 1" exit [1]
wake None"#,
    );
    // The fourth attempt failed: 8 s backoff.
    let mut fourth = run("r1", "cron/periodic-9", "ACTIVE", secs(2));
    fourth.child_job_ids = vec!["a".into(), "b".into(), "c".into(), "cron/periodic-9".into()];
    fourth.exit_codes = vec![1, 1, 1];
    check(
        Case {
            job: Job { run_policy: policy(0), ..job(vec![]) },
            slots: &[],
            runs: vec![fourth],
            attempts: vec![("cron/periodic-9", attempt(ChildState::Failed { ended_at: secs(10) }, 1))],
            now: secs(10),
        },
        r#"
update r1 ACTIVE "attempt 4 failed with exit code 1; retrying" exit [1, 1, 1, 1] allocs ["a1"]
wake Some(18)"#,
    );
    // With a 10 s deadline from creation at 2 s: after a failure at 11.5 s no
    // attempt fits; the run fails at 12 s, when the deadline is reached.
    check(
        Case {
            job: Job { run_policy: policy(10), ..job(vec![]) },
            slots: &[],
            runs: active(),
            attempts: failed_at(secs(11) + NANOS_PER_SEC / 2),
            now: secs(11) + NANOS_PER_SEC / 2,
        },
        r#"
update r1 ACTIVE "attempt 1 failed with exit code 1; no time for another before the active deadline" exit [1] allocs ["a1"]
wake Some(12)"#,
    );
    check(
        Case {
            job: Job { run_policy: policy(10), ..job(vec![]) },
            slots: &[],
            runs: active(),
            attempts: failed_at(secs(11) + NANOS_PER_SEC / 2),
            now: secs(12),
        },
        r#"
update r1 FAILED "failed: active deadline 10s reached after 1 attempt (last exit code 1)" exit [1] allocs ["a1"]
wake None"#,
    );
    // Success ends it whatever the policy.
    check(
        Case {
            job: Job { run_policy: policy(10), ..job(vec![]) },
            slots: &[],
            runs: active(),
            attempts: vec![("cron/periodic-2", attempt(ChildState::Complete { ended_at: secs(5) }, 0))],
            now: secs(5),
        },
        r#"
update r1 SUCCESS "completed" exit [0] allocs ["a1"]
wake None"#,
    );
}

/// The issue's case: `ON_FAILURE`, a 20 s deadline and a task that exits 3
/// 0.1 s after it starts. The backoff (1, 2, 4, 8, 16 s) alone would give up
/// after the fifth attempt at 15.5 s; the wait is capped at half the time left
/// instead, so attempts go on until the deadline, where the run fails.
#[test]
fn on_failure_retries_go_on_until_the_deadline() {
    let job = Job {
        run_policy: RunPolicy {
            restart_policy: RunRestartPolicy::OnFailure,
            active_deadline_seconds: 20,
            ..RunPolicy::default()
        },
        ..job(vec![])
    };
    let tenth = NANOS_PER_SEC / 10;
    let mut current = run("r1", "c1", "ACTIVE", T0);
    let mut starts = vec![T0];
    let mut now = T0 + tenth;
    let slots = BTreeMap::new();
    for _ in 0..100 {
        let ended_at = starts.last().copied().unwrap_or(T0) + tenth;
        let child = current.current_child().unwrap_or_default().to_string();
        let attempts: BTreeMap<String, Attempt> =
            [(child, attempt(ChildState::Failed { ended_at }, 3))].into_iter().collect();
        let input = JobInput {
            job: &job,
            slots: &slots,
            active_runs: vec![current.clone()],
            runs_only: false,
            attempts: &attempts,
            now,
        };
        let decision = decide(&input);
        match decision.actions.as_slice() {
            [Action::Retry(next)] => {
                current = next.clone();
                current.child_job_ids.push(format!("c{}", starts.len() + 1));
                starts.push(now);
                now += tenth;
            }
            [Action::Update(next)] if next.is_terminal() => {
                current = next.clone();
                break;
            }
            [Action::Update(next)] => {
                current = next.clone();
                now = decision.next_wake.unwrap_or(i64::MAX);
            }
            [] => now = decision.next_wake.unwrap_or(i64::MAX),
            other => panic!("unexpected actions {other:?}"),
        }
    }
    let tenths: Vec<i64> = starts.iter().map(|at| (at - T0) / tenth).collect();
    assert_eq!(tenths, vec![0, 11, 32, 73, 137, 169, 185, 196], "attempt start times (0.1 s)");
    assert_eq!(current.status, "FAILED");
    assert_eq!(current.reason, "failed: active deadline 20s reached after 8 attempts (last exit code 3)");
    assert_eq!(current.finished_at, secs(20));
    assert_eq!(current.exit_codes, vec![3; 8]);
}

#[test]
fn retry_waits_the_backoff_capped_by_the_time_left() {
    let at = |ended: i64, n, deadline: Option<i64>| {
        (retry_at(secs(ended), n, deadline.map(secs)) - T0) / (NANOS_PER_SEC / 10)
    };
    // No deadline: the backoff.
    assert_eq!(at(10, 5, None), 260);
    // 40 s left: 16 s backoff; 10 s left: 5 s; 1.5 s left: 1 s; 0.5 s: still 1 s (past the deadline).
    assert_eq!(at(10, 5, Some(50)), 260);
    assert_eq!(at(10, 5, Some(20)), 150);
    assert_eq!(retry_at(secs(10), 5, Some(secs(11) + NANOS_PER_SEC / 2)), secs(11));
    assert_eq!(retry_at(secs(10), 1, Some(secs(10) + NANOS_PER_SEC / 2)), secs(11));
}

#[test]
fn active_deadline_kills_a_run_still_going() {
    let job = Job { run_policy: RunPolicy { active_deadline_seconds: 5, ..RunPolicy::default() }, ..job(vec![]) };
    let active = || vec![run("r1", "cron/periodic-2", "ACTIVE", secs(2))];
    let running = || vec![("cron/periodic-2", attempt(ChildState::Running, 0))];
    check(Case { job: job.clone(), slots: &[], runs: active(), attempts: running(), now: secs(6) }, "wake Some(7)");
    check(
        Case { job: job.clone(), slots: &[], runs: active(), attempts: running(), now: secs(7) },
        r#"
stop r1 "killed: active deadline 5s passed"
wake None"#,
    );
}

#[test]
fn max_launch_delay_fails_a_run_that_never_started() {
    let job = Job { run_policy: RunPolicy { max_launch_delay_seconds: 60, ..RunPolicy::default() }, ..job(vec![]) };
    let mut waiting = run("r1", "cron/periodic-2", "STARTING", secs(2));
    waiting.started_at = 0;
    waiting.allocations.clear();
    let pending = || vec![("cron/periodic-2", Attempt { state: ChildState::Pending, allocs: vec![], exit_code: 0 })];
    check(
        Case { job: job.clone(), slots: &[], runs: vec![waiting.clone()], attempts: pending(), now: secs(30) },
        "wake Some(62)",
    );
    check(
        Case { job: job.clone(), slots: &[], runs: vec![waiting.clone()], attempts: pending(), now: secs(62) },
        r#"
stop r1 "failed: not started within its max launch delay of 60s"
wake None"#,
    );
    // Its stopped child is dead: the run fails with that reason.
    let mut stopping = waiting.clone();
    stopping.stop_reason = "failed: not started within its max launch delay of 60s".to_string();
    check(
        Case {
            job: job.clone(),
            slots: &[],
            runs: vec![stopping],
            attempts: vec![(
                "cron/periodic-2",
                Attempt { state: ChildState::Failed { ended_at: secs(63) }, allocs: vec![], exit_code: 0 },
            )],
            now: secs(63),
        },
        r#"
update r1 FAILED "failed: not started within its max launch delay of 60s" exit [0] allocs []
wake None"#,
    );
    // A run that started is never failed by it, however long it runs.
    let mut started = run("r1", "cron/periodic-2", "ACTIVE", secs(2));
    started.started_at = secs(3);
    check(
        Case {
            job,
            slots: &[],
            runs: vec![started],
            attempts: vec![("cron/periodic-2", attempt(ChildState::Running, 0))],
            now: secs(100),
        },
        "wake None",
    );
}

#[test]
fn huge_deadlines_never_overflow() {
    let job = Job {
        run_policy: RunPolicy {
            active_deadline_seconds: u64::MAX,
            max_launch_delay_seconds: u64::MAX,
            ..RunPolicy::default()
        },
        ..job(vec![])
    };
    let mut waiting = run("r1", "cron/periodic-2", "STARTING", secs(2));
    waiting.started_at = 0;
    let pending = vec![("cron/periodic-2", Attempt { state: ChildState::Pending, allocs: vec![], exit_code: 0 })];
    let expect = format!("wake Some({})", (i64::MAX - T0) / NANOS_PER_SEC);
    check(Case { job, slots: &[], runs: vec![waiting], attempts: pending, now: secs(3) }, &expect);
}

#[test]
fn backoff_doubles_and_caps() {
    let backoffs: Vec<i64> = (1..=9).map(|n| backoff_nanos(n) / NANOS_PER_SEC).collect();
    assert_eq!(backoffs, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
}

#[test]
fn schedule_validation_names_the_field() {
    let check_job = |job: Job, expect: Result<(), &str>| {
        assert_eq!(validate_schedules(&job), expect.map_err(str::to_string));
    };
    check_job(job(vec![schedule("nightly", "20 0 * * *", ConcurrencyPolicy::Allow, 900)]), Ok(()));
    check_job(
        job(vec![schedule("nightly", "61 0 * * *", ConcurrencyPolicy::Allow, 900)]),
        Err("schedules[0]: cron: invalid cron expression \"61 0 * * *\": component error: Number out of bounds"),
    );
    let mut bad_zone = schedule("nightly", "20 0 * * *", ConcurrencyPolicy::Allow, 900);
    bad_zone.time_zone = "Mars/Olympus".to_string();
    check_job(
        job(vec![bad_zone]),
        Err(
            "schedules[0]: timezone: unknown time zone \"Mars/Olympus\": expected an IANA name such as America/New_York",
        ),
    );
    check_job(
        job(vec![schedule("N", "20 0 * * *", ConcurrencyPolicy::Allow, 900)]),
        Err(
            "schedules[0]: id: schedule ID \"N\" contains 'N': only lowercase letters a-z, digits 0-9 and '-' are allowed",
        ),
    );
    check_job(
        job(vec![
            schedule("nightly", "20 0 * * *", ConcurrencyPolicy::Allow, 900),
            schedule("nightly", "20 1 * * *", ConcurrencyPolicy::Allow, 900),
        ]),
        Err("schedules[1] -> id: A schedule with id nightly already exists"),
    );
}

#[test]
fn a_decision_about_some_runs_updates_them_and_never_launches() {
    let every_2s = job(vec![schedule("every", "*/2 * * * * *", ConcurrencyPolicy::Forbid, 0)]);
    let slots: BTreeMap<String, i64> = BTreeMap::new();
    let attempts: BTreeMap<String, Attempt> =
        [("cron/periodic-2".to_string(), attempt(ChildState::Complete { ended_at: secs(3) }, 0))].into();
    let runs = vec![run("r1", "cron/periodic-2", "ACTIVE", secs(2))];
    let input = JobInput {
        job: &every_2s,
        slots: &slots,
        active_runs: runs,
        runs_only: true,
        attempts: &attempts,
        now: secs(4),
    };
    // The slot at 4 s is due, but only the whole job's decision may launch.
    assert_eq!(render(&decide(&input)), "update r1 SUCCESS \"completed\" exit [0] allocs [\"a1\"]\nwake None");
}

#[test]
fn a_change_of_one_child_marks_only_that_child_until_the_whole_job_is_due() {
    let mut dirty = Dirty::default();
    let parent = ("default".to_string(), "batch".to_string());
    dirty.child(parent.clone(), "batch/dispatch-1");
    dirty.child(parent.clone(), "batch/dispatch-2");
    let only_children = Scope::Children(["batch/dispatch-1".to_string(), "batch/dispatch-2".to_string()].into());
    assert_eq!(dirty.0.get(&parent), Some(&only_children));
    dirty.job(parent.clone());
    dirty.child(parent.clone(), "batch/dispatch-3");
    assert_eq!(dirty.pop_first(), Some((parent, Scope::Job)));
    assert_eq!(dirty.pop_first(), None);
}

#[test]
fn a_wake_for_some_runs_never_postpones_an_earlier_one() {
    let key = ("default".to_string(), "cron".to_string());
    let mut timers = Timers::default();
    timers.set(&key, Some(secs(10)));
    timers.set_earlier(&key, Some(secs(20)));
    assert_eq!(timers.earliest(), Some(secs(10)));
    timers.set_earlier(&key, None);
    assert_eq!(timers.earliest(), Some(secs(10)));
    timers.set_earlier(&key, Some(secs(5)));
    assert_eq!(timers.earliest(), Some(secs(5)));
    assert_eq!(timers.pop_due(secs(6)), vec![key]);
    assert_eq!(timers.earliest(), None);
}
