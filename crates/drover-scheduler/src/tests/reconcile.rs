//! Reconcile for service and batch jobs: counts, updates, stops, lost and
//! draining nodes, batch completion and reschedules, determinism.

use std::sync::Arc;

use drover_types::api::DesiredUpdates;
use drover_types::{
    Job, JobType, NANOS_PER_SEC, PeriodicConfig, RescheduleEvent, ReschedulePolicy, RescheduleTracker, client_status,
};

use super::{placed_names, placed_nodes, run, state_with_nodes};
use crate::testing::{MemoryState, input, job, node, running_alloc, service_job};
use crate::{Plan, SchedulerInput, schedule};

/// `now` used by [`crate::testing::input`].
const NOW: i64 = 1_000 * NANOS_PER_SEC;

/// The group's desired updates.
fn updates(plan: &Plan) -> DesiredUpdates {
    plan.desired_updates.get("group").copied().unwrap_or_default()
}

/// Stops as (alloc ID, description, client status, has next allocation), sorted.
fn stops(plan: &Plan) -> Vec<(String, String, Option<String>, bool)> {
    let mut stops: Vec<_> = plan
        .stops
        .iter()
        .map(|stop| {
            (
                stop.alloc_id.clone(),
                stop.desired_description.clone(),
                stop.client_status.clone(),
                stop.next_allocation.is_some(),
            )
        })
        .collect();
    stops.sort();
    stops
}

/// A state with `n_nodes` nodes, `old` stored as a version, and one running
/// allocation of `old` per index in `indexes` on node `n1`.
fn setup(n_nodes: usize, old: &Job, indexes: &[u32]) -> MemoryState {
    let mut state = state_with_nodes(n_nodes);
    state.add_job(old.clone());
    for index in indexes {
        state.add_alloc(running_alloc(old, "group", *index, "n1"));
    }
    state
}

/// `updates` expected, as `place, stop, ignore, in_place, destructive, migrate, now, later`.
fn expect_updates(plan: &Plan, expect: [u64; 8]) {
    let actual = updates(plan);
    let actual = [
        actual.place,
        actual.stop,
        actual.ignore,
        actual.in_place_update,
        actual.destructive_update,
        actual.migrate,
        actual.reschedule_now,
        actual.reschedule_later,
    ];
    assert_eq!(actual, expect, "place, stop, ignore, in_place, destructive, migrate, now, later");
}

#[test]
fn count_up_places_missing_indexes() {
    let current = service_job("web", 1);
    let mut state = setup(3, &current, &[0]);
    let mut scaled = current.clone();
    scaled.task_groups[0].count = 3;
    let (_, plan) = run(&mut state, scaled);
    assert_eq!(placed_names(&plan), vec!["web.group[1]", "web.group[2]"]);
    expect_updates(&plan, [2, 0, 1, 0, 0, 0, 0, 0]);
    assert_eq!(plan.queued_allocations.get("group"), Some(&0));
}

#[test]
fn count_up_to_new_version_updates_in_place() {
    // Nomad's docs example: count 1 -> 3 with one running alloc at the old version.
    let old = service_job("web", 1);
    let mut state = setup(3, &old, &[0]);
    let mut new = old.clone();
    new.version = 1;
    new.task_groups[0].count = 3;
    let (_, plan) = run(&mut state, new);
    expect_updates(&plan, [2, 0, 0, 1, 0, 0, 0, 0]);
    assert_eq!(plan.in_place_updates.len(), 1);
    assert_eq!(plan.in_place_updates[0].job_version, 1);
    assert!(plan.placements.iter().all(|alloc| alloc.job_version == 1));
}

#[test]
fn count_down_stops_highest_indexes() {
    let current = service_job("web", 3);
    let mut state = setup(3, &current, &[0, 1, 2]);
    let mut scaled = current.clone();
    scaled.task_groups[0].count = 1;
    let (_, plan) = run(&mut state, scaled);
    assert!(plan.placements.is_empty());
    let stopped: Vec<(String, String, Option<String>, bool)> = stops(&plan);
    assert_eq!(
        stopped,
        vec![
            ("web-group-1-n1".to_string(), "alloc not needed due to job update".to_string(), None, false),
            ("web-group-2-n1".to_string(), "alloc not needed due to job update".to_string(), None, false),
        ]
    );
    expect_updates(&plan, [0, 2, 1, 0, 0, 0, 0, 0]);
}

