//! Identifiers: UUIDs for server-made objects, short forms for display.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A job as a map key: `(namespace, job ID)`, for the tables a server keeps
/// per job or per parent job.
pub type JobKey = (String, String);

/// The last microsecond [`new_id`] handed out in this process.
static LAST_ID_MICROS: AtomicU64 = AtomicU64::new(0);

/// A fresh UUID in its canonical hyphenated form, for evaluations and the
/// other objects a server makes.
///
/// Its first 8 hex digits (the short ID) are the low 32 bits of a
/// microsecond clock that never repeats a value in this process, the next 4
/// its higher bits, the rest random (an RFC 9562 version 8 UUID). So IDs made
/// one after another sort in that order (wrapping every 71 minutes) and the
/// store appends them to its ID index instead of dirtying a random page per
/// insert, and no two short IDs made within 71 minutes by one server are
/// alike.
pub fn new_id() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0);
    id_from(next_micros(now), *uuid::Uuid::new_v4().as_bytes())
}

/// `now_micros`, or the microsecond after the last one handed out if that is later.
fn next_micros(now_micros: u64) -> u64 {
    next_after(&LAST_ID_MICROS, now_micros)
}

/// `wanted`, or one more than the value `last` holds if that is not below
/// it; the result is stored in `last`. Counters behind ordered IDs use it: a
/// value is never handed out twice and never goes back, whatever the
/// threads or the clock do.
pub fn next_after(last: &AtomicU64, wanted: u64) -> u64 {
    let mut seen = last.load(Ordering::Relaxed);
    loop {
        let chosen = wanted.max(seen.saturating_add(1));
        match last.compare_exchange_weak(seen, chosen, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return chosen,
            Err(current) => seen = current,
        }
    }
}

/// The ID of microsecond `micros` with the random bits of `random`.
fn id_from(micros: u64, mut random: [u8; 16]) -> String {
    random[..4].copy_from_slice(&(micros as u32).to_be_bytes());
    random[4..6].copy_from_slice(&((micros >> 32) as u16).to_be_bytes());
    uuid::Builder::from_custom_bytes(random).into_uuid().to_string()
}

/// The 8-character form of an ID shown in tables and monitors.
pub fn short_id(id: &str) -> &str {
    match id.char_indices().nth(8) {
        Some((idx, _)) => &id[..idx],
        None => id,
    }
}

/// The namespace used when none is given.
pub const DEFAULT_NAMESPACE: &str = "default";
/// The region used when none is given.
pub const DEFAULT_REGION: &str = "global";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_made_in_turn_sort_in_turn_and_their_short_forms_differ() {
        let ids: Vec<String> = (0..1000).map(|_| new_id()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "in order");
        let shorts: std::collections::HashSet<&str> = ids.iter().map(|id| short_id(id)).collect();
        assert_eq!(shorts.len(), ids.len(), "every short ID differs");
        let parsed = uuid::Uuid::parse_str(&ids[0]).expect("a UUID");
        assert_eq!(parsed.get_version(), Some(uuid::Version::Custom));
    }

    #[test]
    fn the_short_id_is_the_clocks_low_bits() {
        let id = id_from(0x0006_4512_6789_abcd, [0xff; 16]);
        assert_eq!(id, "6789abcd-4512-8fff-bfff-ffffffffffff");
    }

    #[test]
    fn the_clock_never_hands_out_a_microsecond_twice() {
        let first = next_micros(5);
        assert!(next_micros(first) > first);
        assert!(next_micros(0) > first, "a clock step back does not go back");
    }
}
