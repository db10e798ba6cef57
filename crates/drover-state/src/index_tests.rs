//! Tests that the derived indexes (live allocs by node, children counts per
//! parent, children by idempotency token, system jobs) stay in step with the
//! primary maps through every kind of write: after each transaction they
//! must equal the same indexes recomputed from scratch.

use std::collections::BTreeMap;
use std::sync::Arc;

use drover_types::{
    AllocClientUpdate, Allocation, Evaluation, Job, JobType, ParameterizedJobConfig, TaskGroup, client_status,
    desired_status, eval_status,
};
use imbl::{OrdMap, OrdSet};

use crate::apply::apply_txn;
use crate::children::{ChildClass, ChildCounts};
use crate::id_index::IdIndex;
use crate::maps::{JobKey, Key, StateMaps, TokenKey, job_key};
use crate::{AllocDesiredUpdate, Op, Txn};

const NOW: i64 = 1_700_000_000_000_000_000;

fn job(job_id: &str) -> Job {
    Job {
        id: job_id.to_string(),
        name: job_id.to_string(),
        namespace: "default".to_string(),
        task_groups: vec![TaskGroup { name: "g".to_string(), ..TaskGroup::default() }].into(),
        ..Job::default()
    }
}

fn template(job_id: &str) -> Job {
    Job { parameterized_job: Some(ParameterizedJobConfig::default()), job_type: JobType::Batch, ..job(job_id) }
}

fn child(parent_id: &str, n_child: u32, token: &str) -> Job {
    Job {
        parent_id: parent_id.to_string(),
        dispatched: true,
        dispatch_idempotency_token: token.to_string(),
        job_type: JobType::Batch,
        ..job(&format!("{parent_id}/dispatch-{n_child}"))
    }
}

fn eval(eval_id: &str, job_id: &str, status: &str) -> Evaluation {
    Evaluation {
        id: eval_id.to_string(),
        namespace: "default".to_string(),
        job_id: job_id.to_string(),
        status: status.to_string(),
        ..Evaluation::default()
    }
}

fn alloc(alloc_id: &str, job_id: &str, node_id: &str, client_status: &str) -> Allocation {
    Allocation {
        id: alloc_id.to_string(),
        namespace: "default".to_string(),
        eval_id: "e".to_string(),
        name: format!("{job_id}.g[0]"),
        node_id: node_id.to_string(),
        job_id: job_id.to_string(),
        task_group: "g".to_string(),
        desired_status: desired_status::RUN.to_string(),
        client_status: client_status.to_string(),
        ..Allocation::default()
    }
}

fn client_update(alloc_id: &str, status: &str) -> Op {
    Op::UpdateAllocsFromClient(vec![AllocClientUpdate {
        id: alloc_id.to_string(),
        client_status: status.to_string(),
        client_description: String::new(),
        task_states: BTreeMap::new(),
    }])
}

fn purge(job_id: &str) -> Op {
    Op::PurgeJob { namespace: "default".to_string(), job_id: job_id.to_string() }
}

/// Applies `ops` at `index`, then checks every derived index against a recomputation.
fn apply_checked(state: &mut StateMaps, index: u64, ops: Vec<Op>) {
    apply_txn(state, &Txn { preconditions: Vec::new(), ops }, index, NOW).expect("the transaction applies");
    assert_in_step(state);
}

