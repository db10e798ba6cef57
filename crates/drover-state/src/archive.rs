//! The archive: finished and parked child jobs kept in storage only.
//!
//! A dispatched or periodic child that is dead, with every evaluation
//! terminal and every allocation client-terminal, will not change again
//! unless someone acts on it (a purge, a garbage collection, a late client
//! report). A child that is *parked* (pending, never placed, its only open
//! evaluations blocked for lack of capacity or held by its parent's
//! concurrency limit) will not change until capacity frees up. Holding such
//! a *family* (the child job, its evaluations and its allocations) in memory
//! costs ~12 KB per child, so after the commit that leaves a family in
//! either state the writer moves it out of the in-memory maps: its rows stay in the backend (the job row marked with its
//! [`ChildClass`] code), and memory keeps only an [`ArchivedJob`] under the
//! job's key plus its entries in the children indexes and counts, which
//! therefore never change on archiving.
//!
//! Reads go through [`crate::Snapshot`], which falls back to an
//! [`ArchiveRead`] (a read connection to the backend) for archived objects,
//! so callers never see the difference except in speed (~20 µs a row). A
//! transaction that names an archived object first *restores* its family
//! into the working maps (the writer does this before applying it), so
//! `apply` only ever sees resident objects.
//!
//! An archived family's rows change only after it is restored, so a
//! snapshot reads the rows as they were when it was archived, unless a
//! later commit restored and changed them: then it reads the newer rows.

use std::sync::Arc;

use drover_types::{Allocation, Evaluation, Job, TaskGroups};

use crate::StateError;
use crate::children::ChildClass;
use crate::maps::{JobKey, Key, StateMaps, job_key};

/// What stays in memory of an archived child job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ArchivedJob {
    /// When the child was submitted (Unix ns): garbage collection picks
    /// archived children by age without reading them.
    pub(crate) submit_time: i64,
    /// Parked (pending, waiting for capacity) rather than finished: a
    /// restart hands its blocked evaluations back to the broker.
    pub(crate) parked: bool,
}

/// An archived child as a restart finds it: enough to index and count it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArchivedStub {
    /// Namespace.
    pub(crate) namespace: String,
    /// Child job ID.
    pub(crate) job_id: String,
    /// Its parent.
    pub(crate) parent_id: String,
    /// Its idempotency token (empty: none).
    pub(crate) idempotency_token: String,
    /// When it was submitted (Unix ns).
    pub(crate) submit_time: i64,
    /// How it counts in its parent's summary (see [`ChildClass::archive_code`]).
    pub(crate) class: ChildClass,
}

/// A job row as stored: the job, and the version of its parent whose task
/// groups it shares when its row left them out (see `backend::JobRow`).
pub(crate) type StoredJob = (Job, Option<u64>);

/// Reads of archived rows, from a connection of their own (safe to call from
/// any thread, concurrently with the writer's commits).
pub(crate) trait ArchiveRead: Send + Sync {
    /// One job row.
    fn job(&self, namespace: &str, job_id: &str) -> Result<Option<StoredJob>, StateError>;
    /// One evaluation row.
    fn eval(&self, eval_id: &str) -> Result<Option<Evaluation>, StateError>;
    /// One allocation row.
    fn alloc(&self, alloc_id: &str) -> Result<Option<Allocation>, StateError>;
    /// The evaluation rows of a job, ordered by ID.
    fn evals_of_job(&self, namespace: &str, job_id: &str) -> Result<Vec<Evaluation>, StateError>;
    /// The allocation rows of a job, ordered by ID.
    fn allocs_of_job(&self, namespace: &str, job_id: &str) -> Result<Vec<Allocation>, StateError>;
    /// Evaluation rows whose ID starts with `prefix`, ordered by ID, each
    /// with its job's key; `keep` picks the rows to decode.
    fn evals_by_prefix(&self, prefix: &str, keep: &dyn Fn(&JobKey) -> bool) -> Result<Vec<Evaluation>, StateError>;
    /// Allocation rows whose ID starts with `prefix`, ordered by ID; `keep`
    /// picks the rows to decode by their job's key.
    fn allocs_by_prefix(&self, prefix: &str, keep: &dyn Fn(&JobKey) -> bool) -> Result<Vec<Allocation>, StateError>;
    /// Allocation rows placed on a node, ordered by ID; `keep` picks the
    /// rows to decode by their job's key.
    fn allocs_on_node(&self, node_id: &str, keep: &dyn Fn(&JobKey) -> bool) -> Result<Vec<Allocation>, StateError>;
}

/// A family read back from the archive, to be restored into memory.
#[derive(Debug)]
pub(crate) struct Family {
    /// The child job, with its task groups attached.
    pub(crate) job: Job,
    /// Its evaluations.
    pub(crate) evals: Vec<Evaluation>,
    /// Its allocations.
    pub(crate) allocs: Vec<Allocation>,
}

/// Gives a job read from a row that named its parent's spec version those
/// task groups: the very copy `state` holds for that version. `None` when
/// the version is not in `state` (the row is then unusable).
pub(crate) fn attach_spec(state: &StateMaps, stored: StoredJob) -> Option<Job> {
    let (mut job, spec_version) = stored;
    let Some(version) = spec_version else { return Some(job) };
    job.task_groups = parent_task_groups(state, &job, version)?;
    Some(job)
}

fn parent_task_groups(state: &StateMaps, child: &Job, version: u64) -> Option<TaskGroups> {
    let parent_key = job_key(&child.namespace, &child.parent_id);
    if let Some(parent) = state.jobs.get(&parent_key)
        && parent.version == version
    {
        return Some(parent.task_groups.clone());
    }
    let version_key = (parent_key.0, parent_key.1, version);
    state.job_versions.get(&version_key).map(|parent| parent.task_groups.clone())
}

