//! A small JSON client over the server's HTTP API: what the scenarios need
//! and nothing more (raw `serde_json::Value`s, so the bench does not depend on
//! server internals).

use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

/// One server.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    /// A client for `address` (`http://127.0.0.1:4747` or `127.0.0.1:4747`)
    /// that keeps any number of idle connections (one per concurrent caller).
    pub fn new(address: &str) -> anyhow::Result<Api> {
        let base = address.trim_end_matches('/');
        let base = if base.contains("://") { base.to_string() } else { format!("http://{base}") };
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(usize::MAX)
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(120))
            .build()?;
        Ok(Api { http, base })
    }

    /// The server address.
    pub fn address(&self) -> &str {
        &self.base
    }

    /// GET a JSON body.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        Ok(self.get_blocking(path, 0, Duration::ZERO).await?.0)
    }

    /// GET a JSON body, blocking until the state index passes `index` (at most
    /// `wait`) when `index` > 0; returns the body and `X-Nomad-Index`.
    pub async fn get_blocking(&self, path: &str, index: u64, wait: Duration) -> anyhow::Result<(Value, u64)> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = if index > 0 {
            format!("{}{path}{sep}index={index}&wait={}ms", self.base, wait.as_millis())
        } else {
            format!("{}{path}", self.base)
        };
        let resp = self.http.get(&url).send().await.with_context(|| format!("GET {path}"))?;
        let status = resp.status();
        let index =
            resp.headers().get("X-Nomad-Index").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(0);
        let bytes = resp.bytes().await.with_context(|| format!("GET {path}"))?;
        if !status.is_success() {
            bail!("GET {path}: {status}: {}", String::from_utf8_lossy(&bytes).trim());
        }
        Ok((serde_json::from_slice(&bytes).with_context(|| format!("GET {path}: not JSON"))?, index))
    }

    /// Sends `body` with `method` and decodes the reply.
    pub async fn send(&self, method: reqwest::Method, path: &str, body: &Value) -> anyhow::Result<Value> {
        let resp = self
            .http
            .request(method, format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .with_context(|| path.to_string())?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        if !status.is_success() {
            bail!("{path}: {status}: {}", String::from_utf8_lossy(&bytes).trim());
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).with_context(|| format!("{path}: not JSON"))
    }

    /// `PUT /v1/jobs` with `{"Job": job}`.
    pub async fn register_job(&self, job: &Value) -> anyhow::Result<Value> {
        self.send(reqwest::Method::PUT, "/v1/jobs", &serde_json::json!({ "Job": job })).await
    }

    /// `POST /v1/job/:id/dispatch` with an empty request; returns the child job ID.
    pub async fn dispatch(&self, parent_id: &str) -> anyhow::Result<String> {
        let reply =
            self.send(reqwest::Method::POST, &format!("/v1/job/{parent_id}/dispatch"), &serde_json::json!({})).await?;
        reply["DispatchedJobID"].as_str().map(str::to_string).context("dispatch reply without DispatchedJobID")
    }

    /// `DELETE /v1/job/:id?purge=true`.
    pub async fn purge_job(&self, job_id: &str) -> anyhow::Result<()> {
        let resp = self.http.delete(format!("{}/v1/job/{job_id}?purge=true", self.base)).send().await?;
        if !resp.status().is_success() {
            bail!("purging {job_id}: {}", resp.status());
        }
        Ok(())
    }
}
