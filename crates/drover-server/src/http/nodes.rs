//! `/v1/nodes`, `/v1/node/:id/...` and the client agent protocol
//! (register, heartbeat, client-allocs long poll, allocation updates).

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::{get, post, put};
use drover_types::api::{
    AllocListStub, ClientAllocsResponse, ClientAllocsUpdateRequest, IndexResponse, NodeDrainRequest, NodeDrainResponse,
    NodeEligibilityRequest, NodeHeartbeatRequest, NodeListStub, NodeModifyResponse,
};
use drover_types::{Node, nanos_to_duration};

use super::{ApiError, ApiResult, AppState, Params, blocking_snapshot, json_reply, parse_body};
use crate::error::ServerError;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/nodes", get(list))
        .route("/v1/node/register", put(register).post(register))
        .route("/v1/node/{id}", get(get_node).delete(purge))
        .route("/v1/node/{id}/purge", post(purge).put(purge))
        .route("/v1/node/{id}/allocations", get(allocations))
        .route("/v1/node/{id}/heartbeat", put(heartbeat).post(heartbeat))
        .route("/v1/node/{id}/client-allocs", get(client_allocs))
        .route("/v1/node/{id}/drain", post(drain).put(drain))
        .route("/v1/node/{id}/eligibility", post(eligibility).put(eligibility))
        .route("/v1/client/allocs/update", post(client_update).put(client_update))
        .route("/v1/client/allocs/update-batch", post(client_update_batch).put(client_update_batch))
}

fn public(server: &AppState, node: &Node) -> Node {
    let mut node = node.clone();
    node.secret_id.clear();
    node.last_heartbeat = server.last_heartbeat(&node);
    node
}

async fn list(State(server): State<AppState>, params: Params) -> ApiResult {
    let snapshot = blocking_snapshot(&server, &params).await?;
    let stubs: Vec<NodeListStub> = snapshot
        .nodes_by_prefix(params.prefix())
        .iter()
        .map(|node| {
            let running = snapshot.live_allocs_by_node(&node.id).iter().filter(|a| !a.terminal()).count() as u64;
            let mut stub = NodeListStub::from_node(node, running);
            stub.last_heartbeat = server.last_heartbeat(node);
            stub
        })
        .collect();
    Ok(json_reply(&stubs, snapshot.index()))
}

async fn get_node(State(server): State<AppState>, Path(id): Path<String>, params: Params) -> ApiResult {
    let snapshot = blocking_snapshot(&server, &params).await?;
    let node = snapshot.node(&id).ok_or_else(|| ApiError(ServerError::NotFound("node not found".to_string())))?;
    Ok(json_reply(&public(&server, &node), snapshot.index()))
}

async fn allocations(State(server): State<AppState>, Path(id): Path<String>, params: Params) -> ApiResult {
    let snapshot = blocking_snapshot(&server, &params).await?;
    let allocs: Vec<AllocListStub> =
        snapshot.allocs_by_node(&id).iter().map(|alloc| super::allocs::stub(&snapshot, alloc)).collect();
    Ok(json_reply(&allocs, snapshot.index()))
}

async fn register(State(server): State<AppState>, body: Bytes) -> ApiResult {
    let node: Node = parse_body(&body)?;
    let reply = server.register_node(node).await?;
    Ok(json_reply(&reply, reply.index))
}

async fn heartbeat(State(server): State<AppState>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let body: NodeHeartbeatRequest = if body.is_empty() { NodeHeartbeatRequest::default() } else { parse_body(&body)? };
    let reply = server.heartbeat(&id, &body.secret_id).await?;
    Ok(json_reply(&reply, reply.index))
}

async fn client_allocs(State(server): State<AppState>, Path(id): Path<String>, params: Params) -> ApiResult {
    if let Some((index, wait)) = params.blocking()? {
        server.node_watch.wait_above(&id, index, wait).await;
    }
    let snapshot = server.state.snapshot();
    if snapshot.node(&id).is_none() {
        return Err(ApiError(ServerError::NotFound("node not found".to_string())));
    }
    let since = params.number("since")?.unwrap_or(0);
    let mut allocs = Vec::new();
    let mut unchanged = Vec::new();
    for alloc in snapshot.live_allocs_by_node(&id) {
        if since > 0 && alloc.alloc_modify_index <= since {
            unchanged.push(alloc.id.clone());
        } else {
            allocs.push(super::allocs::with_job(&snapshot, &alloc));
        }
    }
    let index = snapshot.index();
    Ok(json_reply(&ClientAllocsResponse { allocs, unchanged, index }, index))
}

async fn client_update(State(server): State<AppState>, body: Bytes) -> ApiResult {
    let request: ClientAllocsUpdateRequest = parse_body(&body)?;
    let index = server.client_update(&request.node_id, request.allocs).await?;
    Ok(json_reply(&IndexResponse { index }, index))
}

/// Updates of many nodes in one request (`[{NodeID, Allocs}]`), for agents
/// that simulate many nodes. Each node's updates are applied as by
/// `/v1/client/allocs/update`; the writes run concurrently, so they share
/// group commits.
async fn client_update_batch(State(server): State<AppState>, body: Bytes) -> ApiResult {
    let requests: Vec<ClientAllocsUpdateRequest> = parse_body(&body)?;
    let results = futures_util::future::join_all(requests.into_iter().map(|request| {
        let server = &server;
        async move { server.client_update(&request.node_id, request.allocs).await }
    }))
    .await;
    let mut index = 0;
    for result in results {
        index = index.max(result?);
    }
    Ok(json_reply(&IndexResponse { index }, index))
}

/// `POST /v1/node/:id/drain`: starts a drain (`DrainSpec`) or ends it (`null`).
async fn drain(State(server): State<AppState>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let body: NodeDrainRequest = if body.is_empty() { NodeDrainRequest::default() } else { parse_body(&body)? };
    let drain: Option<Duration> = body.drain_spec.map(|spec| nanos_to_duration(spec.deadline));
    let (eval_ids, index) = server.drain_node(&id, drain).await?;
    let reply = NodeDrainResponse { eval_create_index: index, eval_ids, index, node_modify_index: index };
    Ok(json_reply(&reply, index))
}

async fn eligibility(State(server): State<AppState>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let body: NodeEligibilityRequest = parse_body(&body)?;
    let eligible = match body.eligibility.as_str() {
        "eligible" => true,
        "ineligible" => false,
        other => {
            return Err(ApiError(ServerError::BadRequest(format!(
                "invalid scheduling eligibility {other:?}: expected eligible or ineligible"
            ))));
        }
    };
    let index = server.set_eligibility(&id, eligible).await?;
    Ok(json_reply(&NodeModifyResponse { index, node_modify_index: index }, index))
}

async fn purge(State(server): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let index = server.purge_node(&id).await?;
    Ok(json_reply(&NodeModifyResponse { index, node_modify_index: index }, index))
}
