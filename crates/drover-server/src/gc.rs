//! Garbage collection of finished work.
//!
//! Every `job_gc_interval` the collector purges jobs that are dead and older
//! than `job_gc_threshold`, together with their evaluations and allocations:
//! dispatched and periodic children (no stop needed, as in Nomad) and stopped
//! jobs. A job with any non-terminal evaluation or allocation is never
//! collected. Before a child goes, two small records are written in the same
//! transaction: its idempotency token (so a retry within
//! `dispatch_idempotency_ttl` still dispatches nothing) and its parent's count
//! of collected children by outcome (so `job status` of the parent still adds
//! up). `PUT /v1/system/gc` runs a collection now, ignoring the thresholds.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use drover_state::{Op, Snapshot, Txn};
use drover_types::{Job, job_status, now_nanos};

use crate::error::ServerError;
use crate::server::Server;

/// KV table: `<ns>\x1f<parent>\x1f<token>` → a [`TokenRecord`].
pub(crate) const TOKEN_TABLE: &str = "dispatch-token";
/// KV table: `<ns>\x1f<parent>` → [`CollectedChildren`].
pub(crate) const COLLECTED_TABLE: &str = "children-collected";
/// Most jobs purged in one transaction.
const GC_BATCH: usize = 1000;

/// What is remembered of a collected child's idempotency token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct TokenRecord {
    /// The child the token dispatched.
    #[serde(rename = "JobID")]
    pub job_id: String,
    /// When the record may be forgotten (Unix ns).
    pub expires_at: i64,
}

/// Counts of a parent's children that were collected, by how they ended.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct CollectedChildren {
    /// Ended complete.
    pub complete: u64,
    /// Ended failed (or lost).
    pub failed: u64,
    /// Stopped before finishing.
    pub stopped: u64,
}

impl CollectedChildren {
    /// Every collected child.
    pub fn total(&self) -> u64 {
        self.complete + self.failed + self.stopped
    }
}

pub(crate) fn token_key(namespace: &str, parent_id: &str, token: &str) -> String {
    format!("{namespace}\u{1f}{parent_id}\u{1f}{token}")
}

fn parent_key(namespace: &str, parent_id: &str) -> String {
    format!("{namespace}\u{1f}{parent_id}")
}

