//! Allocation IDs: drawn from the eval's seeded RNG, so the same inputs give
//! the same IDs, or ordered by creation (see [`AllocIds`]).

use rand::RngCore;
use rand::rngs::StdRng;

use crate::AllocIds;

/// A new allocation's ID from `source`.
pub(crate) fn new_alloc_id(source: AllocIds, rng: &mut StdRng) -> String {
    match source {
        AllocIds::Seeded => seeded_alloc_id(rng),
        AllocIds::Ordered => drover_types::new_id(),
    }
}

/// A UUID-v4-formatted ID from the seeded RNG.
fn seeded_alloc_id(rng: &mut StdRng) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
}

#[cfg(test)]
mod tests {
    use crate::testing::{MemoryState, input, node, service_job};
    use crate::{AllocIds, SchedulerInput, schedule};

    fn placed_ids(state: &MemoryState, input: &SchedulerInput) -> Vec<String> {
        schedule(state, input).placements.iter().map(|alloc| alloc.id.clone()).collect()
    }

    #[test]
    fn seeded_ids_repeat_and_ordered_ids_follow_the_placements() {
        let mut state = MemoryState::default();
        for name in ["n1", "n2", "n3"] {
            state.add_node(node(name, "dc1"));
        }
        let job = state.add_job(service_job("web", 20));
        let seeded = placed_ids(&state, &input(&job, 7));
        assert_eq!(seeded.len(), 20);
        assert_eq!(seeded, placed_ids(&state, &input(&job, 7)), "the same input, the same IDs");
        let ordered_input = SchedulerInput { alloc_ids: AllocIds::Ordered, ..input(&job, 7) };
        let ordered = placed_ids(&state, &ordered_input);
        assert!(ordered.windows(2).all(|w| w[0] < w[1]), "{ordered:?}");
        let again = placed_ids(&state, &ordered_input);
        assert!(ordered.last() < again.first(), "a later plan's IDs sort after: {ordered:?} {again:?}");
    }
}
