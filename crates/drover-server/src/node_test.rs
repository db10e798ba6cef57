//! Runner tests (`POST /v1/node/:id/test`, served by `http/node_test.rs`):
//! checks that a runner (node) can run work end to end, as Chef Automate's
//! runner Test button does.
//!
//! A tiny probe job is registered like any other batch job, pinned to the
//! node with a `${node.unique.id}` constraint: `raw_exec` `/bin/true` when the
//! node has a healthy `raw_exec` driver, else the `mock` driver. The test
//! waits for its evaluation and allocation and reports success with the time
//! it took, or the precise failure (the placement failure reasons, the
//! driver's error, the exit code); then the probe job is purged.
//!
//! Decision: the probe goes through the real path (state write, broker,
//! scheduler, plan applier, client long poll, driver), so a pass means the
//! runner really takes work; it gets the highest priority so a busy queue
//! does not hide a healthy runner.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use drover_state::{Op, Txn};
use drover_types::{
    Constraint, EphemeralDisk, Job, JobType, MAX_PRIORITY, Node, ReschedulePolicy, Resources, RestartPolicy, Task,
    TaskGroup, client_status, eligibility, eval_status, node_status, task_event,
};

use crate::error::ServerError;
use crate::server::Server;

pub use drover_types::api::NodeTestResult;

/// Longest a test waits for the probe when the caller gives no `?timeout=`.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest a test waits for the probe, whatever `?timeout=` asks.
pub(crate) const MAX_TIMEOUT: Duration = Duration::from_secs(300);

/// Longest a test waits, after the probe's purge, for the probe's
/// allocations and evaluations to finish so that they can be removed.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Prefix of probe job IDs.
pub(crate) const PROBE_PREFIX: &str = "drover-node-test-";

/// Why a probe could not be placed on `node` although it is up: it is
/// draining or ineligible for scheduling; with the command that changes it.
fn not_schedulable(node: &Node) -> Option<String> {
    let short: String = node.id.chars().take(8).collect();
    if node.drain {
        return Some(format!("runner is draining; end the drain with \"drover node drain -disable {short}\""));
    }
    (node.scheduling_eligibility == eligibility::INELIGIBLE).then(|| {
        format!(
            "runner is ineligible for scheduling; make it eligible with \"drover node eligibility -enable {short}\""
        )
    })
}

/// The probe task for a node: `raw_exec` `/bin/true` or `mock`.
fn probe_task(node: &Node) -> Task {
    let raw_exec = node.drivers.get("raw_exec").is_some_and(|info| info.detected && info.healthy);
    let (driver, config) = if raw_exec {
        ("raw_exec", BTreeMap::from([("command".to_string(), serde_json::Value::from("/bin/true"))]))
    } else {
        ("mock", BTreeMap::from([("run_for".to_string(), serde_json::Value::from("10ms"))]))
    };
    Task {
        name: "probe".to_string(),
        driver: driver.to_string(),
        config,
        resources: Resources { cpu: 10, memory_mb: 10, disk_mb: 0 },
        kill_timeout: 1_000_000_000,
        ..Task::default()
    }
}

/// A batch job pinned to `node` that runs the probe once.
fn probe_job(node: &Node) -> Job {
    let short: String = node.id.chars().take(8).collect();
    let suffix: String = drover_types::new_id().chars().take(8).collect();
    Job {
        id: format!("{PROBE_PREFIX}{short}-{suffix}"),
        job_type: JobType::Batch,
        priority: MAX_PRIORITY,
        datacenters: vec![node.datacenter.clone()],
        node_pool: node.node_pool.clone(),
        constraints: vec![Constraint {
            l_target: "${node.unique.id}".to_string(),
            r_target: node.id.clone(),
            operand: "=".to_string(),
        }],
        task_groups: vec![TaskGroup {
            name: "probe".to_string(),
            count: 1,
            tasks: vec![probe_task(node)],
            restart_policy: Some(RestartPolicy { attempts: 0, ..RestartPolicy::for_job_type(JobType::Batch) }),
            reschedule_policy: Some(ReschedulePolicy {
                attempts: 0,
                unlimited: false,
                ..ReschedulePolicy::for_job_type(JobType::Batch)
            }),
            ephemeral_disk: Some(EphemeralDisk { size_mb: 0, ..EphemeralDisk::default() }),
            ..TaskGroup::default()
        }]
        .into(),
        meta: BTreeMap::from([("drover.node-test".to_string(), node.id.clone())]),
        ..Job::default()
    }
}

/// How a probe ended, if it has.
enum Outcome {
    Passed(String),
    Failed(String),
}

impl Server {
    /// Runs a probe task on `node_id` and reports how it went (see the module docs).
    pub async fn test_node(&self, node_id: &str, timeout: Duration) -> Result<NodeTestResult, ServerError> {
        let snapshot = self.state.snapshot();
        let node = snapshot.node(node_id).ok_or_else(|| ServerError::NotFound(format!("node not found: {node_id}")))?;
        let started = Instant::now();
        let result = |success: bool, message: String| NodeTestResult {
            node_id: node.id.clone(),
            success,
            duration_ms: started.elapsed().as_millis() as u64,
            message,
        };
        if node.status == node_status::DOWN {
            return Ok(result(false, "runner is down: it missed its heartbeats".to_string()));
        }
        if let Some(message) = not_schedulable(&node) {
            return Ok(result(false, message));
        }
        let job = probe_job(&node);
        let driver = job.task_groups[0].tasks[0].driver.clone();
        let reply = self.register_job(job.clone(), None).await?;
        let outcome = self.wait_for_probe(&job, &reply.eval_id, &driver, started + timeout).await;
        let reply = match outcome {
            Outcome::Passed(message) => result(true, message),
            Outcome::Failed(message) => result(false, message),
        };
        self.purge_probe(&job).await;
        Ok(reply)
    }