/// The collected-children counts of a parent.
pub fn collected_children(snapshot: &Snapshot, namespace: &str, parent_id: &str) -> CollectedChildren {
    snapshot
        .kv(COLLECTED_TABLE, &parent_key(namespace, parent_id))
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

/// The child a token dispatched, if the token is remembered and not expired.
pub(crate) fn remembered_token(
    snapshot: &Snapshot,
    namespace: &str,
    parent_id: &str,
    token: &str,
    now: i64,
) -> Option<String> {
    let record: TokenRecord =
        serde_json::from_str(&snapshot.kv(TOKEN_TABLE, &token_key(namespace, parent_id, token))?).ok()?;
    (record.expires_at > now).then_some(record.job_id)
}

/// Whether a job may be collected now (`threshold` ns after submission; `None` = ignore age).
fn collectable(snapshot: &Snapshot, job: &Job, threshold: Option<i64>, now: i64) -> bool {
    if job.status != job_status::DEAD || job.is_template() {
        return false;
    }
    if job.parent_id.is_empty() && !job.stop {
        return false;
    }
    if let Some(threshold) = threshold
        && job.submit_time > now - threshold
    {
        return false;
    }
    let evals_done = snapshot.evals_by_job(&job.namespace, &job.id).iter().all(|e| e.is_terminal());
    let allocs_done = snapshot.allocs_by_job(&job.namespace, &job.id).iter().all(|a| a.terminal());
    evals_done && allocs_done
}

impl Server {
    /// Runs one collection; `force` ignores the age thresholds. Returns how many jobs were purged.
    pub async fn collect_garbage(&self, force: bool) -> Result<usize, ServerError> {
        let now = now_nanos();
        let threshold = if force { None } else { Some(drover_types::duration_to_nanos(self.config.job_gc_threshold)) };
        let ttl = drover_types::duration_to_nanos(self.config.dispatch_idempotency_ttl);
        let snapshot = self.state.snapshot();
        let resident: Vec<Arc<Job>> =
            snapshot.resident_jobs().into_iter().filter(|job| collectable(&snapshot, job, threshold, now)).collect();
        let mut purged = 0;
        for chunk in resident.chunks(GC_BATCH) {
            purged += self.purge_jobs(&snapshot, chunk, now, ttl).await?;
        }
        // Archived children are dead with nothing left to run: only their age
        // is checked before reading them, a chunk at a time.
        let archived = snapshot.finished_archived_jobs_submitted_before(threshold.map(|threshold| now - threshold + 1));
        for keys in archived.chunks(GC_BATCH) {
            let chunk: Vec<Arc<Job>> = keys
                .iter()
                .filter_map(|(namespace, job_id)| snapshot.job(namespace, job_id))
                .filter(|job| collectable(&snapshot, job, threshold, now))
                .collect();
            purged += self.purge_jobs(&snapshot, &chunk, now, ttl).await?;
        }
        // Forget tokens whose window passed.
        let expired: Vec<Op> = snapshot
            .kv_prefix(TOKEN_TABLE, "")
            .into_iter()
            .filter(|(_, value)| {
                serde_json::from_str::<TokenRecord>(value).map(|r| r.expires_at <= now).unwrap_or(true)
            })
            .map(|(key, _)| Op::PutKv { table: TOKEN_TABLE.to_string(), key, value: None })
            .collect();
        if !expired.is_empty() {
            self.state.apply(Txn { preconditions: vec![], ops: expired }).await?;
        }
        if purged > 0 {
            tracing::info!(purged, "garbage collection purged finished jobs");
        }
        Ok(purged)
    }

    /// Purges `chunk` (collectable jobs) in one transaction, keeping the
    /// tokens and collected-children counts of the children among them.
    async fn purge_jobs(
        &self,
        snapshot: &Snapshot,
        chunk: &[Arc<Job>],
        now: i64,
        ttl: i64,
    ) -> Result<usize, ServerError> {
        if chunk.is_empty() {
            return Ok(0);
        }
        let mut ops = Vec::new();
        let mut collected: BTreeMap<drover_types::JobKey, CollectedChildren> = BTreeMap::new();
        // The counts as the previous chunk's commit left them, not as `snapshot` saw them.
        let counts_now = self.state.snapshot();
        for job in chunk {
            let allocs = snapshot.allocs_by_job(&job.namespace, &job.id);
            let evals = snapshot.evals_by_job(&job.namespace, &job.id);
            if !job.parent_id.is_empty() {
                let key = (job.namespace.clone(), job.parent_id.clone());
                let counts = collected
                    .entry(key)
                    .or_insert_with(|| collected_children(&counts_now, &job.namespace, &job.parent_id));
                match crate::outcome::outcome(snapshot, job).outcome.as_str() {
                    "complete" => counts.complete += 1,
                    "stopped" => counts.stopped += 1,
                    _ => counts.failed += 1,
                }
                if !job.dispatch_idempotency_token.is_empty() {
                    let record =
                        TokenRecord { job_id: job.id.clone(), expires_at: job.submit_time.max(now - ttl) + ttl };
                    ops.push(Op::PutKv {
                        table: TOKEN_TABLE.to_string(),
                        key: token_key(&job.namespace, &job.parent_id, &job.dispatch_idempotency_token),
                        value: serde_json::to_string(&record).ok(),
                    });
                }
            }
            ops.push(Op::DeleteAllocs(allocs.iter().map(|a| a.id.clone()).collect()));
            ops.push(Op::DeleteEvals(evals.iter().map(|e| e.id.clone()).collect()));
            ops.push(Op::PurgeJob { namespace: job.namespace.clone(), job_id: job.id.clone() });
        }
        for ((namespace, parent), counts) in collected {
            ops.push(Op::PutKv {
                table: COLLECTED_TABLE.to_string(),
                key: parent_key(&namespace, &parent),
                value: serde_json::to_string(&counts).ok(),
            });
        }
        self.state.apply(Txn { preconditions: vec![], ops }).await?;
        Ok(chunk.len())
    }
}

/// Runs a collection every `job_gc_interval` until shutdown.
pub(crate) async fn run_gc(server: Arc<Server>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(server.config.job_gc_interval.max(std::time::Duration::from_millis(100)));
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        if let Err(err) = server.collect_garbage(false).await {
            tracing::error!(error = %err, "garbage collection failed");
        }
    }
}
