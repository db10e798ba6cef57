//! The in-memory state: persistent (copy-on-write) ordered maps of every
//! object, plus the secondary indexes kept in step with them.
//!
//! Every mutation goes through a `put_*` / `remove_*` method here so the
//! indexes (allocs by job, node and eval; allocation counts per job and
//! group; live allocs by node; evals by job;
//! children by parent and by idempotency token; children counts per parent;
//! system jobs; resources used per node) can never drift from the primary maps. Cloning a
//! [`StateMaps`] is O(1): the `imbl` maps share structure until written.

use std::sync::Arc;

use drover_types::{Allocation, Evaluation, Job, JobHistory, JobType, Node, Run};
use imbl::{OrdMap, OrdSet};

use crate::alloc_counts::JobAllocCounts;
use crate::archive::ArchivedJob;
use crate::children::{ChildClass, ChildCounts};
use crate::id_index::IdIndex;
pub(crate) use crate::key::Key;

/// `(namespace, job_id)`: how jobs are keyed.
pub(crate) type JobKey = (Key, Key);

/// `(namespace, job_id, run_id)`: how runs are keyed (run IDs sort by time).
pub(crate) type RunKey = (Key, Key, Key);

/// `(namespace, job_id, version)`: how job versions are keyed.
pub(crate) type JobVersionKey = (Key, Key, u64);

/// `(namespace, parent_id, idempotency token)`: how children are found by dispatch token.
pub(crate) type TokenKey = (Key, Key, Key);

/// Resources held on one node by its non-terminal allocations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct UsedResources {
    /// CPU in MHz.
    pub(crate) cpu: u64,
    /// Memory in MB.
    pub(crate) memory_mb: u64,
    /// Disk in MB.
    pub(crate) disk_mb: u64,
}

impl UsedResources {
    fn of_alloc(alloc: &Allocation) -> UsedResources {
        let resources = &alloc.allocated_resources;
        UsedResources { cpu: resources.cpu(), memory_mb: resources.memory_mb(), disk_mb: resources.disk_mb() }
    }

    fn is_zero(self) -> bool {
        self == UsedResources::default()
    }
}

/// Every object and every secondary index, at one point in time.
#[derive(Debug, Clone, Default)]
pub(crate) struct StateMaps {
    /// Latest version of each job.
    pub(crate) jobs: OrdMap<JobKey, Arc<Job>>,
    /// Every kept version of each job older than its latest (which is in
    /// `jobs` only, so a job's spec is held once).
    pub(crate) job_versions: OrdMap<JobVersionKey, Arc<Job>>,
    /// Evaluations by ID.
    pub(crate) evals: OrdMap<Key, Arc<Evaluation>>,
    /// Allocations by ID.
    pub(crate) allocs: OrdMap<Key, Arc<Allocation>>,
    /// Nodes by ID.
    pub(crate) nodes: OrdMap<Key, Arc<Node>>,
    /// Allocation IDs per job.
    pub(crate) allocs_by_job: IdIndex<JobKey>,
    /// Allocation counts per job and task group (absent = no allocations).
    pub(crate) alloc_counts: OrdMap<JobKey, Arc<JobAllocCounts>>,
    /// Allocation IDs per node.
    pub(crate) allocs_by_node: IdIndex<Key>,
    /// Allocation IDs per node, of the allocations not client-terminal: what
    /// the node's client still has to run or report.
    pub(crate) live_allocs_by_node: IdIndex<Key>,
    /// Allocation IDs per placing evaluation.
    pub(crate) allocs_by_eval: IdIndex<Key>,
    /// Evaluation IDs per job.
    pub(crate) evals_by_job: IdIndex<JobKey>,
    /// Child job IDs per `(namespace, parent_id)`.
    pub(crate) children_by_parent: IdIndex<JobKey>,
    /// Child job IDs per `(namespace, parent_id, idempotency token)`, for children with a token.
    pub(crate) children_by_token: IdIndex<TokenKey>,
    /// Children counted by status and ending, per `(namespace, parent_id)` (absent = no children).
    pub(crate) children_counts: OrdMap<JobKey, ChildCounts>,
    /// Keys of every system and sysbatch job.
    pub(crate) system_jobs: OrdSet<JobKey>,
    /// Resources held per node by non-terminal allocations (absent = nothing held).
    pub(crate) node_used: OrdMap<Key, UsedResources>,
    /// Small durable records by `(table, key)` (see `Op::PutKv`).
    pub(crate) kv: OrdMap<KvKey, Arc<str>>,
    /// Runs by (namespace, job, run ID).
    pub(crate) runs: OrdMap<RunKey, Arc<Run>>,
    /// Finished runs per job in trimming order (see [`FinishedRunKey`]), so
    /// retention looks at the finished runs only, never at every active one.
    pub(crate) finished_runs: OrdSet<FinishedRunKey>,
    /// The run each child job belongs to, by (namespace, child job ID).
    pub(crate) run_by_child: OrdMap<JobKey, RunKey>,
    /// Run counters and cron slots per job.
    pub(crate) histories: OrdMap<JobKey, Arc<JobHistory>>,
    /// Child jobs whose family lives in storage only (see `archive`).
    pub(crate) archived: OrdMap<JobKey, ArchivedJob>,
}

