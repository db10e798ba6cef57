//! SQLite-only behaviour: everything survives a restart (objects, the index,
//! every secondary index), group commit under many concurrent writers, and
//! corrupt rows are reported rather than panicking.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use drover_state::{AllocDesiredUpdate, Op, StateError, StateStore};
use drover_types::{AllocClientUpdate, Job, client_status, eval_status};

use common::{alloc, child_of, eval, job, job_in, job_with_count, node, txn};

async fn apply_ok(store: &StateStore, ops: Vec<Op>) -> u64 {
    store.apply(txn(ops)).await.expect("the transaction applies").index
}

/// Everything a snapshot can say, in a comparable form.
fn contents(store: &StateStore) -> String {
    let snapshot = store.snapshot();
    let mut text = format!("index {}\n", snapshot.index());
    for job in snapshot.resident_jobs() {
        text += &format!("job {job:?}\n");
        for version in snapshot.job_versions(&job.namespace, &job.id) {
            text += &format!("  version {version:?}\n");
        }
        for child in snapshot.children_of(&job.namespace, &job.id) {
            text += &format!("  child {}\n", child.id);
            if !child.dispatch_idempotency_token.is_empty() {
                let found =
                    snapshot.child_by_idempotency_token(&job.namespace, &job.id, &child.dispatch_idempotency_token);
                text += &format!("    by token {:?}\n", found.map(|found| found.id.clone()));
            }
        }
        text += &format!("  children counts {:?}\n", snapshot.children_counts(&job.namespace, &job.id));
        for eval in snapshot.evals_by_job(&job.namespace, &job.id) {
            text += &format!("  eval {}\n", eval.id);
        }
        for alloc in snapshot.allocs_by_job(&job.namespace, &job.id) {
            text += &format!("  alloc {}\n", alloc.id);
        }
    }
    for eval in snapshot.resident_evals() {
        text += &format!("eval {eval:?}\n");
        for alloc in snapshot.allocs_by_eval(&eval.id) {
            text += &format!("  alloc {}\n", alloc.id);
        }
    }
    for alloc in snapshot.resident_allocs() {
        text += &format!("alloc {alloc:?}\n");
    }
    for node_id in ["n1", "n2", "n3"] {
        let allocs: Vec<String> = snapshot.allocs_by_node(node_id).iter().map(|alloc| alloc.id.clone()).collect();
        text += &format!("node {node_id} allocs {allocs:?} used {:?}\n", snapshot.node_used(node_id));
        let live: Vec<String> = snapshot.live_allocs_by_node(node_id).iter().map(|alloc| alloc.id.clone()).collect();
        text += &format!("node {node_id} live allocs {live:?}\n");
    }
    for node in snapshot.nodes() {
        text += &format!("node {node:?}\n");
    }
    for job in snapshot.system_jobs() {
        text += &format!("system job {}\n", job.id);
    }
    for job in snapshot.resident_jobs() {
        for run in snapshot.runs_of_job(&job.namespace, &job.id) {
            text += &format!("run {run:?}\n");
        }
        if let Some(history) = snapshot.job_history(&job.namespace, &job.id) {
            text += &format!("history {history:?}\n");
        }
    }
    for run in snapshot.active_runs() {
        for child in &run.child_job_ids {
            text += &format!(
                "child {child} of run {:?}\n",
                snapshot.run_of_child(&run.namespace, child).map(|run| run.id.clone())
            );
        }
    }
    text
}

