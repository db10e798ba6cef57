//! The scenarios. Each starts what it needs (or uses `-address`), runs a
//! bounded load and adds its figures to the [`Report`]. Sizes: `-n`/`-nodes`
//! when given, else a full default, or a small one with `-quick`.
//!
//! Targets (docs/BENCHMARKS.md compares each figure with the published ones
//! of peer systems): dispatch_accept ≥ 10,000/s (Nomad 2.0: about
//! 780/s, 1.11: 160/s); placement ≥ 50,000/s on 10,000 nodes, cost within 2x
//! from 1,000 to 10,000 nodes (Nomad C1M: about 3,750/s); backlog RSS ≤ 2 GiB,
//! API p99 ≤ 50 ms; dispatch_latency p50 ≤ 5 ms, p99 ≤ 25 ms;
//! e2e_throughput ≥ 70% of fork/exec/wait; memory RSS ≤ 2 GiB, restart ≤ 30 s.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::agent::{Agent, AgentKind, cpu_time, dir_size, rss_bytes};
use crate::api::Api;
use crate::{Figure, Options, Report};

/// Every scenario, in the order `all` runs them.
pub const SCENARIOS: [&str; 7] =
    ["dispatch_accept", "placement", "dispatch_latency", "e2e_throughput", "memory", "backlog", "cli_dispatch"];

/// Runs `options.scenario` (or all of them).
pub async fn run(options: &Options, drover: &Path, report: &mut Report<'_>) -> anyhow::Result<()> {
    if options.scenario != "all" {
        return run_one(&options.scenario, options, drover, report).await;
    }
    let mut failed = Vec::new();
    for scenario in SCENARIOS {
        if let Err(e) = run_one(scenario, options, drover, report).await {
            eprintln!("{scenario}: {e:#}");
            failed.push(scenario);
        }
    }
    if !failed.is_empty() {
        bail!("scenarios failed: {}", failed.join(", "));
    }
    Ok(())
}

async fn run_one(scenario: &str, options: &Options, drover: &Path, report: &mut Report<'_>) -> anyhow::Result<()> {
    match scenario {
        "dispatch_accept" => dispatch_accept(options, drover, report).await,
        "placement" => placement(options, drover, report).await,
        "dispatch_latency" => dispatch_latency(options, drover, report).await,
        "e2e_throughput" => e2e_throughput(options, drover, report).await,
        "memory" => memory(options, drover, report).await,
        "backlog" => backlog(options, drover, report).await,
        "cli_dispatch" => cli_dispatch(options, drover, report).await,
        other => bail!("unknown scenario {other:?}: expected one of {} or all", SCENARIOS.join(", ")),
    }
}

fn size(options: &Options, quick: u64, full: u64) -> u64 {
    options.n.unwrap_or(if options.quick { quick } else { full })
}

fn nodes(options: &Options, quick: u64, full: u64) -> u64 {
    options.nodes.first().copied().unwrap_or(if options.quick { quick } else { full })
}

/// The `server {}` block of the servers the bench starts.
fn server_hcl(options: &Options) -> String {
    match options.num_schedulers {
        Some(n) => format!("num_schedulers = {n}"),
        None => String::new(),
    }
}

fn concurrency(options: &Options, default: usize) -> usize {
    options.concurrency.unwrap_or(default).max(1)
}

// ---- jobs ----

fn mock_task(run_for: &str) -> Value {
    json!({
        "Name": "t",
        "Driver": "mock",
        "Config": { "run_for": run_for },
        "Resources": { "CPU": 20, "MemoryMB": 32 }
    })
}

fn raw_exec_task(command: &str, args: &[String]) -> Value {
    json!({
        "Name": "t",
        "Driver": "raw_exec",
        "Config": { "command": command, "args": args },
        "Resources": { "CPU": 10, "MemoryMB": 16 }
    })
}

