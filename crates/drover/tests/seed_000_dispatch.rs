//! Seeds 000 and 001, `drover job dispatch`, with the real binary and a real
//! `drover agent -dev`: every example of the seed verbatim (stdin, file,
//! `-detach`, the idempotency token twice, `-id-prefix-template=config1`),
//! the output lines and ID formats, the payload file in the task dir, the
//! meta in the task's environment, exit codes 0 / 2 / 1, and one test per
//! validation message.

mod common;
mod dispatch_common;

use std::path::Path;

use common::{Agent, free_port, run_cli};
use dispatch_common::{
    SEED_PAYLOAD, Spec, check_transcript, finished_alloc, http, is_child_id, is_short_id, kv_value, register,
    task_stdout,
};

fn setup(spec: &Spec<'_>) -> (tempfile::TempDir, Agent) {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = Agent::dev(&dir.path().join("agent"));
    register(&agent, dir.path(), spec);
    (dir, agent)
}

/// The payload file the task read, in the allocation's `local/` dir.
fn payload_file(agent: &Agent, alloc_id: &str) -> String {
    let path = agent.data_dir.join("alloc").join(alloc_id).join("encode").join("local").join("config.json");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

#[test]
fn seed_001_examples_verbatim() {
    let (dir, agent) = setup(&Spec::default());
    let work = dir.path();

    // Registering a parameterized job places nothing.
    agent
        .cli(work, &["job", "status", "video-encode"])
        .expect_code(0)
        .expect_stdout("Parameterized = true")
        .expect_stdout("No dispatched instances of parameterized job found");

    // $ cat << EOF | drover job dispatch video-encode -
    let out = agent.cli_stdin(work, &["job", "dispatch", "video-encode", "-"], SEED_PAYLOAD);
    out.expect_code(0);
    let stdin_child = check_transcript(&out.stdout, "video-encode", None);
    let alloc = finished_alloc(&agent, &stdin_child);
    assert_eq!(payload_file(&agent, &alloc), SEED_PAYLOAD, "payload written to local/config.json");
    let logs = task_stdout(&agent, work, &alloc);
    assert!(logs.contains("\"output-codec\": \"webm\""), "the task read the payload: {logs}");
    assert!(logs.contains("quality=720p"), "the parent's meta default in the environment: {logs}");

    // $ drover job dispatch video-encode video-config.json
    std::fs::write(work.join("video-config.json"), "{\"input\": \"a.mp4\"}\n").expect("write payload");
    let out = agent.cli(work, &["job", "dispatch", "video-encode", "video-config.json"]);
    out.expect_code(0);
    let file_child = check_transcript(&out.stdout, "video-encode", None);
    assert_ne!(file_child, stdin_child);
    let alloc = finished_alloc(&agent, &file_child);
    assert_eq!(payload_file(&agent, &alloc), "{\"input\": \"a.mp4\"}\n");

    // $ drover job dispatch -detach video-encode video-config.json
    let out = agent.cli(work, &["job", "dispatch", "-detach", "video-encode", "video-config.json"]);
    out.expect_code(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "only the two lines with -detach:\n{}", out.stdout);
    let detached = kv_value(&out.stdout, "Dispatched Job ID").expect("child ID");
    assert!(is_child_id(&detached, "video-encode", None), "{detached}");
    assert!(lines[1].starts_with("Evaluation ID     = "), "{}", out.stdout);
    assert!(is_short_id(&lines[1]["Evaluation ID     = ".len()..]), "{}", out.stdout);
    finished_alloc(&agent, &detached);

    // $ drover job dispatch -idempotency-token=prod video-encode video-config.json (twice)
    let out = agent.cli(work, &["job", "dispatch", "-idempotency-token=prod", "video-encode", "video-config.json"]);
    out.expect_code(0);
    let token_child = check_transcript(&out.stdout, "video-encode", None);
    let out = agent.cli(work, &["job", "dispatch", "-idempotency-token=prod", "video-encode", "video-config.json"]);
    out.expect_code(0);
    assert_eq!(
        out.stdout,
        format!("Job \"{token_child}\" already dispatched with idempotency token \"prod\".\n"),
        "second dispatch with the same token"
    );

    // $ drover job dispatch -id-prefix-template=config1 video-encode video-config1.json
    std::fs::write(work.join("video-config1.json"), "{\"input\": \"b.mp4\"}\n").expect("write payload");
    let out =
        agent.cli(work, &["job", "dispatch", "-id-prefix-template=config1", "video-encode", "video-config1.json"]);
    out.expect_code(0);
    let prefixed = check_transcript(&out.stdout, "video-encode", Some("config1"));
    let alloc = finished_alloc(&agent, &prefixed);
    assert_eq!(payload_file(&agent, &alloc), "{\"input\": \"b.mp4\"}\n");

    // Meta given at dispatch overrides the parent's default in the task's environment.
    let out = agent.cli(work, &["job", "dispatch", "-meta", "quality=1080p", "video-encode"]);
    out.expect_code(0);
    let meta_child = check_transcript(&out.stdout, "video-encode", None);
    let alloc = finished_alloc(&agent, &meta_child);
    let logs = task_stdout(&agent, work, &alloc);
    assert!(logs.contains("quality=1080p"), "NOMAD_META_quality from -meta: {logs}");

    // The parent lists its children; five jobs were dispatched (the token's repeat made none).
    let status = agent.cli(work, &["job", "status", "video-encode"]);
    status.expect_code(0).expect_stdout("Parameterized Job Summary").expect_stdout("Dispatched Jobs");
    for child in [&stdin_child, &file_child, &detached, &token_child, &prefixed, &meta_child] {
        status.expect_stdout(child);
    }
    let children = agent.api("/v1/job/video-encode/children");
    assert_eq!(children.as_array().map(Vec::len), Some(6), "{children}");

    // A prefix works when it names one parameterized job (children share it).
    let out = agent.cli(work, &["job", "dispatch", "-detach", "video-en"]);
    out.expect_code(0);
    assert!(is_child_id(&kv_value(&out.stdout, "Dispatched Job ID").unwrap_or_default(), "video-encode", None));

    // -verbose prints full IDs.
    let out = agent.cli(work, &["job", "dispatch", "-verbose", "video-encode"]);
    out.expect_code(0);
    let eval = kv_value(&out.stdout, "Evaluation ID").expect("eval ID");
    assert_eq!(eval.len(), 36, "full eval ID with -verbose: {}", out.stdout);
    out.expect_stdout(&format!("==> Monitoring evaluation \"{eval}\""));
}

#[test]
fn dispatch_exits_2_when_no_node_fits() {
    let (dir, agent) = setup(&Spec { memory_mb: 100_000_000, ..Spec::default() });
    let out = agent.cli(dir.path(), &["job", "dispatch", "video-encode"]);
    out.expect_code(2)
        .expect_stdout("Dispatched Job ID = video-encode/dispatch-")
        .expect_stdout("finished with status \"complete\" but failed to place all allocations:")
        .expect_stdout("Task Group \"cache\" (failed to place 1 allocation):")
        .expect_stdout("Dimension \"memory\" exhausted on 1 nodes");
}

#[test]
fn dispatch_exits_1_on_other_errors() {
    let (dir, agent) = setup(&Spec::default());
    let work = dir.path();
    agent
        .cli(work, &["job", "dispatch", "nope"])
        .expect_code(1)
        .expect_stderr("No job(s) with prefix or id \"nope\" found");
    agent
        .cli(work, &["job", "dispatch", "-meta", "quality", "video-encode"])
        .expect_code(1)
        .expect_stderr("Error parsing meta value: \"quality\" (expected key=value)");
    agent
        .cli(work, &["job", "dispatch", "video-encode", "missing.json"])
        .expect_code(1)
        .expect_stderr("Error reading input data from \"missing.json\"");
    let down = format!("http://127.0.0.1:{}", free_port());
    let out = run_cli(work, &down, &["job", "dispatch", "video-encode"], None);
    out.expect_code(1).expect_stderr("Error querying jobs: error connecting to");
    assert!(out.stdout.is_empty(), "{}", out.stdout);
}

/// Dispatches and expects exit 1 with `Error dispatching job: <message>` on stderr.
fn expect_refused(agent: &Agent, dir: &Path, args: &[&str], stdin: Option<&str>, message: &str) {
    let out = match stdin {
        Some(stdin) => agent.cli_stdin(dir, args, stdin),
        None => agent.cli(dir, args),
    };
    out.expect_code(1).expect_stderr(&format!("Error dispatching job: {message}"));
    assert!(out.stdout.is_empty(), "nothing dispatched: {}", out.stdout);
}

#[test]
fn validation_payload_required() {
    let (dir, agent) = setup(&Spec { parameterized: "payload = \"required\"", ..Spec::default() });
    expect_refused(
        &agent,
        dir.path(),
        &["job", "dispatch", "video-encode"],
        None,
        "Payload is not provided but required by parameterized job",
    );
}

#[test]
fn validation_payload_forbidden() {
    let (dir, agent) = setup(&Spec { parameterized: "payload = \"forbidden\"", ..Spec::default() });
    expect_refused(
        &agent,
        dir.path(),
        &["job", "dispatch", "video-encode", "-"],
        Some(SEED_PAYLOAD),
        "Payload provided but forbidden by parameterized job",
    );
}

#[test]
fn validation_payload_too_large() {
    let (dir, agent) = setup(&Spec::default());
    let big = "x".repeat(20000);
    expect_refused(
        &agent,
        dir.path(),
        &["job", "dispatch", "video-encode", "-"],
        Some(&big),
        "Payload exceeds maximum size; 20000 > 16384",
    );
}

#[test]
fn validation_unpermitted_meta() {
    let (dir, agent) = setup(&Spec::default());
    expect_refused(
        &agent,
        dir.path(),
        &["job", "dispatch", "-meta", "color=red", "video-encode"],
        None,
        "Dispatch request included unpermitted metadata keys: [color] (allowed keys: exit_code gate quality)",
    );
    // The API answers a client's mistake with 400 (Nomad: 500), an unknown parent with 404.
    let body = r#"{"Meta": {"color": "red"}}"#;
    let (status, reply) = http(&agent.address, "POST", "/v1/job/video-encode/dispatch", body).expect("API answers");
    assert_eq!(status, 400, "{reply}");
    assert!(reply.contains("unpermitted metadata keys: [color]"), "{reply}");
    let (status, _) = http(&agent.address, "POST", "/v1/job/nope/dispatch", "{}").expect("API answers");
    assert_eq!(status, 404);
}

#[test]
fn validation_missing_required_meta() {
    let (dir, agent) = setup(&Spec { parameterized: "meta_required = [\"codec\"]", ..Spec::default() });
    expect_refused(
        &agent,
        dir.path(),
        &["job", "dispatch", "-meta", "quality=1080p", "video-encode"],
        None,
        "Dispatch did not provide required meta keys: [codec]",
    );
}

#[test]
fn validation_not_parameterized() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = Agent::dev(&dir.path().join("agent"));
    let work = dir.path();
    agent.cli(work, &["job", "init"]).expect_code(0);
    agent.cli(work, &["job", "run", "-detach", "example.drover.hcl"]).expect_code(0);
    expect_refused(
        &agent,
        work,
        &["job", "dispatch", "example"],
        None,
        "Specified job \"example\" is not a parameterized job",
    );
}

#[test]
fn validation_ambiguous_prefix() {
    let (dir, agent) = setup(&Spec::default());
    register(&agent, dir.path(), &Spec { id: "video-resize", ..Spec::default() });
    let out = agent.cli(dir.path(), &["job", "dispatch", "video"]);
    out.expect_code(1)
        .expect_stderr("Prefix matched multiple jobs")
        .expect_stderr("video-encode")
        .expect_stderr("video-resize");
    assert!(out.stdout.is_empty(), "{}", out.stdout);
}
