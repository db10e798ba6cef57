//! The blocking "result" of a job (`GET /v1/job/:id/outcome`), so a dispatch
//! can be used like a function call: wait (up to `?wait=`, default 5m) until
//! the job is dead, then say how it ended and with which exit code.

use std::sync::Arc;
use std::time::Duration;

use drover_state::{Snapshot, StateStore};
use drover_types::{Allocation, Job, JobEnding, client_status, job_status, task_event};

use crate::error::ServerError;

pub use drover_types::api::{AllocOutcome, JobOutcome};

/// The outcome of a job as the snapshot has it.
pub fn outcome(snapshot: &Snapshot, job: &Job) -> JobOutcome {
    outcome_with(snapshot, job, snapshot.allocs_by_job(&job.namespace, &job.id))
}

/// The outcome of a job whose allocations the caller has read already (an
/// archived job's are read back from storage: once is enough).
pub(crate) fn outcome_with(snapshot: &Snapshot, job: &Job, mut allocs: Vec<Arc<Allocation>>) -> JobOutcome {
    allocs.sort_by_key(|a| a.create_index);
    let mut exit_code = 0;
    let mut failed_exit: Option<i32> = None;
    let mut allocations = Vec::new();
    for alloc in &allocs {
        let mut tasks = std::collections::BTreeMap::new();
        for (name, state) in &alloc.task_states {
            let code = state
                .events
                .iter()
                .rev()
                .find(|e| e.event_type == task_event::TERMINATED)
                .map(|e| if e.signal != 0 && e.exit_code == 0 { 128 + e.signal } else { e.exit_code });
            if let Some(code) = code {
                exit_code = code;
                if (state.failed || code != 0) && failed_exit.is_none() && alloc.client_status == client_status::FAILED
                {
                    failed_exit = Some(code);
                }
            }
            tasks.insert(name.clone(), code);
        }
        allocations.push(AllocOutcome { id: alloc.id.clone(), client_status: alloc.client_status.clone(), tasks });
    }
    // The same rule the state uses to count a parent's finished children.
    let ending = drover_types::job_ending(job, allocs.iter().map(|alloc| &**alloc));
    let finished = job.status == job_status::DEAD;
    let exit_code = match ending {
        Some(JobEnding::Failed) => {
            failed_exit.filter(|c| *c != 0).unwrap_or(if exit_code != 0 { exit_code } else { 1 })
        }
        Some(JobEnding::Lost | JobEnding::Stopped) => {
            if exit_code != 0 {
                exit_code
            } else {
                1
            }
        }
        Some(JobEnding::Complete) | None => exit_code,
    };
    let outcome = ending.map(|ending| ending.as_str().to_string()).unwrap_or_default();
    JobOutcome {
        job_id: job.id.clone(),
        status: job.status.clone(),
        finished,
        outcome,
        exit_code,
        allocations,
        index: snapshot.index(),
    }
}

/// The outcome of a job once it is dead, waiting at most `wait` for that;
/// after `wait` the outcome as it stands (`finished` false).
pub(crate) async fn wait_outcome(
    state: &StateStore,
    namespace: &str,
    job_id: &str,
    wait: Duration,
) -> Result<JobOutcome, ServerError> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let snapshot = state.snapshot();
        let job = snapshot.job(namespace, job_id).ok_or_else(|| ServerError::NotFound("job not found".to_string()))?;
        let result = outcome(&snapshot, &job);
        let now = tokio::time::Instant::now();
        if result.finished || now >= deadline {
            return Ok(result);
        }
        state.wait_index_above(snapshot.index(), deadline - now).await;
    }
}
