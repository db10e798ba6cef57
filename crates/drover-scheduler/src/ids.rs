//! Allocation IDs drawn from the eval's seeded RNG, so the same inputs give
//! the same IDs.

use rand::RngCore;
use rand::rngs::StdRng;

/// A UUID-v4-formatted ID from the seeded RNG.
pub(crate) fn new_alloc_id(rng: &mut StdRng) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
}
