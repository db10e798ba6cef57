//! Text shapes shared by every command: aligned tables, `key = value` blocks,
//! dates, relative ages and sizes, as Nomad prints them.

use std::io::Write;

use chrono::{DateTime, Utc};

use drover_types::api::AllocListStub;
use drover_types::{AllocMetric, NANOS_PER_SEC, short_id};

/// Columns of `rows` separated by two spaces (Nomad's columnize); the last
/// column is not padded and lines carry no trailing spaces.
pub fn table<S: AsRef<str>>(rows: &[Vec<S>]) -> String {
    let mut tw = tabwriter::TabWriter::new(Vec::new()).padding(2).minwidth(0);
    for row in rows {
        let cells: Vec<&str> = row.iter().map(|cell| cell.as_ref()).collect();
        // Tabs and newlines inside cells would break the alignment.
        let line = cells.iter().map(|cell| cell.replace(['\t', '\n'], " ")).collect::<Vec<_>>().join("\t");
        let _ = writeln!(tw, "{line}");
    }
    let bytes = tw.into_inner().unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    text.lines().map(str::trim_end).collect::<Vec<_>>().join("\n")
}

/// `key = value` lines with the `=` aligned (Nomad's formatKV); empty values
/// print as `<none>`.
pub fn kv<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    let width = pairs.iter().map(|(key, _)| key.as_ref().chars().count()).max().unwrap_or(0);
    pairs
        .iter()
        .map(|(key, value)| {
            let value = if value.as_ref().is_empty() { "<none>" } else { value.as_ref() };
            format!("{:<width$} = {value}", key.as_ref())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A Unix-nanosecond time as `10/31/17 22:58:40 UTC`; `N/A` when zero.
pub fn time(nanos: i64) -> String {
    if nanos <= 0 {
        return "N/A".to_string();
    }
    let secs = nanos.div_euclid(NANOS_PER_SEC);
    let sub = nanos.rem_euclid(NANOS_PER_SEC) as u32;
    match DateTime::<Utc>::from_timestamp(secs, sub) {
        Some(at) => at.format("%m/%d/%y %H:%M:%S UTC").to_string(),
        None => "N/A".to_string(),
    }
}

/// How long ago `then` was at `now` (both Unix ns): `12s ago`, `5m ago`,
/// `2h3m ago`, `3d4h ago`; at most the two largest units, and the second
/// only when not zero. Times ahead of `now` read `5m from now`.
pub fn age(then: i64, now: i64) -> String {
    if then <= 0 {
        return "N/A".to_string();
    }
    let (diff, suffix) = if now >= then { (now - then, "ago") } else { (then - now, "from now") };
    // Round to the nearest second, as Nomad does.
    let secs = (diff + NANOS_PER_SEC / 2) / NANOS_PER_SEC;
    format!("{} {suffix}", short_duration_secs(secs))
}

/// Seconds as `3d4h`, `2h3m`, `5m`, `12s`: the largest unit and the next one
/// when it is not zero.
pub fn short_duration_secs(secs: i64) -> String {
    const UNITS: [(&str, i64); 4] = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)];
    let secs = secs.max(0);
    if secs == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    let mut rest = secs;
    let mut taken = 0;
    for (name, size) in UNITS {
        let count = rest / size;
        rest %= size;
        if taken == 0 && count == 0 {
            continue;
        }
        taken += 1;
        if count > 0 {
            out.push_str(&format!("{count}{name}"));
        }
        if taken == 2 {
            break;
        }
    }
    out
}

/// Megabytes as Nomad's humanize prints them (`300 MiB`, `1.5 GiB`).
pub fn mib(megabytes: u64) -> String {
    bytes(megabytes.saturating_mul(1024 * 1024))
}

/// Bytes in binary units with one decimal where useful (`0 B`, `6.3 MiB`, `15 GiB`).
pub fn bytes(n_bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if n_bytes < 1024 {
        return format!("{n_bytes} B");
    }
    let mut value = n_bytes as f64;
    let mut unit_idx = 0;
    while value >= 1024.0 && unit_idx + 1 < UNITS.len() {
        value /= 1024.0;
        unit_idx += 1;
    }
    let rounded = (value * 10.0).round() / 10.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0} {}", UNITS[unit_idx])
    } else {
        format!("{rounded:.1} {}", UNITS[unit_idx])
    }
}

/// An ID as tables show it: 8 characters, or whole with `-verbose`.
pub fn id(id: &str, verbose: bool) -> &str {
    if verbose { id } else { short_id(id) }
}

