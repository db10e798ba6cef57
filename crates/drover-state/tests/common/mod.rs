//! Shared fixtures for the integration tests: small jobs, evals, allocs and
//! nodes with just the fields the tests look at.
#![allow(dead_code)]

use std::collections::BTreeMap;

use drover_state::{Op, Txn};
use drover_types::{
    AllocatedCpu, AllocatedMemory, AllocatedResources, AllocatedSharedResources, AllocatedTaskResources, Allocation,
    Evaluation, Job, Node, TaskGroup, client_status, desired_status, node_status,
};

/// A minimal job in `namespace`.
pub fn job_in(namespace: &str, job_id: &str) -> Job {
    Job {
        id: job_id.to_string(),
        name: job_id.to_string(),
        namespace: namespace.to_string(),
        task_groups: vec![TaskGroup { name: "web".to_string(), ..TaskGroup::default() }].into(),
        ..Job::default()
    }
}

/// A minimal job in the default namespace.
pub fn job(job_id: &str) -> Job {
    job_in("default", job_id)
}

/// An evaluation of a default-namespace job.
pub fn eval(eval_id: &str, job_id: &str, status: &str) -> Evaluation {
    Evaluation {
        id: eval_id.to_string(),
        namespace: "default".to_string(),
        job_id: job_id.to_string(),
        status: status.to_string(),
        ..Evaluation::default()
    }
}

/// A running allocation holding `cpu` MHz, `memory_mb` and `disk_mb`.
pub fn alloc(
    alloc_id: &str,
    job_id: &str,
    node_id: &str,
    eval_id: &str,
    cpu: u64,
    memory_mb: u64,
    disk_mb: u64,
) -> Allocation {
    let task = AllocatedTaskResources { cpu: AllocatedCpu { cpu_shares: cpu }, memory: AllocatedMemory { memory_mb } };
    Allocation {
        id: alloc_id.to_string(),
        namespace: "default".to_string(),
        eval_id: eval_id.to_string(),
        node_id: node_id.to_string(),
        job_id: job_id.to_string(),
        task_group: "web".to_string(),
        allocated_resources: AllocatedResources {
            tasks: BTreeMap::from([("task".to_string(), task)]),
            shared: AllocatedSharedResources { disk_mb },
        },
        desired_status: desired_status::RUN.to_string(),
        client_status: client_status::RUNNING.to_string(),
        ..Allocation::default()
    }
}

/// A ready node.
pub fn node(node_id: &str) -> Node {
    Node { id: node_id.to_string(), status: node_status::READY.to_string(), ..Node::default() }
}

/// A transaction without preconditions.
pub fn txn(ops: Vec<Op>) -> Txn {
    Txn { preconditions: Vec::new(), ops }
}

/// A child of `parent` as the dispatcher builds it: a clone of the parent
/// (sharing its task groups) under the child's ID.
pub fn child_of(parent: &Job, child_id: &str) -> Job {
    Job {
        id: child_id.to_string(),
        name: child_id.to_string(),
        parent_id: parent.id.clone(),
        dispatched: true,
        version: 0,
        create_index: 0,
        modify_index: 0,
        job_modify_index: 0,
        status: String::new(),
        ..parent.clone()
    }
}

/// A job whose one task group has `count` instances.
pub fn job_with_count(job_id: &str, count: u32) -> Job {
    Job {
        task_groups: vec![TaskGroup { name: "web".to_string(), count, ..TaskGroup::default() }].into(),
        ..job(job_id)
    }
}
