//! [`Snapshot`]: an immutable view of the whole state at one index, and its
//! read methods. Prefix reads are ordered range scans over the maps.
//!
//! Reads of archived families (see `archive`) fall back to the backend's
//! [`ArchiveRead`]: the result is the same as if they were in memory, only
//! slower. The `resident_*` scans are the exception: they skip archived
//! families, for the server's own walks over live work.

use std::ops::Bound;
use std::sync::Arc;

use drover_types::{Allocation, Evaluation, Job, JobHistory, Node, Run};
use imbl::OrdMap;

use crate::StateError;
use crate::alloc_counts::JobAllocCounts;
use crate::archive::{ArchiveRead, attach_spec};
use crate::children::ChildCounts;
use crate::id_index::IdIndex;
use crate::maps::{JobKey, Key, StateMaps, job_key};

/// An immutable view of the whole state at one index.
///
/// Cloning is cheap (the maps share structure); holding one never blocks
/// writers.
#[derive(Clone)]
pub struct Snapshot {
    index: u64,
    maps: StateMaps,
    archive: Option<Arc<dyn ArchiveRead>>,
    /// Every node ordered by ID, listed on first use (see [`Snapshot::nodes_shared`]).
    sorted_nodes: std::sync::OnceLock<Arc<[Arc<Node>]>>,
}

impl Snapshot {
    /// A snapshot of `maps` at `index`, reading archived families from `archive`.
    pub(crate) fn new(index: u64, maps: StateMaps, archive: Option<Arc<dyn ArchiveRead>>) -> Snapshot {
        Snapshot { index, maps, archive, sorted_nodes: std::sync::OnceLock::new() }
    }

    /// Runs `read` on the archive; a storage error is logged and reads as nothing found.
    fn read_archive<T: Default>(&self, read: impl FnOnce(&dyn ArchiveRead) -> Result<T, StateError>) -> T {
        let Some(archive) = &self.archive else { return T::default() };
        match read(archive.as_ref()) {
            Ok(found) => found,
            Err(err) => {
                tracing::error!(error = %err, "reading archived state failed");
                T::default()
            }
        }
    }

    /// Whether the job a row names (by its key) is archived in this snapshot.
    fn archived_job(&self, key: &JobKey) -> bool {
        self.maps.archived.contains_key(key)
    }

    /// An archived job, read back with its task groups.
    fn read_archived_job(&self, key: &JobKey) -> Option<Arc<Job>> {
        let stored = self.read_archive(|archive| archive.job(&key.0, &key.1))?;
        match attach_spec(&self.maps, stored) {
            Some(job) => Some(Arc::new(job)),
            None => {
                tracing::error!(namespace = %key.0, job = %key.1, "archived job names a parent version that is gone");
                None
            }
        }
    }

    /// Whether a child job is archived while parked: pending, with no
    /// allocation and only blocked evaluations open (see `archive`). Answers
    /// from memory, so a caller can skip reading such a child.
    pub fn is_parked_in_archive(&self, namespace: &str, job_id: &str) -> bool {
        self.maps.archived.get(&job_key(namespace, job_id)).is_some_and(|archived| archived.parked)
    }

    /// The resident object, else the archived one `read` finds if its job
    /// (`job_of`) is archived in this snapshot.
    fn resident_or_archived<T>(
        &self,
        resident: Option<&Arc<T>>,
        read: impl FnOnce(&dyn ArchiveRead) -> Result<Option<T>, StateError>,
        job_of: impl Fn(&T) -> JobKey,
    ) -> Option<Arc<T>> {
        if let Some(object) = resident {
            return Some(Arc::clone(object));
        }
        if self.maps.archived.is_empty() {
            return None;
        }
        let object = self.read_archive(read)?;
        self.archived_job(&job_of(&object)).then(|| Arc::new(object))
    }

