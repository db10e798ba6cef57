//! Per-node change notification, so a client's long poll for its allocations
//! wakes only when something on its node changed, not on every commit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use drover_state::{ChangedObject, StateStore};

/// The index at which each node's allocations last changed.
#[derive(Clone, Default)]
pub(crate) struct NodeWatch {
    nodes: Arc<Mutex<HashMap<String, watch::Sender<u64>>>>,
}

impl NodeWatch {
    fn sender(&self, node_id: &str) -> watch::Sender<u64> {
        let mut nodes = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        nodes.entry(node_id.to_string()).or_insert_with(|| watch::channel(0).0).clone()
    }

    /// Records a change on a node at `index`.
    pub(crate) fn bump(&self, node_id: &str, index: u64) {
        self.sender(node_id).send_if_modified(|current| {
            if index > *current {
                *current = index;
                true
            } else {
                false
            }
        });
    }

    /// Marks every node changed (after missed notifications).
    pub(crate) fn bump_all(&self, index: u64) {
        let senders: Vec<watch::Sender<u64>> =
            self.nodes.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
        for sender in senders {
            sender.send_if_modified(|current| {
                if index > *current {
                    *current = index;
                    true
                } else {
                    false
                }
            });
        }
    }

    /// Waits until the node's allocations changed after `index`, or `timeout`.
    ///
    /// # Cancel safety
    /// Safe: nothing is consumed.
    pub(crate) async fn wait_above(&self, node_id: &str, index: u64, timeout: Duration) {
        let mut rx = self.sender(node_id).subscribe();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|current| *current > index)).await;
    }

    /// Follows the store's changes and bumps the nodes they touch. Runs until the store closes.
    pub(crate) async fn follow(self, state: StateStore) {
        let mut changes = state.subscribe();
        loop {
            match changes.recv().await {
                Ok(batch) => {
                    for change in batch.iter() {
                        match &change.object {
                            ChangedObject::Alloc(alloc) => self.bump(&alloc.node_id, change.index),
                            ChangedObject::Node(node) => self.bump(&node.id, change.index),
                            _ => {}
                        }
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => self.bump_all(state.index()),
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}
