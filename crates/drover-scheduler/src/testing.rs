//! An in-memory [`StateView`] and small builders, for this crate's tests and
//! for other crates that want to run the scheduler without a state store.
//!
//! ```
//! use drover_scheduler::testing::{MemoryState, input, node, service_job};
//! let mut state = MemoryState::default();
//! state.add_node(node("n1", "dc1"));
//! let job = state.add_job(service_job("web", 2));
//! let plan = drover_scheduler::schedule(&state, &input(&job, 1));
//! assert_eq!(plan.placements.len(), 2);
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use drover_types::{
    Allocation, DEFAULT_NAMESPACE, DriverInfo, Evaluation, Job, JobType, Node, NodeCpuResources, NodeDiskResources,
    NodeMemoryResources, NodeResources, Resources, Task, TaskGroup, alloc_name, client_status, desired_status,
    eligibility, node_status,
};

use crate::rank::allocated_resources;
use crate::{Plan, SchedulerInput, StateView};

/// A state snapshot held in memory: nodes, job versions and allocations.
#[derive(Debug, Clone, Default)]
pub struct MemoryState {
    /// The state index reported by [`StateView::index`].
    pub index: u64,
    /// Nodes by ID.
    pub nodes: BTreeMap<String, Arc<Node>>,
    /// Job versions by (namespace, job ID, version).
    pub job_versions: BTreeMap<(String, String, u64), Arc<Job>>,
    /// Allocations by ID.
    pub allocs: BTreeMap<String, Arc<Allocation>>,
}

impl MemoryState {
    /// Adds or replaces a node.
    pub fn add_node(&mut self, node: Node) {
        self.nodes.insert(node.id.clone(), Arc::new(node));
    }

    /// Stores a job version and returns it shared.
    pub fn add_job(&mut self, job: Job) -> Arc<Job> {
        let job = Arc::new(job);
        self.job_versions.insert((job.namespace.clone(), job.id.clone(), job.version), Arc::clone(&job));
        job
    }

    /// Adds or replaces an allocation.
    pub fn add_alloc(&mut self, alloc: Allocation) {
        self.allocs.insert(alloc.id.clone(), Arc::new(alloc));
    }

    /// Commits a plan the way the server's applier would: stops, in-place
    /// updates and placements (with index 0 fields left as they are).
    pub fn apply_plan(&mut self, plan: &Plan) {
        for stop in &plan.stops {
            let Some(existing) = self.allocs.get(&stop.alloc_id) else { continue };
            let mut alloc = Allocation::clone(existing);
            alloc.desired_status = desired_status::STOP.to_string();
            alloc.desired_description = stop.desired_description.clone();
            if let Some(status) = &stop.client_status {
                alloc.client_status = status.clone();
            }
            if let Some(next) = &stop.next_allocation {
                alloc.next_allocation = next.clone();
            }
            self.add_alloc(alloc);
        }
        for update in &plan.in_place_updates {
            let Some(existing) = self.allocs.get(&update.alloc_id) else { continue };
            let mut alloc = Allocation::clone(existing);
            alloc.job_version = update.job_version;
            self.add_alloc(alloc);
        }
        for placement in &plan.placements {
            self.add_alloc(placement.clone());
        }
        self.index += 1;
    }
}

impl StateView for MemoryState {
    fn index(&self) -> u64 {
        self.index
    }

    fn job_version(&self, namespace: &str, job_id: &str, version: u64) -> Option<Arc<Job>> {
        self.job_versions.get(&(namespace.to_string(), job_id.to_string(), version)).cloned()
    }

    fn nodes(&self) -> Arc<[Arc<Node>]> {
        self.nodes.values().cloned().collect()
    }

    fn node(&self, node_id: &str) -> Option<Arc<Node>> {
        self.nodes.get(node_id).cloned()
    }

    fn allocs_by_job(&self, namespace: &str, job_id: &str) -> Vec<Arc<Allocation>> {
        self.allocs.values().filter(|alloc| alloc.namespace == namespace && alloc.job_id == job_id).cloned().collect()
    }

    fn allocs_by_node(&self, node_id: &str) -> Vec<Arc<Allocation>> {
        self.allocs.values().filter(|alloc| alloc.node_id == node_id).cloned().collect()
    }

