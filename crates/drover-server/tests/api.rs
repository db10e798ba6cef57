//! The server's HTTP API end to end over a real socket: nodes register,
//! jobs are placed, dispatch validates, placement failures leave a blocked
//! evaluation that is placed when capacity appears.

use std::time::Duration;

use serde_json::{Value, json};

struct TestServer {
    handle: drover_server::ServerHandle,
    http: reqwest::Client,
    base: String,
    _dir: tempfile::TempDir,
}

impl TestServer {
    async fn start() -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = drover_server::ServerConfig::new(dir.path().to_path_buf());
        config.http_addr = "127.0.0.1:0".to_string();
        config.num_schedulers = 2;
        let handle = drover_server::start(config).await.expect("server starts");
        let base = format!("http://{}", handle.http_addr());
        TestServer { handle, http: reqwest::Client::new(), base, _dir: dir }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    async fn get(&self, path: &str) -> Value {
        let (status, value) = self.call(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {value}");
        value
    }

    async fn register_node(&self, id: &str, memory_mb: u64) {
        let node = json!({
            "ID": id, "SecretID": "s3cret", "Name": format!("node-{id}"), "Datacenter": "dc1",
            "Drivers": {"raw_exec": {"Detected": true, "Healthy": true}},
            "Attributes": {"kernel.name": "linux"},
            "NodeResources": {"Cpu": {"CpuShares": 4000, "TotalCpuCores": 4}, "Memory": {"MemoryMB": memory_mb}, "Disk": {"DiskMB": 10000}},
        });
        let (status, value) = self.call(reqwest::Method::PUT, "/v1/node/register", Some(node)).await;
        assert_eq!(status, 200, "{value}");
    }

    /// Waits for an evaluation to finish (not pending) and returns it.
    async fn wait_eval(&self, eval_id: &str) -> Value {
        self.wait_eval_past(eval_id, &["pending"]).await
    }

    /// Waits until an evaluation's status is none of `waiting` and returns it.
    async fn wait_eval_past(&self, eval_id: &str, waiting: &[&str]) -> Value {
        let mut index = 0;
        for _ in 0..100 {
            let (status, eval) =
                self.call(reqwest::Method::GET, &format!("/v1/evaluation/{eval_id}?index={index}&wait=2s"), None).await;
            assert_eq!(status, 200, "{eval}");
            if !waiting.iter().any(|w| eval["Status"] == *w) {
                return eval;
            }
            index = eval["ModifyIndex"].as_u64().unwrap_or(0).max(index + 1);
        }
        panic!("evaluation {eval_id} never finished");
    }
}

fn job(id: &str, job_type: &str, count: u32, memory: u64) -> Value {
    json!({"Job": {
        "ID": id, "Type": job_type, "Datacenters": ["dc1"],
        "TaskGroups": [{"Name": "cache", "Count": count, "Tasks": [{
            "Name": "server", "Driver": "raw_exec",
            "Config": {"command": "/bin/sleep", "args": ["1000"]},
            "Resources": {"CPU": 100, "MemoryMB": memory}
        }]}]
    }})
}

const NODE_A: &str = "6f1a8a52-0000-4000-8000-000000000001";
const NODE_B: &str = "6f1a8a52-0000-4000-8000-000000000002";

/// `GET /v1/jobs` pages with Nomad's `per_page` / `next_token`, filters with
/// its expression language, and leaves children out with `children=false`;
/// requests for another region are refused; repeated slashes are one.
#[tokio::test]
async fn the_job_list_pages_filters_and_leaves_children_out() {
    let server = TestServer::start().await;
    let mut template = job("tiny", "batch", 1, 64);
    template["Job"]["ParameterizedJob"] = json!({"Payload": "optional"});
    template["Job"]["Meta"] = json!({"owner": "team-a"});
    for body in [template, job("alpha", "batch", 1, 64), job("tinier", "batch", 1, 64)] {
        let (status, reply) = server.call(reqwest::Method::PUT, "/v1/jobs", Some(body)).await;
        assert_eq!(status, 200, "{reply}");
    }
    for _ in 0..5 {
        let (status, reply) = server.call(reqwest::Method::POST, "/v1/job/tiny/dispatch", Some(json!({}))).await;
        assert_eq!(status, 200, "{reply}");
    }
    let ids = |list: &Value| -> Vec<String> {
        list.as_array().expect("a list").iter().map(|job| job["ID"].as_str().unwrap_or_default().to_string()).collect()
    };
    assert_eq!(ids(&server.get("/v1/jobs").await).len(), 8, "three jobs and five children");

    // Pages of two, each naming where the next starts; the pages add up to the whole list.
    let mut seen = Vec::new();
    let mut token = String::new();
    for page in 0.. {
        let resp = server
            .http
            .get(format!("{}/v1/jobs?per_page=2&next_token={token}", server.base))
            .send()
            .await
            .expect("request sent");
        assert_eq!(resp.status().as_u16(), 200);
        let next = resp.headers().get("X-Nomad-NextToken").map(|v| v.to_str().unwrap_or_default().to_string());
        let list: Value = resp.json().await.expect("json");
        let page_ids = ids(&list);
        assert!(page_ids.len() <= 2, "page {page}: {page_ids:?}");
        seen.extend(page_ids);
        match next {
            Some(next) => {
                assert!(next.starts_with("default."), "{next}");
                token = next;
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 8, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "in ID order, none twice: {seen:?}");

    // Children left out.
    assert_eq!(ids(&server.get("/v1/jobs?prefix=tin&children=false").await), ["tinier", "tiny"]);
    assert_eq!(ids(&server.get("/v1/jobs?prefix=tiny&children=false").await), ["tiny"]);
    // Booleans as Go's strconv.ParseBool reads them, on every Nomad endpoint.
    assert_eq!(ids(&server.get("/v1/jobs?prefix=tiny&children=F").await), ["tiny"]);
    assert_eq!(server.get("/v1/jobs?prefix=tiny&children=False&meta=T").await[0]["Meta"]["owner"], "team-a");
    let (status, reply) = server.call(reqwest::Method::GET, "/v1/jobs?meta=maybe", None).await;
    assert_eq!(status, 400);
    assert!(
        reply.as_str().is_some_and(|text| text.contains("Failed to parse value of \"meta\" (\"maybe\")")),
        "{reply}"
    );
    assert_eq!(ids(&server.get("/v1/jobs?prefix=tiny").await).len(), 6);
    // Nomad's filter expressions.
    let children = server.get("/v1/jobs?filter=ParentID%20%3D%3D%20%22tiny%22").await;
    assert_eq!(ids(&children).len(), 5, "{children}");
    let owned = server.get("/v1/jobs?filter=Meta.owner%20matches%20%22%5Eteam-%22%20and%20ParentID%20is%20empty").await;
    assert_eq!(ids(&owned), ["tiny"]);
    assert!(owned[0]["JobSummary"].is_object(), "rows that pass keep their summary: {owned}");
    let (status, reply) = server.call(reqwest::Method::GET, "/v1/jobs?filter=Status%20%3D%20dead", None).await;
    assert_eq!(status, 400);
    assert!(reply.as_str().is_some_and(|text| text.contains("expected == at position 8")), "{reply}");

    // Another region: refused, naming this server's.
    let (status, reply) = server.call(reqwest::Method::GET, "/v1/jobs?region=eu", None).await;
    assert_eq!(status, 400);
    assert!(reply.as_str().is_some_and(|text| text.contains("No path to region \"eu\"") && text.contains("global")));
    assert_eq!(server.call(reqwest::Method::GET, "/v1/jobs?region=global", None).await.0, 200);

    // Repeated slashes are one slash.
    assert_eq!(ids(&server.get("//v1//jobs?prefix=alpha").await), ["alpha"]);
    assert_eq!(server.get("/v1/job//tiny///summary").await["JobID"], "tiny");
    assert!(server.get("/service/metronome//v1/jobs").await.is_array());

    // No deployments yet: `null` for a job, 404 for a job that does not exist.
    assert_eq!(server.get("/v1/job/tiny/deployment").await, Value::Null);
    assert_eq!(server.call(reqwest::Method::GET, "/v1/job/nope/deployment", None).await.0, 404);
    server.handle.shutdown().await;
}

/// How many allocations each job has.
async fn allocs_by_job(server: &TestServer) -> std::collections::BTreeMap<String, usize> {
    let allocs = server.get("/v1/allocations").await;
    let mut by_job = std::collections::BTreeMap::new();
    for alloc in allocs.as_array().expect("a list") {
        *by_job.entry(alloc["JobID"].as_str().unwrap_or_default().to_string()).or_default() += 1;
    }
    by_job
}

/// Waits until there are at least `n` allocations.
async fn wait_for_allocs(server: &TestServer, n: usize) {
    for _ in 0..200 {
        if allocs_by_job(server).await.values().sum::<usize>() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let evals = server.get("/v1/evaluations").await;
    let waiting: Vec<String> = evals
        .as_array()
        .expect("a list")
        .iter()
        .filter(|eval| eval["Status"] != "complete")
        .map(|eval| format!("{} {} {}", eval["JobID"], eval["Status"], eval["StatusDescription"]))
        .collect();
    panic!(
        "never reached {n} allocations ({} placed); evaluations not complete: {waiting:#?}",
        allocs_by_job(server).await.len()
    );
}

async fn dispatch_n(server: &TestServer, job_id: &str, n: usize) {
    for _ in 0..n {
        let (status, reply) =
            server.call(reqwest::Method::POST, &format!("/v1/job/{job_id}/dispatch"), Some(json!({}))).await;
        assert_eq!(status, 200, "{reply}");
    }
}

/// Leadership stopped and established again in the middle of a backlog:
/// while no server leads, writes are accepted but nothing is scheduled; once
/// it leads again every waiting child is placed, none is lost and none is
/// placed twice.
#[tokio::test]
async fn leadership_stops_and_starts_again_mid_backlog() {
    let server = TestServer::start().await;
    server.register_node(NODE_A, 1000).await;
    let mut template = job("resize", "batch", 1, 100);
    template["Job"]["ParameterizedJob"] = json!({"Payload": "optional"});
    // Memory decides the room: ten on node A, a hundred on node B.
    template["Job"]["TaskGroups"][0]["Tasks"][0]["Resources"]["CPU"] = json!(10);
    template["Job"]["TaskGroups"][0]["EphemeralDisk"] = json!({"SizeMB": 10});
    let (status, reply) = server.call(reqwest::Method::PUT, "/v1/jobs", Some(template)).await;
    assert_eq!(status, 200, "{reply}");

    // Room for ten: ten placed, thirty waiting.
    dispatch_n(&server, "resize", 40).await;
    wait_for_allocs(&server, 10).await;
    server.handle.revoke_leadership().await;
    assert!(!server.handle.is_leader().await);

    // No leader: dispatches are durable, capacity appears, nothing is placed.
    dispatch_n(&server, "resize", 20).await;
    server.register_node(NODE_B, 10_000).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(allocs_by_job(&server).await.values().sum::<usize>(), 10, "nothing is scheduled without a leader");

    server.handle.establish_leadership().await;
    assert!(server.handle.is_leader().await);
    wait_for_allocs(&server, 60).await;
    dispatch_n(&server, "resize", 5).await;
    wait_for_allocs(&server, 65).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let placed = allocs_by_job(&server).await;
    assert_eq!(placed.len(), 65, "every child placed: {placed:?}");
    assert!(placed.values().all(|n| *n == 1), "none placed twice: {placed:?}");
    let evals = server.get("/v1/evaluations").await;
    let open: Vec<&Value> = evals
        .as_array()
        .expect("a list")
        .iter()
        .filter(|eval| eval["Status"] == "pending" || eval["Status"] == "blocked")
        .collect();
    assert!(open.is_empty(), "no evaluation left waiting: {open:?}");

    // Stopping and starting again with nothing waiting changes nothing.
    server.handle.revoke_leadership().await;
    server.handle.establish_leadership().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(allocs_by_job(&server).await, placed);
    server.handle.shutdown().await;
}

#[tokio::test]
async fn register_places_allocations_and_plan_diffs() {
    let server = TestServer::start().await;
    server.register_node(NODE_A, 4096).await;
    let (status, reply) = server.call(reqwest::Method::PUT, "/v1/jobs", Some(job("example", "service", 1, 256))).await;
    assert_eq!(status, 200, "{reply}");
    let eval_id = reply["EvalID"].as_str().expect("eval id").to_string();
    let eval = server.wait_eval(&eval_id).await;
    assert_eq!(eval["Status"], "complete", "{eval}");
    let allocs = server.get(&format!("/v1/evaluation/{eval_id}/allocations")).await;
    assert_eq!(allocs.as_array().map(Vec::len), Some(1), "{allocs}");
    assert_eq!(allocs[0]["NodeID"], NODE_A);
    assert_eq!(allocs[0]["Name"], "example.cache[0]");

    let client_view = server.get(&format!("/v1/node/{NODE_A}/client-allocs")).await;
    assert_eq!(client_view["Allocs"][0]["Job"]["ID"], "example", "clients get the job embedded");

    let summary = server.get("/v1/job/example/summary").await;
    assert_eq!(summary["Summary"]["cache"]["Starting"], 1, "{summary}");

    // Plan count 1 -> 3: 2 create, 1 in-place update.
    let mut bigger = job("example", "service", 3, 256);
    bigger["Diff"] = json!(true);
    let (status, plan) = server.call(reqwest::Method::POST, "/v1/job/example/plan", Some(bigger)).await;
    assert_eq!(status, 200, "{plan}");
    let updates = &plan["Annotations"]["DesiredTGUpdates"]["cache"];
    assert_eq!(updates["Place"], 2, "{plan}");
    assert_eq!(updates["InPlaceUpdate"], 1, "{plan}");
    assert_eq!(plan["Diff"]["TaskGroups"][0]["Updates"]["create"], 2, "{plan}");
    let job_modify_index = plan["JobModifyIndex"].as_u64().expect("index");

    // A stale check index is refused; the right one is taken.
    let mut stale = job("example", "service", 3, 256);
    stale["EnforceIndex"] = json!(true);
    stale["JobModifyIndex"] = json!(job_modify_index + 100);
    let (status, body) = server.call(reqwest::Method::PUT, "/v1/jobs", Some(stale)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.as_str().unwrap_or("").contains("job modify index"), "{body}");
    let mut fresh = job("example", "service", 3, 256);
    fresh["EnforceIndex"] = json!(true);
    fresh["JobModifyIndex"] = json!(job_modify_index);
    let (status, reply) = server.call(reqwest::Method::PUT, "/v1/jobs", Some(fresh)).await;
    assert_eq!(status, 200, "{reply}");
    let eval = server.wait_eval(reply["EvalID"].as_str().expect("eval id")).await;
    assert_eq!(eval["Status"], "complete");
    let allocs = server.get("/v1/job/example/allocations").await;
    assert_eq!(allocs.as_array().map(Vec::len), Some(3), "{allocs}");
    let versions = server.get("/v1/job/example/versions").await;
    assert_eq!(versions["Versions"].as_array().map(Vec::len), Some(2), "{versions}");

    // Stop: allocations are stopped, the job reads as stopped.
    let (status, reply) = server.call(reqwest::Method::DELETE, "/v1/job/example", None).await;
    assert_eq!(status, 200, "{reply}");
    server.wait_eval(reply["EvalID"].as_str().expect("eval id")).await;
    let job_now = server.get("/v1/job/example").await;
    assert_eq!(job_now["Stop"], true);
    let allocs = server.get("/v1/job/example/allocations").await;
    assert!(allocs.as_array().expect("list").iter().all(|a| a["DesiredStatus"] == "stop"), "{allocs}");
    server.handle.shutdown().await;
}

#[tokio::test]
async fn unplaceable_work_blocks_until_capacity_appears() {
    let server = TestServer::start().await;
    server.register_node(NODE_A, 512).await;
    let (_, reply) = server.call(reqwest::Method::PUT, "/v1/jobs", Some(job("big", "batch", 1, 2048))).await;
    let eval = server.wait_eval(reply["EvalID"].as_str().expect("eval id")).await;
    assert_eq!(eval["Status"], "complete");
    let failed = &eval["FailedTGAllocs"]["cache"];
    assert_eq!(failed["DimensionExhausted"]["memory"], 1, "{eval}");
    let blocked_id = eval["BlockedEval"].as_str().expect("blocked eval").to_string();
    let blocked = server.get(&format!("/v1/evaluation/{blocked_id}")).await;
    assert_eq!(blocked["Status"], "blocked");
    let summary = server.get("/v1/job/big/summary").await;
    assert_eq!(summary["Summary"]["cache"]["Queued"], 1, "{summary}");

    // A node with room joins: the blocked evaluation places the allocation.
    server.register_node(NODE_B, 8192).await;
    let placed = server.wait_eval_past(&blocked_id, &["pending", "blocked"]).await;
    assert_eq!(placed["Status"], "complete", "{placed}");
    let allocs = server.get("/v1/job/big/allocations").await;
    assert_eq!(allocs[0]["NodeID"], NODE_B, "{allocs}");
    server.handle.shutdown().await;
}

#[tokio::test]
async fn dispatch_validates_with_400_and_is_idempotent() {
    let server = TestServer::start().await;
    server.register_node(NODE_A, 4096).await;
    let mut template = job("video-encode", "batch", 1, 64);
    template["Job"]["ParameterizedJob"] = json!({"Payload": "required", "MetaRequired": ["codec"]});
    let (status, reply) = server.call(reqwest::Method::PUT, "/v1/jobs", Some(template)).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["EvalID"], "", "registering a template places nothing");

    let (status, body) = server
        .call(reqwest::Method::POST, "/v1/job/video-encode/dispatch", Some(json!({"Meta": {"codec": "webm"}})))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body, "Payload is not provided but required by parameterized job");
    let (status, body) = server
        .call(
            reqwest::Method::POST,
            "/v1/job/video-encode/dispatch",
            Some(json!({"Payload": "eA==", "Meta": {"codec": "webm"}, "IdPrefixTemplate": "a b/../c"})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(body.as_str().is_some_and(|text| text.contains("IdPrefixTemplate \"a b/../c\" contains ' '")), "{body}");

    let request = json!({"Payload": "eyJhIjoxfQ==", "Meta": {"codec": "webm"}, "IdempotencyToken": "prod"});
    let (status, first) =
        server.call(reqwest::Method::POST, "/v1/job/video-encode/dispatch", Some(request.clone())).await;
    assert_eq!(status, 200, "{first}");
    let child = first["DispatchedJobID"].as_str().expect("child id").to_string();
    assert!(child.starts_with("video-encode/dispatch-"), "{child}");
    assert_ne!(first["EvalID"], "");
    let (status, second) = server.call(reqwest::Method::POST, "/v1/job/video-encode/dispatch", Some(request)).await;
    assert_eq!(status, 200);
    assert_eq!(second["DispatchedJobID"], child.as_str());
    assert_eq!(second["EvalID"], "", "a repeated token dispatches nothing");

    let child_job = server.get(&format!("/v1/job/{}", child.replace('/', "%2F"))).await;
    assert_eq!(child_job["ParentID"], "video-encode");
    assert_eq!(child_job["Payload"], "eyJhIjoxfQ==");
    assert_eq!(child_job["Meta"]["codec"], "webm");
    let children = server.get("/v1/job/video-encode/children").await;
    assert_eq!(children.as_array().map(Vec::len), Some(1));
    assert_eq!(child_job["TaskGroups"], server.get("/v1/job/video-encode").await["TaskGroups"]);
    let snapshot = server.handle.inner().state.snapshot();
    let (parent, stored_child) = (snapshot.job("default", "video-encode"), snapshot.job("default", &child));
    let (parent, stored_child) = (parent.expect("parent stored"), stored_child.expect("child stored"));
    assert!(stored_child.task_groups.is_shared_with(&parent.task_groups), "the child holds no copy of the spec");
    tokio::time::sleep(Duration::from_millis(10)).await;
    // Go clients send null for what they leave out: absent, not an error.
    let (status, body) = server
        .call(
            reqwest::Method::POST,
            "/v1/job/video-encode/dispatch",
            Some(json!({"Payload": "eA==", "Meta": {"codec": "webm"}, "IdempotencyToken": null, "IdPrefixTemplate": null, "Priority": null, "JobID": null})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // An oversized body is a 413 that says the limit.
    let resp = server
        .http
        .post(format!("{}/v1/job/video-encode/dispatch", server.base))
        .body(vec![b' '; 5 * 1024 * 1024])
        .send()
        .await
        .expect("request sent");
    assert_eq!(resp.status().as_u16(), 413);
    let text = resp.text().await.expect("body");
    assert!(text.contains("the limit is 4194304 bytes (4 MiB)"), "{text}");
    server.handle.shutdown().await;
}

#[tokio::test]
async fn children_and_runs_are_named_in_dispatch_order() {
    let server = TestServer::start().await;
    let mut template = job("resize", "batch", 1, 64);
    template["Job"]["ParameterizedJob"] = json!({"Payload": "optional"});
    let (status, reply) = server.call(reqwest::Method::PUT, "/v1/jobs", Some(template)).await;
    assert_eq!(status, 200, "{reply}");
    let mut children = Vec::new();
    for _ in 0..50 {
        let (status, reply) = server.call(reqwest::Method::POST, "/v1/job/resize/dispatch", Some(json!({}))).await;
        assert_eq!(status, 200, "{reply}");
        children.push(reply["DispatchedJobID"].as_str().expect("child id").to_string());
    }
    assert!(children.windows(2).all(|w| w[0] < w[1]), "child IDs sort in dispatch order: {children:?}");
    let runs = server.get("/v1/job/resize/runs").await;
    let runs = runs.as_array().expect("a list of runs");
    let run_of = |child: &str| {
        let run = runs.iter().find(|run| run["ChildJobIDs"][0] == child);
        run.and_then(|run| run["ID"].as_str()).unwrap_or_else(|| panic!("no run of {child}: {runs:?}")).to_string()
    };
    let run_ids: Vec<String> = children.iter().map(|child| run_of(child)).collect();
    assert!(run_ids.windows(2).all(|w| w[0] < w[1]), "run IDs sort in dispatch order: {run_ids:?}");
    assert!(run_ids.iter().all(|id| id.len() == 19 && id.bytes().all(|b| b.is_ascii_alphanumeric())), "{run_ids:?}");
    // ?limit=N: the newest N (what the UI's "Last run" reads).
    let newest = server.get("/v1/job/resize/runs?limit=2").await;
    let newest: Vec<&str> = newest.as_array().expect("a list").iter().filter_map(|run| run["ID"].as_str()).collect();
    assert_eq!(newest, vec![run_ids[49].as_str(), run_ids[48].as_str()]);
    let (status, reply) = server.call(reqwest::Method::GET, "/v1/job/resize/runs?limit=0", None).await;
    assert_eq!((status, reply), (400, json!("invalid limit 0: expected at least 1")));
    server.handle.shutdown().await;
}

#[tokio::test]
async fn collected_children_keep_their_tokens_and_counts() {
    let server = TestServer::start().await;
    server.register_node(NODE_A, 4096).await;
    let mut template = job("report", "batch", 1, 64);
    template["Job"]["ParameterizedJob"] = json!({"Payload": "optional"});
    let (status, _) = server.call(reqwest::Method::PUT, "/v1/jobs", Some(template)).await;
    assert_eq!(status, 200);
    let (status, first) =
        server.call(reqwest::Method::POST, "/v1/job/report/dispatch", Some(json!({"IdempotencyToken": "t1"}))).await;
    assert_eq!(status, 200, "{first}");
    let child = first["DispatchedJobID"].as_str().expect("child").to_string();
    server.wait_eval(first["EvalID"].as_str().expect("eval")).await;
    let encoded = child.replace('/', "%2F");

    // A running child is never collected.
    let (_, gc) = server.call(reqwest::Method::PUT, "/v1/system/gc", None).await;
    assert_eq!(gc["Purged"], 0, "{gc}");

    // The client reports the child's allocation complete.
    let allocs = server.get(&format!("/v1/job/{encoded}/allocations")).await;
    let alloc_id = allocs[0]["ID"].as_str().expect("alloc").to_string();
    let update = json!({"NodeID": NODE_A, "Allocs": [{"ID": alloc_id, "ClientStatus": "complete",
        "TaskStates": {"server": {"State": "dead", "Failed": false, "Events": [{"Type": "Terminated", "ExitCode": 0}]}}}]});
    let (status, body) = server.call(reqwest::Method::POST, "/v1/client/allocs/update", Some(update)).await;
    assert_eq!(status, 200, "{body}");
    let child_job = server.get(&format!("/v1/job/{encoded}")).await;
    assert_eq!(child_job["Status"], "dead", "{child_job}");

    let (status, gc) = server.call(reqwest::Method::PUT, "/v1/system/gc", None).await;
    assert_eq!(status, 200, "{gc}");
    assert_eq!(gc["Purged"], 1, "{gc}");
    let (status, _) = server.call(reqwest::Method::GET, &format!("/v1/job/{encoded}"), None).await;
    assert_eq!(status, 404, "the child is gone");
    let (status, _) = server.call(reqwest::Method::GET, &format!("/v1/allocation/{alloc_id}"), None).await;
    assert_eq!(status, 404, "and its allocation");

    // A retry with the same token still dispatches nothing.
    let (status, again) =
        server.call(reqwest::Method::POST, "/v1/job/report/dispatch", Some(json!({"IdempotencyToken": "t1"}))).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["DispatchedJobID"], child.as_str());
    assert_eq!(again["EvalID"], "");

    // The parent's summary still counts the collected child.
    let summary = server.get("/v1/job/report/summary").await;
    assert_eq!(summary["Children"]["Dead"], 1, "{summary}");
    assert_eq!(summary["Children"]["Complete"], 1, "{summary}");
    assert_eq!(summary["Children"]["Collected"], 1, "{summary}");
    server.handle.shutdown().await;
}

#[tokio::test]
async fn client_allocs_since_names_unchanged_allocations_by_id() {
    let server = TestServer::start().await;
    server.register_node(NODE_A, 4096).await;
    let (status, reply) = server.call(reqwest::Method::PUT, "/v1/jobs", Some(job("web", "service", 1, 256))).await;
    assert_eq!(status, 200, "{reply}");
    server.wait_eval(reply["EvalID"].as_str().expect("eval id")).await;
    let path = format!("/v1/node/{NODE_A}/client-allocs");
    let full = server.get(&path).await;
    assert!(full.get("Unchanged").is_none(), "{full}");
    let alloc_id = full["Allocs"][0]["ID"].as_str().expect("alloc id").to_string();
    let seen_at = full["Index"].as_u64().expect("index");

    // The client's own report is no server-side change: the allocation comes as its ID.
    let update = json!({"NodeID": NODE_A, "Allocs": [{"ID": alloc_id, "ClientStatus": "running"}]});
    let (status, body) = server.call(reqwest::Method::POST, "/v1/client/allocs/update", Some(update)).await;
    assert_eq!(status, 200, "{body}");
    let view = server.get(&format!("{path}?since={seen_at}")).await;
    assert_eq!(view["Allocs"], json!([]), "{view}");
    assert_eq!(view["Unchanged"], json!([alloc_id]), "{view}");

    // Scaling to 2 places a second allocation and updates the first in place: both come whole.
    let (status, reply) = server.call(reqwest::Method::PUT, "/v1/jobs", Some(job("web", "service", 2, 256))).await;
    assert_eq!(status, 200, "{reply}");
    server.wait_eval(reply["EvalID"].as_str().expect("eval id")).await;
    let view = server.get(&format!("{path}?since={seen_at}")).await;
    assert_eq!(view["Allocs"].as_array().map(Vec::len), Some(2), "{view}");
    assert_eq!(view["Allocs"][1]["Job"]["ID"], "web", "{view}");
    assert!(view.get("Unchanged").is_none(), "{view}");
    let now = view["Index"].as_u64().expect("index");
    let view = server.get(&format!("{path}?since={now}")).await;
    assert_eq!(view["Allocs"], json!([]), "{view}");
    assert_eq!(view["Unchanged"].as_array().map(Vec::len), Some(2), "{view}");

    let (status, body) = server.call(reqwest::Method::GET, &format!("{path}?since=yesterday"), None).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.as_str().unwrap_or("").contains("invalid since \"yesterday\""), "{body}");
    server.handle.shutdown().await;
}

/// Allows everything except the listed capabilities, and records the tokens it saw.
struct Deny {
    denied: Vec<drover_server::Capability>,
    seen: std::sync::Mutex<Vec<(String, String, &'static str)>>,
}

impl drover_server::Authorizer for Deny {
    fn allowed(&self, token: &str, namespace: &str, capability: drover_server::Capability) -> bool {
        self.seen.lock().expect("lock").push((token.to_string(), namespace.to_string(), capability.as_str()));
        !self.denied.contains(&capability)
    }
}

#[tokio::test]
async fn the_request_path_checks_capabilities() {
    let server = TestServer::start().await;
    server.register_node(NODE_A, 4096).await;
    let mut template = job("video-encode", "batch", 1, 64);
    template["Job"]["ParameterizedJob"] = json!({"Payload": "optional"});
    let (status, _) = server.call(reqwest::Method::PUT, "/v1/jobs", Some(template)).await;
    assert_eq!(status, 200);

    let deny =
        std::sync::Arc::new(Deny { denied: vec![drover_server::Capability::DispatchJob], seen: Default::default() });
    server.handle.inner().set_authorizer(deny.clone());
    let resp = server
        .http
        .post(format!("{}/v1/job/video-encode/dispatch?namespace=default", server.base))
        .header("X-Nomad-Token", "abc")
        .json(&json!({}))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 403);
    assert_eq!(resp.text().await.expect("body"), "Permission denied");
    let children = server.get("/v1/job/video-encode/children").await;
    assert_eq!(children.as_array().map(Vec::len), Some(0), "nothing was dispatched");
    let resp = server
        .http
        .get(format!("{}/v1/jobs?prefix=video", server.base))
        .header("Authorization", "Bearer xyz")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 200, "list-jobs is still allowed");
    {
        let seen = deny.seen.lock().expect("lock");
        assert!(seen.contains(&("abc".to_string(), "default".to_string(), "dispatch-job")), "{seen:?}");
        assert!(seen.contains(&("xyz".to_string(), "default".to_string(), "list-jobs")), "{seen:?}");
    }

    server.handle.inner().set_authorizer(std::sync::Arc::new(Deny {
        denied: vec![drover_server::Capability::ListJobs, drover_server::Capability::ReadJob],
        seen: Default::default(),
    }));
    let (status, body) = server.call(reqwest::Method::GET, "/v1/jobs?prefix=video", None).await;
    assert_eq!((status, body), (403, Value::String("Permission denied".to_string())));
    let (status, _) = server.call(reqwest::Method::GET, "/v1/job/video-encode", None).await;
    assert_eq!(status, 403, "reading a job needs read-job");
    let (status, _) = server.call(reqwest::Method::GET, "/v1/status/leader", None).await;
    assert_eq!(status, 200, "status endpoints are outside namespace ACLs");
    server.handle.shutdown().await;
}

/// Job content Drover does not run is never dropped without a word: an
/// unknown key or a block Drover does not run yet is a 400 naming it, a soft
/// preference is accepted with a warning in `Warnings` (register and plan),
/// and `/v1/jobs/parse` refuses the same blocks (and HCL2 variables).
#[tokio::test]
async fn job_content_drover_does_not_run_is_refused_or_warned_about() {
    let server = TestServer::start().await;
    let mut invented = job("odd", "batch", 1, 64);
    invented["Job"]["Frobnicate"] = json!(true);
    let (status, body) = server.call(reqwest::Method::PUT, "/v1/jobs", Some(invented)).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.as_str().is_some_and(|text| text.starts_with("Job: unknown field \"Frobnicate\" (expected one of ")),
        "{body}"
    );

    let mut vault = job("secretive", "batch", 1, 64);
    vault["Job"]["TaskGroups"][0]["Tasks"][0]["Vault"] = json!({"Policies": ["read"]});
    let (status, body) = server.call(reqwest::Method::PUT, "/v1/jobs", Some(vault)).await;
    assert_eq!(
        (status, body),
        (400, json!("Job.TaskGroups[0].Tasks[0].Vault: the \"vault\" block is not supported yet"))
    );
    let (status, _) = server.call(reqwest::Method::GET, "/v1/job/secretive", None).await;
    assert_eq!(status, 404, "a refused job is not registered");

    let mut preferring = job("preferring", "batch", 1, 64);
    preferring["Job"]["Affinities"] =
        json!([{"LTarget": "${node.datacenter}", "RTarget": "dc1", "Operand": "=", "Weight": 50}]);
    preferring["Job"]["Multiregion"] = Value::Null;
    preferring["Job"]["TaskGroups"][0]["Networks"] = json!([]);
    let warning = "Job.Affinities: the \"affinity\" block is not supported yet and is ignored; it is a placement preference, and the job is placed without it";
    let (status, plan) = server.call(reqwest::Method::POST, "/v1/job/preferring/plan", Some(preferring.clone())).await;
    assert_eq!((status, &plan["Warnings"]), (200, &json!(warning)), "{plan}");
    let (status, reply) = server.call(reqwest::Method::PUT, "/v1/jobs", Some(preferring)).await;
    assert_eq!((status, &reply["Warnings"]), (200, &json!(warning)), "{reply}");

    let hcl = |block: &str| json!({"JobHCL": format!("job \"p\" {{\n  group \"g\" {{\n{block}\n    task \"t\" {{\n      driver = \"raw_exec\"\n    }}\n  }}\n}}\n")});
    let (status, body) = server
        .call(reqwest::Method::PUT, "/v1/jobs/parse", Some(hcl("    service {\n      name = \"web\"\n    }")))
        .await;
    assert_eq!((status, body), (400, json!("input.hcl:3:5: group \"g\": the \"service\" block is not supported yet")));
    let resp = server
        .http
        .post(format!("{}/v1/jobs/parse", server.base))
        .json(&hcl("    spread {\n      attribute = \"${node.datacenter}\"\n    }"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 200);
    let header = resp.headers().get("X-Drover-Warnings").and_then(|value| value.to_str().ok()).map(str::to_string);
    assert_eq!(
        header.as_deref(),
        Some(
            "input.hcl:3:5: group \"g\": the \"spread\" block is not supported yet and is ignored; it is a placement preference, and the job is placed without it"
        )
    );
    let mut with_variables = hcl("");
    with_variables["Variables"] = json!("x = 1");
    let (status, body) = server.call(reqwest::Method::POST, "/v1/jobs/parse", Some(with_variables)).await;
    assert_eq!(
        (status, body),
        (400, json!("Variables is not supported yet: HCL2 input variables are not implemented"))
    );
    server.handle.shutdown().await;
}
