//! One conformance suite for every state backend: each `check_*` function
//! takes a fresh store and asserts behaviour any backend must share; the
//! `#[tokio::test]`s at the bottom run it against memory and SQLite.

mod common;

use std::sync::Arc;
use std::time::Duration;

use drover_state::{AllocDesiredUpdate, ChangedObject, Op, Precondition, StateError, StateStore, Txn};
use drover_types::{Job, Run, client_status, desired_status, eval_status, job_status, run_status, run_trigger};

use common::{alloc, child_of, eval, job, job_in, node, txn};

async fn apply_ok(store: &StateStore, ops: Vec<Op>) -> u64 {
    store.apply(txn(ops)).await.expect("the transaction applies").index
}

async fn check_job_register_update_and_versions(store: &StateStore) {
    let first = apply_ok(store, vec![Op::UpsertJob(job("web"))]).await;
    assert_eq!(first, 1, "a fresh store commits index 1 first");
    let second = apply_ok(store, vec![Op::UpsertJob(Job { priority: 80, ..job("web") })]).await;
    assert_eq!(second, 2);
    let third = apply_ok(store, vec![Op::UpsertJob(Job { priority: 80, ..job("web") })]).await;

    let snapshot = store.snapshot();
    assert_eq!(snapshot.index(), third);
    assert_eq!(store.index(), third);
    let stored = snapshot.job("default", "web").expect("job stored");
    assert_eq!(
        (stored.version, stored.create_index, stored.job_modify_index, stored.modify_index),
        (1, first, second, third)
    );
    let versions: Vec<u64> = snapshot.job_versions("default", "web").iter().map(|job| job.version).collect();
    assert_eq!(versions, vec![1, 0], "newest first");
    assert_eq!(snapshot.job_version("default", "web", 0).map(|job| job.priority), Some(0));
    assert!(snapshot.job_version("default", "web", 2).is_none());
}

async fn check_latest_version_is_the_job_itself(store: &StateStore) {
    apply_ok(store, vec![Op::UpsertJob(job("web"))]).await;
    apply_ok(store, vec![Op::UpsertJob(Job { priority: 70, ..job("web") })]).await;
    apply_ok(store, vec![Op::UpsertJob(Job { priority: 90, ..job("web") })]).await;
    // Stopping (and the status it derives) replaces the job without a new version; the latest version follows.
    apply_ok(store, vec![Op::UpsertJob(Job { stop: true, priority: 90, ..job("web") })]).await;

    let snapshot = store.snapshot();
    let latest = snapshot.job("default", "web").expect("job stored");
    let versions = snapshot.job_versions("default", "web");
    let listed: Vec<(u64, i32)> = versions.iter().map(|job| (job.version, job.priority)).collect();
    assert_eq!(listed, vec![(2, 90), (1, 70), (0, 0)], "history across updates, newest first, no duplicate");
    assert!(Arc::ptr_eq(&versions[0], &latest), "the latest version is the job, not a copy");
    let by_number = snapshot.job_version("default", "web", 2).expect("latest by number");
    assert!(Arc::ptr_eq(&by_number, &latest));
    assert!(by_number.stop, "it carries the job's changes since its version was created");
    assert_eq!(snapshot.job_version("default", "web", 1).map(|job| job.priority), Some(70));
    assert!(snapshot.job_version("default", "web", 3).is_none());
    assert!(
        snapshot.job_version("default", "nope", 0).is_none() && snapshot.job_versions("default", "nope").is_empty()
    );
}