/// A finished run in trimming order: its job, whether it succeeded (`true`
/// sorts after `false`: failed first), then oldest finish first.
pub(crate) type FinishedRunKey = (JobKey, bool, i64, u64, RunKey);

/// Where a finished run sits in `finished_runs` (`None` while it runs).
fn finished_run_key(run: &Run) -> Option<FinishedRunKey> {
    if !run.is_terminal() {
        return None;
    }
    let succeeded = run.status == drover_types::run_status::SUCCESS;
    Some((job_key(&run.namespace, &run.job_id), succeeded, run.finished_at, run.create_index, run_key(run)))
}

/// The key of a run.
pub(crate) fn run_key(run: &Run) -> RunKey {
    (Key::namespace(&run.namespace), Key::from(&run.job_id), Key::from(&run.id))
}

/// The key of a key/value record: `(table, key)`.
pub(crate) type KvKey = (String, String);

/// The key of a job.
pub(crate) fn job_key(namespace: &str, job_id: &str) -> JobKey {
    (Key::namespace(namespace), Key::from(job_id))
}

impl StateMaps {
    /// Stores the latest version of a job; returns the one it replaced.
    pub(crate) fn put_job(&mut self, job: Arc<Job>) -> Option<Arc<Job>> {
        let key = job_key(&job.namespace, &job.id);
        let class_before = self.child_class(&key);
        let old = self.jobs.insert(key.clone(), Arc::clone(&job));
        if let Some(old) = &old {
            self.unindex_job(old);
        }
        self.index_job(&job, &key);
        self.recount_child(&key, class_before);
        old
    }

    /// Removes a job and every version of it; returns the removed latest version.
    pub(crate) fn remove_job(&mut self, namespace: &str, job_id: &str) -> Option<Arc<Job>> {
        let key = job_key(namespace, job_id);
        let class_before = self.child_class(&key);
        let old = self.jobs.remove(&key)?;
        self.unindex_job(&old);
        self.recount_child(&key, class_before);
        for version_key in self.job_version_keys(namespace, job_id) {
            self.job_versions.remove(&version_key);
        }
        Some(old)
    }

    /// Keys of every kept version of a job, oldest first.
    pub(crate) fn job_version_keys(&self, namespace: &str, job_id: &str) -> Vec<JobVersionKey> {
        let (namespace, job_id) = job_key(namespace, job_id);
        let first = (namespace.clone(), job_id.clone(), 0);
        let last = (namespace, job_id, u64::MAX);
        self.job_versions.range(first..=last).map(|(key, _)| key.clone()).collect()
    }

    /// Stores one version of a job.
    pub(crate) fn put_job_version(&mut self, job: Arc<Job>) {
        let key = (Key::namespace(&job.namespace), Key::from(&job.id), job.version);
        self.job_versions.insert(key, job);
    }

