//! The embedded web UI over a real socket: `/` redirects to `/ui/`, every
//! client-side route answers with the page shell, and every asset the shell
//! and its modules reference (found by crawling them) is served with its
//! content type, an ETag and revalidation headers.

use std::collections::{BTreeSet, VecDeque};

struct TestServer {
    handle: drover_server::ServerHandle,
    http: reqwest::Client,
    base: String,
    _dir: tempfile::TempDir,
}

impl TestServer {
    async fn start() -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = drover_server::ServerConfig::new(dir.path().to_path_buf());
        config.http_addr = "127.0.0.1:0".to_string();
        let handle = drover_server::start(config).await.expect("server starts");
        let base = format!("http://{}", handle.http_addr());
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        TestServer { handle, http, base, _dir: dir }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(format!("{}{path}", self.base)).send().await.expect("request sent")
    }
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
}

/// `/ui/assets/...` paths referenced by `text`, and `./x.js` imports resolved against `from`.
fn references(text: &str, from: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (idx, _) in text.match_indices("/ui/assets/") {
        let rest = &text[idx..];
        let end = rest.find(['"', '\'', '`', ')', ' ']).unwrap_or(rest.len());
        out.push(rest[..end].to_string());
    }
    let dir = from.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    for (idx, _) in text.match_indices("from \"./") {
        let rest = &text[idx + "from \"./".len()..];
        if let Some(end) = rest.find('"') {
            out.push(format!("{dir}/{}", &rest[..end]));
        }
    }
    out
}

fn expected_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("js") => "text/javascript",
        Some("css") => "text/css",
        Some("svg") => "image/svg+xml",
        _ => "text/html",
    }
}

#[tokio::test]
async fn root_redirects_to_the_ui() {
    let server = TestServer::start().await;
    for path in ["/", "/ui"] {
        let response = server.get(path).await;
        assert_eq!(response.status().as_u16(), 302, "{path}");
        assert_eq!(header(&response, "location"), "/ui/", "{path}");
    }
    server.handle.shutdown().await;
}

#[tokio::test]
async fn client_routes_answer_with_the_page_shell() {
    let server = TestServer::start().await;
    for path in ["/ui/", "/ui/jobs", "/ui/jobs/new", "/ui/jobs/video%2Fdispatch-1/edit", "/ui/runners/abc", "/ui/queue"]
    {
        let response = server.get(path).await;
        assert_eq!(response.status().as_u16(), 200, "{path}");
        assert_eq!(header(&response, "content-type"), "text/html; charset=utf-8", "{path}");
        assert_eq!(header(&response, "cache-control"), "no-cache", "{path}");
        let body = response.text().await.expect("body");
        assert!(body.contains("<script type=\"module\" src=\"/ui/assets/js/app.js\">"), "{path}: {body}");
    }
    // The API keeps its own 404s.
    let response = server.get("/v1/nope").await;
    assert_eq!(response.status().as_u16(), 404);
    let response = server.get("/ui/assets/nope.js").await;
    assert_eq!(response.status().as_u16(), 404);
    server.handle.shutdown().await;
}

#[tokio::test]
async fn every_referenced_asset_is_served_with_its_content_type() {
    let server = TestServer::start().await;
    let shell = server.get("/ui/").await.text().await.expect("shell");
    let mut queue: VecDeque<String> = references(&shell, "/ui/assets/index.html").into();
    // Pages are imported by name from the router (`import(`./${page}.js`)`).
    for page in ["jobs", "job", "jobform", "dispatch", "alloc", "runners", "queue", "evals"] {
        queue.push_back(format!("/ui/assets/js/{page}.js"));
    }
    let mut seen = BTreeSet::new();
    while let Some(path) = queue.pop_front() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let response = server.get(&path).await;
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let content_type = header(&response, "content-type");
        assert!(content_type.starts_with(expected_type(&path)), "{path}: {content_type}");
        assert_eq!(header(&response, "cache-control"), "no-cache", "{path}");
        assert_eq!(header(&response, "x-content-type-options"), "nosniff", "{path}");
        let etag = header(&response, "etag");
        assert!(etag.starts_with('"') && etag.len() > 2, "{path}: etag {etag:?}");
        let body = response.text().await.expect("body");
        assert!(!body.is_empty(), "{path}");
        for reference in references(&body, &path) {
            queue.push_back(reference);
        }
        // Revalidation: the same ETag answers 304 without a body.
        let again = server
            .http
            .get(format!("{}{path}", server.base))
            .header("If-None-Match", &etag)
            .send()
            .await
            .expect("request sent");
        assert_eq!(again.status().as_u16(), 304, "{path}");
    }
    assert!(seen.len() >= 14, "crawled only {seen:?}");
    assert!(seen.contains("/ui/assets/js/util.js") && seen.contains("/ui/assets/app.css"), "{seen:?}");
    server.handle.shutdown().await;
}
