//! Durable backends: what the writer thread loads at start and writes after
//! every batch. [`Backend`] is small on purpose so PostgreSQL can follow
//! SQLite; [`MemoryBackend`] keeps nothing.
//!
//! The row encoding lives in [`encode_row`] / [`decode_row`] only, so it can
//! change (say, to a binary format) in one place.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use drover_types::{Allocation, Evaluation, Job, JobHistory, Node, Run, TaskGroups};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::StateError;
use crate::apply::ChangedRows;
use crate::archive::{ArchiveRead, ArchivedStub};
use crate::maps::{JobKey, JobVersionKey, Key, RunKey, StateMaps, job_key};

/// Where committed state is kept.
pub(crate) trait Backend: Send {
    /// Everything stored, with the last committed index.
    fn load(&mut self) -> Result<Loaded, StateError>;
    /// Writes one batch atomically and durably; on error nothing of it counts.
    fn write(&mut self, batch: &WriteBatch) -> Result<(), StateError>;
    /// Where archived rows are read back; `None`: this backend keeps no
    /// rows, so nothing is ever archived.
    fn archive(&self) -> Option<Arc<dyn ArchiveRead>>;
}

/// Everything a backend holds.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    /// The last committed index.
    pub(crate) index: u64,
    /// Latest version of each job.
    pub(crate) jobs: Vec<Job>,
    /// Every kept job version older than its job's latest.
    pub(crate) job_versions: Vec<Job>,
    /// Evaluations.
    pub(crate) evals: Vec<Evaluation>,
    /// Allocations.
    pub(crate) allocs: Vec<Allocation>,
    /// Nodes.
    pub(crate) nodes: Vec<Node>,
    /// Key/value records.
    pub(crate) kv: Vec<(crate::maps::KvKey, String)>,
    /// Runs.
    pub(crate) runs: Vec<Run>,
    /// Job histories.
    pub(crate) histories: Vec<JobHistory>,
    /// Archived children (their families stay in storage).
    pub(crate) archived: Vec<ArchivedStub>,
}

impl Loaded {
    /// The in-memory maps, with every secondary index rebuilt and children
    /// sharing their parent's task groups.
    pub(crate) fn into_maps(mut self) -> StateMaps {
        share_parent_task_groups(&mut self.jobs, &self.job_versions);
        let mut maps = StateMaps::default();
        for job in self.jobs {
            maps.put_job(Arc::new(job));
        }
        for job in self.job_versions {
            maps.put_job_version(Arc::new(job));
        }
        for eval in self.evals {
            maps.put_eval(Arc::new(eval));
        }
        for alloc in self.allocs {
            maps.put_alloc(Arc::new(alloc));
        }
        for node in self.nodes {
            maps.put_node(Arc::new(node));
        }
        for (key, value) in self.kv {
            maps.kv.insert(key, Arc::from(value.as_str()));
        }
        for run in self.runs {
            maps.put_run(Arc::new(run));
        }
        for history in self.histories {
            let key = job_key(&history.namespace, &history.job_id);
            maps.histories.insert(key, Arc::new(history));
        }
        for stub in self.archived {
            maps.put_archived_stub(stub);
        }
        maps
    }
}

/// Makes each child's task groups the very copy its parent holds (the
/// parent's latest version or an older one) when they are equal: storage
/// holds separate copies, and without this every loaded child would cost a
/// full spec in memory, where it cost a pointer before the restart.
fn share_parent_task_groups(jobs: &mut [Job], versions: &[Job]) {
    // namespace -> parent ID -> every spec of that parent, newest version first.
    let parent_keys: HashSet<(&str, &str)> = jobs
        .iter()
        .filter(|job| !job.parent_id.is_empty())
        .map(|job| (job.namespace.as_str(), job.parent_id.as_str()))
        .collect();
    let mut specs: HashMap<String, HashMap<String, Vec<(u64, TaskGroups)>>> = HashMap::new();
    for (namespace, parent_id) in parent_keys {
        specs.entry(namespace.to_string()).or_default().insert(parent_id.to_string(), Vec::new());
    }
    for job in jobs.iter().chain(versions) {
        if let Some(candidates) = specs.get_mut(&job.namespace).and_then(|parents| parents.get_mut(&job.id)) {
            candidates.push((job.version, job.task_groups.clone()));
        }
    }
    for candidates in specs.values_mut().flat_map(HashMap::values_mut) {
        candidates.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    }
    for job in jobs.iter_mut().filter(|job| !job.parent_id.is_empty()) {
        let Some(candidates) = specs.get(&job.namespace).and_then(|parents| parents.get(&job.parent_id)) else {
            continue;
        };
        if let Some((_, shared)) = candidates.iter().find(|(_, groups)| *groups == job.task_groups) {
            job.task_groups = shared.clone();
        }
    }
}

