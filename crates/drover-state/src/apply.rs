//! Applying a transaction to the in-memory state: a function of the state,
//! the transaction, the new index and the time.
//!
//! The writer (`writer.rs`) applies a batch in place: for each transaction
//! [`check_preconditions`], then [`apply_ops_in_place`] straight on the
//! working maps (no copy), which also derives the status of every job the
//! transaction touched and reports which storage rows changed
//! ([`ChangedRows`]) so the writer knows what to persist. An op that fails
//! part-way leaves the maps half-changed; the writer then rebuilds them by
//! replaying the batch so far on the last published maps (see `writer.rs`).
//! [`apply_txn`] is the all-or-nothing form on a copy of the maps (cheap:
//! `imbl` shares structure), for tests.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use drover_types::{Allocation, Job, JobHistory, Node, Run, eligibility, job_status, run_status};

use crate::maps::{JobKey, JobVersionKey, Key, RunKey, StateMaps, job_key, run_key};
use crate::{AllocDesiredUpdate, Change, ChangedObject, Op, Precondition, StateError, Txn};

/// What one successful transaction produced.
pub(crate) struct Applied {
    /// One change per object touched, as the object is after the transaction.
    pub(crate) changes: Vec<Change>,
    /// The storage rows to rewrite or delete.
    pub(crate) rows: ChangedRows,
}

/// Keys of storage rows changed by one or more transactions. A key whose
/// object is present in the final state is written; an absent one is deleted.
#[derive(Debug, Default)]
pub(crate) struct ChangedRows {
    /// Jobs (latest version).
    pub(crate) jobs: BTreeSet<JobKey>,
    /// Job versions older than the latest (the latest is the `jobs` row).
    pub(crate) job_versions: BTreeSet<JobVersionKey>,
    /// Jobs whose every version must be deleted first (purged).
    pub(crate) job_versions_purged: BTreeSet<JobKey>,
    /// Evaluations.
    pub(crate) evals: BTreeSet<String>,
    /// Allocations.
    pub(crate) allocs: BTreeSet<String>,
    /// Nodes.
    pub(crate) nodes: BTreeSet<String>,
    /// Key/value records.
    pub(crate) kv: BTreeSet<crate::maps::KvKey>,
    /// Runs.
    pub(crate) runs: BTreeSet<RunKey>,
    /// Job histories.
    pub(crate) histories: BTreeSet<JobKey>,
}

impl ChangedRows {
    /// Adds the rows of a later transaction.
    pub(crate) fn merge(&mut self, later: ChangedRows) {
        self.jobs.extend(later.jobs);
        self.job_versions.extend(later.job_versions);
        self.job_versions_purged.extend(later.job_versions_purged);
        self.evals.extend(later.evals);
        self.allocs.extend(later.allocs);
        self.nodes.extend(later.nodes);
        self.kv.extend(later.kv);
        self.runs.extend(later.runs);
        self.histories.extend(later.histories);
    }
}

/// Applies `txn` at `index` (every object written gets it as `ModifyIndex`)
/// and returns the changes; on error `state` is unchanged.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn apply_txn(state: &mut StateMaps, txn: &Txn, index: u64, now: i64) -> Result<Vec<Change>, StateError> {
    apply_txn_with_rows(state, txn, index, now).map(|applied| applied.changes)
}

/// [`apply_txn`], also reporting the storage rows changed.
pub(crate) fn apply_txn_with_rows(
    state: &mut StateMaps,
    txn: &Txn,
    index: u64,
    now: i64,
) -> Result<Applied, StateError> {
    check_preconditions(state, txn)?;
    let mut next = state.clone();
    let applied = apply_ops_in_place(&mut next, &mut txn.clone(), index, now)?;
    *state = next;
    Ok(applied)
}

/// Checks every precondition of `txn` against `state`, changing nothing.
pub(crate) fn check_preconditions(state: &StateMaps, txn: &Txn) -> Result<(), StateError> {
    txn.preconditions.iter().try_for_each(|precondition| check_precondition(state, precondition))
}

/// Applies the ops of `txn` (whose preconditions the caller has checked)
/// to `state` itself, without the copy [`apply_txn_with_rows`] makes to
/// keep `state` whole on error: a failing op may leave part of the
/// transaction applied, so on `Err` the caller must throw `state` away. The
/// writer applies a batch this way and rebuilds its working state when an op
/// fails (rare), rather than copying the touched paths of every map once per
/// transaction (a fifth of the writer thread's time at one dispatch per
/// transaction).
///
/// The allocations of an [`Op::UpsertAllocs`] get their indexes in `txn`
/// itself and are stored as they are (no copy while `txn` holds the only
/// reference); applying `txn` again (a replay) gives the same result.
pub(crate) fn apply_ops_in_place(
    state: &mut StateMaps,
    txn: &mut Txn,
    index: u64,
    now: i64,
) -> Result<Applied, StateError> {
    let mut tracker = Tracker::default();
    for op in &mut txn.ops {
        apply_op(state, op, index, now, &mut tracker)?;
    }
    derive_job_statuses(state, index, &mut tracker);
    let changes = tracker.changes(state, index);
    Ok(Applied { changes, rows: tracker.rows })
}

/// The status a job should have given its allocations and evaluations.
/// Costs O(allocations + evaluations of that job).
pub(crate) fn derive_job_status(state: &StateMaps, job: &Job) -> &'static str {
    if job.is_template() {
        return if job.stop { job_status::DEAD } else { job_status::RUNNING };
    }
    let key = job_key(&job.namespace, &job.id);
    let any_alloc_live =
        state.allocs_by_job.ids(&key).any(|id| state.allocs.get(id).is_some_and(|alloc| !alloc.terminal()));
    if any_alloc_live {
        return job_status::RUNNING;
    }
    let any_eval_open =
        state.evals_by_job.ids(&key).any(|id| state.evals.get(id).is_some_and(|eval| !eval.is_terminal()));
    if any_eval_open {
        return job_status::PENDING;
    }
    let has_allocs = state.allocs_by_job.ids(&key).next().is_some();
    if job.stop || has_allocs { job_status::DEAD } else { job_status::PENDING }
}

