//! The getting-started story of seed 002 with the real binary and a real
//! `drover agent -dev`: init, run, status, alloc status, alloc logs, count
//! 1 -> 3 through plan and `run -check-index`, stop. Plus: a job no node can
//! fit exits 2 with the reason; a restarted server keeps everything; a killed
//! node's allocations go lost and are replaced.

mod common;

use std::time::Duration;

use common::{Agent, free_port, quoted_after, wait_for};

#[test]
fn seed_002_init_run_status_logs_scale_plan_stop() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = Agent::dev(&dir.path().join("agent"));
    let work = dir.path();

    agent.cli(work, &["job", "init"]).expect_code(0).expect_stdout("Example job file written to example.drover.hcl");
    assert!(work.join("example.drover.hcl").exists());
    agent.cli(work, &["job", "init"]).expect_code(1);

    let run = agent.cli(work, &["job", "run", "example.drover.hcl"]);
    run.expect_code(0)
        .expect_stdout("==> Monitoring evaluation \"")
        .expect_stdout("Evaluation triggered by job \"example\"")
        .expect_stdout("created: node \"")
        .expect_stdout(", group \"cache\"")
        .expect_stdout("Evaluation status changed: \"pending\" -> \"complete\"")
        .expect_stdout("finished with status \"complete\"");
    let alloc_id = quoted_after(&run.stdout, "Allocation \"").expect("allocation id in monitor output");
    assert_eq!(alloc_id.len(), 8, "short IDs in the monitor: {alloc_id}");

    let status = wait_for("job running", Duration::from_secs(30), || {
        let out = agent.cli(work, &["status", "example"]);
        (out.code == 0 && out.stdout.contains("Status        = running") && out.stdout.contains("running  "))
            .then_some(out)
    });
    status
        .expect_stdout("ID            = example")
        .expect_stdout("Type          = service")
        .expect_stdout("Priority      = 50")
        .expect_stdout("Parameterized = false")
        .expect_stdout("Task Group  Queued  Starting  Running  Failed  Complete  Lost")
        .expect_stdout("Allocations")
        .expect_stdout(&alloc_id);

    let alloc = wait_for("task started", Duration::from_secs(30), || {
        let out = agent.cli(work, &["alloc", "status", &alloc_id]);
        (out.code == 0 && out.stdout.contains("Task \"server\" is \"running\"")).then_some(out)
    });
    alloc
        .expect_stdout("Name                = example.cache[0]")
        .expect_stdout("Client Status       = running")
        .expect_stdout("Recent Events:")
        .expect_stdout("Started")
        .expect_stdout("Task started by client")
        .expect_stdout("Received");

    let logs = wait_for("task output", Duration::from_secs(30), || {
        let out = agent.cli(work, &["alloc", "logs", &alloc_id, "server"]);
        (out.code == 0 && out.stdout.contains("example: server started")).then_some(out)
    });
    logs.expect_stdout("example: still running (1)");

    // Scale to 3: plan shows 2 create, 1 in-place update and the check index.
    let spec = std::fs::read_to_string(work.join("example.drover.hcl")).expect("read jobspec");
    std::fs::write(work.join("example.drover.hcl"), spec.replacen("    count = 1\n", "    count = 3\n", 1))
        .expect("write jobspec");
    let plan = agent.cli(work, &["job", "plan", "example.drover.hcl"]);
    plan.expect_code(1)
        .expect_stdout("+/- Job: \"example\"")
        .expect_stdout("+/- Task Group: \"cache\" (2 create, 1 in-place update)")
        .expect_stdout("+/- Count: \"1\" => \"3\" (forces create)")
        .expect_stdout("Task: \"server\"")
        .expect_stdout("Scheduler dry-run:")
        .expect_stdout("- All tasks successfully allocated.")
        .expect_stdout("Job Modify Index: ");
    let modify_index = plan
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Job Modify Index: "))
        .expect("modify index line")
        .trim()
        .to_string();
    plan.expect_stdout(&format!("drover job run -check-index {modify_index} example.drover.hcl"));

    let stale = (modify_index.parse::<u64>().expect("number") + 1000).to_string();
    let refused = agent.cli(work, &["job", "run", "-check-index", &stale, "example.drover.hcl"]);
    assert_eq!(refused.code, 1, "stale check index refused: {refused:?}");

    let scaled = agent.cli(work, &["job", "run", "-check-index", &modify_index, "example.drover.hcl"]);
    scaled.expect_code(0).expect_stdout("finished with status \"complete\"");
    assert_eq!(scaled.stdout.matches("created: node").count(), 2, "two new allocations: {}", scaled.stdout);
    scaled.expect_stdout(&format!("Allocation \"{alloc_id}\" modified"));

    wait_for("three allocations running", Duration::from_secs(30), || {
        let out = agent.cli(work, &["job", "status", "example"]);
        (out.stdout.matches("  running  ").count() >= 3).then_some(())
    });

    // Idempotent: running the same spec again creates nothing.
    let again = agent.cli(work, &["job", "run", "example.drover.hcl"]);
    again.expect_code(0);
    assert!(!again.stdout.contains("created: node"), "{}", again.stdout);

    let history = agent.cli(work, &["job", "history", "example"]);
    history.expect_code(0).expect_stdout("Version     = 1").expect_stdout("Version     = 0");

    agent.cli(work, &["job", "stop", "example"]).expect_code(0).expect_stdout("finished with status \"complete\"");
    wait_for("job dead (stopped)", Duration::from_secs(30), || {
        let out = agent.cli(work, &["status", "example"]);
        (out.stdout.contains("Status        = dead (stopped)") && !out.stdout.contains("  running  ")).then_some(())
    });
}

