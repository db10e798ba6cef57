//! The dispatch backlog is durable: children held by `max_concurrent` and
//! children waiting for capacity survive a server restart in the middle, keep
//! their order, and run when their turn comes.

mod common;
mod dispatch_common;

use common::{Agent, wait_for};
use dispatch_common::{DEADLINE, Spec, allocs_of, kv_value, register};

fn queue_ids(agent: &Agent) -> Vec<String> {
    agent
        .api("/v1/job/video-encode/queue")
        .as_array()
        .map(|line| line.iter().filter_map(|held| held["JobID"].as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

fn status_of(agent: &Agent, job_id: &str) -> String {
    agent.api(&format!("/v1/job/{}", job_id.replace('/', "%2F")))["Status"].as_str().unwrap_or("").to_string()
}

#[test]
fn a_restart_in_the_middle_of_a_backlog_loses_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let work = dir.path();
    let mut agent = Agent::dev(&work.join("agent"));
    register(&agent, work, &Spec { parameterized: "max_concurrent = 1", ..Spec::default() });
    register(&agent, work, &Spec { id: "too-big", memory_mb: 10_000_000, ..Spec::default() });

    // One child runs (held open by a gate file); three wait in line behind it.
    let gate = work.join("gate");
    let gate_meta = format!("gate={}", gate.display());
    let out = agent.cli(work, &["job", "dispatch", "-detach", "-meta", &gate_meta, "video-encode"]);
    out.expect_code(0);
    let first = kv_value(&out.stdout, "Dispatched Job ID").expect("child ID");
    wait_for("the first child runs", DEADLINE, || (status_of(&agent, &first) == "running").then_some(()));
    let mut waiting = Vec::new();
    for _ in 0..3 {
        let out = agent.cli(work, &["job", "dispatch", "-detach", "-meta", &gate_meta, "video-encode"]);
        out.expect_code(0).expect_stdout("Dispatch queued");
        waiting.push(kv_value(&out.stdout, "Dispatched Job ID").expect("child ID"));
    }
    assert_eq!(queue_ids(&agent), waiting, "the line before the restart");
    // Two children no node can fit wait for capacity.
    let mut blocked = Vec::new();
    for _ in 0..2 {
        let out = agent.cli(work, &["job", "dispatch", "-detach", "too-big"]);
        out.expect_code(0);
        blocked.push(kv_value(&out.stdout, "Dispatched Job ID").expect("child ID"));
    }

    agent.restart(true);

    // Nothing was lost: every child is still known; the held ones keep their
    // order (the first child's task stopped with the dev agent, so the line may
    // have moved on by one, never reordered).
    for child in waiting.iter().chain(blocked.iter()).chain(std::iter::once(&first)) {
        assert!(!status_of(&agent, child).is_empty(), "{child} is still known after the restart");
    }
    let line = queue_ids(&agent);
    let expected_tail: Vec<String> = waiting.iter().rev().take(line.len()).rev().cloned().collect();
    assert_eq!(line, expected_tail, "the line keeps its order across the restart");
    assert!(line.len() >= 2, "at most one held child was released: {line:?}");
    for child in &blocked {
        let evals = agent.api(&format!("/v1/job/{}/evaluations", child.replace('/', "%2F")));
        let still_waiting = evals.as_array().into_iter().flatten().any(|e| e["Status"] == "blocked");
        assert!(still_waiting, "{child} still waits for capacity: {evals}");
    }
    // The restarted server re-checks capacity once its client registers, so a
    // blocked child may be briefly in a scheduler's hands: wait for the queue
    // to list every one.
    wait_for("the queue lists the children waiting for capacity", DEADLINE, || {
        let queue = agent.cli(work, &["queue"]);
        queue.expect_code(0);
        let listed = |child: &String| queue.stdout.contains(child.as_str()) || queue.stdout.contains(&child[..20]);
        blocked.iter().all(listed).then_some(())
    });

    // Open the gate: the held children run, one at a time, in dispatch order.
    std::fs::write(&gate, "go").expect("create gate file");
    for child in &waiting {
        wait_for(&format!("{child} finished"), DEADLINE, || (status_of(&agent, child) == "dead").then_some(()));
    }
    let order: Vec<u64> = waiting.iter().map(|id| allocs_of(&agent, id)[0].1).collect();
    assert!(order.windows(2).all(|pair| pair[0] < pair[1]), "placed in dispatch order: {order:?}");
    agent.cli(work, &["job", "stop", "-children", "-purge", "too-big"]).expect_code(0);
}
