//! The client: one address, general options, one method per endpoint.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use drover_types::api::{
    ClientAllocsResponse, ClientAllocsUpdateRequest, INDEX_HEADER, IndexResponse, JobListStub, NodeHeartbeatRequest,
    NodeRegisterResponse, TOKEN_HEADER,
};
use drover_types::{AllocClientUpdate, Node};

use crate::error::ApiError;

/// The general options: where the server is and how to talk to it.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `http://127.0.0.1:4747` style address.
    pub address: String,
    /// Region sent as `?region=` when not empty.
    pub region: String,
    /// Namespace sent as `?namespace=` when not empty.
    pub namespace: String,
    /// ACL token sent as `X-Nomad-Token` when not empty.
    pub token: String,
    /// PEM CA file to verify the server.
    pub ca_cert: Option<PathBuf>,
    /// Directory of PEM CA files.
    pub ca_path: Option<PathBuf>,
    /// PEM client certificate.
    pub client_cert: Option<PathBuf>,
    /// PEM client key.
    pub client_key: Option<PathBuf>,
    /// SNI name to verify the server as.
    pub tls_server_name: Option<String>,
    /// Skip server certificate verification.
    pub tls_skip_verify: bool,
    /// Per-request timeout for non-blocking calls.
    pub timeout: Duration,
    /// Send every request over one HTTP/2 connection (prior knowledge; plain
    /// `http://` only): how one process simulating thousands of nodes keeps
    /// their long polls from each holding a connection (opening ~20,000
    /// connections to one server made the kernel's port search for each new
    /// one the busiest code on the machine).
    pub http2_only: bool,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            address: "http://127.0.0.1:4747".to_string(),
            region: String::new(),
            namespace: String::new(),
            token: String::new(),
            ca_cert: None,
            ca_path: None,
            client_cert: None,
            client_key: None,
            tls_server_name: None,
            tls_skip_verify: false,
            timeout: Duration::from_secs(60),
            http2_only: false,
        }
    }
}

/// What a read returned besides its body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryMeta {
    /// `X-Nomad-Index`: pass it back as `index` to block for changes.
    pub index: u64,
    /// `X-Nomad-NextToken`: where the next page starts (empty: no more).
    pub next_token: String,
}

/// A client for one server.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    /// Where requests go: the address, or with `tls_server_name` the address
    /// with its host replaced by that name (resolved to the address's host).
    base: String,
    /// The address as configured, for messages.
    display_base: String,
    config: ClientConfig,
}