fn batch_job(id: &str, count: u64, task: Value, parameterized: bool) -> Value {
    let mut job = json!({
        "ID": id,
        "Name": id,
        "Type": "batch",
        "Datacenters": ["dc1"],
        "TaskGroups": [{
            "Name": "g",
            "Count": count,
            "RestartPolicy": { "Attempts": 0, "Mode": "fail" },
            "ReschedulePolicy": { "Attempts": 0, "Unlimited": false },
            "EphemeralDisk": { "SizeMB": 10 },
            "Tasks": [task]
        }]
    });
    if parameterized {
        job["ParameterizedJob"] = json!({ "Payload": "optional" });
    }
    job
}

// ---- helpers ----

/// What a bounded concurrent dispatch loop did.
struct Dispatched {
    ok: u64,
    errors: u64,
    elapsed: Duration,
    latencies_ms: Vec<f64>,
}

/// Dispatches `parent` `n` times from `concurrency` tasks, for at most `limit`.
async fn dispatch_many(api: &Api, parent: &str, n: u64, concurrency: usize, limit: Duration) -> Dispatched {
    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + limit;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (api, parent, next, errors) = (api.clone(), parent.to_string(), next.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < n && Instant::now() < deadline {
                let sent = Instant::now();
                match api.dispatch(&parent).await {
                    Ok(_) => latencies.push(sent.elapsed().as_secs_f64() * 1000.0),
                    Err(e) => {
                        if errors.fetch_add(1, Ordering::Relaxed) < 3 {
                            eprintln!("dispatch failed: {e:#}");
                        }
                    }
                }
            }
            latencies
        }));
    }
    let mut latencies_ms = Vec::new();
    for task in tasks {
        latencies_ms.extend(task.await.unwrap_or_default());
    }
    Dispatched {
        ok: latencies_ms.len() as u64,
        errors: errors.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
        latencies_ms,
    }
}

/// The `p`th percentile (0..100) of `values` (sorted here).
fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * (values.len() - 1) as f64).round() as usize;
    values[rank.min(values.len() - 1)]
}