/// Splits stored versions into those older than their job's latest (kept)
/// and the keys of those that are the latest itself: data dirs written before
/// the latest version lived in `jobs` only hold such duplicate rows.
pub(crate) fn split_latest_versions(jobs: &[Job], versions: Vec<Job>) -> (Vec<Job>, Vec<JobVersionKey>) {
    let latest: HashMap<(&str, &str), u64> =
        jobs.iter().map(|job| ((job.namespace.as_str(), job.id.as_str()), job.version)).collect();
    let mut kept = Vec::with_capacity(versions.len());
    let mut duplicates = Vec::new();
    for version in versions {
        if latest.get(&(version.namespace.as_str(), version.id.as_str())) == Some(&version.version) {
            duplicates.push((Key::namespace(&version.namespace), Key::from(version.id), version.version));
        } else {
            kept.push(version);
        }
    }
    (kept, duplicates)
}

/// A job to write, and whether its row may leave out its task groups.
#[derive(Debug)]
pub(crate) struct JobRow {
    /// The job.
    pub(crate) job: Arc<Job>,
    /// `Some(version)`: the job's task groups are that version of its
    /// parent's (the very copy in memory), so the row names the version
    /// instead of repeating them; see [`parent_spec_version`].
    pub(crate) parent_spec_version: Option<u64>,
    /// `Some(code)`: the job's family is archived after this batch, and the
    /// job counts in its parent's summary as the class with that code (see
    /// `ChildClass::archive_code`).
    pub(crate) archived: Option<i64>,
}

/// The version of its parent whose task groups a child shares (the same
/// copy, not merely equal ones), so its row can name that version instead of
/// repeating the spec. Only a parent that is not a child itself qualifies:
/// then the named version's row (`jobs` for the latest, `job_versions` for
/// older ones) always holds the full spec. A parent's versions disappear only
/// when it is purged, and a purge rewrites its children's rows (which then
/// find no parent and are written whole).
pub(crate) fn parent_spec_version(state: &StateMaps, job: &Job) -> Option<u64> {
    if job.parent_id.is_empty() {
        return None;
    }
    let (namespace, parent_id) = job_key(&job.namespace, &job.parent_id);
    let parent = state.jobs.get(&(namespace.clone(), parent_id.clone()))?;
    if !parent.parent_id.is_empty() {
        return None;
    }
    if job.task_groups.is_shared_with(&parent.task_groups) {
        return Some(parent.version);
    }
    let first = (namespace.clone(), parent_id.clone(), 0);
    let last = (namespace, parent_id, u64::MAX);
    state
        .job_versions
        .range(first..=last)
        .rev()
        .find(|(_, version)| job.task_groups.is_shared_with(&version.task_groups))
        .map(|((_, _, version), _)| *version)
}

/// Gives each job loaded from a row that names its parent's spec version
/// (see [`JobRow`]) those task groups: the very copy the parent's version
/// holds. `jobs` pairs each job with the version its row names, if any.
pub(crate) fn attach_parent_specs(jobs: Vec<(Job, Option<u64>)>, versions: &[Job]) -> Result<Vec<Job>, StateError> {
    // (namespace, parent, version) -> its task groups, once found in a full row.
    let mut specs: HashMap<JobVersionKey, Option<TaskGroups>> = HashMap::new();
    for (job, spec_version) in &jobs {
        if let Some(version) = spec_version {
            specs.insert((Key::namespace(&job.namespace), Key::from(&job.parent_id), *version), None);
        }
    }
    if specs.is_empty() {
        return Ok(jobs.into_iter().map(|(job, _)| job).collect());
    }
    let full_jobs = jobs.iter().filter(|(_, spec_version)| spec_version.is_none()).map(|(job, _)| job);
    for job in full_jobs.chain(versions) {
        if let Some(spec) = specs.get_mut(&(Key::namespace(&job.namespace), Key::from(&job.id), job.version)) {
            *spec = Some(job.task_groups.clone());
        }
    }
    jobs.into_iter()
        .map(|(mut job, spec_version)| {
            let Some(version) = spec_version else { return Ok(job) };
            let key = (Key::namespace(&job.namespace), Key::from(&job.parent_id), version);
            let Some(Some(spec)) = specs.get(&key) else {
                return Err(StateError::Storage(format!(
                    "corrupt row \"{}/{}\" in table jobs: its task groups are version {version} of job {:?}, which is not stored",
                    job.namespace, job.id, job.parent_id
                )));
            };
            job.task_groups = spec.clone();
            Ok(job)
        })
        .collect()
}

