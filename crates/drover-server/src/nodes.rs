//! Node operations: register (and the system jobs a node calls for),
//! heartbeats and the sweep that marks silent nodes down, drain with its
//! deadline, eligibility, purge.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use drover_state::{Op, Txn};
use drover_types::api::NodeRegisterResponse;
use drover_types::{
    DrainStrategy, Evaluation, Node, duration_to_nanos, eligibility, eval_trigger, node_status, now_nanos,
};

use crate::error::ServerError;
use crate::server::{Server, new_eval};

impl Server {
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
}