    /// Stores an evaluation; returns the one it replaced.
    pub(crate) fn put_eval(&mut self, eval: Arc<Evaluation>) -> Option<Arc<Evaluation>> {
        let id = Key::from(&eval.id);
        let old = self.evals.insert(id.clone(), Arc::clone(&eval));
        if let Some(old) = &old {
            self.evals_by_job.remove(&job_key(&old.namespace, &old.job_id), &old.id);
        }
        self.evals_by_job.add(job_key(&eval.namespace, &eval.job_id), id);
        old
    }

    /// Removes an evaluation; returns it.
    pub(crate) fn remove_eval(&mut self, eval_id: &str) -> Option<Arc<Evaluation>> {
        let old = self.evals.remove(eval_id)?;
        self.evals_by_job.remove(&job_key(&old.namespace, &old.job_id), &old.id);
        Some(old)
    }

    /// Stores an allocation, keeping its indexes and its node's used
    /// resources in step; returns the one it replaced.
    pub(crate) fn put_alloc(&mut self, alloc: Arc<Allocation>) -> Option<Arc<Allocation>> {
        let job = job_key(&alloc.namespace, &alloc.job_id);
        // The job the allocation belonged to before, when it was another one.
        let previous_job = self
            .allocs
            .get(alloc.id.as_str())
            .map(|old| job_key(&old.namespace, &old.job_id))
            .filter(|previous| *previous != job);
        // Most allocations belong to jobs that are not children: their
        // classification (before and after) is skipped.
        let job_is_child = self.is_child(&job);
        let class_before = if job_is_child { self.child_class(&job) } else { None };
        let previous_class_before = previous_job.as_ref().and_then(|previous| self.child_class(previous));
        let id = Key::from(&alloc.id);
        let old = self.allocs.insert(id.clone(), Arc::clone(&alloc));
        if let Some(old) = &old {
            self.unindex_alloc(old);
        }
        self.index_alloc(&alloc, id);
        if job_is_child {
            self.recount_child(&job, class_before);
        }
        if let Some(previous) = previous_job {
            self.recount_child(&previous, previous_class_before);
        }
        old
    }

    /// Removes an allocation and its index entries; returns it.
    pub(crate) fn remove_alloc(&mut self, alloc_id: &str) -> Option<Arc<Allocation>> {
        let job = self.allocs.get(alloc_id).map(|old| job_key(&old.namespace, &old.job_id))?;
        let class_before = self.child_class(&job);
        let old = self.allocs.remove(alloc_id)?;
        self.unindex_alloc(&old);
        self.recount_child(&job, class_before);
        Some(old)
    }

    /// Stores a node; returns the one it replaced.
    pub(crate) fn put_node(&mut self, node: Arc<Node>) -> Option<Arc<Node>> {
        self.nodes.insert(Key::from(&node.id), node)
    }

    /// Removes a node; returns it. Its allocations (and their used
    /// resources) stay until they are removed themselves.
    pub(crate) fn remove_node(&mut self, node_id: &str) -> Option<Arc<Node>> {
        self.nodes.remove(node_id)
    }

    /// Stores a run, keeping the child index in step; returns the one it replaced.
    pub(crate) fn put_run(&mut self, run: Arc<Run>) -> Option<Arc<Run>> {
        let key = run_key(&run);
        let old = self.runs.insert(key.clone(), Arc::clone(&run));
        if let Some(old) = &old {
            for child in &old.child_job_ids {
                self.run_by_child.remove(&job_key(&old.namespace, child));
            }
            if let Some(finished) = finished_run_key(old) {
                self.finished_runs.remove(&finished);
            }
        }
        if let Some(finished) = finished_run_key(&run) {
            self.finished_runs.insert(finished);
        }
        for child in &run.child_job_ids {
            self.run_by_child.insert(job_key(&run.namespace, child), key.clone());
        }
        old
    }

