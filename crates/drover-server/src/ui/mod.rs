//! The web UI: a single-page console in plain ES modules, embedded in the
//! binary and served at `/ui/`.
//!
//! The UI is a client of the JSON API and nothing else: every page reads and
//! writes through `/v1/...`, so the API stays the single source of truth.
//! [`routes`] serves `/` (302 to `/ui/`), `/ui/assets/*` (the embedded
//! [`ASSETS`], with their content type and an `ETag`; browsers revalidate with
//! `If-None-Match`) and `index.html` for every other `/ui/*` path, so
//! client-side routes such as `/ui/jobs/example` survive a reload.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// One embedded file: its path under `/ui/assets/`, content type and bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asset {
    /// Path below `/ui/assets/`, e.g. `js/app.js`.
    pub(crate) path: &'static str,
    /// The `Content-Type` it is served with.
    pub(crate) content_type: &'static str,
    /// The file's contents.
    pub(crate) body: &'static str,
}

macro_rules! asset {
    ($path:literal, $content_type:expr) => {
        Asset { path: $path, content_type: $content_type, body: include_str!(concat!("assets/", $path)) }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// Every file under `/ui/assets/`.
pub(crate) const ASSETS: &[Asset] = &[
    asset!("app.css", CSS),
    asset!("favicon.svg", SVG),
    asset!("js/app.js", JS),
    asset!("js/api.js", JS),
    asset!("js/util.js", JS),
    asset!("js/live.js", JS),
    asset!("js/jobs.js", JS),
    asset!("js/job.js", JS),
    asset!("js/runs.js", JS),
    asset!("js/jobform.js", JS),
    asset!("js/dispatch.js", JS),
    asset!("js/alloc.js", JS),
    asset!("js/runners.js", JS),
    asset!("js/queue.js", JS),
    asset!("js/evals.js", JS),
];

/// The page shell every `/ui/*` route answers with.
pub(crate) const INDEX_HTML: &str = include_str!("assets/index.html");

/// The UI's routes, stateless so they merge into any router.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(to_ui))
        .route("/ui", get(to_ui))
        .route("/ui/", get(index))
        .route("/ui/assets/{*path}", get(asset))
        .route("/ui/{*route}", get(index))
}

/// `302 Found` to `/ui/`.
async fn to_ui() -> Response {
    (StatusCode::FOUND, [(header::LOCATION, "/ui/")]).into_response()
}

async fn index() -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("X-Content-Type-Options", HeaderValue::from_static("nosniff"));
    (StatusCode::OK, headers, INDEX_HTML).into_response()
}

async fn asset(Path(path): Path<String>, request_headers: HeaderMap) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.path == path) else {
        return (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "no such UI asset")
            .into_response();
    };
    let etag = format!("\"{:016x}\"", fnv1a(asset.body.as_bytes()));
    let mut headers = HeaderMap::new();
    // Revalidate on every use: names carry no content hash, the ETag does.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("X-Content-Type-Options", HeaderValue::from_static("nosniff"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    let matches = request_headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    if matches {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    (StatusCode::OK, headers, asset.body).into_response()
}

/// FNV-1a, 64 bit: a stable content hash for ETags.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::{ASSETS, fnv1a};

    #[test]
    fn asset_paths_are_unique_and_typed() {
        let mut paths: Vec<&str> = ASSETS.iter().map(|a| a.path).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), ASSETS.len());
        for asset in ASSETS {
            let expected = match asset.path.rsplit('.').next() {
                Some("js") => "text/javascript",
                Some("css") => "text/css",
                Some("svg") => "image/svg+xml",
                other => panic!("unexpected asset extension {other:?}"),
            };
            assert!(asset.content_type.starts_with(expected), "{}: {}", asset.path, asset.content_type);
        }
        assert_ne!(fnv1a(b"a"), fnv1a(b"b"));
    }
}
