//! Server settings, filled from flags and the agent config file.

use std::path::PathBuf;
use std::time::Duration;

/// How a server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where the SQLite state lives (`<data_dir>/server/state.db`).
    pub data_dir: PathBuf,
    /// Address to serve HTTP on (`127.0.0.1:4747`).
    pub http_addr: String,
    /// Region name.
    pub region: String,
    /// Datacenter of this server.
    pub datacenter: String,
    /// Scheduler workers (default: number of cores).
    pub num_schedulers: usize,
    /// How often clients must heartbeat.
    pub heartbeat_ttl: Duration,
    /// Extra time after a missed heartbeat before a node is marked down.
    pub heartbeat_grace: Duration,
    /// Largest dispatch payload accepted, in bytes (Nomad: 16 KiB).
    pub max_payload_bytes: usize,
    /// This agent's node name, for `/v1/agent/self`.
    pub node_name: String,
    /// Successful finished runs kept per job (a job's `RunPolicy` may say otherwise).
    pub run_history_successful: usize,
    /// Failed and skipped finished runs kept per job.
    pub run_history_failed: usize,
    /// How often finished jobs are collected.
    pub job_gc_interval: Duration,
    /// How old a finished job must be before it is collected.
    pub job_gc_threshold: Duration,
    /// How long a collected child's idempotency token is still honoured.
    pub dispatch_idempotency_ttl: Duration,
    /// Serve HTTPS with this certificate (None = plain HTTP).
    pub tls: Option<crate::tls::TlsConfig>,
}

impl ServerConfig {
    /// Defaults for a server keeping state in `data_dir`.
    pub fn new(data_dir: PathBuf) -> ServerConfig {
        ServerConfig {
            data_dir,
            http_addr: "127.0.0.1:4747".to_string(),
            region: "global".to_string(),
            datacenter: "dc1".to_string(),
            num_schedulers: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            heartbeat_ttl: Duration::from_secs(10),
            heartbeat_grace: Duration::from_secs(10),
            max_payload_bytes: 16 * 1024,
            node_name: String::new(),
            run_history_successful: 100,
            run_history_failed: 100,
            job_gc_interval: Duration::from_secs(5 * 60),
            job_gc_threshold: Duration::from_secs(4 * 3600),
            dispatch_idempotency_ttl: Duration::from_secs(24 * 3600),
            tls: None,
        }
    }

    /// The SQLite file.
    pub fn state_path(&self) -> PathBuf {
        self.data_dir.join("server").join("state.db")
    }
}