    /// Removes a run and its child index entries; returns it.
    pub(crate) fn remove_run(&mut self, key: &RunKey) -> Option<Arc<Run>> {
        let old = self.runs.remove(key)?;
        if let Some(finished) = finished_run_key(&old) {
            self.finished_runs.remove(&finished);
        }
        for child in &old.child_job_ids {
            if self.run_by_child.get(&job_key(&old.namespace, child)) == Some(key) {
                self.run_by_child.remove(&job_key(&old.namespace, child));
            }
        }
        Some(old)
    }

    /// Keys of a job's finished runs that succeeded (or, with `succeeded`
    /// false, that did not), the one to trim first first.
    pub(crate) fn finished_run_keys(&self, key: &JobKey, succeeded: bool) -> Vec<RunKey> {
        let first = (key.clone(), succeeded, i64::MIN, 0, (Key::empty(), Key::empty(), Key::empty()));
        self.finished_runs
            .range(first..)
            .take_while(|(job, ok, ..)| job == key && *ok == succeeded)
            .map(|(.., run_key)| run_key.clone())
            .collect()
    }

    /// Keys of every run of a job, oldest ID first.
    pub(crate) fn run_keys_of_job(&self, namespace: &str, job_id: &str) -> Vec<RunKey> {
        let (namespace, job_id) = job_key(namespace, job_id);
        self.runs
            .range((namespace.clone(), job_id.clone(), Key::empty())..)
            .take_while(|((run_namespace, run_job, _), _)| *run_namespace == namespace && *run_job == job_id)
            .map(|(key, _)| key.clone())
            .collect()
    }

    /// Resources held on a node by non-terminal allocations.
    pub(crate) fn used_on_node(&self, node_id: &str) -> UsedResources {
        self.node_used.get(node_id).copied().unwrap_or_default()
    }

    /// Files an allocation (whose ID is `id`) in the allocation indexes and
    /// adds what it holds to its node's used resources.
    pub(crate) fn index_alloc(&mut self, alloc: &Allocation, id: Key) {
        let node = Key::from(&alloc.node_id);
        let job = job_key(&alloc.namespace, &alloc.job_id);
        match self.alloc_counts.get_mut(&job) {
            Some(counts) => Arc::make_mut(counts).add(alloc),
            None => {
                let counts = JobAllocCounts::of([alloc]);
                if !counts.is_empty() {
                    self.alloc_counts.insert(job.clone(), Arc::new(counts));
                }
            }
        }
        self.allocs_by_job.add(job, id.clone());
        self.allocs_by_node.add(node.clone(), id.clone());
        if !alloc.client_terminal() {
            self.live_allocs_by_node.add(node, id.clone());
        }
        self.allocs_by_eval.add(Key::from(&alloc.eval_id), id);
        if !alloc.terminal() {
            let used = UsedResources::of_alloc(alloc);
            let entry = self.node_used.get(alloc.node_id.as_str()).copied().unwrap_or_default();
            let sum = UsedResources {
                cpu: entry.cpu.saturating_add(used.cpu),
                memory_mb: entry.memory_mb.saturating_add(used.memory_mb),
                disk_mb: entry.disk_mb.saturating_add(used.disk_mb),
            };
            self.set_node_used(&alloc.node_id, sum);
        }
    }

    pub(crate) fn unindex_alloc(&mut self, alloc: &Allocation) {
        let job = job_key(&alloc.namespace, &alloc.job_id);
        if let Some(counts) = self.alloc_counts.get_mut(&job) {
            let counts = Arc::make_mut(counts);
            counts.remove(alloc);
            if counts.is_empty() {
                self.alloc_counts.remove(&job);
            }
        }
        self.allocs_by_job.remove(&job, &alloc.id);
        let node = Key::from(&alloc.node_id);
        self.allocs_by_node.remove(&node, &alloc.id);
        if !alloc.client_terminal() {
            self.live_allocs_by_node.remove(&node, &alloc.id);
        }
        self.allocs_by_eval.remove(&Key::from(&alloc.eval_id), &alloc.id);
        if !alloc.terminal() {
            let used = UsedResources::of_alloc(alloc);
            let entry = self.node_used.get(alloc.node_id.as_str()).copied().unwrap_or_default();
            let rest = UsedResources {
                cpu: entry.cpu.saturating_sub(used.cpu),
                memory_mb: entry.memory_mb.saturating_sub(used.memory_mb),
                disk_mb: entry.disk_mb.saturating_sub(used.disk_mb),
            };
            self.set_node_used(&alloc.node_id, rest);
        }
    }