/// Reads the family of the archived job under `key` from `reader`.
pub(crate) fn read_family(state: &StateMaps, reader: &dyn ArchiveRead, key: &JobKey) -> Result<Family, StateError> {
    let (namespace, job_id) = key;
    let stored = reader
        .job(namespace, job_id)?
        .ok_or_else(|| StateError::Storage(format!("archived job {namespace}/{job_id} has no row")))?;
    let job = attach_spec(state, stored).ok_or_else(|| {
        StateError::Storage(format!("archived job {namespace}/{job_id} names a version of its parent that is gone"))
    })?;
    Ok(Family { job, evals: reader.evals_of_job(namespace, job_id)?, allocs: reader.allocs_of_job(namespace, job_id)? })
}

impl StateMaps {
    /// Whether the job under `key` may be archived, and if so how it counts
    /// in its parent's summary: a child (not a template) with no superseded
    /// versions that is either dead, with every evaluation terminal and
    /// every allocation client-terminal (its client has nothing left to do),
    /// or parked: pending and not stopped, with no allocation, and at least
    /// one blocked evaluation and every other terminal.
    pub(crate) fn archivable(&self, key: &JobKey) -> Option<ChildClass> {
        let job = self.jobs.get(key)?;
        if job.parent_id.is_empty() || job.is_template() {
            return None;
        }
        let (namespace, job_id) = key;
        if !self.job_version_keys(namespace, job_id).is_empty() {
            return None;
        }
        let evals = || self.evals_by_job.ids(key).map(|id| self.evals.get(id));
        match job.status.as_str() {
            drover_types::job_status::DEAD => {
                if evals().any(|eval| eval.is_none_or(|eval| !eval.is_terminal())) {
                    return None;
                }
                let allocs = || self.allocs_by_job.ids(key).map(|id| self.allocs.get(id));
                if allocs().any(|alloc| alloc.is_none_or(|alloc| !alloc.client_terminal())) {
                    return None;
                }
            }
            drover_types::job_status::PENDING => {
                if job.stop || self.allocs_by_job.ids(key).next().is_some() {
                    return None;
                }
                let blocked = |eval: &drover_types::Evaluation| eval.status == drover_types::eval_status::BLOCKED;
                if evals().any(|eval| eval.is_none_or(|eval| !eval.is_terminal() && !blocked(eval))) {
                    return None;
                }
                if !evals().any(|eval| eval.is_some_and(|eval| blocked(eval))) {
                    return None;
                }
            }
            _ => return None,
        }
        let (_, class) = self.child_class(key)?;
        class.archive_code().map(|_| class)
    }

    /// Moves the family of the job under `key` out of memory (see the
    /// module docs): its children index entries and counts stay as they are.
    /// Call only after [`StateMaps::archivable`] said yes and its rows are durable.
    pub(crate) fn archive_family(&mut self, key: &JobKey) {
        // The stored key, whose strings the children indexes already share.
        let Some((stored_key, job)) = self.jobs.remove_with_key(key) else { return };
        let eval_ids: Vec<String> = self.evals_by_job.ids(key).map(str::to_string).collect();
        for eval_id in eval_ids {
            self.remove_eval(&eval_id);
        }
        let alloc_ids: Vec<String> = self.allocs_by_job.ids(key).map(str::to_string).collect();
        for alloc_id in alloc_ids {
            if let Some(alloc) = self.allocs.remove(alloc_id.as_str()) {
                self.unindex_alloc(&alloc);
            }
        }
        let parked = job.status != drover_types::job_status::DEAD;
        self.archived.insert(stored_key, ArchivedJob { submit_time: job.submit_time, parked });
    }

    /// Puts an archived family back into memory, as it was before it was
    /// archived (its children index entries and counts never left).
    pub(crate) fn restore_family(&mut self, family: Family) {
        let key = job_key(&family.job.namespace, &family.job.id);
        self.archived.remove(&key);
        let job = Arc::new(family.job);
        self.jobs.insert(key.clone(), Arc::clone(&job));
        self.index_job(&job, &key);
        for eval in family.evals {
            self.put_eval(Arc::new(eval));
        }
        for alloc in family.allocs {
            let alloc = Arc::new(alloc);
            let id = Key::from(&alloc.id);
            self.allocs.insert(id.clone(), Arc::clone(&alloc));
            self.index_alloc(&alloc, id);
        }
    }

    /// Indexes and counts an archived child found by a restart.
    pub(crate) fn put_archived_stub(&mut self, stub: ArchivedStub) {
        let parent_key = job_key(&stub.namespace, &stub.parent_id);
        let child_key = job_key(&stub.namespace, &stub.job_id);
        self.children_by_parent.add(parent_key.clone(), child_key.1.clone());
        if !stub.idempotency_token.is_empty() {
            let token_key = (parent_key.0.clone(), parent_key.1.clone(), Key::from(&stub.idempotency_token));
            self.children_by_token.add(token_key, child_key.1.clone());
        }
        self.children_counts.entry(parent_key).or_default().add(stub.class);
        let archived = ArchivedJob { submit_time: stub.submit_time, parked: !stub.class.is_dead() };
        self.archived.insert(child_key, archived);
    }

    /// Whether the job under `key` is archived.
    pub(crate) fn is_archived(&self, key: &JobKey) -> bool {
        self.archived.contains_key(key)
    }
}
