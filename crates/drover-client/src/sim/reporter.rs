//! One reporter for all simulated nodes: keeps the newest update per
//! allocation, gathers for a few milliseconds, then sends everything pending
//! as multi-node batches (`POST /v1/client/allocs/update-batch`, a list of
//! `{NodeID, Allocs}`), a few requests at a time. On a server without the
//! batch endpoint it falls back to one `client_allocs_update` per node.
//! A batch that fails is put back (unless newer updates replaced it), so a
//! final state is never lost.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use drover_api::{ApiError, Client};
use drover_types::AllocClientUpdate;
use drover_types::api::ClientAllocsUpdateRequest;

use super::{SimNode, SimStats};

/// How long changes are gathered before a batch goes out.
const GATHER_WINDOW: Duration = Duration::from_millis(5);
/// Most allocation updates in one request at first; halved whenever the
/// server answers 413 (its body limit is 2 MiB; an update with its task
/// events is about 1 KiB).
const MAX_UPDATES_PER_REQUEST: usize = 512;
/// Requests in flight at once.
const MAX_REQUESTS_IN_FLIGHT: usize = 8;
/// Wait before retrying after a failed send.
const RETRY_INTERVAL: Duration = Duration::from_millis(500);
/// The multi-node update endpoint.
pub(crate) const BATCH_PATH: &str = "/v1/client/allocs/update-batch";

/// Pending updates by node index, then by alloc ID.
type Pending = HashMap<usize, BTreeMap<String, AllocClientUpdate>>;

/// Where simulated alloc runs put their updates.
#[derive(Clone)]
pub(crate) struct SimReporter {
    inner: Arc<Inner>,
}

struct Inner {
    pending: Mutex<Pending>,
    notify: Notify,
    batch_supported: AtomicBool,
    max_per_request: AtomicUsize,
    stats: Arc<SimStats>,
}

impl SimReporter {
    pub(crate) fn new(stats: Arc<SimStats>) -> SimReporter {
        SimReporter {
            inner: Arc::new(Inner {
                pending: Mutex::new(HashMap::new()),
                notify: Notify::new(),
                batch_supported: AtomicBool::new(true),
                max_per_request: AtomicUsize::new(MAX_UPDATES_PER_REQUEST),
                stats,
            }),
        }
    }

    /// Queues an update of node `node_idx`, replacing any unsent one of the same allocation.
    pub(crate) fn push(&self, node_idx: usize, update: AllocClientUpdate) {
        if let Ok(mut pending) = self.inner.pending.lock() {
            pending.entry(node_idx).or_default().insert(update.id.clone(), update);
        }
        self.inner.notify.notify_one();
    }

    fn take(&self) -> Pending {
        self.inner.pending.lock().map(|mut pending| std::mem::take(&mut *pending)).unwrap_or_default()
    }

    fn put_back(&self, node_idx: usize, batch: BTreeMap<String, AllocClientUpdate>) {
        if let Ok(mut pending) = self.inner.pending.lock() {
            let entry = pending.entry(node_idx).or_default();
            for (id, update) in batch {
                entry.entry(id).or_insert(update);
            }
        }
    }

    fn has_pending(&self) -> bool {
        self.inner.pending.lock().map(|pending| !pending.is_empty()).unwrap_or(false)
    }

    /// Sends batches until `shutdown` turns true.
    pub(crate) async fn run(
        self,
        clients: Arc<Vec<Client>>,
        nodes: Arc<Vec<SimNode>>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            tokio::select! {
                _ = self.inner.notify.notified() => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            tokio::time::sleep(GATHER_WINDOW).await;
            while self.has_pending() {
                if !self.send_pending(&clients, &nodes).await {
                    tokio::select! {
                        _ = tokio::time::sleep(RETRY_INTERVAL) => {}
                        _ = shutdown.wait_for(|stop| *stop) => return,
                    }
                }
            }
        }
    }

