//! The server's shared core: [`Server`] holds the state store, the broker,
//! the plan applier handle, metrics, the held-dispatch lines and the locks
//! that serialise some writes, and commits a transaction together with the
//! evaluations it creates. The operations every API and the UI share are
//! `impl Server` blocks by subject: `jobs`, `dispatch`, `periodic` (runs and
//! schedules), `nodes`, `node_test` (probes), `allocations`, `queue`, `gc`;
//! what must run on one server only starts and stops in `leader`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use drover_state::{StateStore, Txn};
use drover_types::{Evaluation, Job, eval_status, node_status, now_nanos};

use crate::broker::EvalBroker;
use crate::config::ServerConfig;
use crate::error::ServerError;
use crate::metrics::Metrics;
use crate::plan_apply::PlanApplier;
use crate::watch::NodeWatch;

/// Everything a running server holds; shared by the handlers, the
/// operations and the background tasks.
pub struct Server {
    /// Settings.
    pub config: ServerConfig,
    /// The state store.
    pub state: StateStore,
    /// Pending, blocked and delayed evaluations.
    pub broker: EvalBroker,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// The plan applier workers commit through: started when leadership is
    /// established, dropped when it is revoked (its task ends with the last
    /// handle).
    applier: Mutex<Option<PlanApplier>>,
    pub(crate) node_watch: NodeWatch,
    /// When each node's heartbeat is due (missed: the node goes down).
    pub(crate) heartbeats: Mutex<HashMap<String, Instant>>,
    /// Last heartbeat per node (Unix ns); kept in memory, not written per beat.
    pub(crate) last_seen: Mutex<HashMap<String, i64>>,
    /// Client for proxying `/v1/client/*` requests to nodes.
    pub(crate) proxy: reqwest::Client,
    /// When the server started.
    pub started: Instant,
    /// Who may do what (ACLs disabled: [`crate::AllowAll`]).
    authorizer: std::sync::RwLock<Arc<dyn crate::Authorizer>>,
    /// The node ID of the client running in this same agent, if any (for `/v1/agent/self`).
    pub(crate) local_node_id: Mutex<Option<String>>,
    /// Serialises dispatches that carry an idempotency token or face a concurrency limit.
    pub(crate) dispatch_lock: tokio::sync::Mutex<()>,
    /// Dispatched children held by `max_concurrent`.
    pub(crate) gate: crate::gate::ConcurrencyGate,
    /// Serialises run writes (the cron launcher, forced runs, run stops).
    pub(crate) run_lock: tokio::sync::Mutex<()>,
}

/// A new pending evaluation of `job` made now.
pub(crate) fn new_eval(job: &Job, triggered_by: &str) -> Evaluation {
    Evaluation::new_for_job(job, triggered_by, now_nanos())
}

impl Server {
    /// Builds the server around an open store (no tasks started).
    pub(crate) fn new(config: ServerConfig, state: StateStore) -> Arc<Server> {
        let metrics = Arc::new(Metrics::default());
        let evals_state = state.clone();
        let eval_source: crate::broker::EvalSource =
            Arc::new(move |eval_id: &str| evals_state.snapshot().eval(eval_id));
        let proxy = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Arc::new(Server {
            config,
            state,
            broker: EvalBroker::new(eval_source),
            metrics,
            applier: Mutex::new(None),
            node_watch: NodeWatch::default(),
            heartbeats: Mutex::new(HashMap::new()),
            last_seen: Mutex::new(HashMap::new()),
            proxy,
            started: Instant::now(),
            local_node_id: Mutex::new(None),
            authorizer: std::sync::RwLock::new(Arc::new(crate::AllowAll)),
            dispatch_lock: tokio::sync::Mutex::new(()),
            gate: crate::gate::ConcurrencyGate::default(),
            run_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// The plan applier, while this server leads.
    pub(crate) fn applier(&self) -> Result<PlanApplier, ServerError> {
        self.applier
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| ServerError::Internal("not the leader: no plan applier".to_string()))
    }

    /// Starts a plan applier unless one runs; or, with `false`, drops this
    /// server's handle so the applier ends once the last worker's is gone.
    pub(crate) fn set_plan_applier(&self, running: bool) {
        let mut applier = self.applier.lock().unwrap_or_else(|p| p.into_inner());
        if !running {
            *applier = None;
        } else if applier.is_none() {
            *applier = Some(crate::plan_apply::start_applier(self.state.clone(), self.metrics.clone()));
        }
    }

    /// Replaces the authorizer consulted on every request (the ACL system plugs in here).
    pub fn set_authorizer(&self, authorizer: Arc<dyn crate::Authorizer>) {
        *self.authorizer.write().unwrap_or_else(|p| p.into_inner()) = authorizer;
    }

    /// Whether `token` has `capability` in `namespace`.
    pub fn allowed(&self, token: &str, namespace: &str, capability: crate::Capability) -> bool {
        self.authorizer.read().unwrap_or_else(|p| p.into_inner()).allowed(token, namespace, capability)
    }

    /// Records the node ID of the client running in the same agent.
    pub fn set_local_node_id(&self, node_id: &str) {
        *self.local_node_id.lock().unwrap_or_else(|p| p.into_inner()) = Some(node_id.to_string());
    }

    /// The node ID of the client running in the same agent, if any.
    pub fn local_node_id(&self) -> Option<String> {
        self.local_node_id.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Refills the broker and heartbeat deadlines from state after a start.
    pub(crate) fn restore(&self) {
        let snapshot = self.state.snapshot();
        let now = now_nanos();
        // Read once: with parked children archived this reads storage.
        let open_evals = snapshot.open_evals();
        for eval in &open_evals {
            match eval.status.as_str() {
                eval_status::PENDING => self.broker.enqueue(eval.clone(), now),
                eval_status::BLOCKED if !eval.status_description.starts_with(drover_types::HELD_DESCRIPTION) => {
                    self.broker.block(eval);
                }
                _ => {}
            }
        }
        self.restore_held(&snapshot, &open_evals);
        let deadline = Instant::now() + self.config.heartbeat_ttl + self.config.heartbeat_grace;
        let mut heartbeats = self.heartbeats.lock().unwrap_or_else(|p| p.into_inner());
        for node in snapshot.nodes() {
            if node.status != node_status::DOWN {
                heartbeats.insert(node.id.clone(), deadline);
            }
        }
    }

    /// Commits a transaction, then hands its new pending evaluations to the broker.
    pub(crate) async fn commit_with_evals(&self, txn: Txn, evals: &[Evaluation]) -> Result<u64, ServerError> {
        let result = self.state.apply(txn).await?;
        let now = now_nanos();
        for eval in evals {
            if eval.status == eval_status::PENDING {
                // The broker orders work by age: give it the index the write assigned.
                let mut queued = eval.clone();
                if queued.create_index == 0 {
                    queued.create_index = result.index;
                }
                self.broker.enqueue(Arc::new(queued), now);
            }
        }
        Ok(result.index)
    }

    // ---- jobs ----
}
