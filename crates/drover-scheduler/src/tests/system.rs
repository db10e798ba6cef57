//! System and sysbatch: one instance per ready, eligible, feasible node.

use drover_types::{JobType, Resources, client_status};

use super::{constraint, placed_nodes, run, state_with_nodes};
use crate::testing::{MemoryState, job, node, running_alloc};

/// Three nodes `n1..n3`; `n2` ineligible.
fn three_nodes_one_ineligible() -> MemoryState {
    let mut state = state_with_nodes(3);
    let mut ineligible = node("n2", "dc1");
    ineligible.scheduling_eligibility = "ineligible".to_string();
    state.add_node(ineligible);
    state
}

#[test]
fn system_places_one_per_eligible_node() {
    for job_type in [JobType::System, JobType::Sysbatch] {
        let mut state = three_nodes_one_ineligible();
        let (_, plan) = run(&mut state, job("sys", job_type, 1));
        assert_eq!(placed_nodes(&plan), vec!["n1", "n3"], "{job_type:?}");
        assert!(plan.placements.iter().all(|alloc| alloc.name == "sys.group[0]"));
        assert_eq!(plan.desired_updates.get("group").map(|updates| updates.place), Some(2));
        assert!(!plan.needs_blocked_eval);

        // Run again after applying: nothing more to do.
        state.apply_plan(&plan);
        let (_, again) = run(&mut state, job("sys", job_type, 1));
        assert!(again.placements.is_empty() && again.stops.is_empty(), "{job_type:?}");
        assert_eq!(again.desired_updates.get("group").map(|updates| updates.ignore), Some(2));
    }
}

#[test]
fn system_skips_infeasible_nodes_without_failing() {
    let mut state = state_with_nodes(3);
    let mut windows = node("n2", "dc1");
    windows.attributes.insert("kernel.name".to_string(), "windows".to_string());
    state.add_node(windows);
    let mut sys = job("sys", JobType::System, 1);
    sys.constraints.push(constraint("${attr.kernel.name}", "=", "linux"));
    let (_, plan) = run(&mut state, sys);
    assert_eq!(placed_nodes(&plan), vec!["n1", "n3"]);
    assert!(plan.failed_tg_allocs.is_empty() && !plan.needs_blocked_eval);
}

#[test]
fn system_exhausted_node_is_a_failure() {
    let mut state = state_with_nodes(2);
    let mut hog = job("hog", JobType::Service, 1);
    hog.task_groups[0].tasks[0].resources = Resources { cpu: 3950, memory_mb: 10, disk_mb: 0 };
    state.add_alloc(running_alloc(&hog, "group", 0, "n1"));
    let (_, plan) = run(&mut state, job("sys", JobType::System, 1));
    assert_eq!(placed_nodes(&plan), vec!["n2"]);
    let metric = plan.failed_tg_allocs.get("group").expect("n1 is full");
    assert_eq!(metric.dimension_exhausted.get("cpu"), Some(&1));
    assert_eq!(plan.queued_allocations.get("group"), Some(&1));
    assert!(plan.needs_blocked_eval);
}

#[test]
fn sysbatch_is_not_placed_again_after_completion() {
    let mut state = state_with_nodes(3);
    let sysbatch = job("sb", JobType::Sysbatch, 1);
    let mut done = running_alloc(&sysbatch, "group", 0, "n1");
    done.client_status = client_status::COMPLETE.to_string();
    state.add_alloc(done);
    let (_, plan) = run(&mut state, sysbatch);
    assert_eq!(placed_nodes(&plan), vec!["n2", "n3"]);
}

#[test]
fn system_down_node_is_lost_and_not_replaced() {
    let mut state = state_with_nodes(3);
    let sys = job("sys", JobType::System, 1);
    for node_id in ["n1", "n2", "n3"] {
        state.add_alloc(running_alloc(&sys, "group", 0, node_id));
    }
    let mut down = node("n2", "dc1");
    down.status = "down".to_string();
    state.add_node(down);
    let (_, plan) = run(&mut state, sys);
    assert!(plan.placements.is_empty(), "{:?}", plan.placements);
    assert_eq!(plan.stops.len(), 1);
    assert_eq!(plan.stops[0].alloc_id, "sys-group-0-n2");
    assert_eq!(plan.stops[0].client_status.as_deref(), Some("lost"));
    assert_eq!(plan.stops[0].desired_description, "alloc is lost since its node is down");
}

#[test]
fn system_job_stop_stops_all() {
    let mut state = state_with_nodes(2);
    let mut sys = job("sys", JobType::System, 1);
    for node_id in ["n1", "n2"] {
        state.add_alloc(running_alloc(&sys, "group", 0, node_id));
    }
    sys.stop = true;
    let (_, plan) = run(&mut state, sys);
    assert_eq!(plan.stops.len(), 2);
    assert!(plan.stops.iter().all(|stop| stop.desired_description == "alloc not needed as job is stopped"));
    assert!(plan.placements.is_empty());
}

#[test]
fn system_destructive_update_replaces_on_the_same_node() {
    let mut state = state_with_nodes(2);
    let old = job("sys", JobType::System, 1);
    state.add_job(old.clone());
    for node_id in ["n1", "n2"] {
        state.add_alloc(running_alloc(&old, "group", 0, node_id));
    }
    let mut new = old.clone();
    new.version = 1;
    new.task_groups[0].tasks[0].env.insert("A".to_string(), "1".to_string());
    let (_, plan) = run(&mut state, new);
    assert_eq!(plan.stops.len(), 2);
    assert_eq!(placed_nodes(&plan), vec!["n1", "n2"]);
    for alloc in &plan.placements {
        assert_eq!(alloc.previous_allocation, format!("sys-group-0-{}", alloc.node_id));
    }
    assert_eq!(plan.desired_updates.get("group").map(|updates| updates.destructive_update), Some(2));
}
