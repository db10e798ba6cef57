//! The launcher: cron schedules (Nomad `periodic` and Metronome-style
//! `Schedules`), runs and their policies.
//!
//! [`decide()`] (in [`decide`](mod@decide)) is the whole policy as a pure
//! function of one template job, its schedules, its unfinished runs, the state
//! of their newest child jobs, the last handled cron slot of every schedule and
//! `now`; it returns [`Action`]s and the next time anything can change.
//! [`run_launcher`] (here) is the thin async shell: it keeps the next due time
//! of every template job in a timer set, sleeps until the earliest (or until a
//! state change touches a template, one of its children or runs), asks
//! [`decide()`] and writes each action as one transaction (child job +
//! evaluation + run + slot together).
//!
//! Key decisions:
//! - A cron slot is handled once: the newest handled slot is persisted per
//!   schedule (`JobHistory.ScheduleSlots`) in the same transaction as its
//!   launch, so a restart resumes without launching a slot twice.
//! - Slots missed while no server ran: only the newest is started late, and
//!   only within `StartingDeadlineSeconds` (0 = no deadline); every other one
//!   is recorded as a `FAILED` run with a `missed:` reason.
//! - Manual runs ignore the concurrency policy; FORBID skips are recorded as
//!   `SKIPPED` runs; REPLACE stops the active runs' children and launches.
//! - `ON_FAILURE` relaunches a failed attempt after 1 s, 2 s, 4 s ... (capped
//!   at 60 s, and at half the time left before `ActiveDeadlineSeconds`, at
//!   least 1 s) until one succeeds or the deadline is reached; a run still
//!   going at its deadline is stopped (SIGTERM, `kill_timeout`, SIGKILL) and fails.
//! - A run whose first attempt still waits to run `MaxLaunchDelaySeconds`
//!   after its creation (Metronome's `maxLaunchDelay`) is stopped and fails.

mod decide;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use drover_state::{ChangedObject, Op, Snapshot, Txn};
use drover_types::{
    Evaluation, Job, JobKey, JobSchedule, Run, client_status, eval_status, eval_trigger, job_status, now_nanos,
    run_status, run_trigger,
};

use self::decide::{Action, Attempt, ChildState, JobInput, decide};
use crate::children;
use crate::error::ServerError;
use crate::server::Server;

/// The newest attempt of a run as the snapshot has it.
fn attempt_of(snapshot: &Snapshot, namespace: &str, child_id: &str, now: i64) -> Attempt {
    // A parked child (waiting for capacity, archived) is pending with no
    // allocation: no need to read it back from storage.
    if snapshot.is_parked_in_archive(namespace, child_id) {
        return Attempt { state: ChildState::Pending, allocs: Vec::new(), exit_code: 0 };
    }
    let Some(child) = snapshot.job(namespace, child_id) else {
        return Attempt { state: ChildState::Missing, allocs: Vec::new(), exit_code: 0 };
    };
    let allocs = snapshot.allocs_by_job(namespace, child_id);
    let mut alloc_ids: Vec<(u64, String)> = allocs.iter().map(|a| (a.create_index, a.id.clone())).collect();
    alloc_ids.sort();
    let ended_at = allocs.iter().map(|a| a.modify_time).max().filter(|t| *t > 0).unwrap_or(now);
    let outcome = crate::outcome::outcome_with(snapshot, &child, allocs.clone());
    let state = match child.status.as_str() {
        job_status::DEAD if outcome.outcome == "complete" && !allocs.is_empty() => ChildState::Complete { ended_at },
        job_status::DEAD => ChildState::Failed { ended_at },
        _ if allocs.iter().any(|a| a.client_status == client_status::RUNNING) => ChildState::Running,
        _ => ChildState::Pending,
    };
    Attempt { state, allocs: alloc_ids.into_iter().map(|(_, id)| id).collect(), exit_code: outcome.exit_code }
}

/// Next due time per job, earliest first.
#[derive(Default)]
struct Timers {
    by_time: BTreeSet<(i64, JobKey)>,
    by_job: HashMap<JobKey, i64>,
}

impl Timers {
    fn set(&mut self, key: &JobKey, at: Option<i64>) {
        if let Some(old) = self.by_job.remove(key) {
            self.by_time.remove(&(old, key.clone()));
        }
        if let Some(at) = at {
            self.by_job.insert(key.clone(), at);
            self.by_time.insert((at, key.clone()));
        }
    }

    /// Wakes the job at `at` unless it is already due to wake earlier (a
    /// decision about some of its runs does not know the others' wakes).
    fn set_earlier(&mut self, key: &JobKey, at: Option<i64>) {
        let Some(at) = at else { return };
        if self.by_job.get(key).is_none_or(|current| at < *current) {
            self.set(key, Some(at));
        }
    }

