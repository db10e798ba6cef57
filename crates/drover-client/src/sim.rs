//! Simulated client nodes: one process registers many nodes through the same
//! server API real clients use (`node_register`, `node_heartbeat`, the
//! `node_client_allocs` long poll and allocation updates) and runs their
//! allocations with the [`mock`](crate::driver::mock) driver's semantics
//! (`run_for`, `exit_code`, `failure_rate`). It exists to load the real server
//! (broker, scheduler, plan applier, durable state) with thousands of nodes.
//!
//! [`start_sim`] takes a [`SimConfig`] and returns a [`SimHandle`] once every
//! node is registered; [`SimHandle::shutdown`] stops heartbeating, so the
//! servers mark the nodes `down` after their heartbeat TTL and grace.
//!
//! How it scales to 10,000 nodes in one process on 2 cores:
//! - HTTP connections are shared: nodes are split into shards of
//!   [`NODES_PER_CLIENT`], each with one `drover_api::Client` speaking
//!   HTTP/2 over one connection, which carries every request of its nodes,
//!   long polls included (~210 connections for 10,000 nodes, not ~20,000:
//!   the kernel's search for a free port made each new connection cost more,
//!   and their buffers cost the server ~1 GB; see commit `bd3ed26` and
//!   docs/BENCHMARKS.md, "Simulated nodes").
//! - Registration and heartbeats go through one bounded pool
//!   ([`SimConfig::max_in_flight`] requests at a time); heartbeats are spread
//!   evenly over half the TTL instead of firing together.
//! - Each node keeps one blocking query on its allocations (the real client
//!   protocol); an idle long poll costs the server a parked task and no CPU,
//!   and the server wakes only the nodes whose allocations changed.
//! - Allocation updates of all nodes are coalesced (newest per allocation)
//!   and sent in multi-node batches (`POST /v1/client/allocs/update-batch`),
//!   falling back to one `client_allocs_update` per node on servers without it.
//!
//! Differences from a real client, by design: no task directories, logs or
//! restarts (a failed mock task fails its allocation at once; the server's
//! reschedule policy applies), no client HTTP listener, nothing persisted.
//!
//! ```no_run
//! # async fn demo() -> Result<(), drover_client::ClientError> {
//! let config = drover_client::sim::SimConfig::new(vec!["http://127.0.0.1:4747".to_string()], 1000);
//! let sim = drover_client::sim::start_sim(config).await?;
//! println!("{} nodes registered", sim.node_ids().len());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

mod node;
mod reporter;
mod runner;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};

use drover_api::{ApiError, Client};
use drover_types::Node;

use crate::error::ClientError;
use reporter::SimReporter;

/// Nodes sharing one API client (one connection pool).
pub const NODES_PER_CLIENT: usize = 48;
/// How long [`start_sim`] keeps retrying registrations.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(120);

/// How the simulated nodes are set up.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Server URLs (`http://127.0.0.1:4747`); the first is used.
    pub servers: Vec<String>,
    /// How many nodes to simulate.
    pub n_nodes: usize,
    /// Node names are `<name_prefix>-<i>` (`sim-0`, `sim-1`...).
    pub name_prefix: String,
    /// Datacenter of every node.
    pub datacenter: String,
    /// Node class of every node (empty: none).
    pub node_class: String,
    /// Node pool of every node.
    pub node_pool: String,
    /// ACL token sent to servers.
    pub token: String,
    /// Registrations and heartbeats in flight at once.
    pub max_in_flight: usize,
    /// What each node offers.
    pub resources: SimResources,
}

/// The capacity of one simulated node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimResources {
    /// CPU cores.
    pub n_cores: u64,
    /// MHz per core.
    pub mhz_per_core: u64,
    /// Memory in MiB.
    pub memory_mb: u64,
    /// Disk in MiB.
    pub disk_mb: u64,
}

impl Default for SimResources {
    /// 4 cores of 1000 MHz, 8 GiB memory, 100 GiB disk.
    fn default() -> Self {
        SimResources { n_cores: 4, mhz_per_core: 1000, memory_mb: 8 * 1024, disk_mb: 100 * 1024 }
    }
}

impl SimConfig {
    /// `n_nodes` nodes named `sim-<i>` in dc1, pool default, default resources.
    pub fn new(servers: Vec<String>, n_nodes: usize) -> SimConfig {
        SimConfig {
            servers,
            n_nodes,
            name_prefix: "sim".to_string(),
            datacenter: "dc1".to_string(),
            node_class: String::new(),
            node_pool: "default".to_string(),
            token: String::new(),
            max_in_flight: 64,
            resources: SimResources::default(),
        }
    }
}

