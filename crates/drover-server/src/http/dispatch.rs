//! `POST /v1/job/:id/dispatch`: reads the dispatch request (body, and the
//! `?idempotency_token=` a CLI may pass instead) and answers with the child
//! [`Server::dispatch_job`](crate::Server::dispatch_job) created.

use axum::body::Bytes;

use drover_types::api::JobDispatchRequest;

use super::{ApiError, ApiResult, AppState, Params, json_reply, parse_body};
use crate::error::ServerError;

/// `POST /v1/job/:id/dispatch` (routed by the job path dispatcher in `jobs.rs`).
pub(super) async fn dispatch(server: &AppState, params: &Params, job_id: &str, body: &Bytes) -> ApiResult {
    let mut request: JobDispatchRequest =
        if body.is_empty() { JobDispatchRequest::default() } else { parse_body(body)? };
    if !request.job_id.is_empty() && request.job_id != job_id {
        return Err(ApiError(ServerError::BadRequest("Job ID does not match".to_string())));
    }
    if let Some(token) = params.get("idempotency_token")
        && !token.is_empty()
    {
        request.idempotency_token = token.to_string();
    }
    let reply = server.dispatch_job(&params.namespace(), job_id, request).await?;
    Ok(json_reply(&reply, reply.index))
}
