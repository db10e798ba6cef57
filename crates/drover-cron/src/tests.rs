//! Data-driven tests: syntax, errors, real DST dates, and a monotonicity sweep.
//! Every time is fixed; nothing reads the clock.

use std::path::Path;

use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};

use crate::{CronError, CronSpec, validate_time_zone};

const NEW_YORK: &str = "America/New_York";
const BERLIN: &str = "Europe/Berlin";

/// An RFC 3339 instant.
fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap_or_else(|err| panic!("bad test instant {text:?}: {err}")).to_utc()
}

fn spec(expr: &str, tz: &str) -> CronSpec {
    CronSpec::parse(expr, tz).unwrap_or_else(|err| panic!("{err}"))
}

/// `next_after(after)` of `expr` in `tz` is `expected_next` (RFC 3339).
fn check(expr: &str, tz: &str, after: &str, expected_next: &str) {
    let next = spec(expr, tz).next_after(utc(after));
    assert_eq!(next, Some(utc(expected_next)), "{expr:?} in {tz:?} after {after}");
}

/// Parsing `expr` in `tz` fails with exactly `expected`.
fn check_err(expr: &str, tz: &str, expected: &str) {
    match CronSpec::parse(expr, tz) {
        Ok(_) => panic!("{expr:?} in {tz:?} parsed, expected error {expected:?}"),
        Err(err) => assert_eq!(err.to_string(), expected, "{expr:?} in {tz:?}"),
    }
}

/// Every launch of `expr` in `tz` during the local calendar day `date`.
fn launches_on(expr: &str, tz: &str, date: &str) -> Vec<DateTime<Utc>> {
    let zone = validate_time_zone(tz).unwrap_or_else(|err| panic!("{err}"));
    let day: NaiveDate = date.parse().unwrap_or_else(|err| panic!("bad test date {date:?}: {err}"));
    let midnight = |day: NaiveDate| {
        let local = day.and_hms_opt(0, 0, 0).expect("midnight is a valid time");
        zone.from_local_datetime(&local).earliest().expect("test zones have midnight").to_utc()
    };
    let next_day = day.succ_opt().expect("test dates are not the last date");
    let from = midnight(day) - TimeDelta::seconds(1);
    let to = midnight(next_day) - TimeDelta::seconds(1);
    let launches = spec(expr, tz).launches_between(from, to, 100_000);
    assert!(launches.windows(2).all(|pair| pair[0] < pair[1]), "{expr:?} on {date}: not strictly increasing");
    launches
}

#[test]
fn five_fields() {
    let cases = [
        ("* * * * *", "", "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z"),
        ("*/5 * * * *", "", "2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z"),
        ("*/5 * * * *", "", "2026-01-01T00:03:59.999Z", "2026-01-01T00:05:00Z"),
        ("15 14 1 * *", "", "2026-01-01T14:15:00Z", "2026-02-01T14:15:00Z"),
        ("0 9 * * 1-5", "", "2026-01-02T09:00:00Z", "2026-01-05T09:00:00Z"),
        ("0 0,12 1-3 * *", "", "2026-01-01T12:00:00Z", "2026-01-02T00:00:00Z"),
        ("10-40/10 * * * *", "", "2026-01-01T00:40:00Z", "2026-01-01T01:10:00Z"),
        // `5/15` is "from 5, every 15" (Nomad, Quartz, Metronome).
        ("5/15 * * * *", "", "2026-01-01T00:50:00Z", "2026-01-01T01:05:00Z"),
        ("  0 3 * * *  ", "", "2026-01-01T00:00:00Z", "2026-01-01T03:00:00Z"),
        // Zones: 22:00 on weekdays in New York (EST, UTC-5) and Berlin (CET, UTC+1).
        ("0 22 * * 1-5", NEW_YORK, "2026-01-03T12:00:00Z", "2026-01-06T03:00:00Z"),
        ("0 22 * * 1-5", BERLIN, "2026-01-03T12:00:00Z", "2026-01-05T21:00:00Z"),
        ("0 22 * * 1-5", "UTC", "2026-01-03T12:00:00Z", "2026-01-05T22:00:00Z"),
    ];
    for (expr, tz, after, expected) in cases {
        check(expr, tz, after, expected);
    }
}

