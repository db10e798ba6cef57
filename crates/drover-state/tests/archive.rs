//! The archive: a finished child's family leaves memory once it is durable,
//! reads find it in storage as if it were resident, a transaction naming it
//! brings it back, and a restart keeps it archived without decoding it.

mod common;

use drover_state::{AllocDesiredUpdate, ChildCounts, Op, StateStore};
use drover_types::{AllocClientUpdate, Job, client_status, eval_status, job_status};

use common::{alloc, child_of, eval, job_with_count, node, txn};

async fn apply_ok(store: &StateStore, ops: Vec<Op>) -> u64 {
    store.apply(txn(ops)).await.expect("the transaction applies").index
}

fn finished(alloc_id: &str, job_id: &str, node_id: &str, eval_id: &str, status: &str) -> drover_types::Allocation {
    drover_types::Allocation {
        client_status: status.to_string(),
        ..alloc(alloc_id, job_id, node_id, eval_id, 100, 64, 10)
    }
}

/// A parent `p` and `n` children that ran one allocation each on `n1`; child
/// `i` ran allocation `a-<i>` for evaluation `e-<i>` and ended `complete`,
/// except those listed in `failed`. Returns the parent.
async fn finished_children(store: &StateStore, n: usize, failed: &[usize]) -> std::sync::Arc<Job> {
    apply_ok(store, vec![Op::UpsertNode(node("n1")), Op::UpsertJob(job_with_count("p", 1))]).await;
    let parent = store.snapshot().job("default", "p").expect("parent");
    for i in 0..n {
        let child_id = format!("p/dispatch-{i}");
        apply_ok(
            store,
            vec![
                Op::UpsertJob(child_of(&parent, &child_id)),
                Op::UpsertEvals(vec![eval(&format!("e-{i}"), &child_id, eval_status::PENDING)]),
            ],
        )
        .await;
        let status = if failed.contains(&i) { client_status::FAILED } else { client_status::COMPLETE };
        apply_ok(
            store,
            vec![
                Op::UpsertEvals(vec![eval(&format!("e-{i}"), &child_id, eval_status::COMPLETE)]),
                Op::upsert_allocs(vec![finished(&format!("a-{i}"), &child_id, "n1", &format!("e-{i}"), status)]),
            ],
        )
        .await;
    }
    parent
}

fn ids<T>(objects: &[std::sync::Arc<T>], id_of: impl Fn(&T) -> &str) -> Vec<String> {
    objects.iter().map(|object| id_of(object).to_string()).collect()
}

#[tokio::test]
async fn a_finished_child_is_archived_and_still_reads_the_same() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = StateStore::open(&dir.path().join("state.db")).expect("the store opens");
    let parent = finished_children(&store, 3, &[1]).await;
    let snapshot = store.snapshot();

    assert_eq!(snapshot.archived_count(), 3);
    assert_eq!(ids(&snapshot.resident_jobs(), |job| &job.id), ["p"], "only the parent stays in memory");
    assert!(snapshot.resident_allocs().is_empty());
    assert!(snapshot.resident_evals().is_empty());

    let child = snapshot.job("default", "p/dispatch-1").expect("an archived child reads back");
    assert_eq!(child.status, job_status::DEAD);
    assert_eq!(child.parent_id, "p");
    assert!(child.task_groups.is_shared_with(&parent.task_groups), "its spec is the parent's very copy");
    assert_eq!(
        ids(&snapshot.children_of("default", "p"), |job| &job.id),
        ["p/dispatch-0", "p/dispatch-1", "p/dispatch-2"]
    );
    assert_eq!(
        snapshot.children_counts("default", "p"),
        ChildCounts { dead: 3, complete: 2, failed: 1, ..ChildCounts::default() },
        "archiving leaves the counts alone"
    );
    assert_eq!(ids(&snapshot.allocs_by_job("default", "p/dispatch-1"), |alloc| &alloc.id), ["a-1"]);
    assert_eq!(ids(&snapshot.evals_by_job("default", "p/dispatch-1"), |eval| &eval.id), ["e-1"]);
    assert_eq!(snapshot.alloc("a-1").expect("archived alloc").client_status, client_status::FAILED);
    assert_eq!(snapshot.eval("e-2").expect("archived eval").status, eval_status::COMPLETE);
    assert_eq!(ids(&snapshot.allocs_by_eval("e-2"), |alloc| &alloc.id), ["a-2"]);
    assert_eq!(ids(&snapshot.allocs_by_prefix("a-"), |alloc| &alloc.id), ["a-0", "a-1", "a-2"]);
    assert_eq!(ids(&snapshot.evals_by_prefix("e-1"), |eval| &eval.id), ["e-1"]);
    assert_eq!(ids(&snapshot.allocs_by_node("n1"), |alloc| &alloc.id), ["a-0", "a-1", "a-2"]);
    assert!(snapshot.live_allocs_by_node("n1").is_empty());
    assert_eq!(
        ids(&snapshot.jobs_by_prefix("default", "p"), |job| &job.id),
        ["p", "p/dispatch-0", "p/dispatch-1", "p/dispatch-2"]
    );
    assert_eq!(ids(&snapshot.jobs_by_prefix("*", "p/dispatch-2"), |job| &job.id), ["p/dispatch-2"]);
    assert!(snapshot.job("default", "p/dispatch-9").is_none());
    assert!(snapshot.alloc("a-9").is_none());
}

