//! Cron schedules for periodic jobs: parse an expression in a time zone, then ask
//! for launch times. Pure: no I/O and no clock; every function takes the time.
//!
//! [`CronSpec::parse`] checks an expression and an IANA zone once;
//! [`CronSpec::next_after`] gives the first launch strictly after an instant and
//! [`CronSpec::launches_between`] every launch in a window (for catch-up after a
//! restart, bounded by the caller's starting deadline). Instants are UTC; the zone
//! only says how the expression's wall-clock times are read. Errors are
//! [`CronError`]; [`validate_time_zone`] checks a zone on its own.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use drover_cron::CronSpec;
//!
//! let spec = CronSpec::parse("30 2 * * *", "America/New_York").unwrap();
//! // 02:30 does not exist on 2026-03-08 in New York: the launch moves to 03:00 EDT.
//! let after = Utc.with_ymd_and_hms(2026, 3, 8, 0, 0, 0).unwrap();
//! assert_eq!(spec.next_after(after), Some(Utc.with_ymd_and_hms(2026, 3, 8, 7, 0, 0).unwrap()));
//! ```
//!
//! # Expressions
//!
//! Parsing and matching are done by [croner](https://docs.rs/croner); this crate
//! only picks its options and adds the time-zone rule below.
//!
//! - 5 fields, Unix cron: `min hour dom month dow`.
//! - 6 fields, **seconds first**: `sec min hour dom month dow` (`*/5 * * * * *` is
//!   every 5 seconds). There is no year field.
//! - Macros: `@yearly` = `@annually`, `@monthly`, `@weekly` (Sunday 00:00),
//!   `@daily` = `@midnight`, `@hourly`.
//! - Lists `1,15`, ranges `1-5`, steps `*/10` and `10-40/10`; `5/15` means "from 5,
//!   every 15" as in Nomad, Quartz and Metronome. Month and day names in any case
//!   (`JAN`, `mon-fri`). Day of week is 0-7, 0 and 7 both Sunday.
//! - `?` is `*`. `L` is the last day of the month in day-of-month and the last such
//!   weekday in day-of-week (`5L`, last Friday); `W` the nearest weekday (`15W`,
//!   `LW`); `#` the nth weekday (`1#2`, second Monday).
//! - **Day of month and day of week combine with OR**, as in Unix (Vixie) cron: when
//!   both are restricted, a day matching either fires (`0 0 13 * 5` runs on every
//!   13th and on every Friday). When one is `*` or `?` only the other counts.
//!   Metronome used AND here; a Metronome import must not rely on that.
//! - An expression that can never fire (`0 0 31 2 *`) is rejected. The Gregorian
//!   calendar repeats every 400 years, so the check searches one 400-year window.
//!
//! # Daylight saving time: Drover's rule
//!
//! The expression names wall-clock times in the schedule's zone. Drover turns each
//! matching wall-clock time into one instant, and **a wall-clock time fires at most
//! once**:
//!
//! | Case | Example in America/New_York | Drover launches |
//! |---|---|---|
//! | Ordinary time | `30 2 * * *` on 2026-03-09 | once, at 02:30 EDT |
//! | Time skipped by spring forward | `30 2 * * *` on 2026-03-08 (02:00 EST → 03:00 EDT) | once, at the first instant after the gap: 03:00 EDT (07:00 UTC); never skipped |
//! | Several times in one gap | `*/15 2 * * *` on 2026-03-08 | once in all, at 03:00 EDT |
//! | A gap time and the gap's end | `0 * * * *` at 02:00 and 03:00 on 2026-03-08 | once, at 03:00 EDT: 23 launches that day |
//! | Time repeated by fall back | `30 1 * * *` on 2026-11-01 (02:00 EDT → 01:00 EST) | once, at its first occurrence 01:30 EDT (05:30 UTC); not at 01:30 EST |
//! | Sub-hourly through the repeated hour | `*/15 * * * *` on 2026-11-01 | 01:00 … 01:45 EDT, then 02:00 EST: **no launch for 75 real minutes**, since 01:00 … 01:45 EST repeat wall-clock times that already fired; 96 launches that 25-hour day |
//! | Hourly on a fall-back day | `0 * * * *` on 2026-11-01 | 24 launches; 01:00 once, in EDT |
//!
//! The same holds in every zone (Europe/Berlin: 02:xx is skipped on 2026-03-29 and
//! repeated on 2026-10-25). Two guarantees hold whatever croner or the time-zone
//! data do: [`CronSpec::next_after`] never returns an instant at or before the one
//! it was given (the Metronome and Nomad runaway bugs), and
//! [`CronSpec::launches_between`] always terminates.
//!
//! How: croner walks *wall-clock* (naive) times, where there is no DST, and this
//! crate maps each match to an instant: the only one, the earlier of two, or the
//! end of the gap. The mapping never goes backwards, so the first mapped instant
//! after `after` is the next launch. croner's own zone-aware search is not used; it
//! follows a different rule. In New York, croner 4.0.3 skips `*/15 2 * * *`
//! entirely on 2026-03-08 and runs `0 * * * *` at both 01:00 EDT and 01:00 EST on
//! 2026-11-01. croner 3.0.1 also ran `30 1 * * *` twice on 2026-03-08 and returned
//! the repeated hour out of order.

#![warn(unreachable_pub)]

mod error;
mod spec;
mod zone;

#[cfg(test)]
mod tests;

pub use error::CronError;
pub use spec::CronSpec;
pub use zone::validate_time_zone;