async fn check_children_share_the_parents_task_groups(store: &StateStore) {
    apply_ok(store, vec![Op::UpsertJob(job("batch"))]).await;
    let parent = store.snapshot().job("default", "batch").expect("parent stored");
    apply_ok(store, vec![Op::UpsertJob(child_of(&parent, "batch/dispatch-1"))]).await;
    // A status change rewrites the child; it still shares.
    apply_ok(store, vec![Op::UpsertEvals(vec![eval("e1", "batch/dispatch-1", eval_status::BLOCKED)])]).await;
    let snapshot = store.snapshot();
    let child = snapshot.job("default", "batch/dispatch-1").expect("child stored");
    assert_eq!(child.status, job_status::PENDING);
    assert!(child.task_groups.is_shared_with(&parent.task_groups), "one copy of the spec for both");

    // Changing a child's copy leaves the parent alone.
    let mut changed = Job::clone(&child);
    changed.task_groups[0].count = 7;
    apply_ok(store, vec![Op::UpsertJob(changed)]).await;
    let snapshot = store.snapshot();
    let child = snapshot.job("default", "batch/dispatch-1").expect("child stored");
    let parent_now = snapshot.job("default", "batch").expect("parent stored");
    assert_eq!((child.version, child.task_groups[0].count), (1, 7));
    assert_eq!(parent_now.task_groups[0].count, 1);
    assert!(parent_now.task_groups.is_shared_with(&parent.task_groups));
    assert!(!child.task_groups.is_shared_with(&parent.task_groups));
}

async fn check_snapshots_are_immutable(store: &StateStore) {
    apply_ok(store, vec![Op::UpsertJob(job("web"))]).await;
    let before = store.snapshot();
    apply_ok(store, vec![Op::UpsertJob(job("api")), Op::UpsertNode(node("n1"))]).await;
    assert_eq!(before.resident_jobs().len(), 1);
    assert!(before.node("n1").is_none());
    assert_eq!(store.snapshot().resident_jobs().len(), 2);
    assert_eq!(store.snapshot().index(), before.index() + 1);
}

async fn check_failed_precondition_writes_nothing(store: &StateStore) {
    apply_ok(store, vec![Op::UpsertJob(job("web"))]).await;
    let index_before = store.index();
    let conflicting = Txn {
        preconditions: vec![Precondition::JobModifyIndex {
            namespace: "default".to_string(),
            job_id: "web".to_string(),
            index: 0,
        }],
        ops: vec![Op::UpsertJob(Job { priority: 1, ..job("web") }), Op::UpsertNode(node("n1"))],
    };
    let err = store.apply(conflicting).await.expect_err("the job exists");
    assert!(matches!(err, StateError::Conflict(_)), "{err}");
    let missing = txn(vec![Op::UpdateAllocsDesired(vec![AllocDesiredUpdate {
        alloc_id: "nope".to_string(),
        ..AllocDesiredUpdate::default()
    }])]);
    assert!(matches!(store.apply(missing).await, Err(StateError::NotFound(_))));
    assert_eq!(store.index(), index_before, "failed transactions use no index");
    let snapshot = store.snapshot();
    assert!(snapshot.node("n1").is_none());
    assert_eq!(snapshot.job("default", "web").map(|job| job.priority), Some(0));
}

async fn check_prefix_reads(store: &StateStore) {
    apply_ok(
        store,
        vec![
            Op::UpsertJob(job("web")),
            Op::UpsertJob(job("web-2")),
            Op::UpsertJob(job("api")),
            Op::UpsertJob(job_in("alpha", "web-a")),
            Op::UpsertJob(job_in("zeta", "web-z")),
            Op::UpsertJob(job_in("zeta", "other")),
            Op::UpsertEvals(vec![
                eval("aa11", "web", eval_status::COMPLETE),
                eval("aa22", "web", eval_status::COMPLETE),
                eval("bb11", "web", eval_status::COMPLETE),
            ]),
            Op::upsert_allocs(vec![
                alloc("cc11", "web", "n1", "aa11", 1, 1, 1),
                alloc("cd11", "web", "n1", "aa11", 1, 1, 1),
            ]),
            Op::UpsertNode(node("n1")),
            Op::UpsertNode(node("n12")),
            Op::UpsertNode(node("m1")),
        ],
    )
    .await;
    let snapshot = store.snapshot();
    let ids = |jobs: Vec<Arc<Job>>| jobs.iter().map(|job| format!("{}/{}", job.namespace, job.id)).collect::<Vec<_>>();
    assert_eq!(ids(snapshot.jobs_by_prefix("default", "web")), vec!["default/web", "default/web-2"]);
    assert_eq!(ids(snapshot.jobs_by_prefix("default", "")), vec!["default/api", "default/web", "default/web-2"]);
    assert_eq!(
        ids(snapshot.jobs_by_prefix("*", "web")),
        vec!["alpha/web-a", "default/web", "default/web-2", "zeta/web-z"]
    );
    assert_eq!(ids(snapshot.jobs_by_prefix("*", "")).len(), 6);
    assert!(snapshot.jobs_by_prefix("nowhere", "").is_empty());
    assert_eq!(ids(snapshot.resident_jobs()).first().map(String::as_str), Some("alpha/web-a"));

    let eval_ids: Vec<String> = snapshot.evals_by_prefix("aa").iter().map(|eval| eval.id.clone()).collect();
    assert_eq!(eval_ids, vec!["aa11", "aa22"]);
    assert_eq!(snapshot.resident_evals().len(), 3);
    let alloc_ids: Vec<String> = snapshot.allocs_by_prefix("cc").iter().map(|alloc| alloc.id.clone()).collect();
    assert_eq!(alloc_ids, vec!["cc11"]);
    assert_eq!(snapshot.allocs_by_prefix("c").len(), 2);
    let node_ids: Vec<String> = snapshot.nodes_by_prefix("n1").iter().map(|node| node.id.clone()).collect();
    assert_eq!(node_ids, vec!["n1", "n12"]);
    assert_eq!(snapshot.nodes().len(), 3);
    assert!(snapshot.allocs_by_prefix("zz").is_empty());
}