    /// Sends what is pending, retrying for at most `timeout`.
    pub(crate) async fn flush(&self, clients: &Arc<Vec<Client>>, nodes: &Arc<Vec<SimNode>>, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.has_pending() && tokio::time::Instant::now() < deadline {
            if !self.send_pending(clients, nodes).await {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    /// Sends one round of everything pending; false if something failed.
    async fn send_pending(&self, clients: &Arc<Vec<Client>>, nodes: &Arc<Vec<SimNode>>) -> bool {
        let pending = self.take();
        if pending.is_empty() {
            return true;
        }
        let mut requests: Vec<Vec<(usize, BTreeMap<String, AllocClientUpdate>)>> = Vec::new();
        let mut current = Vec::new();
        let mut current_len = 0;
        let max_per_request = self.inner.max_per_request.load(Ordering::Relaxed).max(1);
        for (node_idx, updates) in pending {
            current_len += updates.len();
            current.push((node_idx, updates));
            if current_len >= max_per_request {
                requests.push(std::mem::take(&mut current));
                current_len = 0;
            }
        }
        if !current.is_empty() {
            requests.push(current);
        }
        let mut all_ok = true;
        let mut set = JoinSet::new();
        for (request_idx, request) in requests.into_iter().enumerate() {
            while set.len() >= MAX_REQUESTS_IN_FLIGHT {
                if let Some(Ok(ok)) = set.join_next().await {
                    all_ok &= ok;
                }
            }
            let (this, clients, nodes) = (self.clone(), clients.clone(), nodes.clone());
            set.spawn(async move { this.send_request(&clients[request_idx % clients.len()], &nodes, request).await });
        }
        while let Some(done) = set.join_next().await {
            all_ok &= done.unwrap_or(false);
        }
        all_ok
    }

    /// Sends one request's worth of updates; puts them back on a retryable failure.
    async fn send_request(
        &self,
        client: &Client,
        nodes: &[SimNode],
        request: Vec<(usize, BTreeMap<String, AllocClientUpdate>)>,
    ) -> bool {
        let n_updates: usize = request.iter().map(|(_, updates)| updates.len()).sum();
        if self.inner.batch_supported.load(Ordering::Relaxed) {
            let body: Vec<ClientAllocsUpdateRequest> = request
                .iter()
                .map(|(node_idx, updates)| ClientAllocsUpdateRequest {
                    node_id: nodes[*node_idx].node.id.clone(),
                    allocs: updates.values().cloned().collect(),
                })
                .collect();
            self.inner.stats.update_requests.fetch_add(1, Ordering::Relaxed);
            let result: Result<serde_json::Value, ApiError> =
                client.write_json(reqwest::Method::POST, BATCH_PATH, &[], Some(&body)).await;
            match result {
                Ok(_) => {
                    self.inner.stats.updates_sent.fetch_add(n_updates as u64, Ordering::Relaxed);
                    return true;
                }
                Err(e) if matches!(e.status(), Some(404 | 405)) => {
                    tracing::info!("server has no batch update endpoint; sending updates per node");
                    self.inner.batch_supported.store(false, Ordering::Relaxed);
                }
                Err(e) => return self.failed(e, request),
            }
        }
        let mut failures = Vec::new();
        for (node_idx, updates) in request {
            self.inner.stats.update_requests.fetch_add(1, Ordering::Relaxed);
            let n = updates.len() as u64;
            match client.client_allocs_update(&nodes[node_idx].node.id, updates.values().cloned().collect()).await {
                Ok(()) => {
                    self.inner.stats.updates_sent.fetch_add(n, Ordering::Relaxed);
                }
                Err(e) => failures.push((e, node_idx, updates)),
            }
        }
        let mut all_ok = true;
        for (e, node_idx, updates) in failures {
            all_ok &= self.failed(e, vec![(node_idx, updates)]);
        }
        all_ok
    }

    fn failed(&self, error: ApiError, request: Vec<(usize, BTreeMap<String, AllocClientUpdate>)>) -> bool {
        if error.status() == Some(413) {
            // Too large for the server: send smaller requests from now on.
            let max = self.inner.max_per_request.load(Ordering::Relaxed);
            self.inner.max_per_request.store((max / 2).max(1), Ordering::Relaxed);
            tracing::info!(max_per_request = (max / 2).max(1), "alloc update batch too large; splitting");
            for (node_idx, updates) in request {
                self.put_back(node_idx, updates);
            }
            return false;
        }
        if error.status().is_some_and(|s| (400..500).contains(&s) && s != 404 && s != 429) {
            // The server refuses these updates for good; retrying will not help.
            tracing::warn!(error = %error, "server rejected simulated alloc updates");
            return true;
        }
        tracing::warn!(error = %error, "error sending simulated alloc updates; will retry");
        for (node_idx, updates) in request {
            self.put_back(node_idx, updates);
        }
        false
    }
}