    /// Purges a probe job with its allocations and evaluations, so a test
    /// leaves nothing listed behind. The purge's deregister evaluation stops
    /// whatever the probe still runs (a timed-out probe); its allocations and
    /// evaluations are removed once all are finished, waiting at most
    /// [`CLEANUP_TIMEOUT`] (a probe that outlasts it stays listed until GC).
    async fn purge_probe(&self, job: &Job) {
        let namespace = job.namespace_or_default();
        if let Err(err) = self.deregister_job(&namespace, &job.id, true).await {
            tracing::warn!(job_id = %job.id, error = %err, "could not purge node test probe");
            return;
        }
        let deadline = Instant::now() + CLEANUP_TIMEOUT;
        loop {
            let snapshot = self.state.snapshot();
            let evals = snapshot.evals_by_job(&namespace, &job.id);
            let allocs = snapshot.allocs_by_job(&namespace, &job.id);
            if evals.iter().all(|eval| eval.is_terminal()) && allocs.iter().all(|alloc| alloc.terminal()) {
                let ops = vec![
                    Op::DeleteAllocs(allocs.iter().map(|alloc| alloc.id.clone()).collect()),
                    Op::DeleteEvals(evals.iter().map(|eval| eval.id.clone()).collect()),
                ];
                if let Err(err) = self.state.apply(Txn { preconditions: vec![], ops }).await {
                    tracing::warn!(job_id = %job.id, error = %err, "could not remove node test probe's allocations");
                }
                return;
            }
            let now = Instant::now();
            if now >= deadline {
                tracing::warn!(job_id = %job.id, "node test probe outlasted its purge; its allocations stay listed");
                return;
            }
            self.state.wait_index_above(snapshot.index(), deadline - now).await;
        }
    }

    async fn wait_for_probe(&self, job: &Job, eval_id: &str, driver: &str, deadline: Instant) -> Outcome {
        let namespace = job.namespace_or_default();
        loop {
            let snapshot = self.state.snapshot();
            if let Some(outcome) = probe_outcome(&snapshot, &namespace, job, eval_id, driver) {
                return outcome;
            }
            let now = Instant::now();
            if now >= deadline {
                let allocs = snapshot.allocs_by_job(&namespace, &job.id);
                let message = match allocs.first() {
                    Some(alloc) => {
                        format!("timed out: the probe was placed but is still {} on the runner", alloc.client_status)
                    }
                    None => "timed out: the probe was not placed yet".to_string(),
                };
                return Outcome::Failed(message);
            }
            self.state.wait_index_above(snapshot.index(), deadline - now).await;
        }
    }
}

fn probe_outcome(
    snapshot: &drover_state::Snapshot,
    namespace: &str,
    job: &Job,
    eval_id: &str,
    driver: &str,
) -> Option<Outcome> {
    let allocs = snapshot.allocs_by_job(namespace, &job.id);
    if let Some(alloc) = allocs.iter().max_by_key(|alloc| alloc.create_index) {
        return match alloc.client_status.as_str() {
            client_status::COMPLETE => Some(Outcome::Passed(format!("probe task exited 0 on {driver}"))),
            client_status::FAILED | client_status::LOST => {
                let mut reasons = Vec::new();
                for state in alloc.task_states.values() {
                    for event in &state.events {
                        let text =
                            if event.display_message.is_empty() { &event.message } else { &event.display_message };
                        let is_failure = matches!(
                            event.event_type.as_str(),
                            task_event::DRIVER_FAILURE
                                | task_event::SETUP_FAILURE
                                | task_event::FAILED_RESTORING
                                | task_event::TERMINATED
                        );
                        if is_failure && !text.is_empty() {
                            reasons.push(format!("{}: {text}", event.event_type));
                        }
                    }
                }
                if reasons.is_empty() && !alloc.client_description.is_empty() {
                    reasons.push(alloc.client_description.clone());
                }
                reasons.dedup();
                let why = if reasons.is_empty() { alloc.client_status.clone() } else { reasons.join("; ") };
                Some(Outcome::Failed(format!("probe task failed on {driver}: {why}")))
            }
            _ => None,
        };
    }
    let eval = snapshot.eval(eval_id)?;
    let blocked = if eval.status == eval_status::BLOCKED {
        Some(eval.clone())
    } else if !eval.blocked_eval.is_empty() {
        snapshot.eval(&eval.blocked_eval)
    } else {
        None
    };
    if eval.status == eval_status::FAILED {
        return Some(Outcome::Failed(format!("evaluation failed: {}", eval.status_description)));
    }
    let failures = blocked.map(|b| b.failed_tg_allocs.clone()).filter(|f| !f.is_empty()).or_else(|| {
        (eval.status == eval_status::COMPLETE && !eval.failed_tg_allocs.is_empty())
            .then(|| eval.failed_tg_allocs.clone())
    })?;
    let reasons: Vec<String> =
        failures.iter().map(|(group, metric)| crate::queue::placement_reason(Some(job), group, metric)).collect();
    Some(Outcome::Failed(format!("placement failed: {}", reasons.join("; "))))
}

/// A job's namespace, `default` when unset (before canonicalization).
trait NamespaceOrDefault {
    fn namespace_or_default(&self) -> String;
}

impl NamespaceOrDefault for Job {
    fn namespace_or_default(&self) -> String {
        if self.namespace.is_empty() { drover_types::DEFAULT_NAMESPACE.to_string() } else { self.namespace.clone() }
    }
}
