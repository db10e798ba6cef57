//! The job queue (`GET /v1/queue`, served by `http/queue.rs`): work not
//! running yet, in the order it will be taken, each item with the reason it
//! waits, then the work that runs with its runner. Also the drain deadline
//! enforcer.
//!
//! Queued work, in order: evaluations in the broker (ready ones in dequeue
//! order, then those behind an earlier evaluation of their job, delayed,
//! blocked; a blocked one says why from its `FailedTGAllocs`, e.g. `no node
//! has 4096 MB of memory free`), dispatched children held by `max_concurrent`
//! (per parent, in line order), then allocations placed on a runner that has
//! not started them.
//!
//! Decision: the queue is computed from the broker, the concurrency gate and
//! a state snapshot on each request; nothing is stored for it, so it cannot
//! drift from what the scheduler really does. A reply lists at most `limit`
//! queued and `limit` running items (default [`DEFAULT_QUEUE_LIMIT`]) with
//! the totals: a backlog of a million parked dispatches is counted, not
//! listed (each listed blocked item reads its job, from storage when parked).

use std::collections::BTreeSet;
use std::sync::Arc;

use drover_state::{AllocDesiredUpdate, Op, Snapshot, Txn};
use drover_types::{
    AllocMetric, Allocation, Evaluation, Job, client_status, desired_status, eval_status, eval_trigger, node_status,
    now_nanos,
};

use crate::server::Server;

pub use drover_types::api::{QueueItem, QueueResponse, RunningItem};

/// Kinds of queued items.
pub mod queue_kind {
    /// An evaluation waiting for a scheduler worker.
    pub const PENDING: &str = "pending";
    /// An evaluation waiting until its reschedule delay passes.
    pub const DELAYED: &str = "delayed";
    /// An evaluation that could not place everything and waits for capacity.
    pub const BLOCKED: &str = "blocked";
    /// A dispatched child held by its parent's `max_concurrent`.
    pub const HELD: &str = "held";
    /// An allocation placed on a runner that has not started it yet.
    pub const STARTING: &str = "starting";
}

/// Items of each list a queue reply holds unless `?limit=N` says otherwise.
pub(crate) const DEFAULT_QUEUE_LIMIT: usize = 1000;

/// Why a task group could not be placed, in one line: `no node has 4096 MB
/// of memory free (3 nodes exhausted)`, `constraint ${attr.kernel.name} =
/// windows filtered 3 nodes`, `no ready node in node pool "gpu"`.
pub fn placement_reason(job: Option<&Job>, group: &str, metric: &AllocMetric) -> String {
    let mut reasons = Vec::new();
    if metric.nodes_evaluated == 0 {
        let pool = if metric.node_pool.is_empty() { "default" } else { metric.node_pool.as_str() };
        reasons.push(format!("no ready and eligible node in node pool {pool:?}"));
    }
    for (constraint, count) in &metric.constraint_filtered {
        reasons.push(format!("{constraint} filtered {count} {}", nodes(*count)));
    }
    for (class, count) in &metric.class_filtered {
        if metric.constraint_filtered.is_empty() {
            reasons.push(format!("class {class:?}: {count} {} filtered", nodes(*count)));
        }
    }
    let ask = job.and_then(|job| job.task_group(group)).map(|tg| {
        let cpu: u64 = tg.tasks.iter().map(|t| t.resources.cpu).sum();
        let memory: u64 = tg.tasks.iter().map(|t| t.resources.memory_mb).sum();
        let disk = tg.ephemeral_disk.map(|d| d.size_mb).unwrap_or(0);
        (cpu, memory, disk)
    });
    for (dimension, count) in &metric.dimension_exhausted {
        let need = match (dimension.as_str(), ask) {
            ("memory", Some((_, memory, _))) => format!("{memory} MB of memory"),
            ("cpu", Some((cpu, _, _))) => format!("{cpu} MHz of CPU"),
            ("disk", Some((_, _, disk))) => format!("{disk} MB of disk"),
            (other, _) => format!("enough {other}"),
        };
        reasons.push(format!("no node has {need} free ({count} {} exhausted)", nodes(*count)));
    }
    if metric.dimension_exhausted.is_empty() && metric.nodes_exhausted > 0 {
        reasons.push(format!("resources exhausted on {} {}", metric.nodes_exhausted, nodes(metric.nodes_exhausted)));
    }
    if reasons.is_empty() {
        reasons.push("no node can take it now".to_string());
    }
    format!("group {group:?}: {}", reasons.join(", "))
}

