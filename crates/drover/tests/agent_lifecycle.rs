//! The agent as an operator sees it: `-dev` shuts down cleanly and leaves no
//! task running, `-log-json` writes JSON lines, system jobs land on every
//! node, fingerprinted attributes are visible, and the event stream and the
//! Prometheus metrics report what happened.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::time::Duration;

use common::{Agent, wait_for};

/// Processes (other than zombies) whose working directory is under `dir`.
fn processes_under(dir: &std::path::Path) -> Vec<i32> {
    let Ok(dir) = dir.canonicalize() else { return Vec::new() };
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let Ok(cwd) = std::fs::read_link(entry.path().join("cwd")) else { continue };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let zombie = stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z'));
        if cwd.starts_with(&dir) && !zombie {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn dev_agent_stops_its_tasks_on_shutdown_and_logs_json() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("agent");
    let port = common::free_port();
    let mut agent = Agent::start_with(
        vec![
            "agent".into(),
            "-dev".into(),
            format!("-http-port={port}"),
            format!("-data-dir={}", data.display()),
            "-log-json".into(),
        ],
        format!("http://127.0.0.1:{port}"),
        &data,
        true,
    );
    let spec = r#"
job "sleepers" {
  group "g" {
    count = 2
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "sleep 1000 & sleep 1000; wait"]
      }
      resources { memory = 32 }
    }
  }
}
"#;
    std::fs::write(dir.path().join("sleepers.hcl"), spec).expect("write spec");
    agent.cli(dir.path(), &["job", "run", "sleepers.hcl"]).expect_code(0);
    let alloc_dir = data.join("alloc");
    wait_for("tasks running", Duration::from_secs(30), || (processes_under(&alloc_dir).len() >= 4).then_some(()));

    agent.stop();
    let left = processes_under(&alloc_dir);
    assert!(left.is_empty(), "tasks left running after the dev agent stopped: {left:?}\nagent log:\n{}", agent.log());

    let log = agent.log();
    let json_lines: Vec<&str> = log.lines().filter(|l| l.starts_with('{')).collect();
    assert!(!json_lines.is_empty(), "no JSON log lines:\n{log}");
    for line in json_lines {
        let value: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(value.get("level").is_some() && value.get("fields").is_some(), "{line}");
    }
    assert!(log.contains("==> Drover agent started!"), "{log}");
    assert!(log.contains("Node Id:"), "{log}");
}

#[test]
fn system_jobs_events_metrics_and_attributes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = Agent::dev(&dir.path().join("agent"));

    // Follow the event stream from the start.
    let host = agent.address.trim_start_matches("http://").to_string();
    let mut stream = std::net::TcpStream::connect(&host).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    write!(stream, "GET /v1/event/stream?topic=Allocation:* HTTP/1.1\r\nHost: {host}\r\n\r\n").expect("request");
    let mut reader = BufReader::new(stream);

    let spec = r#"
job "everywhere" {
  type = "system"
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["1000"]
      }
      resources { memory = 16 }
    }
  }
}
"#;
    std::fs::write(dir.path().join("system.hcl"), spec).expect("write spec");
    agent.cli(dir.path(), &["job", "run", "system.hcl"]).expect_code(0).expect_stdout("created: node");
    let allocs = agent.api("/v1/job/everywhere/allocations");
    assert_eq!(allocs.as_array().map(Vec::len), Some(1), "one per node: {allocs}");

    // The stream carries the allocation's events, and only Allocation ones.
    let mut saw_alloc = false;
    let mut line = String::new();
    for _ in 0..200 {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        if line.contains("\"Topic\"") {
            assert!(!line.contains("\"Topic\":\"Job\""), "topic filter leaked: {line}");
            if line.contains("\"Topic\":\"Allocation\"") && line.contains("everywhere") {
                saw_alloc = true;
                break;
            }
        }
    }
    assert!(saw_alloc, "no allocation event for the system job on the stream");

    let metrics = common::http_get(&agent.address, "/v1/metrics?format=prometheus").expect("metrics");
    for name in [
        "drover_placements_total",
        "drover_evals_processed_total",
        "drover_broker_ready",
        "drover_http_request_duration_seconds_bucket",
    ] {
        assert!(metrics.contains(name), "missing {name} in:\n{metrics}");
    }
    let placements: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("drover_placements_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("placements counter");
    assert!(placements >= 1, "{metrics}");

    let node = agent.cli(dir.path(), &["node", "status", "-self", "-verbose"]);
    node.expect_code(0).expect_stdout("kernel.name").expect_stdout("cpu.numcores").expect_stdout("driver.raw_exec");
    agent.cli(dir.path(), &["job", "stop", "everywhere"]).expect_code(0);
}
