//! Job operations shared by every API and the UI: register (a new version
//! and its evaluation in one write), stop or purge (a purge of a parent takes
//! its children with it), force an evaluation.

use drover_state::{Op, Precondition, Txn};
use drover_types::api::JobRegisterResponse;
use drover_types::{Evaluation, Job, eval_status, eval_trigger, now_nanos};

use crate::error::ServerError;
use crate::server::{Server, new_eval};

impl Server {
    /// Registers (or updates) a job: one durable write of the job and its
    /// evaluation, then the evaluation is queued.
    pub async fn register_job(
        &self,
        mut job: Job,
        enforce_index: Option<u64>,
    ) -> Result<JobRegisterResponse, ServerError> {
        job.canonicalize();
        job.validate().map_err(|e| ServerError::BadRequest(e.to_string()))?;
        crate::schedules::validate_schedules(&job).map_err(ServerError::BadRequest)?;
        if job.dispatched {
            return Err(ServerError::BadRequest("job can't be submitted with 'Dispatched' set".to_string()));
        }
        let snapshot = self.state.snapshot();
        let existing = snapshot.job(&job.namespace, &job.id);
        if let Some(existing) = &existing {
            if existing.dispatched {
                return Err(ServerError::BadRequest(format!(
                    "job {:?} is a dispatched child; update its parent instead",
                    job.id
                )));
            }
            if existing.is_parameterized() != job.is_parameterized() {
                return Err(ServerError::BadRequest(if existing.is_parameterized() {
                    "cannot update parameterized job to being non-parameterized".to_string()
                } else {
                    "cannot update non-parameterized job to being parameterized".to_string()
                }));
            }
        }
        job.stop = false;
        job.status = String::new();
        job.submit_time = now_nanos();
        let mut preconditions = Vec::new();
        if let Some(index) = enforce_index {
            preconditions.push(Precondition::JobModifyIndex {
                namespace: job.namespace.clone(),
                job_id: job.id.clone(),
                index,
            });
        }
        let mut ops = vec![Op::UpsertJob(job.clone())];
        let mut evals = Vec::new();
        if !job.is_template() {
            let eval = new_eval(&job, eval_trigger::JOB_REGISTER);
            ops.push(Op::UpsertEvals(vec![eval.clone()]));
            evals.push(eval);
        }
        let index = self.commit_with_evals(Txn { preconditions, ops }, &evals).await.map_err(|err| match err {
            ServerError::Conflict(msg) => ServerError::BadRequest(msg),
            other => other,
        })?;
        let stored = self.state.snapshot().job(&job.namespace, &job.id);
        Ok(JobRegisterResponse {
            eval_id: evals.first().map(|e| e.id.clone()).unwrap_or_default(),
            eval_create_index: if evals.is_empty() { 0 } else { index },
            job_modify_index: stored.map(|j| j.job_modify_index).unwrap_or(index),
            warnings: String::new(),
            index,
        })
    }

    /// Stops a job (it stays registered, `dead (stopped)`) or purges it.
    /// Stopping a parent leaves its children alone, as in Nomad; purging one
    /// purges its children with it ([`Self::deregister_family`]), stopping
    /// their allocations, so a purge never leaves orphans running.
    pub async fn deregister_job(
        &self,
        namespace: &str,
        job_id: &str,
        purge: bool,
    ) -> Result<JobRegisterResponse, ServerError> {
        let snapshot = self.state.snapshot();
        let job =
            snapshot.job(namespace, job_id).ok_or_else(|| ServerError::NotFound(format!("job not found: {job_id}")))?;
        let children = snapshot.children_counts(namespace, job_id);
        if purge && children.pending + children.running + children.dead > 0 {
            return self.deregister_family(namespace, job_id, true).await;
        }
        let mut ops = Vec::new();
        let mut evals = Vec::new();
        self.deregister_ops(namespace, &job, purge, true, &mut ops, &mut evals);
        let index = self.commit_with_evals(Txn { preconditions: vec![], ops }, &evals).await?;
        let job_modify_index =
            self.state.snapshot().job(namespace, job_id).map(|j| j.job_modify_index).unwrap_or(index);
        Ok(JobRegisterResponse {
            eval_id: evals.first().map(|e| e.id.clone()).unwrap_or_default(),
            eval_create_index: if evals.is_empty() { 0 } else { index },
            job_modify_index,
            warnings: String::new(),
            index,
        })
    }