async fn check_secondary_indexes(store: &StateStore) {
    let child = Job { parent_id: "batch".to_string(), dispatched: true, ..job("batch/dispatch-1") };
    apply_ok(
        store,
        vec![
            Op::UpsertNode(node("n1")),
            Op::UpsertNode(node("n2")),
            Op::UpsertJob(job("batch")),
            Op::UpsertJob(child),
            Op::UpsertJob(job("web")),
            Op::UpsertEvals(vec![eval("e1", "web", eval_status::COMPLETE), eval("e2", "batch", eval_status::PENDING)]),
            Op::upsert_allocs(vec![
                alloc("a1", "web", "n1", "e1", 100, 256, 10),
                alloc("a2", "web", "n2", "e1", 200, 512, 20),
                alloc("a3", "web", "n1", "e1", 300, 128, 30),
            ]),
        ],
    )
    .await;
    let snapshot = store.snapshot();
    let alloc_ids =
        |allocs: Vec<Arc<drover_types::Allocation>>| allocs.iter().map(|alloc| alloc.id.clone()).collect::<Vec<_>>();
    assert_eq!(alloc_ids(snapshot.allocs_by_job("default", "web")), vec!["a1", "a2", "a3"]);
    assert_eq!(alloc_ids(snapshot.allocs_by_node("n1")), vec!["a1", "a3"]);
    assert_eq!(alloc_ids(snapshot.allocs_by_eval("e1")), vec!["a1", "a2", "a3"]);
    assert!(snapshot.allocs_by_node("n3").is_empty());
    assert_eq!(snapshot.evals_by_job("default", "batch").len(), 1);
    let children: Vec<String> = snapshot.children_of("default", "batch").iter().map(|job| job.id.clone()).collect();
    assert_eq!(children, vec!["batch/dispatch-1"]);
    assert_eq!(snapshot.node_used("n1"), (400, 384, 40));
    assert_eq!(snapshot.node_used("n3"), (0, 0, 0));
    assert!(snapshot.alloc("a1").expect("alloc stored").job.is_none());
    assert_eq!(snapshot.job("default", "web").map(|job| job.status.clone()), Some(job_status::RUNNING.to_string()));
    assert_eq!(snapshot.job("default", "batch").map(|job| job.status.clone()), Some(job_status::PENDING.to_string()));

    apply_ok(
        store,
        vec![
            Op::UpdateAllocsDesired(vec![AllocDesiredUpdate {
                alloc_id: "a1".to_string(),
                desired_status: Some(desired_status::STOP.to_string()),
                client_status: Some(client_status::LOST.to_string()),
                ..AllocDesiredUpdate::default()
            }]),
            Op::DeleteAllocs(vec!["a3".to_string()]),
            Op::DeleteEvals(vec!["e2".to_string()]),
        ],
    )
    .await;
    let snapshot = store.snapshot();
    assert_eq!(snapshot.node_used("n1"), (0, 0, 0));
    assert_eq!(alloc_ids(snapshot.allocs_by_node("n1")), vec!["a1"]);
    assert!(snapshot.evals_by_job("default", "batch").is_empty());
    assert_eq!(snapshot.job("default", "batch").map(|job| job.status.clone()), Some(job_status::PENDING.to_string()));

    apply_ok(store, vec![Op::PurgeJob { namespace: "default".to_string(), job_id: "batch/dispatch-1".to_string() }])
        .await;
    let snapshot = store.snapshot();
    assert!(snapshot.children_of("default", "batch").is_empty());
    assert!(snapshot.job_versions("default", "batch/dispatch-1").is_empty());

    apply_ok(store, vec![Op::DeleteNode("n2".to_string())]).await;
    let snapshot = store.snapshot();
    assert!(snapshot.node("n2").is_none());
    assert_eq!(alloc_ids(snapshot.allocs_by_node("n2")), vec!["a2"], "allocs outlive their node");
}