#[test]
fn six_fields_have_seconds_first() {
    let cases = [
        ("*/5 * * * * *", "", "2026-01-01T00:00:00Z", "2026-01-01T00:00:05Z"),
        ("*/5 * * * * *", "", "2026-01-01T00:00:04.999999999Z", "2026-01-01T00:00:05Z"),
        ("*/5 * * * * *", "", "2026-01-01T00:00:05Z", "2026-01-01T00:00:10Z"),
        ("30 * * * * *", "", "2026-01-01T00:00:30Z", "2026-01-01T00:01:30Z"),
        ("0 30 2 * * *", "", "2026-01-01T00:00:00Z", "2026-01-01T02:30:00Z"),
        ("15 0 12 * * mon", "", "2026-01-01T00:00:00Z", "2026-01-05T12:00:15Z"),
        ("*/10 * * * * *", BERLIN, "2026-01-01T00:00:01Z", "2026-01-01T00:00:10Z"),
    ];
    for (expr, tz, after, expected) in cases {
        check(expr, tz, after, expected);
    }
}

#[test]
fn macros() {
    // 2026-01-01 is a Thursday.
    let cases = [
        ("@yearly", "", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"),
        ("@annually", "", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"),
        ("@monthly", "", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"),
        ("@weekly", "", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z"),
        ("@daily", "", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"),
        ("@midnight", "", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"),
        ("@MIDNIGHT", "", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"),
        ("@Hourly", "", "2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"),
        ("@daily", BERLIN, "2026-01-01T00:00:00Z", "2026-01-01T23:00:00Z"),
        ("@daily", NEW_YORK, "2026-07-01T00:00:00Z", "2026-07-01T04:00:00Z"),
    ];
    for (expr, tz, after, expected) in cases {
        check(expr, tz, after, expected);
    }
}

#[test]
fn month_and_day_names() {
    let cases = [
        ("0 0 1 JUL *", "", "2026-01-01T00:00:00Z", "2026-07-01T00:00:00Z"),
        ("0 0 1 jan,jul *", "", "2026-01-01T00:00:00Z", "2026-07-01T00:00:00Z"),
        ("0 0 1 Mar-May *", "", "2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z"),
        ("0 8 * * mon-fri", "", "2026-01-02T08:00:00Z", "2026-01-05T08:00:00Z"),
        ("0 8 * * SAT,sun", "", "2026-01-01T00:00:00Z", "2026-01-03T08:00:00Z"),
        ("0 8 * * Sun", "", "2026-01-03T12:00:00Z", "2026-01-04T08:00:00Z"),
    ];
    for (expr, tz, after, expected) in cases {
        check(expr, tz, after, expected);
    }
}

#[test]
fn question_mark_last_nearest_weekday_and_nth() {
    let cases = [
        ("0 0 ? * 1", "", "2026-01-01T00:00:00Z", "2026-01-05T00:00:00Z"),
        ("0 0 L * *", "", "2026-02-01T00:00:00Z", "2026-02-28T00:00:00Z"),
        ("0 0 L 2 *", "", "2027-03-01T00:00:00Z", "2028-02-29T00:00:00Z"),
        // Last Friday and last Sunday (both 0 and 7 are Sunday) of January 2026.
        ("0 0 * * 5L", "", "2026-01-01T00:00:00Z", "2026-01-30T00:00:00Z"),
        ("0 0 * * 0L", "", "2026-01-01T00:00:00Z", "2026-01-25T00:00:00Z"),
        ("0 0 * * 7L", "", "2026-01-01T00:00:00Z", "2026-01-25T00:00:00Z"),
        ("0 0 * * 7", "", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z"),
        // Second Monday.
        ("0 0 * * 1#2", "", "2026-01-01T00:00:00Z", "2026-01-12T00:00:00Z"),
        // 2026-02-15 is a Sunday: the nearest weekday is Monday the 16th.
        ("0 0 15W * *", "", "2026-02-01T00:00:00Z", "2026-02-16T00:00:00Z"),
        // 2026-01-31 is a Saturday: the last weekday is Friday the 30th.
        ("0 0 LW * *", "", "2026-01-01T00:00:00Z", "2026-01-30T00:00:00Z"),
    ];
    for (expr, tz, after, expected) in cases {
        check(expr, tz, after, expected);
    }
}

#[test]
fn day_of_month_or_day_of_week() {
    let cases = [
        // Unix cron OR: the 13th, and every Friday.
        ("0 0 13 * 5", "", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"),
        ("0 0 13 * 5", "", "2026-01-10T00:00:00Z", "2026-01-13T00:00:00Z"),
        ("0 0 13 * 5", "", "2026-01-13T00:00:00Z", "2026-01-16T00:00:00Z"),
        // February 31st never comes, but Mondays in February do.
        ("0 0 31 2 mon", "", "2026-01-01T00:00:00Z", "2026-02-02T00:00:00Z"),
        // `?` or `*` in one field: only the other counts.
        ("0 0 13 * ?", "", "2026-01-01T00:00:00Z", "2026-01-13T00:00:00Z"),
        ("0 0 ? * 5", "", "2026-01-03T00:00:00Z", "2026-01-09T00:00:00Z"),
    ];
    for (expr, tz, after, expected) in cases {
        check(expr, tz, after, expected);
    }
}

#[test]
fn rare_but_possible_expressions_parse() {
    let cases = [
        ("0 0 29 2 *", "", "2026-01-01T00:00:00Z", "2028-02-29T00:00:00Z"),
        // A fifth Friday in February needs a leap year whose February starts on a Friday.
        ("0 0 * 2 5#5", "", "2026-01-01T00:00:00Z", "2036-02-29T00:00:00Z"),
    ];
    for (expr, tz, after, expected) in cases {
        check(expr, tz, after, expected);
    }
}

#[test]
fn never_firing_expressions_are_errors() {
    for expr in ["0 0 31 2 *", "0 0 30 2 *", "0 0 31 4,6,9,11 *", "0 0 0 31 2 *", "0 0 30-31 2 ?"] {
        check_err(expr, "", &format!("cron expression {expr:?} never fires"));
        assert_eq!(CronSpec::parse(expr, NEW_YORK).err(), Some(CronError::NeverFires { expression: expr.to_string() }));
    }
}

#[test]
fn bad_expressions_name_the_expression_and_the_problem() {
    let fields = "expected 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first";
    let cases = [
        ("", format!(r#"invalid cron expression "": {fields}, got 0"#)),
        ("   ", format!(r#"invalid cron expression "   ": {fields}, got 0"#)),
        ("* * *", format!(r#"invalid cron expression "* * *": {fields}, got 3"#)),
        ("0 0 1 1 * 2027 x", format!(r#"invalid cron expression "0 0 1 1 * 2027 x": {fields}, got 7"#)),
        (
            "@reboot",
            r#"invalid cron expression "@reboot": unknown macro "@reboot": expected one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly"#.to_string(),
        ),
        (
            "@every 5m",
            r#"invalid cron expression "@every 5m": unknown macro "@every 5m": expected one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly"#.to_string(),
        ),
        ("61 * * * *", r#"invalid cron expression "61 * * * *": component error: Number out of bounds"#.to_string()),
        ("0 24 * * *", r#"invalid cron expression "0 24 * * *": component error: Number out of bounds"#.to_string()),
        ("*/0 * * * *", r#"invalid cron expression "*/0 * * * *": component error: Step cannot be zero"#.to_string()),
        ("0 0 * * fooday", r#"invalid cron expression "0 0 * * fooday": pattern contains illegal characters: CronPattern contains illegal character 'F' in part 'FOODAY'"#.to_string()),
        ("0 0 * 13 *", r#"invalid cron expression "0 0 * 13 *": component error: Number out of bounds"#.to_string()),
        ("5-1 * * * *", r#"invalid cron expression "5-1 * * * *": component error: Range out of bounds"#.to_string()),
    ];
    for (expr, expected) in cases {
        check_err(expr, "", &expected);
    }
}

#[test]
fn time_zones() {
    assert_eq!(validate_time_zone(""), Ok(chrono_tz::UTC));
    assert_eq!(validate_time_zone("UTC"), Ok(chrono_tz::UTC));
    assert_eq!(validate_time_zone(NEW_YORK), Ok(chrono_tz::America::New_York));
    assert_eq!(validate_time_zone("Europe/Berlin"), Ok(chrono_tz::Europe::Berlin));
    for name in ["Mars/Base", "america/new_york", " UTC", "EST-5", "+02:00"] {
        let expected = format!("unknown time zone {name:?}: expected an IANA name such as America/New_York");
        assert_eq!(validate_time_zone(name).map_err(|err| err.to_string()), Err(expected.clone()));
        check_err("0 0 * * *", name, &expected);
    }
    assert_eq!(spec("0 0 * * *", "").time_zone(), chrono_tz::UTC);
    assert_eq!(spec("0 0 * * *", BERLIN).expression(), "0 0 * * *");
}

#[test]
fn spring_forward_runs_once_at_the_first_instant_after_the_gap() {
    let cases = [
        // New York 2026-03-08: 02:00 EST -> 03:00 EDT (07:00 UTC).
        ("30 2 * * *", NEW_YORK, "2026-03-08T05:00:00Z", "2026-03-08T07:00:00Z"),
        ("30 2 * * *", NEW_YORK, "2026-03-08T06:59:59Z", "2026-03-08T07:00:00Z"),
        ("30 2 * * *", NEW_YORK, "2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"),
        ("0 2 * * *", NEW_YORK, "2026-03-08T05:00:00Z", "2026-03-08T07:00:00Z"),
        ("59 59 2 * * *", NEW_YORK, "2026-03-08T05:00:00Z", "2026-03-08T07:00:00Z"),
        // Times next to the gap keep their own instant and do not also run after it.
        ("30 1 * * *", NEW_YORK, "2026-03-08T05:00:00Z", "2026-03-08T06:30:00Z"),
        ("30 1 * * *", NEW_YORK, "2026-03-08T06:30:00Z", "2026-03-09T05:30:00Z"),
        ("0 3 * * *", NEW_YORK, "2026-03-08T05:00:00Z", "2026-03-08T07:00:00Z"),
        ("0 0 * * *", "Europe/London", "2026-03-29T00:00:00Z", "2026-03-29T23:00:00Z"),
        // Berlin 2026-03-29: 02:00 CET -> 03:00 CEST (01:00 UTC).
        ("30 2 * * *", BERLIN, "2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z"),
        ("30 2 * * *", BERLIN, "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"),
        // Lord Howe 2026-10-04: a 30-minute gap, 02:00 +10:30 -> 02:30 +11.
        ("15 2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00:00Z", "2026-10-03T15:30:00Z"),
        // Apia skipped all of 2011-12-30: noon that day runs at the start of the 31st.
        ("0 12 * * *", "Pacific/Apia", "2011-12-29T22:00:00Z", "2011-12-30T10:00:00Z"),
        ("0 12 * * *", "Pacific/Apia", "2011-12-30T10:00:00Z", "2011-12-30T22:00:00Z"),
    ];
    for (expr, tz, after, expected) in cases {
        check(expr, tz, after, expected);
    }
}

#[test]
fn fall_back_runs_once_at_the_first_occurrence() {
    let cases = [
        // New York 2026-11-01: 02:00 EDT -> 01:00 EST; 01:xx happens at 05:xx and 06:xx UTC.
        ("30 1 * * *", NEW_YORK, "2026-11-01T04:00:00Z", "2026-11-01T05:30:00Z"),
        ("30 1 * * *", NEW_YORK, "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"),
        ("30 1 * * *", NEW_YORK, "2026-11-01T06:00:00Z", "2026-11-02T06:30:00Z"),
        ("0 * * * *", NEW_YORK, "2026-11-01T05:00:00Z", "2026-11-01T07:00:00Z"),
        ("*/15 * * * *", NEW_YORK, "2026-11-01T05:45:00Z", "2026-11-01T07:00:00Z"),
        ("*/15 * * * *", NEW_YORK, "2026-11-01T06:20:00Z", "2026-11-01T07:00:00Z"),
        // Berlin 2026-10-25: 03:00 CEST -> 02:00 CET; 02:xx happens at 00:xx and 01:xx UTC.
        ("30 2 * * *", BERLIN, "2026-10-24T12:00:00Z", "2026-10-25T00:30:00Z"),
        ("30 2 * * *", BERLIN, "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"),
        ("30 2 * * *", BERLIN, "2026-10-25T01:29:59Z", "2026-10-26T01:30:00Z"),
    ];
    for (expr, tz, after, expected) in cases {
        check(expr, tz, after, expected);
    }
}

#[test]
fn launches_on_dst_days() {
    let cases: &[(&str, &str, &str, &[&str])] = &[
        ("30 1 * * *", NEW_YORK, "2026-11-01", &["2026-11-01T05:30:00Z"]),
        ("30 2 * * *", NEW_YORK, "2026-03-08", &["2026-03-08T07:00:00Z"]),
        ("*/15 2 * * *", NEW_YORK, "2026-03-08", &["2026-03-08T07:00:00Z"]),
        (
            "*/15 2 * * *",
            NEW_YORK,
            "2026-11-01",
            &["2026-11-01T07:00:00Z", "2026-11-01T07:15:00Z", "2026-11-01T07:30:00Z", "2026-11-01T07:45:00Z"],
        ),
        ("30 2 * * *", BERLIN, "2026-10-25", &["2026-10-25T00:30:00Z"]),
        ("30 2 * * *", BERLIN, "2026-03-29", &["2026-03-29T01:00:00Z"]),
        ("*/15 2 * * *", BERLIN, "2026-03-29", &["2026-03-29T01:00:00Z"]),
        ("0 1-3 * * *", NEW_YORK, "2026-03-08", &["2026-03-08T06:00:00Z", "2026-03-08T07:00:00Z"]),
        (
            "0 1-3 * * *",
            NEW_YORK,
            "2026-11-01",
            &["2026-11-01T05:00:00Z", "2026-11-01T07:00:00Z", "2026-11-01T08:00:00Z"],
        ),
    ];
    for (expr, tz, date, expected) in cases {
        let expected: Vec<_> = expected.iter().map(|text| utc(text)).collect();
        assert_eq!(launches_on(expr, tz, date), expected, "{expr:?} in {tz} on {date}");
    }
}

#[test]
fn launch_counts_per_day() {
    // A wall-clock time fires at most once: 23 hourly launches on a 23-hour day,
    // 24 (not 25) on a 25-hour day.
    let cases = [
        ("0 * * * *", NEW_YORK, "2026-03-07", 24),
        ("0 * * * *", NEW_YORK, "2026-03-08", 23),
        ("0 * * * *", NEW_YORK, "2026-11-01", 24),
        ("0 * * * *", BERLIN, "2026-03-29", 23),
        ("0 * * * *", BERLIN, "2026-10-25", 24),
        ("*/15 * * * *", NEW_YORK, "2026-03-08", 92),
        ("*/15 * * * *", NEW_YORK, "2026-11-01", 96),
        ("*/15 * * * *", BERLIN, "2026-03-29", 92),
        ("*/15 * * * *", BERLIN, "2026-10-25", 96),
        ("*/5 * * * * *", NEW_YORK, "2026-11-01", 24 * 720),
        ("*/5 * * * * *", BERLIN, "2026-03-29", 23 * 720),
        ("@daily", NEW_YORK, "2026-03-08", 1),
        ("@daily", NEW_YORK, "2026-11-01", 1),
        ("0 * * * *", "", "2026-03-08", 24),
    ];
    for (expr, tz, date, expected) in cases {
        assert_eq!(launches_on(expr, tz, date).len(), expected, "{expr:?} in {tz:?} on {date}");
    }
}

#[test]
fn launches_between_bounds_and_limit() {
    let every_5 = spec("*/5 * * * *", "");
    let at = |minute: u32| Utc.with_ymd_and_hms(2026, 1, 1, 0, minute, 0).single().expect("valid test time");
    assert_eq!(every_5.launches_between(at(0), at(20), 10), vec![at(5), at(10), at(15), at(20)]);
    assert_eq!(every_5.launches_between(at(0), at(20), 2), vec![at(5), at(10)]);
    let none: Vec<DateTime<Utc>> = Vec::new();
    assert_eq!(every_5.launches_between(at(0), at(20), 0), none);
    assert_eq!(every_5.launches_between(at(20), at(0), 10), none);
    assert_eq!(every_5.launches_between(at(5), at(9), 10), none);
    // Far past croner's last year: no launch, no loop.
    let far = Utc.with_ymd_and_hms(9000, 1, 1, 0, 0, 0).single().expect("valid test time");
    assert_eq!(every_5.next_after(far), None);
    assert_eq!(every_5.launches_between(far, far + TimeDelta::days(1), 10), none);
}

#[test]
fn next_after_is_strictly_increasing_across_dst_days() {
    let exprs = [
        "* * * * *",
        "*/15 * * * *",
        "0 * * * *",
        "30 2 * * *",
        "30 1 * * *",
        "0 2 * * *",
        "*/15 2 * * *",
        "0 3 * * *",
        "0 0 * * *",
        "0 30 1-3 * * *",
        "59 59 1 * * *",
        "*/5 * * * * *",
    ];
    let zone_days = [
        ("", "2026-03-08"),
        (NEW_YORK, "2026-03-08"),
        (NEW_YORK, "2026-11-01"),
        (BERLIN, "2026-03-29"),
        (BERLIN, "2026-10-25"),
        ("Australia/Lord_Howe", "2026-04-05"),
        ("Australia/Lord_Howe", "2026-10-04"),
        ("Pacific/Apia", "2011-12-30"),
    ];
    // An odd step with nanoseconds so sweep points land everywhere in a minute.
    let step = TimeDelta::seconds(7 * 60 + 13) + TimeDelta::nanoseconds(500_000_001);
    for (tz, day) in zone_days {
        let day: NaiveDate = day.parse().expect("valid test date");
        let start = Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight")) - TimeDelta::hours(16);
        let end = start + TimeDelta::hours(56);
        for expr in exprs {
            let cron = spec(expr, tz);
            let mut previous: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
            let mut t = start;
            while t < end {
                let next = cron.next_after(t).unwrap_or_else(|| panic!("{expr:?} in {tz:?}: none after {t}"));
                assert!(next > t, "{expr:?} in {tz:?}: next_after({t}) = {next}");
                let after_next = cron.next_after(next).unwrap_or_else(|| panic!("{expr:?}: none after {next}"));
                assert!(after_next > next, "{expr:?} in {tz:?}: next_after({next}) = {after_next}");
                // A step function: no launch appears or disappears between sweep points.
                if let Some((previous_t, previous_next)) = previous
                    && previous_next > t
                {
                    assert_eq!(next, previous_next, "{expr:?} in {tz:?}: after {previous_t} and after {t}");
                }
                previous = Some((t, next));
                t += step;
            }
        }
    }
}

#[test]
fn every_module_starts_with_a_doc_comment() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&src).expect("src dir is readable") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|ext| ext == "rs") {
            let text = std::fs::read_to_string(&path).expect("source is readable");
            if !text.starts_with("//!") {
                missing.push(path.display().to_string());
            }
        }
    }
    assert!(missing.is_empty(), "modules without a //! header: {missing:?}");
}