#[tokio::test]
async fn everything_survives_a_restart() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("nested").join("dir").join("state.db");
    let before = {
        let store = StateStore::open(&path).expect("the store opens and creates its directory");
        apply_ok(&store, vec![Op::UpsertNode(node("n1")), Op::UpsertNode(node("n2")), Op::UpsertNode(node("n3"))])
            .await;
        apply_ok(&store, vec![Op::UpsertJob(job("web")), Op::UpsertJob(job_in("other", "web"))]).await;
        apply_ok(&store, vec![Op::UpsertJob(Job { priority: 70, ..job("web") })]).await;
        apply_ok(&store, vec![Op::UpsertJob(Job { stop: true, priority: 70, ..job("web") })]).await;
        apply_ok(&store, vec![Op::UpsertJob(job("batch"))]).await;
        for n_child in 0..3 {
            let child = Job {
                parent_id: "batch".to_string(),
                dispatched: true,
                dispatch_idempotency_token: format!("token-{n_child}"),
                ..job(&format!("batch/dispatch-{n_child}"))
            };
            apply_ok(&store, vec![Op::UpsertJob(child)]).await;
        }
        apply_ok(&store, vec![Op::UpsertJob(Job { job_type: drover_types::JobType::Sysbatch, ..job("sweep") })]).await;
        apply_ok(
            &store,
            vec![Op::PurgeJob { namespace: "default".to_string(), job_id: "batch/dispatch-1".to_string() }],
        )
        .await;
        apply_ok(&store, vec![Op::UpsertJob(job("gone")), Op::UpsertJob(Job { priority: 5, ..job("gone") })]).await;
        apply_ok(&store, vec![Op::PurgeJob { namespace: "default".to_string(), job_id: "gone".to_string() }]).await;
        apply_ok(
            &store,
            vec![
                Op::UpsertEvals(vec![
                    eval("e1", "web", eval_status::COMPLETE),
                    eval("e2", "batch", eval_status::BLOCKED),
                    eval("e3", "web", eval_status::PENDING),
                ]),
                Op::upsert_allocs(vec![
                    alloc("a1", "web", "n1", "e1", 100, 256, 10),
                    alloc("a2", "web", "n1", "e1", 200, 512, 20),
                    alloc("a3", "web", "n2", "e1", 300, 1024, 30),
                    alloc("a4", "web", "n3", "e1", 1, 1, 1),
                    alloc("a5", "batch/dispatch-0", "n3", "e1", 1, 1, 1),
                    alloc("a6", "batch/dispatch-2", "n3", "e1", 1, 1, 1),
                ]),
            ],
        )
        .await;
        apply_ok(
            &store,
            vec![
                Op::UpdateAllocsFromClient(vec![
                    AllocClientUpdate {
                        id: "a2".to_string(),
                        client_status: client_status::FAILED.to_string(),
                        ..AllocClientUpdate::default()
                    },
                    AllocClientUpdate {
                        id: "a5".to_string(),
                        client_status: client_status::FAILED.to_string(),
                        ..AllocClientUpdate::default()
                    },
                ]),
                Op::UpdateAllocsDesired(vec![AllocDesiredUpdate {
                    alloc_id: "a1".to_string(),
                    next_allocation: Some("a9".to_string()),
                    ..AllocDesiredUpdate::default()
                }]),
                Op::DeleteAllocs(vec!["a4".to_string()]),
                Op::DeleteEvals(vec!["e3".to_string()]),
                Op::UpdateNodeDrain { node_id: "n2".to_string(), drain: Some(Default::default()) },
            ],
        )
        .await;
        let cron_run = |run_id: &str, status: &str| drover_types::Run {
            id: run_id.to_string(),
            namespace: "default".to_string(),
            job_id: "web".to_string(),
            child_job_ids: vec![format!("web/periodic-{run_id}")],
            status: status.to_string(),
            ..drover_types::Run::default()
        };
        apply_ok(
            &store,
            vec![
                Op::UpsertRuns(vec![
                    cron_run("20260101000000aaaaa", drover_types::run_status::SUCCESS),
                    cron_run("20260101000001aaaaa", drover_types::run_status::ACTIVE),
                ]),
                Op::SetScheduleSlot {
                    namespace: "default".to_string(),
                    job_id: "web".to_string(),
                    schedule_id: "nightly".to_string(),
                    slot: 42,
                },
            ],
        )
        .await;
        let contents = contents(&store);
        assert!(contents.contains("success_count: 1"), "{contents}");
        assert!(contents.contains("child web/periodic-20260101000001aaaaa of run Some"), "{contents}");
        assert!(contents.contains("node n1 allocs [\"a1\", \"a2\"] used (100, 256, 10)"), "{contents}");
        assert!(contents.contains("node n1 live allocs [\"a1\"]"), "{contents}");
        assert!(contents.contains("node n3 live allocs [\"a6\"]"), "{contents}");
        assert!(contents.contains("by token Some(\"batch/dispatch-2\")"), "{contents}");
        assert!(contents.contains("system job sweep"), "{contents}");
        assert!(
            contents.contains("children counts ChildCounts { pending: 0, running: 1, dead: 1, complete: 0, failed: 1"),
            "{contents}"
        );
        contents
    };

    let reopened = StateStore::open(&path).expect("the store reopens");
    assert_eq!(contents(&reopened), before);
    let snapshot = reopened.snapshot();
    assert_eq!(snapshot.job_versions("default", "web").len(), 2);
    assert_eq!(snapshot.children_of("default", "batch").len(), 2);
    assert!(snapshot.job("default", "gone").is_none() && snapshot.job_versions("default", "gone").is_empty());
    assert!(snapshot.alloc("a4").is_none() && snapshot.eval("e3").is_none());
    assert_eq!(snapshot.node_used("n2"), (300, 1024, 30));

    // Writing continues from the stored index.
    let index_before = reopened.index();
    assert_eq!(apply_ok(&reopened, vec![Op::DeleteNode("n3".to_string())]).await, index_before + 1);
}