    /// `resident` (ordered by ID) with the rows `read` finds of jobs archived
    /// in this snapshot (it is given the filter), in one list ordered by ID.
    fn with_archived<T>(
        &self,
        resident: Vec<Arc<T>>,
        read: impl FnOnce(&dyn ArchiveRead, &dyn Fn(&JobKey) -> bool) -> Result<Vec<T>, StateError>,
        id_of: impl Fn(&T) -> &str,
    ) -> Vec<Arc<T>> {
        if self.maps.archived.is_empty() {
            return resident;
        }
        let archived = self.read_archive(|archive| read(archive, &|key| self.archived_job(key)));
        merge_by_id(resident, archived, id_of)
    }

    /// The objects of one job: from storage when the job is archived, else
    /// through the resident index.
    fn of_job<T>(
        &self,
        namespace: &str,
        job_id: &str,
        map: &OrdMap<Key, Arc<T>>,
        index: &IdIndex<JobKey>,
        read: impl FnOnce(&dyn ArchiveRead) -> Result<Vec<T>, StateError>,
    ) -> Vec<Arc<T>> {
        let key = job_key(namespace, job_id);
        if self.archived_job(&key) {
            return self.read_archive(read).into_iter().map(Arc::new).collect();
        }
        lookup_all(map, index, &key)
    }

    /// Number of archived child jobs.
    pub fn archived_count(&self) -> usize {
        self.maps.archived.len()
    }

    /// Keys of archived finished child jobs submitted before `time` (Unix
    /// ns; `None`: every one), ordered: garbage collection picks them
    /// without reading them.
    pub fn finished_archived_jobs_submitted_before(&self, time: Option<i64>) -> Vec<(String, String)> {
        self.maps
            .archived
            .iter()
            .filter(|(_, archived)| !archived.parked && time.is_none_or(|time| archived.submit_time < time))
            .map(|((namespace, job_id), _)| (namespace.to_string(), job_id.to_string()))
            .collect()
    }

    /// Every evaluation not yet terminal, ordered by ID: the resident ones
    /// and those of parked archived children (read from storage, so this
    /// costs O(parked children) reads; for refilling the broker on start).
    pub fn open_evals(&self) -> Vec<Arc<Evaluation>> {
        let resident = self.maps.evals.values().filter(|eval| !eval.is_terminal()).cloned().collect();
        let parked: Vec<Evaluation> = self
            .maps
            .archived
            .iter()
            .filter(|(_, archived)| archived.parked)
            .flat_map(|((namespace, job_id), _)| self.read_archive(|archive| archive.evals_of_job(namespace, job_id)))
            .filter(|eval| !eval.is_terminal())
            .collect();
        merge_by_id(resident, parked, |eval| &eval.id)
    }

    /// The index of this snapshot.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// One job (its latest version).
    pub fn job(&self, namespace: &str, job_id: &str) -> Option<Arc<Job>> {
        let key = job_key(namespace, job_id);
        if let Some(job) = self.maps.jobs.get(&key) {
            return Some(Arc::clone(job));
        }
        if self.archived_job(&key) { self.read_archived_job(&key) } else { None }
    }

    /// Every job in memory, ordered by (namespace, ID): archived children
    /// (dead, with nothing left to run) are skipped.
    pub fn resident_jobs(&self) -> Vec<Arc<Job>> {
        self.maps.jobs.values().cloned().collect()
    }

    /// Jobs whose ID starts with `prefix` (`namespace == "*"`: every namespace), ordered.
    pub fn jobs_by_prefix(&self, namespace: &str, prefix: &str) -> Vec<Arc<Job>> {
        if namespace != "*" {
            return self.jobs_in_namespace_by_prefix(namespace, prefix);
        }
        self.job_namespaces()
            .into_iter()
            .flat_map(|namespace| self.jobs_in_namespace_by_prefix(&namespace, prefix))
            .collect()
    }

    fn jobs_in_namespace_by_prefix(&self, namespace: &str, prefix: &str) -> Vec<Arc<Job>> {
        self.job_listing(namespace, prefix, None, true).filter_map(|entry| entry.read()).collect()
    }

