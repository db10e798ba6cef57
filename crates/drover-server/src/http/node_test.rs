//! `POST /v1/node/:id/test[?timeout=]`: runs a probe on a runner (node) and
//! answers how it went (see [`Server::test_node`](crate::Server::test_node)).

use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::post;

use super::{ApiError, ApiResult, AppState, Params, json_reply};
use crate::error::ServerError;
use crate::node_test::{DEFAULT_TIMEOUT, MAX_TIMEOUT};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/v1/node/{id}/test", post(test_node).put(test_node))
}

async fn test_node(State(server): State<AppState>, Path(node_id): Path<String>, params: Params) -> ApiResult {
    let timeout: Duration = match params.get("timeout") {
        None | Some("") => DEFAULT_TIMEOUT,
        Some(text) => drover_types::parse_duration(text)
            .map(drover_types::nanos_to_duration)
            .map_err(|err| ApiError(ServerError::BadRequest(format!("invalid timeout {text:?}: {err}"))))?
            .min(MAX_TIMEOUT),
    };
    let result = server.test_node(&node_id, timeout).await?;
    Ok(json_reply(&result, server.state.index()))
}