/// `(version, priority)` of every row of `job_versions` for a job, oldest first.
fn version_rows(path: &std::path::Path, job_id: &str) -> Vec<(u64, i64)> {
    let connection = rusqlite::Connection::open(path).expect("sqlite opens");
    let mut statement = connection
        .prepare("SELECT version, data FROM job_versions WHERE namespace = 'default' AND id = ?1 ORDER BY version")
        .expect("a query");
    let rows = statement
        .query_map([job_id], |row| Ok((row.get::<_, u64>(0)?, row.get::<_, String>(1)?)))
        .expect("rows")
        .map(|row| row.expect("a row"));
    rows.map(|(version, data)| {
        let job: serde_json::Value = serde_json::from_str(&data).expect("json");
        (version, job["Priority"].as_i64().expect("a priority"))
    })
    .collect()
}

#[tokio::test]
async fn only_superseded_versions_get_version_rows() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("state.db");
    {
        let store = StateStore::open(&path).expect("the store opens");
        apply_ok(&store, vec![Op::UpsertJob(job("web"))]).await;
        assert_eq!(version_rows(&path, "web"), vec![], "the only version is the jobs row");
        apply_ok(&store, vec![Op::UpsertJob(Job { priority: 70, ..job("web") })]).await;
        assert_eq!(version_rows(&path, "web"), vec![(0, 0)], "the replaced version is written when superseded");
        apply_ok(
            &store,
            vec![Op::UpsertJob(Job { priority: 80, ..job("web") }), Op::UpsertJob(Job { priority: 90, ..job("web") })],
        )
        .await;
        assert_eq!(version_rows(&path, "web"), vec![(0, 0), (1, 70), (2, 80)]);
    }
    let reopened = StateStore::open(&path).expect("the store reopens");
    let snapshot = reopened.snapshot();
    let versions: Vec<(u64, i32)> =
        snapshot.job_versions("default", "web").iter().map(|job| (job.version, job.priority)).collect();
    assert_eq!(versions, vec![(3, 90), (2, 80), (1, 70), (0, 0)]);
    let latest = snapshot.job("default", "web").expect("job stored");
    assert!(Arc::ptr_eq(&snapshot.job_version("default", "web", 3).expect("latest"), &latest));
}

