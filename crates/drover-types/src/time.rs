//! Time and duration helpers: Nomad's API uses Unix nanoseconds and
//! nanosecond durations everywhere.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Nanoseconds in one second.
pub const NANOS_PER_SEC: i64 = 1_000_000_000;

/// The current time in Unix nanoseconds.
pub fn now_nanos() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

/// A nanosecond count as a [`Duration`]; negative counts are zero.
pub fn nanos_to_duration(nanos: i64) -> Duration {
    Duration::from_nanos(nanos.max(0) as u64)
}

/// A [`Duration`] as a nanosecond count, saturating at `i64::MAX`.
pub fn duration_to_nanos(duration: Duration) -> i64 {
    i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX)
}

/// Parses a Go-style duration (`"15s"`, `"1m30s"`, `"24h"`, `"500ms"`) into
/// nanoseconds, as jobspecs write them.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".to_string());
    }
    if text == "0" {
        return Ok(0);
    }
    let mut total: i64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let n_digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("missing unit in duration {text:?}"))?;
        if n_digits == 0 {
            return Err(format!("invalid duration {text:?}"));
        }
        let number: f64 = rest[..n_digits].parse().map_err(|_| format!("invalid duration {text:?}"))?;
        rest = &rest[n_digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale: f64 = match unit {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "d" => 86400e9,
            _ => return Err(format!("unknown unit {unit:?} in duration {text:?}")),
        };
        total = total.saturating_add((number * scale) as i64);
    }
    Ok(total)
}

/// Formats a nanosecond duration the way Go prints it (`5s`, `1m30s`, `24h0m0s`).
pub fn format_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos.abs() < NANOS_PER_SEC {
        let ms = nanos as f64 / 1e6;
        return format!("{ms}ms");
    }
    let total_secs = nanos / NANOS_PER_SEC;
    let frac = nanos % NANOS_PER_SEC;
    let hours = total_secs / 3600;
    let minutes = (total_secs % 3600) / 60;
    let secs = total_secs % 60;
    let secs_text = if frac == 0 {
        format!("{secs}s")
    } else {
        let value = secs as f64 + frac as f64 / 1e9;
        format!("{value}s")
    };
    if hours > 0 {
        format!("{hours}h{minutes}m{secs_text}")
    } else if minutes > 0 {
        format!("{minutes}m{secs_text}")
    } else {
        secs_text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip_go_forms() {
        for (text, nanos) in [
            ("5s", 5 * NANOS_PER_SEC),
            ("1m30s", 90 * NANOS_PER_SEC),
            ("24h", 86400 * NANOS_PER_SEC),
            ("500ms", 500_000_000),
            ("0", 0),
        ] {
            assert_eq!(parse_duration(text), Ok(nanos), "{text}");
        }
        assert_eq!(format_duration(90 * NANOS_PER_SEC), "1m30s");
        assert_eq!(format_duration(86400 * NANOS_PER_SEC), "24h0m0s");
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5x").is_err());
    }

    #[test]
    fn short_id_takes_eight_characters() {
        assert_eq!(super::super::short_id("13ebb66d-1234"), "13ebb66d");
        assert_eq!(super::super::short_id("abc"), "abc");
    }
}
