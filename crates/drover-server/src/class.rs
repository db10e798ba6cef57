//! Blocked classes from a child job's spec: the placement fingerprint (a
//! hash of everything the scheduler reads to place a fresh job) and the
//! class a child belongs to (its parent plus that fingerprint).
//!
//! Every dispatch asks for its child's class, and hashing the spec (one JSON
//! encoding of the task groups) was a fixed cost per dispatch. A dispatched
//! or periodic child shares its parent's task groups (the same copy-on-write
//! `TaskGroups`), so [`ClassFingerprints`] remembers the fingerprint per
//! parent along with the copy it was computed from, and answers a child that
//! shares that copy without hashing again. Holding the copy keeps it alive,
//! so pointer identity cannot be reused by another spec.

use std::collections::HashMap;
use std::hash::Hasher;
use std::sync::{Arc, Mutex};

use drover_types::{Constraint, Job, JobType, TaskGroups};

/// Evaluations whose placement problem is the same: fresh children (no
/// allocations yet) of one parent built from one placement spec. Two of them
/// against the same cluster get the same plan, so once one is blocked the
/// others need no scheduler pass until capacity changes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlockedClass {
    /// Namespace of the parent and its children.
    pub namespace: String,
    /// The parameterized or periodic parent.
    pub parent_id: String,
    /// Hash of everything the scheduler reads from the child's spec
    /// ([`placement_fingerprint`]).
    pub spec_fingerprint: u64,
}

/// Most parents whose fingerprint is remembered; past it the memory is
/// forgotten and refilled (it only saves hashing).
const MAX_REMEMBERED_PARENTS: usize = 4096;

/// A hash of everything the scheduler reads from a job's spec to place it:
/// type, datacenters, node pool, constraints and task groups (resources,
/// counts, constraints, affinities, spreads, tasks). Meta, payload, IDs and
/// priority are left out: they do not change where a fresh job fits.
pub(crate) fn placement_fingerprint(job: &Job) -> Option<u64> {
    struct HashWriter<'a>(&'a mut std::collections::hash_map::DefaultHasher);
    impl std::io::Write for HashWriter<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.write(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let spec = (job.job_type, job.all_at_once, &job.datacenters, &job.node_pool, &job.constraints, &job.task_groups);
    // An error would leave a hash of a prefix only: no fingerprint then.
    serde_json::to_writer(HashWriter(&mut hasher), &spec).ok()?;
    Some(hasher.finish())
}

/// Whether a job can belong to a class at all: a live child placed by the
/// generic scheduler.
fn may_have_class(job: &Job) -> bool {
    !job.parent_id.is_empty() && !job.stop && matches!(job.job_type, JobType::Batch | JobType::Service)
}

/// The class a child job's evaluations belong to, from its spec alone: its
/// parent and its placement fingerprint. `None` for jobs that are not
/// children or are not placed by the generic scheduler.
pub(crate) fn class_of_child(job: &Job) -> Option<BlockedClass> {
    if !may_have_class(job) {
        return None;
    }
    Some(BlockedClass {
        namespace: job.namespace.clone(),
        parent_id: job.parent_id.clone(),
        spec_fingerprint: placement_fingerprint(job)?,
    })
}

/// The spec a fingerprint was computed from: the task groups by identity
/// (kept alive here), the job-level fields by value.
struct Remembered {
    task_groups: TaskGroups,
    job_type: JobType,
    all_at_once: bool,
    datacenters: Vec<String>,
    node_pool: String,
    constraints: Vec<Constraint>,
    fingerprint: u64,
}

impl Remembered {
    fn matches(&self, job: &Job) -> bool {
        self.task_groups.is_shared_with(&job.task_groups)
            && self.job_type == job.job_type
            && self.all_at_once == job.all_at_once
            && self.datacenters == job.datacenters
            && self.node_pool == job.node_pool
            && self.constraints == job.constraints
    }
}

/// [`class_of_child`] with the fingerprint remembered per parent (see the
/// module docs). Cheap to clone; clones share the memory.
#[derive(Clone, Default)]
pub(crate) struct ClassFingerprints {
    /// Namespace, then parent ID, to the last spec fingerprinted.
    by_parent: Arc<Mutex<HashMap<String, HashMap<String, Remembered>>>>,
}

impl ClassFingerprints {
    /// The class of `job`, as [`class_of_child`] computes it.
    pub(crate) fn class_of_child(&self, job: &Job) -> Option<BlockedClass> {
        if !may_have_class(job) {
            return None;
        }
        if let Some(spec_fingerprint) = self.remembered(job) {
            return Some(BlockedClass {
                namespace: job.namespace.clone(),
                parent_id: job.parent_id.clone(),
                spec_fingerprint,
            });
        }
        let class = class_of_child(job)?;
        let mut by_parent = self.by_parent.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if by_parent.values().map(HashMap::len).sum::<usize>() >= MAX_REMEMBERED_PARENTS {
            by_parent.clear();
        }
        by_parent.entry(job.namespace.clone()).or_default().insert(
            job.parent_id.clone(),
            Remembered {
                task_groups: job.task_groups.clone(),
                job_type: job.job_type,
                all_at_once: job.all_at_once,
                datacenters: job.datacenters.clone(),
                node_pool: job.node_pool.clone(),
                constraints: job.constraints.clone(),
                fingerprint: class.spec_fingerprint,
            },
        );
        Some(class)
    }

    fn remembered(&self, job: &Job) -> Option<u64> {
        let by_parent = self.by_parent.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let remembered = by_parent.get(&job.namespace)?.get(&job.parent_id)?;
        remembered.matches(job).then_some(remembered.fingerprint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parent() -> Job {
        let mut parent = Job {
            id: "parent".to_string(),
            job_type: JobType::Batch,
            task_groups: vec![drover_types::TaskGroup { name: "g".to_string(), ..Default::default() }].into(),
            ..Job::default()
        };
        parent.canonicalize();
        parent
    }

    fn child(parent: &Job, id: &str) -> Job {
        let mut child = crate::children::child_of(parent, id, 1);
        child.canonicalize();
        child
    }

    #[test]
    fn remembered_fingerprint_answers_as_computing_it_would() {
        let fingerprints = ClassFingerprints::default();
        let parent = parent();
        let first = child(&parent, "parent/dispatch-1");
        let second = child(&parent, "parent/dispatch-2");
        assert_eq!(fingerprints.class_of_child(&first), class_of_child(&first));
        assert_eq!(fingerprints.remembered(&second), placement_fingerprint(&second), "shared groups: remembered");
        assert_eq!(fingerprints.class_of_child(&second), class_of_child(&second));

        // A child whose groups were changed (copied) is hashed, not answered from memory.
        let mut changed = child(&parent, "parent/dispatch-3");
        changed.task_groups[0].count = 5;
        assert_eq!(fingerprints.remembered(&changed), None);
        assert_eq!(fingerprints.class_of_child(&changed), class_of_child(&changed));
        assert_ne!(class_of_child(&changed), class_of_child(&first));

        // Same groups, different job-level placement fields: not remembered either.
        let mut elsewhere = child(&parent, "parent/dispatch-4");
        elsewhere.datacenters = vec!["dc9".to_string()];
        let _ = fingerprints.class_of_child(&first);
        assert_eq!(fingerprints.remembered(&elsewhere), None);
        assert_eq!(fingerprints.class_of_child(&elsewhere), class_of_child(&elsewhere));

        // Not a child: no class.
        assert_eq!(fingerprints.class_of_child(&parent), None);
    }
}
