//! Drover's server: the HTTP API (Nomad-compatible v1 and Drover's client
//! protocol), the evaluation broker, scheduler workers, the plan applier,
//! node heartbeats and dispatch.
//!
//! [`start`] opens the state store in the data dir, establishes leadership
//! (`leader`: refills the broker from the state, starts the workers, the plan
//! applier, the cron launcher, the heartbeat sweeper and garbage collection)
//! and serves HTTP. Data flow for one registration: handler -> [`Server`] operation ->
//! one durable state write (job + evaluation) -> broker -> worker runs the pure
//! scheduler over a snapshot -> plan applier re-checks and commits -> clients
//! see their allocations through their long poll.
//!
//! ```no_run
//! # async fn demo() -> Result<(), drover_server::StartError> {
//! let config = drover_server::ServerConfig::new("/tmp/drover".into());
//! let server = drover_server::start(config).await?;
//! println!("listening on {}", server.http_addr());
//! server.shutdown().await;
//! # Ok(()) }
//! ```

#![warn(unreachable_pub)]

mod acl;
mod allocations;
mod broker;
mod children;
mod class;
mod concurrency;
mod config;
mod dispatch;
mod error;
mod gate;
mod gc;
mod http;
mod jobs;
mod leader;
mod metrics;
mod node_test;
mod nodes;
mod ordered_ids;
mod outcome;
mod periodic;
mod plan_apply;
mod queue;
mod schedules;
mod server;
mod tls;
mod ui;
mod watch;
mod worker;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use acl::{AllowAll, Authorizer, Capability};
pub use broker::{BrokerStats, EvalBroker};
pub use children::{build_child, build_periodic_child, dispatched_id, new_run, new_run_id};
pub use config::ServerConfig;
pub use dispatch::validate_dispatch;
pub use error::ServerError;
pub use gc::{CollectedChildren, collected_children};
pub use http::required_capability;
pub use metrics::Metrics;
pub use node_test::NodeTestResult;
pub use outcome::{AllocOutcome, JobOutcome, outcome};
pub use queue::{QueueItem, QueueResponse, RunningItem, placement_reason, queue_kind};
pub use schedules::{next_launch, next_run_at, validate_schedule, validate_schedules};
pub use server::Server;
pub use tls::{TlsConfig, TlsError};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The state store could not be opened.
    #[error("opening state at {path}: {source}")]
    State {
        /// The SQLite file.
        path: String,
        /// Why.
        source: drover_state::StateError,
    },
    /// The TLS certificate or key could not be loaded.
    #[error("{0}")]
    Tls(#[from] TlsError),
    /// The HTTP address could not be bound.
    #[error("binding HTTP API to {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

/// A running server.
pub struct ServerHandle {
    inner: Arc<Server>,
    addr: SocketAddr,
    shutdown: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The leader-only subsystems while this server leads (see `leader`).
    leadership: tokio::sync::Mutex<Option<leader::Leadership>>,
}

impl ServerHandle {
    /// The address the HTTP API listens on.
    pub fn http_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's state and operations (for tests and the agent).
    pub fn inner(&self) -> &Arc<Server> {
        &self.inner
    }

    /// Whether this server leads: its broker, workers, plan applier, cron
    /// launcher, heartbeat sweeper and garbage collection run.
    pub async fn is_leader(&self) -> bool {
        self.leadership.lock().await.is_some()
    }

    /// Stops the leader-only subsystems (a no-op when not leading): the
    /// workers finish the batch in hand, the loops end and the in-memory
    /// queues are dropped. The API keeps serving; writes still commit, and
    /// the work they create waits in the state for the next leadership.
    pub async fn revoke_leadership(&self) {
        let mut leadership = self.leadership.lock().await;
        if let Some(running) = leadership.take() {
            self.inner.revoke_leadership(running).await;
        }
    }

    /// Starts the leader-only subsystems again (a no-op when leading),
    /// restoring the broker, the held dispatches and the heartbeat
    /// deadlines from the state.
    pub async fn establish_leadership(&self) {
        let mut leadership = self.leadership.lock().await;
        if leadership.is_none() {
            *leadership = Some(self.inner.establish_leadership());
        }
    }

    /// Stops serving: the leader-only subsystems stop (workers finish the
    /// evaluation in hand), open long polls are cut, background loops end.
    pub async fn shutdown(self) {
        self.revoke_leadership().await;
        let _ = self.shutdown.send(true);
        self.inner.broker.close();
        for task in self.tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(1), task).await.is_err() {
                abort.abort();
            }
        }
    }
}

/// Starts a server: opens state, starts workers, serves HTTP.
pub async fn start(config: ServerConfig) -> Result<ServerHandle, StartError> {
    let path = config.state_path();
    let state = drover_state::StateStore::open(&path)
        .map_err(|source| StartError::State { path: path.display().to_string(), source })?;
    start_with_state(config, state).await
}

/// Starts a server on an already open store (tests use an in-memory one).
pub async fn start_with_state(
    mut config: ServerConfig,
    state: drover_state::StateStore,
) -> Result<ServerHandle, StartError> {
    let listener = tokio::net::TcpListener::bind(&config.http_addr)
        .await
        .map_err(|source| StartError::Bind { addr: config.http_addr.clone(), source })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind { addr: config.http_addr.clone(), source })?;
    config.http_addr = addr.to_string();
    let acceptor = match &config.tls {
        Some(tls_config) => Some(tls::acceptor(tls_config)?),
        None => None,
    };
    let inner = Server::new(config, state);
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(inner.node_watch.clone().follow(inner.state.clone())));
    // One server: it leads from the start.
    let leadership = tokio::sync::Mutex::new(Some(inner.establish_leadership()));
    let app = http::router(inner.clone());
    let mut serve_shutdown = shutdown_rx;
    let stop = async move {
        let _ = serve_shutdown.wait_for(|stop| *stop).await;
    };
    match acceptor {
        Some(acceptor) => {
            let listener = tls::TlsListener::new(listener, acceptor)
                .map_err(|source| StartError::Bind { addr: addr.to_string(), source })?;
            tasks.push(tokio::spawn(async move {
                if let Err(err) = axum::serve(listener, app).with_graceful_shutdown(stop).await {
                    tracing::error!(error = %err, "HTTPS server failed");
                }
            }));
        }
        None => {
            tasks.push(tokio::spawn(async move {
                if let Err(err) = axum::serve(listener, app).with_graceful_shutdown(stop).await {
                    tracing::error!(error = %err, "HTTP server failed");
                }
            }));
        }
    }
    tracing::info!(addr = %addr, "server started");
    Ok(ServerHandle { inner, addr, shutdown: shutdown_tx, tasks, leadership })
}