/// The allocation table of `job status` and `node status`:
/// `ID  Node ID  Task Group  Version  Desired  Status  Created  Modified`.
pub fn alloc_table(allocs: &[AllocListStub], verbose: bool, now: i64) -> String {
    let mut rows = vec![
        ["ID", "Node ID", "Task Group", "Version", "Desired", "Status", "Created", "Modified"]
            .map(String::from)
            .to_vec(),
    ];
    for alloc in allocs {
        rows.push(vec![
            id(&alloc.id, verbose).to_string(),
            id(&alloc.node_id, verbose).to_string(),
            alloc.task_group.clone(),
            alloc.job_version.to_string(),
            alloc.desired_status.clone(),
            alloc.client_status.clone(),
            if verbose { time(alloc.create_time) } else { age(alloc.create_time, now) },
            if verbose { time(alloc.modify_time) } else { age(alloc.modify_time, now) },
        ]);
    }
    table(&rows)
}

/// Why placement failed for one task group, one `* ...` line per reason,
/// each line starting with `prefix` (Nomad's formatAllocMetrics).
pub fn alloc_metrics(metrics: &AllocMetric, prefix: &str) -> String {
    let mut lines = Vec::new();
    if metrics.nodes_evaluated == 0 {
        lines.push(format!("{prefix}* No nodes were eligible for evaluation"));
    }
    for (dc, available) in &metrics.nodes_available {
        if *available == 0 {
            lines.push(format!("{prefix}* No nodes are available in datacenter {dc:?}"));
        }
    }
    for (class, count) in &metrics.class_filtered {
        lines.push(format!("{prefix}* Class {class:?}: {count} nodes excluded by filter"));
    }
    for (constraint, count) in &metrics.constraint_filtered {
        lines.push(format!("{prefix}* Constraint {constraint:?}: {count} nodes excluded by filter"));
    }
    if metrics.nodes_exhausted > 0 {
        lines.push(format!("{prefix}* Resources exhausted on {} nodes", metrics.nodes_exhausted));
    }
    for (class, count) in &metrics.class_exhausted {
        lines.push(format!("{prefix}* Class {class:?} exhausted on {count} nodes"));
    }
    for (dimension, count) in &metrics.dimension_exhausted {
        lines.push(format!("{prefix}* Dimension {dimension:?} exhausted on {count} nodes"));
    }
    lines.join("\n")
}

/// `Task Group "cache" (failed to place 1 allocation):`.
pub fn failed_group_header(group: &str, metrics: &AllocMetric) -> String {
    let count = metrics.coalesced_failures + 1;
    let noun = if metrics.coalesced_failures > 0 { "allocations" } else { "allocation" };
    format!("Task Group {group:?} (failed to place {count} {noun}):")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60 * NANOS_PER_SEC;

    #[test]
    fn ages() {
        let now = 1_700_000_000 * NANOS_PER_SEC;
        for (then, expect) in [
            (now - 5 * MIN, "5m ago"),
            (now - 12 * NANOS_PER_SEC, "12s ago"),
            (now - (2 * 60 + 3) * MIN, "2h3m ago"),
            (now - 2 * 60 * MIN - 5 * NANOS_PER_SEC, "2h ago"),
            (now - 5 * MIN - 3 * NANOS_PER_SEC, "5m3s ago"),
            (now - (26 * 60) * MIN, "1d2h ago"),
            (now, "0s ago"),
            (now - 400_000_000, "0s ago"),
            (now + 5 * MIN, "5m from now"),
            (0, "N/A"),
        ] {
            assert_eq!(age(then, now), expect);
        }
    }

    #[test]
    fn times_and_sizes() {
        // 2017-10-31T22:58:40Z
        assert_eq!(time(1_509_490_720 * NANOS_PER_SEC), "10/31/17 22:58:40 UTC");
        assert_eq!(time(0), "N/A");
        assert_eq!(mib(300), "300 MiB");
        assert_eq!(mib(15 * 1024), "15 GiB");
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(6_606_028), "6.3 MiB");
    }

    #[test]
    fn tables_and_kv() {
        let rows = vec![vec!["ID", "Type", "Status"], vec!["example", "service", "running"]];
        assert_eq!(table(&rows), "ID       Type     Status\nexample  service  running");
        let rows = vec![vec!["CPU", "Addresses"], vec!["100 MHz", ""]];
        assert_eq!(table(&rows), "CPU      Addresses\n100 MHz");
        assert_eq!(
            kv(&[("ID", "x"), ("Status Description", "")]),
            "ID                 = x\nStatus Description = <none>"
        );
    }
}
