//! The single writer thread: group commit.
//!
//! [`Writer::run`] blocks for one request, drains whatever else is already
//! queued (up to [`MAX_BATCH`]), applies each transaction in order to a
//! working copy of the maps, writes every changed row of the batch in one
//! backend transaction, and only after that commit publishes the snapshot,
//! moves the index watch, broadcasts the changes and answers the callers.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, PoisonError, RwLock};

use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::apply::{ChangedRows, apply_txn_with_rows};
use crate::backend::{Backend, WriteBatch};
use crate::maps::StateMaps;
use crate::snapshot::Snapshot;
use crate::{ApplyResult, Change, StateError, Txn};

/// Most requests committed together.
pub(crate) const MAX_BATCH: usize = 1000;

/// One caller's transaction and where to send its outcome.
pub(crate) struct WriteRequest {
    /// The transaction.
    pub(crate) txn: Txn,
    /// The caller, who may have stopped waiting.
    pub(crate) reply: oneshot::Sender<Result<ApplyResult, StateError>>,
}

/// The latest committed snapshot, shared with every store handle.
pub(crate) type PublishedSnapshot = Arc<RwLock<Arc<Snapshot>>>;

/// Everything the writer thread owns.
pub(crate) struct Writer {
    /// Where commits go.
    pub(crate) backend: Box<dyn Backend>,
    /// The committed state.
    pub(crate) maps: StateMaps,
    /// The committed index.
    pub(crate) index: u64,
    /// Incoming transactions; closed when the last store handle is dropped.
    pub(crate) requests: mpsc::Receiver<WriteRequest>,
    /// Where readers find the latest snapshot.
    pub(crate) published: PublishedSnapshot,
    /// Wakes blocking queries.
    pub(crate) index_sender: watch::Sender<u64>,
    /// The change stream.
    pub(crate) change_sender: broadcast::Sender<Arc<Vec<Change>>>,
}

/// How one transaction of a batch went, before the commit.
type Outcome = Result<(u64, Vec<Change>), StateError>;

impl Writer {
    /// Commits batches until every store handle is gone.
    pub(crate) fn run(mut self) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while let Some(first) = self.requests.blocking_recv() {
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match self.requests.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(_) => break,
                }
            }
            self.commit_batch(&mut batch);
        }
        tracing::debug!(index = self.index, "state writer stopped");
    }

    fn commit_batch(&mut self, batch: &mut Vec<WriteRequest>) {
        let mut working = self.maps.clone();
        let mut next_index = self.index;
        let mut rows = ChangedRows::default();
        let mut outcomes: Vec<Outcome> = Vec::with_capacity(batch.len());
        for request in batch.iter() {
            let index = next_index + 1;
            let now = drover_types::now_nanos();
            // `apply_txn_with_rows` replaces `working` only at its very end, so
            // a panic (a bug) leaves it as it was before this transaction.
            let applied = std::panic::catch_unwind(AssertUnwindSafe(|| {
                apply_txn_with_rows(&mut working, &request.txn, index, now)
            }));
            match applied {
                Ok(Ok(applied)) => {
                    next_index = index;
                    rows.merge(applied.rows);
                    outcomes.push(Ok((index, applied.changes)));
                }
                Ok(Err(err)) => outcomes.push(Err(err)),
                Err(_) => {
                    tracing::error!("applying a transaction panicked; it was rejected");
                    outcomes.push(Err(StateError::Storage("internal error applying the transaction".to_string())));
                }
            }
        }

        if next_index > self.index {
            let write_batch = WriteBatch::from_rows(&working, &rows, next_index);
            if let Err(err) = self.backend.write(&write_batch) {
                tracing::error!(error = %err, n_txns = batch.len(), "state commit failed");
                let message = match err {
                    StateError::Storage(message) => message,
                    other => other.to_string(),
                };
                for request in batch.drain(..) {
                    let _ = request.reply.send(Err(StateError::Storage(message.clone())));
                }
                return;
            }
            self.maps = working;
            self.index = next_index;
            let snapshot = Arc::new(Snapshot::new(self.index, self.maps.clone()));
            *self.published.write().unwrap_or_else(PoisonError::into_inner) = snapshot;
            self.index_sender.send_replace(self.index);
        }

        // Every change of the batch is broadcast, in index order, before any caller hears back.
        let replies: Vec<Result<ApplyResult, StateError>> = outcomes
            .into_iter()
            .map(|outcome| {
                let (index, changes) = outcome?;
                // No subscriber is not an error.
                let _ = self.change_sender.send(Arc::new(changes));
                Ok(ApplyResult { index })
            })
            .collect();
        for (request, reply) in batch.drain(..).zip(replies) {
            // The caller may have stopped waiting; the write stands.
            let _ = request.reply.send(reply);
        }
    }
}
