//! The lines of held dispatches: per parameterized parent with
//! `max_concurrent`, its children's evaluations waiting their turn, in order
//! (priority, then age). Memory only: the evaluations are stored `blocked`
//! (`drover_types::HELD_DESCRIPTION`), and a new leadership rebuilds the
//! lines from the state (`concurrency`, which also moves them).

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use drover_types::{Evaluation, JobKey};

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
    pub(crate) fn pop_next(&self, namespace: &str, parent_id: &str) -> Option<Arc<Evaluation>> {
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