    /// The job list in order, one entry at a time, without reading any job
    /// until asked: the jobs of `namespace` whose ID starts with `prefix`,
    /// ordered by ID, from the first ID at or after `from` (a page's start).
    /// Archived children are left out without being read when `archived` is
    /// false (they are all children, finished or parked), so a page of a
    /// list that skips children costs O(page), however much history there is.
    pub fn job_listing<'a>(
        &'a self,
        namespace: &'a str,
        prefix: &'a str,
        from: Option<&'a str>,
        archived: bool,
    ) -> impl Iterator<Item = ListedJob<'a>> + 'a {
        let start = match from {
            Some(from) if from > prefix => from,
            _ => prefix,
        };
        let range = move |start: &str| (Bound::Included(job_key(namespace, start)), Bound::Unbounded);
        let in_list = move |(job_namespace, job_id): &JobKey| job_namespace == namespace && job_id.starts_with(prefix);
        let resident = self
            .maps
            .jobs
            .range(range(start))
            .take_while(move |(key, _)| in_list(key))
            .map(|(key, job)| (key, Some(job)));
        // Left out, the archived children are not walked at all (a range
        // that ends before it starts), not walked and dropped one by one.
        let archived_keys = self
            .maps
            .archived
            .range(range(start))
            .take_while(move |(key, _)| archived && in_list(key))
            .map(|(key, _)| (key, None));
        MergedByKey { left: resident.peekable(), right: archived_keys.peekable() }.map(move |(key, job)| ListedJob {
            snapshot: self,
            key,
            resident: job,
        })
    }

    /// The namespaces that hold jobs (resident or archived), in order.
    pub fn job_namespaces(&self) -> std::collections::BTreeSet<String> {
        let mut namespaces = namespaces_of(&self.maps.jobs);
        namespaces.extend(namespaces_of(&self.maps.archived));
        namespaces
    }

    /// One version of a job: the latest is the job itself, older ones are kept apart.
    pub fn job_version(&self, namespace: &str, job_id: &str, version: u64) -> Option<Arc<Job>> {
        if let Some(latest) = self.job(namespace, job_id)
            && latest.version == version
        {
            return Some(latest);
        }
        let (namespace, job_id) = job_key(namespace, job_id);
        self.maps.job_versions.get(&(namespace, job_id, version)).cloned()
    }

    /// Every kept version of a job, newest first (the latest is the job itself).
    pub fn job_versions(&self, namespace: &str, job_id: &str) -> Vec<Arc<Job>> {
        let latest = self.job(namespace, job_id);
        let (namespace, job_id) = job_key(namespace, job_id);
        let first = (namespace.clone(), job_id.clone(), 0);
        let last = (namespace, job_id, u64::MAX);
        let older = self
            .maps
            .job_versions
            .range(first..=last)
            .rev()
            .map(|(_, job)| Arc::clone(job))
            .filter(|job| latest.as_ref().is_none_or(|latest| job.version < latest.version));
        latest.iter().cloned().chain(older).collect()
    }

    /// Children (dispatched or periodic) of a job, ordered by ID.
    pub fn children_of(&self, namespace: &str, parent_id: &str) -> Vec<Arc<Job>> {
        let key = job_key(namespace, parent_id);
        self.maps.children_by_parent.ids(&key).filter_map(|child_id| self.job(namespace, child_id)).collect()
    }

    /// How many children of a job are pending, running or dead (and how
    /// the dead ones ended), without walking them: O(log jobs).
    pub fn children_counts(&self, namespace: &str, parent_id: &str) -> ChildCounts {
        self.maps.children_counts.get(&job_key(namespace, parent_id)).copied().unwrap_or_default()
    }

    /// The child a parent dispatched with an idempotency token (the first by
    /// ID if several carry it), found through an index rather than by
    /// walking the children.
    pub fn child_by_idempotency_token(&self, namespace: &str, parent_id: &str, token: &str) -> Option<Arc<Job>> {
        let key = (Key::namespace(namespace), Key::from(parent_id), Key::from(token));
        self.maps.children_by_token.ids(&key).find_map(|child_id| self.job(namespace, child_id))
    }

    /// Every system and sysbatch job (stopped and template ones included),
    /// ordered by (namespace, ID): O(system jobs), not O(jobs).
    pub fn system_jobs(&self) -> Vec<Arc<Job>> {
        self.maps.system_jobs.iter().filter_map(|(namespace, job_id)| self.job(namespace, job_id)).collect()
    }

    /// One evaluation.
    pub fn eval(&self, eval_id: &str) -> Option<Arc<Evaluation>> {
        self.resident_or_archived(
            self.maps.evals.get(eval_id),
            |archive| archive.eval(eval_id),
            |eval| job_key(&eval.namespace, &eval.job_id),
        )
    }

    /// Every evaluation in memory, ordered by ID: those of archived jobs
    /// (all terminal) are skipped.
    pub fn resident_evals(&self) -> Vec<Arc<Evaluation>> {
        self.maps.evals.values().cloned().collect()
    }

    /// Evaluations whose ID starts with `prefix`, ordered.
    pub fn evals_by_prefix(&self, prefix: &str) -> Vec<Arc<Evaluation>> {
        self.with_archived(
            by_prefix(&self.maps.evals, prefix),
            |archive, keep| archive.evals_by_prefix(prefix, keep),
            |eval| &eval.id,
        )
    }

    /// Evaluations of a job, ordered by ID.
    pub fn evals_by_job(&self, namespace: &str, job_id: &str) -> Vec<Arc<Evaluation>> {
        self.of_job(namespace, job_id, &self.maps.evals, &self.maps.evals_by_job, |archive| {
            archive.evals_of_job(namespace, job_id)
        })
    }

    /// One allocation.
    pub fn alloc(&self, alloc_id: &str) -> Option<Arc<Allocation>> {
        self.resident_or_archived(
            self.maps.allocs.get(alloc_id),
            |archive| archive.alloc(alloc_id),
            |alloc| job_key(&alloc.namespace, &alloc.job_id),
        )
    }

    /// Every allocation in memory, ordered by ID: those of archived jobs
    /// (all client-terminal) are skipped.
    pub fn resident_allocs(&self) -> Vec<Arc<Allocation>> {
        self.maps.allocs.values().cloned().collect()
    }

    /// Allocations whose ID starts with `prefix`, ordered.
    pub fn allocs_by_prefix(&self, prefix: &str) -> Vec<Arc<Allocation>> {
        self.with_archived(
            by_prefix(&self.maps.allocs, prefix),
            |archive, keep| archive.allocs_by_prefix(prefix, keep),
            |alloc| &alloc.id,
        )
    }

    /// Allocations of a job, ordered by ID.
    pub fn allocs_by_job(&self, namespace: &str, job_id: &str) -> Vec<Arc<Allocation>> {
        self.of_job(namespace, job_id, &self.maps.allocs, &self.maps.allocs_by_job, |archive| {
            archive.allocs_of_job(namespace, job_id)
        })
    }

    /// How a job's allocations stand per task group: kept in step with every
    /// allocation write for jobs in memory (O(log jobs)); counted from
    /// storage for an archived child.
    pub fn alloc_counts(&self, namespace: &str, job_id: &str) -> Arc<JobAllocCounts> {
        let key = job_key(namespace, job_id);
        if let Some(counts) = self.maps.alloc_counts.get(&key) {
            return Arc::clone(counts);
        }
        if self.archived_job(&key) {
            let allocs = self.allocs_by_job(namespace, job_id);
            return Arc::new(JobAllocCounts::of(allocs.iter().map(|alloc| &**alloc)));
        }
        Arc::default()
    }

    /// Allocations on a node, ordered by ID: every one ever placed there and
    /// not yet collected. Costs O(history), and reads storage once jobs are
    /// archived; prefer [`Snapshot::live_allocs_by_node`] when terminal ones
    /// are not wanted.
    pub fn allocs_by_node(&self, node_id: &str) -> Vec<Arc<Allocation>> {
        let resident = lookup_all(&self.maps.allocs, &self.maps.allocs_by_node, &Key::from(node_id));
        self.with_archived(resident, |archive, keep| archive.allocs_on_node(node_id, keep), |alloc| &alloc.id)
    }

    /// Allocations on a node that are not client-terminal (see
    /// `Allocation::client_terminal`), ordered by ID: what the node's client
    /// still runs or has to report, including allocations the server told to
    /// stop. Costs O(live allocations on the node).
    pub fn live_allocs_by_node(&self, node_id: &str) -> Vec<Arc<Allocation>> {
        lookup_all(&self.maps.allocs, &self.maps.live_allocs_by_node, &Key::from(node_id))
    }

    /// Allocations placed by an evaluation, ordered by ID.
    pub fn allocs_by_eval(&self, eval_id: &str) -> Vec<Arc<Allocation>> {
        if self.maps.evals.contains_key(eval_id) || self.maps.archived.is_empty() {
            return lookup_all(&self.maps.allocs, &self.maps.allocs_by_eval, &Key::from(eval_id));
        }
        // An archived evaluation's allocations are among its job's.
        let Some(eval) = self.eval(eval_id) else { return Vec::new() };
        self.allocs_by_job(&eval.namespace, &eval.job_id).into_iter().filter(|alloc| alloc.eval_id == eval_id).collect()
    }

    /// One node.
    pub fn node(&self, node_id: &str) -> Option<Arc<Node>> {
        self.maps.nodes.get(node_id).cloned()
    }

    /// Every node, ordered by ID (a copy of [`Snapshot::nodes_shared`]).
    pub fn nodes(&self) -> Vec<Arc<Node>> {
        self.nodes_shared().to_vec()
    }

    /// Every node ordered by ID, listed once per snapshot and shared: the
    /// scheduler reads the node list for every evaluation it places, and a
    /// batch of evaluations shares one snapshot.
    pub fn nodes_shared(&self) -> Arc<[Arc<Node>]> {
        Arc::clone(self.sorted_nodes.get_or_init(|| self.maps.nodes.values().cloned().collect()))
    }

    /// Nodes whose ID starts with `prefix`, ordered.
    pub fn nodes_by_prefix(&self, prefix: &str) -> Vec<Arc<Node>> {
        by_prefix(&self.maps.nodes, prefix)
    }

    /// One run of a job.
    pub fn run(&self, namespace: &str, job_id: &str, run_id: &str) -> Option<Arc<Run>> {
        self.maps.runs.get(&(Key::namespace(namespace), Key::from(job_id), Key::from(run_id))).cloned()
    }

    /// Every kept run of a job, newest first (by creation index, then ID).
    pub fn runs_of_job(&self, namespace: &str, job_id: &str) -> Vec<Arc<Run>> {
        let mut runs: Vec<Arc<Run>> = self
            .maps
            .run_keys_of_job(namespace, job_id)
            .iter()
            .filter_map(|key| self.maps.runs.get(key).cloned())
            .collect();
        runs.sort_by(|a, b| (b.create_index, &b.id).cmp(&(a.create_index, &a.id)));
        runs
    }

    /// Every run not yet finished, of every job, ordered by key.
    pub fn active_runs(&self) -> Vec<Arc<Run>> {
        self.maps.runs.values().filter(|run| !run.is_terminal()).cloned().collect()
    }

    /// The run a child job (an attempt) belongs to.
    pub fn run_of_child(&self, namespace: &str, child_job_id: &str) -> Option<Arc<Run>> {
        let key = self.maps.run_by_child.get(&job_key(namespace, child_job_id))?;
        self.maps.runs.get(key).cloned()
    }

    /// A job's run counters and cron slots.
    pub fn job_history(&self, namespace: &str, job_id: &str) -> Option<Arc<JobHistory>> {
        self.maps.histories.get(&job_key(namespace, job_id)).cloned()
    }

    /// (cpu MHz, memory MB, disk MB) held on a node by non-terminal allocations.
    pub fn node_used(&self, node_id: &str) -> (u64, u64, u64) {
        let used = self.maps.used_on_node(node_id);
        (used.cpu, used.memory_mb, used.disk_mb)
    }

    /// One key/value record (see `Op::PutKv`).
    pub fn kv(&self, table: &str, key: &str) -> Option<Arc<str>> {
        self.maps.kv.get(&(table.to_string(), key.to_string())).cloned()
    }

    /// Every key/value record of a table whose key starts with `prefix`, ordered by key.
    pub fn kv_prefix(&self, table: &str, prefix: &str) -> Vec<(String, Arc<str>)> {
        let start = (table.to_string(), prefix.to_string());
        self.maps
            .kv
            .range(start..)
            .take_while(|((t, k), _)| t == table && k.starts_with(prefix))
            .map(|((_, k), v)| (k.clone(), Arc::clone(v)))
            .collect()
    }
}