async fn check_live_and_counting_indexes(store: &StateStore) {
    let child = |n_child: u32, token: &str| Job {
        parent_id: "batch".to_string(),
        dispatched: true,
        dispatch_idempotency_token: token.to_string(),
        ..job(&format!("batch/dispatch-{n_child}"))
    };
    let named = |alloc_id: &str, job_id: &str, node_id: &str| drover_types::Allocation {
        name: format!("{job_id}.web[0]"),
        ..alloc(alloc_id, job_id, node_id, "e1", 1, 1, 1)
    };
    apply_ok(
        store,
        vec![
            Op::UpsertJob(job("batch")),
            Op::UpsertJob(child(1, "tok-1")),
            Op::UpsertJob(child(2, "")),
            Op::UpsertJob(child(3, "")),
            Op::UpsertJob(Job { job_type: drover_types::JobType::System, ..job("agent") }),
            Op::upsert_allocs(vec![
                named("a1", "batch/dispatch-1", "n1"),
                named("a2", "batch/dispatch-2", "n1"),
                named("a3", "agent", "n2"),
            ]),
        ],
    )
    .await;
    let snapshot = store.snapshot();
    let ids =
        |allocs: Vec<Arc<drover_types::Allocation>>| allocs.iter().map(|alloc| alloc.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(snapshot.live_allocs_by_node("n1")), vec!["a1", "a2"]);
    let counts = snapshot.children_counts("default", "batch");
    assert_eq!((counts.pending, counts.running, counts.dead, counts.active), (1, 2, 0, 3));
    let by_token = snapshot.child_by_idempotency_token("default", "batch", "tok-1").map(|job| job.id.clone());
    assert_eq!(by_token.as_deref(), Some("batch/dispatch-1"));
    assert!(snapshot.child_by_idempotency_token("default", "batch", "tok-2").is_none());
    let system_ids: Vec<String> = snapshot.system_jobs().iter().map(|job| job.id.clone()).collect();
    assert_eq!(system_ids, vec!["agent"]);

    apply_ok(
        store,
        vec![
            Op::UpdateAllocsFromClient(vec![
                drover_types::AllocClientUpdate {
                    id: "a1".to_string(),
                    client_status: client_status::COMPLETE.to_string(),
                    ..Default::default()
                },
                drover_types::AllocClientUpdate {
                    id: "a2".to_string(),
                    client_status: client_status::FAILED.to_string(),
                    ..Default::default()
                },
            ]),
            Op::UpsertJob(Job { stop: true, ..child(3, "") }),
        ],
    )
    .await;
    let snapshot = store.snapshot();
    assert!(snapshot.live_allocs_by_node("n1").is_empty());
    assert_eq!(ids(snapshot.allocs_by_node("n1")), vec!["a1", "a2"], "the history is still there");
    let counts = snapshot.children_counts("default", "batch");
    assert_eq!(
        (counts.pending, counts.running, counts.dead, counts.complete, counts.failed, counts.stopped, counts.active),
        (0, 0, 3, 1, 1, 1, 0)
    );

    apply_ok(
        store,
        vec![
            Op::PurgeJob { namespace: "default".to_string(), job_id: "batch/dispatch-1".to_string() },
            Op::PurgeJob { namespace: "default".to_string(), job_id: "agent".to_string() },
        ],
    )
    .await;
    let snapshot = store.snapshot();
    assert_eq!(snapshot.children_counts("default", "batch").dead, 2);
    assert!(snapshot.child_by_idempotency_token("default", "batch", "tok-1").is_none());
    assert!(snapshot.system_jobs().is_empty());
}