#[tokio::test]
async fn a_child_with_work_left_stays_resident() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = StateStore::open(&dir.path().join("state.db")).expect("the store opens");
    apply_ok(&store, vec![Op::UpsertNode(node("n1")), Op::UpsertJob(job_with_count("p", 1))]).await;
    let parent = store.snapshot().job("default", "p").expect("parent");
    // Told to stop, still running on its client: dead is not enough.
    apply_ok(
        &store,
        vec![
            Op::UpsertJob(Job { stop: true, ..child_of(&parent, "p/dispatch-0") }),
            Op::UpsertEvals(vec![eval("e-0", "p/dispatch-0", eval_status::COMPLETE)]),
            Op::upsert_allocs(vec![alloc("a-0", "p/dispatch-0", "n1", "e-0", 100, 64, 10)]),
        ],
    )
    .await;
    apply_ok(
        &store,
        vec![Op::UpdateAllocsDesired(vec![AllocDesiredUpdate {
            alloc_id: "a-0".to_string(),
            desired_status: Some(drover_types::desired_status::STOP.to_string()),
            ..AllocDesiredUpdate::default()
        }])],
    )
    .await;
    let snapshot = store.snapshot();
    assert_eq!(snapshot.archived_count(), 0);
    assert_eq!(snapshot.live_allocs_by_node("n1").len(), 1, "its client still has to stop it");

    apply_ok(
        &store,
        vec![Op::UpdateAllocsFromClient(vec![AllocClientUpdate {
            id: "a-0".to_string(),
            client_status: client_status::COMPLETE.to_string(),
            ..AllocClientUpdate::default()
        }])],
    )
    .await;
    assert_eq!(store.snapshot().archived_count(), 1, "archived once its client is done");
}

