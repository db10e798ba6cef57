//! A client killed without warning and started again on the same data dir
//! re-attaches to the task it left running: the same process keeps running,
//! the allocation stays `running`, and nothing is started twice. A task that
//! ended while the client was down is recorded with its real exit code.

mod common;

use std::time::Duration;

use common::{run_cli, wait_for};

fn task_pid(alloc_dir: &std::path::Path) -> Option<i32> {
    // The task writes its own PID as its first act.
    std::fs::read_to_string(alloc_dir.join("pid")).ok()?.trim().parse().ok()
}

fn process_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| !stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

#[test]
fn a_restarted_client_reattaches_and_runs_nothing_twice() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_server, address) = common::start_server(dir.path(), "");
    let client_dir = dir.path().join("client");
    let mut client = common::start_client(dir.path(), &address, "client", &[]);
    wait_for("the node is ready", Duration::from_secs(30), || {
        common::http_get(&address, "/v1/nodes").filter(|nodes| nodes.contains("\"ready\"")).map(|_| ())
    });

    let spec = r#"
job "steady" {
  group "g" {
    task "keep" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo $$ > ${NOMAD_ALLOC_DIR}/pid; echo started >> ${NOMAD_ALLOC_DIR}/starts; while true; do sleep 1; done"]
      }
      resources { memory = 32 }
    }
  }
}
"#;
    std::fs::write(dir.path().join("steady.hcl"), spec).expect("write spec");
    run_cli(dir.path(), &address, &["job", "run", "steady.hcl"], None).expect_code(0);
    let allocs: serde_json::Value =
        serde_json::from_str(&common::http_get(&address, "/v1/job/steady/allocations").expect("allocs")).expect("json");
    let alloc_id = allocs[0]["ID"].as_str().expect("alloc id").to_string();
    let alloc_shared = client_dir.join("alloc").join(&alloc_id).join("alloc");
    let pid = wait_for("the task wrote its pid", Duration::from_secs(30), || task_pid(&alloc_shared));
    assert!(process_alive(pid));

    // Crash the client: no cleanup at all. The task keeps running under its executor.
    client.kill();
    std::thread::sleep(Duration::from_millis(300));
    assert!(process_alive(pid), "the task must survive its client");

    client.restart(false);
    // Give the restarted client time to re-attach and report.
    wait_for("the allocation reported running again", Duration::from_secs(30), || {
        let alloc: serde_json::Value =
            serde_json::from_str(&common::http_get(&address, &format!("/v1/allocation/{alloc_id}"))?).ok()?;
        (alloc["ClientStatus"] == "running").then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(task_pid(&alloc_shared), Some(pid), "the same process, not a new one");
    assert!(process_alive(pid));
    let starts = std::fs::read_to_string(alloc_shared.join("starts")).expect("starts file");
    assert_eq!(starts.lines().count(), 1, "the task ran once: {starts}");
    let job_allocs: serde_json::Value =
        serde_json::from_str(&common::http_get(&address, "/v1/job/steady/allocations").expect("allocs")).expect("json");
    assert_eq!(job_allocs.as_array().map(Vec::len), Some(1), "no replacement was placed: {job_allocs}");

    // The task ends while its client is down: the restarted client records the real exit.
    client.kill();
    let _ = std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
    wait_for("the task exited", Duration::from_secs(10), || (!process_alive(pid)).then_some(()));
    client.restart(false);
    let alloc = wait_for("the exit recorded", Duration::from_secs(30), || {
        let alloc: serde_json::Value =
            serde_json::from_str(&common::http_get(&address, &format!("/v1/allocation/{alloc_id}"))?).ok()?;
        let events = alloc["TaskStates"]["keep"]["Events"].as_array()?.clone();
        events.iter().any(|e| e["Type"] == "Terminated").then_some(alloc)
    });
    let events = alloc["TaskStates"]["keep"]["Events"].as_array().expect("events");
    let terminated = events.iter().find(|e| e["Type"] == "Terminated").expect("terminated event");
    assert_eq!(terminated["Signal"], 15, "killed by SIGTERM while the client was down: {terminated}");
    client.stop();
    run_cli(dir.path(), &address, &["job", "stop", "-purge", "steady"], None);
    common::kill_processes_under(dir.path());
}
