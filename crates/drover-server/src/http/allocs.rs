//! `/v1/allocations`, `/v1/allocation/:id`, `/v1/allocation/:id/stop`.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};

use drover_state::Snapshot;
use drover_types::Allocation;
use drover_types::api::{AllocListStub, AllocStopResponse};

use super::{ApiError, ApiResult, AppState, Params, blocking_snapshot, json_reply};
use crate::error::ServerError;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/allocations", get(list))
        .route("/v1/allocation/{id}", get(get_alloc))
        .route("/v1/allocation/{id}/stop", post(stop).put(stop))
}

async fn list(State(server): State<AppState>, params: Params) -> ApiResult {
    let snapshot = blocking_snapshot(&server, &params).await?;
    let namespace = params.namespace();
    let stubs: Vec<AllocListStub> = snapshot
        .allocs_by_prefix(params.prefix())
        .iter()
        .filter(|a| namespace == "*" || a.namespace == namespace)
        .map(|alloc| super::allocs::stub(&snapshot, alloc))
        .collect();
    Ok(json_reply(&stubs, snapshot.index()))
}

/// The list row of an allocation (its job's type looked up).
pub(crate) fn stub(snapshot: &Snapshot, alloc: &Allocation) -> AllocListStub {
    let job_type = snapshot.job(&alloc.namespace, &alloc.job_id).map(|j| j.job_type.as_str()).unwrap_or("");
    AllocListStub::from_alloc(alloc, job_type)
}

/// An allocation with its job (at its version) embedded, as Nomad serves it.
pub(crate) fn with_job(snapshot: &Snapshot, alloc: &Allocation) -> Allocation {
    let mut full = alloc.clone();
    full.job = snapshot
        .job_version(&alloc.namespace, &alloc.job_id, alloc.job_version)
        .or_else(|| snapshot.job(&alloc.namespace, &alloc.job_id))
        .map(|job| Box::new((*job).clone()));
    full
}

async fn get_alloc(State(server): State<AppState>, Path(id): Path<String>, params: Params) -> ApiResult {
    let snapshot = blocking_snapshot(&server, &params).await?;
    let alloc = snapshot.alloc(&id).ok_or_else(|| ApiError(ServerError::NotFound("alloc not found".to_string())))?;
    Ok(json_reply(&with_job(&snapshot, &alloc), snapshot.index()))
}

async fn stop(State(server): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let (eval_id, index) = server.stop_alloc(&id).await?;
    Ok(json_reply(&AllocStopResponse { eval_id, index }, index))
}
