//! Beyond Nomad, end to end with the real binary and a real `drover agent
//! -dev`: `dispatch -wait` exit codes, `-output` streaming, the
//! `max_concurrent` queue and its order, `-priority`, children filters,
//! `job stop -children [-purge]`, and idempotency that outlives garbage
//! collection. Tasks that must stay running wait for a gate file the test
//! creates, so nothing depends on timing.

mod common;
mod dispatch_common;

use std::path::Path;

use common::{Agent, free_port, wait_for};
use dispatch_common::{DEADLINE, SEED_PAYLOAD, Spec, allocs_of, http, is_child_id, kv_value, register};

fn setup(spec: &Spec<'_>) -> (tempfile::TempDir, Agent) {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = Agent::dev(&dir.path().join("agent"));
    register(&agent, dir.path(), spec);
    (dir, agent)
}

fn job_path(job_id: &str) -> String {
    format!("/v1/job/{}", job_id.replace('/', "%2F"))
}

fn wait_status(agent: &Agent, job_id: &str, status: &str) {
    wait_for(&format!("{job_id} {status}"), DEADLINE, || {
        (agent.api(&job_path(job_id))["Status"] == status).then_some(())
    });
}

/// Dispatches a child that keeps running until `gate` exists; returns its ID once it runs.
fn dispatch_gated(agent: &Agent, dir: &Path, gate: &Path) -> String {
    let gate_meta = format!("gate={}", gate.display());
    let out = agent.cli(dir, &["job", "dispatch", "-detach", "-meta", &gate_meta, "video-encode"]);
    out.expect_code(0);
    let child = kv_value(&out.stdout, "Dispatched Job ID").expect("child ID");
    wait_status(agent, &child, "running");
    child
}

fn open_gate(gate: &Path) {
    std::fs::write(gate, "go").expect("create gate file");
}

/// The values under `Pending  Running  Dead` in `job status`.
fn children_counts(status: &str) -> Vec<String> {
    let mut lines = status.lines().skip_while(|line| !line.starts_with("Pending  Running  Dead"));
    lines.next();
    lines.next().map(|line| line.split_whitespace().map(str::to_string).collect()).unwrap_or_default()
}

