//! The client agent: [`start`] restores alloc runners from disk, binds the
//! client's HTTP listener, registers the node and runs the heartbeat, watch
//! and reporter loops until [`ClientHandle::shutdown`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use drover_api::ApiError;
use drover_types::api::{ClientAllocsResponse, NodeRegisterResponse};
use drover_types::{AllocClientUpdate, Node, NodeReservedResources, client_status, desired_status};

use crate::alloc_runner::{self, AllocCommand, AllocRunnerHandle, RunnerEnv};
use crate::driver::Drivers;
use crate::error::ClientError;
use crate::interpolate::NodeVars;
use crate::reporter::Reporter;
use crate::servers::Servers;
use crate::state::{PersistedAlloc, StateStore};

/// How long [`start`] tries to register before giving up.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one blocking query on the node's allocations waits.
const WATCH_WAIT: Duration = Duration::from_secs(300);
/// Pause after a failed server call in the loops.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// The running alloc runners by alloc ID, shared with the HTTP listener.
pub(crate) type Runners = Arc<Mutex<HashMap<String, AllocRunnerHandle>>>;

/// How the client agent is set up (from the agent's flags and config file).
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Server URLs (`http://127.0.0.1:4747`), tried in turn on failure.
    pub servers: Vec<String>,
    /// Client state lives in `<data_dir>/client/`.
    pub data_dir: PathBuf,
    /// Finished allocations whose directories are kept (Nomad's client
    /// `gc_max_allocs`, 50 by default); older ones are collected.
    pub gc_max_allocs: usize,
    /// One dir per allocation (usually `<data_dir>/alloc`).
    pub alloc_dir: PathBuf,
    /// Node name.
    pub node_name: String,
    /// Datacenter.
    pub datacenter: String,
    /// Node class.
    pub node_class: String,
    /// Node pool.
    pub node_pool: String,
    /// Node meta (`${meta.X}` in tasks, constraints).
    pub meta: BTreeMap<String, String>,
    /// ACL token sent to servers.
    pub token: String,
    /// The binary run as `<path> executor serve <name>`: the client's one
    /// executor, which runs its raw_exec tasks (the small `drover-executor`
    /// when installed, else the drover binary itself).
    pub executor_path: PathBuf,
    /// Address of the client's own HTTP listener (`127.0.0.1:0`).
    pub http_bind: String,
    /// Kill tasks on shutdown (`-dev`); a real client leaves them running.
    pub stop_tasks_on_shutdown: bool,
    /// Resources held back for the OS and the agent.
    pub reserved: NodeReservedResources,
    /// Driver options (`driver.raw_exec.enable = "1"`).
    pub options: BTreeMap<String, String>,
}

/// A running client agent.
#[must_use = "dropping the handle leaves the client running without a way to stop it"]
pub struct ClientHandle {
    /// The node's ID.
    pub node_id: String,
    /// The client's HTTP listener address (`127.0.0.1:41234`).
    pub http_addr: String,
    stop_tasks_on_shutdown: bool,
    runners: Runners,
    reporter: Reporter,
    servers: Arc<Servers>,
    shutdown_tx: watch::Sender<bool>,
    loops: Vec<JoinHandle<()>>,
}