    /// Stops (or purges) a parent together with every child it has, in one
    /// write, so purging a parent never leaves orphans behind.
    pub async fn deregister_family(
        &self,
        namespace: &str,
        job_id: &str,
        purge: bool,
    ) -> Result<JobRegisterResponse, ServerError> {
        let snapshot = self.state.snapshot();
        let parent =
            snapshot.job(namespace, job_id).ok_or_else(|| ServerError::NotFound(format!("job not found: {job_id}")))?;
        let mut members = snapshot.children_of(namespace, job_id);
        members.push(parent.clone());
        let mut ops = Vec::new();
        let mut evals = Vec::new();
        for job in &members {
            if !purge && job.stop && job.status == drover_types::job_status::DEAD {
                continue;
            }
            self.deregister_ops(namespace, job, purge, false, &mut ops, &mut evals);
        }
        let index = self.commit_with_evals(Txn { preconditions: vec![], ops }, &evals).await?;
        Ok(JobRegisterResponse {
            eval_id: evals.first().map(|e| e.id.clone()).unwrap_or_default(),
            eval_create_index: if evals.is_empty() { 0 } else { index },
            job_modify_index: index,
            warnings: format!("{} children stopped", members.len() - 1),
            index,
        })
    }

    /// The operations that stop or purge one job: the job write, the
    /// cancellation of its blocked or held evaluation, and a deregister
    /// evaluation (for a dead job only when `eval_when_dead` or purging).
    fn deregister_ops(
        &self,
        namespace: &str,
        job: &Job,
        purge: bool,
        eval_when_dead: bool,
        ops: &mut Vec<Op>,
        evals: &mut Vec<Evaluation>,
    ) {
        if purge {
            ops.push(Op::PurgeJob { namespace: namespace.to_string(), job_id: job.id.clone() });
        } else {
            let mut stopped = job.clone();
            stopped.stop = true;
            ops.push(Op::UpsertJob(stopped));
        }
        let held = if job.dispatched { self.gate.remove_child(namespace, &job.parent_id, &job.id) } else { None };
        for blocked in self.broker.unblock_job(namespace, &job.id).into_iter().chain(held) {
            let mut canceled = (*blocked).clone();
            canceled.status = eval_status::CANCELED.to_string();
            canceled.status_description = "canceled: job stopped".to_string();
            ops.push(Op::UpsertEvals(vec![canceled]));
        }
        let dead = job.status == drover_types::job_status::DEAD;
        if !job.is_template() && (!dead || purge || eval_when_dead) {
            let eval = new_eval(job, eval_trigger::JOB_DEREGISTER);
            ops.push(Op::UpsertEvals(vec![eval.clone()]));
            evals.push(eval);
        }
    }

    /// Forces a new evaluation of a job.
    pub async fn evaluate_job(&self, namespace: &str, job_id: &str) -> Result<JobRegisterResponse, ServerError> {
        let job = self
            .state
            .snapshot()
            .job(namespace, job_id)
            .ok_or_else(|| ServerError::NotFound(format!("job not found: {job_id}")))?;
        if job.is_parameterized() {
            return Err(ServerError::BadRequest("can't evaluate parameterized job".to_string()));
        }
        if job.is_periodic() {
            return Err(ServerError::BadRequest("can't evaluate periodic job".to_string()));
        }
        let eval = new_eval(&job, eval_trigger::JOB_EVALUATE);
        let index = self
            .commit_with_evals(
                Txn { preconditions: vec![], ops: vec![Op::UpsertEvals(vec![eval.clone()])] },
                std::slice::from_ref(&eval),
            )
            .await?;
        Ok(JobRegisterResponse {
            eval_id: eval.id,
            eval_create_index: index,
            job_modify_index: job.job_modify_index,
            warnings: String::new(),
            index,
        })
    }

    // ---- allocations ----
}