/// Waits until `n` children of `parent` are dead; returns the summary's
/// children counts. Polls every 500 ms rather than blocking on the summary:
/// the server computes a parent's summary from all its children, and a
/// blocking query wakes on every commit, so watching closely would cost the
/// server more than the work being measured.
async fn wait_children_dead(api: &Api, parent: &str, n: u64, limit: Duration) -> anyhow::Result<Value> {
    let deadline = Instant::now() + limit;
    loop {
        let summary = api.get(&format!("/v1/job/{parent}/summary")).await?;
        let children = summary["Children"].clone();
        if children["Dead"].as_u64().unwrap_or(0) >= n {
            return Ok(children);
        }
        if Instant::now() > deadline {
            bail!("only {} of {n} children of {parent} finished within {limit:?}", children["Dead"]);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn placed(summary: &Value) -> u64 {
    let Some(groups) = summary["Summary"].as_object() else { return 0 };
    groups
        .values()
        .map(|g| {
            ["Starting", "Running", "Complete", "Failed", "Lost"]
                .iter()
                .map(|k| g[*k].as_u64().unwrap_or(0))
                .sum::<u64>()
        })
        .sum()
}

fn running(summary: &Value) -> u64 {
    let Some(groups) = summary["Summary"].as_object() else { return 0 };
    groups.values().map(|g| g["Running"].as_u64().unwrap_or(0)).sum()
}

/// Samples API latency (`GET /v1/jobs?prefix=x` and `GET /v1/job/<parent>`
/// in turn) every 20 ms until `stop`. (The parent's summary is measured apart:
/// the server computes it from every child, see `backlog`.)
fn spawn_sampler(api: &Api, parent: &str, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Vec<f64>> {
    let (api, parent) = (api.clone(), parent.to_string());
    tokio::spawn(async move {
        let mut latencies = Vec::new();
        let mut turn = 0u64;
        while !stop.load(Ordering::Relaxed) && latencies.len() < 1_000_000 {
            let path =
                if turn.is_multiple_of(2) { "/v1/jobs?prefix=x".to_string() } else { format!("/v1/job/{parent}") };
            turn += 1;
            let sent = Instant::now();
            if api.get(&path).await.is_ok() {
                latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        latencies
    })
}

fn unix_nanos() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

async fn server_or_address(options: &Options, drover: &Path) -> anyhow::Result<(Option<Agent>, Api)> {
    match &options.address {
        Some(address) => Ok((None, Api::new(address)?)),
        None => {
            let agent = Agent::start(drover, AgentKind::Server { server_hcl: &server_hcl(options) }, None).await?;
            let api = Api::new(&agent.address)?;
            Ok((Some(agent), api))
        }
    }
}

// ---- scenarios ----

/// Concurrent HTTP clients dispatching a parameterized job whose children
/// cannot run (no nodes): durable, acknowledged dispatches per second.
async fn dispatch_accept(options: &Options, drover: &Path, report: &mut Report<'_>) -> anyhow::Result<()> {
    let n = size(options, 3_000, 100_000);
    let concurrency = concurrency(options, 128);
    let (agent, api) = server_or_address(options, drover).await?;
    let parent = format!("bench-accept-{}", unix_nanos() % 1_000_000);
    api.register_job(&batch_job(&parent, 1, mock_task("0s"), true)).await?;
    let server_pid = agent.as_ref().and_then(Agent::pid);
    let cpu_before = server_pid.map(cpu_time).unwrap_or_default();
    let mut result = dispatch_many(&api, &parent, n, concurrency, Duration::from_secs(600)).await;
    let server_cpu = server_pid.map(cpu_time).unwrap_or_default().saturating_sub(cpu_before);
    if result.ok == 0 {
        bail!("no dispatch succeeded ({} errors)", result.errors);
    }
    let rate = result.ok as f64 / result.elapsed.as_secs_f64();
    report.add(
        Figure::new("dispatch_accept", rate, "per_s")
            .with("n", result.ok)
            .with("nodes", 0)
            .with("concurrency", concurrency)
            .with("errors", result.errors)
            .with("target", 10_000)
            .with("vs_nomad_2_0", round2(rate / 780.0)),
    );
    let p50 = percentile(&mut result.latencies_ms, 50.0);
    let p99 = percentile(&mut result.latencies_ms, 99.0);
    report.add(Figure::new("dispatch_accept_p50", p50, "ms").with("n", result.ok).with("concurrency", concurrency));
    report.add(Figure::new("dispatch_accept_p99", p99, "ms").with("n", result.ok).with("concurrency", concurrency));
    if let Some(pid) = server_pid {
        let cpu_us = server_cpu.as_secs_f64() * 1e6 / result.ok as f64;
        report.add(Figure::new("dispatch_accept_server_cpu_us", cpu_us, "us").with("n", result.ok));
        report.add(Figure::new("dispatch_accept_rss", rss_bytes(pid).0 as f64, "bytes").with("n", result.ok));
    }
    Ok(())
}

/// A shell loop of `drover job dispatch -detach` (one CLI process each, as a
/// user's script runs it), first on a parent with no children, then on the
/// same parent once `-n` more children exist (dispatched over the API, so
/// they are parked: kept in storage, as finished children are): the CLI's
/// cost must not grow with the children. Target: the second rate at least
/// 80% of the first.
async fn cli_dispatch(options: &Options, drover: &Path, report: &mut Report<'_>) -> anyhow::Result<()> {
    let children = size(options, 5_000, 100_000);
    let loops: u64 = if options.quick { 100 } else { 1_000 };
    let (_agent, api) = server_or_address(options, drover).await?;
    let parent = format!("bench-cli-{}", unix_nanos() % 1_000_000);
    api.register_job(&batch_job(&parent, 1, mock_task("0s"), true)).await?;
    let before = shell_dispatch_loop(drover, api.address(), &parent, loops).await?;
    let filled = dispatch_many(&api, &parent, children, concurrency(options, 64), Duration::from_secs(600)).await;
    if filled.ok < children {
        bail!("only {} of {children} children dispatched ({} errors)", filled.ok, filled.errors);
    }
    let after = shell_dispatch_loop(drover, api.address(), &parent, loops).await?;
    let (rate_before, rate_after) = (loops as f64 / before.as_secs_f64(), loops as f64 / after.as_secs_f64());
    report.add(Figure::new("cli_dispatch_no_children", rate_before, "per_s").with("n", loops));
    report.add(
        Figure::new("cli_dispatch_with_children", rate_after, "per_s")
            .with("n", loops)
            .with("children", children)
            .with("ratio", round2(rate_after / rate_before))
            .with("target_ratio", 0.8),
    );
    Ok(())
}

/// Runs `for i in 1..n: drover job dispatch -detach <parent>` in `sh` and
/// times the whole loop.
async fn shell_dispatch_loop(drover: &Path, address: &str, parent: &str, n: u64) -> anyhow::Result<Duration> {
    let script = r#"i=0; while [ "$i" -lt "$N" ]; do "$DROVER" job dispatch -detach -address "$ADDR" "$PARENT" >/dev/null || exit 1; i=$((i+1)); done"#;
    let started = Instant::now();
    let status = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("N", n.to_string())
        .env("DROVER", drover)
        .env("ADDR", address)
        .env("PARENT", parent)
        .status()
        .await
        .context("running the dispatch loop in sh")?;
    if !status.success() {
        bail!("a `drover job dispatch -detach` in the loop failed ({status})");
    }
    Ok(started.elapsed())
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// M allocations (one batch job of count M per round) onto N simulated
/// nodes, for each N: placements per second from register to every
/// allocation placed, wall and server CPU per placement.
async fn placement(options: &Options, drover: &Path, report: &mut Report<'_>) -> anyhow::Result<()> {
    let node_counts: Vec<u64> = if !options.nodes.is_empty() {
        options.nodes.clone()
    } else if options.quick {
        vec![100, 1_000]
    } else {
        vec![1_000, 5_000, 10_000]
    };
    let m = size(options, 2_000, 50_000);
    let rounds = if options.quick { 1 } else { 3 };
    let mut costs: Vec<(u64, f64)> = Vec::new();
    for &n_nodes in &node_counts {
        let server = Agent::start(drover, AgentKind::Server { server_hcl: &server_hcl(options) }, None).await?;
        let api = Api::new(&server.address)?;
        let joined = Instant::now();
        let _sim = Agent::start(drover, AgentKind::Sim { servers: &server.address, n_nodes }, None).await?;
        let join_s = joined.elapsed().as_secs_f64();
        report.add(Figure::new("sim_nodes_ready", join_s, "s").with("nodes", n_nodes));
        let pid = server.pid().context("server has no pid")?;
        let mut rates = Vec::new();
        let mut cpu_costs = Vec::new();
        for round in 0..rounds {
            let job_id = format!("place-{n_nodes}-{round}");
            let cpu_before = cpu_time(pid);
            let started = Instant::now();
            let reply = api.register_job(&batch_job(&job_id, m, mock_task("10m"), false)).await?;
            let eval_id = reply["EvalID"].as_str().context("register reply without EvalID")?.to_string();
            // Block on the evaluation (cheap to read), not on the job summary
            // (which the server computes from every allocation of the job).
            let mut index = 0;
            let deadline = started + Duration::from_secs(600);
            loop {
                let (eval, new_index) =
                    api.get_blocking(&format!("/v1/evaluation/{eval_id}"), index, Duration::from_secs(5)).await?;
                if eval["Status"] != "pending" {
                    break;
                }
                if Instant::now() > deadline {
                    bail!("evaluation of {m} placements on {n_nodes} nodes not done within 600 s");
                }
                index = new_index;
            }
            let elapsed = started.elapsed();
            let cpu = cpu_time(pid).saturating_sub(cpu_before);
            let summary = api.get(&format!("/v1/job/{job_id}/summary")).await?;
            if placed(&summary) < m {
                bail!("only {} of {m} placed on {n_nodes} nodes", placed(&summary));
            }
            rates.push(m as f64 / elapsed.as_secs_f64());
            cpu_costs.push(cpu.as_secs_f64() * 1e6 / m as f64);
            // Let the simulated nodes start them before the next round (bounded).
            let settle = Instant::now() + Duration::from_secs(120);
            while Instant::now() < settle {
                let summary = api.get(&format!("/v1/job/{job_id}/summary")).await?;
                if running(&summary) >= m {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            report.add(
                Figure::new("placement_to_running", started.elapsed().as_secs_f64(), "s")
                    .with("n", m)
                    .with("nodes", n_nodes)
                    .with("round", round),
            );
        }
        let rate = percentile(&mut rates.clone(), 50.0);
        let cost_us = 1e6 / rate;
        let cpu_us = percentile(&mut cpu_costs, 50.0);
        costs.push((n_nodes, cost_us));
        report.add(
            Figure::new("placement", rate, "per_s")
                .with("n", m)
                .with("nodes", n_nodes)
                .with("rounds", rounds)
                .with("target", 50_000)
                .with("vs_c1m", round2(rate / 3_750.0)),
        );
        report.add(Figure::new("placement_cost_us", cost_us, "us").with("n", m).with("nodes", n_nodes));
        report.add(Figure::new("placement_server_cpu_us", cpu_us, "us").with("n", m).with("nodes", n_nodes));
        report.add(
            Figure::new("placement_server_rss", rss_bytes(pid).0 as f64, "bytes")
                .with("nodes", n_nodes)
                .with("allocs", m * rounds),
        );
    }
    if let (Some(first), Some(last)) = (costs.first(), costs.last())
        && costs.len() > 1
    {
        report.add(
            Figure::new("placement_cost_growth", last.1 / first.1, "ratio")
                .with("from_nodes", first.0)
                .with("to_nodes", last.0)
                .with("target", 2),
        );
    }
    Ok(())
}

/// Dispatch to task running, stamped by the task itself (its first
/// instruction reads the clock), for a raw_exec task on a `-dev` agent.
async fn dispatch_latency(options: &Options, drover: &Path, report: &mut Report<'_>) -> anyhow::Result<()> {
    let n = size(options, 20, 300);
    let agent = match &options.address {
        Some(_) => None,
        None => Some(Agent::start(drover, AgentKind::Dev, None).await?),
    };
    let api = match (&options.address, &agent) {
        (Some(address), _) => Api::new(address)?,
        (None, Some(agent)) => Api::new(&agent.address)?,
        (None, None) => bail!("no agent"),
    };
    let stamps = tempfile::Builder::new().prefix("drover-bench-stamps-").tempdir()?;
    let stamp = crate::stamp::program()?;
    let parent = format!("bench-latency-{}", unix_nanos() % 1_000_000);
    let task = raw_exec_task(&stamp.display().to_string(), &[stamps.path().display().to_string()]);
    api.register_job(&batch_job(&parent, 1, task, true)).await?;
    let mut latencies = Vec::new();
    let mut acks = Vec::new();
    let warmup = 3;
    for i in 0..n + warmup {
        let sent_ns = unix_nanos();
        let sent = Instant::now();
        let child = api.dispatch(&parent).await?;
        let ack_ms = sent.elapsed().as_secs_f64() * 1000.0;
        let path = stamps.path().join(crate::stamp::stamp_name(&child));
        let deadline = Instant::now() + Duration::from_secs(30);
        let stamp: u128 = loop {
            if let Ok(text) = std::fs::read_to_string(&path)
                && let Ok(stamp) = text.trim().parse()
            {
                break stamp;
            }
            if Instant::now() > deadline {
                bail!("task of {child} did not start within 30 s");
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        };
        if i >= warmup {
            latencies.push(stamp.saturating_sub(sent_ns) as f64 / 1e6);
            acks.push(ack_ms);
        }
    }
    for (p, target) in [(50.0, Some(5)), (90.0, None), (99.0, Some(25))] {
        let mut figure =
            Figure::new(&format!("dispatch_latency_p{p}"), percentile(&mut latencies, p), "ms").with("n", n);
        if let Some(target) = target {
            figure = figure.with("target", target);
        }
        report.add(figure);
    }
    report.add(Figure::new("dispatch_ack_p50", percentile(&mut acks, 50.0), "ms").with("n", n));
    Ok(())
}

/// The machine's own rate of fork/exec/wait of `/bin/true`, one loop per core.
fn fork_exec_wait_rate(n: u64) -> anyhow::Result<f64> {
    let n_threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as u64;
    let per_thread = (n / n_threads).max(1);
    let started = Instant::now();
    let mut threads = Vec::new();
    for _ in 0..n_threads {
        threads.push(std::thread::spawn(move || -> std::io::Result<()> {
            for _ in 0..per_thread {
                std::process::Command::new("/bin/true").status()?;
            }
            Ok(())
        }));
    }
    for thread in threads {
        thread.join().map_err(|_| anyhow::anyhow!("fork loop panicked"))?.context("running /bin/true")?;
    }
    Ok((per_thread * n_threads) as f64 / started.elapsed().as_secs_f64())
}

/// N tiny real processes (`/bin/true` via raw_exec) dispatched, run and
/// recorded complete, beside the machine's own fork/exec/wait rate.
async fn e2e_throughput(options: &Options, drover: &Path, report: &mut Report<'_>) -> anyhow::Result<()> {
    let n = size(options, 200, 3_000);
    let concurrency = concurrency(options, 16);
    let fork_rate = fork_exec_wait_rate(n.max(500))?;
    let agent = Agent::start(drover, AgentKind::Dev, None).await?;
    let api = Api::new(&agent.address)?;
    let parent = "bench-e2e";
    api.register_job(&batch_job(parent, 1, raw_exec_task("/bin/true", &[]), true)).await?;
    let started = Instant::now();
    let result = dispatch_many(&api, parent, n, concurrency, Duration::from_secs(600)).await;
    let children = wait_children_dead(&api, parent, result.ok, Duration::from_secs(600)).await?;
    let rate = result.ok as f64 / started.elapsed().as_secs_f64();
    report.add(Figure::new("fork_exec_wait", fork_rate, "per_s").with("n", n.max(500)));
    report.add(
        Figure::new("e2e_throughput", rate, "per_s")
            .with("n", result.ok)
            .with("concurrency", concurrency)
            .with("dead", children["Dead"].clone()),
    );
    report.add(Figure::new("e2e_vs_fork", rate / fork_rate, "ratio").with("n", result.ok).with("target", 0.7));
    Ok(())
}

/// Server RSS and data dir size with N finished dispatched jobs retained,
/// and the time to restart the server on that data dir.
async fn memory(options: &Options, drover: &Path, report: &mut Report<'_>) -> anyhow::Result<()> {
    let n = size(options, 2_000, 100_000);
    let n_nodes = nodes(options, 10, 100);
    let concurrency = concurrency(options, 64);
    let mut server = Agent::start(drover, AgentKind::Server { server_hcl: &server_hcl(options) }, None).await?;
    let api = Api::new(&server.address)?;
    let sim = Agent::start(drover, AgentKind::Sim { servers: &server.address, n_nodes }, None).await?;
    let parent = "bench-memory";
    api.register_job(&batch_job(parent, 1, mock_task("0s"), true)).await?;
    let limit = Duration::from_secs(300 + n / 200);
    let result = dispatch_many(&api, parent, n, concurrency, limit).await;
    wait_children_dead(&api, parent, result.ok, limit).await?;
    drop(sim);
    let pid = server.pid().context("server has no pid")?;
    let (rss, hwm) = rss_bytes(pid);
    let data_bytes = dir_size(&server.data_dir);
    report.add(
        Figure::new("memory_rss", rss as f64, "bytes")
            .with("jobs", result.ok)
            .with("peak", hwm)
            .with("target", 2u64 << 30),
    );
    let wal_bytes =
        std::fs::metadata(server.data_dir.join("server").join("state.db-wal")).map(|m| m.len()).unwrap_or(0);
    report
        .add(Figure::new("memory_data_dir", data_bytes as f64, "bytes").with("jobs", result.ok).with("wal", wal_bytes));
    let restart = server.restart().await?;
    // The restarted server has every job back before it answers.
    let summary = api.get(&format!("/v1/job/{parent}/summary")).await?;
    let pid = server.pid().context("server has no pid")?;
    report.add(
        Figure::new("memory_restart", restart.as_secs_f64(), "s")
            .with("jobs", result.ok)
            .with("dead_after", summary["Children"]["Dead"].clone())
            .with("target", 30),
    );
    report.add(Figure::new("memory_rss_after_restart", rss_bytes(pid).0 as f64, "bytes").with("jobs", result.ok));
    Ok(())
}

/// N dispatches accepted while no node can take them: server RSS, API
/// latency while they wait, and the drain rate once simulated nodes join.
async fn backlog(options: &Options, drover: &Path, report: &mut Report<'_>) -> anyhow::Result<()> {
    let n = size(options, 2_000, 1_000_000);
    let n_nodes = nodes(options, 20, 1_000);
    let concurrency = concurrency(options, 64);
    let server = Agent::start(drover, AgentKind::Server { server_hcl: &server_hcl(options) }, None).await?;
    let api = Api::new(&server.address)?;
    let pid = server.pid().context("server has no pid")?;
    let parent = "bench-backlog";
    api.register_job(&batch_job(parent, 1, mock_task("0s"), true)).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = spawn_sampler(&api, parent, stop.clone());
    let limit = Duration::from_secs(300 + n / 500);
    let result = dispatch_many(&api, parent, n, concurrency, limit).await;
    report.add(
        Figure::new("backlog_accept", result.ok as f64 / result.elapsed.as_secs_f64(), "per_s")
            .with("n", result.ok)
            .with("concurrency", concurrency),
    );
    // The backlog waits a little with no capacity while the sampler runs.
    tokio::time::sleep(Duration::from_secs(if options.quick { 1 } else { 5 })).await;
    stop.store(true, Ordering::Relaxed);
    let mut waiting = sampler.await.unwrap_or_default();
    let mut summary_ms = Vec::new();
    for _ in 0..5 {
        let sent = Instant::now();
        api.get(&format!("/v1/job/{parent}/summary")).await?;
        summary_ms.push(sent.elapsed().as_secs_f64() * 1000.0);
    }
    report.add(
        Figure::new("backlog_parent_summary", percentile(&mut summary_ms, 50.0), "ms")
            .with("n", result.ok)
            .with("samples", summary_ms.len()),
    );
    let (rss, hwm) = rss_bytes(pid);
    report.add(
        Figure::new("backlog_rss", rss as f64, "bytes")
            .with("n", result.ok)
            .with("peak", hwm)
            .with("target", 2u64 << 30),
    );
    report.add(
        Figure::new("backlog_api_p99", percentile(&mut waiting, 99.0), "ms")
            .with("n", result.ok)
            .with("samples", waiting.len())
            .with("p50", round2(percentile(&mut waiting, 50.0)))
            .with("target", 50),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = spawn_sampler(&api, parent, stop.clone());
    let joined = Instant::now();
    let _sim = Agent::start(drover, AgentKind::Sim { servers: &server.address, n_nodes }, None).await?;
    let children = wait_children_dead(&api, parent, result.ok, Duration::from_secs(600 + n / 100)).await?;
    let drain_s = joined.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut draining = sampler.await.unwrap_or_default();
    report.add(
        Figure::new("backlog_drain", result.ok as f64 / drain_s, "per_s")
            .with("n", result.ok)
            .with("nodes", n_nodes)
            .with("dead", children["Dead"].clone()),
    );
    report.add(
        Figure::new("backlog_api_p99_draining", percentile(&mut draining, 99.0), "ms")
            .with("samples", draining.len())
            .with("target", 50),
    );
    report.add(Figure::new("backlog_rss_drained", rss_bytes(pid).0 as f64, "bytes").with("n", result.ok));
    Ok(())
}