#[test]
fn in_place_versus_destructive() {
    type Edit = fn(&mut Job);
    let table: &[(&str, Edit, bool)] = &[
        (
            "env",
            |job| {
                job.task_groups[0].tasks[0].env.insert("A".into(), "1".into());
            },
            true,
        ),
        (
            "config",
            |job| {
                job.task_groups[0].tasks[0].config.insert("args".into(), serde_json::json!(["x"]));
            },
            true,
        ),
        ("cpu", |job| job.task_groups[0].tasks[0].resources.cpu = 200, true),
        ("driver", |job| job.task_groups[0].tasks[0].driver = "mock".into(), true),
        ("user", |job| job.task_groups[0].tasks[0].user = "nobody".into(), true),
        ("kill timeout", |job| job.task_groups[0].tasks[0].kill_timeout = 1, true),
        (
            "job meta",
            |job| {
                job.meta.insert("k".into(), "v".into());
            },
            true,
        ),
        (
            "group meta",
            |job| {
                job.task_groups[0].meta.insert("k".into(), "v".into());
            },
            true,
        ),
        (
            "new task",
            |job| {
                let mut extra = job.task_groups[0].tasks[0].clone();
                extra.name = "sidecar".into();
                job.task_groups[0].tasks.push(extra);
            },
            true,
        ),
        (
            "restart policy",
            |job| {
                if let Some(policy) = job.task_groups[0].restart_policy.as_mut() {
                    policy.attempts = 9;
                }
            },
            false,
        ),
        (
            "reschedule policy",
            |job| job.task_groups[0].reschedule_policy = Some(ReschedulePolicy::for_job_type(JobType::Batch)),
            false,
        ),
        (
            "constraint that holds",
            |job| job.constraints.push(super::constraint("${attr.kernel.name}", "=", "linux")),
            false,
        ),
        (
            "constraint that fails",
            |job| job.constraints.push(super::constraint("${attr.kernel.name}", "=", "windows")),
            true,
        ),
        ("priority only", |job| job.priority = 70, false),
    ];
    for (what, edit, destructive) in table {
        let old = service_job("web", 1);
        let mut state = setup(2, &old, &[0]);
        let mut new = old.clone();
        new.version = 1;
        edit(&mut new);
        let (_, plan) = run(&mut state, new);
        if *destructive {
            let stopped = stops(&plan);
            assert_eq!(stopped.len(), 1, "{what}");
            assert_eq!(stopped[0].1, "alloc is being updated due to job update", "{what}");
            assert_eq!(updates(&plan).destructive_update, 1, "{what}");
            assert!(plan.in_place_updates.is_empty(), "{what}");
            if stopped[0].3 {
                assert_eq!(plan.placements[0].previous_allocation, "web-group-0-n1", "{what}");
                assert_eq!(plan.placements[0].name, "web.group[0]", "{what}");
            }
        } else {
            assert!(plan.stops.is_empty(), "{what}: {:?}", plan.stops);
            assert_eq!(plan.in_place_updates.len(), 1, "{what}");
            assert_eq!(updates(&plan).in_place_update, 1, "{what}");
        }
    }
}

#[test]
fn unchanged_is_ignored() {
    let current = service_job("web", 2);
    let mut state = setup(2, &current, &[0, 1]);
    let (_, plan) = run(&mut state, current);
    assert!(plan.placements.is_empty() && plan.stops.is_empty() && plan.in_place_updates.is_empty());
    expect_updates(&plan, [0, 0, 2, 0, 0, 0, 0, 0]);
}

#[test]
fn job_stop_and_purge_stop_everything() {
    let current = service_job("web", 2);
    let mut state = setup(2, &current, &[0, 1]);
    let mut done = running_alloc(&current, "group", 5, "n2");
    done.id = "already-done".to_string();
    done.client_status = client_status::COMPLETE.to_string();
    state.add_alloc(done);
    let mut stopped_job = current.clone();
    stopped_job.stop = true;
    let (_, plan) = run(&mut state, stopped_job);
    let descriptions: Vec<String> = stops(&plan).into_iter().map(|stop| stop.1).collect();
    assert_eq!(descriptions, vec!["alloc not needed as job is stopped"; 2]);
    assert!(plan.placements.is_empty());

    let purged = SchedulerInput { job: None, ..input(&Arc::new(current), 1) };
    let plan = schedule(&state, &purged);
    assert_eq!(plan.stops.len(), 2);
    assert_eq!(updates(&plan).stop, 2);
}