fn nodes(count: u64) -> &'static str {
    if count == 1 { "node" } else { "nodes" }
}

impl Server {
    /// The queue and the running work (see the module docs).
    ///
    /// Only items of `namespace` (all when `None`); each list holds its
    /// first `limit` items, the totals count them all.
    pub fn queue(&self, snapshot: &Snapshot, namespace: Option<&str>, limit: usize) -> QueueResponse {
        let now = now_nanos();
        let in_scope = |item_namespace: &str| namespace.is_none_or(|namespace| namespace == item_namespace);
        let mut queued = Vec::new();
        let (waiting, mut queued_total) = self.broker.waiting_first(namespace, limit);
        for (eval, broker_reason) in waiting {
            let job = snapshot.job(&eval.namespace, &eval.job_id);
            let (kind, reason) = if eval.status == eval_status::BLOCKED {
                let reasons: Vec<String> = eval
                    .failed_tg_allocs
                    .iter()
                    .map(|(group, metric)| placement_reason(job.as_deref(), group, metric))
                    .collect();
                let queued_allocs: u64 = eval.queued_allocations.values().sum();
                let reason = match (reasons.is_empty(), queued_allocs) {
                    (true, _) => broker_reason.to_string(),
                    (false, 0) => reasons.join("; "),
                    (false, n) => format!("{n} allocation(s) waiting for capacity: {}", reasons.join("; ")),
                };
                (queue_kind::BLOCKED, reason)
            } else if eval.wait_until > now {
                (queue_kind::DELAYED, broker_reason.to_string())
            } else {
                (queue_kind::PENDING, broker_reason.to_string())
            };
            queued.push(eval_item(&eval, kind, reason));
        }
        for (namespace, parent, line) in self.gate.all_lines() {
            if !in_scope(&namespace) {
                continue;
            }
            for held in line {
                queued_total += 1;
                if queued.len() >= limit {
                    continue;
                }
                let since = snapshot.eval(&held.eval_id).map(|e| e.create_time).unwrap_or(0);
                queued.push(QueueItem {
                    kind: queue_kind::HELD.to_string(),
                    namespace: namespace.clone(),
                    job_id: held.job_id.clone(),
                    eval_id: held.eval_id.clone(),
                    priority: held.priority,
                    since,
                    reason: format!("{} (#{} in line of {parent})", held.reason, held.position),
                    ..QueueItem::default()
                });
            }
        }
        // Allocations a runner has not started, oldest first; only those
        // listed get their item (reason, job priority).
        let mut starting = Vec::new();
        let mut running = Vec::new();
        for alloc in snapshot.resident_allocs() {
            if alloc.desired_status != desired_status::RUN || !in_scope(&alloc.namespace) {
                continue;
            }
            match alloc.client_status.as_str() {
                client_status::PENDING => starting.push(alloc),
                client_status::RUNNING => {
                    let since = alloc.task_states.values().map(|s| s.started_at).filter(|t| *t > 0).min();
                    running.push(RunningItem {
                        namespace: alloc.namespace.clone(),
                        job_id: alloc.job_id.clone(),
                        alloc_id: alloc.id.clone(),
                        task_group: alloc.task_group.clone(),
                        node_id: alloc.node_id.clone(),
                        node_name: snapshot.node(&alloc.node_id).map(|n| n.name.clone()).unwrap_or_default(),
                        since: since.unwrap_or(alloc.create_time),
                    });
                }
                _ => {}
            }
        }
        starting.sort_by(|a, b| (a.create_time, a.id.as_str()).cmp(&(b.create_time, b.id.as_str())));
        queued_total += starting.len();
        let room = limit.saturating_sub(queued.len());
        queued.extend(starting.into_iter().take(room).map(|alloc| starting_item(snapshot, &alloc)));
        for (idx, item) in queued.iter_mut().enumerate() {
            item.position = idx + 1;
        }
        running.sort_by(|a, b| {
            (a.node_name.as_str(), a.job_id.as_str(), a.alloc_id.as_str()).cmp(&(
                b.node_name.as_str(),
                b.job_id.as_str(),
                b.alloc_id.as_str(),
            ))
        });
        let running_total = running.len();
        running.truncate(limit);
        QueueResponse { queued, running, queued_total, running_total }
    }

