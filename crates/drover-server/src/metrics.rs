//! Counters and latency sums, served by `/v1/metrics` as JSON or Prometheus text.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Every counter the server keeps.
#[derive(Default)]
pub struct Metrics {
    /// Evaluations processed by workers.
    pub evals_processed: AtomicU64,
    /// Allocations placed.
    pub placements: AtomicU64,
    /// Placements that failed (queued).
    pub placement_failures: AtomicU64,
    /// Plans committed.
    pub plans_applied: AtomicU64,
    /// Placements rejected by the plan applier's re-check.
    pub plan_rejections: AtomicU64,
    /// Jobs dispatched.
    pub dispatches: AtomicU64,
    /// Tasks reported started by clients.
    pub task_starts: AtomicU64,
    /// Tasks reported failed by clients.
    pub task_failures: AtomicU64,
    /// Nodes marked down for missed heartbeats.
    pub nodes_down: AtomicU64,
    requests: Mutex<BTreeMap<String, RouteStats>>,
}

/// Request counts and latency per route.
#[derive(Debug, Clone, Copy, Default)]
pub struct RouteStats {
    /// Requests served.
    pub count: u64,
    /// Sum of latencies in microseconds.
    pub sum_micros: u64,
    /// Largest latency in microseconds.
    pub max_micros: u64,
    /// Requests at or under 1, 5, 25, 100, 500 ms and above.
    pub buckets: [u64; 6],
}

const BUCKET_BOUNDS_MS: [u64; 5] = [1, 5, 25, 100, 500];

impl Metrics {
    /// Records one request's latency.
    pub fn record_request(&self, route: &str, micros: u64) {
        let mut requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        let stats = requests.entry(route.to_string()).or_default();
        stats.count += 1;
        stats.sum_micros += micros;
        stats.max_micros = stats.max_micros.max(micros);
        let bucket = BUCKET_BOUNDS_MS.iter().position(|ms| micros <= ms * 1000).unwrap_or(5);
        stats.buckets[bucket] += 1;
    }

    /// The counters as (name, value) pairs.
    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        vec![
            ("drover.evals.processed", get(&self.evals_processed)),
            ("drover.placements", get(&self.placements)),
            ("drover.placement_failures", get(&self.placement_failures)),
            ("drover.plans.applied", get(&self.plans_applied)),
            ("drover.plans.rejected_placements", get(&self.plan_rejections)),
            ("drover.dispatches", get(&self.dispatches)),
            ("drover.tasks.started", get(&self.task_starts)),
            ("drover.tasks.failed", get(&self.task_failures)),
            ("drover.nodes.down", get(&self.nodes_down)),
        ]
    }

    /// Per-route request stats.
    pub fn routes(&self) -> BTreeMap<String, RouteStats> {
        self.requests.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Prometheus text exposition of counters, gauges and request latencies.
    pub fn prometheus(&self, gauges: &[(&str, u64)]) -> String {
        let mut out = String::new();
        for (name, value) in self.counters() {
            let name = name.replace('.', "_");
            out.push_str(&format!("# TYPE {name}_total counter\n{name}_total {value}\n"));
        }
        for (name, value) in gauges {
            let name = name.replace('.', "_");
            out.push_str(&format!("# TYPE {name} gauge\n{name} {value}\n"));
        }
        out.push_str("# TYPE drover_http_request_duration_seconds histogram\n");
        for (route, stats) in self.routes() {
            let mut cumulative = 0;
            for (idx, bound) in BUCKET_BOUNDS_MS.iter().enumerate() {
                cumulative += stats.buckets[idx];
                let le = *bound as f64 / 1000.0;
                out.push_str(&format!(
                    "drover_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {cumulative}\n"
                ));
            }
            out.push_str(&format!(
                "drover_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}\n",
                stats.count
            ));
            out.push_str(&format!(
                "drover_http_request_duration_seconds_sum{{route=\"{route}\"}} {}\n",
                stats.sum_micros as f64 / 1e6
            ));
            out.push_str(&format!("drover_http_request_duration_seconds_count{{route=\"{route}\"}} {}\n", stats.count));
        }
        out
    }
}
