//! The servers a client talks to: one API client per address, tried in turn
//! when one does not answer; the last one that answered is tried first.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};

use drover_api::{ApiError, Client};

use crate::error::ClientError;

/// The client's servers.
pub(crate) struct Servers {
    clients: Vec<Client>,
    current: AtomicUsize,
}

impl Servers {
    /// API clients for `addresses` (`http://host:port`, or `host:port`).
    pub(crate) fn new(addresses: &[String], token: &str) -> Result<Servers, ClientError> {
        let mut clients = Vec::new();
        for address in addresses.iter().map(|a| a.trim()).filter(|a| !a.is_empty()) {
            let address = if address.contains("://") { address.to_string() } else { format!("http://{address}") };
            let config = drover_api::ClientConfig { address, token: token.to_string(), ..Default::default() };
            clients.push(Client::new(config).map_err(|e| ClientError::Config(e.to_string()))?);
        }
        if clients.is_empty() {
            return Err(ClientError::Config("no servers given".to_string()));
        }
        Ok(Servers { clients, current: AtomicUsize::new(0) })
    }

    /// Runs `call` against the current server, moving on to the next ones
    /// when a server does not answer (or answers 5xx).
    pub(crate) async fn call<T, F, Fut>(&self, call: F) -> Result<T, ApiError>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let n_clients = self.clients.len();
        let start = self.current.load(Ordering::Relaxed);
        let mut last_error = None;
        for offset in 0..n_clients {
            let idx = (start + offset) % n_clients;
            match call(self.clients[idx].clone()).await {
                Ok(value) => {
                    self.current.store(idx, Ordering::Relaxed);
                    return Ok(value);
                }
                Err(e) if matches!(e, ApiError::Connect { .. }) || e.status().is_some_and(|s| s >= 500) => {
                    last_error = Some(e);
                }
                Err(e) => {
                    self.current.store(idx, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| ApiError::Config("no servers".to_string())))
    }
}
