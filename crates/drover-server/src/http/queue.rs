//! `GET /v1/queue[?namespace=&limit=]`: the job queue, what waits and why
//! (see [`Server::queue`](crate::Server::queue)).

use axum::Router;
use axum::extract::State;
use axum::routing::get;

use super::{ApiError, ApiResult, AppState, Params, json_reply};
use crate::error::ServerError;
use crate::queue::DEFAULT_QUEUE_LIMIT;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/v1/queue", get(queue))
}

async fn queue(State(server): State<AppState>, params: Params) -> ApiResult {
    let limit = match params.number("limit")? {
        None => DEFAULT_QUEUE_LIMIT,
        Some(0) => {
            return Err(ApiError(ServerError::BadRequest("invalid limit 0: expected at least 1".to_string())));
        }
        Some(limit) => usize::try_from(limit).unwrap_or(usize::MAX),
    };
    let namespace = params.get("namespace").filter(|ns| !ns.is_empty() && *ns != "*").map(|_| params.namespace());
    let snapshot = server.state.snapshot();
    let reply = server.queue(&snapshot, namespace.as_deref(), limit);
    Ok(json_reply(&reply, snapshot.index()))
}