    /// Stops what is still running on draining nodes whose force deadline
    /// has passed, with an evaluation per job so the work is replaced
    /// elsewhere. Returns how many allocations were stopped.
    pub(crate) async fn enforce_drain_deadlines(&self) -> usize {
        let snapshot = self.state.snapshot();
        let now = now_nanos();
        let mut updates = Vec::new();
        let mut jobs = BTreeSet::new();
        for node in snapshot.nodes() {
            let Some(strategy) = node.drain_strategy.as_ref().filter(|_| node.drain) else { continue };
            if strategy.force_deadline <= 0 || strategy.force_deadline > now {
                continue;
            }
            for alloc in snapshot.live_allocs_by_node(&node.id) {
                if alloc.desired_status != desired_status::RUN {
                    continue;
                }
                updates.push(AllocDesiredUpdate {
                    alloc_id: alloc.id.clone(),
                    desired_status: Some(desired_status::STOP.to_string()),
                    desired_description: Some("alloc stopped: node drain deadline passed".to_string()),
                    ..AllocDesiredUpdate::default()
                });
                jobs.insert((alloc.namespace.clone(), alloc.job_id.clone(), node.id.clone()));
            }
        }
        if updates.is_empty() {
            return 0;
        }
        let n_stopped = updates.len();
        let evals: Vec<Evaluation> = jobs
            .into_iter()
            .filter_map(|(namespace, job_id, node_id)| {
                let job = snapshot.job(&namespace, &job_id)?;
                Some(Evaluation { node_id, ..Evaluation::new_for_job(&job, eval_trigger::NODE_DRAIN, now) })
            })
            .collect();
        let mut ops = vec![Op::UpdateAllocsDesired(updates)];
        if !evals.is_empty() {
            ops.push(Op::UpsertEvals(evals.clone()));
        }
        match self.commit_with_evals(Txn { preconditions: vec![], ops }, &evals).await {
            Ok(_) => {
                tracing::info!(n_stopped, "drain deadline passed; stopped the remaining allocations");
                n_stopped
            }
            Err(err) => {
                tracing::error!(error = %err, "could not enforce a drain deadline");
                0
            }
        }
    }
}

fn eval_item(eval: &Arc<Evaluation>, kind: &str, reason: String) -> QueueItem {
    QueueItem {
        kind: kind.to_string(),
        namespace: eval.namespace.clone(),
        job_id: eval.job_id.clone(),
        eval_id: eval.id.clone(),
        priority: eval.priority,
        since: eval.create_time,
        reason,
        ..QueueItem::default()
    }
}

/// The queue item of an allocation placed on a runner that has not started it.
fn starting_item(snapshot: &Snapshot, alloc: &Allocation) -> QueueItem {
    let node = snapshot.node(&alloc.node_id);
    let reason = match node.as_deref() {
        None => "its runner is gone".to_string(),
        Some(node) if node.status == node_status::DOWN => format!("its runner {} is down", node.name),
        Some(node) => format!("placed on runner {}, waiting for it to start the task", node.name),
    };
    QueueItem {
        kind: queue_kind::STARTING.to_string(),
        namespace: alloc.namespace.clone(),
        job_id: alloc.job_id.clone(),
        eval_id: alloc.eval_id.clone(),
        alloc_id: alloc.id.clone(),
        node_id: alloc.node_id.clone(),
        node_name: node.as_ref().map(|n| n.name.clone()).unwrap_or_default(),
        priority: snapshot.job(&alloc.namespace, &alloc.job_id).map(|j| j.priority).unwrap_or(0),
        since: alloc.create_time,
        reason,
        ..QueueItem::default()
    }
}

#[cfg(test)]
mod tests {
    use drover_types::new_id;
    use std::collections::BTreeMap;

    use drover_types::{Resources, Task, TaskGroup};