/// Values whose key starts with `prefix`, by one range scan.
fn by_prefix<T>(map: &OrdMap<Key, Arc<T>>, prefix: &str) -> Vec<Arc<T>> {
    map.range::<_, str>((Bound::Included(prefix), Bound::Unbounded))
        .take_while(|(id, _)| id.starts_with(prefix))
        .map(|(_, value)| Arc::clone(value))
        .collect()
}

/// Resident objects and archived ones (both ordered by ID) in one list ordered by ID.
fn merge_by_id<T>(resident: Vec<Arc<T>>, archived: Vec<T>, id_of: impl Fn(&T) -> &str) -> Vec<Arc<T>> {
    let mut merged: Vec<Arc<T>> = resident.into_iter().chain(archived.into_iter().map(Arc::new)).collect();
    merged.sort_by(|a, b| id_of(a).cmp(id_of(b)));
    merged
}

/// Every namespace with a key in `map`: one range scan per namespace.
/// One entry of [`Snapshot::job_listing`]: a job's key, read only when asked.
pub struct ListedJob<'a> {
    snapshot: &'a Snapshot,
    key: &'a JobKey,
    resident: Option<&'a Arc<Job>>,
}

impl ListedJob<'_> {
    /// The job's namespace.
    pub fn namespace(&self) -> &str {
        &self.key.0
    }

    /// The job's ID.
    pub fn id(&self) -> &str {
        &self.key.1
    }

    /// Whether the job is an archived child (reading it costs a storage read).
    pub fn is_archived(&self) -> bool {
        self.resident.is_none()
    }

    /// The job itself (read from storage when archived; `None` if that read fails).
    pub fn read(&self) -> Option<Arc<Job>> {
        match self.resident {
            Some(job) => Some(Arc::clone(job)),
            None => self.snapshot.read_archived_job(self.key),
        }
    }
}

