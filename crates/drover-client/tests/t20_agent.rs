//! The client agent end to end against an in-process fake server that speaks
//! the client protocol (register, heartbeat, client-allocs, allocs/update):
//! dispatch payload and env, task events, stop with kill timeout, sibling
//! failure and restarts, the logs endpoint, and re-attaching after a client
//! restart without running a task twice.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path as UrlPath, Query, State};
use axum::routing::{get, post, put};
use tokio::sync::Notify;

use drover_client::{ClientConfig, ClientHandle};
use drover_types::api::{ClientAllocsResponse, ClientAllocsUpdateRequest, NodeRegisterResponse};
use drover_types::{
    Allocation, DispatchPayloadConfig, Job, JobType, Node, RestartPolicy, Task, TaskGroup, TaskState, task_event,
};

#[derive(Default)]
struct FakeState {
    index: u64,
    nodes: Vec<Node>,
    n_heartbeats: u64,
    allocs: BTreeMap<String, Allocation>,
    /// The `since` of each client-allocs request, in order.
    sinces: Vec<u64>,
    /// An allocation ID the next reply with `since` names unchanged (a gap in the client's view).
    phantom: Option<String>,
}

#[derive(Clone, Default)]
struct Fake {
    state: Arc<Mutex<FakeState>>,
    changed: Arc<Notify>,
}

impl Fake {
    fn with<T>(&self, f: impl FnOnce(&mut FakeState) -> T) -> T {
        let mut state = self.state.lock().expect("fake state lock");
        f(&mut state)
    }

    fn bump(&self) {
        self.with(|s| s.index += 1);
        self.changed.notify_waiters();
    }

    fn add_alloc(&self, alloc: Allocation) {
        self.with(|s| {
            s.index += 1;
            let mut alloc = alloc;
            alloc.alloc_modify_index = s.index;
            s.allocs.insert(alloc.id.clone(), alloc);
        });
        self.changed.notify_waiters();
    }

    fn stop_alloc(&self, id: &str) {
        self.with(|s| {
            s.index += 1;
            let index = s.index;
            if let Some(alloc) = s.allocs.get_mut(id) {
                alloc.desired_status = "stop".to_string();
                alloc.alloc_modify_index = index;
            }
        });
        self.changed.notify_waiters();
    }

    fn alloc(&self, id: &str) -> Allocation {
        self.with(|s| s.allocs.get(id).cloned().expect("alloc known to the fake server"))
    }