    fn earliest(&self) -> Option<i64> {
        self.by_time.first().map(|(at, _)| *at)
    }

    fn pop_due(&mut self, now: i64) -> Vec<JobKey> {
        let mut due = Vec::new();
        while let Some((at, key)) = self.by_time.first().cloned() {
            if at > now {
                break;
            }
            self.by_time.remove(&(at, key.clone()));
            self.by_job.remove(&key);
            due.push(key);
        }
        due
    }
}

/// What of a job the launcher must look at again.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    /// Everything: its schedules and every active run.
    Job,
    /// Only the runs of these child jobs (their child changed). Keeps a
    /// parent with a large dispatch backlog from being re-decided whole,
    /// O(its active runs), on every change of one child.
    Children(BTreeSet<String>),
}

/// Jobs to look at again, and how much of each.
#[derive(Debug, Default)]
struct Dirty(BTreeMap<JobKey, Scope>);

impl Dirty {
    fn job(&mut self, key: JobKey) {
        self.0.insert(key, Scope::Job);
    }

    fn child(&mut self, key: JobKey, child_id: &str) {
        match self.0.entry(key).or_insert_with(|| Scope::Children(BTreeSet::new())) {
            Scope::Job => {}
            Scope::Children(children) => {
                children.insert(child_id.to_string());
            }
        }
    }

    fn pop_first(&mut self) -> Option<(JobKey, Scope)> {
        self.0.pop_first()
    }
}

/// Jobs to look at again after a batch of changes.
fn touched_jobs(snapshot: &Snapshot, changes: &[drover_state::Change], dirty: &mut Dirty) {
    for change in changes {
        match &change.object {
            ChangedObject::Job(job) if !job.parent_id.is_empty() => {
                dirty.child((job.namespace.clone(), job.parent_id.clone()), &job.id);
            }
            ChangedObject::Job(job) => {
                dirty.job((job.namespace.clone(), job.id.clone()));
            }
            ChangedObject::JobDeleted { namespace, job_id } => {
                dirty.job((namespace.clone(), job_id.clone()));
            }
            ChangedObject::Alloc(alloc) => {
                if let Some(run) = snapshot.run_of_child(&alloc.namespace, &alloc.job_id) {
                    dirty.child((run.namespace.clone(), run.job_id.clone()), &alloc.job_id);
                }
            }
            ChangedObject::Run(run) if !run.is_terminal() => match run.current_child() {
                Some(child_id) => dirty.child((run.namespace.clone(), run.job_id.clone()), child_id),
                None => dirty.job((run.namespace.clone(), run.job_id.clone())),
            },
            _ => {}
        }
    }
}

/// Every job the launcher must look at after a start.
fn all_jobs(snapshot: &Snapshot) -> Dirty {
    let mut dirty = Dirty::default();
    for job in snapshot.resident_jobs().iter().filter(|job| job.is_periodic()) {
        dirty.job((job.namespace.clone(), job.id.clone()));
    }
    for run in snapshot.active_runs() {
        dirty.job((run.namespace.clone(), run.job_id.clone()));
    }
    dirty
}

/// The unfinished runs of `key` whose current child is one of `children`.
fn runs_of_children(snapshot: &Snapshot, key: &JobKey, children: &BTreeSet<String>) -> Vec<Run> {
    let mut seen = BTreeSet::new();
    children
        .iter()
        .filter_map(|child_id| snapshot.run_of_child(&key.0, child_id))
        .filter(|run| run.job_id == key.1 && !run.is_terminal())
        .filter(|run| run.current_child().is_some_and(|current| children.contains(current)))
        .filter(|run| seen.insert(run.id.clone()))
        .map(|run| (*run).clone())
        .collect()
}