#[tokio::test]
async fn old_data_dirs_with_a_row_for_the_latest_version_load_without_duplicates() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("state.db");
    {
        let store = StateStore::open(&path).expect("the store opens");
        apply_ok(&store, vec![Op::UpsertJob(job("web"))]).await;
        apply_ok(&store, vec![Op::UpsertJob(Job { priority: 70, ..job("web") })]).await;
        apply_ok(&store, vec![Op::UpsertJob(job("api"))]).await;
    }
    {
        // What earlier releases wrote: the latest version in both tables.
        let connection = rusqlite::Connection::open(&path).expect("sqlite opens");
        let n_copied = connection
            .execute(
                "INSERT INTO job_versions (namespace, id, version, data) \
                 SELECT namespace, id, json_extract(data, '$.Version'), data FROM jobs",
                [],
            )
            .expect("latest versions copied");
        assert_eq!(n_copied, 2);
    }
    assert_eq!(version_rows(&path, "web"), vec![(0, 0), (1, 70)]);
    let reopened = StateStore::open(&path).expect("the store reopens");
    let snapshot = reopened.snapshot();
    let versions: Vec<(u64, i32)> =
        snapshot.job_versions("default", "web").iter().map(|job| (job.version, job.priority)).collect();
    assert_eq!(versions, vec![(1, 70), (0, 0)], "no duplicate latest version");
    assert_eq!(snapshot.job_versions("default", "api").len(), 1);
    assert_eq!(version_rows(&path, "web"), vec![(0, 0)], "the duplicate row is dropped");
    assert_eq!(version_rows(&path, "api"), vec![]);

    // History keeps working from there.
    apply_ok(&reopened, vec![Op::UpsertJob(Job { priority: 90, ..job("web") })]).await;
    assert_eq!(version_rows(&path, "web"), vec![(0, 0), (1, 70)]);
}

#[tokio::test]
async fn reloaded_children_share_their_parents_task_groups() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("state.db");
    {
        let store = StateStore::open(&path).expect("the store opens");
        apply_ok(&store, vec![Op::UpsertJob(job_with_count("batch", 1))]).await;
        let version_0 = store.snapshot().job("default", "batch").expect("parent stored");
        apply_ok(&store, vec![Op::UpsertJob(child_of(&version_0, "batch/dispatch-1"))]).await;
        apply_ok(&store, vec![Op::UpsertJob(job_with_count("batch", 2))]).await;
        let version_1 = store.snapshot().job("default", "batch").expect("parent stored");
        let mut own_spec = child_of(&version_1, "batch/dispatch-3");
        own_spec.task_groups[0].count = 9;
        apply_ok(
            &store,
            vec![
                Op::UpsertJob(child_of(&version_1, "batch/dispatch-2")),
                Op::UpsertJob(own_spec),
                Op::UpsertJob(job("web")),
            ],
        )
        .await;
    }
    let reopened = StateStore::open(&path).expect("the store reopens");
    let snapshot = reopened.snapshot();
    let child = |id: &str| snapshot.job("default", id).expect("child loaded");
    let version_0 = snapshot.job_version("default", "batch", 0).expect("version 0");
    let version_1 = snapshot.job("default", "batch").expect("parent loaded");
    assert!(child("batch/dispatch-1").task_groups.is_shared_with(&version_0.task_groups), "an older version's spec");
    assert!(child("batch/dispatch-2").task_groups.is_shared_with(&version_1.task_groups), "the latest spec");
    let own = child("batch/dispatch-3");
    assert_eq!(own.task_groups[0].count, 9, "a child with its own spec keeps it");
    assert!(!own.task_groups.is_shared_with(&version_1.task_groups));
    assert_eq!(
        [
            version_0.task_groups[0].count,
            version_1.task_groups[0].count,
            child("batch/dispatch-1").task_groups[0].count
        ],
        [1, 2, 1]
    );
}