    /// Polls until `cond` holds for the alloc (bounded so a bug fails instead of hanging).
    async fn wait_alloc(&self, id: &str, what: &str, cond: impl Fn(&Allocation) -> bool) -> Allocation {
        for _ in 0..3000 {
            let alloc = self.alloc(id);
            if cond(&alloc) {
                return alloc;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("alloc {id} never reached: {what}; last: {:#?}", self.alloc(id));
    }
}

async fn register(State(fake): State<Fake>, Json(node): Json<Node>) -> Json<NodeRegisterResponse> {
    let node_id = node.id.clone();
    fake.with(|s| s.nodes.push(node));
    fake.bump();
    Json(NodeRegisterResponse { node_id, heartbeat_ttl: 2_000_000_000, index: 1 })
}

async fn heartbeat(State(fake): State<Fake>, UrlPath(node_id): UrlPath<String>) -> Json<NodeRegisterResponse> {
    fake.with(|s| s.n_heartbeats += 1);
    Json(NodeRegisterResponse { node_id, heartbeat_ttl: 2_000_000_000, index: 1 })
}

async fn client_allocs(
    State(fake): State<Fake>,
    UrlPath(node_id): UrlPath<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ([(&'static str, String); 1], Json<ClientAllocsResponse>) {
    let wanted: u64 = query.get("index").and_then(|i| i.parse().ok()).unwrap_or(0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    loop {
        let notified = fake.changed.notified();
        if fake.with(|s| s.index) > wanted || tokio::time::Instant::now() >= deadline {
            break;
        }
        let _ = tokio::time::timeout_at(deadline, notified).await;
    }
    let since: u64 = query.get("since").and_then(|i| i.parse().ok()).unwrap_or(0);
    let reply = fake.with(|s| {
        s.sinces.push(since);
        let mut reply = ClientAllocsResponse { index: s.index, ..ClientAllocsResponse::default() };
        for alloc in s.allocs.values().filter(|a| a.node_id == node_id && !(a.server_terminal() && a.client_terminal()))
        {
            if since > 0 && alloc.alloc_modify_index <= since {
                reply.unchanged.push(alloc.id.clone());
            } else {
                reply.allocs.push(alloc.clone());
            }
        }
        if since > 0 {
            reply.unchanged.extend(s.phantom.take());
        }
        reply
    });
    ([("X-Nomad-Index", reply.index.to_string())], Json(reply))
}

async fn allocs_update(
    State(fake): State<Fake>,
    Json(body): Json<ClientAllocsUpdateRequest>,
) -> Json<serde_json::Value> {
    fake.with(|s| {
        for update in body.allocs {
            if let Some(alloc) = s.allocs.get_mut(&update.id) {
                alloc.client_status = update.client_status;
                alloc.client_description = update.client_description;
                alloc.task_states = update.task_states;
            }
        }
    });
    fake.bump();
    Json(serde_json::json!({}))
}

async fn start_fake() -> (Fake, String) {
    let fake = Fake::default();
    let app = axum::Router::new()
        .route("/v1/node/register", put(register))
        .route("/v1/node/{id}/heartbeat", put(heartbeat))
        .route("/v1/node/{id}/client-allocs", get(client_allocs))
        .route("/v1/client/allocs/update", post(allocs_update))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind fake server");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (fake, format!("http://{addr}"))
}

fn client_config(server: &str, data_dir: &Path, stop_tasks: bool) -> ClientConfig {
    ClientConfig {
        servers: vec!["http://127.0.0.1:1".to_string(), server.to_string()],
        data_dir: data_dir.to_path_buf(),
        alloc_dir: data_dir.join("alloc"),
        gc_max_allocs: 50,
        node_name: "test-node".to_string(),
        datacenter: "dc1".to_string(),
        node_class: "".to_string(),
        node_pool: "default".to_string(),
        meta: [("rack".to_string(), "r7".to_string())].into_iter().collect(),
        token: String::new(),
        executor_path: PathBuf::from(env!("CARGO_BIN_EXE_drover-executor")),
        http_bind: "127.0.0.1:0".to_string(),
        stop_tasks_on_shutdown: stop_tasks,
        reserved: Default::default(),
        options: BTreeMap::new(),
    }
}

fn sh_task(name: &str, script: &str) -> Task {
    let mut task = Task { name: name.to_string(), driver: "raw_exec".to_string(), ..Task::default() };
    task.config.insert("command".to_string(), serde_json::json!("/bin/sh"));
    task.config.insert("args".to_string(), serde_json::json!(["-c", script]));
    task
}

fn mock_task(name: &str, config: serde_json::Value) -> Task {
    let mut task = Task { name: name.to_string(), driver: "mock".to_string(), ..Task::default() };
    if let serde_json::Value::Object(map) = config {
        task.config = map.into_iter().collect();
    }
    task
}

fn alloc_for(node_id: &str, job: Job) -> Allocation {
    let id = uuid::Uuid::new_v4().to_string();
    Allocation {
        id,
        namespace: "default".to_string(),
        name: format!("{}.{}[0]", job.id, job.task_groups[0].name),
        node_id: node_id.to_string(),
        job_id: job.id.clone(),
        job_version: job.version,
        task_group: job.task_groups[0].name.clone(),
        desired_status: "run".to_string(),
        client_status: "pending".to_string(),
        job: Some(Box::new(job)),
        ..Allocation::default()
    }
}

fn job(job_type: JobType, tasks: Vec<Task>) -> Job {
    Job {
        id: "j".to_string(),
        name: "j".to_string(),
        namespace: "default".to_string(),
        region: "global".to_string(),
        job_type,
        task_groups: vec![TaskGroup { name: "g".to_string(), tasks, ..TaskGroup::default() }].into(),
        ..Job::default()
    }
}

fn event_types(state: &TaskState) -> Vec<&str> {
    state.events.iter().map(|e| e.event_type.as_str()).collect()
}

async fn http_get(addr: &str, path: &str) -> (u16, String) {
    http_request(addr, "GET", path).await
}

async fn http_request(addr: &str, method: &str, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect to client HTTP");
    let request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read response");
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, dechunk(&body))
}

/// Undoes HTTP/1.1 chunked encoding (streamed bodies use it).
fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    loop {
        let Some((size_line, after)) = rest.split_once("\r\n") else { return body.to_string() };
        let Ok(size) = usize::from_str_radix(size_line.trim(), 16) else { return body.to_string() };
        if size == 0 {
            return out;
        }
        if after.len() < size {
            return body.to_string();
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
}

async fn start_client(server: &str, data_dir: &Path, stop_tasks: bool) -> ClientHandle {
    drover_client::start(client_config(server, data_dir, stop_tasks)).await.expect("client starts")
}

/// A client with one long-running mock service allocation, once it reports it running.
async fn client_running_a_service(fake: &Fake, server: &str, data_dir: &Path) -> (ClientHandle, String) {
    let client = start_client(server, data_dir, true).await;
    let alloc =
        alloc_for(&client.node_id, job(JobType::Service, vec![mock_task("web", serde_json::json!({"run_for": "1h"}))]));
    let alloc_id = alloc.id.clone();
    fake.add_alloc(alloc);
    fake.wait_alloc(&alloc_id, "running", |a| a.client_status == "running").await;
    (client, alloc_id)
}

#[tokio::test]
async fn registers_with_fingerprint_and_heartbeats() {
    let (fake, server) = start_fake().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let client = start_client(&server, tmp.path(), true).await;
    let node = fake.with(|s| s.nodes[0].clone());
    assert_eq!(node.id, client.node_id);
    assert!(!node.secret_id.is_empty());
    assert_eq!(node.status, "initializing");
    assert_eq!(node.http_addr, client.http_addr);
    assert_eq!(node.attributes.get("kernel.name").map(String::as_str), Some("linux"));
    assert_eq!(node.attributes.get("driver.raw_exec").map(String::as_str), Some("1"));
    assert!(node.node_resources.cpu.cpu_shares > 0);
    assert!(node.node_resources.memory.memory_mb > 0);
    assert!(node.drivers.get("raw_exec").is_some_and(|d| d.healthy));
    for _ in 0..500 {
        if fake.with(|s| s.n_heartbeats) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(fake.with(|s| s.n_heartbeats) > 0, "client heartbeats");
    let node_id = client.node_id.clone();
    client.shutdown().await;
    // Same data dir, same node.
    let again = start_client(&server, tmp.path(), true).await;
    assert_eq!(again.node_id, node_id);
    again.shutdown().await;
}

#[tokio::test]
async fn batch_dispatch_runs_with_payload_env_and_logs() {
    let (fake, server) = start_fake().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let client = start_client(&server, tmp.path(), true).await;
    let mut task = sh_task(
        "work",
        "cat \"$NOMAD_TASK_DIR/in/put.txt\"; echo \" meta=$NOMAD_META_color/$DROVER_META_COLOR arg=$0 rack=$RACK\"",
    );
    task.config.insert(
        "args".to_string(),
        serde_json::json!(["-c", task.config["args"][1].as_str().unwrap_or_default(), "${NOMAD_ALLOC_INDEX}"]),
    );
    task.env.insert("RACK".to_string(), "${meta.rack}".to_string());
    task.dispatch_payload = Some(DispatchPayloadConfig { file: "in/put.txt".to_string() });
    let mut job = job(JobType::Batch, vec![task]);
    job.payload = b"payload!".to_vec();
    job.meta.insert("color".to_string(), "blue".to_string());
    let alloc = alloc_for(&client.node_id, job);
    let alloc_id = alloc.id.clone();
    fake.add_alloc(alloc);
    let done = fake.wait_alloc(&alloc_id, "complete", |a| a.client_status == "complete").await;
    assert_eq!(done.client_description, "All tasks have completed");
    let state = &done.task_states["work"];
    assert_eq!(state.state, "dead");
    assert!(!state.failed);
    assert_eq!(event_types(state), vec!["Received", "Task Setup", "Started", "Terminated"]);
    assert_eq!(state.events[3].display_message, "Exit Code: 0");
    assert!(state.started_at > 0 && state.finished_at >= state.started_at);

    let path = format!("/v1/client/fs/logs/{alloc_id}?task=work&type=stdout&plain=true");
    let (status, body) = http_get(&client.http_addr, &path).await;
    assert_eq!(status, 200);
    assert_eq!(body, "payload! meta=blue/blue arg=0 rack=r7\n");
    let (status, body) = http_get(&client.http_addr, &format!("{path}&origin=end&offset=3")).await;
    assert_eq!((status, body.as_str()), (200, "r7\n"));
    let (status, body) =
        http_get(&client.http_addr, &format!("/v1/client/fs/logs/{alloc_id}?task=work&type=stdout")).await;
    assert_eq!(status, 200);
    let frame: serde_json::Value = serde_json::from_str(body.trim()).expect("one JSON frame");
    assert_eq!(frame["File"], "alloc/logs/work.stdout.0");
    assert_eq!(frame["Data"], "cGF5bG9hZCEgbWV0YT1ibHVlL2JsdWUgYXJnPTAgcmFjaz1yNwo=");
    let (status, body) = http_get(&client.http_addr, &format!("/v1/client/fs/logs/{alloc_id}?type=stdout")).await;
    assert_eq!((status, body.as_str()), (400, "must provide task name"));
    let (status, _) = http_get(&client.http_addr, "/v1/client/fs/logs/nope?task=work&type=stdout").await;
    assert_eq!(status, 404);
    // Following a dead task's log ends once everything is sent.
    let (status, body) = http_get(&client.http_addr, &format!("{path}&follow=true")).await;
    assert_eq!((status, body.as_str()), (200, "payload! meta=blue/blue arg=0 rack=r7\n"));
    client.shutdown().await;
}

#[tokio::test]
async fn stop_escalates_to_sigkill_after_kill_timeout() {
    let (fake, server) = start_fake().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let client = start_client(&server, tmp.path(), true).await;
    let mut task = sh_task("stubborn", "trap '' TERM; echo ready; while true; do sleep 1; done");
    task.kill_timeout = 1_000_000_000;
    let alloc = alloc_for(&client.node_id, job(JobType::Service, vec![task]));
    let alloc_id = alloc.id.clone();
    fake.add_alloc(alloc);
    fake.wait_alloc(&alloc_id, "running", |a| a.client_status == "running").await;
    assert_eq!(fake.alloc(&alloc_id).client_description, "Tasks are running");
    let log = tmp.path().join("alloc").join(&alloc_id).join("alloc/logs/stubborn.stdout.0");
    for _ in 0..1000 {
        if std::fs::read_to_string(&log).unwrap_or_default().contains("ready") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    fake.stop_alloc(&alloc_id);
    let done = fake.wait_alloc(&alloc_id, "complete after stop", |a| a.client_status == "complete").await;
    let state = &done.task_states["stubborn"];
    assert_eq!(state.state, "dead");
    assert!(!state.failed);
    let types = event_types(state);
    assert_eq!(&types[types.len() - 3..], &["Killing", "Terminated", "Killed"]);
    let killing = &state.events[types.len() - 3];
    assert_eq!(killing.display_message, "Sent interrupt. Waiting 1s before force killing");
    assert_eq!(killing.kill_timeout, 1_000_000_000);
    let terminated = &state.events[types.len() - 2];
    assert_eq!((terminated.exit_code, terminated.signal), (137, 9));
    client.shutdown().await;
}

#[tokio::test]
async fn failed_task_restarts_then_fails_and_kills_sibling() {
    let (fake, server) = start_fake().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let client = start_client(&server, tmp.path(), true).await;
    let failing = mock_task("flaky", serde_json::json!({"run_for": "10ms", "exit_code": 2}));
    let long = mock_task("long", serde_json::json!({"run_for": "1h"}));
    let mut job = job(JobType::Batch, vec![failing, long]);
    job.task_groups[0].restart_policy =
        Some(RestartPolicy { attempts: 1, interval: 3_600_000_000_000, delay: 0, mode: "fail".to_string() });
    let alloc = alloc_for(&client.node_id, job);
    let alloc_id = alloc.id.clone();
    fake.add_alloc(alloc);
    let done = fake
        .wait_alloc(&alloc_id, "failed with both tasks dead", |a| {
            a.client_status == "failed" && a.task_states.values().all(|t| t.state == "dead")
        })
        .await;
    assert_eq!(done.client_description, "Failed tasks");
    let flaky = &done.task_states["flaky"];
    assert!(flaky.failed);
    assert_eq!(flaky.restarts, 1);
    assert_eq!(
        event_types(flaky),
        vec![
            "Received",
            "Task Setup",
            "Started",
            "Terminated",
            "Restarting",
            "Started",
            "Terminated",
            "Not Restarting"
        ]
    );
    let not_restarting = flaky.events.last().expect("event");
    assert_eq!(not_restarting.display_message, "Exceeded allowed attempts 1 in interval 1h0m0s and mode is \"fail\"");
    assert!(not_restarting.fails_task);
    let long = &done.task_states["long"];
    assert!(!long.failed);
    let types = event_types(long);
    assert_eq!(&types[types.len() - 4..], &[task_event::SIBLING_FAILED, "Killing", "Terminated", "Killed"]);
    client.shutdown().await;
}

#[tokio::test]
async fn missing_command_is_a_driver_failure() {
    let (fake, server) = start_fake().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let client = start_client(&server, tmp.path(), true).await;
    let mut task = sh_task("broken", "");
    task.config.clear();
    let alloc = alloc_for(&client.node_id, job(JobType::Batch, vec![task]));
    let alloc_id = alloc.id.clone();
    fake.add_alloc(alloc);
    let done = fake.wait_alloc(&alloc_id, "failed", |a| a.client_status == "failed").await;
    let state = &done.task_states["broken"];
    assert_eq!(event_types(state), vec!["Received", "Task Setup", "Driver Failure", "Not Restarting"]);
    assert_eq!(state.events[2].driver_error, "missing command");
    client.shutdown().await;
}

#[tokio::test]
async fn restarted_client_reattaches_without_running_twice() {
    let (fake, server) = start_fake().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let client = start_client(&server, tmp.path(), false).await;
    let node_id = client.node_id.clone();
    let task = sh_task(
        "once",
        "echo start >> \"$NOMAD_ALLOC_DIR/data/starts\"; while [ ! -f \"$NOMAD_ALLOC_DIR/data/go\" ]; do sleep 0.02; done; exit 4",
    );
    let mut job = job(JobType::Batch, vec![task]);
    job.task_groups[0].restart_policy =
        Some(RestartPolicy { attempts: 0, interval: 3_600_000_000_000, delay: 0, mode: "fail".to_string() });
    let alloc = alloc_for(&node_id, job);
    let alloc_id = alloc.id.clone();
    fake.add_alloc(alloc);
    fake.wait_alloc(&alloc_id, "running", |a| a.client_status == "running").await;
    let data = tmp.path().join("alloc").join(&alloc_id).join("alloc/data");
    for _ in 0..1000 {
        if data.join("starts").exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    client.shutdown().await;

    let client = start_client(&server, tmp.path(), false).await;
    assert_eq!(client.node_id, node_id);
    std::fs::write(data.join("go"), b"").expect("let the task finish");
    let done = fake.wait_alloc(&alloc_id, "failed", |a| a.client_status == "failed").await;
    let state = &done.task_states["once"];
    let terminated = state.events.iter().find(|e| e.event_type == "Terminated").expect("terminated event");
    assert_eq!(terminated.exit_code, 4);
    assert_eq!(std::fs::read_to_string(data.join("starts")).expect("starts file"), "start\n");
    assert_eq!(event_types(state).iter().filter(|t| **t == "Started").count(), 1);
    client.shutdown().await;
}

#[tokio::test]
async fn a_start_the_dead_client_never_recorded_is_not_run_twice() {
    let (fake, server) = start_fake().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let client = start_client(&server, tmp.path(), false).await;
    let node_id = client.node_id.clone();
    let task = sh_task(
        "once",
        "echo start >> \"$NOMAD_ALLOC_DIR/data/starts\"; while [ ! -f \"$NOMAD_ALLOC_DIR/data/go\" ]; do sleep 0.02; done; exit 4",
    );
    let mut job = job(JobType::Batch, vec![task]);
    job.task_groups[0].restart_policy =
        Some(RestartPolicy { attempts: 0, interval: 3_600_000_000_000, delay: 0, mode: "fail".to_string() });
    let alloc = alloc_for(&node_id, job);
    let alloc_id = alloc.id.clone();
    fake.add_alloc(alloc);
    let data = tmp.path().join("alloc").join(&alloc_id).join("alloc/data");
    for _ in 0..1000 {
        if data.join("starts").exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    client.shutdown().await;
    // As if the client had died between starting the task and saving its state.
    std::fs::remove_file(tmp.path().join("client/state/allocs.jsonl")).expect("remove the client state");

    let client = start_client(&server, tmp.path(), false).await;
    // The new client re-attaches: its own report shows no second setup or start.
    fake.wait_alloc(&alloc_id, "re-attached", |a| {
        a.client_status == "running"
            && a.task_states.get("once").is_some_and(|t| event_types(t) == ["Received", "Started"])
    })
    .await;
    std::fs::write(data.join("go"), b"").expect("let the task finish");
    let done = fake.wait_alloc(&alloc_id, "failed", |a| a.client_status == "failed").await;
    let terminated = done.task_states["once"].events.iter().find(|e| e.event_type == "Terminated").expect("terminated");
    assert_eq!(terminated.exit_code, 4);
    assert_eq!(std::fs::read_to_string(data.join("starts")).expect("starts file"), "start\n");
    client.shutdown().await;
}

#[tokio::test]
async fn restart_endpoint_restarts_running_tasks_in_place() {
    let (fake, server) = start_fake().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let (client, alloc_id) = client_running_a_service(&fake, &server, tmp.path()).await;
    let (status, _) =
        http_request(&client.http_addr, "POST", &format!("/v1/client/allocation/{alloc_id}/restart")).await;
    assert_eq!(status, 200);
    let restarted = fake
        .wait_alloc(&alloc_id, "restarted", |a| {
            a.task_states.get("web").is_some_and(|t| t.restarts == 1 && t.state == "running")
        })
        .await;
    let types = event_types(&restarted.task_states["web"]);
    assert_eq!(&types[types.len() - 4..], &["Restart Signaled", "Terminated", "Restarting", "Started"]);
    let (status, _) = http_request(&client.http_addr, "POST", "/v1/client/allocation/unknown/restart").await;
    assert_eq!(status, 404);
    client.shutdown().await;
}

#[tokio::test]
async fn finished_allocations_beyond_gc_max_allocs_lose_their_dirs() {
    let (fake, server) = start_fake().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut config = client_config(&server, tmp.path(), true);
    config.gc_max_allocs = 1;
    let client = drover_client::start(config).await.expect("client starts");
    let mut ids = Vec::new();
    for n in 0..3 {
        let alloc = alloc_for(&client.node_id, job(JobType::Batch, vec![sh_task("t", &format!("echo run{n}"))]));
        let id = alloc.id.clone();
        fake.add_alloc(alloc);
        fake.wait_alloc(&id, "complete", |a| a.client_status == "complete").await;
        // Server-terminal too: the server no longer lists it to the client.
        fake.stop_alloc(&id);
        ids.push(id);
    }
    let alloc_dir = tmp.path().join("alloc");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while alloc_dir.join(&ids[0]).exists() || alloc_dir.join(&ids[1]).exists() {
        assert!(std::time::Instant::now() < deadline, "older allocations' dirs were not collected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The newest finished allocation keeps its dir and logs.
    let path = format!("/v1/client/fs/logs/{}?task=t&type=stdout&plain=true", ids[2]);
    assert_eq!(http_get(&client.http_addr, &path).await, (200, "run2\n".to_string()));
    client.shutdown().await;
}

#[tokio::test]
async fn an_unknown_unchanged_allocation_makes_the_client_fetch_the_whole_list() {
    let (fake, server) = start_fake().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let (client, alloc_id) = client_running_a_service(&fake, &server, tmp.path()).await;
    // Once it has the list, the client asks only for what changed since.
    for _ in 0..500 {
        if fake.with(|s| s.sinces.last().is_some_and(|since| *since > 0)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let asked = fake.with(|s| s.sinces.len());
    assert!(fake.with(|s| s.sinces[asked - 1] > 0), "{:?}", fake.with(|s| s.sinces.clone()));

    fake.with(|s| s.phantom = Some("00000000-0000-4000-8000-00000000dead".to_string()));
    fake.bump();
    let mut refetched = false;
    for _ in 0..500 {
        refetched = fake.with(|s| s.phantom.is_none() && s.sinces[asked..].contains(&0));
        if refetched {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refetched, "no whole-list fetch after the gap: {:?}", fake.with(|s| s.sinces.clone()));
    assert_eq!(fake.alloc(&alloc_id).client_status, "running", "the known allocation keeps running");
    client.shutdown().await;
}
