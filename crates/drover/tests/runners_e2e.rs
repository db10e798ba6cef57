//! Seed 004 (Chef Automate runners and queue) on Drover: a server and client
//! agents with short heartbeats. Runner health going down when a client is
//! killed, `node test` passing and failing, a drain moving allocations, the
//! queue showing blocked work with its reason and draining when a runner is
//! added, and cancelling queued and running work.

mod common;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use common::{Agent, run_cli, wait_for};

struct Cluster {
    dir: tempfile::TempDir,
    address: String,
    _server: Agent,
}

impl Cluster {
    fn start() -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let (server, address) = common::start_server(dir.path(), common::FAST_HEARTBEATS);
        Cluster { dir, address, _server: server }
    }

    /// Starts a client agent named `name` with extra arguments.
    fn client(&self, name: &str, extra: &[&str]) -> Agent {
        common::start_client(self.dir.path(), &self.address, name, extra)
    }

    fn api(&self, path: &str) -> Value {
        let body = common::http_get(&self.address, path).unwrap_or_else(|| panic!("GET {path} failed"));
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"))
    }

    fn cli(&self, args: &[&str]) -> common::CliOutput {
        run_cli(self.dir.path(), &self.address, args, None)
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The node ID of the node named `name`, once it is `status`.
    fn node_with_status(&self, name: &str, status: &str) -> String {
        wait_for(&format!("node {name} {status}"), Duration::from_secs(30), || {
            let nodes = self.api("/v1/nodes");
            nodes
                .as_array()?
                .iter()
                .find(|n| n["Name"] == name && n["Status"] == status)
                .and_then(|n| n["ID"].as_str().map(str::to_string))
        })
    }
}

fn write_job(dir: &Path, file: &str, text: &str) {
    std::fs::write(dir.join(file), text).expect("write jobspec");
}

#[test]
fn runner_health_test_and_purge() {
    let cluster = Cluster::start();
    let mut runner_a = cluster.client("runner-a", &[]);
    let node_a = cluster.node_with_status("runner-a", "ready");

    let test = cluster.cli(&["node", "test", &node_a[..8]]);
    test.expect_code(0).expect_stdout(&format!("Runner \"{}\" test succeeded in ", &node_a[..8]));
    assert!(cluster.api("/v1/jobs").as_array().expect("array").is_empty(), "the probe job is purged");
    // Its allocation and evaluations go with it.
    for path in ["/v1/allocations".to_string(), format!("/v1/node/{node_a}/allocations"), "/v1/evaluations".to_string()]
    {
        let listed = cluster.api(&path);
        assert!(listed.as_array().expect("array").is_empty(), "{path} still lists the probe's work: {listed}");
    }
    cluster.cli(&["node", "status", &node_a]).expect_code(0).expect_stdout("Allocations\nNo allocations placed");

    // An ineligible or draining runner fails the test saying so and how to change it.
    let short_a = &node_a[..8];
    cluster.cli(&["node", "eligibility", "-disable", &node_a]).expect_code(0);
    cluster.cli(&["node", "status"]).expect_code(0).expect_stdout("ineligible");
    let test = cluster.cli(&["node", "test", "-timeout", "10s", &node_a]);
    test.expect_code(1).expect_stdout(&format!(
        "test failed: runner is ineligible for scheduling; make it eligible with \"drover node eligibility -enable {short_a}\""
    ));
    cluster.cli(&["node", "eligibility", "-enable", &node_a]).expect_code(0);
    cluster.cli(&["node", "drain", "-enable", "-yes", &node_a]).expect_code(0);
    let test = cluster.cli(&["node", "test", "-timeout", "10s", &node_a]);
    test.expect_code(1).expect_stdout(&format!(
        "test failed: runner is draining; end the drain with \"drover node drain -disable {short_a}\""
    ));
    cluster.cli(&["node", "drain", "-disable", &node_a]).expect_code(0);
    assert!(cluster.api("/v1/jobs").as_array().expect("array").is_empty(), "no probe job is left");

    // A killed runner goes down within the heartbeat grace; its test says so.
    runner_a.kill();
    common::kill_processes_under(&cluster.path().join("runner-a"));
    cluster.node_with_status("runner-a", "down");
    cluster.cli(&["node", "status"]).expect_code(0).expect_stdout("down");
    let test = cluster.cli(&["node", "test", &node_a]);
    test.expect_code(1).expect_stdout("test failed: runner is down");

    // Purge forgets it.
    cluster.cli(&["node", "purge", &node_a[..8]]).expect_code(0).expect_stdout("purged");
    assert!(cluster.api("/v1/nodes").as_array().expect("array").is_empty());
}