#[test]
fn templates_get_nothing() {
    let mut state = state_with_nodes(2);
    let mut periodic = job("cron", JobType::Batch, 1);
    periodic.periodic = Some(PeriodicConfig { spec: "* * * * *".to_string(), ..PeriodicConfig::default() });
    let (_, plan) = run(&mut state, periodic);
    assert!(plan.placements.is_empty() && plan.stops.is_empty() && !plan.needs_blocked_eval);
}

#[test]
fn removed_group_is_stopped() {
    let old = service_job("web", 1);
    let mut state = setup(2, &old, &[0]);
    let mut new = old.clone();
    new.version = 1;
    new.task_groups[0].name = "renamed".to_string();
    let (_, plan) = run(&mut state, new);
    assert_eq!(stops(&plan)[0].1, "alloc not needed due to job update");
    assert_eq!(plan.desired_updates.get("group").map(|updates| updates.stop), Some(1));
    assert_eq!(placed_names(&plan), vec!["web.renamed[0]"]);
}

#[test]
fn down_node_marks_lost_and_replaces() {
    for missing in [false, true] {
        let current = service_job("web", 1);
        let mut state = setup(3, &current, &[0]);
        if missing {
            state.nodes.remove("n1");
        } else {
            let mut down = node("n1", "dc1");
            down.status = "down".to_string();
            state.add_node(down);
        }
        let (_, plan) = run(&mut state, current);
        let stopped = stops(&plan);
        assert_eq!(
            stopped,
            vec![(
                "web-group-0-n1".to_string(),
                "alloc is lost since its node is down".to_string(),
                Some("lost".to_string()),
                true
            )]
        );
        assert_eq!(plan.placements.len(), 1);
        assert_eq!(plan.placements[0].previous_allocation, "web-group-0-n1");
        assert_ne!(plan.placements[0].node_id, "n1");
        assert_eq!(plan.stops[0].next_allocation.as_deref(), Some(plan.placements[0].id.as_str()));
        expect_updates(&plan, [1, 1, 0, 0, 0, 0, 0, 0]);
    }
}

#[test]
fn batch_complete_on_down_node_is_not_replaced() {
    let current = job("b", JobType::Batch, 1);
    let mut state = setup(2, &current, &[]);
    let mut done = running_alloc(&current, "group", 0, "n1");
    done.client_status = client_status::COMPLETE.to_string();
    state.add_alloc(done);
    let mut down = node("n1", "dc1");
    down.status = "down".to_string();
    state.add_node(down);
    let (_, plan) = run(&mut state, current);
    assert!(plan.placements.is_empty() && plan.stops.is_empty(), "{plan:?}");
}

#[test]
fn draining_node_migrates() {
    let current = service_job("web", 2);
    let mut state = setup(3, &current, &[0, 1]);
    let mut draining = node("n1", "dc1");
    draining.drain = true;
    state.add_node(draining);
    let (_, plan) = run(&mut state, current);
    let descriptions: Vec<String> = stops(&plan).into_iter().map(|stop| stop.1).collect();
    assert_eq!(descriptions, vec!["alloc is being migrated"; 2]);
    assert_eq!(plan.placements.len(), 2);
    assert!(plan.placements.iter().all(|alloc| alloc.node_id != "n1" && !alloc.previous_allocation.is_empty()));
    expect_updates(&plan, [0, 0, 0, 0, 0, 2, 0, 0]);
}

#[test]
fn batch_complete_is_never_replaced() {
    let current = job("b", JobType::Batch, 2);
    let mut state = setup(2, &current, &[1]);
    let mut done = running_alloc(&current, "group", 0, "n2");
    done.id = "done".to_string();
    done.client_status = client_status::COMPLETE.to_string();
    state.add_alloc(done);
    let (_, plan) = run(&mut state, current.clone());
    assert!(plan.placements.is_empty(), "{:?}", plan.placements);
    expect_updates(&plan, [0, 0, 1, 0, 0, 0, 0, 0]);

    // Even at a new version.
    let mut new = current;
    new.version = 1;
    new.task_groups[0].tasks[0].env.insert("A".to_string(), "1".to_string());
    let (_, plan) = run(&mut state, new);
    assert!(plan.placements.iter().all(|alloc| alloc.name != "b.group[0]"));
}