/// Recomputes each derived index from the primary maps and compares.
fn assert_in_step(state: &StateMaps) {
    let mut live: IdIndex<Key> = IdIndex::default();
    for alloc in state.allocs.values().filter(|alloc| !alloc.client_terminal()) {
        live.add(Key::from(&alloc.node_id), Key::from(&alloc.id));
    }
    assert_eq!(state.live_allocs_by_node, live, "live allocs by node");

    let mut by_job: BTreeMap<JobKey, Vec<&Allocation>> = BTreeMap::new();
    for alloc in state.allocs.values() {
        by_job.entry(job_key(&alloc.namespace, &alloc.job_id)).or_default().push(alloc);
    }
    let recounted: BTreeMap<JobKey, BTreeMap<String, drover_types::api::TaskGroupSummary>> = by_job
        .into_iter()
        .map(|(key, allocs)| (key, crate::JobAllocCounts::of(allocs).groups))
        .filter(|(_, groups)| !groups.is_empty())
        .collect();
    let kept: BTreeMap<JobKey, BTreeMap<String, drover_types::api::TaskGroupSummary>> =
        state.alloc_counts.iter().map(|(key, counts)| (key.clone(), counts.groups.clone())).collect();
    assert_eq!(kept, recounted, "allocation counts per job");

    let mut counts: OrdMap<JobKey, ChildCounts> = OrdMap::new();
    let mut tokens: IdIndex<TokenKey> = IdIndex::default();
    let mut system: OrdSet<JobKey> = OrdSet::new();
    for (key, job) in &state.jobs {
        if matches!(job.job_type, JobType::System | JobType::Sysbatch) {
            system.insert(key.clone());
        }
        if job.parent_id.is_empty() {
            continue;
        }
        let allocs = state.allocs.values().filter(|alloc| key.0 == alloc.namespace && key.1 == alloc.job_id);
        counts
            .entry(job_key(&job.namespace, &job.parent_id))
            .or_default()
            .add(ChildClass::of(job, allocs.map(|a| &**a)));
        if !job.dispatch_idempotency_token.is_empty() {
            let token_key =
                (Key::from(&job.namespace), Key::from(&job.parent_id), Key::from(&job.dispatch_idempotency_token));
            tokens.add(token_key, Key::from(&job.id));
        }
    }
    assert_eq!(state.children_counts, counts, "children counts");
    assert_eq!(state.children_by_token, tokens, "children by token");
    assert_eq!(state.system_jobs, system, "system jobs");
}

fn counts(state: &StateMaps, parent_id: &str) -> ChildCounts {
    state.children_counts.get(&job_key("default", parent_id)).copied().unwrap_or_default()
}

fn live_on(state: &StateMaps, node_id: &str) -> Vec<String> {
    state.live_allocs_by_node.ids(&Key::from(node_id)).map(str::to_string).collect()
}

#[test]
fn children_counts_follow_children_through_their_life() {
    let mut state = StateMaps::default();
    apply_checked(
        &mut state,
        1,
        vec![
            Op::UpsertJob(template("batch")),
            Op::UpsertJob(child("batch", 1, "")),
            Op::UpsertJob(child("batch", 2, "")),
            Op::UpsertJob(child("batch", 3, "")),
            Op::UpsertEvals(vec![eval("e1", "batch/dispatch-1", eval_status::PENDING)]),
        ],
    );
    assert_eq!(counts(&state, "batch"), ChildCounts { pending: 3, active: 3, ..ChildCounts::default() });

    // Placed and running, then complete.
    apply_checked(
        &mut state,
        2,
        vec![
            Op::upsert_allocs(vec![alloc("a1", "batch/dispatch-1", "n1", client_status::PENDING)]),
            Op::UpsertEvals(vec![eval("e1", "batch/dispatch-1", eval_status::COMPLETE)]),
        ],
    );
    apply_checked(&mut state, 3, vec![client_update("a1", client_status::RUNNING)]);
    assert_eq!(counts(&state, "batch"), ChildCounts { pending: 2, running: 1, active: 3, ..ChildCounts::default() });
    apply_checked(&mut state, 4, vec![client_update("a1", client_status::COMPLETE)]);
    let expected = ChildCounts { pending: 2, dead: 1, complete: 1, active: 2, ..ChildCounts::default() };
    assert_eq!(counts(&state, "batch"), expected);

    // Failed, then rescheduled: running again, and complete in the end.
    apply_checked(&mut state, 5, vec![Op::upsert_allocs(vec![alloc("a2", "batch/dispatch-2", "n1", "running")])]);
    apply_checked(&mut state, 6, vec![client_update("a2", client_status::FAILED)]);
    let expected = ChildCounts { pending: 1, dead: 2, complete: 1, failed: 1, active: 1, ..ChildCounts::default() };
    assert_eq!(counts(&state, "batch"), expected);
    apply_checked(&mut state, 7, vec![Op::upsert_allocs(vec![alloc("a3", "batch/dispatch-2", "n2", "running")])]);
    assert_eq!(counts(&state, "batch").running, 1);
    apply_checked(&mut state, 8, vec![client_update("a3", client_status::COMPLETE)]);
    let expected = ChildCounts { pending: 1, dead: 2, complete: 2, active: 1, ..ChildCounts::default() };
    assert_eq!(counts(&state, "batch"), expected, "the latest allocation decides");

    // Stopped before it ran.
    apply_checked(&mut state, 9, vec![Op::UpsertJob(Job { stop: true, ..child("batch", 3, "") })]);
    let expected = ChildCounts { dead: 3, complete: 2, stopped: 1, ..ChildCounts::default() };
    assert_eq!(counts(&state, "batch"), expected);

    // Collected the way the garbage collector does it: allocs, evals and job in one write.
    apply_checked(
        &mut state,
        10,
        vec![
            Op::DeleteAllocs(vec!["a2".to_string(), "a3".to_string()]),
            Op::DeleteEvals(vec!["e1".to_string()]),
            purge("batch/dispatch-2"),
        ],
    );
    assert_eq!(counts(&state, "batch"), ChildCounts { dead: 2, complete: 1, stopped: 1, ..ChildCounts::default() });
    apply_checked(&mut state, 11, vec![purge("batch/dispatch-1"), purge("batch/dispatch-3")]);
    assert!(!state.children_counts.contains_key(&job_key("default", "batch")), "empty counts are dropped");
}

