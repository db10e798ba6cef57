//! Time zones: checking a name, and turning a wall-clock time into the one
//! instant Drover launches at (the DST rule of the crate docs).

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

use crate::CronError;

/// The zone named `name` in the IANA database (`America/New_York`, `UTC`); the
/// empty name is UTC. Names are case-sensitive, as in the database.
pub fn validate_time_zone(name: &str) -> Result<Tz, CronError> {
    if name.is_empty() {
        return Ok(Tz::UTC);
    }
    name.parse::<Tz>().map_err(|_| CronError::UnknownTimeZone { name: name.to_string() })
}

/// The instant a launch at wall-clock time `local` happens: the only instant with
/// that wall-clock time, the earlier of two (fall back), or the first instant
/// after the gap that swallowed it (spring forward). `None` only at the ends of
/// chrono's range.
pub(crate) fn launch_instant(time_zone: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match time_zone.from_local_datetime(&local) {
        LocalResult::Single(at) => Some(at.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, second) => Some(first.min(second).with_timezone(&Utc)),
        LocalResult::None => {
            let gap_end = end_of_gap(time_zone, local)?;
            time_zone.from_local_datetime(&gap_end).earliest().map(|at| at.with_timezone(&Utc))
        }
    }
}

/// Longest gap searched for; the longest in the database is a day (Pacific/Apia,
/// 2011-12-30).
const MAX_GAP: TimeDelta = TimeDelta::days(4);

/// The first existing wall-clock time after `local`, which does not exist.
///
/// Doubles a step until it lands on an existing time, then bisects to the second
/// (zone offsets are whole seconds, so gaps end on a whole second).
fn end_of_gap(time_zone: Tz, local: NaiveDateTime) -> Option<NaiveDateTime> {
    let exists = |t: &NaiveDateTime| !matches!(time_zone.from_local_datetime(t), LocalResult::None);
    let mut missing = local;
    let mut step = TimeDelta::minutes(1);
    let mut existing = loop {
        let probe = missing.checked_add_signed(step)?;
        if exists(&probe) {
            break probe;
        }
        missing = probe;
        step = step.checked_mul(2)?;
        if step > MAX_GAP {
            return None;
        }
    };
    loop {
        let half = (existing - missing).num_seconds() / 2;
        if half == 0 {
            return Some(existing);
        }
        let mid = missing.checked_add_signed(TimeDelta::seconds(half))?;
        if exists(&mid) {
            existing = mid;
        } else {
            missing = mid;
        }
    }
}