/// Starts the client: returns once the node is registered, or an error if no
/// server accepted the registration within ~10 s. Later registration failures
/// (a server forgot the node) are retried in the background.
pub async fn start(config: ClientConfig) -> Result<ClientHandle, ClientError> {
    let servers = Arc::new(Servers::new(&config.servers, &config.token)?);
    std::fs::create_dir_all(&config.alloc_dir).map_err(|e| ClientError::io(&config.alloc_dir, e))?;
    let identity = crate::node_identity::load_or_create(&config.data_dir)?;
    let listener = tokio::net::TcpListener::bind(&config.http_bind)
        .await
        .map_err(|e| ClientError::Bind { addr: config.http_bind.clone(), source: e })?;
    let http_addr =
        listener.local_addr().map_err(|e| ClientError::Bind { addr: config.http_bind.clone(), source: e })?.to_string();
    let node = Arc::new(crate::fingerprint::fingerprint(&config, &identity, &http_addr));
    let store = StateStore::open(&config.data_dir)?;
    let reporter = Reporter::default();
    let env = Arc::new(RunnerEnv {
        alloc_dir: config.alloc_dir.clone(),
        dirs: Arc::new(crate::dir_pool::DirPool::start(&config.alloc_dir, config.gc_max_allocs)),
        store: store.clone(),
        drivers: Drivers::new(config.executor_path.clone(), &config.data_dir, &config.options),
        node: NodeVars {
            id: node.id.clone(),
            name: node.name.clone(),
            datacenter: node.datacenter.clone(),
            class: node.node_class.clone(),
            pool: node.node_pool.clone(),
            attributes: node.attributes.clone(),
            meta: node.meta.clone(),
        },
        base_env: crate::env::base_env_from_process(),
        reporter: reporter.clone(),
    });
    let runners: Runners = Arc::new(Mutex::new(HashMap::new()));

    // Re-attach before registering, so nothing the server lists is started twice.
    let mut restored = HashSet::new();
    for persisted in store.load_all()? {
        let alloc_id = persisted.alloc.id.clone();
        restored.insert(alloc_id.clone());
        tracing::info!(alloc_id = %alloc_id, "restoring allocation");
        let handle = alloc_runner::spawn(env.clone(), persisted, true);
        if let Ok(mut runners) = runners.lock() {
            runners.insert(alloc_id, handle);
        }
    }

    // Directories of allocations an earlier process finished and forgot.
    env.dirs.retire_orphans(&restored);

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut loops = Vec::new();
    let router =
        crate::http::router(crate::http::HttpState { alloc_dir: config.alloc_dir.clone(), runners: runners.clone() });
    let mut http_shutdown = shutdown_rx.clone();
    loops.push(tokio::spawn(async move {
        let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
            let _ = http_shutdown.wait_for(|stop| *stop).await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "client HTTP listener failed");
        }
    }));

    let mut handle = ClientHandle {
        node_id: node.id.clone(),
        http_addr,
        stop_tasks_on_shutdown: config.stop_tasks_on_shutdown,
        runners: runners.clone(),
        reporter: reporter.clone(),
        servers: servers.clone(),
        shutdown_tx,
        loops,
    };
    let ttl = match register_until(&servers, &node, REGISTER_TIMEOUT).await {
        Ok(reply) => reply.heartbeat_ttl,
        Err(e) => {
            handle.detach_all().await;
            let _ = handle.shutdown_tx.send(true);
            return Err(ClientError::Register(e.to_string()));
        }
    };
    tracing::info!(node_id = %node.id, "node registered");
    handle.loops.push(tokio::spawn(reporter.clone().run(servers.clone(), node.id.clone(), shutdown_rx.clone())));
    handle.loops.push(tokio::spawn(heartbeat_loop(servers.clone(), node.clone(), ttl, shutdown_rx.clone())));
    handle.loops.push(tokio::spawn(watch_loop(servers, node.id.clone(), env, runners, shutdown_rx)));
    Ok(handle)
}

impl ClientHandle {
    /// Stops the loops; kills tasks (and waits for that) only if
    /// `stop_tasks_on_shutdown`, otherwise leaves them running for the next
    /// client process to re-attach.
    pub async fn shutdown(mut self) {
        // Stop the loops first: a watch loop still running could see the
        // allocations without runners and start them again behind our back.
        let _ = self.shutdown_tx.send(true);
        for join in self.loops.drain(..) {
            let _ = join.await;
        }
        if self.stop_tasks_on_shutdown {
            let handles: Vec<AllocRunnerHandle> =
                self.runners.lock().map(|mut runners| runners.drain().map(|(_, h)| h).collect()).unwrap_or_default();
            for handle in &handles {
                let _ = handle.commands.send(AllocCommand::Stop);
            }
            for handle in handles {
                let _ = handle.join.await;
            }
        } else {
            self.detach_all().await;
        }
        self.reporter.flush(&self.servers, &self.node_id, Duration::from_secs(5)).await;
    }

    async fn detach_all(&mut self) {
        let handles: Vec<AllocRunnerHandle> =
            self.runners.lock().map(|mut runners| runners.drain().map(|(_, h)| h).collect()).unwrap_or_default();
        for handle in handles {
            let _ = handle.commands.send(AllocCommand::Detach);
            let _ = handle.join.await;
        }
    }
}

async fn register_once(servers: &Servers, node: &Node) -> Result<NodeRegisterResponse, ApiError> {
    servers.call(|client| async move { client.node_register(node).await }).await
}

