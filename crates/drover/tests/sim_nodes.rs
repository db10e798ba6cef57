//! Simulated nodes (`drover agent -client -sim-nodes N`) against a real
//! server binary: they register with their own IDs, names and class,
//! heartbeat, run mock work to completion (and failure), and go down once the
//! simulating agent stops. The server runs with a 1 s heartbeat TTL and grace.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Agent, free_port, wait_for};

const N_NODES: usize = 5;

fn sim_nodes(server: &Agent) -> Vec<serde_json::Value> {
    server
        .api("/v1/nodes")
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|node| node["Name"].as_str().is_some_and(|name| name.starts_with("sim-")))
        .collect()
}

fn summary_counts(server: &Agent, job: &str) -> Option<(u64, u64)> {
    let body = common::http_get(&server.address, &format!("/v1/job/{job}/summary"))?;
    let summary: serde_json::Value = serde_json::from_str(&body).ok()?;
    let group = &summary["Summary"]["g"];
    Some((group["Complete"].as_u64()?, group["Failed"].as_u64()?))
}

#[test]
fn sim_nodes_register_heartbeat_complete_work_and_go_down() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("server.hcl");
    std::fs::write(&config, "server {\n  heartbeat_ttl = \"1s\"\n  heartbeat_grace = \"1s\"\n}\n").expect("config");
    let port = free_port();
    let address = format!("http://127.0.0.1:{port}");
    let server = Agent::start_with(
        vec![
            "agent".to_string(),
            "-server".to_string(),
            format!("-http-port={port}"),
            format!("-data-dir={}", dir.path().join("server").display()),
            format!("-config={}", config.display()),
        ],
        address.clone(),
        &dir.path().join("server"),
        true,
    );
    let mut sim = Agent::start_with(
        vec![
            "agent".to_string(),
            "-client".to_string(),
            format!("-sim-nodes={N_NODES}"),
            "-sim-node-class=simulated".to_string(),
            format!("-servers=127.0.0.1:{port}"),
        ],
        address.clone(),
        &dir.path().join("sim"),
        false,
    );

    // Register: N ready nodes, distinct IDs, sim-<i> names, the class, mock only.
    let nodes = wait_for("simulated nodes ready", Duration::from_secs(30), || {
        let nodes = sim_nodes(&server);
        (nodes.len() == N_NODES && nodes.iter().all(|n| n["Status"] == "ready")).then_some(nodes)
    });
    let mut names: Vec<String> = nodes.iter().filter_map(|n| n["Name"].as_str().map(str::to_string)).collect();
    names.sort();
    let expected: Vec<String> = (0..N_NODES).map(|i| format!("sim-{i}")).collect();
    assert_eq!(names, expected);
    let ids: std::collections::BTreeSet<&str> = nodes.iter().filter_map(|n| n["ID"].as_str()).collect();
    assert_eq!(ids.len(), N_NODES, "each node has its own ID");
    let node_id = nodes[0]["ID"].as_str().expect("node ID").to_string();
    let node = server.api(&format!("/v1/node/{node_id}"));
    assert_eq!(node["NodeClass"], "simulated");
    assert_eq!(
        node["Drivers"].as_object().map(|d| d.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["mock".to_string()])
    );
    assert_eq!(node["Attributes"]["driver.mock"], "1");
    assert!(node["Attributes"]["unique.hostname"].as_str().is_some_and(|h| h.starts_with("sim-")));

    // Heartbeat: every node's last heartbeat moves on and they stay ready past TTL + grace.
    let first: BTreeMap<String, i64> = nodes
        .iter()
        .map(|n| (n["ID"].as_str().unwrap_or_default().to_string(), n["LastHeartbeat"].as_i64().unwrap_or(0)))
        .collect();
    wait_for("heartbeats from every node", Duration::from_secs(30), || {
        let nodes = sim_nodes(&server);
        let all_moved = nodes.iter().all(|n| {
            let id = n["ID"].as_str().unwrap_or_default();
            n["Status"] == "ready" && n["LastHeartbeat"].as_i64().unwrap_or(0) > first.get(id).copied().unwrap_or(0)
        });
        (nodes.len() == N_NODES && all_moved).then_some(())
    });

    // Work: mock tasks complete; a task exiting 3 fails its allocation.
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).expect("work dir");
    let job = |name: &str, count: u32, config: &str| {
        format!(
            r#"job "{name}" {{
  type        = "batch"
  datacenters = ["dc1"]
  group "g" {{
    count = {count}
    restart {{
      attempts = 0
      mode     = "fail"
    }}
    reschedule {{
      attempts  = 0
      unlimited = false
    }}
    ephemeral_disk {{
      size = 10
    }}
    task "t" {{
      driver = "mock"
      config {{
        {config}
      }}
      resources {{
        cpu    = 20
        memory = 32
      }}
    }}
  }}
}}
"#
        )
    };
    std::fs::write(work.join("ok.hcl"), job("sim-ok", 8, "run_for = \"100ms\"")).expect("job file");
    std::fs::write(work.join("bad.hcl"), job("sim-bad", 2, "exit_code = 3")).expect("job file");
    server.cli(&work, &["job", "run", "-detach", "ok.hcl"]).expect_code(0);
    server.cli(&work, &["job", "run", "-detach", "bad.hcl"]).expect_code(0);
    wait_for("mock work complete", Duration::from_secs(60), || {
        (summary_counts(&server, "sim-ok") == Some((8, 0))).then_some(())
    });
    wait_for("failing mock work failed", Duration::from_secs(60), || {
        (summary_counts(&server, "sim-bad") == Some((0, 2))).then_some(())
    });
    let allocs = server.api("/v1/job/sim-ok/allocations");
    let alloc_id = allocs[0]["ID"].as_str().expect("alloc ID").to_string();
    let alloc = server.api(&format!("/v1/allocation/{alloc_id}"));
    assert_eq!(alloc["ClientStatus"], "complete");
    let events: Vec<&str> = alloc["TaskStates"]["t"]["Events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["Type"].as_str())
        .collect();
    assert_eq!(events, vec!["Received", "Task Setup", "Started", "Terminated"]);
    assert_eq!(alloc["TaskStates"]["t"]["State"], "dead");

    // Stop: the server marks every simulated node down after TTL + grace.
    sim.stop();
    wait_for("simulated nodes down", Duration::from_secs(30), || {
        let nodes = sim_nodes(&server);
        (nodes.len() == N_NODES && nodes.iter().all(|n| n["Status"] == "down")).then_some(())
    });
}