impl Client {
    /// A client for `config.address`.
    pub fn new(config: ClientConfig) -> Result<Client, ApiError> {
        let base = config.address.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ApiError::Config(format!(
                "invalid address {:?}: it must start with http:// or https://",
                config.address
            )));
        }
        let mut builder = reqwest::Client::builder().pool_max_idle_per_host(64).tcp_nodelay(true);
        if config.http2_only && base.starts_with("http://") {
            builder = builder.http2_prior_knowledge();
        }
        let builder = crate::client::tls::configure(builder, &config)?;
        let (builder, request_base) = crate::client::tls::server_name(builder, &config, &base)?;
        let http = builder.build().map_err(|e| ApiError::Config(format!("error setting up HTTP client: {e}")))?;
        Ok(Client { http, base: request_base, display_base: base, config })
    }

    /// The configuration this client was made with.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The server address.
    pub fn address(&self) -> &str {
        &self.display_base
    }

    fn url(&self, path: &str, query: &[(&str, String)]) -> String {
        let mut url = format!("{}{}", self.base, path);
        let mut params: Vec<(String, String)> = Vec::new();
        if !self.config.namespace.is_empty() && !query.iter().any(|(k, _)| *k == "namespace") {
            params.push(("namespace".to_string(), self.config.namespace.clone()));
        }
        if !self.config.region.is_empty() {
            params.push(("region".to_string(), self.config.region.clone()));
        }
        for (k, v) in query {
            params.push((k.to_string(), v.clone()));
        }
        if !params.is_empty() {
            url.push('?');
            let encoded: Vec<String> =
                params.iter().map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v))).collect();
            url.push_str(&encoded.join("&"));
        }
        url
    }

    fn request(&self, method: reqwest::Method, path: &str, query: &[(&str, String)]) -> reqwest::RequestBuilder {
        let mut req = self.http.request(method, self.url(path, query));
        if !self.config.token.is_empty() {
            req = req.header(TOKEN_HEADER, &self.config.token);
        }
        req
    }

    /// Sends a request and returns the raw response, mapping transport and
    /// status errors. `timeout` overrides the default for blocking queries.
    pub async fn send_raw(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
        timeout: Option<Duration>,
    ) -> Result<reqwest::Response, ApiError> {
        let mut req = self.request(method, path, query);
        if let Some(body) = body {
            req = req.header("Content-Type", "application/json").body(body);
        }
        if let Some(timeout) = timeout {
            req = req.timeout(timeout);
        } else {
            req = req.timeout(self.config.timeout);
        }
        let resp = req.send().await.map_err(|e| self.transport_error(e))?;
        let status = resp.status();
        if !status.is_success() {
            let message = resp.text().await.unwrap_or_default();
            return Err(ApiError::Status { status: status.as_u16(), message: message.trim().to_string() });
        }
        Ok(resp)
    }

    fn transport_error(&self, err: reqwest::Error) -> ApiError {
        let mut message = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(inner) = source {
            message = inner.to_string();
            source = inner.source();
        }
        ApiError::Connect { address: self.display_base.clone(), message }
    }

    /// GET a JSON body with its query meta.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<(T, QueryMeta), ApiError> {
        self.get_json_blocking(path, query, None).await
    }

    /// GET a JSON body, blocking until the state index passes `wait.0`
    /// (at most `wait.1`) when `wait` is given.
    pub async fn get_json_blocking<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        wait: Option<(u64, Duration)>,
    ) -> Result<(T, QueryMeta), ApiError> {
        let mut query: Vec<(&str, String)> = query.to_vec();
        let mut timeout = None;
        if let Some((index, wait)) = wait {
            query.push(("index", index.to_string()));
            query.push(("wait", format!("{}ms", wait.as_millis())));
            timeout = Some(wait + Duration::from_secs(30));
        }
        let resp = self.send_raw(reqwest::Method::GET, path, &query, None, timeout).await?;
        let meta = query_meta(&resp);
        let bytes = resp.bytes().await.map_err(|e| self.transport_error(e))?;
        let value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::Decode { path: path.to_string(), message: e.to_string() })?;
        Ok((value, meta))
    }

    /// Sends a JSON body with `method` and decodes the JSON reply.
    pub async fn write_json<B: Serialize, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<T, ApiError> {
        let body = match body {
            Some(body) => Some(serde_json::to_vec(body).map_err(|e| ApiError::Config(e.to_string()))?),
            None => None,
        };
        let resp = self.send_raw(method, path, query, body, None).await?;
        let bytes = resp.bytes().await.map_err(|e| self.transport_error(e))?;
        if bytes.is_empty() {
            return serde_json::from_slice(b"null")
                .map_err(|e| ApiError::Decode { path: path.to_string(), message: e.to_string() });
        }
        serde_json::from_slice(&bytes).map_err(|e| ApiError::Decode { path: path.to_string(), message: e.to_string() })
    }

    /// `GET /v1/jobs?prefix=`.
    pub async fn jobs_list(&self, prefix: &str) -> Result<Vec<JobListStub>, ApiError> {
        let query = if prefix.is_empty() { vec![] } else { vec![("prefix", prefix.to_string())] };
        Ok(self.get_json("/v1/jobs", &query).await?.0)
    }

    /// The first `limit` jobs whose ID starts with `prefix`, in ID order, and
    /// whether more match: what a command needs to find the job a user named.
    /// Children (`<parent>/...`) are listed only when the prefix reaches into
    /// them (it holds a `/`), so however many children a parent has, finding
    /// the parent reads a handful of rows; an exact ID is always first.
    pub async fn jobs_matching(&self, prefix: &str, limit: usize) -> Result<(Vec<JobListStub>, bool), ApiError> {
        let mut query = vec![("prefix", prefix.to_string()), ("per_page", limit.to_string())];
        if !prefix.contains('/') {
            query.push(("children", "false".to_string()));
        }
        let (jobs, meta): (Vec<JobListStub>, QueryMeta) = self.get_json("/v1/jobs", &query).await?;
        Ok((jobs, !meta.next_token.is_empty()))
    }

    // ---- client agent protocol ----

    /// `PUT /v1/node/register`: registers (or re-registers) a node.
    pub async fn node_register(&self, node: &Node) -> Result<NodeRegisterResponse, ApiError> {
        self.write_json(reqwest::Method::PUT, "/v1/node/register", &[], Some(node)).await
    }

    /// `PUT /v1/node/:id/heartbeat`: keeps a node `ready`. A 404 means the
    /// server forgot the node: register again.
    pub async fn node_heartbeat(&self, node_id: &str, secret_id: &str) -> Result<NodeRegisterResponse, ApiError> {
        let body = NodeHeartbeatRequest { secret_id: secret_id.to_string() };
        self.write_json(reqwest::Method::PUT, &format!("/v1/node/{node_id}/heartbeat"), &[], Some(&body)).await
    }

    /// `GET /v1/node/:id/client-allocs`: the allocations the client must act on,
    /// each with its job. `index` is that of the caller's last complete view
    /// (0 for none): the call blocks until the state passes it (at most
    /// `wait`), and allocations unchanged since then come as IDs alone
    /// (`Unchanged`, `?since=`).
    pub async fn node_client_allocs(
        &self,
        node_id: &str,
        index: u64,
        wait: Duration,
    ) -> Result<ClientAllocsResponse, ApiError> {
        let path = format!("/v1/node/{node_id}/client-allocs");
        if index == 0 {
            return Ok(self.get_json_blocking(&path, &[], None).await?.0);
        }
        Ok(self.get_json_blocking(&path, &[("since", index.to_string())], Some((index, wait))).await?.0)
    }

    /// `POST /v1/client/allocs/update`: reports allocation client state.
    pub async fn client_allocs_update(&self, node_id: &str, allocs: Vec<AllocClientUpdate>) -> Result<(), ApiError> {
        let body = ClientAllocsUpdateRequest { node_id: node_id.to_string(), allocs };
        let _: IndexResponse =
            self.write_json(reqwest::Method::POST, "/v1/client/allocs/update", &[], Some(&body)).await?;
        Ok(())
    }
}

