//! Scale: 1,000 placements on 10,000 nodes, every one fitting, each looking
//! at only a handful of nodes (not timed).

use std::collections::HashMap;

use drover_types::{JobType, Resources};

use crate::StateView;
use crate::testing::{MemoryState, input, job, node};
use crate::{Plan, schedule};

fn check_scale(job_type: JobType, n_nodes: usize, count: u32) -> (MemoryState, Plan) {
    let mut state = MemoryState::default();
    for node_idx in 0..n_nodes {
        let mut test_node = node(&format!("node-{node_idx:05}"), if node_idx % 2 == 0 { "dc1" } else { "dc2" });
        // Mixed sizes: 1000..4000 MHz, 1024..4096 MB.
        test_node.node_resources.cpu.cpu_shares = 1000 * (1 + (node_idx as u64 % 4));
        test_node.node_resources.memory.memory_mb = 1024 * (1 + (node_idx as u64 % 4));
        state.add_node(test_node);
    }
    let mut big = job("big", job_type, count);
    big.task_groups[0].tasks[0].resources = Resources { cpu: 600, memory_mb: 700, disk_mb: 0 };
    let big = state.add_job(big);
    let plan = schedule(&state, &input(&big, 42));
    (state, plan)
}

#[test]
fn thousand_placements_on_ten_thousand_nodes_all_fit() {
    for job_type in [JobType::Service, JobType::Batch] {
        let (mut state, plan) = check_scale(job_type, 10_000, 1_000);
        assert_eq!(plan.placements.len(), 1_000, "{job_type:?}");
        assert!(plan.failed_tg_allocs.is_empty());
        let limit = crate::select::placement_limit(job_type, 10_000);
        for alloc in &plan.placements {
            assert!(
                alloc.metrics.nodes_evaluated <= 64,
                "{job_type:?} looked at {} nodes",
                alloc.metrics.nodes_evaluated
            );
            assert!(alloc.metrics.score_meta_data.len() <= limit.min(5));
        }
        let mut names: Vec<&str> = plan.placements.iter().map(|alloc| alloc.name.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 1_000);
        let mut per_node: HashMap<&str, usize> = HashMap::new();
        for alloc in &plan.placements {
            *per_node.entry(alloc.node_id.as_str()).or_insert(0) += 1;
        }
        state.apply_plan(&plan);
        for node_id in per_node.keys() {
            let test_node = state.node(node_id).expect("node exists");
            let (cpu, memory, disk) = test_node.allocatable();
            let (used_cpu, used_memory, used_disk) = state.node_used(node_id);
            assert!(used_cpu <= cpu && used_memory <= memory && used_disk <= disk, "{node_id} overcommitted");
        }
    }
}

#[test]
fn filling_a_small_cluster_exactly() {
    // 10 nodes of 1000..4000 MHz fit 1+3+5+6... instances of 600 MHz / 700 MB;
    // ask for more than fits and check the rest is queued, nothing overcommitted.
    let (mut state, plan) = check_scale(JobType::Batch, 10, 40);
    let placed = plan.placements.len() as u64;
    assert!(placed > 0 && placed < 40);
    assert_eq!(plan.queued_allocations.get("group"), Some(&(40 - placed)));
    let metric = plan.failed_tg_allocs.get("group").expect("some did not fit");
    assert_eq!(metric.coalesced_failures, 40 - placed - 1);
    state.apply_plan(&plan);
    for node_id in state.nodes.keys().cloned().collect::<Vec<_>>() {
        let (cpu, memory, _) = state.nodes[&node_id].allocatable();
        let (used_cpu, used_memory, _) = state.node_used(&node_id);
        assert!(used_cpu <= cpu && used_memory <= memory, "{node_id} overcommitted");
    }
    // Capacity: per node min(cpu / 600, memory / 700).
    let capacity: u64 =
        (0..10u64).map(|node_idx| ((1000 * (1 + node_idx % 4)) / 600).min((1024 * (1 + node_idx % 4)) / 700)).sum();
    assert_eq!(placed, capacity);
}
