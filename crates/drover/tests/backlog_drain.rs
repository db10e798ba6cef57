//! A dispatch backlog against a real server binary: while no node can take
//! the children, each dispatch costs one evaluation write (its class is known
//! blocked, so it waits without a scheduler pass or a second evaluation), and
//! every waiting child shows why in the queue and in `job status`. When
//! simulated nodes join, every child runs, released by priority then age.

mod common;
mod dispatch_common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::Value;

use common::{Agent, start_client, start_server, wait_for};
use dispatch_common::http;

/// Children dispatched at the default priority, then at a higher one.
const N_LOW: usize = 150;
const N_HIGH: usize = 50;
const HIGH_PRIORITY: i64 = 70;

/// Three of these fit on a simulated node (8 GiB), so the backlog drains in
/// many waves as children finish.
const PARENT_HCL: &str = r#"job "drain" {
  type        = "batch"
  datacenters = ["dc1"]
  parameterized {
    payload = "forbidden"
  }
  group "g" {
    restart {
      attempts = 0
      mode     = "fail"
    }
    reschedule {
      attempts  = 0
      unlimited = false
    }
    ephemeral_disk {
      size = 10
    }
    task "t" {
      driver = "mock"
      config {
        run_for = "20ms"
      }
      resources {
        cpu    = 20
        memory = 2500
      }
    }
  }
}
"#;

fn api_list(agent: &Agent, path: &str) -> Vec<Value> {
    agent.api(path).as_array().cloned().unwrap_or_default()
}

fn dispatch(agent: &Agent, priority: i64) -> String {
    let body = if priority == 0 { "{}".to_string() } else { format!("{{\"Priority\": {priority}}}") };
    let (status, reply) = http(&agent.address, "POST", "/v1/job/drain/dispatch", &body).expect("server answers");
    assert_eq!(status, 200, "{reply}");
    let reply: Value = serde_json::from_str(&reply).expect("JSON reply");
    reply["DispatchedJobID"].as_str().expect("child ID").to_string()
}

fn evaluations_of(agent: &Agent, job_id: &str) -> Value {
    agent.api(&format!("/v1/job/{}/evaluations", job_id.replace('/', "%2F")))
}

fn children(agent: &Agent) -> Vec<Value> {
    api_list(agent, "/v1/jobs?prefix=drain/").into_iter().filter(|job| job["ParentID"] == "drain").collect()
}

