//! Table tests over the in-memory [`MemoryState`]: one `check`-style helper
//! per area, minimal fixtures.

mod diff;
mod eligible;
mod feasible;
mod reconcile;
mod scale;
mod system;
mod tidy;

use std::sync::Arc;

use drover_types::{AllocMetric, Constraint, Job};

use crate::testing::{MemoryState, input, node};
use crate::{Plan, schedule};

/// A constraint from its three parts.
fn constraint(l_target: &str, operand: &str, r_target: &str) -> Constraint {
    Constraint { l_target: l_target.to_string(), operand: operand.to_string(), r_target: r_target.to_string() }
}

/// Nodes `n1..=n{n_nodes}` in `dc1`.
fn state_with_nodes(n_nodes: usize) -> MemoryState {
    let mut state = MemoryState::default();
    for node_idx in 1..=n_nodes {
        state.add_node(node(&format!("n{node_idx}"), "dc1"));
    }
    state
}

/// Schedules `job` (stored as a version first) with seed 1.
fn run(state: &mut MemoryState, job: Job) -> (Arc<Job>, Plan) {
    let job = state.add_job(job);
    let plan = schedule(state, &input(&job, 1));
    (job, plan)
}

/// The failure metric of group `group`.
fn failure(plan: &Plan) -> &AllocMetric {
    plan.failed_tg_allocs.get("group").expect("group failed to place")
}

/// Sorted node IDs of the placements.
fn placed_nodes(plan: &Plan) -> Vec<String> {
    let mut nodes: Vec<String> = plan.placements.iter().map(|alloc| alloc.node_id.clone()).collect();
    nodes.sort();
    nodes
}

/// Sorted names of the placements.
fn placed_names(plan: &Plan) -> Vec<String> {
    let mut names: Vec<String> = plan.placements.iter().map(|alloc| alloc.name.clone()).collect();
    names.sort();
    names
}