    /// Adds a job, stored under `key` in `jobs`, to the job indexes
    /// (children by parent and by token, system jobs), which share its key's strings.
    pub(crate) fn index_job(&mut self, job: &Job, key: &JobKey) {
        if is_system(job) {
            self.system_jobs.insert(key.clone());
        }
        if job.parent_id.is_empty() {
            return;
        }
        let id = key.1.clone();
        if let Some(token_key) = token_key(job) {
            self.children_by_token.add(token_key, id.clone());
        }
        self.children_by_parent.add(job_key(&job.namespace, &job.parent_id), id);
    }

    /// Removes a job from the job indexes.
    fn unindex_job(&mut self, job: &Job) {
        if is_system(job) {
            self.system_jobs.remove(&job_key(&job.namespace, &job.id));
        }
        if job.parent_id.is_empty() {
            return;
        }
        self.children_by_parent.remove(&job_key(&job.namespace, &job.parent_id), &job.id);
        if let Some(token_key) = token_key(job) {
            self.children_by_token.remove(&token_key, &job.id);
        }
    }

    /// Whether the job under `key` is a child (dispatched or periodic): only
    /// children are counted in [`StateMaps::children_counts`]. A write of an
    /// allocation never changes this, so one look serves before and after.
    fn is_child(&self, key: &JobKey) -> bool {
        self.jobs.get(key).is_some_and(|job| !job.parent_id.is_empty())
    }

    /// The parent and class of the job under `key`, if it is a child.
    /// Costs O(allocations of the job) for a dead child, O(1) otherwise.
    pub(crate) fn child_class(&self, key: &JobKey) -> Option<(JobKey, ChildClass)> {
        let job = self.jobs.get(key)?;
        if job.parent_id.is_empty() {
            return None;
        }
        let alloc_ids = self.allocs_by_job.ids(key);
        let allocs = alloc_ids.filter_map(|alloc_id| self.allocs.get(alloc_id)).map(|alloc| &**alloc);
        Some((job_key(&job.namespace, &job.parent_id), ChildClass::of(job, allocs)))
    }

    /// Moves the job under `key` from the bucket it was counted in
    /// (`class_before`, from [`StateMaps::child_class`] before a write) to the
    /// one it belongs in now.
    fn recount_child(&mut self, key: &JobKey, class_before: Option<(JobKey, ChildClass)>) {
        let class_after = self.child_class(key);
        if class_after == class_before {
            return;
        }
        if let Some((parent, class)) = class_before
            && let Some(counts) = self.children_counts.get_mut(&parent)
        {
            counts.remove(class);
            if counts.is_empty() {
                self.children_counts.remove(&parent);
            }
        }
        if let Some((parent, class)) = class_after {
            self.children_counts.entry(parent).or_default().add(class);
        }
    }

    fn set_node_used(&mut self, node_id: &str, used: UsedResources) {
        if used.is_zero() {
            self.node_used.remove(node_id);
        } else {
            self.node_used.insert(Key::from(node_id), used);
        }
    }
}

/// Whether a job runs on every node (system or sysbatch).
fn is_system(job: &Job) -> bool {
    matches!(job.job_type, JobType::System | JobType::Sysbatch)
}

/// The token index key of a child dispatched with an idempotency token.
fn token_key(job: &Job) -> Option<TokenKey> {
    if job.parent_id.is_empty() || job.dispatch_idempotency_token.is_empty() {
        return None;
    }
    Some((Key::namespace(&job.namespace), Key::from(&job.parent_id), Key::from(&job.dispatch_idempotency_token)))
}