async fn register_until(servers: &Servers, node: &Node, timeout: Duration) -> Result<NodeRegisterResponse, ApiError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut pause = Duration::from_millis(100);
    loop {
        match register_once(servers, node).await {
            Ok(reply) => return Ok(reply),
            Err(e) if tokio::time::Instant::now() + pause >= deadline => return Err(e),
            Err(e) => tracing::debug!(error = %e, "node registration failed; retrying"),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

/// Half the TTL, within sane bounds.
fn heartbeat_interval(ttl_nanos: i64) -> Duration {
    let ttl = drover_types::nanos_to_duration(ttl_nanos);
    let ttl = if ttl.is_zero() { Duration::from_secs(10) } else { ttl };
    (ttl / 2).clamp(Duration::from_millis(50), Duration::from_secs(60))
}

async fn heartbeat_loop(servers: Arc<Servers>, node: Arc<Node>, ttl: i64, mut shutdown: watch::Receiver<bool>) {
    let mut ttl = ttl;
    // The first heartbeat goes out at once: it is what makes the node `ready`.
    let mut interval = Duration::ZERO;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let result = servers
            .call(|client| {
                let node = node.clone();
                async move { client.node_heartbeat(&node.id, &node.secret_id).await }
            })
            .await;
        let result = match result {
            Err(e) if e.is_not_found() => {
                tracing::info!("server does not know this node; registering again");
                register_once(&servers, &node).await
            }
            other => other,
        };
        interval = match result {
            Ok(reply) => {
                if reply.heartbeat_ttl > 0 {
                    ttl = reply.heartbeat_ttl;
                }
                heartbeat_interval(ttl)
            }
            Err(e) => {
                tracing::warn!(error = %e, "heartbeat failed");
                RETRY_PAUSE.min(heartbeat_interval(ttl))
            }
        };
    }
}

async fn watch_loop(
    servers: Arc<Servers>,
    node_id: String,
    env: Arc<RunnerEnv>,
    runners: Runners,
    mut shutdown: watch::Receiver<bool>,
) {
    // The index of this client's last complete view: the poll blocks past it
    // and allocations unchanged since then come back as IDs alone.
    let mut index = 0u64;
    let mut reported_unstarted: HashSet<String> = HashSet::new();
    loop {
        let result = tokio::select! {
            result = servers.call(|client| {
                let node_id = node_id.clone();
                async move { client.node_client_allocs(&node_id, index, WATCH_WAIT).await }
            }) => result,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        match result {
            Ok(reply) => {
                let no_index = reply.index == 0;
                index = reply.index;
                if !reconcile(&env, &runners, reply, &mut reported_unstarted) {
                    // The view has a gap: fetch the whole list now.
                    index = 0;
                    continue;
                }
                if no_index {
                    // The server gave no index to block on: do not spin.
                    tokio::select! {
                        _ = tokio::time::sleep(RETRY_PAUSE) => {}
                        _ = shutdown.wait_for(|stop| *stop) => return,
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "error fetching node allocations");
                index = 0;
                tokio::select! {
                    _ = tokio::time::sleep(RETRY_PAUSE) => {}
                    _ = shutdown.wait_for(|stop| *stop) => return,
                }
            }
        }
    }
}

/// Brings the alloc runners in line with the server's list. False when the
/// reply names as unchanged an allocation this client does not know.
fn reconcile(
    env: &Arc<RunnerEnv>,
    runners: &Runners,
    reply: ClientAllocsResponse,
    reported_unstarted: &mut HashSet<String>,
) -> bool {
    let Ok(mut runners) = runners.lock() else { return true };
    let known = |id: &str| runners.contains_key(id) || reported_unstarted.contains(id);
    let Some(seen) = reply.listed_ids(known) else { return false };
    for alloc in reply.allocs {
        if let Some(handle) = runners.get_mut(&alloc.id) {
            if alloc.server_terminal() {
                if !handle.stop_sent {
                    handle.stop_sent = true;
                    let _ = handle.commands.send(AllocCommand::Stop);
                }
            } else if alloc.alloc_modify_index != handle.alloc_modify_index || alloc.job_version != handle.job_version {
                handle.alloc_modify_index = alloc.alloc_modify_index;
                handle.job_version = alloc.job_version;
                let _ = handle.commands.send(AllocCommand::Update(Box::new(alloc)));
            }
            continue;
        }
        if alloc.desired_status == desired_status::RUN && !alloc.client_terminal() {
            let alloc_id = alloc.id.clone();
            let persisted = PersistedAlloc {
                alloc,
                client_status: client_status::PENDING.to_string(),
                ..PersistedAlloc::default()
            };
            runners.insert(alloc_id, alloc_runner::spawn(env.clone(), persisted, false));
        } else if !alloc.client_terminal() && reported_unstarted.insert(alloc.id.clone()) {
            // Stopped before this client ever ran it.
            env.reporter.push(AllocClientUpdate {
                id: alloc.id.clone(),
                client_status: client_status::COMPLETE.to_string(),
                client_description: "Allocation stopped before it started".to_string(),
                task_states: alloc.task_states.clone(),
            });
        }
    }
    reported_unstarted.retain(|id| seen.contains(id));
    let gone: Vec<String> = runners.keys().filter(|id| !seen.contains(*id)).cloned().collect();
    for alloc_id in gone {
        let Some(handle) = runners.get_mut(&alloc_id) else { continue };
        if handle.snapshot.borrow().done || handle.join.is_finished() {
            runners.remove(&alloc_id);
            env.store.remove(&alloc_id);
            env.dirs.retire(env.alloc_dir.join(&alloc_id));
        } else if !handle.stop_sent {
            // The server no longer knows it: nothing should run for it.
            handle.stop_sent = true;
            let _ = handle.commands.send(AllocCommand::Stop);
        }
    }
    true
}