/// A failed batch alloc at index 0 on `n1` that failed at `failed_at` with
/// `events` earlier reschedules.
fn failed_batch(events: Vec<RescheduleEvent>, failed_at: i64, policy: Option<ReschedulePolicy>) -> (MemoryState, Job) {
    let mut current = job("b", JobType::Batch, 1);
    if let Some(policy) = policy {
        current.task_groups[0].reschedule_policy = Some(policy);
    }
    let mut state = setup(2, &current, &[]);
    let mut failed = running_alloc(&current, "group", 0, "n1");
    failed.id = "failed".to_string();
    failed.client_status = client_status::FAILED.to_string();
    failed.modify_time = failed_at;
    failed.reschedule_tracker = Some(RescheduleTracker { events });
    state.add_alloc(failed);
    (state, current)
}

#[test]
fn batch_failed_reschedules_now() {
    // Batch default: 1 attempt in 24h, constant 5s delay.
    let (mut state, current) = failed_batch(Vec::new(), NOW - 10 * NANOS_PER_SEC, None);
    let (_, plan) = run(&mut state, current);
    assert_eq!(plan.placements.len(), 1);
    let replacement = &plan.placements[0];
    assert_eq!(replacement.previous_allocation, "failed");
    assert_eq!(replacement.name, "b.group[0]");
    let tracker = replacement.reschedule_tracker.clone().expect("tracker set");
    assert_eq!(tracker.events.len(), 1);
    assert_eq!(tracker.events[0].prev_alloc_id, "failed");
    assert_eq!(tracker.events[0].delay, 5 * NANOS_PER_SEC);
    assert_eq!(
        stops(&plan),
        vec![("failed".to_string(), "alloc was rescheduled because it failed".to_string(), None, true)]
    );
    assert_eq!(plan.stops[0].next_allocation.as_deref(), Some(replacement.id.as_str()));
    expect_updates(&plan, [1, 0, 0, 0, 0, 0, 1, 0]);
}

#[test]
fn batch_failed_reschedules_later() {
    let failed_at = NOW - 2 * NANOS_PER_SEC;
    let (mut state, current) = failed_batch(Vec::new(), failed_at, None);
    let (_, plan) = run(&mut state, current);
    assert!(plan.placements.is_empty() && plan.stops.is_empty());
    assert_eq!(plan.followups.len(), 1);
    assert_eq!(plan.followups[0].wait_until, failed_at + 5 * NANOS_PER_SEC);
    assert_eq!(plan.followups[0].alloc_ids, vec!["failed"]);
    expect_updates(&plan, [0, 0, 0, 0, 0, 0, 0, 1]);
    assert!(!plan.needs_blocked_eval);
}

#[test]
fn batch_failed_without_attempts_left_stays_failed() {
    let earlier = RescheduleEvent {
        reschedule_time: NOW - 3600 * NANOS_PER_SEC,
        prev_alloc_id: "older".to_string(),
        prev_node_id: "n2".to_string(),
        delay: 5 * NANOS_PER_SEC,
    };
    let (mut state, current) = failed_batch(vec![earlier.clone()], NOW - 100 * NANOS_PER_SEC, None);
    let (_, plan) = run(&mut state, current);
    assert!(plan.placements.is_empty() && plan.stops.is_empty() && plan.followups.is_empty());
    assert_eq!(plan.queued_allocations.get("group"), Some(&0));
    expect_updates(&plan, [0, 0, 0, 0, 0, 0, 0, 0]);

    // The same event outside the interval does not count.
    let policy = ReschedulePolicy { interval: 60 * NANOS_PER_SEC, ..ReschedulePolicy::for_job_type(JobType::Batch) };
    let (mut state, current) = failed_batch(vec![earlier], NOW - 100 * NANOS_PER_SEC, Some(policy));
    let (_, plan) = run(&mut state, current);
    assert_eq!(plan.placements.len(), 1);
    assert_eq!(plan.placements[0].reschedule_tracker.as_ref().map(|tracker| tracker.events.len()), Some(2));
}

