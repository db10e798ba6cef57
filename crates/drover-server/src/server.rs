//! The server: state, broker, workers, plan applier, heartbeats and the
//! operations the HTTP API exposes. Operations live here, not in handlers, so
//! the Nomad API, the Metronome API and the UI share one implementation.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use drover_state::{AllocDesiredUpdate, Op, Precondition, StateStore, Txn};
use drover_types::api::{JobRegisterResponse, NodeRegisterResponse};
use drover_types::{
    AllocClientUpdate, DrainStrategy, Evaluation, Job, Node, client_status, desired_status, duration_to_nanos,
    eligibility, eval_status, eval_trigger, node_status, now_nanos,
};

use crate::broker::EvalBroker;
use crate::config::ServerConfig;
use crate::error::ServerError;
use crate::metrics::Metrics;
use crate::plan_apply::PlanApplier;
use crate::watch::NodeWatch;

/// Everything a running server holds; shared by handlers and background tasks.
pub struct ServerInner {
    /// Settings.
    pub config: ServerConfig,
    /// The state store.
    pub state: StateStore,
    /// Pending, blocked and delayed evaluations.
    pub broker: EvalBroker,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// The plan applier workers commit through: started with the server,
    /// dropped when leadership is revoked (its task ends with the last
    /// handle) and started afresh when leadership is established.
    applier: Mutex<Option<PlanApplier>>,
    pub(crate) node_watch: NodeWatch,
    heartbeats: Mutex<HashMap<String, Instant>>,
    /// Last heartbeat per node (Unix ns); kept in memory, not written per beat.
    last_seen: Mutex<HashMap<String, i64>>,
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
fn new_eval(job: &Job, triggered_by: &str) -> Evaluation {
    Evaluation::new_for_job(job, triggered_by, now_nanos())
}

impl ServerInner {
    /// Builds the server around an open store (no tasks started).
    pub(crate) fn new(config: ServerConfig, state: StateStore) -> Arc<ServerInner> {
        let metrics = Arc::new(Metrics::default());
        let applier = crate::plan_apply::start_applier(state.clone(), metrics.clone());
        let evals_state = state.clone();
        let eval_source: crate::broker::EvalSource =
            Arc::new(move |eval_id: &str| evals_state.snapshot().eval(eval_id));
        let proxy = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Arc::new(ServerInner {
            config,
            state,
            broker: EvalBroker::new(eval_source),
            metrics,
            applier: Mutex::new(Some(applier)),
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

    /// Registers (or updates) a job: one durable write of the job and its
    /// evaluation, then the evaluation is queued.
    pub async fn register_job(
        &self,
        mut job: Job,
        enforce_index: Option<u64>,
    ) -> Result<JobRegisterResponse, ServerError> {
        job.canonicalize();
        job.validate().map_err(|e| ServerError::BadRequest(e.to_string()))?;
        crate::schedules::validate_schedules(&job).map_err(ServerError::BadRequest)?;
        if job.dispatched {
            return Err(ServerError::BadRequest("job can't be submitted with 'Dispatched' set".to_string()));
        }
        let snapshot = self.state.snapshot();
        let existing = snapshot.job(&job.namespace, &job.id);
        if let Some(existing) = &existing {
            if existing.dispatched {
                return Err(ServerError::BadRequest(format!(
                    "job {:?} is a dispatched child; update its parent instead",
                    job.id
                )));
            }
            if existing.is_parameterized() != job.is_parameterized() {
                return Err(ServerError::BadRequest(if existing.is_parameterized() {
                    "cannot update parameterized job to being non-parameterized".to_string()
                } else {
                    "cannot update non-parameterized job to being parameterized".to_string()
                }));
            }
        }
        job.stop = false;
        job.status = String::new();
        job.submit_time = now_nanos();
        let mut preconditions = Vec::new();
        if let Some(index) = enforce_index {
            preconditions.push(Precondition::JobModifyIndex {
                namespace: job.namespace.clone(),
                job_id: job.id.clone(),
                index,
            });
        }
        let mut ops = vec![Op::UpsertJob(job.clone())];
        let mut evals = Vec::new();
        if !job.is_template() {
            let eval = new_eval(&job, eval_trigger::JOB_REGISTER);
            ops.push(Op::UpsertEvals(vec![eval.clone()]));
            evals.push(eval);
        }
        let index = self.commit_with_evals(Txn { preconditions, ops }, &evals).await.map_err(|err| match err {
            ServerError::Conflict(msg) => ServerError::BadRequest(msg),
            other => other,
        })?;
        let stored = self.state.snapshot().job(&job.namespace, &job.id);
        Ok(JobRegisterResponse {
            eval_id: evals.first().map(|e| e.id.clone()).unwrap_or_default(),
            eval_create_index: if evals.is_empty() { 0 } else { index },
            job_modify_index: stored.map(|j| j.job_modify_index).unwrap_or(index),
            warnings: String::new(),
            index,
        })
    }

    /// Stops a job (it stays registered, `dead (stopped)`) or purges it.
    /// Stopping a parent leaves its children alone, as in Nomad; purging one
    /// purges its children with it ([`Self::deregister_family`]), stopping
    /// their allocations, so a purge never leaves orphans running.
    pub async fn deregister_job(
        &self,
        namespace: &str,
        job_id: &str,
        purge: bool,
    ) -> Result<JobRegisterResponse, ServerError> {
        let snapshot = self.state.snapshot();
        let job =
            snapshot.job(namespace, job_id).ok_or_else(|| ServerError::NotFound(format!("job not found: {job_id}")))?;
        let children = snapshot.children_counts(namespace, job_id);
        if purge && children.pending + children.running + children.dead > 0 {
            return self.deregister_family(namespace, job_id, true).await;
        }
        let mut ops = Vec::new();
        let mut evals = Vec::new();
        self.deregister_ops(namespace, &job, purge, true, &mut ops, &mut evals);
        let index = self.commit_with_evals(Txn { preconditions: vec![], ops }, &evals).await?;
        let job_modify_index =
            self.state.snapshot().job(namespace, job_id).map(|j| j.job_modify_index).unwrap_or(index);
        Ok(JobRegisterResponse {
            eval_id: evals.first().map(|e| e.id.clone()).unwrap_or_default(),
            eval_create_index: if evals.is_empty() { 0 } else { index },
            job_modify_index,
            warnings: String::new(),
            index,
        })
    }

    /// Stops (or purges) a parent together with every child it has, in one
    /// write, so purging a parent never leaves orphans behind.
    pub async fn deregister_family(
        &self,
        namespace: &str,
        job_id: &str,
        purge: bool,
    ) -> Result<JobRegisterResponse, ServerError> {
        let snapshot = self.state.snapshot();
        let parent =
            snapshot.job(namespace, job_id).ok_or_else(|| ServerError::NotFound(format!("job not found: {job_id}")))?;
        let mut members = snapshot.children_of(namespace, job_id);
        members.push(parent.clone());
        let mut ops = Vec::new();
        let mut evals = Vec::new();
        for job in &members {
            if !purge && job.stop && job.status == drover_types::job_status::DEAD {
                continue;
            }
            self.deregister_ops(namespace, job, purge, false, &mut ops, &mut evals);
        }
        let index = self.commit_with_evals(Txn { preconditions: vec![], ops }, &evals).await?;
        Ok(JobRegisterResponse {
            eval_id: evals.first().map(|e| e.id.clone()).unwrap_or_default(),
            eval_create_index: if evals.is_empty() { 0 } else { index },
            job_modify_index: index,
            warnings: format!("{} children stopped", members.len() - 1),
            index,
        })
    }

    /// The operations that stop or purge one job: the job write, the
    /// cancellation of its blocked or held evaluation, and a deregister
    /// evaluation (for a dead job only when `eval_when_dead` or purging).
    fn deregister_ops(
        &self,
        namespace: &str,
        job: &Job,
        purge: bool,
        eval_when_dead: bool,
        ops: &mut Vec<Op>,
        evals: &mut Vec<Evaluation>,
    ) {
        if purge {
            ops.push(Op::PurgeJob { namespace: namespace.to_string(), job_id: job.id.clone() });
        } else {
            let mut stopped = job.clone();
            stopped.stop = true;
            ops.push(Op::UpsertJob(stopped));
        }
        let held = if job.dispatched { self.gate.remove_child(namespace, &job.parent_id, &job.id) } else { None };
        for blocked in self.broker.unblock_job(namespace, &job.id).into_iter().chain(held) {
            let mut canceled = (*blocked).clone();
            canceled.status = eval_status::CANCELED.to_string();
            canceled.status_description = "canceled: job stopped".to_string();
            ops.push(Op::UpsertEvals(vec![canceled]));
        }
        let dead = job.status == drover_types::job_status::DEAD;
        if !job.is_template() && (!dead || purge || eval_when_dead) {
            let eval = new_eval(job, eval_trigger::JOB_DEREGISTER);
            ops.push(Op::UpsertEvals(vec![eval.clone()]));
            evals.push(eval);
        }
    }

    /// Forces a new evaluation of a job.
    pub async fn evaluate_job(&self, namespace: &str, job_id: &str) -> Result<JobRegisterResponse, ServerError> {
        let job = self
            .state
            .snapshot()
            .job(namespace, job_id)
            .ok_or_else(|| ServerError::NotFound(format!("job not found: {job_id}")))?;
        if job.is_parameterized() {
            return Err(ServerError::BadRequest("can't evaluate parameterized job".to_string()));
        }
        if job.is_periodic() {
            return Err(ServerError::BadRequest("can't evaluate periodic job".to_string()));
        }
        let eval = new_eval(&job, eval_trigger::JOB_EVALUATE);
        let index = self
            .commit_with_evals(
                Txn { preconditions: vec![], ops: vec![Op::UpsertEvals(vec![eval.clone()])] },
                std::slice::from_ref(&eval),
            )
            .await?;
        Ok(JobRegisterResponse {
            eval_id: eval.id,
            eval_create_index: index,
            job_modify_index: job.job_modify_index,
            warnings: String::new(),
            index,
        })
    }

    // ---- allocations ----

    /// Stops one allocation; its job's scheduler decides on a replacement.
    pub async fn stop_alloc(&self, alloc_id: &str) -> Result<(String, u64), ServerError> {
        let snapshot = self.state.snapshot();
        let alloc =
            snapshot.alloc(alloc_id).ok_or_else(|| ServerError::NotFound(format!("alloc not found: {alloc_id}")))?;
        let mut ops = vec![Op::UpdateAllocsDesired(vec![AllocDesiredUpdate {
            alloc_id: alloc.id.clone(),
            desired_status: Some(desired_status::STOP.to_string()),
            desired_description: Some("alloc was stopped by a user".to_string()),
            ..AllocDesiredUpdate::default()
        }])];
        let mut evals = Vec::new();
        if let Some(job) = snapshot.job(&alloc.namespace, &alloc.job_id) {
            let eval = new_eval(&job, eval_trigger::ALLOC_STOP);
            ops.push(Op::UpsertEvals(vec![eval.clone()]));
            evals.push(eval);
        }
        let index = self.commit_with_evals(Txn { preconditions: vec![], ops }, &evals).await?;
        self.broker.unblock_all();
        Ok((evals.first().map(|e| e.id.clone()).unwrap_or_default(), index))
    }

    // ---- nodes ----

    /// Registers (or re-registers) a node; it is `ready` at once.
    pub async fn register_node(&self, mut node: Node) -> Result<NodeRegisterResponse, ServerError> {
        if node.id.is_empty() {
            return Err(ServerError::BadRequest("missing node ID".to_string()));
        }
        if uuid::Uuid::parse_str(&node.id).is_err() {
            return Err(ServerError::BadRequest(format!("node ID {:?} is not a UUID", node.id)));
        }
        let snapshot = self.state.snapshot();
        if let Some(existing) = snapshot.node(&node.id)
            && !existing.secret_id.is_empty()
            && existing.secret_id != node.secret_id
        {
            return Err(ServerError::PermissionDenied);
        }
        if node.datacenter.is_empty() {
            node.datacenter = "dc1".to_string();
        }
        if node.node_pool.is_empty() {
            node.node_pool = "default".to_string();
        }
        if node.scheduling_eligibility.is_empty() {
            node.scheduling_eligibility = eligibility::ELIGIBLE.to_string();
        }
        let now = now_nanos();
        node.status = node_status::READY.to_string();
        node.status_updated_at = now / 1_000_000_000;
        node.last_heartbeat = now;
        let was_ready = snapshot.node(&node.id).is_some_and(|n| n.status == node_status::READY);
        let mut ops = vec![Op::UpsertNode(node.clone())];
        let evals =
            if was_ready { Vec::new() } else { self.system_job_evals(&snapshot, eval_trigger::NODE_UPDATE, &node.id) };
        if !evals.is_empty() {
            ops.push(Op::UpsertEvals(evals.clone()));
        }
        let index = self.commit_with_evals(Txn { preconditions: vec![], ops }, &evals).await?;
        self.touch_heartbeat(&node.id);
        self.broker.unblock_all();
        Ok(NodeRegisterResponse {
            node_id: node.id,
            heartbeat_ttl: duration_to_nanos(self.config.heartbeat_ttl),
            index,
        })
    }

    /// A node's heartbeat: keeps it ready (and brings a down node back).
    pub async fn heartbeat(&self, node_id: &str, secret_id: &str) -> Result<NodeRegisterResponse, ServerError> {
        let snapshot = self.state.snapshot();
        let node = snapshot.node(node_id).ok_or_else(|| ServerError::NotFound(format!("node not found: {node_id}")))?;
        if !node.secret_id.is_empty() && node.secret_id != secret_id {
            return Err(ServerError::PermissionDenied);
        }
        self.touch_heartbeat(node_id);
        let mut index = snapshot.index();
        if node.status != node_status::READY {
            let mut ops = vec![Op::UpdateNodeStatus {
                node_id: node_id.to_string(),
                status: node_status::READY.to_string(),
                heartbeat: now_nanos(),
            }];
            let evals = self.system_job_evals(&snapshot, eval_trigger::NODE_UPDATE, node_id);
            if !evals.is_empty() {
                ops.push(Op::UpsertEvals(evals.clone()));
            }
            index = self.commit_with_evals(Txn { preconditions: vec![], ops }, &evals).await?;
            self.broker.unblock_all();
        }
        Ok(NodeRegisterResponse {
            node_id: node_id.to_string(),
            heartbeat_ttl: duration_to_nanos(self.config.heartbeat_ttl),
            index,
        })
    }

    fn touch_heartbeat(&self, node_id: &str) {
        let deadline = Instant::now() + self.config.heartbeat_ttl + self.config.heartbeat_grace;
        self.heartbeats.lock().unwrap_or_else(|p| p.into_inner()).insert(node_id.to_string(), deadline);
        self.last_seen.lock().unwrap_or_else(|p| p.into_inner()).insert(node_id.to_string(), now_nanos());
    }

    /// When a node last heartbeat (Unix ns), as far as this server saw.
    pub fn last_heartbeat(&self, node: &Node) -> i64 {
        let seen = self.last_seen.lock().unwrap_or_else(|p| p.into_inner()).get(&node.id).copied().unwrap_or(0);
        seen.max(node.last_heartbeat)
    }

    /// Evaluations for every system / sysbatch job (a node appeared or came back).
    /// Reads the system-jobs index: O(system jobs), not O(all jobs).
    fn system_job_evals(&self, snapshot: &drover_state::Snapshot, trigger: &str, node_id: &str) -> Vec<Evaluation> {
        snapshot
            .system_jobs()
            .iter()
            .filter(|job| !job.stop && !job.is_template())
            .map(|job| {
                let mut eval = new_eval(job, trigger);
                eval.node_id = node_id.to_string();
                eval
            })
            .collect()
    }

    /// Evaluations for every job with live allocations on a node (it went down or is draining).
    fn node_job_evals(&self, snapshot: &drover_state::Snapshot, trigger: &str, node_id: &str) -> Vec<Evaluation> {
        let mut jobs = BTreeSet::new();
        for alloc in snapshot.live_allocs_by_node(node_id) {
            if !alloc.terminal() {
                jobs.insert((alloc.namespace.clone(), alloc.job_id.clone()));
            }
        }
        jobs.into_iter()
            .filter_map(|(ns, id)| snapshot.job(&ns, &id))
            .map(|job| {
                let mut eval = new_eval(&job, trigger);
                eval.node_id = node_id.to_string();
                eval
            })
            .collect()
    }

    /// Marks nodes whose heartbeat deadline passed as down. Returns how many.
    pub(crate) async fn expire_heartbeats(&self) -> usize {
        let now = Instant::now();
        let expired: Vec<String> = {
            let mut heartbeats = self.heartbeats.lock().unwrap_or_else(|p| p.into_inner());
            let expired: Vec<String> =
                heartbeats.iter().filter(|(_, deadline)| **deadline <= now).map(|(id, _)| id.clone()).collect();
            for id in &expired {
                heartbeats.remove(id);
            }
            expired
        };
        for node_id in &expired {
            let snapshot = self.state.snapshot();
            if snapshot.node(node_id).is_none_or(|n| n.status == node_status::DOWN) {
                continue;
            }
            tracing::warn!(node_id = %node_id, "node missed its heartbeats; marking it down");
            let mut ops = vec![Op::UpdateNodeStatus {
                node_id: node_id.clone(),
                status: node_status::DOWN.to_string(),
                heartbeat: 0,
            }];
            let evals = self.node_job_evals(&snapshot, eval_trigger::NODE_UPDATE, node_id);
            if !evals.is_empty() {
                ops.push(Op::UpsertEvals(evals.clone()));
            }
            match self.commit_with_evals(Txn { preconditions: vec![], ops }, &evals).await {
                Ok(_) => {
                    self.metrics.nodes_down.fetch_add(1, Ordering::Relaxed);
                }
                Err(err) => tracing::error!(node_id = %node_id, error = %err, "could not mark node down"),
            }
        }
        expired.len()
    }

    /// Starts or ends a drain of a node.
    pub async fn drain_node(&self, node_id: &str, drain: Option<Duration>) -> Result<(Vec<String>, u64), ServerError> {
        let snapshot = self.state.snapshot();
        snapshot.node(node_id).ok_or_else(|| ServerError::NotFound(format!("node not found: {node_id}")))?;
        let now = now_nanos();
        let strategy = drain.map(|deadline| DrainStrategy {
            deadline: duration_to_nanos(deadline),
            force_deadline: if deadline.is_zero() { 0 } else { now + duration_to_nanos(deadline) },
            ignore_system_jobs: false,
            started_at: now,
        });
        let draining = strategy.is_some();
        let mut ops = vec![Op::UpdateNodeDrain { node_id: node_id.to_string(), drain: strategy }];
        let evals =
            if draining { self.node_job_evals(&snapshot, eval_trigger::NODE_DRAIN, node_id) } else { Vec::new() };
        if !evals.is_empty() {
            ops.push(Op::UpsertEvals(evals.clone()));
        }
        let index = self.commit_with_evals(Txn { preconditions: vec![], ops }, &evals).await?;
        if !draining {
            self.broker.unblock_all();
        }
        Ok((evals.into_iter().map(|e| e.id).collect(), index))
    }

    /// Turns scheduling eligibility on or off.
    pub async fn set_eligibility(&self, node_id: &str, eligible: bool) -> Result<u64, ServerError> {
        let value = if eligible { eligibility::ELIGIBLE } else { eligibility::INELIGIBLE };
        let index = self
            .commit_with_evals(
                Txn {
                    preconditions: vec![],
                    ops: vec![Op::UpdateNodeEligibility {
                        node_id: node_id.to_string(),
                        eligibility: value.to_string(),
                    }],
                },
                &[],
            )
            .await?;
        if eligible {
            self.broker.unblock_all();
        }
        Ok(index)
    }

    /// Forgets a node (its allocations are marked lost and replaced).
    pub async fn purge_node(&self, node_id: &str) -> Result<u64, ServerError> {
        let snapshot = self.state.snapshot();
        snapshot.node(node_id).ok_or_else(|| ServerError::NotFound(format!("node not found: {node_id}")))?;
        let evals = self.node_job_evals(&snapshot, eval_trigger::NODE_UPDATE, node_id);
        let mut ops = vec![Op::DeleteNode(node_id.to_string())];
        if !evals.is_empty() {
            ops.push(Op::UpsertEvals(evals.clone()));
        }
        self.heartbeats.lock().unwrap_or_else(|p| p.into_inner()).remove(node_id);
        self.commit_with_evals(Txn { preconditions: vec![], ops }, &evals).await
    }

    /// Applies a client's report; failed allocations get a reschedule
    /// evaluation and finished ones free capacity for blocked work.
    pub async fn client_update(&self, node_id: &str, updates: Vec<AllocClientUpdate>) -> Result<u64, ServerError> {
        let snapshot = self.state.snapshot();
        let mut failed_jobs = BTreeSet::new();
        let mut freed = false;
        let mut accepted = Vec::with_capacity(updates.len());
        for update in updates {
            let Some(alloc) = snapshot.alloc(&update.id) else { continue };
            if alloc.node_id != node_id {
                continue;
            }
            let was_terminal = alloc.client_terminal();
            let now_terminal = client_status::is_terminal(&update.client_status);
            if !was_terminal && now_terminal {
                freed = true;
                if update.client_status == client_status::FAILED && !alloc.server_terminal() {
                    failed_jobs.insert((alloc.namespace.clone(), alloc.job_id.clone()));
                }
            }
            for (task, state) in &update.task_states {
                let before = alloc.task_states.get(task);
                let started_before = before.map(|s| s.started_at).unwrap_or(0);
                if state.started_at != 0 && state.started_at != started_before {
                    self.metrics.task_starts.fetch_add(1, Ordering::Relaxed);
                }
                if state.failed && !before.is_some_and(|s| s.failed) {
                    self.metrics.task_failures.fetch_add(1, Ordering::Relaxed);
                }
            }
            accepted.push(update);
        }
        if accepted.is_empty() {
            return Ok(snapshot.index());
        }
        let evals: Vec<Evaluation> = failed_jobs
            .into_iter()
            .filter_map(|(ns, id)| snapshot.job(&ns, &id))
            .map(|job| new_eval(&job, eval_trigger::ALLOC_FAILURE))
            .collect();
        let mut ops = vec![Op::UpdateAllocsFromClient(accepted)];
        if !evals.is_empty() {
            ops.push(Op::UpsertEvals(evals.clone()));
        }
        let index = self.commit_with_evals(Txn { preconditions: vec![], ops }, &evals).await?;
        if freed {
            self.broker.unblock_all();
        }
        Ok(index)
    }
}
