//! The client's own HTTP listener: `GET /v1/client/fs/logs/:alloc_id` (Nomad's
//! log streaming, plain or as JSON frames, optionally following) and
//! `POST /v1/client/allocation/:alloc_id/restart`. Servers proxy
//! `/v1/client/*` requests here using the node's `HTTPAddr`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use tokio::sync::mpsc;

use drover_types::task_state;

use crate::agent::Runners;
use crate::alloc_runner::AllocCommand;
use crate::logs::{LogChunk, Origin, initial_cursor, read_chunk};

/// How often a followed log is checked for new data.
const FOLLOW_POLL: Duration = Duration::from_millis(100);
/// Largest chunk sent in one frame.
const MAX_CHUNK: usize = 64 * 1024;

/// What the handlers need.
#[derive(Clone)]
pub(crate) struct HttpState {
    pub alloc_dir: PathBuf,
    pub runners: Runners,
}

/// The listener's routes.
pub(crate) fn router(state: HttpState) -> Router {
    Router::new()
        .route("/v1/client/fs/logs/{alloc_id}", get(logs))
        .route("/v1/client/allocation/{alloc_id}/restart", post(restart).put(restart))
        .with_state(state)
}

/// A handler error: a status and a plain-text message.
struct HttpError(StatusCode, String);

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        (self.0, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], self.1).into_response()
    }
}

fn bad_request(message: impl Into<String>) -> HttpError {
    HttpError(StatusCode::BAD_REQUEST, message.into())
}

fn not_found(message: impl Into<String>) -> HttpError {
    HttpError(StatusCode::NOT_FOUND, message.into())
}

/// Go's `strconv.ParseBool`, as Nomad parses query flags.
fn parse_bool(name: &str, value: Option<&String>) -> Result<bool, HttpError> {
    match value.map(String::as_str) {
        None | Some("") => Ok(false),
        Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
        Some(other) => Err(bad_request(format!("failed to parse value of {name:?} ({other:?}) as bool"))),
    }
}

fn valid_name(text: &str) -> bool {
    !text.is_empty() && text != "." && text != ".." && !text.contains('/') && !text.contains('\0')
}

/// Log request parameters after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LogParams {
    task: String,
    log_type: String,
    follow: bool,
    offset: u64,
    origin: Origin,
    plain: bool,
}

fn parse_log_params(query: &HashMap<String, String>) -> Result<LogParams, HttpError> {
    let task = query.get("task").cloned().unwrap_or_default();
    if task.is_empty() {
        return Err(bad_request("must provide task name"));
    }
    if !valid_name(&task) {
        return Err(bad_request(format!("invalid task name {task:?}")));
    }
    let log_type = query.get("type").cloned().unwrap_or_default();
    if log_type != "stdout" && log_type != "stderr" {
        return Err(bad_request("must provide log type (stdout/stderr)"));
    }
    let follow = parse_bool("follow", query.get("follow"))?;
    let plain = parse_bool("plain", query.get("plain"))?;
    let offset = match query.get("offset").map(String::as_str) {
        None | Some("") => 0,
        Some(text) => {
            let value: i64 = text.parse().map_err(|_| bad_request(format!("failed to parse offset {text:?}")))?;
            u64::try_from(value).map_err(|_| bad_request("offset must be non-negative"))?
        }
    };
    let origin = match query.get("origin").map(String::as_str) {
        None | Some("") | Some("start") => Origin::Start,
        Some("end") => Origin::End,
        Some(_) => return Err(bad_request("origin must be start or end")),
    };
    Ok(LogParams { task, log_type, follow, offset, origin, plain })
}

