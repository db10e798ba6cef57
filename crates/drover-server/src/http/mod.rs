//! The HTTP API: Nomad's v1 API shapes (and Drover's client protocol) over axum.
//!
//! Every axum handler lives here, and handlers are thin: parse, call a
//! [`Server`] operation or read a snapshot, answer with a
//! `drover_types::api` type (or a domain object). Every error is a response
//! ([`ApiError`]); 4xx bodies say what is wrong, 5xx bodies are generic and
//! the detail is logged.

mod acl;
mod allocs;
mod client_proxy;
mod dispatch;
mod evals;
mod events;
mod filter;
mod jobs;
mod metronome;
mod node_test;
mod nodes;
mod outcome;
mod queue;
mod runs;
mod status;

pub use acl::required_capability;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use drover_state::Snapshot;
use drover_types::DEFAULT_NAMESPACE;
use drover_types::api::INDEX_HEADER;

use crate::error::ServerError;
use crate::server::Server;

/// Shared handler state.
pub(crate) type AppState = Arc<Server>;

/// The whole API, behind the slash merge (see [`merge_slashes`]).
pub(crate) fn router(server: AppState) -> Router {
    Router::new().fallback_service(api(server)).layer(axum::middleware::from_fn(merge_slashes))
}

fn api(server: AppState) -> Router {
    Router::new()
        .merge(jobs::routes())
        .merge(metronome::routes())
        .merge(evals::routes())
        .merge(allocs::routes())
        .merge(nodes::routes())
        .merge(node_test::routes())
        .merge(queue::routes())
        .merge(client_proxy::routes())
        .merge(status::routes())
        .merge(events::routes())
        .merge(crate::ui::routes())
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(server.clone(), check_capability))
        .layer(axum::middleware::from_fn_with_state(server.clone(), check_region))
        .layer(axum::middleware::from_fn(limit_body))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(server.clone(), record_latency))
        .with_state(server)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError(ServerError::NotFound(format!("Invalid URL path {:?}", uri.path())))
}

/// Treats repeated slashes in a path as one, on every API: DC/OS's clients
/// build paths such as `/v1/jobs/myjob/schedules//nightly`, which DC/OS's
/// front proxy (nginx, merging slashes) used to clean up before Metronome saw them.
async fn merge_slashes(mut request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path.contains("//") {
        let mut merged = String::with_capacity(path.len());
        for c in path.chars() {
            if !(c == '/' && merged.ends_with('/')) {
                merged.push(c);
            }
        }
        if let Some(query) = request.uri().query() {
            merged.push('?');
            merged.push_str(query);
        }
        let mut parts = request.uri().clone().into_parts();
        match merged.parse() {
            Ok(path_and_query) => parts.path_and_query = Some(path_and_query),
            Err(_) => return ApiError(ServerError::BadRequest(format!("invalid path {path:?}"))).into_response(),
        }
        match axum::http::Uri::from_parts(parts) {
            Ok(uri) => *request.uri_mut() = uri,
            Err(_) => return ApiError(ServerError::BadRequest(format!("invalid path {path:?}"))).into_response(),
        }
    }
    next.run(request).await
}

/// The largest request body the API reads (a jobspec, a dispatch with its payload).
pub(crate) const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Answers a body whose `Content-Length` is over [`MAX_BODY_BYTES`] with a
/// 413 that says the limit, before reading it. (A body sent without a length
/// is cut at the same limit by the body reader, whose 413 is generic.)
async fn limit_body(request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if let Some(length) = declared.filter(|length| *length > MAX_BODY_BYTES as u64) {
        return ApiError(ServerError::TooLarge(format!(
            "request body too large: {length} bytes, the limit is {MAX_BODY_BYTES} bytes ({} MiB)",
            MAX_BODY_BYTES / (1024 * 1024)
        )))
        .into_response();
    }
    next.run(request).await
}

/// One query parameter, decoded, for the checks that run before a handler
/// (and its [`Params`]); empty reads as absent.
fn query_value(uri: &axum::http::Uri, key: &str) -> Option<String> {
    let query = uri.query()?;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
        .map(percent_decode)
        .filter(|value| !value.is_empty())
}

/// Refuses a request for another region (`?region=`): this server answers
/// for its own region only, as Nomad does with no path to the one asked for.
async fn check_region(State(server): State<AppState>, request: Request, next: Next) -> Response {
    if let Some(region) = query_value(request.uri(), "region")
        && region != server.config.region
    {
        return ApiError(ServerError::BadRequest(format!(
            "No path to region {region:?}: this server knows only region {:?}",
            server.config.region
        )))
        .into_response();
    }
    next.run(request).await
}

/// Refuses a request whose token lacks the capability its route needs.
async fn check_capability(State(server): State<AppState>, request: Request, next: Next) -> Response {
    if let Some(capability) = acl::required_capability(request.method(), request.uri().path()) {
        let token = acl::request_token(request.headers());
        let namespace = query_value(request.uri(), "namespace").unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
        if !server.allowed(&token, &namespace, capability) {
            tracing::debug!(capability = capability.as_str(), namespace = %namespace, "request refused by ACL");
            return ApiError(ServerError::PermissionDenied).into_response();
        }
    }
    next.run(request).await
}

async fn record_latency(State(server): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| format!("{} {}", request.method(), p.as_str()))
        .unwrap_or_else(|| "unmatched".to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    server.metrics.record_request(&route, started.elapsed().as_micros() as u64);
    response
}

