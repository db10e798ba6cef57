//! `parameterized { max_concurrent = N }`: dispatched children beyond N
//! running wait in their parent's line (`gate`), in order (priority, then age), instead of failing or
//! overloading the cluster.
//!
//! A held child has its job and its evaluation written like any other
//! dispatch; the evaluation is stored `blocked` with a description that says
//! why, so the line survives a restart (it is rebuilt from state) and is
//! visible in the API. When a child of the parent finishes, the next held
//! evaluation becomes `pending` and goes to the broker.

use std::sync::Arc;

use drover_state::{ChangedObject, Op, Snapshot, Txn};
use drover_types::{Evaluation, HELD_DESCRIPTION, Job, eval_status, job_status, now_nanos};

use crate::server::Server;

/// Children of a parent that count against its limit: not dead, not
/// stopped and not held. O(log jobs): read from the state's children counts.
///
/// Every held child is pending and not stopped in any snapshot taken after
/// it was held (it is held only after its dispatch commits, and leaves the
/// line before the write that stops it), so subtracting the line's length
/// from the active count leaves exactly the active children not held.
pub(crate) fn active_children(server: &Server, snapshot: &Snapshot, parent: &Job) -> usize {
    let active = snapshot.children_counts(&parent.namespace, &parent.id).active;
    let active = usize::try_from(active).unwrap_or(usize::MAX);
    active.saturating_sub(server.gate.held_count(&parent.namespace, &parent.id))
}

impl Server {
    /// Releases held children of a parent while it has room.
    pub(crate) async fn release_held(&self, namespace: &str, parent_id: &str) {
        if self.gate.held_count(namespace, parent_id) == 0 {
            return;
        }
        let _guard = self.dispatch_lock.lock().await;
        let snapshot = self.state.snapshot();
        let Some(parent) = snapshot.job(namespace, parent_id) else { return };
        let limit = parent.parameterized_job.as_ref().map(|p| p.max_concurrent as usize).unwrap_or(0);
        let mut active = active_children(self, &snapshot, &parent);
        let mut released = Vec::new();
        while limit == 0 || active < limit {
            let Some(eval) = self.gate.pop_next(namespace, parent_id) else { break };
            let mut pending = (*eval).clone();
            pending.status = eval_status::PENDING.to_string();
            pending.status_description = String::new();
            pending.modify_time = now_nanos();
            released.push(pending);
            active += 1;
        }
        if released.is_empty() {
            return;
        }
        let txn = Txn { preconditions: vec![], ops: vec![Op::UpsertEvals(released.clone())] };
        if let Err(err) = self.commit_with_evals(txn, &released).await {
            tracing::error!(parent = %parent_id, error = %err, "could not release held dispatches");
            for eval in released {
                self.gate.hold(namespace, parent_id, Arc::new(eval));
            }
        }
    }

    /// Rebuilds the lines from state after a start, from the evaluations
    /// not yet terminal (`Snapshot::open_evals`).
    pub(crate) fn restore_held(&self, snapshot: &Snapshot, open_evals: &[Arc<Evaluation>]) {
        for eval in open_evals {
            if eval.status != eval_status::BLOCKED || !eval.status_description.starts_with(HELD_DESCRIPTION) {
                continue;
            }
            let Some(child) = snapshot.job(&eval.namespace, &eval.job_id) else { continue };
            self.gate.hold(&eval.namespace, &child.parent_id, eval.clone());
        }
    }
}

/// Follows state changes; when a dispatched child finishes, its parent's line moves.
pub(crate) async fn follow_children(server: Arc<Server>) {
    let mut changes = server.state.subscribe();
    loop {
        let batch = match changes.recv().await {
            Ok(batch) => batch,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                for (ns, parent, _) in server.gate.all_lines() {
                    server.release_held(&ns, &parent).await;
                }
                continue;
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        };
        let mut parents = std::collections::BTreeSet::new();
        for change in batch.iter() {
            match &change.object {
                ChangedObject::Job(job) if job.dispatched && (job.status == job_status::DEAD || job.stop) => {
                    parents.insert((job.namespace.clone(), job.parent_id.clone()));
                }
                ChangedObject::JobDeleted { namespace, job_id } => {
                    if let Some((parent, _)) = job_id.rsplit_once("/dispatch-") {
                        parents.insert((namespace.clone(), parent.to_string()));
                    }
                }
                _ => {}
            }
        }
        for (ns, parent) in parents {
            server.release_held(&ns, &parent).await;
        }
    }
}