/// A `jobs` row: the parent spec version it names, and how many task groups its data holds.
fn job_row(path: &std::path::Path, job_id: &str) -> (Option<u64>, usize) {
    let connection = rusqlite::Connection::open(path).expect("sqlite opens");
    let (spec_version, data): (Option<u64>, String) = connection
        .query_row("SELECT spec_version, data FROM jobs WHERE namespace = 'default' AND id = ?1", [job_id], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .expect("the row");
    let job: serde_json::Value = serde_json::from_str(&data).expect("json");
    (spec_version, job["TaskGroups"].as_array().map_or(0, Vec::len))
}

#[tokio::test]
async fn children_rows_name_their_parents_spec_instead_of_repeating_it() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("state.db");
    let before = {
        let store = StateStore::open(&path).expect("the store opens");
        apply_ok(&store, vec![Op::UpsertJob(job_with_count("batch", 1))]).await;
        let version_0 = store.snapshot().job("default", "batch").expect("parent stored");
        apply_ok(&store, vec![Op::UpsertJob(child_of(&version_0, "batch/dispatch-1"))]).await;
        assert_eq!(job_row(&path, "batch/dispatch-1"), (Some(0), 0), "no spec in the child's row");
        assert_eq!(job_row(&path, "batch"), (None, 1));
        apply_ok(&store, vec![Op::UpsertJob(job_with_count("batch", 2))]).await;
        let version_1 = store.snapshot().job("default", "batch").expect("parent stored");
        let mut own_spec = child_of(&version_1, "batch/dispatch-3");
        own_spec.task_groups[0].count = 9;
        apply_ok(&store, vec![Op::UpsertJob(child_of(&version_1, "batch/dispatch-2")), Op::UpsertJob(own_spec)]).await;
        // A status change rewrites the child's row; it still names the spec.
        apply_ok(&store, vec![Op::UpsertEvals(vec![eval("e1", "batch/dispatch-2", eval_status::BLOCKED)])]).await;
        assert_eq!(job_row(&path, "batch/dispatch-1"), (Some(0), 0), "version 0 is now an older version");
        assert_eq!(job_row(&path, "batch/dispatch-2"), (Some(1), 0));
        assert_eq!(job_row(&path, "batch/dispatch-3"), (None, 1), "a child with its own spec is stored whole");
        contents(&store)
    };
    let reopened = StateStore::open(&path).expect("the store reopens");
    assert_eq!(contents(&reopened), before, "every child is back with its spec");
    let snapshot = reopened.snapshot();
    let child = snapshot.job("default", "batch/dispatch-2").expect("child loaded");
    assert_eq!(child.task_groups[0].count, 2);
    assert!(child.task_groups.is_shared_with(&snapshot.job("default", "batch").expect("parent").task_groups));
}

#[tokio::test]
async fn purging_a_parent_rewrites_its_childrens_rows_whole() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("state.db");
    {
        let store = StateStore::open(&path).expect("the store opens");
        apply_ok(&store, vec![Op::UpsertJob(job_with_count("a", 1)), Op::UpsertJob(job_with_count("b", 1))]).await;
        let snapshot = store.snapshot();
        let (a, b) = (snapshot.job("default", "a").expect("a"), snapshot.job("default", "b").expect("b"));
        apply_ok(
            &store,
            vec![Op::UpsertJob(child_of(&a, "a/dispatch-1")), Op::UpsertJob(child_of(&b, "b/dispatch-1"))],
        )
        .await;
        assert_eq!(job_row(&path, "a/dispatch-1"), (Some(0), 0));

        // Purged, then registered again with another spec: later, or in the same transaction.
        apply_ok(&store, vec![Op::PurgeJob { namespace: "default".to_string(), job_id: "a".to_string() }]).await;
        assert_eq!(job_row(&path, "a/dispatch-1"), (None, 1), "the child's row holds its spec again");
        apply_ok(&store, vec![Op::UpsertJob(job_with_count("a", 5))]).await;
        apply_ok(
            &store,
            vec![
                Op::PurgeJob { namespace: "default".to_string(), job_id: "b".to_string() },
                Op::UpsertJob(job_with_count("b", 6)),
            ],
        )
        .await;
        assert_eq!(job_row(&path, "b/dispatch-1"), (None, 1));
    }
    let reopened = StateStore::open(&path).expect("the store reopens");
    let snapshot = reopened.snapshot();
    let count = |job_id: &str| snapshot.job("default", job_id).expect("job loaded").task_groups[0].count;
    assert_eq!([count("a/dispatch-1"), count("a"), count("b/dispatch-1"), count("b")], [1, 5, 1, 6]);
}