/// One object touched by a transaction, in the order first touched.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Touched {
    Job(JobKey),
    Eval(String),
    Alloc(String),
    Node(String),
    Run(RunKey),
    History(JobKey),
}

/// Bookkeeping while a transaction's operations run.
#[derive(Default)]
struct Tracker {
    touched_order: Vec<Touched>,
    touched_seen: HashSet<Touched>,
    /// Jobs whose status must be derived once every operation has run.
    jobs_needing_status: BTreeSet<JobKey>,
    rows: ChangedRows,
}

impl Tracker {
    fn touch(&mut self, touched: Touched) {
        if self.touched_seen.insert(touched.clone()) {
            self.touched_order.push(touched);
        }
    }

    fn touch_job(&mut self, key: JobKey) {
        self.rows.jobs.insert(key.clone());
        self.jobs_needing_status.insert(key.clone());
        self.touch(Touched::Job(key));
    }

    fn touch_eval(&mut self, eval_id: &str, namespace: &str, job_id: &str) {
        self.rows.evals.insert(eval_id.to_string());
        self.jobs_needing_status.insert(job_key(namespace, job_id));
        self.touch(Touched::Eval(eval_id.to_string()));
    }

    fn touch_alloc(&mut self, alloc_id: &str, namespace: &str, job_id: &str) {
        self.rows.allocs.insert(alloc_id.to_string());
        self.jobs_needing_status.insert(job_key(namespace, job_id));
        self.touch(Touched::Alloc(alloc_id.to_string()));
    }

    fn touch_node(&mut self, node_id: &str) {
        self.rows.nodes.insert(node_id.to_string());
        self.touch(Touched::Node(node_id.to_string()));
    }

    fn touch_run(&mut self, key: RunKey) {
        self.rows.runs.insert(key.clone());
        self.touch(Touched::Run(key));
    }

    fn touch_history(&mut self, key: JobKey) {
        self.rows.histories.insert(key.clone());
        self.touch(Touched::History(key));
    }

    /// The changes, as each touched object is in `state`. Deleted evaluations
    /// and allocations have no [`ChangedObject`] variant and are left out.
    fn changes(&self, state: &StateMaps, index: u64) -> Vec<Change> {
        let mut changes = Vec::with_capacity(self.touched_order.len());
        for touched in &self.touched_order {
            let object = match touched {
                Touched::Job(key) => match state.jobs.get(key) {
                    Some(job) => ChangedObject::Job(Arc::clone(job)),
                    None => ChangedObject::JobDeleted { namespace: key.0.to_string(), job_id: key.1.to_string() },
                },
                Touched::Eval(eval_id) => match state.evals.get(eval_id.as_str()) {
                    Some(eval) => ChangedObject::Eval(Arc::clone(eval)),
                    None => continue,
                },
                Touched::Alloc(alloc_id) => match state.allocs.get(alloc_id.as_str()) {
                    Some(alloc) => ChangedObject::Alloc(Arc::clone(alloc)),
                    None => continue,
                },
                Touched::Node(node_id) => match state.nodes.get(node_id.as_str()) {
                    Some(node) => ChangedObject::Node(Arc::clone(node)),
                    None => ChangedObject::NodeDeleted(node_id.clone()),
                },
                Touched::Run(key) => match state.runs.get(key) {
                    Some(run) => ChangedObject::Run(Arc::clone(run)),
                    None => continue,
                },
                Touched::History(key) => match state.histories.get(key) {
                    Some(history) => ChangedObject::JobHistory(Arc::clone(history)),
                    None => continue,
                },
            };
            changes.push(Change { index, object });
        }
        changes
    }
}

fn check_precondition(state: &StateMaps, precondition: &Precondition) -> Result<(), StateError> {
    match precondition {
        Precondition::JobModifyIndex { namespace, job_id, index: expected } => {
            let existing = state.jobs.get(&job_key(namespace, job_id));
            match (existing, *expected) {
                (None, 0) => Ok(()),
                (None, expected) => {
                    Err(StateError::Conflict(format!("Enforcing job modify index {expected}: job does not exist")))
                }
                (Some(job), expected) if job.job_modify_index == expected => Ok(()),
                (Some(job), expected) => Err(StateError::Conflict(format!(
                    "Enforcing job modify index {expected}: job exists with conflicting job modify index: {}",
                    job.job_modify_index
                ))),
            }
        }
    }
}

