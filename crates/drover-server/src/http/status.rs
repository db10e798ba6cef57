//! `/v1/status/*`, `/v1/agent/*`, `/v1/regions`, `/v1/search`, `/v1/metrics`.

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use drover_types::api::{
    AgentClientConfig, AgentConfig, AgentHealth, AgentHealthResponse, AgentMember, AgentSelf, AgentServerConfig,
    AgentVersion, MetricCounter, MetricGauge, MetricSample, MetricsSummary, SearchRequest, SearchResponse,
    SystemGcResponse,
};

use super::{ApiResult, AppState, Params, json_reply, parse_body};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/status/leader", get(leader))
        .route("/v1/status/peers", get(peers))
        .route("/v1/regions", get(regions))
        .route("/v1/agent/self", get(agent_self))
        .route("/v1/agent/health", get(health))
        .route("/v1/search", get(search).put(search).post(search))
        .route("/v1/metrics", get(metrics))
        .route("/v1/system/gc", axum::routing::put(system_gc).post(system_gc))
}

async fn system_gc(State(server): State<AppState>) -> ApiResult {
    let purged = server.collect_garbage(true).await?;
    Ok(json_reply(&SystemGcResponse { purged }, server.state.index()))
}

async fn leader(State(server): State<AppState>) -> Response {
    json_reply(&server.config.http_addr, server.state.index())
}

async fn peers(State(server): State<AppState>) -> Response {
    json_reply(&vec![server.config.http_addr.clone()], server.state.index())
}

async fn regions(State(server): State<AppState>) -> Response {
    json_reply(&vec![server.config.region.clone()], server.state.index())
}

async fn health(State(server): State<AppState>) -> Response {
    let ok = || AgentHealth { message: "ok".to_string(), ok: true };
    json_reply(&AgentHealthResponse { client: ok(), server: ok() }, server.state.index())
}

async fn agent_self(State(server): State<AppState>) -> Response {
    let stats = server.broker.stats();
    let local_node = server.local_node_id();
    let config = &server.config;
    let texts = |pairs: &[(&str, String)]| -> BTreeMap<String, String> {
        pairs.iter().map(|(key, value)| (key.to_string(), value.clone())).collect()
    };
    let reply = AgentSelf {
        config: AgentConfig {
            client: AgentClientConfig {
                enabled: local_node.is_some(),
                node_id: local_node.clone().unwrap_or_default(),
            },
            data_dir: config.data_dir.to_string_lossy().into_owned(),
            datacenter: config.datacenter.clone(),
            node_name: config.node_name.clone(),
            region: config.region.clone(),
            server: AgentServerConfig { enabled: true, num_schedulers: config.num_schedulers },
            version: AgentVersion { name: "drover".to_string(), version: env!("CARGO_PKG_VERSION").to_string() },
        },
        member: AgentMember {
            addr: config.http_addr.clone(),
            name: config.node_name.clone(),
            status: "alive".to_string(),
            tags: texts(&[
                ("region", config.region.clone()),
                ("dc", config.datacenter.clone()),
                ("role", "server".to_string()),
            ]),
        },
        stats: BTreeMap::from([
            (
                "drover".to_string(),
                texts(&[
                    ("server", "true".to_string()),
                    ("leader", "true".to_string()),
                    ("version", env!("CARGO_PKG_VERSION").to_string()),
                    ("uptime_seconds", server.started.elapsed().as_secs().to_string()),
                ]),
            ),
            (
                "broker".to_string(),
                texts(&[
                    ("total_ready", stats.ready.to_string()),
                    ("total_unacked", stats.unacked.to_string()),
                    ("total_blocked", stats.blocked.to_string()),
                    ("total_waiting", stats.delayed.to_string()),
                ]),
            ),
            ("raft".to_string(), texts(&[("applied_index", server.state.index().to_string())])),
            ("client".to_string(), texts(&[("node_id", local_node.unwrap_or_default())])),
        ]),
    };
    json_reply(&reply, server.state.index())
}

/// Most matches returned per context.
const SEARCH_LIMIT: usize = 20;

async fn search(State(server): State<AppState>, method: Method, params: Params, body: Bytes) -> ApiResult {
    let request = if method == Method::GET || body.is_empty() {
        SearchRequest {
            prefix: params.get("prefix").unwrap_or("").to_string(),
            context: params.get("context").unwrap_or("all").to_string(),
        }
    } else {
        parse_body(&body)?
    };
    let snapshot = server.state.snapshot();
    let context = if request.context.is_empty() { "all" } else { request.context.as_str() };
    let mut matches: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut truncations = BTreeMap::new();
    let mut add = |name: &str, ids: Vec<String>| {
        truncations.insert(name.to_string(), ids.len() > SEARCH_LIMIT);
        matches.insert(name.to_string(), ids.into_iter().take(SEARCH_LIMIT).collect());
    };
    let want = |name: &str| context == "all" || context == name;
    if want("jobs") {
        add(
            "jobs",
            snapshot.jobs_by_prefix(&params.namespace(), &request.prefix).iter().map(|j| j.id.clone()).collect(),
        );
    }
    if want("evals") {
        add("evals", snapshot.evals_by_prefix(&request.prefix).iter().map(|e| e.id.clone()).collect());
    }
    if want("allocs") {
        add("allocs", snapshot.allocs_by_prefix(&request.prefix).iter().map(|a| a.id.clone()).collect());
    }
    if want("nodes") {
        add("nodes", snapshot.nodes_by_prefix(&request.prefix).iter().map(|n| n.id.clone()).collect());
    }
    let reply = SearchResponse { matches, truncations, index: snapshot.index() };
    Ok(json_reply(&reply, snapshot.index()))
}

async fn metrics(State(server): State<AppState>, params: Params) -> Response {
    let stats = server.broker.stats();
    let gauges: Vec<(&str, u64)> = vec![
        ("drover.broker.ready", stats.ready as u64),
        ("drover.broker.unacked", stats.unacked as u64),
        ("drover.broker.blocked", stats.blocked as u64),
        ("drover.broker.delayed", stats.delayed as u64),
        ("drover.broker.pending_on_job", stats.pending_on_job as u64),
        ("drover.state.index", server.state.index()),
    ];
    if params.get("format") == Some("prometheus") {
        return ([("content-type", "text/plain; version=0.0.4")], server.metrics.prometheus(&gauges)).into_response();
    }
    let counters: Vec<MetricCounter> = server
        .metrics
        .counters()
        .into_iter()
        .map(|(name, value)| MetricCounter { count: value, name: name.to_string(), sum: value as f64 })
        .collect();
    let gauge_values: Vec<MetricGauge> =
        gauges.into_iter().map(|(name, value)| MetricGauge { name: name.to_string(), value: value as f64 }).collect();
    let samples: Vec<MetricSample> = server
        .metrics
        .routes()
        .into_iter()
        .map(|(route, stats)| MetricSample {
            count: stats.count,
            labels: BTreeMap::from([("route".to_string(), route)]),
            max: stats.max_micros as f64 / 1000.0,
            mean: if stats.count == 0 { 0.0 } else { stats.sum_micros as f64 / 1000.0 / stats.count as f64 },
            name: "drover.http.request".to_string(),
            sum: stats.sum_micros as f64 / 1000.0,
        })
        .collect();
    let reply = MetricsSummary { counters, gauges: gauge_values, samples, timestamp: chrono_like_now() };
    json_reply(&reply, server.state.index())
}

fn chrono_like_now() -> String {
    let secs = drover_types::now_nanos() / 1_000_000_000;
    format!("{secs}")
}