#[test]
fn a_lost_child_counts_as_failed_and_moves_with_its_parent() {
    let mut state = StateMaps::default();
    apply_checked(&mut state, 1, vec![Op::UpsertJob(template("a")), Op::UpsertJob(template("b"))]);
    apply_checked(
        &mut state,
        2,
        vec![
            Op::UpsertJob(child("a", 1, "")),
            Op::upsert_allocs(vec![alloc("x1", "a/dispatch-1", "n1", client_status::RUNNING)]),
        ],
    );
    apply_checked(
        &mut state,
        3,
        vec![Op::UpdateAllocsDesired(vec![AllocDesiredUpdate {
            alloc_id: "x1".to_string(),
            desired_status: Some(desired_status::STOP.to_string()),
            client_status: Some(client_status::LOST.to_string()),
            ..AllocDesiredUpdate::default()
        }])],
    );
    assert_eq!(counts(&state, "a"), ChildCounts { dead: 1, failed: 1, ..ChildCounts::default() });

    // The same child ID re-registered under another parent moves its count.
    apply_checked(&mut state, 4, vec![Op::UpsertJob(Job { parent_id: "b".to_string(), ..child("a", 1, "") })]);
    assert_eq!(counts(&state, "a"), ChildCounts::default());
    assert_eq!(counts(&state, "b"), ChildCounts { dead: 1, failed: 1, ..ChildCounts::default() });

    // Its only allocation deleted, it has nothing left to have ended with.
    apply_checked(&mut state, 5, vec![Op::DeleteAllocs(vec!["x1".to_string()])]);
    assert_eq!(counts(&state, "b"), ChildCounts { pending: 1, active: 1, ..ChildCounts::default() });
}