#[tokio::test]
async fn a_transaction_naming_an_archived_family_restores_it_first() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("state.db");
    let store = StateStore::open(&path).expect("the store opens");
    finished_children(&store, 2, &[]).await;
    assert_eq!(store.snapshot().archived_count(), 2);

    // A late client report of an archived allocation is merged, not dropped.
    apply_ok(
        &store,
        vec![Op::UpdateAllocsFromClient(vec![AllocClientUpdate {
            id: "a-0".to_string(),
            client_description: "late report".to_string(),
            ..AllocClientUpdate::default()
        }])],
    )
    .await;
    let snapshot = store.snapshot();
    assert_eq!(snapshot.alloc("a-0").expect("the allocation").client_description, "late report");
    assert_eq!(snapshot.archived_count(), 2, "still finished, so archived again");

    // Deleting an archived family (garbage collection) removes it for good.
    apply_ok(
        &store,
        vec![
            Op::DeleteAllocs(vec!["a-1".to_string()]),
            Op::DeleteEvals(vec!["e-1".to_string()]),
            Op::PurgeJob { namespace: "default".to_string(), job_id: "p/dispatch-1".to_string() },
        ],
    )
    .await;
    let snapshot = store.snapshot();
    assert!(snapshot.job("default", "p/dispatch-1").is_none());
    assert!(snapshot.alloc("a-1").is_none());
    assert!(snapshot.eval("e-1").is_none());
    assert_eq!(snapshot.archived_count(), 1);
    assert_eq!(
        snapshot.children_counts("default", "p"),
        ChildCounts { dead: 1, complete: 1, ..ChildCounts::default() }
    );

    // A new evaluation for an archived child brings it back to life in memory.
    apply_ok(&store, vec![Op::UpsertEvals(vec![eval("e-again", "p/dispatch-0", eval_status::PENDING)])]).await;
    let snapshot = store.snapshot();
    assert_eq!(snapshot.archived_count(), 0);
    assert_eq!(snapshot.job("default", "p/dispatch-0").expect("resident again").status, job_status::PENDING);
    assert_eq!(ids(&snapshot.evals_by_job("default", "p/dispatch-0"), |eval| &eval.id), ["e-0", "e-again"]);

    // Its rows are marked resident again: a restart loads them.
    drop(snapshot);
    drop(store);
    let store = StateStore::open(&path).expect("the store reopens");
    let snapshot = store.snapshot();
    assert_eq!(ids(&snapshot.resident_evals(), |eval| &eval.id), ["e-0", "e-again"]);
    assert_eq!(ids(&snapshot.resident_allocs(), |alloc| &alloc.id), ["a-0"]);
}

#[tokio::test]
async fn a_restart_keeps_archived_children_archived_and_counted() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("state.db");
    let before = {
        let store = StateStore::open(&path).expect("the store opens");
        finished_children(&store, 4, &[2]).await;
        let snapshot = store.snapshot();
        (snapshot.children_counts("default", "p"), snapshot.job("default", "p/dispatch-2").expect("child"))
    };
    let store = StateStore::open(&path).expect("the store reopens");
    let snapshot = store.snapshot();
    assert_eq!(snapshot.archived_count(), 4);
    assert!(snapshot.resident_allocs().is_empty(), "archived allocations are not loaded");
    assert_eq!(snapshot.children_counts("default", "p"), before.0);
    assert_eq!(snapshot.job("default", "p/dispatch-2").expect("child"), before.1);
    assert_eq!(snapshot.alloc("a-2").expect("alloc").client_status, client_status::FAILED);
}

#[tokio::test]
async fn purging_a_parent_restores_its_archived_children_and_rewrites_them_whole() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("state.db");
    {
        let store = StateStore::open(&path).expect("the store opens");
        finished_children(&store, 2, &[]).await;
        apply_ok(&store, vec![Op::PurgeJob { namespace: "default".to_string(), job_id: "p".to_string() }]).await;
        let snapshot = store.snapshot();
        assert!(snapshot.job("default", "p").is_none());
        let child = snapshot.job("default", "p/dispatch-0").expect("the child outlives its parent");
        assert_eq!(child.task_groups[0].name, "web");
    }
    let store = StateStore::open(&path).expect("the store reopens without a corrupt row");
    let child = store.snapshot().job("default", "p/dispatch-1").expect("child");
    assert_eq!(child.task_groups[0].name, "web", "its row holds its spec");
}

#[tokio::test]
async fn a_store_without_storage_archives_nothing() {
    let store = StateStore::in_memory();
    finished_children(&store, 2, &[]).await;
    let snapshot = store.snapshot();
    assert_eq!(snapshot.archived_count(), 0);
    assert_eq!(snapshot.resident_allocs().len(), 2);
}