/// Counters of what the simulated nodes did.
#[derive(Debug, Default)]
pub struct SimStats {
    /// Successful registrations (including re-registrations).
    pub registrations: AtomicU64,
    /// Successful heartbeats.
    pub heartbeats: AtomicU64,
    /// Failed heartbeats.
    pub heartbeat_errors: AtomicU64,
    /// Allocation long polls answered.
    pub polls: AtomicU64,
    /// Long polls that failed.
    pub poll_errors: AtomicU64,
    /// Allocations whose tasks started.
    pub allocs_started: AtomicU64,
    /// Allocations that ended complete.
    pub allocs_complete: AtomicU64,
    /// Allocations that ended failed.
    pub allocs_failed: AtomicU64,
    /// Update requests sent (batch or per node).
    pub update_requests: AtomicU64,
    /// Allocation updates the server accepted.
    pub updates_sent: AtomicU64,
}

impl SimStats {
    /// One counter's current value.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Running simulated nodes.
#[must_use = "dropping the handle leaves the nodes running without a way to stop them"]
pub struct SimHandle {
    node_ids: Vec<String>,
    stats: Arc<SimStats>,
    reporter: SimReporter,
    clients: Arc<Vec<Client>>,
    nodes: Arc<Vec<SimNode>>,
    shutdown_tx: watch::Sender<bool>,
    loops: Vec<JoinHandle<()>>,
}

impl SimHandle {
    /// The node IDs, in name order (`sim-0` first).
    pub fn node_ids(&self) -> &[String] {
        &self.node_ids
    }

    /// What the nodes did so far.
    pub fn stats(&self) -> Arc<SimStats> {
        self.stats.clone()
    }

    /// Stops heartbeats, long polls and mock tasks, then flushes pending
    /// allocation updates (for at most 5 s). The servers mark the nodes down
    /// once their heartbeats are overdue.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown_tx.send(true);
        for join in self.loops.drain(..) {
            let _ = join.await;
        }
        self.reporter.flush(&self.clients, &self.nodes, Duration::from_secs(5)).await;
    }
}

/// A node as the simulation keeps it.
pub(crate) struct SimNode {
    pub node: Node,
    /// Index into the shared API clients.
    pub client_idx: usize,
}

/// Registers `config.n_nodes` nodes and starts their heartbeats, long polls
/// and the shared reporter. Returns once every node is registered, or an
/// error if some node could not register within ~2 minutes.
pub async fn start_sim(config: SimConfig) -> Result<SimHandle, ClientError> {
    if config.n_nodes == 0 {
        return Err(ClientError::Config("-sim-nodes must be at least 1".to_string()));
    }
    let address = config
        .servers
        .iter()
        .map(|a| a.trim())
        .find(|a| !a.is_empty())
        .ok_or_else(|| ClientError::Config("no servers given".to_string()))?;
    let address = if address.contains("://") { address.to_string() } else { format!("http://{address}") };
    let n_clients = config.n_nodes.div_ceil(NODES_PER_CLIENT);
    let mut clients = Vec::with_capacity(n_clients);
    for _ in 0..n_clients {
        let api_config = drover_api::ClientConfig {
            address: address.clone(),
            token: config.token.clone(),
            http2_only: true,
            ..Default::default()
        };
        clients.push(Client::new(api_config).map_err(|e| ClientError::Config(e.to_string()))?);
    }
    let clients = Arc::new(clients);
    let nodes: Arc<Vec<SimNode>> = Arc::new(
        (0..config.n_nodes)
            .map(|node_idx| SimNode {
                node: node::sim_node(&config, node_idx),
                client_idx: node_idx / NODES_PER_CLIENT,
            })
            .collect(),
    );
    let stats = Arc::new(SimStats::default());
    let limiter = Arc::new(Semaphore::new(config.max_in_flight.max(1)));

    let ttl = register_all(&clients, &nodes, &limiter, &stats).await?;
    tracing::info!(n_nodes = nodes.len(), "simulated nodes registered");

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let reporter = SimReporter::new(stats.clone());
    let mut loops = Vec::new();
    loops.push(tokio::spawn(reporter.clone().run(clients.clone(), nodes.clone(), shutdown_rx.clone())));
    loops.push(tokio::spawn(heartbeat_loop(
        clients.clone(),
        nodes.clone(),
        limiter,
        stats.clone(),
        ttl,
        shutdown_rx.clone(),
    )));
    for node_idx in 0..nodes.len() {
        let watch = runner::NodeWatch {
            clients: clients.clone(),
            nodes: nodes.clone(),
            node_idx,
            reporter: reporter.clone(),
            stats: stats.clone(),
        };
        loops.push(tokio::spawn(watch.run(shutdown_rx.clone())));
    }
    Ok(SimHandle {
        node_ids: nodes.iter().map(|n| n.node.id.clone()).collect(),
        stats,
        reporter,
        clients,
        nodes,
        shutdown_tx,
        loops,
    })
}

