//! `/v1/client/*`: requests served by the client agent that runs the
//! allocation (logs, restart). The server finds the allocation's node and
//! forwards the request to the node's HTTP address, streaming the reply back.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::{any, get};
use futures_util::TryStreamExt;

use super::{ApiError, ApiResult, AppState};
use crate::error::ServerError;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/client/fs/logs/{alloc_id}", get(forward_alloc))
        .route("/v1/client/allocation/{alloc_id}/{*action}", any(forward_alloc_action))
}

async fn forward_alloc(
    State(server): State<AppState>,
    Path(alloc_id): Path<String>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> ApiResult {
    forward(&server, &alloc_id, method, uri, body).await
}

async fn forward_alloc_action(
    State(server): State<AppState>,
    Path((alloc_id, _action)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> ApiResult {
    forward(&server, &alloc_id, method, uri, body).await
}

async fn forward(server: &AppState, alloc_id: &str, method: Method, uri: Uri, body: Bytes) -> ApiResult {
    let snapshot = server.state.snapshot();
    let alloc = snapshot
        .alloc(alloc_id)
        .ok_or_else(|| ApiError(ServerError::NotFound(format!("Unknown allocation \"{alloc_id}\""))))?;
    let node = snapshot
        .node(&alloc.node_id)
        .ok_or_else(|| ApiError(ServerError::NotFound(format!("Unknown node \"{}\"", alloc.node_id))))?;
    if node.http_addr.is_empty() {
        return Err(ApiError(ServerError::BadRequest(format!(
            "node {} does not serve client requests (no HTTP address)",
            node.id
        ))));
    }
    let base =
        if node.http_addr.starts_with("http") { node.http_addr.clone() } else { format!("http://{}", node.http_addr) };
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or(uri.path());
    let url = format!("{}{}", base.trim_end_matches('/'), path_and_query);
    let reqwest_method = reqwest::Method::from_bytes(method.as_str().as_bytes())
        .map_err(|_| ApiError(ServerError::BadRequest(format!("unsupported method {method}"))))?;
    let response = server.proxy.request(reqwest_method, &url).body(body.to_vec()).send().await.map_err(|err| {
        ApiError(ServerError::BadRequest(format!("node {} at {} did not answer: {err}", node.id, node.http_addr)))
    })?;
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("text/plain").to_string();
    let stream = response.bytes_stream().map_err(std::io::Error::other);
    Ok((status, [("content-type", content_type)], Body::from_stream(stream)).into_response())
}
