//! `parameterized { max_concurrent = N }`: dispatched children beyond N
//! running wait here, in order (priority, then age), instead of failing or
//! overloading the cluster.
//!
//! A held child has its job and its evaluation written like any other
//! dispatch; the evaluation is stored `blocked` with a description that says
//! why, so the line survives a restart (it is rebuilt from state) and is
//! visible in the API. When a child of the parent finishes, the next held
//! evaluation becomes `pending` and goes to the broker.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use drover_state::{ChangedObject, Op, Snapshot, Txn};
use drover_types::{Evaluation, HELD_DESCRIPTION, Job, JobKey, eval_status, job_status, now_nanos};

use crate::server::ServerInner;

type Order = (Reverse<i32>, u64);

/// Held evaluations per parent.
#[derive(Default)]
pub(crate) struct ConcurrencyGate {
    queues: Mutex<HashMap<JobKey, BTreeMap<Order, Arc<Evaluation>>>>,
}

impl ConcurrencyGate {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<JobKey, BTreeMap<Order, Arc<Evaluation>>>> {
        self.queues.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Holds a child's evaluation in its parent's line.
    pub(crate) fn hold(&self, namespace: &str, parent_id: &str, eval: Arc<Evaluation>) {
        let order = (Reverse(eval.priority), eval.create_index);
        self.lock().entry((namespace.to_string(), parent_id.to_string())).or_default().insert(order, eval);
    }

    /// How many children of a parent are held.
    pub(crate) fn held_count(&self, namespace: &str, parent_id: &str) -> usize {
        self.lock().get(&(namespace.to_string(), parent_id.to_string())).map_or(0, BTreeMap::len)
    }

    /// Whether a child job is held.
    pub(crate) fn is_held(&self, namespace: &str, parent_id: &str, child_id: &str) -> bool {
        self.lock()
            .get(&(namespace.to_string(), parent_id.to_string()))
            .is_some_and(|line| line.values().any(|e| e.job_id == child_id))
    }

    /// Takes the next held evaluation of a parent.
    fn pop_next(&self, namespace: &str, parent_id: &str) -> Option<Arc<Evaluation>> {
        let mut queues = self.lock();
        let key = (namespace.to_string(), parent_id.to_string());
        let line = queues.get_mut(&key)?;
        let next = line.pop_first().map(|(_, eval)| eval);
        if line.is_empty() {
            queues.remove(&key);
        }
        next
    }

    /// Drops a held child (stopped or purged); returns its evaluation.
    pub(crate) fn remove_child(&self, namespace: &str, parent_id: &str, child_id: &str) -> Option<Arc<Evaluation>> {
        let mut queues = self.lock();
        let key = (namespace.to_string(), parent_id.to_string());
        let line = queues.get_mut(&key)?;
        let order = line.iter().find(|(_, e)| e.job_id == child_id).map(|(order, _)| *order)?;
        let eval = line.remove(&order);
        if line.is_empty() {
            queues.remove(&key);
        }
        eval
    }

    /// The line of one parent, in order.
    pub(crate) fn line(&self, namespace: &str, parent_id: &str) -> Vec<drover_types::api::QueuedDispatch> {
        self.lock()
            .get(&(namespace.to_string(), parent_id.to_string()))
            .map(|line| {
                line.values()
                    .enumerate()
                    .map(|(idx, eval)| drover_types::api::QueuedDispatch {
                        job_id: eval.job_id.clone(),
                        eval_id: eval.id.clone(),
                        position: idx as u64 + 1,
                        priority: eval.priority,
                        reason: eval.status_description.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Forgets every line (leadership ends; the next one rebuilds them from
    /// the state's held evaluations).
    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    /// Every line: (namespace, parent, held children).
    pub(crate) fn all_lines(&self) -> Vec<(String, String, Vec<drover_types::api::QueuedDispatch>)> {
        let keys: Vec<JobKey> = self.lock().keys().cloned().collect();
        keys.into_iter()
            .map(|(ns, parent)| {
                let line = self.line(&ns, &parent);
                (ns, parent, line)
            })
            .collect()
    }
}

/// Children of a parent that count against its limit: not dead, not
/// stopped and not held. O(log jobs): read from the state's children counts.
///
/// Every held child is pending and not stopped in any snapshot taken after
/// it was held (it is held only after its dispatch commits, and leaves the
/// line before the write that stops it), so subtracting the line's length
/// from the active count leaves exactly the active children not held.
pub(crate) fn active_children(server: &ServerInner, snapshot: &Snapshot, parent: &Job) -> usize {
    let active = snapshot.children_counts(&parent.namespace, &parent.id).active;
    let active = usize::try_from(active).unwrap_or(usize::MAX);
    active.saturating_sub(server.gate.held_count(&parent.namespace, &parent.id))
}

impl ServerInner {
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
pub(crate) async fn follow_children(server: Arc<ServerInner>) {
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
