//! Runs `drover-bench all -quick` at a tiny size against the real `drover`
//! binary and checks that it prints one well-formed JSON line per figure
//! (every scenario's figures present) and the table. Nothing is timed.
//!
//! The `drover` binary is built first with `$CARGO build -p drover` (a no-op
//! when fresh), so a stale binary next to the test is never used.

use std::path::PathBuf;
use std::process::Command;

fn drover_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("DROVER_BIN") {
        return PathBuf::from(path);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let status = Command::new(cargo)
        .args(["build", "-q", "-p", "drover", "--bin", "drover"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo build -p drover");
    assert!(status.success(), "building drover failed");
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_drover-bench"));
    bench.parent().expect("target dir").join("drover")
}

#[test]
fn all_quick_prints_a_json_line_per_figure() {
    let drover = drover_bin();
    let output = Command::new(env!("CARGO_BIN_EXE_drover-bench"))
        .args(["all", "-quick", "-n", "30", "-nodes", "10", "-concurrency", "4"])
        .arg(format!("-drover={}", drover.display()))
        .output()
        .expect("run drover-bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "drover-bench failed:\nstdout:\n{stdout}\nstderr:\n{stderr}");
    let mut benches = Vec::new();
    for line in stdout.lines().filter(|l| l.starts_with('{')) {
        let figure: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("bad JSON {line:?}: {e}"));
        assert!(figure["value"].is_number(), "{line}");
        assert!(figure["unit"].is_string(), "{line}");
        benches.push(figure["bench"].as_str().expect("bench name").to_string());
    }
    for expected in [
        "dispatch_accept",
        "placement",
        "placement_cost_us",
        "dispatch_latency_p50",
        "dispatch_latency_p99",
        "e2e_throughput",
        "fork_exec_wait",
        "memory_rss",
        "memory_data_dir",
        "memory_restart",
        "backlog_rss",
        "backlog_api_p99",
        "backlog_drain",
    ] {
        assert!(benches.iter().any(|b| b == expected), "no {expected} figure in:\n{stdout}");
    }
    assert!(stdout.contains("FIGURE") && stdout.contains("VALUE"), "no table in:\n{stdout}");
}
