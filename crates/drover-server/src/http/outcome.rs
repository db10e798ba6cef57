//! `GET /v1/job/:id/outcome?wait=`: the blocking "result" of a job (see
//! `crate::outcome`).

use std::time::Duration;

use super::{ApiError, ApiResult, AppState, Params, json_reply};
use crate::error::ServerError;

/// Longest an outcome request waits when it gives no `?wait=`.
const DEFAULT_WAIT: Duration = Duration::from_secs(300);

/// `GET /v1/job/:id/outcome` (routed by the job path dispatcher in `jobs.rs`).
pub(super) async fn outcome(server: &AppState, params: &Params, job_id: &str) -> ApiResult {
    let wait = match params.get("wait") {
        None | Some("") => DEFAULT_WAIT,
        Some(text) => drover_types::nanos_to_duration(
            drover_types::parse_duration(text)
                .map_err(|e| ApiError(ServerError::BadRequest(format!("invalid wait {text:?}: {e}"))))?,
        ),
    };
    let result = crate::outcome::wait_outcome(&server.state, &params.namespace(), job_id, wait).await?;
    Ok(json_reply(&result, result.index))
}
