//! Time-ordered suffixes for the IDs of dispatched children and runs.
//!
//! Both IDs are a Unix second followed by a suffix (`<parent>/dispatch-<secs>-<8 hex>`,
//! `<yyyyMMddHHmmss><5 chars>`). The store keeps jobs and runs in B-trees
//! ordered by ID; random suffixes scatter one second's inserts over every
//! index page written in that second, one dirty page per dispatch in each
//! group commit. A suffix that grows with the time inside the second makes
//! the inserts append: a group commit of many dispatches dirties a handful of
//! pages (dispatch_accept wrote 14 KB per dispatch instead of 24 KB, and its
//! state writer spent 30–43% less CPU: commit `fb53047` in docs/BENCHMARKS.md,
//! "History of changes").
//!
//! A suffix is the microsecond within the second scaled up, plus a random
//! remainder, and never less than the one before it in this process: two
//! dispatches in flight at once never draw the same ID.

use std::sync::atomic::AtomicU64;

use rand::Rng;

use drover_types::NANOS_PER_SEC;

const MICROS_PER_SEC: u64 = 1_000_000;

/// A process-wide source of increasing `(second, suffix)` pairs.
pub(crate) struct OrderedSuffixes {
    /// Random values below this come after each microsecond's base.
    per_micro: u64,
    /// The last pair handed out, as `second * span + suffix`.
    last: AtomicU64,
}

impl OrderedSuffixes {
    /// Suffixes from `0` to `per_micro * 1,000,000 - 1` within each second.
    pub(crate) const fn new(per_micro: u64) -> OrderedSuffixes {
        OrderedSuffixes { per_micro, last: AtomicU64::new(0) }
    }

    /// How many suffixes one second holds.
    fn span(&self) -> u64 {
        self.per_micro * MICROS_PER_SEC
    }

    /// The next `(unix second, suffix)` at `now` (Unix ns): at least the time
    /// `now` names, and above every pair handed out before (a burst beyond
    /// the second's room carries into the next second).
    pub(crate) fn next(&self, now: i64) -> (i64, u64) {
        let seconds = now.div_euclid(NANOS_PER_SEC).max(0) as u64;
        let micros = now.rem_euclid(NANOS_PER_SEC) as u64 / 1_000;
        let random = rand::rng().random_range(0..self.per_micro);
        let wanted = seconds.saturating_mul(self.span()).saturating_add(micros * self.per_micro + random);
        let chosen = drover_types::next_after(&self.last, wanted);
        ((chosen / self.span()) as i64, chosen % self.span())
    }
}

/// Suffixes of dispatched children's IDs: 8 hex digits (4,096 per microsecond).
pub(crate) static CHILD_SUFFIXES: OrderedSuffixes = OrderedSuffixes::new(4096);

/// Suffixes of run IDs, spelled by [`drover_types::run_id_suffix`] (900 per
/// microsecond, below 62^5 a second).
pub(crate) static RUN_SUFFIXES: OrderedSuffixes = OrderedSuffixes::new(900);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_follow_the_time_within_the_second() {
        let suffixes = OrderedSuffixes::new(4096);
        let second = 1_795_308_516;
        let (s1, early) = suffixes.next(second * NANOS_PER_SEC + 1_000);
        let (s2, late) = suffixes.next(second * NANOS_PER_SEC + 999_999_000);
        assert_eq!((s1, s2), (second, second));
        assert!((4096..8192).contains(&early), "microsecond 1: {early}");
        assert!((999_999 * 4096..1_000_000 * 4096).contains(&late), "microsecond 999,999: {late}");
    }

    #[test]
    fn the_same_instant_never_yields_the_same_pair_twice() {
        let suffixes = OrderedSuffixes::new(2);
        let now = 1_795_308_516 * NANOS_PER_SEC + 5_000;
        let pairs: Vec<(i64, u64)> = (0..100).map(|_| suffixes.next(now)).collect();
        assert!(pairs.windows(2).all(|w| w[0] < w[1]), "strictly increasing: {pairs:?}");
    }

    #[test]
    fn a_clock_step_back_does_not_go_back() {
        let suffixes = OrderedSuffixes::new(4096);
        let later = suffixes.next(1_795_308_517 * NANOS_PER_SEC);
        let earlier = suffixes.next(1_795_308_516 * NANOS_PER_SEC);
        assert!(earlier > later, "{earlier:?} after {later:?}");
    }

    #[test]
    fn a_full_second_carries_into_the_next() {
        let suffixes = OrderedSuffixes::new(1);
        let second = 1_795_308_516;
        let last_micro = second * NANOS_PER_SEC + 999_999_000;
        assert_eq!(suffixes.next(last_micro), (second, 999_999));
        assert_eq!(suffixes.next(last_micro), (second + 1, 0));
    }
}