async fn check_wait_index_above(store: &StateStore) {
    let current = store.index();
    assert_eq!(store.wait_index_above(current, Duration::from_millis(10)).await, current, "times out");

    let waiter = {
        let store = store.clone();
        tokio::spawn(async move { store.wait_index_above(current, Duration::from_secs(600)).await })
    };
    let committed = apply_ok(store, vec![Op::UpsertNode(node("n1"))]).await;
    let woke_at = waiter.await.expect("the waiter finishes");
    assert!(woke_at > current && woke_at <= committed);
    assert_eq!(store.wait_index_above(current, Duration::from_secs(600)).await, committed, "already above");
}

async fn check_subscribe_gets_each_commit(store: &StateStore) {
    let mut changes = store.subscribe();
    let first = apply_ok(store, vec![Op::UpsertJob(job("web")), Op::UpsertNode(node("n1"))]).await;
    let second = apply_ok(store, vec![Op::DeleteNode("n1".to_string())]).await;

    let batch = changes.recv().await.expect("first commit");
    assert!(batch.iter().all(|change| change.index == first));
    assert!(batch.iter().any(|change| matches!(&change.object, ChangedObject::Job(job) if job.id == "web")));
    assert!(batch.iter().any(|change| matches!(&change.object, ChangedObject::Node(node) if node.id == "n1")));
    let batch = changes.recv().await.expect("second commit");
    assert!(
        matches!(&batch[..], [change] if change.index == second && matches!(&change.object, ChangedObject::NodeDeleted(id) if id == "n1"))
    );
}

async fn check_node_lifecycle(store: &StateStore) {
    apply_ok(store, vec![Op::UpsertNode(node("n1"))]).await;
    apply_ok(
        store,
        vec![Op::UpdateNodeStatus { node_id: "n1".to_string(), status: "down".to_string(), heartbeat: 12 }],
    )
    .await;
    let stored = store.snapshot().node("n1").expect("node stored");
    assert_eq!((stored.status.as_str(), stored.last_heartbeat), ("down", 12));
    assert!(stored.status_updated_at > 0);
    let err = store
        .apply(txn(vec![Op::UpdateNodeEligibility { node_id: "n9".to_string(), eligibility: "eligible".to_string() }]))
        .await
        .expect_err("unknown node");
    assert!(matches!(err, StateError::NotFound(_)));
}

fn run(job_id: &str, run_id: &str, children: &[&str], status: &str, finished_at: i64) -> Run {
    Run {
        id: run_id.to_string(),
        namespace: "default".to_string(),
        job_id: job_id.to_string(),
        child_job_ids: children.iter().map(|child| child.to_string()).collect(),
        trigger: run_trigger::schedule("nightly"),
        status: status.to_string(),
        finished_at,
        ..Run::default()
    }
}