fn apply_op(state: &mut StateMaps, op: &mut Op, index: u64, now: i64, tracker: &mut Tracker) -> Result<(), StateError> {
    match op {
        Op::UpsertJob(job) => {
            upsert_job(state, job, index, now, tracker);
            Ok(())
        }
        Op::PurgeJob { namespace, job_id } => purge_job(state, namespace, job_id, tracker),
        Op::UpsertEvals(evals) => {
            for eval in evals {
                let mut stored = eval.clone();
                stored.create_index = state.evals.get(eval.id.as_str()).map_or(index, |old| old.create_index);
                stored.modify_index = index;
                let old = state.put_eval(Arc::new(stored));
                if let Some(old) = old {
                    // The job it belonged to may change status too.
                    tracker.jobs_needing_status.insert(job_key(&old.namespace, &old.job_id));
                }
                tracker.touch_eval(&eval.id, &eval.namespace, &eval.job_id);
            }
            Ok(())
        }
        Op::DeleteEvals(eval_ids) => {
            for eval_id in eval_ids {
                if let Some(old) = state.remove_eval(eval_id) {
                    tracker.touch_eval(eval_id, &old.namespace, &old.job_id);
                }
            }
            Ok(())
        }
        Op::UpsertAllocs(allocs) => {
            for alloc in allocs.iter_mut() {
                let create_index = state.allocs.get(alloc.id.as_str()).map_or(index, |old| old.create_index);
                // A copy only when shared (a replay: the discarded maps hold it).
                let stored = Arc::make_mut(alloc);
                stored.job = None;
                stored.create_index = create_index;
                stored.modify_index = index;
                stored.alloc_modify_index = index;
                put_alloc_tracked(state, Arc::clone(alloc), tracker);
            }
            Ok(())
        }
        Op::UpdateAllocsDesired(updates) => {
            for update in updates {
                let Some(existing) = state.allocs.get(update.alloc_id.as_str()) else {
                    return Err(StateError::NotFound(format!("alloc {} not found", update.alloc_id)));
                };
                let mut stored = Allocation::clone(existing);
                apply_desired_update(&mut stored, update);
                stored.modify_index = index;
                stored.alloc_modify_index = index;
                stored.modify_time = now;
                put_alloc_tracked(state, Arc::new(stored), tracker);
            }
            Ok(())
        }
        Op::UpdateAllocsFromClient(updates) => {
            for update in updates {
                // A client may report an allocation that was garbage collected.
                let Some(existing) = state.allocs.get(update.id.as_str()) else { continue };
                let mut stored = Allocation::clone(existing);
                if !update.client_status.is_empty() {
                    stored.client_status = update.client_status.clone();
                    stored.client_description = update.client_description.clone();
                } else if !update.client_description.is_empty() {
                    stored.client_description = update.client_description.clone();
                }
                for (task_name, task_state) in &update.task_states {
                    stored.task_states.insert(task_name.clone(), task_state.clone());
                }
                stored.modify_index = index;
                stored.modify_time = now;
                put_alloc_tracked(state, Arc::new(stored), tracker);
            }
            Ok(())
        }
        Op::DeleteAllocs(alloc_ids) => {
            for alloc_id in alloc_ids {
                if let Some(old) = state.remove_alloc(alloc_id) {
                    tracker.touch_alloc(alloc_id, &old.namespace, &old.job_id);
                }
            }
            Ok(())
        }
        Op::UpsertNode(node) => {
            upsert_node(state, node, index, tracker);
            Ok(())
        }
        Op::UpdateNodeStatus { node_id, status, heartbeat } => update_node(state, node_id, index, tracker, |node| {
            node.status = status.clone();
            node.status_updated_at = now.div_euclid(1_000_000_000);
            if *heartbeat != 0 {
                node.last_heartbeat = *heartbeat;
            }
        }),
        Op::UpdateNodeEligibility { node_id, eligibility } => {
            update_node(state, node_id, index, tracker, |node| node.scheduling_eligibility = eligibility.clone())
        }
        Op::UpdateNodeDrain { node_id, drain } => update_node(state, node_id, index, tracker, |node| match drain {
            Some(strategy) => {
                node.drain = true;
                node.drain_strategy = Some(strategy.clone());
                node.scheduling_eligibility = eligibility::INELIGIBLE.to_string();
            }
            None => {
                node.drain = false;
                node.drain_strategy = None;
                node.scheduling_eligibility = eligibility::ELIGIBLE.to_string();
            }
        }),
        Op::DeleteNode(node_id) => {
            if state.remove_node(node_id).is_none() {
                return Err(StateError::NotFound(format!("node {node_id} not found")));
            }
            tracker.touch_node(node_id);
            Ok(())
        }
        Op::PutKv { table, key, value } => {
            let kv_key = (table.clone(), key.clone());
            match value {
                Some(value) => {
                    state.kv.insert(kv_key.clone(), Arc::from(value.as_str()));
                }
                None => {
                    state.kv.remove(&kv_key);
                }
            }
            tracker.rows.kv.insert(kv_key);
            Ok(())
        }
        Op::UpsertRuns(runs) => {
            for run in runs {
                upsert_run(state, run, index, now, tracker);
            }
            Ok(())
        }
        Op::SetScheduleSlot { namespace, job_id, schedule_id, slot } => {
            update_history(state, namespace, job_id, index, tracker, |history| {
                let entry = history.schedule_slots.entry(schedule_id.clone()).or_insert(*slot);
                *entry = (*entry).max(*slot);
            });
            Ok(())
        }
        Op::TrimRuns { namespace, job_id, keep_successful, keep_failed } => {
            trim_runs(state, namespace, job_id, *keep_successful, *keep_failed, tracker);
            Ok(())
        }
    }
}

fn upsert_run(state: &mut StateMaps, run: &Run, index: u64, now: i64, tracker: &mut Tracker) {
    let key = run_key(run);
    let old = state.runs.get(&key).cloned();
    let mut stored = run.clone();
    stored.create_index = old.as_ref().map_or(index, |old| old.create_index);
    stored.modify_index = index;
    let newly_terminal = stored.is_terminal() && !old.as_ref().is_some_and(|old| old.is_terminal());
    if newly_terminal {
        let finished_at = if stored.finished_at == 0 { now } else { stored.finished_at };
        stored.finished_at = finished_at;
        let status = stored.status.clone();
        update_history(state, &run.namespace, &run.job_id, index, tracker, |history| match status.as_str() {
            run_status::SUCCESS => {
                history.success_count += 1;
                history.last_success_at = history.last_success_at.max(finished_at);
            }
            run_status::FAILED => {
                history.failure_count += 1;
                history.last_failure_at = history.last_failure_at.max(finished_at);
            }
            _ => history.skipped_count += 1,
        });
    }
    state.put_run(Arc::new(stored));
    tracker.touch_run(key);
}

fn update_history(
    state: &mut StateMaps,
    namespace: &str,
    job_id: &str,
    index: u64,
    tracker: &mut Tracker,
    change: impl FnOnce(&mut JobHistory),
) {
    let key = job_key(namespace, job_id);
    let mut history = match state.histories.get(&key) {
        Some(existing) => JobHistory::clone(existing),
        None => JobHistory { namespace: namespace.to_string(), job_id: job_id.to_string(), ..JobHistory::default() },
    };
    change(&mut history);
    history.modify_index = index;
    state.histories.insert(key.clone(), Arc::new(history));
    tracker.touch_history(key);
}

/// Deletes the oldest finished runs of a job beyond the limits.
fn trim_runs(
    state: &mut StateMaps,
    namespace: &str,
    job_id: &str,
    keep_successful: usize,
    keep_failed: usize,
    tracker: &mut Tracker,
) {
    // O(finished runs kept), not O(all runs): a parent with a large backlog
    // of active dispatched runs trims on every finish.
    let job = job_key(namespace, job_id);
    for (succeeded, keep) in [(true, keep_successful), (false, keep_failed)] {
        let finished = state.finished_run_keys(&job, succeeded);
        let n_delete = finished.len().saturating_sub(keep);
        for key in finished.into_iter().take(n_delete) {
            state.remove_run(&key);
            tracker.touch_run(key);
        }
    }
}