/// Registers every node, `limiter` requests at a time; returns the TTL (ns)
/// the servers asked for.
async fn register_all(
    clients: &Arc<Vec<Client>>,
    nodes: &Arc<Vec<SimNode>>,
    limiter: &Arc<Semaphore>,
    stats: &Arc<SimStats>,
) -> Result<i64, ClientError> {
    let deadline = tokio::time::Instant::now() + REGISTER_TIMEOUT;
    let mut set = JoinSet::new();
    for node_idx in 0..nodes.len() {
        let permit = limiter.clone().acquire_owned().await.map_err(|_| ClientError::Config("closed".to_string()))?;
        let (clients, nodes, stats) = (clients.clone(), nodes.clone(), stats.clone());
        set.spawn(async move {
            let _permit = permit;
            let sim = &nodes[node_idx];
            let mut pause = Duration::from_millis(100);
            loop {
                match clients[sim.client_idx].node_register(&sim.node).await {
                    Ok(reply) => {
                        stats.registrations.fetch_add(1, Ordering::Relaxed);
                        return Ok(reply.heartbeat_ttl);
                    }
                    Err(e) if tokio::time::Instant::now() + pause >= deadline => return Err(e),
                    Err(e) => tracing::debug!(error = %e, node = %sim.node.name, "registration failed; retrying"),
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
        });
        // Keep the set small: collect finished registrations as we go.
        while let Some(done) = set.try_join_next() {
            check_registration(done)?;
        }
    }
    let mut ttl = 0;
    while let Some(done) = set.join_next().await {
        ttl = ttl.max(check_registration(done)?);
    }
    Ok(ttl)
}

fn check_registration(done: Result<Result<i64, ApiError>, tokio::task::JoinError>) -> Result<i64, ClientError> {
    match done {
        Ok(Ok(ttl)) => Ok(ttl),
        Ok(Err(e)) => Err(ClientError::Register(e.to_string())),
        Err(e) => Err(ClientError::Register(format!("registration task failed: {e}"))),
    }
}

/// Half the TTL, within sane bounds (as the real client).
fn heartbeat_interval(ttl_nanos: i64) -> Duration {
    let ttl = drover_types::nanos_to_duration(ttl_nanos);
    let ttl = if ttl.is_zero() { Duration::from_secs(10) } else { ttl };
    (ttl / 2).clamp(Duration::from_millis(50), Duration::from_secs(60))
}

/// Heartbeats every node once per interval, spread evenly over it.
async fn heartbeat_loop(
    clients: Arc<Vec<Client>>,
    nodes: Arc<Vec<SimNode>>,
    limiter: Arc<Semaphore>,
    stats: Arc<SimStats>,
    ttl: i64,
    mut shutdown: watch::Receiver<bool>,
) {
    let ttl = Arc::new(AtomicU64::new(u64::try_from(ttl).unwrap_or(0)));
    let n_nodes = nodes.len() as u32;
    loop {
        let interval = heartbeat_interval(i64::try_from(ttl.load(Ordering::Relaxed)).unwrap_or(0));
        let round_start = tokio::time::Instant::now();
        for node_idx in 0..nodes.len() {
            let due = round_start + interval * node_idx as u32 / n_nodes.max(1);
            tokio::select! {
                _ = tokio::time::sleep_until(due) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            let permit = tokio::select! {
                permit = limiter.clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => return },
                _ = shutdown.wait_for(|stop| *stop) => return,
            };
            let (clients, nodes, stats, ttl) = (clients.clone(), nodes.clone(), stats.clone(), ttl.clone());
            tokio::spawn(async move {
                let _permit = permit;
                let sim = &nodes[node_idx];
                let client = &clients[sim.client_idx];
                let result = match client.node_heartbeat(&sim.node.id, &sim.node.secret_id).await {
                    Err(e) if e.is_not_found() => {
                        stats.registrations.fetch_add(1, Ordering::Relaxed);
                        client.node_register(&sim.node).await
                    }
                    other => other,
                };
                match result {
                    Ok(reply) => {
                        stats.heartbeats.fetch_add(1, Ordering::Relaxed);
                        if let Ok(new_ttl) = u64::try_from(reply.heartbeat_ttl)
                            && new_ttl > 0
                        {
                            ttl.store(new_ttl, Ordering::Relaxed);
                        }
                    }
                    Err(e) => {
                        stats.heartbeat_errors.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(error = %e, node = %sim.node.name, "heartbeat failed");
                    }
                }
            });
        }
        tokio::select! {
            _ = tokio::time::sleep_until(round_start + interval) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}