#[tokio::test]
async fn a_data_dir_from_before_the_archive_gets_its_new_columns_filled() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("state.db");
    {
        let connection = rusqlite::Connection::open(&path).expect("a database");
        let alloc = alloc("a-0", "web", "n1", "e-0", 100, 64, 10);
        let eval = eval("e-0", "web", eval_status::COMPLETE);
        connection
            .execute_batch(
                "CREATE TABLE jobs (namespace TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL, spec_version INTEGER,
                                    PRIMARY KEY (namespace, id));
                 CREATE TABLE evals (id TEXT PRIMARY KEY NOT NULL, data TEXT NOT NULL);
                 CREATE TABLE allocs (id TEXT PRIMARY KEY NOT NULL, data TEXT NOT NULL);",
            )
            .expect("the old schema");
        connection
            .execute("INSERT INTO allocs (id, data) VALUES ('a-0', ?1)", [serde_json::to_string(&alloc).expect("json")])
            .expect("an old alloc row");
        connection
            .execute("INSERT INTO evals (id, data) VALUES ('e-0', ?1)", [serde_json::to_string(&eval).expect("json")])
            .expect("an old eval row");
    }
    let store = StateStore::open(&path).expect("the old data dir opens");
    assert_eq!(store.snapshot().alloc("a-0").expect("loaded").node_id, "n1");
    drop(store);
    let connection = rusqlite::Connection::open(&path).expect("the database");
    let columns: (String, String, String) = connection
        .query_row("SELECT namespace, job_id, node_id FROM allocs WHERE id = 'a-0'", [], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .expect("the alloc row");
    assert_eq!(columns, ("default".to_string(), "web".to_string(), "n1".to_string()));
    let job_id: String =
        connection.query_row("SELECT job_id FROM evals WHERE id = 'e-0'", [], |row| row.get(0)).expect("the eval row");
    assert_eq!(job_id, "web");
}

#[tokio::test]
async fn a_parked_child_is_archived_until_it_is_placed() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("state.db");
    {
        let store = StateStore::open(&path).expect("the store opens");
        apply_ok(&store, vec![Op::UpsertNode(node("n1")), Op::UpsertJob(job_with_count("p", 1))]).await;
        let parent = store.snapshot().job("default", "p").expect("parent");
        for i in 0..2 {
            let child_id = format!("p/dispatch-{i}");
            apply_ok(
                &store,
                vec![
                    Op::UpsertJob(child_of(&parent, &child_id)),
                    Op::UpsertEvals(vec![eval(&format!("e-{i}"), &child_id, eval_status::BLOCKED)]),
                ],
            )
            .await;
        }
        // A child whose evaluation is still pending is not parked.
        apply_ok(
            &store,
            vec![
                Op::UpsertJob(child_of(&parent, "p/dispatch-2")),
                Op::UpsertEvals(vec![eval("e-2", "p/dispatch-2", eval_status::PENDING)]),
            ],
        )
        .await;
        let snapshot = store.snapshot();
        assert_eq!(snapshot.archived_count(), 2);
        assert_eq!(
            snapshot.children_counts("default", "p"),
            ChildCounts { pending: 3, active: 3, ..ChildCounts::default() }
        );
        assert_eq!(snapshot.job("default", "p/dispatch-0").expect("parked child").status, job_status::PENDING);
        assert_eq!(ids(&snapshot.open_evals(), |eval| &eval.id), ["e-0", "e-1", "e-2"]);
        assert!(snapshot.finished_archived_jobs_submitted_before(None).is_empty(), "parked is not finished");
    }
    let store = StateStore::open(&path).expect("the store reopens");
    let snapshot = store.snapshot();
    assert_eq!(snapshot.archived_count(), 2);
    assert_eq!(ids(&snapshot.open_evals(), |eval| &eval.id), ["e-0", "e-1", "e-2"], "a restart finds parked work");
    assert_eq!(
        snapshot.children_counts("default", "p"),
        ChildCounts { pending: 3, active: 3, ..ChildCounts::default() }
    );

    // Capacity came: the plan places it, which restores it first.
    apply_ok(
        &store,
        vec![
            Op::UpsertEvals(vec![eval("e-1", "p/dispatch-1", eval_status::COMPLETE)]),
            Op::upsert_allocs(vec![alloc("a-1", "p/dispatch-1", "n1", "e-1", 100, 64, 10)]),
        ],
    )
    .await;
    let snapshot = store.snapshot();
    assert_eq!(snapshot.archived_count(), 1);
    assert_eq!(snapshot.job("default", "p/dispatch-1").expect("placed child").status, job_status::RUNNING);
    assert_eq!(snapshot.live_allocs_by_node("n1").len(), 1);
    assert_eq!(
        snapshot.children_counts("default", "p"),
        ChildCounts { pending: 2, running: 1, active: 3, ..ChildCounts::default() }
    );
}