#[test]
fn a_job_no_node_can_fit_exits_2_with_the_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = Agent::dev(&dir.path().join("agent"));
    let spec = r#"
job "too-big" {
  type = "batch"
  group "g" {
    task "t" {
      driver = "raw_exec"
      config { command = "/bin/true" }
      resources { memory = 100000000 }
    }
  }
}
"#;
    std::fs::write(dir.path().join("big.hcl"), spec).expect("write spec");
    let out = agent.cli(dir.path(), &["job", "run", "big.hcl"]);
    out.expect_code(2)
        .expect_stdout("failed to place all allocations")
        .expect_stdout("Task Group \"g\" (failed to place 1 allocation)")
        .expect_stdout("Dimension \"memory\" exhausted on 1 nodes");

    let windows = r#"
job "windows-only" {
  type = "batch"
  constraint {
    attribute = "${attr.kernel.name}"
    value     = "windows"
  }
  group "g" {
    task "t" {
      driver = "raw_exec"
      config { command = "/bin/true" }
    }
  }
}
"#;
    std::fs::write(dir.path().join("win.hcl"), windows).expect("write spec");
    agent
        .cli(dir.path(), &["job", "run", "win.hcl"])
        .expect_code(2)
        .expect_stdout("Constraint \"${attr.kernel.name} = windows\": 1 nodes excluded by filter");

    // Errors a newcomer meets: one line, exit 1.
    agent
        .cli(dir.path(), &["job", "status", "nope"])
        .expect_code(1)
        .expect_stderr("No job(s) with prefix or id \"nope\" found");
    std::fs::write(dir.path().join("broken.hcl"), "job \"x\" {\n  group \"g\" {\n    count = \"three\"\n  }\n}\n")
        .expect("write spec");
    let broken = agent.cli(dir.path(), &["job", "run", "broken.hcl"]);
    broken.expect_code(1).expect_stderr("broken.hcl:3");
    let down = common::run_cli(dir.path(), &format!("http://127.0.0.1:{}", free_port()), &["job", "status"], None);
    down.expect_code(1);
    assert!(down.stderr.lines().count() <= 2, "one clear line, no backtrace: {}", down.stderr);
    assert!(!down.stderr.contains("panicked"), "{}", down.stderr);
}