/// The row of the `Queued Dispatches` table at `position`, split on whitespace.
fn queue_row(status: &str, position: &str) -> Vec<String> {
    status
        .lines()
        .skip_while(|line| !line.starts_with("Queued Dispatches"))
        .skip(2)
        .map(|line| line.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .find(|cells| cells.first().map(String::as_str) == Some(position))
        .unwrap_or_default()
}

#[test]
fn dispatch_wait_exits_with_the_task_exit_code() {
    let (dir, agent) = setup(&Spec::default());
    let work = dir.path();

    let out = agent.cli(work, &["job", "dispatch", "-wait", "video-encode"]);
    out.expect_code(0).expect_stdout("==> Monitoring evaluation");
    let child = kv_value(&out.stdout, "Dispatched Job ID").expect("child ID");
    assert_eq!(out.stdout.lines().last(), Some(format!("Job \"{child}\" finished: complete (exit code 0)").as_str()));

    let out = agent.cli(work, &["job", "dispatch", "-wait", "-meta", "exit_code=3", "video-encode"]);
    out.expect_code(3);
    let child = kv_value(&out.stdout, "Dispatched Job ID").expect("child ID");
    assert_eq!(out.stdout.lines().last(), Some(format!("Job \"{child}\" finished: failed (exit code 3)").as_str()));

    // -detach -wait: no monitor, still the result.
    let out = agent.cli(work, &["job", "dispatch", "-detach", "-wait", "-meta", "exit_code=7", "video-encode"]);
    out.expect_code(7);
    assert_eq!(out.stdout.lines().count(), 3, "two lines and the result:\n{}", out.stdout);
    assert!(!out.stdout.contains("Monitoring"), "{}", out.stdout);

    // A repeated token with -wait waits for (and reports) the existing child.
    agent.cli(work, &["job", "dispatch", "-wait", "-idempotency-token=t1", "video-encode"]).expect_code(0);
    let out = agent.cli(work, &["job", "dispatch", "-wait", "-idempotency-token=t1", "video-encode"]);
    out.expect_code(0)
        .expect_stdout("already dispatched with idempotency token \"t1\".")
        .expect_stdout("finished: complete (exit code 0)");
}

#[test]
fn dispatch_output_streams_the_task_output() {
    let (dir, agent) = setup(&Spec::default());
    let out = agent.cli_stdin(dir.path(), &["job", "dispatch", "-output", "video-encode", "-"], SEED_PAYLOAD);
    out.expect_code(0)
        .expect_stdout("\"output-codec\": \"webm\"")
        .expect_stdout("quality=720p")
        .expect_stderr("encode-stderr");
    let child = kv_value(&out.stdout, "Dispatched Job ID").expect("child ID");
    assert_eq!(out.stdout.lines().last(), Some(format!("Job \"{child}\" finished: complete (exit code 0)").as_str()));
    assert!(!out.stdout.contains("encode-stderr"), "stderr stays on stderr: {}", out.stdout);

    let out = agent.cli(dir.path(), &["job", "dispatch", "-output", "-meta", "exit_code=4", "video-encode"]);
    out.expect_code(4).expect_stdout("quality=720p").expect_stdout("finished: failed (exit code 4)");
}

#[test]
fn dispatch_output_follows_a_queued_child() {
    let (dir, agent) = setup(&Spec { parameterized: "max_concurrent = 1", ..Spec::default() });
    let work = dir.path().to_path_buf();
    let gate = work.join("gate");
    let first = dispatch_gated(&agent, &work, &gate);

    let address = agent.address.clone();
    let waiter = {
        let work = work.clone();
        std::thread::spawn(move || {
            common::run_cli(
                &work,
                &address,
                &["job", "dispatch", "-output", "-meta", "quality=480p", "video-encode"],
                None,
            )
        })
    };
    wait_for("a queued dispatch", DEADLINE, || {
        let queue = agent.api("/v1/job/video-encode/queue");
        (queue.as_array().map(Vec::len) == Some(1)).then_some(())
    });
    open_gate(&gate);
    let out = waiter.join().expect("dispatch thread");
    out.expect_code(0)
        .expect_stdout("Dispatch queued: position 1 behind 1 running child of \"video-encode\"")
        .expect_stdout("==> Monitoring evaluation")
        .expect_stdout("quality=480p")
        .expect_stdout("finished: complete (exit code 0)")
        .expect_stderr("encode-stderr");
    wait_status(&agent, &first, "dead");
}

#[test]
fn max_concurrent_queues_in_order() {
    let (dir, agent) = setup(&Spec { parameterized: "max_concurrent = 1", ..Spec::default() });
    let work = dir.path();
    let gate = work.join("gate");
    let first = dispatch_gated(&agent, work, &gate);

    let out = agent.cli(work, &["job", "dispatch", "-detach", "video-encode"]);
    out.expect_code(0).expect_stdout("Dispatch queued: position 1 behind 1 running child of \"video-encode\"");
    let second = kv_value(&out.stdout, "Dispatched Job ID").expect("child ID");
    // Without -detach a held dispatch does not monitor: it says where it waits and exits 0.
    let out = agent.cli(work, &["job", "dispatch", "video-encode"]);
    out.expect_code(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", out.stdout);
    assert_eq!(lines[2], "Dispatch queued: position 2 behind 1 running child of \"video-encode\"");
    let third = kv_value(&out.stdout, "Dispatched Job ID").expect("child ID");

    let status = agent.cli(work, &["job", "status", "video-encode"]);
    status.expect_code(0).expect_stdout("Queued Dispatches\nPosition  ID");
    assert_eq!(children_counts(&status.stdout)[1], "1", "one running child:\n{}", status.stdout);
    assert_eq!(queue_row(&status.stdout, "1"), vec!["1".to_string(), second.clone(), "50".to_string()]);
    assert_eq!(queue_row(&status.stdout, "2"), vec!["2".to_string(), third.clone(), "50".to_string()]);
    let queued = agent.cli(work, &["job", "status", "-children", "-filter", "status=queued", "video-encode"]);
    queued.expect_code(0).expect_stdout(&second).expect_stdout(&third);
    assert!(!queued.stdout.contains(&first), "{}", queued.stdout);

    open_gate(&gate);
    wait_status(&agent, &third, "dead");
    wait_status(&agent, &second, "dead");
    let order: Vec<u64> = [&first, &second, &third].iter().map(|id| allocs_of(&agent, id)[0].1).collect();
    assert!(order[0] < order[1] && order[1] < order[2], "placed in dispatch order: {order:?}");
    let status = agent.cli(work, &["job", "status", "video-encode"]);
    assert!(!status.stdout.contains("Queued Dispatches"), "{}", status.stdout);
}

#[test]
fn priority_orders_waiting_dispatches() {
    let (dir, agent) = setup(&Spec { parameterized: "max_concurrent = 1", ..Spec::default() });
    let work = dir.path();
    let gate = work.join("gate");
    let first = dispatch_gated(&agent, work, &gate);

    let out = agent.cli(work, &["job", "dispatch", "-detach", "-priority", "20", "video-encode"]);
    out.expect_code(0).expect_stdout("Dispatch queued: position 1");
    let low = kv_value(&out.stdout, "Dispatched Job ID").expect("child ID");
    let out = agent.cli(work, &["job", "dispatch", "-detach", "-priority", "90", "video-encode"]);
    out.expect_code(0).expect_stdout("Dispatch queued: position 1");
    let high = kv_value(&out.stdout, "Dispatched Job ID").expect("child ID");

    let status = agent.cli(work, &["job", "status", "video-encode"]);
    assert_eq!(queue_row(&status.stdout, "1"), vec!["1".to_string(), high.clone(), "90".to_string()]);
    assert_eq!(queue_row(&status.stdout, "2"), vec!["2".to_string(), low.clone(), "20".to_string()]);

    open_gate(&gate);
    wait_status(&agent, &low, "dead");
    wait_status(&agent, &high, "dead");
    wait_status(&agent, &first, "dead");
    let (high_index, low_index) = (allocs_of(&agent, &high)[0].1, allocs_of(&agent, &low)[0].1);
    assert!(high_index < low_index, "the high-priority child ran first: {high_index} vs {low_index}");
}

#[test]
fn children_are_listed_with_filters() {
    let (dir, agent) = setup(&Spec::default());
    let work = dir.path();
    agent.cli(work, &["job", "dispatch", "-wait", "-meta", "quality=1080p", "video-encode"]).expect_code(0);
    agent.cli(work, &["job", "dispatch", "-wait", "-meta", "quality=480p", "video-encode"]).expect_code(0);
    let gate = work.join("gate");
    let running = dispatch_gated(&agent, work, &gate);

    let list = |filters: &[&str]| {
        let mut args = vec!["job", "status", "-children"];
        for filter in filters {
            args.extend(["-filter", filter]);
        }
        args.push("video-encode");
        let out = agent.cli(work, &args);
        out.expect_code(0);
        out.stdout.lines().skip(1).map(str::to_string).collect::<Vec<_>>()
    };
    let all = agent.cli(work, &["job", "status", "-children", "video-encode"]);
    all.expect_code(0)
        .expect_stdout("ID  ")
        .expect_stdout("Status")
        .expect_stdout("Submit Date  ")
        .expect_stdout("  Meta\n");
    assert_eq!(all.stdout.lines().count(), 4, "{}", all.stdout);
    let hd = list(&["meta.quality=1080p"]);
    assert_eq!(hd.len(), 1, "{hd:?}");
    assert!(hd[0].contains("quality=1080p") && hd[0].contains("dead"), "{hd:?}");
    assert_eq!(list(&["status=dead"]).len(), 2);
    let now_running = list(&["status=running"]);
    assert!(now_running.len() == 1 && now_running[0].starts_with(&running), "{now_running:?}");
    assert_eq!(list(&["status=dead", "meta.quality=480p", "since=1h"]).len(), 1);
    let none = agent.cli(work, &["job", "status", "-children", "-filter", "before=1h", "video-encode"]);
    none.expect_code(0).expect_stdout("No child jobs of \"video-encode\" found");
    agent
        .cli(work, &["job", "status", "-children", "-filter", "color=red", "video-encode"])
        .expect_code(1)
        .expect_stderr("Invalid filter \"color=red\"");
    // A prefix finds the parent, not its children; a prefix with `/` reaches into them.
    agent.cli(work, &["job", "status", "-short", "video"]).expect_code(0).expect_stdout("video-encode");
    agent
        .cli(work, &["job", "status", "video-encode/dispatch-"])
        .expect_code(1)
        .expect_stderr("Prefix matched multiple jobs");
    // A region this server is not in is refused, not ignored.
    agent
        .cli(work, &["job", "status", "-region", "eu", "video-encode"])
        .expect_code(1)
        .expect_stderr("No path to region \"eu\"");
    open_gate(&gate);
}

#[test]
fn stop_children_then_purge_leaves_nothing() {
    let (dir, agent) = setup(&Spec::default());
    let work = dir.path();
    agent.cli(work, &["job", "dispatch", "-wait", "video-encode"]).expect_code(0);
    let gate = work.join("gate");
    let running = dispatch_gated(&agent, work, &gate);

    let out = agent.cli(work, &["job", "stop", "-children", "video-encode"]);
    out.expect_code(0).expect_stdout("==> Monitoring evaluation");
    assert_eq!(out.stdout.lines().last(), Some("Stopped parent \"video-encode\" and 2 children"), "{}", out.stdout);
    wait_status(&agent, &running, "dead");
    let jobs = agent.api("/v1/jobs");
    let jobs = jobs.as_array().expect("job list");
    assert_eq!(jobs.len(), 3);
    assert!(jobs.iter().all(|job| job["Stop"] == true), "every member stopped: {jobs:?}");

    let out = agent.cli(work, &["job", "stop", "-children", "-purge", "video-encode"]);
    out.expect_code(0);
    assert_eq!(out.stdout.lines().last(), Some("Purged parent \"video-encode\" and 2 children"), "{}", out.stdout);
    assert_eq!(agent.api("/v1/jobs"), serde_json::json!([]), "no orphans left behind");
}

#[test]
fn idempotency_token_outlives_garbage_collection() {
    let dir = tempfile::tempdir().expect("temp dir");
    let work = dir.path();
    let config = work.join("gc.hcl");
    std::fs::write(
        &config,
        "server {\n  job_gc_interval          = \"1s\"\n  job_gc_threshold         = \"1s\"\n  dispatch_idempotency_ttl = \"1h\"\n}\n",
    )
    .expect("write agent config");
    let port = free_port();
    let data_dir = work.join("agent");
    let args = vec![
        "agent".to_string(),
        "-dev".to_string(),
        format!("-http-port={port}"),
        format!("-data-dir={}", data_dir.display()),
        format!("-config={}", config.display()),
        "-log-level=debug".to_string(),
    ];
    let agent = Agent::start_with(args, format!("http://127.0.0.1:{port}"), &data_dir, true);
    register(&agent, work, &Spec::default());

    let out = agent.cli(work, &["job", "dispatch", "-wait", "-idempotency-token=prod", "video-encode"]);
    out.expect_code(0);
    let child = kv_value(&out.stdout, "Dispatched Job ID").expect("child ID");
    assert!(is_child_id(&child, "video-encode", None), "{child}");

    wait_for("the child to be garbage-collected", DEADLINE, || {
        let _ = http(&agent.address, "PUT", "/v1/system/gc", "");
        common::http_get(&agent.address, &job_path(&child)).is_none().then_some(())
    });
    let status = agent.cli(work, &["job", "status", "video-encode"]);
    status.expect_code(0);
    assert_eq!(
        children_counts(&status.stdout),
        vec!["0", "0", "1", "1", "0", "0", "1"],
        "Pending Running Dead Complete Failed Stopped Collected: the collected child still counts\n{}",
        status.stdout
    );

    let out = agent.cli(work, &["job", "dispatch", "-idempotency-token=prod", "video-encode"]);
    out.expect_code(0);
    assert_eq!(out.stdout, format!("Job \"{child}\" already dispatched with idempotency token \"prod\".\n"));
    let jobs = agent.api("/v1/jobs");
    assert_eq!(jobs.as_array().map(Vec::len), Some(1), "nothing new dispatched: {jobs}");
}