#[tokio::test]
async fn a_child_row_naming_a_missing_spec_is_reported() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("state.db");
    {
        let store = StateStore::open(&path).expect("the store opens");
        apply_ok(&store, vec![Op::UpsertJob(job_with_count("batch", 1))]).await;
        let parent = store.snapshot().job("default", "batch").expect("parent stored");
        apply_ok(&store, vec![Op::UpsertJob(child_of(&parent, "batch/dispatch-1"))]).await;
    }
    {
        let connection = rusqlite::Connection::open(&path).expect("sqlite opens");
        connection.execute("UPDATE jobs SET spec_version = 7 WHERE id = 'batch/dispatch-1'", []).expect("row changed");
    }
    let err = StateStore::open(&path).err().expect("a dangling spec version fails the open");
    let message = err.to_string();
    assert!(matches!(err, StateError::Storage(_)), "{message}");
    assert!(
        message.contains("jobs") && message.contains("batch/dispatch-1") && message.contains("version 7"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_commit_serves_many_concurrent_writers() {
    const N_TASKS: usize = 50;
    const N_WRITES_PER_TASK: usize = 40;
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("state.db");
    let store = StateStore::open(&path).expect("the store opens");

    let mut tasks = Vec::new();
    for n_task in 0..N_TASKS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut indexes = Vec::with_capacity(N_WRITES_PER_TASK);
            for n_write in 0..N_WRITES_PER_TASK {
                let eval_id = format!("eval-{n_task:03}-{n_write:03}");
                let result = store
                    .apply(txn(vec![Op::UpsertEvals(vec![eval(&eval_id, "web", eval_status::PENDING)])]))
                    .await
                    .expect("the write commits");
                indexes.push(result.index);
            }
            indexes
        }));
    }
    let mut all_indexes = BTreeSet::new();
    for task in tasks {
        let indexes = task.await.expect("the writer task finishes");
        assert!(indexes.windows(2).all(|pair| pair[0] < pair[1]), "one task's writes get increasing indexes");
        all_indexes.extend(indexes);
    }
    let n_writes = (N_TASKS * N_WRITES_PER_TASK) as u64;
    assert_eq!(all_indexes.len() as u64, n_writes, "every write got its own index");
    assert_eq!(all_indexes.iter().copied().collect::<Vec<_>>(), (1..=n_writes).collect::<Vec<_>>());
    assert_eq!(store.index(), n_writes);
    drop(store);

    let reopened = StateStore::open(&path).expect("the store reopens");
    assert_eq!(reopened.index(), n_writes);
    let snapshot = reopened.snapshot();
    assert_eq!(snapshot.resident_evals().len() as u64, n_writes);
    assert_eq!(snapshot.evals_by_job("default", "web").len() as u64, n_writes);
    let eval = snapshot.eval("eval-007-013").expect("a write from the middle");
    assert_eq!(eval.create_index, eval.modify_index);
}

#[tokio::test]
async fn corrupt_row_is_reported_with_table_and_id() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("state.db");
    {
        let store = StateStore::open(&path).expect("the store opens");
        apply_ok(&store, vec![Op::upsert_allocs(vec![alloc("a1", "web", "n1", "e1", 1, 1, 1)])]).await;
    }
    {
        let connection = rusqlite::Connection::open(&path).expect("sqlite opens");
        connection.execute("UPDATE allocs SET data = '{not json' WHERE id = 'a1'", []).expect("row corrupted");
    }
    let err = StateStore::open(&path).err().expect("a corrupt row fails the open");
    let message = err.to_string();
    assert!(matches!(err, StateError::Storage(_)), "{message}");
    assert!(message.contains("allocs") && message.contains("a1"), "{message}");

    {
        let connection = rusqlite::Connection::open(&path).expect("sqlite opens");
        let data = r#"{"ID":"other","Namespace":"default"}"#;
        connection.execute("UPDATE allocs SET data = ?1 WHERE id = 'a1'", [data]).expect("row rewritten");
    }
    let message = StateStore::open(&path).err().expect("a mismatched row fails the open").to_string();
    assert!(message.contains("allocs") && message.contains("a1"), "{message}");
}

#[tokio::test]
async fn snapshots_outlive_the_store() {
    let store = StateStore::in_memory();
    apply_ok(&store, vec![Op::UpsertNode(node("n1"))]).await;
    let snapshot: Arc<_> = store.snapshot();
    drop(store);
    assert!(snapshot.node("n1").is_some());
}