#[test]
fn a_restarted_server_still_knows_everything() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("agent");
    let mut agent = Agent::dev(&data);
    let spec = r#"
job "sleeper" {
  group "g" {
    count = 2
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["1000"]
      }
      resources { memory = 32 }
    }
  }
}
"#;
    std::fs::write(dir.path().join("sleeper.hcl"), spec).expect("write spec");
    agent.cli(dir.path(), &["job", "run", "sleeper.hcl"]).expect_code(0);
    let before_allocs = agent.api("/v1/job/sleeper/allocations");
    let before_evals = agent.api("/v1/job/sleeper/evaluations");
    let before_nodes = agent.api("/v1/nodes");
    assert_eq!(before_allocs.as_array().map(Vec::len), Some(2));

    agent.restart(true);

    let job = agent.api("/v1/job/sleeper");
    assert_eq!(job["ID"], "sleeper");
    let after_allocs = agent.api("/v1/job/sleeper/allocations");
    let ids = |v: &serde_json::Value| {
        let mut ids: Vec<String> =
            v.as_array().into_iter().flatten().map(|a| a["ID"].as_str().unwrap_or("").to_string()).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&before_allocs), ids(&after_allocs), "same allocations after restart");
    assert_eq!(ids(&before_evals), ids(&agent.api("/v1/job/sleeper/evaluations")), "same evaluations");
    assert_eq!(ids(&before_nodes), ids(&agent.api("/v1/nodes")), "same node");
    let out = agent.cli(dir.path(), &["job", "status", "sleeper"]);
    out.expect_code(0).expect_stdout("ID            = sleeper");
}

#[test]
fn a_killed_nodes_allocations_go_lost_and_are_replaced() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_server, address) = common::start_server(dir.path(), common::FAST_HEARTBEATS);
    let client = |name: &str| common::start_client(dir.path(), &address, name, &[]);
    let mut client_a = client("client-a");
    let mut client_b = client("client-b");
    wait_for("two ready nodes", Duration::from_secs(30), || {
        let nodes = common::http_get(&address, "/v1/nodes")?;
        (nodes.matches("\"ready\"").count() == 2).then_some(())
    });

    let spec = r#"
job "web" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["1000"]
      }
      resources { memory = 32 }
    }
  }
}
"#;
    std::fs::write(dir.path().join("web.hcl"), spec).expect("write spec");
    common::run_cli(dir.path(), &address, &["job", "run", "web.hcl"], None).expect_code(0);
    let allocs: serde_json::Value =
        serde_json::from_str(&common::http_get(&address, "/v1/job/web/allocations").expect("allocs")).expect("json");
    let first = allocs[0].clone();
    let first_node = first["NodeName"].as_str().unwrap_or("").to_string();
    // Kill the client that runs it (and its task) without any cleanup.
    if first_node == "client-a" {
        client_a.kill();
    } else {
        client_b.kill();
    }
    let first_id = first["ID"].as_str().expect("alloc id").to_string();
    wait_for("allocation lost and replaced", Duration::from_secs(30), || {
        let allocs: serde_json::Value =
            serde_json::from_str(&common::http_get(&address, "/v1/job/web/allocations")?).ok()?;
        let list = allocs.as_array()?;
        let lost = list.iter().any(|a| a["ID"] == first_id.as_str() && a["ClientStatus"] == "lost");
        let replaced = list.iter().any(|a| {
            a["ID"] != first_id.as_str() && a["NodeName"] != first_node.as_str() && a["ClientStatus"] == "running"
        });
        (lost && replaced).then_some(())
    });
    let nodes = common::http_get(&address, "/v1/nodes").expect("nodes");
    assert!(nodes.contains("\"down\""), "the killed node is down: {nodes}");
    // The killed client could not stop its task; do it for it.
    common::kill_processes_under(dir.path());
}
