//! The reporter: collects allocation updates from all alloc runners and sends
//! them to the servers in batches, keeping only the newest update per
//! allocation and retrying until the server took it, so a final state is never
//! lost.
//!
//! Batching is natural: one request is in flight at a time and everything that
//! changed meanwhile goes in the next one, after a short gather window. An idle
//! client reports a task start within milliseconds (dispatch-to-running
//! latency), a busy one sends large batches; updates wait at most one request
//! round trip plus the window.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, watch};

use drover_types::AllocClientUpdate;

use crate::servers::Servers;

/// How long changes are gathered before a batch goes out (a task's Received,
/// Task Setup and Started events usually land in one batch).
const GATHER_WINDOW: Duration = Duration::from_millis(2);
/// Wait before retrying a failed batch.
const RETRY_INTERVAL: Duration = Duration::from_millis(500);

/// Where alloc runners put their updates.
#[derive(Clone, Default)]
pub(crate) struct Reporter {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    pending: Mutex<BTreeMap<String, AllocClientUpdate>>,
    notify: Notify,
}

impl Reporter {
    /// Queues an update, replacing any unsent one of the same allocation.
    pub(crate) fn push(&self, update: AllocClientUpdate) {
        if let Ok(mut pending) = self.inner.pending.lock() {
            pending.insert(update.id.clone(), update);
        }
        self.inner.notify.notify_one();
    }

    fn take(&self) -> BTreeMap<String, AllocClientUpdate> {
        self.inner.pending.lock().map(|mut pending| std::mem::take(&mut *pending)).unwrap_or_default()
    }

    /// Puts a batch that failed back, unless newer updates arrived meanwhile.
    fn put_back(&self, batch: BTreeMap<String, AllocClientUpdate>) {
        if let Ok(mut pending) = self.inner.pending.lock() {
            for (id, update) in batch {
                pending.entry(id).or_insert(update);
            }
        }
    }

    fn has_pending(&self) -> bool {
        self.inner.pending.lock().map(|pending| !pending.is_empty()).unwrap_or(false)
    }

    /// Sends batches until `shutdown` turns true, then flushes what is left
    /// (for at most `flush_timeout`).
    pub(crate) async fn run(self, servers: Arc<Servers>, node_id: String, mut shutdown: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = self.inner.notify.notified() => {}
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
            tokio::time::sleep(GATHER_WINDOW).await;
            while self.has_pending() {
                if !self.send_once(&servers, &node_id).await {
                    tokio::select! {
                        _ = tokio::time::sleep(RETRY_INTERVAL) => {}
                        _ = shutdown.wait_for(|stop| *stop) => break,
                    }
                }
            }
        }
    }

    /// Sends what is pending, retrying for at most `timeout`.
    pub(crate) async fn flush(&self, servers: &Servers, node_id: &str, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.has_pending() && tokio::time::Instant::now() < deadline {
            if !self.send_once(servers, node_id).await {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    async fn send_once(&self, servers: &Servers, node_id: &str) -> bool {
        let batch = self.take();
        if batch.is_empty() {
            return true;
        }
        let updates: Vec<AllocClientUpdate> = batch.values().cloned().collect();
        let result = servers
            .call(|client| {
                let updates = updates.clone();
                async move { client.client_allocs_update(node_id, updates).await }
            })
            .await;
        match result {
            Ok(()) => true,
            Err(e) if e.status().is_some_and(|s| (400..500).contains(&s) && s != 404 && s != 429) => {
                // The server refuses this batch for good; retrying will not help.
                tracing::warn!(error = %e, "server rejected alloc updates");
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "error sending alloc updates; will retry");
                self.put_back(batch);
                false
            }
        }
    }
}
