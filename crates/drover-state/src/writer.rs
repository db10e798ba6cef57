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

use std::collections::{BTreeSet, HashMap};

use crate::apply::{ChangedRows, apply_ops_in_place, check_preconditions};
use crate::archive::{ArchiveRead, read_family};
use crate::backend::{Backend, WriteBatch};
use crate::maps::{JobKey, StateMaps, job_key};
use crate::snapshot::Snapshot;
use crate::{ApplyResult, Change, Op, Precondition, StateError, Txn};

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
    /// Where archived families are read back (`None`: nothing is archived).
    pub(crate) archive: Option<Arc<dyn ArchiveRead>>,
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
        // Transactions are applied to `working` in place (see
        // `apply_ops_in_place`); when one fails part-way, `working` is rebuilt
        // from the committed maps by replaying the batch so far.
        let mut working = self.maps.clone();
        let mut next_index = self.index;
        let mut rows = ChangedRows::default();
        let mut outcomes: Vec<Outcome> = Vec::with_capacity(batch.len());
        let mut restored: BTreeSet<JobKey> = BTreeSet::new();
        let mut applied_so_far: Vec<AppliedAt> = Vec::with_capacity(batch.len());
        for position in 0..batch.len() {
            let request = &mut batch[position];
            if let Some(archive) = &self.archive {
                match restore_named_families(&mut working, &request.txn, archive.as_ref()) {
                    Ok(keys) => restored.extend(keys),
                    Err(err) => {
                        tracing::error!(error = %err, "restoring archived jobs for a transaction failed");
                        outcomes.push(Err(err));
                        continue;
                    }
                }
            }
            if let Err(err) = check_preconditions(&working, &request.txn) {
                outcomes.push(Err(err));
                continue;
            }
            let index = next_index + 1;
            let now = drover_types::now_nanos();
            let applied = std::panic::catch_unwind(AssertUnwindSafe(|| {
                apply_ops_in_place(&mut working, &mut request.txn, index, now)
            }));
            let failure = match applied {
                Ok(Ok(applied)) => {
                    next_index = index;
                    rows.merge(applied.rows);
                    outcomes.push(Ok((index, applied.changes)));
                    applied_so_far.push(AppliedAt { position, index, now });
                    continue;
                }
                Ok(Err(err)) => err,
                Err(_) => {
                    tracing::error!("applying a transaction panicked; it was rejected");
                    StateError::Storage("internal error applying the transaction".to_string())
                }
            };
            outcomes.push(Err(failure));
            match self.replay(&mut batch[..=position], &applied_so_far) {
                Some(rebuilt) => working = rebuilt,
                None => {
                    let message = "internal error: replaying a batch after a failed transaction failed";
                    tracing::error!("{message}; the whole batch was rejected");
                    for request in batch.drain(..) {
                        let _ = request.reply.send(Err(StateError::Storage(message.to_string())));
                    }
                    return;
                }
            }
        }

        if next_index > self.index {
            let archiving = match self.archive {
                Some(_) => archivable_after(&working, &mut rows, restored.clone()),
                None => HashMap::new(),
            };
            let mut write_batch = WriteBatch::from_rows(&working, &rows, &archiving, next_index);
            write_batch.families_restored = restored.into_iter().collect();
            write_batch.families_archived = archiving.keys().cloned().collect();
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
            for key in archiving.keys() {
                working.archive_family(key);
            }
            self.maps = working;
            self.index = next_index;
            let snapshot = Arc::new(Snapshot::new(self.index, self.maps.clone(), self.archive.clone()));
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

/// Where and how a transaction of the batch was applied, to replay it.
struct AppliedAt {
    /// Its place in the batch.
    position: usize,
    /// The index it was applied at.
    index: u64,
    /// The clock it was applied with.
    now: i64,
}

impl Writer {
    /// The committed maps with `requests` (a batch up to and including a
    /// failed transaction) replayed: each request's archived families
    /// restored as before, and the transactions in `applied` applied again
    /// at their index and clock. `None` if a replay does not apply (a bug:
    /// they applied the first time, to the same state).
    fn replay(&self, requests: &mut [WriteRequest], applied: &[AppliedAt]) -> Option<StateMaps> {
        let mut working = self.maps.clone();
        let mut applied = applied.iter().peekable();
        for (position, request) in requests.iter_mut().enumerate() {
            if let Some(archive) = &self.archive {
                // A restore that failed the first time fails its transaction again; nothing to redo.
                let _ = restore_named_families(&mut working, &request.txn, archive.as_ref());
            }
            let Some(at) = applied.next_if(|at| at.position == position) else { continue };
            let replayed = std::panic::catch_unwind(AssertUnwindSafe(|| {
                apply_ops_in_place(&mut working, &mut request.txn, at.index, at.now)
            }));
            if !matches!(replayed, Ok(Ok(_))) {
                return None;
            }
        }
        Some(working)
    }
}

/// Restores into `working` every archived family `txn` names (see
/// `archive`), so applying it sees only resident objects; returns their keys.
fn restore_named_families(
    working: &mut StateMaps,
    txn: &Txn,
    archive: &dyn ArchiveRead,
) -> Result<Vec<JobKey>, StateError> {
    if working.archived.is_empty() {
        return Ok(Vec::new());
    }
    let mut keys: BTreeSet<JobKey> = BTreeSet::new();
    for precondition in &txn.preconditions {
        let Precondition::JobModifyIndex { namespace, job_id, .. } = precondition;
        keys.insert(job_key(namespace, job_id));
    }
    let alloc_job = |alloc_id: &str| -> Result<Option<JobKey>, StateError> {
        if working.allocs.contains_key(alloc_id) {
            return Ok(None);
        }
        Ok(archive.alloc(alloc_id)?.map(|alloc| job_key(&alloc.namespace, &alloc.job_id)))
    };
    for op in &txn.ops {
        match op {
            Op::UpsertJob(job) => {
                keys.insert(job_key(&job.namespace, &job.id));
            }
            Op::PurgeJob { namespace, job_id } => {
                let key = job_key(namespace, job_id);
                // Its children's rows may name its versions for their task groups.
                keys.extend(working.children_by_parent.ids(&key).map(|child| job_key(namespace, child)));
                keys.insert(key);
            }
            Op::UpsertEvals(evals) => keys.extend(evals.iter().map(|eval| job_key(&eval.namespace, &eval.job_id))),
            Op::DeleteEvals(eval_ids) => {
                for eval_id in eval_ids.iter().filter(|eval_id| !working.evals.contains_key(eval_id.as_str())) {
                    keys.extend(archive.eval(eval_id)?.map(|eval| job_key(&eval.namespace, &eval.job_id)));
                }
            }
            Op::UpsertAllocs(allocs) => {
                keys.extend(allocs.iter().map(|alloc| job_key(&alloc.namespace, &alloc.job_id)));
            }
            Op::UpdateAllocsDesired(updates) => {
                for update in updates {
                    keys.extend(alloc_job(&update.alloc_id)?);
                }
            }
            Op::UpdateAllocsFromClient(updates) => {
                for update in updates {
                    keys.extend(alloc_job(&update.id)?);
                }
            }
            Op::DeleteAllocs(alloc_ids) => {
                for alloc_id in alloc_ids {
                    keys.extend(alloc_job(alloc_id)?);
                }
            }
            _ => {}
        }
    }
    keys.retain(|key| working.is_archived(key));
    for key in &keys {
        let family = read_family(working, archive, key)?;
        working.restore_family(family);
    }
    if !keys.is_empty() {
        tracing::debug!(restored = keys.len(), "restored archived jobs a transaction names");
    }
    Ok(keys.into_iter().collect())
}

/// The jobs of a batch (those whose rows it changed, or whose evaluations,
/// allocations or archived family it touched) that may be archived once it
/// commits, each with its class code; their job rows join the batch so they
/// are written marked archived.
fn archivable_after(working: &StateMaps, rows: &mut ChangedRows, restored: BTreeSet<JobKey>) -> HashMap<JobKey, i64> {
    let mut candidates = restored;
    candidates.extend(rows.jobs.iter().cloned());
    for alloc in rows.allocs.iter().filter_map(|alloc_id| working.allocs.get(alloc_id.as_str())) {
        candidates.insert(job_key(&alloc.namespace, &alloc.job_id));
    }
    for eval in rows.evals.iter().filter_map(|eval_id| working.evals.get(eval_id.as_str())) {
        candidates.insert(job_key(&eval.namespace, &eval.job_id));
    }
    let archiving: HashMap<JobKey, i64> = candidates
        .into_iter()
        .filter_map(|key| {
            let code = working.archivable(&key)?.archive_code()?;
            Some((key, code))
        })
        .collect();
    rows.jobs.extend(archiving.keys().cloned());
    archiving
}

#[cfg(test)]
mod tests {
    use drover_types::Job;

    use super::*;
    use crate::StateStore;
    use crate::backend::{Loaded, MemoryBackend};

    /// A backend whose commits fail while `fail` is set.
    struct FlakyBackend {
        fail: Arc<std::sync::atomic::AtomicBool>,
    }

    impl Backend for FlakyBackend {
        fn load(&mut self) -> Result<Loaded, StateError> {
            Ok(Loaded::default())
        }

        fn write(&mut self, _batch: &WriteBatch) -> Result<(), StateError> {
            if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(StateError::Storage("disk on fire".to_string()));
            }
            Ok(())
        }

        fn archive(&self) -> Option<Arc<dyn ArchiveRead>> {
            None
        }
    }

    fn upsert_job(job_id: &str, must_be_new: bool) -> Txn {
        let job = Job { id: job_id.to_string(), namespace: "default".to_string(), ..Job::default() };
        let preconditions = if must_be_new {
            vec![Precondition::JobModifyIndex {
                namespace: "default".to_string(),
                job_id: job_id.to_string(),
                index: 0,
            }]
        } else {
            Vec::new()
        };
        Txn { preconditions, ops: vec![Op::UpsertJob(job)] }
    }

    /// Requests for `txns` and the receivers of their replies.
    fn requests(txns: Vec<Txn>) -> (Vec<WriteRequest>, Vec<oneshot::Receiver<Result<ApplyResult, StateError>>>) {
        txns.into_iter()
            .map(|txn| {
                let (reply, receiver) = oneshot::channel();
                (WriteRequest { txn, reply }, receiver)
            })
            .unzip()
    }

    fn reply_of(receiver: &mut oneshot::Receiver<Result<ApplyResult, StateError>>) -> Result<u64, String> {
        match receiver.try_recv().expect("the writer replied") {
            Ok(result) => Ok(result.index),
            Err(err) => Err(err.to_string()),
        }
    }

    #[test]
    fn a_failing_txn_is_rejected_alone_within_its_batch() {
        let (_inner, mut writer) = StateStore::unstarted(Box::new(MemoryBackend), Loaded::default());
        let mut changes = writer.change_sender.subscribe();
        let (mut batch, mut receivers) =
            requests(vec![upsert_job("a", true), upsert_job("a", true), upsert_job("b", true)]);
        writer.commit_batch(&mut batch);
        assert!(batch.is_empty());
        assert_eq!(reply_of(&mut receivers[0]), Ok(1));
        assert_eq!(
            reply_of(&mut receivers[1]),
            Err("Enforcing job modify index 0: job exists with conflicting job modify index: 1".to_string())
        );
        assert_eq!(reply_of(&mut receivers[2]), Ok(2));
        let published = Arc::clone(&writer.published.read().expect("not poisoned"));
        assert_eq!(published.index(), 2);
        assert_eq!(published.resident_jobs().len(), 2);
        assert_eq!(*writer.index_sender.borrow(), 2);
        let first = changes.try_recv().expect("first txn's changes");
        let second = changes.try_recv().expect("third txn's changes");
        assert_eq!((first[0].index, second[0].index), (1, 2));
    }

    #[test]
    fn an_op_failing_part_way_leaves_nothing_of_its_txn_and_the_rest_of_the_batch_whole() {
        let (_inner, mut writer) = StateStore::unstarted(Box::new(MemoryBackend), Loaded::default());
        let mut half_applied = upsert_job("c", false);
        half_applied.ops.push(Op::UpdateNodeStatus {
            node_id: "no-such-node".to_string(),
            status: "down".to_string(),
            heartbeat: 0,
        });
        let (mut batch, mut receivers) =
            requests(vec![upsert_job("a", true), half_applied, upsert_job("a", true), upsert_job("b", true)]);
        writer.commit_batch(&mut batch);
        assert_eq!(reply_of(&mut receivers[0]), Ok(1));
        assert_eq!(reply_of(&mut receivers[1]), Err("node no-such-node not found".to_string()));
        assert!(reply_of(&mut receivers[2]).is_err(), "job a exists since the replayed first txn");
        assert_eq!(reply_of(&mut receivers[3]), Ok(2));
        let published = Arc::clone(&writer.published.read().expect("not poisoned"));
        assert_eq!(published.index(), 2);
        assert!(published.job("default", "c").is_none(), "the failed txn's first op was undone");
        let a = published.job("default", "a").expect("job a");
        let b = published.job("default", "b").expect("job b");
        assert_eq!((a.modify_index, b.modify_index), (1, 2));
        assert_eq!(published.resident_jobs().len(), 2);
    }

    fn upsert_alloc(alloc_id: &str) -> Arc<drover_types::Allocation> {
        Arc::new(drover_types::Allocation {
            id: alloc_id.to_string(),
            namespace: "default".to_string(),
            job_id: "web".to_string(),
            node_id: "n1".to_string(),
            ..drover_types::Allocation::default()
        })
    }

    #[test]
    fn an_upserted_allocation_is_stored_as_handed_over_and_again_after_a_replay() {
        let (_inner, mut writer) = StateStore::unstarted(Box::new(MemoryBackend), Loaded::default());
        let handed = upsert_alloc("a1");
        let handed_at = Arc::as_ptr(&handed) as usize;
        let (mut batch, mut receivers) =
            requests(vec![Txn { preconditions: vec![], ops: vec![Op::UpsertAllocs(vec![handed])] }]);
        writer.commit_batch(&mut batch);
        assert_eq!(reply_of(&mut receivers[0]), Ok(1));
        let stored = writer.published.read().expect("not poisoned").alloc("a1").expect("a1 stored");
        assert_eq!(Arc::as_ptr(&stored) as usize, handed_at, "stored without a copy");
        assert_eq!((stored.create_index, stored.modify_index, stored.alloc_modify_index), (1, 1, 1));

        // a2 is applied, then a later transaction of the batch fails: the
        // batch is replayed and a2 comes out the same.
        let mut failing = Txn { preconditions: vec![], ops: vec![Op::UpsertAllocs(vec![upsert_alloc("a3")])] };
        failing.ops.push(Op::UpdateNodeStatus {
            node_id: "no-such-node".to_string(),
            status: "down".to_string(),
            heartbeat: 0,
        });
        let (mut batch, mut receivers) = requests(vec![
            Txn { preconditions: vec![], ops: vec![Op::UpsertAllocs(vec![upsert_alloc("a2"), upsert_alloc("a1")])] },
            failing,
        ]);
        writer.commit_batch(&mut batch);
        assert_eq!(reply_of(&mut receivers[0]), Ok(2));
        assert!(reply_of(&mut receivers[1]).is_err());
        let published = Arc::clone(&writer.published.read().expect("not poisoned"));
        let a1 = published.alloc("a1").expect("a1");
        let a2 = published.alloc("a2").expect("a2");
        assert_eq!((a1.create_index, a1.modify_index), (1, 2), "a1 keeps its create index");
        assert_eq!((a2.create_index, a2.modify_index, a2.alloc_modify_index), (2, 2, 2));
        assert!(published.alloc("a3").is_none(), "the failed transaction left nothing");
    }

    #[test]
    fn a_failed_commit_publishes_nothing_and_fails_every_caller() {
        let fail = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let backend = FlakyBackend { fail: Arc::clone(&fail) };
        let (_inner, mut writer) = StateStore::unstarted(Box::new(backend), Loaded::default());
        let (mut batch, mut receivers) = requests(vec![upsert_job("a", false), upsert_job("b", false)]);
        writer.commit_batch(&mut batch);
        for receiver in &mut receivers {
            assert_eq!(reply_of(receiver), Err("storage: disk on fire".to_string()));
        }
        assert_eq!(writer.index, 0);
        assert!(writer.maps.jobs.is_empty());
        assert_eq!(writer.published.read().expect("not poisoned").index(), 0);

        fail.store(false, std::sync::atomic::Ordering::SeqCst);
        let (mut batch, mut receivers) = requests(vec![upsert_job("b", false)]);
        writer.commit_batch(&mut batch);
        assert_eq!(reply_of(&mut receivers[0]), Ok(1), "the failed batch used no index");
        let published = Arc::clone(&writer.published.read().expect("not poisoned"));
        assert!(published.job("default", "a").is_none());
        assert!(published.job("default", "b").is_some());
    }

    #[tokio::test]
    async fn apply_without_a_writer_is_closed() {
        let (inner, writer) = StateStore::unstarted(Box::new(MemoryBackend), Loaded::default());
        drop(writer);
        let store = StateStore { inner: Arc::new(inner) };
        assert!(matches!(store.apply(Txn::default()).await, Err(StateError::Closed)));
        assert_eq!(store.wait_index_above(0, std::time::Duration::from_secs(600)).await, 0, "no index will come");
    }
}
