//! The leadership boundary, as in Nomad's `leader.go`: the subsystems that
//! must run on exactly one server start together in
//! [`Server::establish_leadership`] and stop together in
//! [`Server::revoke_leadership`].
//!
//! Behind the boundary: the evaluation broker (ready, blocked and delayed
//! evaluations) and the `max_concurrent` lines of held dispatches, the
//! scheduler workers, the plan applier, the cron launcher, the heartbeat
//! and drain-deadline sweeper (which also promotes delayed evaluations),
//! the release of held dispatches as children finish, and garbage
//! collection. Outside it, on every server: the HTTP API, the state store
//! and its readers, and the per-node long-poll wakeups.
//!
//! Everything behind the boundary holds only what it can rebuild from the
//! state store: establishing leadership empties the broker and the lines,
//! refills them from the stored evaluations, and gives every node a fresh
//! heartbeat deadline (a grace after a leader change, so healthy nodes are
//! not marked down); revoking stops the loops and drops the in-memory
//! queues. Both can happen any number of times in one process. A single
//! server simply establishes leadership at start.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::server::Server;

/// How long revoking waits for a worker to finish the batch in hand.
const WORKER_STOP_WAIT: Duration = Duration::from_secs(10);

/// How long revoking waits for a background loop to notice the stop.
const LOOP_STOP_WAIT: Duration = Duration::from_secs(2);

/// The running leader-only subsystems; hand it back to
/// [`Server::revoke_leadership`] to stop them.
pub(crate) struct Leadership {
    stop: watch::Sender<bool>,
    workers: Vec<JoinHandle<()>>,
    loops: Vec<JoinHandle<()>>,
}

impl Server {
    /// Starts every leader-only subsystem from the state store's contents.
    pub(crate) fn establish_leadership(self: &Arc<Self>) -> Leadership {
        self.broker.enable();
        self.gate.clear();
        self.set_plan_applier(true);
        // A wave gives every worker a full batch to place.
        self.broker.set_wave_size(self.config.num_schedulers.max(1) * crate::worker::MAX_BATCH);
        self.restore();
        // Capacity may have changed while no server led (nodes joined, work
        // finished): release the blocked backlog once, a wave at a time;
        // what still finds no room blocks again.
        self.broker.unblock_all();
        let (stop, stopped) = watch::channel(false);
        let workers = (0..self.config.num_schedulers.max(1))
            .map(|_| tokio::spawn(crate::worker::run_worker(self.clone())))
            .collect();
        let loops = vec![
            tokio::spawn(background_ticks(self.clone(), stopped.clone())),
            tokio::spawn(crate::gc::run_gc(self.clone(), stopped.clone())),
            tokio::spawn(until_stopped(stopped.clone(), crate::concurrency::follow_children(self.clone()))),
            tokio::spawn(crate::periodic::run_launcher(self.clone(), stopped.clone())),
            // Children may have finished while no server led.
            tokio::spawn(until_stopped(stopped, release_all_held(self.clone()))),
        ];
        tracing::info!("leadership established");
        Leadership { stop, workers, loops }
    }

    /// Stops every leader-only subsystem: the workers finish the batch in
    /// hand, the loops end, the plan applier ends with its last handle, and
    /// the broker and the held-dispatch lines are emptied (their contents
    /// are durable in the state for the next leadership).
    pub(crate) async fn revoke_leadership(&self, leadership: Leadership) {
        let Leadership { stop, workers, loops } = leadership;
        self.broker.disable();
        let _ = stop.send(true);
        for worker in workers {
            stop_task(worker, WORKER_STOP_WAIT).await;
        }
        for task in loops {
            stop_task(task, LOOP_STOP_WAIT).await;
        }
        self.set_plan_applier(false);
        // Anything a worker handed the broker while stopping is dropped too.
        self.broker.disable();
        self.gate.clear();
        tracing::info!("leadership revoked");
    }
}

/// Waits for a task to end, aborting it after `wait`.
async fn stop_task(task: JoinHandle<()>, wait: Duration) {
    let abort = task.abort_handle();
    if tokio::time::timeout(wait, task).await.is_err() {
        abort.abort();
    }
}

/// Runs `work` until the leadership stops.
async fn until_stopped(mut stopped: watch::Receiver<bool>, work: impl Future<Output = ()>) {
    tokio::select! {
        _ = work => {}
        _ = stopped.wait_for(|stop| *stop) => {}
    }
}

/// Moves every held-dispatch line as far as its parent's limit allows.
async fn release_all_held(server: Arc<Server>) {
    for (namespace, parent, _) in server.gate.all_lines() {
        server.release_held(&namespace, &parent).await;
    }
}

/// Periodic work: expire heartbeats, promote delayed evaluations, enforce drain deadlines.
async fn background_ticks(server: Arc<Server>, mut stopped: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
        server.broker.promote_due(drover_types::now_nanos());
        server.expire_heartbeats().await;
        server.enforce_drain_deadlines().await;
    }
}