    use super::*;

    fn check(metric: AllocMetric, expect: &str) {
        let job = Job {
            id: "big".to_string(),
            task_groups: vec![TaskGroup {
                name: "g".to_string(),
                tasks: vec![Task {
                    name: "t".to_string(),
                    resources: Resources { cpu: 500, memory_mb: 4096, disk_mb: 0 },
                    ..Task::default()
                }],
                ..TaskGroup::default()
            }]
            .into(),
            ..Job::default()
        };
        assert_eq!(placement_reason(Some(&job), "g", &metric), expect);
    }

    #[tokio::test]
    async fn a_queue_reply_lists_up_to_its_limit_and_counts_everything() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = crate::config::ServerConfig::new(dir.path().to_path_buf());
        let state = drover_state::StateStore::open(&dir.path().join("state.db")).expect("state opens");
        let server = Server::new(config, state);
        let now = now_nanos();
        for (idx, namespace) in ["default", "default", "other", "default", "other"].into_iter().enumerate() {
            let eval = Evaluation {
                id: new_id(),
                namespace: namespace.to_string(),
                job_id: format!("job-{idx}"),
                status: eval_status::PENDING.to_string(),
                create_time: now,
                ..Evaluation::default()
            };
            server.broker.enqueue(Arc::new(eval), now);
        }
        let snapshot = server.state.snapshot();
        let all = server.queue(&snapshot, None, DEFAULT_QUEUE_LIMIT);
        assert_eq!((all.queued.len(), all.queued_total), (5, 5));
        let cut = server.queue(&snapshot, None, 2);
        assert_eq!((cut.queued.len(), cut.queued_total), (2, 5));
        assert_eq!(cut.queued, all.queued[..2].to_vec(), "the first items, in order");
        let other = server.queue(&snapshot, Some("other"), 1);
        assert_eq!((other.queued.len(), other.queued_total), (1, 2));
        assert_eq!((other.queued[0].namespace.as_str(), other.queued[0].position), ("other", 1));

        // Three allocations not started yet follow the evaluations, oldest first.
        let placed: Vec<Allocation> = (0..3)
            .map(|idx| Allocation {
                id: format!("alloc-{idx}"),
                namespace: "default".to_string(),
                job_id: format!("placed-{idx}"),
                node_id: "gone".to_string(),
                desired_status: desired_status::RUN.to_string(),
                client_status: client_status::PENDING.to_string(),
                create_time: now - idx,
                ..Allocation::default()
            })
            .collect();
        let txn = Txn { preconditions: vec![], ops: vec![Op::upsert_allocs(placed)] };
        server.state.apply(txn).await.expect("allocations written");
        let snapshot = server.state.snapshot();
        let default = server.queue(&snapshot, Some("default"), 5);
        assert_eq!((default.queued.len(), default.queued_total), (5, 6));
        let starting: Vec<(&str, usize)> =
            default.queued[3..].iter().map(|item| (item.alloc_id.as_str(), item.position)).collect();
        assert_eq!(starting, vec![("alloc-2", 4), ("alloc-1", 5)]);
        assert_eq!(default.queued[3].reason, "its runner is gone");
    }

    #[test]
    fn placement_reasons_say_what_is_missing() {
        check(
            AllocMetric {
                nodes_evaluated: 3,
                nodes_exhausted: 3,
                dimension_exhausted: BTreeMap::from([("memory".to_string(), 3)]),
                ..AllocMetric::default()
            },
            r#"group "g": no node has 4096 MB of memory free (3 nodes exhausted)"#,
        );
        check(
            AllocMetric {
                nodes_evaluated: 3,
                nodes_filtered: 3,
                constraint_filtered: BTreeMap::from([("${attr.kernel.name} = windows".to_string(), 3)]),
                ..AllocMetric::default()
            },
            r#"group "g": ${attr.kernel.name} = windows filtered 3 nodes"#,
        );
        check(AllocMetric::default(), r#"group "g": no ready and eligible node in node pool "default""#);
        check(
            AllocMetric { nodes_evaluated: 1, nodes_exhausted: 1, ..AllocMetric::default() },
            r#"group "g": resources exhausted on 1 node"#,
        );
    }
}