#[test]
fn drain_moves_allocations_and_queue_drains_when_a_runner_is_added() {
    let cluster = Cluster::start();
    let _runner_a = cluster.client("runner-a", &[]);
    let node_a = cluster.node_with_status("runner-a", "ready");

    // Blocked work waits with its reason: no runner has the class it asks for.
    write_job(
        cluster.path(),
        "gpu.hcl",
        r#"
job "gpu" {
  type = "batch"
  constraint {
    attribute = "${node.class}"
    value     = "gpu"
  }
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
"#,
    );
    cluster.cli(&["job", "run", "-detach", "gpu.hcl"]).expect_code(0);
    let queue = wait_for("the gpu job blocked in the queue", Duration::from_secs(30), || {
        let queue = cluster.api("/v1/queue");
        let item = queue["Queued"].as_array()?.iter().find(|i| i["JobID"] == "gpu" && i["Kind"] == "blocked")?.clone();
        Some(item)
    });
    let reason = queue["Reason"].as_str().expect("reason");
    assert!(reason.contains("${node.class} = gpu filtered 1 node"), "{reason}");
    cluster.cli(&["queue"]).expect_code(0).expect_stdout("blocked").expect_stdout("${node.class} = gpu filtered");
    let first = cluster.api("/v1/queue?limit=1");
    assert_eq!(first["Queued"].as_array().map(Vec::len), Some(1), "{first}");
    assert!(first["QueuedTotal"].as_u64().is_some_and(|total| total >= 1), "{first}");
    cluster.cli(&["queue", "-limit", "0"]).expect_code(1).expect_stderr("invalid value '0' for '--limit <LIMIT>'");

    // Adding a runner of that class drains the queue; the work runs there.
    let _runner_gpu = cluster.client("runner-gpu", &["-node-class=gpu"]);
    let node_gpu = cluster.node_with_status("runner-gpu", "ready");
    wait_for("the gpu job running on the new runner", Duration::from_secs(30), || {
        let queue = cluster.api("/v1/queue");
        let queued = queue["Queued"].as_array()?;
        let running = queue["Running"].as_array()?;
        (queued.is_empty() && running.iter().any(|r| r["JobID"] == "gpu" && r["NodeID"] == node_gpu.as_str()))
            .then_some(())
    });

    // A service on runner-a moves to runner-b when runner-a drains.
    write_job(
        cluster.path(),
        "web.hcl",
        r#"
job "web" {
  constraint {
    attribute = "${node.class}"
    operator  = "!="
    value     = "gpu"
  }
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
"#,
    );
    cluster.cli(&["job", "run", "web.hcl"]).expect_code(0);
    let _runner_b = cluster.client("runner-b", &[]);
    let node_b = cluster.node_with_status("runner-b", "ready");
    cluster.cli(&["node", "drain", "-enable", "-deadline", "1m", "-yes", &node_a]).expect_code(0);
    cluster.cli(&["node", "status"]).expect_code(0).expect_stdout("draining");
    wait_for("web running on runner-b", Duration::from_secs(30), || {
        let allocs = cluster.api("/v1/job/web/allocations");
        let allocs = allocs.as_array()?;
        let on_b = allocs.iter().any(|a| a["NodeID"] == node_b.as_str() && a["ClientStatus"] == "running");
        let a_stopped = allocs.iter().filter(|a| a["NodeID"] == node_a.as_str()).all(|a| a["DesiredStatus"] == "stop");
        (on_b && a_stopped).then_some(())
    });
    cluster.cli(&["job", "stop", "-purge", "web"]).expect_code(0);
    cluster.cli(&["job", "stop", "-purge", "gpu"]).expect_code(0);
    common::kill_processes_under(cluster.path());
}

#[test]
fn queued_and_running_work_is_cancelled_promptly() {
    let cluster = Cluster::start();
    let _runner = cluster.client("runner-a", &[]);
    let node_a = cluster.node_with_status("runner-a", "ready");

    // Queued: more memory than any runner has; `job stop` takes it out at once.
    write_job(
        cluster.path(),
        "big.hcl",
        r#"
job "big" {
  type = "batch"
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["1000"]
      }
      resources { memory = 40000000 }
    }
  }
}
"#,
    );
    cluster.cli(&["job", "run", "-detach", "big.hcl"]).expect_code(0);
    wait_for("big blocked", Duration::from_secs(30), || {
        let queue = cluster.api("/v1/queue");
        let item = queue["Queued"].as_array()?.iter().find(|i| i["JobID"] == "big")?.clone();
        let reason = item["Reason"].as_str()?.to_string();
        reason.contains("no node has 40000000 MB of memory free").then_some(())
    });
    cluster.cli(&["job", "stop", "big"]).expect_code(0);
    let queue = cluster.api("/v1/queue");
    assert!(
        !queue["Queued"].as_array().expect("array").iter().any(|i| i["JobID"] == "big"),
        "the stop answered with big still queued: {queue}"
    );

    // Running: a Metronome run of a task that traps SIGTERM is stopped within its kill grace.
    let job = r#"{"id": "sleeper", "run": {"cmd": "trap 'exit 0' TERM; while true; do sleep 0.1; done", "cpus": 0.1, "mem": 32, "disk": 0, "taskKillGracePeriodSeconds": 3}}"#;
    write_job(cluster.path(), "sleeper.json", job);
    cluster.cli(&["job", "run", "sleeper.json"]).expect_code(0);
    let curl = |method: &str, path: &str| -> Value {
        let output = std::process::Command::new("curl")
            .args(["-s", "-X", method])
            .arg(format!("{}/service/metronome/v1{path}", cluster.address))
            .output()
            .expect("run curl");
        serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
    };
    let run = curl("POST", "/jobs/sleeper/runs");
    let run_id = run["id"].as_str().expect("run id").to_string();
    let running_task = |run_id: &str| -> String {
        wait_for("the run ACTIVE with a running task", Duration::from_secs(30), || {
            let run = curl("GET", &format!("/jobs/sleeper/runs/{run_id}"));
            let tasks = run["tasks"].as_array()?;
            let task = tasks.iter().find(|task| task["status"] == "TASK_RUNNING")?;
            (run["status"] == "ACTIVE").then(|| task["id"].as_str().map(str::to_string)).flatten()
        })
    };
    let first_alloc = running_task(&run_id);

    // The runner's status counts what the run's allocation reserves (cpus 0.1, mem 32).
    let node_status = cluster.cli(&["node", "status", &node_a]);
    node_status.expect_code(0).expect_stdout("\n100/").expect_stdout("32 MiB/");

    // `alloc stop` on a run's allocation replaces it, as in Nomad: the run stays ACTIVE.
    cluster.cli(&["alloc", "stop", "-detach", &first_alloc]).expect_code(0);
    wait_for("a replacement allocation running for the run", Duration::from_secs(30), || {
        let run = curl("GET", &format!("/jobs/sleeper/runs/{run_id}"));
        let tasks = run["tasks"].as_array()?;
        let replaced = tasks.iter().any(|task| task["id"] == first_alloc.as_str() && task["status"] != "TASK_RUNNING");
        let replacement =
            tasks.iter().any(|task| task["id"] != first_alloc.as_str() && task["status"] == "TASK_RUNNING");
        (run["status"] == "ACTIVE" && replaced && replacement).then_some(())
    });
    let out = cluster.cli(&["job", "runs", "stop", "sleeper", &run_id]);
    out.expect_code(0);
    let finished = wait_for("the run FAILED after its stop", Duration::from_secs(30), || {
        let run = curl("GET", &format!("/jobs/sleeper/runs/{run_id}"));
        (run["status"] == "FAILED").then_some(run)
    });
    let tasks = finished["tasks"].as_array().expect("tasks");
    assert!(tasks.len() == 2 && tasks.iter().all(|task| task["status"] == "TASK_KILLED"), "{finished}");

    // Purging the job with a forced run active stops the run's allocation
    // and purges its child job with it.
    let force = cluster.cli(&["job", "periodic", "force", "sleeper"]);
    force.expect_code(0);
    let runs = curl("GET", "/jobs/sleeper/runs");
    let forced = runs.as_array().and_then(|runs| runs.first()).and_then(|run| run["id"].as_str()).expect("forced run");
    let forced_alloc = running_task(forced);
    cluster.cli(&["job", "stop", "-purge", "sleeper"]).expect_code(0);
    wait_for("the forced run's allocation stopped", Duration::from_secs(30), || {
        let alloc = cluster.api(&format!("/v1/allocation/{forced_alloc}"));
        (alloc["DesiredStatus"] == "stop" && alloc["ClientStatus"] == "complete").then_some(())
    });
    let jobs = cluster.api("/v1/jobs");
    let left: Vec<&Value> = jobs.as_array().expect("array").iter().filter(|job| job["ID"] != "big").collect();
    assert!(left.is_empty(), "the purge left jobs behind: {left:?}");
    cluster.cli(&["queue"]).expect_code(0).expect_stdout("No queued work");
}
