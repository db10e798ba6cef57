//! [`EligibleNodes`]: which nodes a job may use before per-node checks, and
//! that the placer takes them from the view.

use std::sync::Arc;

use drover_types::{Allocation, Job, Node};

use super::state_with_nodes;
use crate::testing::{MemoryState, input, node, service_job};
use crate::{EligibleNodes, StateView, schedule};

#[test]
fn eligible_nodes_are_those_of_the_pool_ready_and_in_a_job_datacenter() {
    let mut down = node("n2", "dc1");
    down.status = "down".to_string();
    let mut other_pool = node("n3", "dc1");
    other_pool.node_pool = "gpu".to_string();
    let nodes: Vec<Arc<Node>> =
        [node("n1", "dc1"), down, other_pool, node("n4", "dc2"), node("n5", "dc1")].into_iter().map(Arc::new).collect();
    let eligible = EligibleNodes::list(&nodes, "", &["dc1".to_string(), "east-*".to_string()]);
    assert_eq!(eligible.positions, vec![0, 4]);
    assert_eq!(eligible.nodes_in_pool, 4, "n3 is in another pool");
    assert_eq!(eligible.dc_filtered, 1, "n4 is in dc2");
    let available: Vec<(&str, u64)> = eligible.nodes_available.iter().map(|(dc, n)| (dc.as_str(), *n)).collect();
    assert_eq!(available, vec![("dc1", 2)], "a wildcard datacenter is not listed");
}

/// A view that offers the placer only the nodes it is told to.
struct Offering {
    state: MemoryState,
    offered: Vec<usize>,
}

impl StateView for Offering {
    fn index(&self) -> u64 {
        self.state.index()
    }
    fn job_version(&self, namespace: &str, job_id: &str, version: u64) -> Option<Arc<Job>> {
        self.state.job_version(namespace, job_id, version)
    }
    fn nodes(&self) -> Arc<[Arc<Node>]> {
        self.state.nodes()
    }
    fn node(&self, node_id: &str) -> Option<Arc<Node>> {
        self.state.node(node_id)
    }
    fn allocs_by_job(&self, namespace: &str, job_id: &str) -> Vec<Arc<Allocation>> {
        self.state.allocs_by_job(namespace, job_id)
    }
    fn allocs_by_node(&self, node_id: &str) -> Vec<Arc<Allocation>> {
        self.state.allocs_by_node(node_id)
    }
    fn node_used(&self, node_id: &str) -> (u64, u64, u64) {
        self.state.node_used(node_id)
    }
    fn eligible_nodes(&self, node_pool: &str, datacenters: &[String]) -> Arc<EligibleNodes> {
        let mut eligible = EligibleNodes::list(&self.nodes(), node_pool, datacenters);
        eligible.positions.retain(|pos| self.offered.contains(pos));
        Arc::new(eligible)
    }
}

#[test]
fn the_placer_takes_its_candidates_from_the_views_eligible_nodes() {
    let mut state = state_with_nodes(4);
    let job = state.add_job(service_job("web", 6));
    // Nodes are listed by ID: n1, n2, n3, n4; offer n2 and n4 only.
    let view = Offering { state, offered: vec![1, 3] };
    let plan = schedule(&view, &input(&job, 1));
    assert_eq!(plan.placements.len(), 6);
    assert!(plan.placements.iter().all(|alloc| alloc.node_id == "n2" || alloc.node_id == "n4"), "{plan:?}");
}