/// The rows one batch of transactions changed, as they are after the batch.
#[derive(Debug, Default)]
pub(crate) struct WriteBatch {
    /// The index of the batch's last transaction.
    pub(crate) index: u64,
    /// Jobs to insert or replace.
    pub(crate) jobs_written: Vec<JobRow>,
    /// Jobs to delete.
    pub(crate) jobs_deleted: Vec<JobKey>,
    /// Jobs whose every version is deleted, before `job_versions_written`.
    pub(crate) job_versions_purged: Vec<JobKey>,
    /// Job versions to insert or replace.
    pub(crate) job_versions_written: Vec<Arc<Job>>,
    /// Job versions to delete.
    pub(crate) job_versions_deleted: Vec<JobVersionKey>,
    /// Evaluations to insert or replace.
    pub(crate) evals_written: Vec<Arc<Evaluation>>,
    /// Evaluations to delete.
    pub(crate) evals_deleted: Vec<String>,
    /// Allocations to insert or replace.
    pub(crate) allocs_written: Vec<Arc<Allocation>>,
    /// Allocations to delete.
    pub(crate) allocs_deleted: Vec<String>,
    /// Nodes to insert or replace.
    pub(crate) nodes_written: Vec<Arc<Node>>,
    /// Nodes to delete.
    pub(crate) nodes_deleted: Vec<String>,
    /// Key/value records to insert or replace.
    pub(crate) kv_written: Vec<(crate::maps::KvKey, Arc<str>)>,
    /// Key/value records to delete.
    pub(crate) kv_deleted: Vec<crate::maps::KvKey>,
    /// Runs to insert or replace.
    pub(crate) runs_written: Vec<Arc<Run>>,
    /// Runs to delete.
    pub(crate) runs_deleted: Vec<RunKey>,
    /// Job histories to insert or replace.
    pub(crate) histories_written: Vec<Arc<JobHistory>>,
    /// Job histories to delete.
    pub(crate) histories_deleted: Vec<JobKey>,
    /// Families archived by this batch: their evaluation and allocation rows
    /// are marked archived, after every row above is written.
    pub(crate) families_archived: Vec<JobKey>,
    /// Families restored to memory by this batch: their evaluation and
    /// allocation rows are marked resident again.
    pub(crate) families_restored: Vec<JobKey>,
}

impl WriteBatch {
    /// The batch that makes storage match `state` for the `rows` changed;
    /// the jobs in `archiving` (each with its class code) are written as archived.
    pub(crate) fn from_rows(
        state: &StateMaps,
        rows: &ChangedRows,
        archiving: &HashMap<JobKey, i64>,
        index: u64,
    ) -> WriteBatch {
        let mut batch = WriteBatch { index, ..WriteBatch::default() };
        for key in &rows.jobs {
            match state.jobs.get(key) {
                Some(job) => batch.jobs_written.push(JobRow {
                    parent_spec_version: parent_spec_version(state, job),
                    job: Arc::clone(job),
                    archived: archiving.get(key).copied(),
                }),
                None => batch.jobs_deleted.push(key.clone()),
            }
        }
        batch.job_versions_purged.extend(rows.job_versions_purged.iter().cloned());
        for key in &rows.job_versions {
            match state.job_versions.get(key) {
                Some(job) => batch.job_versions_written.push(Arc::clone(job)),
                None => batch.job_versions_deleted.push(key.clone()),
            }
        }
        for eval_id in &rows.evals {
            match state.evals.get(eval_id.as_str()) {
                Some(eval) => batch.evals_written.push(Arc::clone(eval)),
                None => batch.evals_deleted.push(eval_id.clone()),
            }
        }
        for alloc_id in &rows.allocs {
            match state.allocs.get(alloc_id.as_str()) {
                Some(alloc) => batch.allocs_written.push(Arc::clone(alloc)),
                None => batch.allocs_deleted.push(alloc_id.clone()),
            }
        }
        for node_id in &rows.nodes {
            match state.nodes.get(node_id.as_str()) {
                Some(node) => batch.nodes_written.push(Arc::clone(node)),
                None => batch.nodes_deleted.push(node_id.clone()),
            }
        }
        for key in &rows.kv {
            match state.kv.get(key) {
                Some(value) => batch.kv_written.push((key.clone(), Arc::clone(value))),
                None => batch.kv_deleted.push(key.clone()),
            }
        }
        for key in &rows.runs {
            match state.runs.get(key) {
                Some(run) => batch.runs_written.push(Arc::clone(run)),
                None => batch.runs_deleted.push(key.clone()),
            }
        }
        for key in &rows.histories {
            match state.histories.get(key) {
                Some(history) => batch.histories_written.push(Arc::clone(history)),
                None => batch.histories_deleted.push(key.clone()),
            }
        }
        batch
    }
}

/// A backend that keeps nothing: for tests and dry runs.
pub(crate) struct MemoryBackend;

impl Backend for MemoryBackend {
    fn load(&mut self) -> Result<Loaded, StateError> {
        Ok(Loaded::default())
    }

    fn write(&mut self, _batch: &WriteBatch) -> Result<(), StateError> {
        Ok(())
    }

    fn archive(&self) -> Option<Arc<dyn ArchiveRead>> {
        None
    }
}

/// The stored form of an object (today: its JSON).
pub(crate) fn encode_row<T: Serialize>(value: &T) -> Result<String, StateError> {
    serde_json::to_string(value).map_err(|err| StateError::Storage(format!("encoding a row: {err}")))
}

/// An object from its stored form; the error names the table and row.
pub(crate) fn decode_row<T: DeserializeOwned>(table: &str, row_id: &str, data: &str) -> Result<T, StateError> {
    serde_json::from_str(data)
        .map_err(|err| StateError::Storage(format!("corrupt row {row_id:?} in table {table}: {err}")))
}