async fn check_runs_history_and_retention(store: &StateStore) {
    let created = apply_ok(
        store,
        vec![
            Op::UpsertJob(job("cron")),
            Op::UpsertRuns(vec![run("cron", "20260101000000aaaaa", &["cron/periodic-1"], run_status::STARTING, 0)]),
            Op::SetScheduleSlot {
                namespace: "default".to_string(),
                job_id: "cron".to_string(),
                schedule_id: "nightly".to_string(),
                slot: 100,
            },
        ],
    )
    .await;
    let snapshot = store.snapshot();
    let stored = snapshot.run("default", "cron", "20260101000000aaaaa").expect("run stored");
    assert_eq!((stored.create_index, stored.modify_index), (created, created));
    assert_eq!(snapshot.run_of_child("default", "cron/periodic-1").map(|run| run.id.clone()), Some(stored.id.clone()));
    assert_eq!(snapshot.active_runs().len(), 1);
    let history = snapshot.job_history("default", "cron").expect("history created by the slot");
    assert_eq!(history.schedule_slots.get("nightly"), Some(&100));
    assert_eq!(history.success_count + history.failure_count, 0);

    // A slot never moves back; a second attempt is indexed; finishing counts once.
    apply_ok(
        store,
        vec![
            Op::SetScheduleSlot {
                namespace: "default".to_string(),
                job_id: "cron".to_string(),
                schedule_id: "nightly".to_string(),
                slot: 50,
            },
            Op::UpsertRuns(vec![run(
                "cron",
                "20260101000000aaaaa",
                &["cron/periodic-1", "cron/periodic-2"],
                run_status::FAILED,
                7,
            )]),
        ],
    )
    .await;
    apply_ok(
        store,
        vec![Op::UpsertRuns(vec![run(
            "cron",
            "20260101000000aaaaa",
            &["cron/periodic-1", "cron/periodic-2"],
            run_status::FAILED,
            7,
        )])],
    )
    .await;
    let snapshot = store.snapshot();
    let history = snapshot.job_history("default", "cron").expect("history kept");
    assert_eq!(history.schedule_slots.get("nightly"), Some(&100));
    assert_eq!((history.failure_count, history.last_failure_at), (1, 7), "counted once");
    assert_eq!(
        snapshot.run_of_child("default", "cron/periodic-2").map(|run| run.id.clone()).as_deref(),
        Some("20260101000000aaaaa")
    );
    assert_eq!(snapshot.run("default", "cron", "20260101000000aaaaa").map(|run| run.create_index), Some(created));
    assert!(snapshot.active_runs().is_empty());

    // Retention: keep 2 successful and 1 failed; the counters keep counting.
    let mut finished = Vec::new();
    for n_run in 0..4 {
        finished.push(run("cron", &format!("2026010100000{n_run}bbbbb"), &[], run_status::SUCCESS, 10 + n_run));
    }
    finished.push(run("cron", "20260101000009ccccc", &[], run_status::SKIPPED, 20));
    finished.push(run("cron", "20260101000009ddddd", &[], run_status::STARTING, 0));
    apply_ok(store, vec![Op::UpsertRuns(finished)]).await;
    apply_ok(
        store,
        vec![Op::TrimRuns {
            namespace: "default".to_string(),
            job_id: "cron".to_string(),
            keep_successful: 2,
            keep_failed: 1,
        }],
    )
    .await;
    let snapshot = store.snapshot();
    let kept: Vec<String> = snapshot.runs_of_job("default", "cron").iter().map(|run| run.id.clone()).collect();
    assert_eq!(kept, vec!["20260101000009ddddd", "20260101000009ccccc", "20260101000003bbbbb", "20260101000002bbbbb"]);
    let history = snapshot.job_history("default", "cron").expect("history kept");
    assert_eq!((history.success_count, history.failure_count, history.skipped_count), (4, 1, 1));
    assert!(snapshot.run_of_child("default", "cron/periodic-1").is_none(), "trimmed runs leave the index");

    // Purging the template deletes its runs and history; a child's purge does not.
    apply_ok(store, vec![Op::PurgeJob { namespace: "default".to_string(), job_id: "cron".to_string() }]).await;
    let snapshot = store.snapshot();
    assert!(snapshot.runs_of_job("default", "cron").is_empty() && snapshot.job_history("default", "cron").is_none());
}

async fn run_suite(make_store: &mut dyn FnMut() -> StateStore) {
    check_runs_history_and_retention(&make_store()).await;
    check_job_register_update_and_versions(&make_store()).await;
    check_latest_version_is_the_job_itself(&make_store()).await;
    check_children_share_the_parents_task_groups(&make_store()).await;
    check_snapshots_are_immutable(&make_store()).await;
    check_failed_precondition_writes_nothing(&make_store()).await;
    check_prefix_reads(&make_store()).await;
    check_secondary_indexes(&make_store()).await;
    check_live_and_counting_indexes(&make_store()).await;
    check_wait_index_above(&make_store()).await;
    check_subscribe_gets_each_commit(&make_store()).await;
    check_node_lifecycle(&make_store()).await;
}

#[tokio::test]
async fn conformance_in_memory() {
    run_suite(&mut StateStore::in_memory).await;
}

#[tokio::test]
async fn conformance_sqlite() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut n_stores = 0;
    run_suite(&mut || {
        n_stores += 1;
        StateStore::open(&dir.path().join(format!("state-{n_stores}.db"))).expect("the store opens")
    })
    .await;
}