/// An error as an HTTP response: plain-text body, like Nomad.
#[derive(Debug)]
pub(crate) struct ApiError(pub ServerError);

impl From<ServerError> for ApiError {
    fn from(err: ServerError) -> Self {
        ApiError(err)
    }
}

impl From<drover_state::StateError> for ApiError {
    fn from(err: drover_state::StateError) -> Self {
        ApiError(err.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = if status.is_server_error() {
            tracing::error!(error = %self.0, "request failed");
            "internal server error; see the server log".to_string()
        } else {
            self.0.to_string()
        };
        (status, body).into_response()
    }
}

/// Handler result.
pub(crate) type ApiResult<T = Response> = Result<T, ApiError>;

/// Query parameters, as given.
#[derive(Debug, Default, Clone)]
pub(crate) struct Params(pub HashMap<String, String>);

impl Params {
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub(crate) fn namespace(&self) -> String {
        match self.get("namespace") {
            Some(ns) if !ns.is_empty() => ns.to_string(),
            _ => DEFAULT_NAMESPACE.to_string(),
        }
    }

    /// A boolean query parameter as Nomad (Go's `strconv.ParseBool`) reads
    /// it: `1`, `t`, `T`, `TRUE`, `true`, `True` and the false forms `0`, `f`,
    /// `F`, `FALSE`, `false`, `False`; given without a value it is true;
    /// absent, `default`. Anything else is a 400 naming the parameter.
    pub(crate) fn flag_or(&self, key: &str, default: bool) -> Result<bool, ApiError> {
        match self.get(key) {
            None => Ok(default),
            Some("" | "1" | "t" | "T" | "TRUE" | "true" | "True") => Ok(true),
            Some("0" | "f" | "F" | "FALSE" | "false" | "False") => Ok(false),
            Some(other) => Err(ApiError(ServerError::BadRequest(format!(
                "Failed to parse value of {key:?} ({other:?}) as a bool: expected true or false"
            )))),
        }
    }

    /// [`Params::flag_or`], false when absent.
    pub(crate) fn flag(&self, key: &str) -> Result<bool, ApiError> {
        self.flag_or(key, false)
    }

    pub(crate) fn prefix(&self) -> &str {
        self.get("prefix").unwrap_or("")
    }

    /// A whole-number query parameter, if given.
    pub(crate) fn number(&self, key: &str) -> Result<Option<u64>, ApiError> {
        let Some(text) = self.get(key) else { return Ok(None) };
        text.parse()
            .map(Some)
            .map_err(|_| ApiError(ServerError::BadRequest(format!("invalid {key} {text:?}: expected a number"))))
    }

    /// `?index=N&wait=D`: the index to block past and for how long.
    pub(crate) fn blocking(&self) -> Result<Option<(u64, Duration)>, ApiError> {
        let Some(index) = self.number("index")? else { return Ok(None) };
        let wait = match self.get("wait") {
            None | Some("") => Duration::from_secs(300),
            Some(text) => {
                let nanos = drover_types::parse_duration(text)
                    .map_err(|e| ApiError(ServerError::BadRequest(format!("invalid wait {text:?}: {e}"))))?;
                drover_types::nanos_to_duration(nanos).min(Duration::from_secs(600))
            }
        };
        Ok(if index == 0 { None } else { Some((index, wait)) })
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let mut map = HashMap::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            map.insert(percent_decode(key), percent_decode(value));
        }
        Ok(Params(map))
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut idx = 0;
    while idx < bytes.len() {
        match bytes[idx] {
            b'+' => {
                out.push(b' ');
                idx += 1;
            }
            b'%' if idx + 2 < bytes.len() => {
                let hex =
                    std::str::from_utf8(&bytes[idx + 1..idx + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(byte) => {
                        out.push(byte);
                        idx += 3;
                    }
                    None => {
                        out.push(b'%');
                        idx += 1;
                    }
                }
            }
            byte => {
                out.push(byte);
                idx += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Waits per `?index=&wait=` and returns the snapshot to answer from.
pub(crate) async fn blocking_snapshot(server: &Server, params: &Params) -> ApiResult<Arc<Snapshot>> {
    if let Some((index, wait)) = params.blocking()? {
        server.state.wait_index_above(index, wait).await;
    }
    Ok(server.state.snapshot())
}

/// A JSON reply carrying the state index header.
pub(crate) fn json_reply<T: Serialize>(value: &T, index: u64) -> Response {
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&index.to_string()) {
        headers.insert(INDEX_HEADER, v);
    }
    headers.insert("X-Nomad-KnownLeader", HeaderValue::from_static("true"));
    headers.insert("X-Nomad-LastContact", HeaderValue::from_static("0"));
    match serde_json::to_vec(value) {
        Ok(body) => {
            headers.insert("Content-Type", HeaderValue::from_static("application/json"));
            (StatusCode::OK, headers, body).into_response()
        }
        Err(err) => ApiError(ServerError::Internal(format!("encoding reply: {err}"))).into_response(),
    }
}

/// Decodes a JSON body, naming the line and column of a mistake.
pub(crate) fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError(ServerError::BadRequest("request body is empty; expected JSON".to_string())));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError(ServerError::BadRequest(format!("failed to parse JSON body: {e}"))))
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn decodes_query_components() {
        assert_eq!(percent_decode("a%2Fb"), "a/b");
        assert_eq!(percent_decode("a+b"), "a b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