#[test]
fn a_backlog_costs_one_write_per_dispatch_and_drains_in_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let work = dir.path();
    // One scheduler worker: batches are committed one after another, so the
    // order placements are committed in is the order the broker released them.
    let (server, address) = start_server(work, "server {\n  num_schedulers = 1\n}\n");
    std::fs::write(work.join("drain.hcl"), PARENT_HCL).expect("job file");
    server.cli(work, &["job", "run", "-detach", "drain.hcl"]).expect_code(0);

    let mut dispatched = Vec::new();
    for _ in 0..N_LOW {
        dispatched.push(dispatch(&server, 0));
    }
    for _ in 0..N_HIGH {
        dispatched.push(dispatch(&server, HIGH_PRIORITY));
    }
    let n_children = dispatched.len();

    // The backlog settles: every child's evaluation is blocked.
    let evals = wait_for("every child's evaluation blocked", Duration::from_secs(30), || {
        let evals: Vec<Value> = api_list(&server, "/v1/evaluations")
            .into_iter()
            .filter(|eval| eval["JobID"].as_str().is_some_and(|id| id.starts_with("drain/")))
            .collect();
        let n_blocked = evals.iter().filter(|eval| eval["Status"] == "blocked").count();
        (n_blocked >= n_children).then_some(evals)
    });
    // One evaluation per dispatch, plus the one blocked evaluation of the
    // child that found the class blocked; nothing else was created.
    assert_eq!(evals.len(), n_children + 1, "evaluations: one per dispatch plus the class's blocked one");
    let mut per_child: BTreeMap<&str, usize> = BTreeMap::new();
    for eval in &evals {
        *per_child.entry(eval["JobID"].as_str().unwrap_or_default()).or_default() += 1;
    }
    assert_eq!(per_child.values().filter(|n| **n > 1).count(), 1, "only the first child has a second evaluation");
    // Written once: the dispatch's own write already said `blocked` (a few
    // children dispatched before the class was known get a second write).
    let written_once = evals.iter().filter(|eval| eval["ModifyIndex"] == eval["CreateIndex"]).count();
    assert!(written_once + 10 >= n_children, "{written_once} of {n_children} evaluations written once");

    // Every child waits with its class's reason, in the queue and in `job status`.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let waiting = loop {
        let queue = server.api("/v1/queue");
        let waiting: Vec<Value> = queue["Queued"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|item| item["JobID"].as_str().is_some_and(|id| id.starts_with("drain/")))
            .cloned()
            .collect();
        let queued: BTreeSet<&str> = waiting.iter().filter_map(|item| item["JobID"].as_str()).collect();
        let missing: Vec<&String> = dispatched.iter().filter(|child| !queued.contains(child.as_str())).collect();
        if missing.is_empty() {
            break waiting;
        }
        if std::time::Instant::now() > deadline {
            let evals: Vec<Value> = missing.iter().map(|child| evaluations_of(&server, child)).collect();
            panic!("children missing from the queue: {missing:?}; their evaluations: {evals:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    for item in &waiting {
        assert_eq!(item["Kind"], "blocked", "{item}");
        let reason = item["Reason"].as_str().unwrap_or_default();
        assert!(reason.contains("no ready and eligible node in node pool \"default\""), "{reason}");
    }
    let last = dispatched.last().expect("dispatched children");
    let status = server.cli(work, &["job", "status", last]);
    status.expect_code(0).expect_stdout("Placement Failure").expect_stdout("Task Group \"g\"");

    // Nodes join: every child runs to completion.
    let _sim = start_client(work, &address, "sim", &["-sim-nodes=2"]);
    wait_for("every child finished", Duration::from_secs(120), || {
        let children = children(&server);
        (children.len() == n_children && children.iter().all(|job| job["Status"] == "dead")).then_some(())
    });

    // Release order: higher priority first, then oldest first. Placements of
    // one batch share a commit index, so the indexes never go down.
    let allocs = api_list(&server, "/v1/allocations?prefix=");
    let placed_at: BTreeMap<String, u64> = allocs
        .iter()
        .filter_map(|alloc| Some((alloc["JobID"].as_str()?.to_string(), alloc["CreateIndex"].as_u64()?)))
        .collect();
    let mut order: Vec<(i64, u64, String)> = children(&server)
        .iter()
        .map(|job| {
            let priority = job["Priority"].as_i64().unwrap_or_default();
            let age = job["CreateIndex"].as_u64().unwrap_or_default();
            (-priority, age, job["ID"].as_str().unwrap_or_default().to_string())
        })
        .collect();
    order.sort();
    let indexes: Vec<u64> =
        order.iter().map(|(_, _, id)| *placed_at.get(id).unwrap_or_else(|| panic!("{id} was placed"))).collect();
    // Children sharing a create index may go in either order; an older one
    // is never placed after a younger one.
    let mut out_of_order = Vec::new();
    let mut placed_before = 0; // latest placement among strictly older children
    let mut group_start = 0;
    for idx in 0..order.len() {
        if idx > 0 && (order[idx].0, order[idx].1) != (order[idx - 1].0, order[idx - 1].1) {
            placed_before = placed_before.max(indexes[group_start..idx].iter().copied().max().unwrap_or(0));
            group_start = idx;
        }
        if indexes[idx] < placed_before {
            out_of_order.push(format!("{} (priority {}, age {})", order[idx].2, -order[idx].0, order[idx].1));
        }
    }
    assert!(out_of_order.is_empty(), "placed before older children: {out_of_order:#?}\nplacement indexes: {indexes:?}");
    let n_commits = indexes.windows(2).filter(|pair| pair[1] != pair[0]).count() + 1;
    assert!(n_commits > 1, "the backlog drained in more than one wave");
}