async fn logs(
    State(state): State<HttpState>,
    Path(alloc_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, HttpError> {
    let params = parse_log_params(&query)?;
    if !valid_name(&alloc_id) {
        return Err(bad_request(format!("invalid allocation ID {alloc_id:?}")));
    }
    let alloc_root = state.alloc_dir.join(&alloc_id);
    if !alloc_root.is_dir() {
        return Err(not_found(format!("Unknown allocation \"{alloc_id}\"")));
    }
    let snapshot = state.runners.lock().ok().and_then(|runners| runners.get(&alloc_id).map(|h| h.snapshot.clone()));
    if let Some(snapshot) = &snapshot {
        let tasks = &snapshot.borrow().tasks;
        if !tasks.is_empty() && !tasks.contains_key(&params.task) {
            return Err(not_found(format!("unknown task name \"{}\"", params.task)));
        }
    }
    let logs_dir = alloc_root.join("alloc").join("logs");
    let base = format!("{}.{}", params.task, params.log_type);
    let cursor = initial_cursor(&logs_dir, &base, params.origin, params.offset)
        .map_err(|e| HttpError(StatusCode::INTERNAL_SERVER_ERROR, format!("error reading logs: {e}")))?;
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let task = params.task.clone();
    let is_dead = move || match &snapshot {
        None => true,
        Some(snapshot) => {
            let snapshot = snapshot.borrow();
            snapshot.done || snapshot.tasks.get(&task).is_some_and(|t| t.state == task_state::DEAD)
        }
    };
    tokio::spawn(async move {
        let mut cursor = cursor;
        loop {
            let dead_before_read = is_dead();
            loop {
                match read_chunk(&logs_dir, &base, &mut cursor, MAX_CHUNK) {
                    Ok(Some(chunk)) => {
                        if tx.send(Ok(encode(&chunk, params.plain))).await.is_err() {
                            return;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                }
            }
            if !params.follow || dead_before_read || tx.is_closed() {
                return;
            }
            tokio::time::sleep(FOLLOW_POLL).await;
        }
    });
    let content_type = if params.plain { "text/plain; charset=utf-8" } else { "application/json" };
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

fn encode(chunk: &LogChunk, plain: bool) -> Bytes {
    if plain {
        return Bytes::from(chunk.data.clone());
    }
    let frame = serde_json::json!({
        "File": format!("alloc/logs/{}", chunk.file_name),
        "Offset": chunk.offset,
        "Data": base64::engine::general_purpose::STANDARD.encode(&chunk.data),
    });
    let mut bytes = frame.to_string().into_bytes();
    bytes.push(b'\n');
    Bytes::from(bytes)
}

async fn restart(State(state): State<HttpState>, Path(alloc_id): Path<String>) -> Result<Response, HttpError> {
    let sent = state
        .runners
        .lock()
        .ok()
        .and_then(|runners| runners.get(&alloc_id).map(|h| h.commands.send(AllocCommand::RestartTasks).is_ok()));
    match sent {
        Some(true) => Ok(([(header::CONTENT_TYPE, "application/json")], "{}").into_response()),
        Some(false) => Err(bad_request("allocation is not running")),
        None => Err(not_found(format!("Unknown allocation \"{alloc_id}\""))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn log_param_errors_match_nomad() {
        let message = |pairs: &[(&str, &str)]| parse_log_params(&query(pairs)).err().map(|e| e.1);
        assert_eq!(message(&[]), Some("must provide task name".to_string()));
        assert_eq!(message(&[("task", "t")]), Some("must provide log type (stdout/stderr)".to_string()));
        assert_eq!(message(&[("task", "t"), ("type", "x")]), Some("must provide log type (stdout/stderr)".to_string()));
        assert_eq!(
            message(&[("task", "t"), ("type", "stdout"), ("origin", "middle")]),
            Some("origin must be start or end".to_string())
        );
        assert!(message(&[("task", "../x"), ("type", "stdout")]).is_some());
        let ok = parse_log_params(&query(&[
            ("task", "t"),
            ("type", "stderr"),
            ("follow", "true"),
            ("offset", "10"),
            ("origin", "end"),
            ("plain", "1"),
        ]));
        assert_eq!(
            ok.ok(),
            Some(LogParams {
                task: "t".to_string(),
                log_type: "stderr".to_string(),
                follow: true,
                offset: 10,
                origin: Origin::End,
                plain: true
            })
        );
    }
}