#[test]
fn reschedule_delay_functions() {
    let policy = |function: &str| ReschedulePolicy {
        attempts: 0,
        interval: 0,
        delay: 10,
        delay_function: function.to_string(),
        max_delay: 100,
        unlimited: true,
    };
    let table = [
        ("constant", [10, 10, 10, 10, 10, 10]),
        ("exponential", [10, 20, 40, 80, 100, 100]),
        ("fibonacci", [10, 10, 20, 30, 50, 80]),
    ];
    for (function, expect) in table {
        let delays: Vec<i64> =
            (0..expect.len()).map(|n_previous| crate::reschedule::next_delay(&policy(function), n_previous)).collect();
        assert_eq!(delays, expect, "{function}");
    }
    let huge = ReschedulePolicy { delay: i64::MAX / 2, max_delay: 0, ..policy("exponential") };
    assert_eq!(crate::reschedule::next_delay(&huge, 200), i64::MAX);
}

#[test]
fn service_failed_uses_unlimited_exponential_default() {
    let mut current = service_job("web", 1);
    current.task_groups[0].reschedule_policy = None;
    let mut state = setup(2, &current, &[]);
    let mut failed = running_alloc(&current, "group", 0, "n1");
    failed.client_status = client_status::FAILED.to_string();
    failed.modify_time = NOW - 40 * NANOS_PER_SEC;
    let events = (0..5)
        .map(|event_idx| RescheduleEvent {
            reschedule_time: NOW - event_idx * NANOS_PER_SEC,
            ..RescheduleEvent::default()
        })
        .collect();
    failed.reschedule_tracker = Some(RescheduleTracker { events });
    state.add_alloc(failed);
    let (_, plan) = run(&mut state, current);
    // 30s * 2^5 = 960s after it failed.
    assert_eq!(plan.followups.len(), 1);
    assert_eq!(plan.followups[0].wait_until, NOW - 40 * NANOS_PER_SEC + 960 * NANOS_PER_SEC);
}

#[test]
fn determinism() {
    let build = || {
        let mut state = state_with_nodes(50);
        let test_job = state.add_job(service_job("web", 10));
        (state, test_job)
    };
    let (state, test_job) = build();
    let first = schedule(&state, &input(&test_job, 7));
    let (state_again, test_job_again) = build();
    let second = schedule(&state_again, &input(&test_job_again, 7));
    assert_eq!(first.placements, second.placements);
    let ids: std::collections::HashSet<&str> = first.placements.iter().map(|alloc| alloc.id.as_str()).collect();
    assert_eq!(ids.len(), 10);
    assert!(first.placements.iter().all(|alloc| uuid_like(&alloc.id)));
    let differs = (8..20).any(|seed| {
        let other = schedule(&state, &input(&test_job, seed));
        placed_nodes(&other) != placed_nodes(&first)
    });
    assert!(differs, "some other seed should choose other nodes");
}

fn uuid_like(text: &str) -> bool {
    text.len() == 36 && text.chars().filter(|ch| *ch == '-').count() == 4 && text.as_bytes()[14] == b'4'
}

#[test]
fn new_allocation_fields() {
    let mut state = state_with_nodes(1);
    let (test_job, plan) = run(&mut state, service_job("web", 1));
    let alloc = &plan.placements[0];
    assert_eq!(alloc.eval_id, "eval-1");
    assert_eq!(alloc.namespace, "default");
    assert_eq!(alloc.job_id, "web");
    assert_eq!(alloc.job_version, test_job.version);
    assert_eq!(alloc.node_name, "n1");
    assert_eq!(alloc.desired_status, "run");
    assert_eq!(alloc.client_status, "pending");
    assert_eq!(alloc.create_time, NOW);
    assert_eq!(alloc.modify_time, NOW);
    assert!(alloc.job.is_none());
    assert_eq!(alloc.allocated_resources.cpu(), 100);
    assert_eq!(alloc.allocated_resources.memory_mb(), 256);
    assert_eq!(alloc.allocated_resources.disk_mb(), 300);
    assert_eq!(alloc.metrics.nodes_evaluated, 1);
    assert_eq!(alloc.metrics.score_meta_data.len(), 1);
    assert_eq!(plan.eval_id, "eval-1");
}

#[test]
fn service_spreads_instances_over_nodes() {
    // Bin-packing alone would stack; anti-affinity spreads a service group.
    let mut state = state_with_nodes(4);
    let (_, plan) = run(&mut state, service_job("web", 4));
    let mut nodes = placed_nodes(&plan);
    nodes.dedup();
    assert!(nodes.len() >= 3, "{nodes:?}");
}