    fn node_used(&self, node_id: &str) -> (u64, u64, u64) {
        let mut used = (0, 0, 0);
        for alloc in self.allocs.values().filter(|alloc| alloc.node_id == node_id && !alloc.terminal()) {
            used.0 += alloc.allocated_resources.cpu();
            used.1 += alloc.allocated_resources.memory_mb();
            used.2 += alloc.allocated_resources.disk_mb();
        }
        used
    }
}

/// A ready, eligible node in `datacenter` with 4000 MHz, 8192 MB, 100 GB of
/// disk, a healthy `raw_exec` and `mock` driver and `kernel.name = linux`.
pub fn node(node_id: &str, datacenter: &str) -> Node {
    let mut drivers = BTreeMap::new();
    for driver in ["raw_exec", "mock"] {
        drivers.insert(driver.to_string(), DriverInfo { detected: true, healthy: true, ..DriverInfo::default() });
    }
    let mut attributes = BTreeMap::new();
    attributes.insert("kernel.name".to_string(), "linux".to_string());
    attributes.insert("unique.hostname".to_string(), node_id.to_string());
    Node {
        id: node_id.to_string(),
        name: node_id.to_string(),
        datacenter: datacenter.to_string(),
        node_pool: "default".to_string(),
        attributes,
        drivers,
        node_resources: NodeResources {
            cpu: NodeCpuResources { cpu_shares: 4000, total_cpu_cores: 4 },
            memory: NodeMemoryResources { memory_mb: 8192 },
            disk: NodeDiskResources { disk_mb: 100_000 },
        },
        status: node_status::READY.to_string(),
        scheduling_eligibility: eligibility::ELIGIBLE.to_string(),
        ..Node::default()
    }
}

/// A canonical job of `job_type` with one group `group` of `count` and one
/// `raw_exec` task `task` (100 MHz, 256 MB, 300 MB disk).
pub fn job(job_id: &str, job_type: JobType, count: u32) -> Job {
    let task = Task {
        name: "task".to_string(),
        driver: "raw_exec".to_string(),
        config: BTreeMap::from([("command".to_string(), serde_json::Value::String("/bin/true".to_string()))]),
        resources: Resources { cpu: 100, memory_mb: 256, disk_mb: 0 },
        ..Task::default()
    };
    let mut job = Job {
        id: job_id.to_string(),
        job_type,
        task_groups: vec![TaskGroup { name: "group".to_string(), count, tasks: vec![task], ..TaskGroup::default() }]
            .into(),
        ..Job::default()
    };
    job.canonicalize();
    job
}

/// [`job`] of type service.
pub fn service_job(job_id: &str, count: u32) -> Job {
    job(job_id, JobType::Service, count)
}

/// Scheduler input for `job` with eval `eval-1`, `now` = 1000 s and `seed`.
pub fn input(job: &Arc<Job>, seed: u64) -> SchedulerInput {
    SchedulerInput {
        eval: Evaluation {
            id: "eval-1".to_string(),
            namespace: job.namespace.clone(),
            job_id: job.id.clone(),
            eval_type: job.job_type,
            ..Evaluation::default()
        },
        job: Some(Arc::clone(job)),
        now: 1_000 * drover_types::NANOS_PER_SEC,
        seed,
        alloc_ids: crate::AllocIds::Seeded,
    }
}

/// A running allocation of `job`'s group at `index` on `node_id`, at the job's version.
pub fn running_alloc(job: &Job, group: &str, index: u32, node_id: &str) -> Allocation {
    let resources = job.task_group(group).map(allocated_resources).unwrap_or_default();
    Allocation {
        id: format!("{}-{group}-{index}-{node_id}", job.id),
        namespace: if job.namespace.is_empty() { DEFAULT_NAMESPACE.to_string() } else { job.namespace.clone() },
        eval_id: "eval-0".to_string(),
        name: alloc_name(&job.id, group, index),
        node_id: node_id.to_string(),
        node_name: node_id.to_string(),
        job_id: job.id.clone(),
        job_version: job.version,
        task_group: group.to_string(),
        allocated_resources: resources,
        desired_status: desired_status::RUN.to_string(),
        client_status: client_status::RUNNING.to_string(),
        ..Allocation::default()
    }
}
