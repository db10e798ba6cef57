//! `/v1/evaluations`, `/v1/evaluation/:id[/allocations]`.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;

use drover_types::Evaluation;
use drover_types::api::AllocListStub;

use super::{ApiError, ApiResult, AppState, Params, blocking_snapshot, json_reply};
use crate::error::ServerError;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/evaluations", get(list))
        .route("/v1/evaluation/{id}", get(get_eval))
        .route("/v1/evaluation/{id}/allocations", get(allocations))
}

async fn list(State(server): State<AppState>, params: Params) -> ApiResult {
    let snapshot = blocking_snapshot(&server, &params).await?;
    let namespace = params.namespace();
    let job_filter = params.get("job").map(str::to_string);
    let status_filter = params.get("status").map(str::to_string);
    let mut evals: Vec<Evaluation> = snapshot
        .evals_by_prefix(params.prefix())
        .iter()
        .filter(|e| namespace == "*" || e.namespace == namespace)
        .filter(|e| job_filter.as_ref().is_none_or(|j| &e.job_id == j))
        .filter(|e| status_filter.as_ref().is_none_or(|s| &e.status == s))
        .map(|e| (**e).clone())
        .collect();
    evals.sort_by_key(|e| std::cmp::Reverse(e.create_index));
    if let Some(per_page) = params.get("per_page").and_then(|p| p.parse::<usize>().ok()) {
        evals.truncate(per_page);
    }
    Ok(json_reply(&evals, snapshot.index()))
}

async fn get_eval(State(server): State<AppState>, Path(id): Path<String>, params: Params) -> ApiResult {
    let snapshot = blocking_snapshot(&server, &params).await?;
    let eval = snapshot.eval(&id).ok_or_else(|| ApiError(ServerError::NotFound("eval not found".to_string())))?;
    Ok(json_reply(&*eval, snapshot.index()))
}

async fn allocations(State(server): State<AppState>, Path(id): Path<String>, params: Params) -> ApiResult {
    let snapshot = blocking_snapshot(&server, &params).await?;
    let stubs: Vec<AllocListStub> =
        snapshot.allocs_by_eval(&id).iter().map(|alloc| super::allocs::stub(&snapshot, alloc)).collect();
    Ok(json_reply(&stubs, snapshot.index()))
}