fn upsert_job(state: &mut StateMaps, job: &Job, index: u64, now: i64, tracker: &mut Tracker) {
    let key = job_key(&job.namespace, &job.id);
    let existing = state.jobs.get(&key).cloned();
    let stored = match existing {
        Some(existing) if existing.spec_eq(job) => {
            let mut stored = Job::clone(&existing);
            if stored.stop != job.stop {
                stored.stop = job.stop;
                stored.job_modify_index = index;
            }
            stored.modify_index = index;
            stored
        }
        existing => {
            let mut stored = job.clone();
            stored.version = existing.as_ref().map_or(0, |old| old.version + 1);
            stored.create_index = existing.as_ref().map_or(index, |old| old.create_index);
            stored.status = existing.as_ref().map_or_else(String::new, |old| old.status.clone());
            stored.job_modify_index = index;
            stored.modify_index = index;
            if stored.submit_time == 0 {
                stored.submit_time = now;
            }
            if let Some(superseded) = existing {
                keep_superseded_version(state, superseded, tracker);
            }
            stored
        }
    };
    state.put_job(Arc::new(stored));
    tracker.touch_job(key);
}

/// Moves the version a new one replaces from `jobs` to `job_versions` (the
/// latest version lives in `jobs` only), and has its row written.
fn keep_superseded_version(state: &mut StateMaps, superseded: Arc<Job>, tracker: &mut Tracker) {
    let version_key = (Key::namespace(&superseded.namespace), Key::from(&superseded.id), superseded.version);
    state.put_job_version(superseded);
    tracker.rows.job_versions.insert(version_key);
}

fn purge_job(state: &mut StateMaps, namespace: &str, job_id: &str, tracker: &mut Tracker) -> Result<(), StateError> {
    if state.remove_job(namespace, job_id).is_none() {
        return Err(StateError::NotFound(format!("job {job_id:?} in namespace {namespace:?} not found")));
    }
    let key = job_key(namespace, job_id);
    tracker.rows.job_versions_purged.insert(key.clone());
    // A child's row may name one of these versions for its task groups
    // (`backend::JobRow`): rewrite the children's rows, whole now.
    tracker.rows.jobs.extend(state.children_by_parent.ids(&key).map(|child_id| job_key(namespace, child_id)));
    for run_key in state.run_keys_of_job(namespace, job_id) {
        state.remove_run(&run_key);
        tracker.touch_run(run_key);
    }
    if state.histories.remove(&key).is_some() {
        tracker.touch_history(key.clone());
    }
    tracker.touch_job(key);
    Ok(())
}

fn put_alloc_tracked(state: &mut StateMaps, alloc: Arc<Allocation>, tracker: &mut Tracker) {
    if let Some(old) = state.put_alloc(Arc::clone(&alloc)) {
        tracker.jobs_needing_status.insert(job_key(&old.namespace, &old.job_id));
    }
    tracker.touch_alloc(&alloc.id, &alloc.namespace, &alloc.job_id);
}

fn apply_desired_update(alloc: &mut Allocation, update: &AllocDesiredUpdate) {
    if let Some(desired_status) = &update.desired_status {
        alloc.desired_status = desired_status.clone();
    }
    if let Some(desired_description) = &update.desired_description {
        alloc.desired_description = desired_description.clone();
    }
    if let Some(client_status) = &update.client_status {
        alloc.client_status = client_status.clone();
    }
    if let Some(next_allocation) = &update.next_allocation {
        alloc.next_allocation = next_allocation.clone();
    }
    if let Some(followup_eval_id) = &update.followup_eval_id {
        alloc.followup_eval_id = followup_eval_id.clone();
    }
    if let Some(eval_id) = &update.eval_id {
        alloc.eval_id = eval_id.clone();
    }
    if let Some(job_version) = update.job_version {
        alloc.job_version = job_version;
    }
}

fn upsert_node(state: &mut StateMaps, node: &Node, index: u64, tracker: &mut Tracker) {
    let mut stored = node.clone();
    match state.nodes.get(node.id.as_str()) {
        Some(existing) => {
            stored.create_index = existing.create_index;
            if existing.drain || existing.drain_strategy.is_some() {
                stored.drain = existing.drain;
                stored.drain_strategy = existing.drain_strategy.clone();
            }
            if !existing.scheduling_eligibility.is_empty() {
                stored.scheduling_eligibility = existing.scheduling_eligibility.clone();
            }
        }
        None => stored.create_index = index,
    }
    if stored.scheduling_eligibility.is_empty() {
        stored.scheduling_eligibility = eligibility::ELIGIBLE.to_string();
    }
    stored.modify_index = index;
    state.put_node(Arc::new(stored));
    tracker.touch_node(&node.id);
}

fn update_node(
    state: &mut StateMaps,
    node_id: &str,
    index: u64,
    tracker: &mut Tracker,
    change: impl FnOnce(&mut Node),
) -> Result<(), StateError> {
    let Some(existing) = state.nodes.get(node_id) else {
        return Err(StateError::NotFound(format!("node {node_id} not found")));
    };
    let mut stored = Node::clone(existing);
    change(&mut stored);
    stored.modify_index = index;
    state.put_node(Arc::new(stored));
    tracker.touch_node(node_id);
    Ok(())
}

