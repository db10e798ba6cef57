//! Chunked scheduling: the same placements as one plan, handed over in
//! chunks, and only for plans of fresh placements.

use drover_types::{Allocation, JobType};

use crate::testing::{MemoryState, input, job, running_alloc};
use crate::{Plan, schedule, schedule_in_chunks};

use super::state_with_nodes;

/// Schedules `job_id` in chunks of `chunk_size`; returns the chunks and the final plan.
fn chunked(
    state: &MemoryState,
    job: &std::sync::Arc<drover_types::Job>,
    chunk_size: usize,
) -> (Vec<Vec<Allocation>>, Plan) {
    let mut chunks = Vec::new();
    let plan = schedule_in_chunks(state, &input(job, 9), chunk_size, &mut |chunk| chunks.push(chunk));
    (chunks, plan)
}

fn ids(allocs: &[Allocation]) -> Vec<(String, String)> {
    allocs.iter().map(|alloc| (alloc.id.clone(), alloc.node_id.clone())).collect()
}

#[test]
fn chunks_and_the_rest_are_the_placements_of_one_plan() {
    let mut state = state_with_nodes(20);
    let job = state.add_job(job("many", JobType::Batch, 25));
    let whole = schedule(&state, &input(&job, 9));
    let (chunks, rest) = chunked(&state, &job, 10);
    assert_eq!(chunks.iter().map(Vec::len).collect::<Vec<_>>(), vec![10, 10]);
    assert_eq!(rest.placements.len(), 5);
    let mut handed: Vec<Allocation> = chunks.into_iter().flatten().collect();
    handed.extend(rest.placements.iter().cloned());
    assert_eq!(ids(&handed), ids(&whole.placements), "same IDs on the same nodes, in the same order");
    assert_eq!(rest.desired_updates, whole.desired_updates);
    assert_eq!(rest.queued_allocations, whole.queued_allocations);
    assert!(!rest.needs_blocked_eval);
}

#[test]
fn failures_stay_in_the_plan_while_placements_are_chunked() {
    // One node of 8192 MB takes two of seven 3000 MB instances: the
    // failures of the other five are in the final plan.
    let mut state = state_with_nodes(1);
    let mut big = job("big", JobType::Batch, 7);
    big.task_groups[0].tasks[0].resources.memory_mb = 3000;
    let big = state.add_job(big);
    let whole = schedule(&state, &input(&big, 9));
    assert!(whole.needs_blocked_eval, "the fixture must not fit entirely");
    let n_placed = whole.placements.len();
    assert_eq!(n_placed, 2);
    let (chunks, rest) = chunked(&state, &big, 2);
    let n_handed: usize = chunks.iter().map(Vec::len).sum::<usize>() + rest.placements.len();
    assert_eq!(n_handed, n_placed);
    assert!(chunks.iter().all(|chunk| chunk.len() == 2));
    assert!(rest.needs_blocked_eval);
    assert_eq!(rest.failed_tg_allocs.keys().collect::<Vec<_>>(), whole.failed_tg_allocs.keys().collect::<Vec<_>>());
    assert_eq!(rest.queued_allocations, whole.queued_allocations);
}

#[test]
fn a_plan_that_also_stops_is_not_chunked() {
    let mut state = state_with_nodes(10);
    let web = state.add_job(job("web", JobType::Service, 8));
    // An allocation of a group the job no longer has: the plan stops it.
    let mut stale = running_alloc(&web, "group", 0, "n1");
    stale.task_group = "gone".to_string();
    stale.id = "stale".to_string();
    state.add_alloc(stale);
    let (chunks, plan) = chunked(&state, &web, 2);
    assert!(chunks.is_empty(), "nothing handed over before the stop is committed");
    assert_eq!(plan.stops.len(), 1);
    assert_eq!(plan.placements.len(), 8);
}
