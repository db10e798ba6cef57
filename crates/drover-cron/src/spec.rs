//! [`CronSpec`]: a parsed expression in its zone, and the launch-time queries.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::errors::CronError as CronerError;
use croner::parser::{CronParser, Seconds, Year};

use crate::CronError;
use crate::zone::{launch_instant, validate_time_zone};

/// Macros accepted besides 5 and 6 fields, lowercase.
const MACROS: &[&str] = &["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"];

/// Most matches [`CronSpec::next_after`] passes over before giving up. Only
/// matches in the second pass of a repeated hour are passed over: 720 for
/// `*/5 * * * * *` in a one-hour fall back, about 86 400 for `* * * * * *` in
/// the longest (about a day, Alaska in 1867).
const MAX_PASSED_OVER: usize = 200_000;

/// A cron expression parsed and checked, with the zone its wall-clock times are
/// read in. See the crate docs for the syntax and the DST rule.
#[derive(Debug, Clone)]
pub struct CronSpec {
    expression: String,
    cron: Cron,
    time_zone: Tz,
}

impl CronSpec {
    /// Parses `expression` in `time_zone` (an IANA name; empty means UTC) and
    /// rejects expressions that can never fire.
    pub fn parse(expression: &str, time_zone: &str) -> Result<CronSpec, CronError> {
        let cron = parse_expression(expression)?;
        let time_zone = validate_time_zone(time_zone)?;
        Ok(CronSpec { expression: expression.to_string(), cron, time_zone })
    }

    /// The expression as given.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The zone the expression is read in.
    pub fn time_zone(&self) -> Tz {
        self.time_zone
    }

    /// The first launch strictly after `after`. `None` only past year 4999, where
    /// croner stops searching.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Every wall-clock time up to `after`'s own maps to an instant <= `after`
        // (the mapping never goes backwards), so the search starts there. Matches
        // after it can still map to <= `after` when `after` is in the second pass
        // of a repeated hour; those are passed over.
        let mut cursor = after.with_timezone(&self.time_zone).naive_local();
        for _ in 0..MAX_PASSED_OVER {
            let local: NaiveDateTime = self.cron.find_next_occurrence(&cursor, false).ok()?;
            if local <= cursor {
                // croner promises a later match; stop rather than loop.
                return None;
            }
            let at = launch_instant(self.time_zone, local)?;
            if at > after {
                return Some(at);
            }
            cursor = local;
        }
        None
    }

    /// Every launch in `(from, to]`, oldest first, at most `limit`.
    pub fn launches_between(&self, from: DateTime<Utc>, to: DateTime<Utc>, limit: usize) -> Vec<DateTime<Utc>> {
        let mut launches = Vec::new();
        let mut cursor = from;
        while launches.len() < limit {
            match self.next_after(cursor) {
                Some(at) if at <= to => {
                    launches.push(at);
                    cursor = at;
                }
                _ => break,
            }
        }
        launches
    }
}

/// Parses with Drover's options: seconds optional (first when present), no year
/// field, day of month OR day of week, `5/15` accepted.
fn parse_expression(expression: &str) -> Result<Cron, CronError> {
    let invalid = |reason: String| CronError::InvalidExpression { expression: expression.to_string(), reason };
    let trimmed = expression.trim();
    let pattern = if trimmed.starts_with('@') {
        let lower = trimmed.to_ascii_lowercase();
        match lower.as_str() {
            // croner knows every macro but this one.
            "@midnight" => "@daily",
            name if MACROS.contains(&name) => trimmed,
            _ => return Err(invalid(format!("unknown macro {trimmed:?}: expected one of {}", MACROS.join(", ")))),
        }
    } else {
        let n_fields = trimmed.split_whitespace().count();
        if n_fields != 5 && n_fields != 6 {
            return Err(invalid(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week) \
                 or 6 with seconds first, got {n_fields}"
            )));
        }
        trimmed
    };
    let parser = CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .dom_and_dow(false)
        .sloppy_ranges(true)
        .build();
    let cron = parser.parse(pattern).map_err(|err| invalid(croner_reason(&err)))?;
    // The calendar repeats every 400 years (146 097 days, a whole number of
    // weeks), so a pattern that fires at all fires in any 400-year window. croner
    // searches up to the end of year YEAR_UPPER_LIMIT - 1.
    let window_start = NaiveDate::from_ymd_opt(croner::YEAR_UPPER_LIMIT - 400, 1, 1)
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .ok_or_else(|| invalid("no search window before croner's year limit".to_string()))?;
    match cron.find_next_occurrence(&window_start, true) {
        Ok(_) => Ok(cron),
        Err(CronerError::TimeSearchLimitExceeded) => Err(CronError::NeverFires { expression: expression.to_string() }),
        Err(err) => Err(invalid(croner_reason(&err))),
    }
}

/// croner's message in our style: lowercase start, no trailing period.
fn croner_reason(err: &CronerError) -> String {
    let text = err.to_string();
    let text = text.trim_end_matches('.');
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
