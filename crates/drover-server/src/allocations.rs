//! Allocation operations: stop one (the scheduler replaces it, as in
//! Nomad), and the client's updates of its allocations (task states, events,
//! exit codes), with the evaluations a failure or a freed node calls for.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use drover_state::{AllocDesiredUpdate, Op, Txn};
use drover_types::{AllocClientUpdate, Evaluation, client_status, desired_status, eval_trigger};

use crate::error::ServerError;
use crate::server::{Server, new_eval};

impl Server {
    /// Stops one allocation; its job's scheduler decides on a replacement.
    pub async fn stop_alloc(&self, alloc_id: &str) -> Result<(String, u64), ServerError> {
        let snapshot = self.state.snapshot();
        let alloc =
            snapshot.alloc(alloc_id).ok_or_else(|| ServerError::NotFound(format!("alloc not found: {alloc_id}")))?;
        let mut ops = vec![Op::UpdateAllocsDesired(vec![AllocDesiredUpdate {
            alloc_id: alloc.id.clone(),
            desired_status: Some(desired_status::STOP.to_string()),
            desired_description: Some("alloc was stopped by a user".to_string()),
            ..AllocDesiredUpdate::default()
        }])];
        let mut evals = Vec::new();
        if let Some(job) = snapshot.job(&alloc.namespace, &alloc.job_id) {
            let eval = new_eval(&job, eval_trigger::ALLOC_STOP);
            ops.push(Op::UpsertEvals(vec![eval.clone()]));
            evals.push(eval);
        }
        let index = self.commit_with_evals(Txn { preconditions: vec![], ops }, &evals).await?;
        self.broker.unblock_all();
        Ok((evals.first().map(|e| e.id.clone()).unwrap_or_default(), index))
    }

    // ---- nodes ----

    /// Applies a client's report; failed allocations get a reschedule
    /// evaluation and finished ones free capacity for blocked work.
    pub async fn client_update(&self, node_id: &str, updates: Vec<AllocClientUpdate>) -> Result<u64, ServerError> {
        let snapshot = self.state.snapshot();
        let mut failed_jobs = BTreeSet::new();
        let mut freed = false;
        let mut accepted = Vec::with_capacity(updates.len());
        for update in updates {
            let Some(alloc) = snapshot.alloc(&update.id) else { continue };
            if alloc.node_id != node_id {
                continue;
            }
            let was_terminal = alloc.client_terminal();
            let now_terminal = client_status::is_terminal(&update.client_status);
            if !was_terminal && now_terminal {
                freed = true;
                if update.client_status == client_status::FAILED && !alloc.server_terminal() {
                    failed_jobs.insert((alloc.namespace.clone(), alloc.job_id.clone()));
                }
            }
            for (task, state) in &update.task_states {
                let before = alloc.task_states.get(task);
                let started_before = before.map(|s| s.started_at).unwrap_or(0);
                if state.started_at != 0 && state.started_at != started_before {
                    self.metrics.task_starts.fetch_add(1, Ordering::Relaxed);
                }
                if state.failed && !before.is_some_and(|s| s.failed) {
                    self.metrics.task_failures.fetch_add(1, Ordering::Relaxed);
                }
            }
            accepted.push(update);
        }
        if accepted.is_empty() {
            return Ok(snapshot.index());
        }
        let evals: Vec<Evaluation> = failed_jobs
            .into_iter()
            .filter_map(|(ns, id)| snapshot.job(&ns, &id))
            .map(|job| new_eval(&job, eval_trigger::ALLOC_FAILURE))
            .collect();
        let mut ops = vec![Op::UpdateAllocsFromClient(accepted)];
        if !evals.is_empty() {
            ops.push(Op::UpsertEvals(evals.clone()));
        }
        let index = self.commit_with_evals(Txn { preconditions: vec![], ops }, &evals).await?;
        if freed {
            self.broker.unblock_all();
        }
        Ok(index)
    }
}