fn query_meta(resp: &reqwest::Response) -> QueryMeta {
    let index =
        resp.headers().get(INDEX_HEADER).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(0);
    let next_token =
        resp.headers().get("X-Nomad-NextToken").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    QueryMeta { index, next_token }
}

/// Percent-encodes a query component.
pub(crate) fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

mod tls {
    //! TLS options of the general options, applied to the HTTP client.

    use super::{ApiError, ClientConfig};

    pub(super) fn configure(
        mut builder: reqwest::ClientBuilder,
        config: &ClientConfig,
    ) -> Result<reqwest::ClientBuilder, ApiError> {
        let read = |path: &std::path::Path| {
            std::fs::read(path).map_err(|e| ApiError::Config(format!("error reading {}: {e}", path.display())))
        };
        if let Some(ca) = &config.ca_cert {
            let pem = read(ca)?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| ApiError::Config(format!("error parsing CA certificate {}: {e}", ca.display())))?
            {
                builder = builder.add_root_certificate(cert);
            }
        } else if let Some(dir) = &config.ca_path {
            let entries = std::fs::read_dir(dir)
                .map_err(|e| ApiError::Config(format!("error reading CA path {}: {e}", dir.display())))?;
            for entry in entries.flatten() {
                let pem = read(&entry.path())?;
                if let Ok(certs) = reqwest::Certificate::from_pem_bundle(&pem) {
                    for cert in certs {
                        builder = builder.add_root_certificate(cert);
                    }
                }
            }
        }
        match (&config.client_cert, &config.client_key) {
            (Some(cert), Some(key)) => {
                let mut pem = read(cert)?;
                pem.push(b'\n');
                pem.extend(read(key)?);
                let identity = reqwest::Identity::from_pem(&pem)
                    .map_err(|e| ApiError::Config(format!("error loading client certificate: {e}")))?;
                builder = builder.identity(identity);
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(ApiError::Config("both -client-cert and -client-key must be given".to_string()));
            }
            (None, None) => {}
        }
        if config.tls_skip_verify {
            builder = builder.danger_accept_invalid_certs(true);
        }
        Ok(builder)
    }

    /// Applies `-tls-server-name`: requests go to `https://<name>:<port>`
    /// with `<name>` resolved to the address's host, so SNI and certificate
    /// verification use the name while the connection goes to the address.
    /// Returns the builder and the base URL requests should use.
    pub(super) fn server_name(
        builder: reqwest::ClientBuilder,
        config: &ClientConfig,
        base: &str,
    ) -> Result<(reqwest::ClientBuilder, String), ApiError> {
        let Some(name) = config.tls_server_name.as_deref().filter(|name| !name.is_empty()) else {
            return Ok((builder, base.to_string()));
        };
        let mut url =
            reqwest::Url::parse(base).map_err(|e| ApiError::Config(format!("invalid address {base:?}: {e}")))?;
        let host = url.host_str().ok_or_else(|| ApiError::Config(format!("invalid address {base:?}: no host")))?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs: Vec<std::net::SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
            .map_err(|e| ApiError::Connect { address: base.to_string(), message: e.to_string() })?
            .collect();
        url.set_host(Some(name)).map_err(|e| ApiError::Config(format!("invalid -tls-server-name {name:?}: {e}")))?;
        // `set_host` keeps an explicit port; make the known default explicit too
        // so the resolved addresses' port is the one used.
        let _ = url.set_port(Some(port));
        let builder = builder.resolve_to_addrs(name, &addrs);
        Ok((builder, url.as_str().trim_end_matches('/').to_string()))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn server_name_rewrites_the_host_and_keeps_the_port() {
            let config =
                ClientConfig { tls_server_name: Some("server.global.drover".to_string()), ..ClientConfig::default() };
            let (_, base) = server_name(reqwest::Client::builder(), &config, "https://127.0.0.1:4747").expect("valid");
            assert_eq!(base, "https://server.global.drover:4747");
            let (_, base) = server_name(reqwest::Client::builder(), &ClientConfig::default(), "https://127.0.0.1:4747")
                .expect("valid");
            assert_eq!(base, "https://127.0.0.1:4747");
        }
    }
}