/// The launcher loop; ends at shutdown.
pub(crate) async fn run_launcher(server: Arc<Server>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut changes = server.state.subscribe();
    let mut timers = Timers::default();
    let mut dirty = all_jobs(&server.state.snapshot());
    loop {
        while let Some((key, scope)) = dirty.pop_first() {
            let next = evaluate(&server, &key, &scope).await;
            match scope {
                Scope::Job => timers.set(&key, next),
                Scope::Children(_) => timers.set_earlier(&key, next),
            }
        }
        let now = now_nanos();
        let sleep_for = match timers.earliest() {
            Some(at) => {
                Duration::from_nanos(u64::try_from(at.saturating_sub(now)).unwrap_or(0)) + Duration::from_millis(1)
            }
            None => Duration::from_secs(3600),
        };
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return,
            _ = tokio::time::sleep(sleep_for) => {
                for key in timers.pop_due(now_nanos()) {
                    dirty.job(key);
                }
            }
            received = changes.recv() => match received {
                Ok(batch) => {
                    touched_jobs(&server.state.snapshot(), &batch, &mut dirty);
                    // Take every change already waiting too, so one pass (one
                    // commit per parent) decides them all: deciding after each
                    // message alone paces the launcher at one child per commit.
                    loop {
                        match changes.try_recv() {
                            Ok(batch) => touched_jobs(&server.state.snapshot(), &batch, &mut dirty),
                            Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {
                                dirty = all_jobs(&server.state.snapshot());
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => dirty = all_jobs(&server.state.snapshot()),
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

/// Decides and writes for one job (all of it, or only the runs of the
/// children in `scope`); returns when to look again.
async fn evaluate(server: &Server, key: &JobKey, scope: &Scope) -> Option<i64> {
    let _guard = server.run_lock.lock().await;
    let snapshot = server.state.snapshot();
    let job = snapshot.job(&key.0, &key.1)?;
    let now = now_nanos();
    // The run of a parked child (waiting for capacity, archived) has nothing
    // to decide unless a deadline, a max launch delay or a schedule's
    // concurrency policy reads it; a full pass skips it rather than copy a
    // million of them.
    let skip_parked = !job.is_periodic()
        && job.run_policy.active_deadline_seconds == 0
        && job.run_policy.max_launch_delay_seconds == 0;
    let parked = |run: &Run| {
        skip_parked
            && run.status == run_status::STARTING
            && run.current_child().is_some_and(|child| snapshot.is_parked_in_archive(&key.0, child))
    };
    let active_runs: Vec<Run> = match scope {
        Scope::Job => snapshot
            .runs_of_job(&key.0, &key.1)
            .iter()
            .rev()
            .filter(|run| !run.is_terminal() && !parked(run))
            .map(|run| (**run).clone())
            .collect(),
        Scope::Children(children) => runs_of_children(&snapshot, key, children),
    };
    let runs_only = matches!(scope, Scope::Children(_));
    if (runs_only || !job.is_periodic()) && active_runs.is_empty() {
        return None;
    }
    let attempts: BTreeMap<String, Attempt> = active_runs
        .iter()
        .filter_map(|run| run.current_child())
        .map(|child| (child.to_string(), attempt_of(&snapshot, &key.0, child, now)))
        .collect();
    let history = snapshot.job_history(&key.0, &key.1);
    let no_slots = BTreeMap::new();
    let slots = history.as_ref().map_or(&no_slots, |history| &history.schedule_slots);
    let decision = decide(&JobInput { job: &job, slots, active_runs, runs_only, attempts: &attempts, now });
    // Run updates (most actions under load: children finishing) go out in
    // one transaction per chunk, not one commit each, so the launcher keeps
    // up with thousands of children a second; the other actions follow, in order.
    let mut updates: Vec<Run> = Vec::new();
    let mut others: Vec<Action> = Vec::new();
    for action in decision.actions {
        match action {
            Action::Update(run) => updates.push(run),
            other => others.push(other),
        }
    }
    for chunk in updates.chunks(RUN_UPDATES_PER_COMMIT) {
        if let Err(err) = write_run_updates(server, &job, chunk.to_vec()).await {
            tracing::error!(job_id = %job.id, error = %err, "launcher could not write");
        }
    }
    for action in others {
        if let Err(err) = execute(server, &job, action, now).await {
            tracing::error!(job_id = %job.id, error = %err, "launcher could not write");
        }
    }
    decision.next_wake
}

/// Most run updates the launcher writes in one transaction.
const RUN_UPDATES_PER_COMMIT: usize = 1000;

/// Writes updated runs of `job` in one transaction, trimming its history
/// when any of them finished.
async fn write_run_updates(server: &Server, job: &Job, runs: Vec<Run>) -> Result<(), ServerError> {
    let any_finished = runs.iter().any(Run::is_terminal);
    let mut ops = vec![Op::UpsertRuns(runs)];
    if any_finished {
        ops.push(trim_op(server, job));
    }
    server.commit_with_evals(Txn { preconditions: Vec::new(), ops }, &[]).await?;
    Ok(())
}

/// The ops that stop a child job (like `job stop`): the stopped job and its evaluation.
fn stop_child_ops(
    server: &Server,
    snapshot: &Snapshot,
    namespace: &str,
    child_id: &str,
    ops: &mut Vec<Op>,
    evals: &mut Vec<Evaluation>,
) {
    let Some(child) = snapshot.job(namespace, child_id) else { return };
    if child.stop {
        return;
    }
    let mut stopped = (*child).clone();
    stopped.stop = true;
    ops.push(Op::UpsertJob(stopped));
    let eval = Evaluation::new_for_job(&child, eval_trigger::JOB_DEREGISTER, now_nanos());
    ops.push(Op::UpsertEvals(vec![eval.clone()]));
    evals.push(eval);
    if let Some(blocked) = server.broker.unblock_job(namespace, child_id) {
        let mut canceled = (*blocked).clone();
        canceled.status = eval_status::CANCELED.to_string();
        canceled.status_description = "canceled: job stopped".to_string();
        ops.push(Op::UpsertEvals(vec![canceled]));
    }
}

fn trim_op(server: &Server, job: &Job) -> Op {
    let keep = |per_job: u32, server_default: usize| if per_job > 0 { per_job as usize } else { server_default };
    Op::TrimRuns {
        namespace: job.namespace.clone(),
        job_id: job.id.clone(),
        keep_successful: keep(job.run_policy.history_successful, server.config.run_history_successful),
        keep_failed: keep(job.run_policy.history_failed, server.config.run_history_failed),
    }
}

fn slot_op(job: &Job, schedule_id: &str, slot: i64) -> Op {
    Op::SetScheduleSlot {
        namespace: job.namespace.clone(),
        job_id: job.id.clone(),
        schedule_id: schedule_id.to_string(),
        slot,
    }
}

/// Writes one action as one transaction.
async fn execute(server: &Server, job: &Job, action: Action, now: i64) -> Result<(), ServerError> {
    let snapshot = server.state.snapshot();
    let mut txn = Txn::default();
    let mut evals = Vec::new();
    match action {
        Action::Launch { schedule_id, slot, replace } => {
            for mut run in replace {
                if let Some(child) = run.current_child().map(str::to_string) {
                    stop_child_ops(server, &snapshot, &job.namespace, &child, &mut txn.ops, &mut evals);
                }
                run.reason = run.stop_reason.clone();
                txn.ops.push(Op::UpsertRuns(vec![run]));
            }
            let (child, eval) = children::periodic_child(&snapshot, job, slot, now);
            let run = children::new_run(job, &child.id, &run_trigger::schedule(&schedule_id), slot, now);
            children::add_new_child(&mut txn, child, std::slice::from_ref(&eval), Some(run));
            evals.push(eval);
            txn.ops.push(slot_op(job, &schedule_id, slot));
        }
        Action::Record { schedule_id, slot, status, reason } => {
            let mut run = children::new_run(job, "", &run_trigger::schedule(&schedule_id), slot, now);
            run.child_job_ids.clear();
            run.status = status.to_string();
            run.reason = reason;
            run.finished_at = now;
            txn.ops.push(Op::UpsertRuns(vec![run]));
            txn.ops.push(slot_op(job, &schedule_id, slot));
            txn.ops.push(trim_op(server, job));
        }
        Action::Update(run) => return write_run_updates(server, job, vec![run]).await,
        Action::Retry(mut run) => {
            let (child, eval) = children::periodic_child(&snapshot, job, now, now);
            run.child_job_ids.push(child.id.clone());
            children::add_new_child(&mut txn, child, std::slice::from_ref(&eval), Some(run));
            evals.push(eval);
        }
        Action::Stop(run) => {
            if let Some(child) = run.current_child() {
                stop_child_ops(server, &snapshot, &job.namespace, child, &mut txn.ops, &mut evals);
            }
            txn.ops.push(Op::UpsertRuns(vec![run]));
        }
    }
    server.commit_with_evals(txn, &evals).await?;
    Ok(())
}

impl Server {
    /// Starts a run of a periodic job now, whatever its concurrency policy
    /// (`drover job periodic force`). Returns the run and the evaluation's index.
    pub async fn force_run(&self, namespace: &str, job_id: &str) -> Result<(Run, String, u64), ServerError> {
        let _guard = self.run_lock.lock().await;
        let snapshot = self.state.snapshot();
        let job =
            snapshot.job(namespace, job_id).ok_or_else(|| ServerError::NotFound(format!("job not found: {job_id}")))?;
        if !job.is_periodic() {
            return Err(ServerError::BadRequest(format!("job {job_id:?} is not periodic")));
        }
        if job.stop {
            return Err(ServerError::BadRequest(format!("job {job_id:?} is stopped")));
        }
        let now = now_nanos();
        let (child, eval) = children::periodic_child(&snapshot, &job, now, now);
        let run = children::new_run(&job, &child.id, run_trigger::MANUAL, now, now);
        let mut txn = Txn::default();
        children::add_new_child(&mut txn, child, std::slice::from_ref(&eval), Some(run.clone()));
        let index = self.commit_with_evals(txn, std::slice::from_ref(&eval)).await?;
        Ok((run, eval.id, index))
    }

    /// Adds a schedule to a job (a new job version). An ID the job already
    /// has is a 409 `A schedule with id <id> already exists`.
    pub async fn add_schedule(&self, namespace: &str, job_id: &str, schedule: JobSchedule) -> Result<u64, ServerError> {
        crate::schedules::validate_schedule(&schedule).map_err(ServerError::BadRequest)?;
        let job = self.editable_job(namespace, job_id)?;
        if job.effective_schedules().iter().any(|existing| existing.id == schedule.id) {
            return Err(ServerError::Conflict(format!("A schedule with id {} already exists", schedule.id)));
        }
        let mut job = (*job).clone();
        let enforce = job.job_modify_index;
        job.schedules.push(schedule);
        Ok(self.register_job(job, Some(enforce)).await?.index)
    }

    /// Replaces a schedule of a job (by its ID).
    pub async fn update_schedule(
        &self,
        namespace: &str,
        job_id: &str,
        schedule: JobSchedule,
    ) -> Result<u64, ServerError> {
        crate::schedules::validate_schedule(&schedule).map_err(ServerError::BadRequest)?;
        let mut job = (*self.editable_job(namespace, job_id)?).clone();
        let Some(slot) = job.schedules.iter_mut().find(|existing| existing.id == schedule.id) else {
            return Err(self.missing_schedule(&job, &schedule.id));
        };
        *slot = schedule;
        let enforce = job.job_modify_index;
        Ok(self.register_job(job, Some(enforce)).await?.index)
    }

    /// Removes a schedule from a job.
    pub async fn remove_schedule(&self, namespace: &str, job_id: &str, schedule_id: &str) -> Result<u64, ServerError> {
        let mut job = (*self.editable_job(namespace, job_id)?).clone();
        let n_before = job.schedules.len();
        job.schedules.retain(|existing| existing.id != schedule_id);
        if job.schedules.len() == n_before {
            return Err(self.missing_schedule(&job, schedule_id));
        }
        let enforce = job.job_modify_index;
        Ok(self.register_job(job, Some(enforce)).await?.index)
    }

    fn editable_job(&self, namespace: &str, job_id: &str) -> Result<Arc<Job>, ServerError> {
        let job = self
            .state
            .snapshot()
            .job(namespace, job_id)
            .ok_or_else(|| ServerError::NotFound(format!("job not found: {job_id}")))?;
        if !job.parent_id.is_empty() {
            return Err(ServerError::BadRequest(format!("job {job_id:?} is a child job; change its parent instead")));
        }
        Ok(job)
    }

    fn missing_schedule(&self, job: &Job, schedule_id: &str) -> ServerError {
        if job.effective_schedules().iter().any(|existing| existing.id == schedule_id) {
            return ServerError::BadRequest(format!(
                "schedule {schedule_id} comes from the job's periodic block; change the jobspec instead"
            ));
        }
        ServerError::NotFound(format!("schedule not found: {schedule_id}"))
    }

    /// Asks a run to stop: its newest child job is stopped (queued work goes at
    /// once, running tasks get SIGTERM and their `kill_timeout`); the run ends
    /// `FAILED` when the child is dead. Returns the run as written.
    pub async fn stop_run(&self, namespace: &str, job_id: &str, run_id: &str) -> Result<(Run, u64), ServerError> {
        let _guard = self.run_lock.lock().await;
        let snapshot = self.state.snapshot();
        let job =
            snapshot.job(namespace, job_id).ok_or_else(|| ServerError::NotFound(format!("job not found: {job_id}")))?;
        let mut run = snapshot
            .run(namespace, job_id, run_id)
            .map(|run| (*run).clone())
            .ok_or_else(|| ServerError::NotFound(format!("run not found: {run_id}")))?;
        if run.is_terminal() {
            return Ok((run, snapshot.index()));
        }
        if run.stop_reason.is_empty() {
            run.stop_reason = "stopped: by request".to_string();
        }
        let mut ops = Vec::new();
        let mut evals = Vec::new();
        if let Some(child) = run.current_child() {
            stop_child_ops(self, &snapshot, &job.namespace, child, &mut ops, &mut evals);
        }
        ops.push(Op::UpsertRuns(vec![run.clone()]));
        let index = self.commit_with_evals(Txn { preconditions: vec![], ops }, &evals).await?;
        Ok((run, index))
    }
}

#[cfg(test)]
mod tests;