/// Two iterators ordered by key, merged in order (their keys are disjoint).
struct MergedByKey<'a, L, R>
where
    L: Iterator<Item = (&'a JobKey, Option<&'a Arc<Job>>)>,
    R: Iterator<Item = (&'a JobKey, Option<&'a Arc<Job>>)>,
{
    left: std::iter::Peekable<L>,
    right: std::iter::Peekable<R>,
}

impl<'a, L, R> Iterator for MergedByKey<'a, L, R>
where
    L: Iterator<Item = (&'a JobKey, Option<&'a Arc<Job>>)>,
    R: Iterator<Item = (&'a JobKey, Option<&'a Arc<Job>>)>,
{
    type Item = (&'a JobKey, Option<&'a Arc<Job>>);

    fn next(&mut self) -> Option<Self::Item> {
        match (self.left.peek(), self.right.peek()) {
            (Some((left, _)), Some((right, _))) if right < left => self.right.next(),
            (Some(_), _) => self.left.next(),
            (None, _) => self.right.next(),
        }
    }
}

fn namespaces_of<V: Clone>(map: &OrdMap<JobKey, V>) -> std::collections::BTreeSet<String> {
    let mut namespaces = std::collections::BTreeSet::new();
    let mut next_namespace = map.get_min().map(|((namespace, _), _)| namespace.to_string());
    while let Some(namespace) = next_namespace {
        // Every key of `namespace` sorts before `(namespace + "\0", "")`.
        let past_namespace = (Key::from(format!("{namespace}\0")), Key::empty());
        next_namespace = map
            .range((Bound::Included(past_namespace), Bound::Unbounded))
            .next()
            .map(|((namespace, _), _)| namespace.to_string());
        namespaces.insert(namespace);
    }
    namespaces
}

/// The values of `ids` (an index entry), skipping any not in `map`.
fn lookup_all<T, K: Ord + Clone>(map: &OrdMap<Key, Arc<T>>, index: &IdIndex<K>, key: &K) -> Vec<Arc<T>> {
    index.ids(key).filter_map(|id| map.get(id).cloned()).collect()
}