#[test]
fn live_allocs_by_node_keep_what_the_client_still_has() {
    let mut state = StateMaps::default();
    apply_checked(
        &mut state,
        1,
        vec![
            Op::UpsertJob(job("web")),
            Op::upsert_allocs(vec![
                alloc("a1", "web", "n1", client_status::PENDING),
                alloc("a2", "web", "n1", client_status::RUNNING),
                alloc("a3", "web", "n2", client_status::RUNNING),
            ]),
        ],
    );
    assert_eq!(live_on(&state, "n1"), vec!["a1", "a2"]);

    // Told to stop, not yet reported by the client: still the client's business.
    apply_checked(
        &mut state,
        2,
        vec![Op::UpdateAllocsDesired(vec![AllocDesiredUpdate {
            alloc_id: "a1".to_string(),
            desired_status: Some(desired_status::STOP.to_string()),
            ..AllocDesiredUpdate::default()
        }])],
    );
    assert_eq!(live_on(&state, "n1"), vec!["a1", "a2"]);

    apply_checked(&mut state, 3, vec![client_update("a1", client_status::COMPLETE)]);
    apply_checked(&mut state, 4, vec![client_update("a2", client_status::FAILED)]);
    assert_eq!(live_on(&state, "n1"), Vec::<String>::new());
    assert!(!state.live_allocs_by_node.has_key(&Key::from("n1")), "nothing live is left on n1");
    assert_eq!(state.allocs_by_node.count(&Key::from("n1")), 2, "history is kept");

    // Moved to another node, and deleted.
    apply_checked(&mut state, 5, vec![Op::upsert_allocs(vec![alloc("a3", "web", "n1", client_status::RUNNING)])]);
    assert_eq!((live_on(&state, "n1"), live_on(&state, "n2")), (vec!["a3".to_string()], vec![]));
    apply_checked(&mut state, 6, vec![Op::DeleteAllocs(vec!["a3".to_string()])]);
    assert!(state.live_allocs_by_node.is_empty());
}

#[test]
fn token_and_system_job_indexes_follow_job_writes() {
    let mut state = StateMaps::default();
    let system = Job { job_type: JobType::System, ..job("sys") };
    apply_checked(
        &mut state,
        1,
        vec![
            Op::UpsertJob(system.clone()),
            Op::UpsertJob(Job { job_type: JobType::Sysbatch, ..job("sweep") }),
            Op::UpsertJob(job("web")),
            Op::UpsertJob(template("batch")),
            Op::UpsertJob(child("batch", 1, "tok")),
            Op::UpsertJob(child("batch", 2, "")),
        ],
    );
    let system_ids: Vec<&str> = state.system_jobs.iter().map(|key| key.1.as_str()).collect();
    assert_eq!(system_ids, vec!["sweep", "sys"]);
    let token = (Key::from("default"), Key::from("batch"), Key::from("tok"));
    assert_eq!(state.children_by_token.count(&token), 1);
    assert_eq!(state.children_by_token.pair_count(), 1, "children without a token are not indexed");

    // A type change and a purge leave the index.
    apply_checked(&mut state, 2, vec![Op::UpsertJob(Job { job_type: JobType::Service, ..system })]);
    apply_checked(&mut state, 3, vec![purge("sweep"), purge("batch/dispatch-1")]);
    assert!(state.system_jobs.is_empty());
    assert!(state.children_by_token.is_empty());
}

#[test]
fn finished_runs_are_indexed_once_in_trimming_order() {
    use drover_types::{Run, run_status};
    let run = |id: &str, status: &str, finished_at: i64| {
        Arc::new(Run {
            id: id.to_string(),
            namespace: "default".to_string(),
            job_id: "batch".to_string(),
            status: status.to_string(),
            finished_at,
            ..Run::default()
        })
    };
    let mut state = StateMaps::default();
    state.put_run(run("r1", run_status::STARTING, 0));
    state.put_run(run("r2", run_status::SUCCESS, 20));
    state.put_run(run("r3", run_status::FAILED, 5));
    state.put_run(run("r1", run_status::SUCCESS, 10));
    state.put_run(run("r1", run_status::SUCCESS, 30));
    let job = job_key("default", "batch");
    let ids = |keys: Vec<crate::maps::RunKey>| keys.into_iter().map(|key| key.2).collect::<Vec<_>>();
    assert_eq!(ids(state.finished_run_keys(&job, true)), vec!["r2", "r1"], "oldest finish first, once each");
    assert_eq!(ids(state.finished_run_keys(&job, false)), vec!["r3"]);
    state.remove_run(&(Key::from("default"), Key::from("batch"), Key::from("r2")));
    assert_eq!(ids(state.finished_run_keys(&job, true)), vec!["r1"]);
    assert_eq!(state.finished_runs.len(), 2);
}