/// Writes the derived status into every job the transaction touched.
fn derive_job_statuses(state: &mut StateMaps, index: u64, tracker: &mut Tracker) {
    let keys: Vec<JobKey> = tracker.jobs_needing_status.iter().cloned().collect();
    for key in keys {
        let Some(job) = state.jobs.get(&key) else { continue };
        let status = derive_job_status(state, job);
        if job.status == status {
            continue;
        }
        let mut stored = Job::clone(job);
        stored.status = status.to_string();
        stored.modify_index = index;
        state.put_job(Arc::new(stored));
        tracker.touch_job(key);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use drover_types::{
        AllocClientUpdate, AllocatedCpu, AllocatedMemory, AllocatedResources, AllocatedSharedResources,
        AllocatedTaskResources, DrainStrategy, Evaluation, ParameterizedJobConfig, TaskGroup, client_status,
        desired_status, eval_status, node_status,
    };

    use super::*;

    const NOW: i64 = 1_700_000_000_123_456_789;

    fn job(job_id: &str) -> Job {
        Job {
            id: job_id.to_string(),
            name: job_id.to_string(),
            namespace: "default".to_string(),
            task_groups: vec![TaskGroup { name: "web".to_string(), ..TaskGroup::default() }].into(),
            ..Job::default()
        }
    }

    fn eval(eval_id: &str, job_id: &str, status: &str) -> Evaluation {
        Evaluation {
            id: eval_id.to_string(),
            namespace: "default".to_string(),
            job_id: job_id.to_string(),
            status: status.to_string(),
            ..Evaluation::default()
        }
    }

    fn alloc(alloc_id: &str, job_id: &str, node_id: &str, cpu: u64, memory_mb: u64, disk_mb: u64) -> Allocation {
        let task =
            AllocatedTaskResources { cpu: AllocatedCpu { cpu_shares: cpu }, memory: AllocatedMemory { memory_mb } };
        Allocation {
            id: alloc_id.to_string(),
            namespace: "default".to_string(),
            eval_id: "eval-1".to_string(),
            node_id: node_id.to_string(),
            job_id: job_id.to_string(),
            task_group: "web".to_string(),
            allocated_resources: AllocatedResources {
                tasks: BTreeMap::from([("task".to_string(), task)]),
                shared: AllocatedSharedResources { disk_mb },
            },
            desired_status: desired_status::RUN.to_string(),
            client_status: client_status::PENDING.to_string(),
            ..Allocation::default()
        }
    }

    fn node(node_id: &str) -> Node {
        Node { id: node_id.to_string(), status: node_status::READY.to_string(), ..Node::default() }
    }

    fn txn(ops: Vec<Op>) -> Txn {
        Txn { preconditions: Vec::new(), ops }
    }

    /// Applies ops that must succeed.
    fn apply_ok(state: &mut StateMaps, index: u64, ops: Vec<Op>) -> Vec<Change> {
        apply_txn(state, &txn(ops), index, NOW).expect("the transaction applies")
    }

    fn stored_job(state: &StateMaps, job_id: &str) -> Arc<Job> {
        Arc::clone(state.jobs.get(&job_key("default", job_id)).expect("job stored"))
    }

    fn used(state: &StateMaps, node_id: &str) -> (u64, u64, u64) {
        let used = state.used_on_node(node_id);
        (used.cpu, used.memory_mb, used.disk_mb)
    }

    fn client_update(alloc_id: &str, status: &str) -> AllocClientUpdate {
        AllocClientUpdate {
            id: alloc_id.to_string(),
            client_status: status.to_string(),
            client_description: format!("now {status}"),
            task_states: BTreeMap::new(),
        }
    }

    fn snapshot_of(state: &StateMaps) -> crate::Snapshot {
        crate::Snapshot::new(0, state.clone(), None)
    }

    /// `(version, priority)` of every version of a job, newest first, as readers see them.
    fn versions(state: &StateMaps, job_id: &str) -> Vec<(u64, i32)> {
        snapshot_of(state).job_versions("default", job_id).iter().map(|job| (job.version, job.priority)).collect()
    }

    #[test]
    fn new_job_gets_version_zero_and_the_txn_index() {
        let mut state = StateMaps::default();
        apply_ok(&mut state, 7, vec![Op::UpsertJob(job("web"))]);
        let stored = stored_job(&state, "web");
        assert_eq!((stored.version, stored.create_index, stored.modify_index, stored.job_modify_index), (0, 7, 7, 7));
        assert_eq!(stored.submit_time, NOW);
        assert_eq!(stored.status, job_status::PENDING);
        let version = snapshot_of(&state).job_version("default", "web", 0).expect("version 0");
        assert_eq!(version.status, job_status::PENDING);
        assert!(state.job_versions.is_empty(), "the latest version is held once, in jobs");
    }

    #[test]
    fn given_submit_time_is_kept() {
        let mut state = StateMaps::default();
        apply_ok(&mut state, 1, vec![Op::UpsertJob(Job { submit_time: 42, ..job("web") })]);
        assert_eq!(stored_job(&state, "web").submit_time, 42);
    }

    #[test]
    fn identical_spec_keeps_version_and_job_modify_index() {
        let mut state = StateMaps::default();
        apply_ok(&mut state, 1, vec![Op::UpsertJob(job("web"))]);
        apply_ok(&mut state, 2, vec![Op::UpsertJob(Job { submit_time: 99, ..job("web") })]);
        let stored = stored_job(&state, "web");
        assert_eq!((stored.version, stored.create_index, stored.modify_index, stored.job_modify_index), (0, 1, 2, 1));
        assert_eq!(stored.submit_time, NOW, "submit time of the kept version");
        assert_eq!(versions(&state, "web"), vec![(0, 0)]);
    }

    #[test]
    fn spec_change_bumps_version_and_keeps_old_version() {
        let mut state = StateMaps::default();
        apply_ok(&mut state, 1, vec![Op::UpsertJob(job("web"))]);
        apply_ok(&mut state, 2, vec![Op::UpsertJob(Job { priority: 70, ..job("web") })]);
        let stored = stored_job(&state, "web");
        assert_eq!((stored.version, stored.create_index, stored.modify_index, stored.job_modify_index), (1, 1, 2, 2));
        assert_eq!(versions(&state, "web"), vec![(1, 70), (0, 0)]);
        let older: Vec<(u64, i32)> = state.job_versions.values().map(|job| (job.version, job.priority)).collect();
        assert_eq!(older, vec![(0, 0)], "only the superseded version is kept apart");
    }

    #[test]
    fn stop_toggle_bumps_job_modify_index_but_not_version() {
        let mut state = StateMaps::default();
        apply_ok(&mut state, 1, vec![Op::UpsertJob(job("web"))]);
        apply_ok(&mut state, 2, vec![Op::UpsertJob(Job { stop: true, ..job("web") })]);
        let stored = stored_job(&state, "web");
        assert!(stored.stop);
        assert_eq!((stored.version, stored.modify_index, stored.job_modify_index), (0, 2, 2));
        assert_eq!(stored.status, job_status::DEAD);
        assert_eq!(versions(&state, "web"), vec![(0, 0)], "a stop stores no new version");

        apply_ok(&mut state, 3, vec![Op::UpsertJob(job("web"))]);
        let stored = stored_job(&state, "web");
        assert!(!stored.stop);
        assert_eq!((stored.version, stored.job_modify_index), (0, 3));
        assert_eq!(stored.status, job_status::PENDING);
    }

    #[test]
    fn preconditions_on_job_modify_index() {
        let mut state = StateMaps::default();
        let register = |index: u64| Txn {
            preconditions: vec![Precondition::JobModifyIndex {
                namespace: "default".to_string(),
                job_id: "web".to_string(),
                index,
            }],
            ops: vec![Op::UpsertJob(Job { priority: index as i32 + 1, ..job("web") })],
        };

        let err = apply_txn(&mut state, &register(5), 1, NOW).expect_err("job missing");
        assert_eq!(err.to_string(), "Enforcing job modify index 5: job does not exist");
        assert!(state.jobs.is_empty());

        apply_txn(&mut state, &register(0), 1, NOW).expect("index 0 on a new job");
        let err = apply_txn(&mut state, &register(0), 2, NOW).expect_err("job exists");
        assert!(matches!(err, StateError::Conflict(_)));
        assert_eq!(err.to_string(), "Enforcing job modify index 0: job exists with conflicting job modify index: 1");
        let err = apply_txn(&mut state, &register(9), 2, NOW).expect_err("wrong index");
        assert_eq!(err.to_string(), "Enforcing job modify index 9: job exists with conflicting job modify index: 1");
        assert_eq!(stored_job(&state, "web").modify_index, 1, "nothing written");

        apply_txn(&mut state, &register(1), 2, NOW).expect("matching index");
        assert_eq!(stored_job(&state, "web").job_modify_index, 2);
    }

    #[test]
    fn failing_op_leaves_state_unchanged() {
        let mut state = StateMaps::default();
        apply_ok(&mut state, 1, vec![Op::UpsertNode(node("n1"))]);
        let before = state.clone();
        let failing = txn(vec![
            Op::UpsertJob(job("web")),
            Op::upsert_allocs(vec![alloc("a1", "web", "n1", 100, 256, 10)]),
            Op::UpdateAllocsDesired(vec![AllocDesiredUpdate {
                alloc_id: "missing".to_string(),
                ..AllocDesiredUpdate::default()
            }]),
        ]);
        let err = apply_txn(&mut state, &failing, 2, NOW).expect_err("unknown alloc");
        assert!(matches!(err, StateError::NotFound(_)));
        assert!(state.jobs.is_empty() && state.allocs.is_empty() && state.node_used.is_empty());
        assert_eq!(state.nodes, before.nodes);
    }

    #[test]
    fn job_status_follows_evals_and_allocs() {
        let mut state = StateMaps::default();
        apply_ok(&mut state, 1, vec![Op::UpsertJob(job("web"))]);
        assert_eq!(stored_job(&state, "web").status, job_status::PENDING);

        apply_ok(&mut state, 2, vec![Op::UpsertEvals(vec![eval("e1", "web", eval_status::PENDING)])]);
        assert_eq!(stored_job(&state, "web").status, job_status::PENDING);

        let changes = apply_ok(
            &mut state,
            3,
            vec![
                Op::upsert_allocs(vec![alloc("a1", "web", "n1", 100, 256, 10)]),
                Op::UpsertEvals(vec![eval("e1", "web", eval_status::COMPLETE)]),
            ],
        );
        let stored = stored_job(&state, "web");
        assert_eq!((stored.status.as_str(), stored.modify_index), (job_status::RUNNING, 3));
        assert!(
            changes.iter().any(|change| matches!(&change.object, ChangedObject::Job(job) if job.status == "running")),
            "the status change is announced"
        );

        apply_ok(&mut state, 4, vec![Op::UpdateAllocsFromClient(vec![client_update("a1", client_status::COMPLETE)])]);
        assert_eq!(stored_job(&state, "web").status, job_status::DEAD);

        // An unchanged status is not rewritten.
        apply_ok(&mut state, 5, vec![Op::UpsertEvals(vec![eval("e2", "web", eval_status::COMPLETE)])]);
        assert_eq!(stored_job(&state, "web").modify_index, 4);

        apply_ok(&mut state, 6, vec![Op::UpsertEvals(vec![eval("e3", "web", eval_status::BLOCKED)])]);
        assert_eq!(stored_job(&state, "web").status, job_status::PENDING);

        apply_ok(&mut state, 7, vec![Op::DeleteEvals(vec!["e3".to_string()])]);
        assert_eq!(stored_job(&state, "web").status, job_status::DEAD, "has (terminal) allocs");
    }

    #[test]
    fn template_jobs_are_running_until_stopped() {
        let mut state = StateMaps::default();
        let template = Job { parameterized_job: Some(ParameterizedJobConfig::default()), ..job("tmpl") };
        apply_ok(&mut state, 1, vec![Op::UpsertJob(template.clone())]);
        assert_eq!(stored_job(&state, "tmpl").status, job_status::RUNNING);
        apply_ok(&mut state, 2, vec![Op::UpsertJob(Job { stop: true, ..template })]);
        assert_eq!(stored_job(&state, "tmpl").status, job_status::DEAD);
    }

    #[test]
    fn node_used_follows_non_terminal_allocs() {
        let mut state = StateMaps::default();
        apply_ok(
            &mut state,
            1,
            vec![Op::upsert_allocs(vec![
                alloc("a1", "web", "n1", 100, 256, 10),
                alloc("a2", "web", "n1", 200, 512, 20),
                alloc("a3", "web", "n2", 50, 64, 0),
            ])],
        );
        assert_eq!(used(&state, "n1"), (300, 768, 30));
        assert_eq!(used(&state, "n2"), (50, 64, 0));

        // Client says complete: terminal.
        apply_ok(&mut state, 2, vec![Op::UpdateAllocsFromClient(vec![client_update("a1", client_status::COMPLETE)])]);
        assert_eq!(used(&state, "n1"), (200, 512, 20));

        // Desired stop while the client never started it: terminal.
        apply_ok(
            &mut state,
            3,
            vec![Op::UpdateAllocsDesired(vec![AllocDesiredUpdate {
                alloc_id: "a3".to_string(),
                desired_status: Some(desired_status::STOP.to_string()),
                ..AllocDesiredUpdate::default()
            }])],
        );
        assert_eq!(used(&state, "n2"), (0, 0, 0));
        assert!(!state.node_used.contains_key("n2"), "empty entries are dropped");

        // Moving an alloc to another node moves its resources.
        apply_ok(&mut state, 4, vec![Op::upsert_allocs(vec![alloc("a2", "web", "n2", 200, 512, 20)])]);
        assert_eq!(used(&state, "n1"), (0, 0, 0));
        assert_eq!(used(&state, "n2"), (200, 512, 20));
        assert_eq!(state.allocs_by_node.count(&Key::from("n2")), 2);

        // Deleting a terminal alloc changes nothing; a live one frees its resources.
        apply_ok(&mut state, 5, vec![Op::DeleteAllocs(vec!["a1".to_string(), "a2".to_string()])]);
        assert_eq!(used(&state, "n2"), (0, 0, 0));
        assert!(!state.allocs_by_node.has_key(&Key::from("n1")));
    }

    #[test]
    fn every_object_of_a_txn_shares_its_index() {
        let mut state = StateMaps::default();
        let changes = apply_ok(
            &mut state,
            11,
            vec![
                Op::UpsertNode(node("n1")),
                Op::UpsertJob(job("web")),
                Op::UpsertEvals(vec![eval("e1", "web", eval_status::PENDING)]),
                Op::upsert_allocs(vec![Allocation {
                    job: Some(Box::new(job("web"))),
                    ..alloc("a1", "web", "n1", 1, 1, 1)
                }]),
            ],
        );
        assert!(changes.iter().all(|change| change.index == 11));
        assert_eq!(changes.len(), 4, "one change per object");
        let stored_alloc = state.allocs.get("a1").expect("alloc stored");
        assert!(stored_alloc.job.is_none(), "the embedded job is stripped");
        assert_eq!(
            (stored_alloc.create_index, stored_alloc.modify_index, stored_alloc.alloc_modify_index),
            (11, 11, 11)
        );
        assert_eq!(state.evals.get("e1").map(|eval| (eval.create_index, eval.modify_index)), Some((11, 11)));
        assert_eq!(state.nodes.get("n1").map(|node| (node.create_index, node.modify_index)), Some((11, 11)));

        apply_ok(&mut state, 12, vec![Op::UpdateAllocsFromClient(vec![client_update("a1", client_status::RUNNING)])]);
        let stored_alloc = state.allocs.get("a1").expect("alloc stored");
        assert_eq!(
            (stored_alloc.create_index, stored_alloc.modify_index, stored_alloc.alloc_modify_index),
            (11, 12, 11),
            "a client update is not a server-side change"
        );
        assert_eq!(stored_alloc.modify_time, NOW);
        assert_eq!(stored_alloc.client_description, "now running");

        apply_ok(&mut state, 13, vec![Op::UpsertEvals(vec![eval("e1", "web", eval_status::COMPLETE)])]);
        assert_eq!(state.evals.get("e1").map(|eval| (eval.create_index, eval.modify_index)), Some((11, 13)));
    }

    #[test]
    fn client_updates_skip_unknown_allocs_and_merge_task_states() {
        let mut state = StateMaps::default();
        apply_ok(&mut state, 1, vec![Op::upsert_allocs(vec![alloc("a1", "web", "n1", 1, 1, 1)])]);
        let mut first = client_update("a1", client_status::RUNNING);
        first.task_states.insert("one".to_string(), drover_types::TaskState::default());
        let mut second = client_update("a1", "");
        second.client_description = String::new();
        second.task_states.insert("two".to_string(), drover_types::TaskState::default());
        apply_ok(
            &mut state,
            2,
            vec![Op::UpdateAllocsFromClient(vec![client_update("gone", client_status::RUNNING), first, second])],
        );
        let stored = state.allocs.get("a1").expect("alloc stored");
        assert_eq!(stored.client_status, client_status::RUNNING);
        assert_eq!(stored.task_states.keys().collect::<Vec<_>>(), vec!["one", "two"]);
        assert!(!state.allocs.contains_key("gone"));
    }

    #[test]
    fn desired_update_sets_only_given_fields() {
        let mut state = StateMaps::default();
        apply_ok(&mut state, 1, vec![Op::upsert_allocs(vec![alloc("a1", "web", "n1", 1, 1, 1)])]);
        apply_ok(
            &mut state,
            2,
            vec![Op::UpdateAllocsDesired(vec![AllocDesiredUpdate {
                alloc_id: "a1".to_string(),
                desired_description: Some("drained".to_string()),
                next_allocation: Some("a2".to_string()),
                job_version: Some(3),
                ..AllocDesiredUpdate::default()
            }])],
        );
        let stored = state.allocs.get("a1").expect("alloc stored");
        assert_eq!(stored.desired_status, desired_status::RUN);
        assert_eq!(stored.desired_description, "drained");
        assert_eq!(stored.next_allocation, "a2");
        assert_eq!(stored.job_version, 3);
        assert_eq!((stored.modify_index, stored.alloc_modify_index), (2, 2));
    }

    #[test]
    fn node_registration_keeps_operator_choices() {
        let mut state = StateMaps::default();
        apply_ok(&mut state, 1, vec![Op::UpsertNode(node("n1"))]);
        assert_eq!(state.nodes.get("n1").map(|node| node.scheduling_eligibility.clone()), Some("eligible".into()));
        let drain = DrainStrategy { deadline: 5, ..DrainStrategy::default() };
        apply_ok(&mut state, 2, vec![Op::UpdateNodeDrain { node_id: "n1".to_string(), drain: Some(drain.clone()) }]);
        apply_ok(&mut state, 3, vec![Op::UpsertNode(Node { name: "renamed".to_string(), ..node("n1") })]);
        let stored = state.nodes.get("n1").expect("node stored");
        assert_eq!(stored.name, "renamed");
        assert!(stored.drain);
        assert_eq!(stored.drain_strategy, Some(drain));
        assert_eq!(stored.scheduling_eligibility, eligibility::INELIGIBLE);
        assert_eq!((stored.create_index, stored.modify_index), (1, 3));

        apply_ok(&mut state, 4, vec![Op::UpdateNodeDrain { node_id: "n1".to_string(), drain: None }]);
        let stored = state.nodes.get("n1").expect("node stored");
        assert!(!stored.drain && stored.drain_strategy.is_none());
        assert_eq!(stored.scheduling_eligibility, eligibility::ELIGIBLE);

        apply_ok(
            &mut state,
            5,
            vec![Op::UpdateNodeEligibility { node_id: "n1".to_string(), eligibility: "ineligible".to_string() }],
        );
        assert_eq!(state.nodes.get("n1").map(|node| node.scheduling_eligibility.clone()), Some("ineligible".into()));
    }

    #[test]
    fn node_status_update_records_times() {
        let mut state = StateMaps::default();
        apply_ok(&mut state, 1, vec![Op::UpsertNode(Node { last_heartbeat: 5, ..node("n1") })]);
        apply_ok(
            &mut state,
            2,
            vec![Op::UpdateNodeStatus { node_id: "n1".to_string(), status: "down".to_string(), heartbeat: 0 }],
        );
        let stored = state.nodes.get("n1").expect("node stored");
        assert_eq!(
            (stored.status.as_str(), stored.status_updated_at, stored.last_heartbeat),
            ("down", 1_700_000_000, 5)
        );
        apply_ok(
            &mut state,
            3,
            vec![Op::UpdateNodeStatus { node_id: "n1".to_string(), status: "ready".to_string(), heartbeat: 77 }],
        );
        assert_eq!(state.nodes.get("n1").map(|node| node.last_heartbeat), Some(77));
    }

    #[test]
    fn node_ops_on_unknown_nodes_are_not_found() {
        let mut state = StateMaps::default();
        for op in [
            Op::UpdateNodeStatus { node_id: "x".to_string(), status: "down".to_string(), heartbeat: 0 },
            Op::UpdateNodeEligibility { node_id: "x".to_string(), eligibility: "eligible".to_string() },
            Op::UpdateNodeDrain { node_id: "x".to_string(), drain: None },
            Op::DeleteNode("x".to_string()),
        ] {
            let err = apply_txn(&mut state, &txn(vec![op]), 1, NOW).expect_err("unknown node");
            assert!(matches!(err, StateError::NotFound(_)), "{err}");
        }
    }

    #[test]
    fn purge_removes_job_and_versions_but_not_allocs() {
        let mut state = StateMaps::default();
        let child = Job { parent_id: "parent".to_string(), ..job("parent/dispatch-1") };
        apply_ok(
            &mut state,
            1,
            vec![
                Op::UpsertJob(job("parent")),
                Op::UpsertJob(child),
                Op::upsert_allocs(vec![alloc("a1", "parent/dispatch-1", "n1", 1, 1, 1)]),
            ],
        );
        apply_ok(&mut state, 2, vec![Op::UpsertJob(Job { priority: 3, ..job("parent/dispatch-1") })]);
        let parent_key = job_key("default", "parent");
        assert_eq!(state.children_by_parent.count(&parent_key), 0, "re-upsert w/o parent");
        apply_ok(
            &mut state,
            3,
            vec![Op::UpsertJob(Job { parent_id: "parent".to_string(), ..job("parent/dispatch-1") })],
        );
        assert_eq!(state.children_by_parent.count(&parent_key), 1);

        let changes = apply_ok(
            &mut state,
            4,
            vec![Op::PurgeJob { namespace: "default".to_string(), job_id: "parent/dispatch-1".to_string() }],
        );
        assert!(matches!(&changes[..], [Change { index: 4, object: ChangedObject::JobDeleted { .. } }]));
        assert!(!state.jobs.contains_key(&job_key("default", "parent/dispatch-1")));
        assert!(state.job_version_keys("default", "parent/dispatch-1").is_empty(), "the child's versions are gone");
        assert!(state.job_versions.is_empty(), "the parent's only version is its latest, held in jobs");
        assert!(state.jobs.contains_key(&parent_key));
        assert!(!state.children_by_parent.has_key(&parent_key));
        assert!(state.allocs.contains_key("a1"));

        let err = apply_txn(
            &mut state,
            &txn(vec![Op::PurgeJob { namespace: "default".to_string(), job_id: "nope".to_string() }]),
            5,
            NOW,
        )
        .expect_err("missing job");
        assert!(matches!(err, StateError::NotFound(_)));
    }

    #[test]
    fn rows_report_writes_and_deletes() {
        let mut state = StateMaps::default();
        apply_txn_with_rows(&mut state, &txn(vec![Op::UpsertJob(job("web"))]), 1, NOW).expect("applies");
        let applied = apply_txn_with_rows(
            &mut state,
            &txn(vec![
                Op::UpsertJob(Job { priority: 9, ..job("web") }),
                Op::UpsertEvals(vec![eval("e1", "web", eval_status::PENDING)]),
                Op::DeleteEvals(vec!["e1".to_string()]),
            ]),
            2,
            NOW,
        )
        .expect("applies");
        assert_eq!(applied.rows.jobs.len(), 1);
        assert_eq!(
            applied.rows.job_versions.iter().cloned().collect::<Vec<_>>(),
            vec![(Key::from("default"), Key::from("web"), 0)],
            "the superseded version gets its row; the new latest is the jobs row"
        );
        assert!(applied.rows.evals.contains("e1"));
        assert!(state.evals.is_empty());
        assert!(
            !applied.changes.iter().any(|change| matches!(change.object, ChangedObject::Eval(_))),
            "a deleted eval has no change"
        );
    }
}
