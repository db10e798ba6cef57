//! One simulated node's allocation watch: a blocking query on the node's
//! allocations (the real client's long poll), reconciled against the runs
//! this node has, and the runs themselves: every task of a group started
//! through the [`MockDriver`], reported pending → running → complete/failed
//! with the events a real client emits (Received, Task Setup, Started,
//! Terminated; Killing and Killed when the server stops the allocation).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::sync::watch;

use drover_api::Client;
use drover_types::api::ClientAllocsResponse;
use drover_types::{
    AllocClientUpdate, Allocation, TaskEvent, TaskState, client_status, desired_status, now_nanos, task_event,
    task_state,
};

use super::reporter::SimReporter;
use super::{SimNode, SimStats};
use crate::driver::mock::MockDriver;
use crate::driver::{Driver, ExitResult, TaskContext, TaskHandle};

/// How long one blocking query on the node's allocations waits.
const WATCH_WAIT: Duration = Duration::from_secs(300);
/// Pause after a failed long poll (plus up to the same again as jitter).
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// What one node's watch needs.
pub(crate) struct NodeWatch {
    pub clients: Arc<Vec<Client>>,
    pub nodes: Arc<Vec<SimNode>>,
    pub node_idx: usize,
    pub reporter: SimReporter,
    pub stats: Arc<SimStats>,
}

/// A run this node has.
struct LocalRun {
    stop_tx: watch::Sender<bool>,
    stop_sent: bool,
    done: Arc<AtomicBool>,
}

impl NodeWatch {
    /// Long-polls the node's allocations until `shutdown`.
    pub(crate) async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let sim = &self.nodes[self.node_idx];
        let client = &self.clients[sim.client_idx];
        // The index of the last complete view (see `ClientAllocsResponse`).
        let mut index = 0u64;
        let mut runs: HashMap<String, LocalRun> = HashMap::new();
        let mut reported_unstarted: HashSet<String> = HashSet::new();
        loop {
            let result = tokio::select! {
                result = client.node_client_allocs(&sim.node.id, index, WATCH_WAIT) => result,
                _ = shutdown.wait_for(|stop| *stop) => break,
            };
            match result {
                Ok(reply) => {
                    self.stats.polls.fetch_add(1, Ordering::Relaxed);
                    let no_index = reply.index == 0;
                    index = reply.index;
                    if !self.reconcile(reply, &mut runs, &mut reported_unstarted, &shutdown) {
                        // The view has a gap: fetch the whole list now.
                        index = 0;
                        continue;
                    }
                    if !no_index {
                        continue;
                    }
                }
                Err(e) => {
                    self.stats.poll_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(error = %e, node = %sim.node.name, "error fetching simulated node allocations");
                    index = 0;
                }
            }
            let jitter = RETRY_PAUSE.mul_f64(rand::random::<f64>());
            tokio::select! {
                _ = tokio::time::sleep(RETRY_PAUSE + jitter) => {}
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        }
    }

    /// Starts and stops runs to match the server's list; false when the
    /// reply names as unchanged an allocation this node does not know.
    fn reconcile(
        &self,
        reply: ClientAllocsResponse,
        runs: &mut HashMap<String, LocalRun>,
        reported_unstarted: &mut HashSet<String>,
        shutdown: &watch::Receiver<bool>,
    ) -> bool {
        let known = |id: &str| runs.contains_key(id) || reported_unstarted.contains(id);
        let Some(seen) = reply.listed_ids(known) else { return false };
        for alloc in reply.allocs {
            if let Some(run) = runs.get_mut(&alloc.id) {
                if alloc.server_terminal() && !run.stop_sent {
                    run.stop_sent = true;
                    let _ = run.stop_tx.send(true);
                }
                continue;
            }
            if alloc.desired_status == desired_status::RUN && !alloc.client_terminal() {
                let (stop_tx, stop_rx) = watch::channel(false);
                let done = Arc::new(AtomicBool::new(false));
                runs.insert(alloc.id.clone(), LocalRun { stop_tx, stop_sent: false, done: done.clone() });
                let run = AllocRun {
                    node_idx: self.node_idx,
                    reporter: self.reporter.clone(),
                    stats: self.stats.clone(),
                    done,
                };
                tokio::spawn(run.run(alloc, stop_rx, shutdown.clone()));
            } else if !alloc.client_terminal() && reported_unstarted.insert(alloc.id.clone()) {
                self.reporter.push(
                    self.node_idx,
                    AllocClientUpdate {
                        id: alloc.id.clone(),
                        client_status: client_status::COMPLETE.to_string(),
                        client_description: "Allocation stopped before it started".to_string(),
                        task_states: alloc.task_states.clone(),
                    },
                );
            }
        }
        reported_unstarted.retain(|id| seen.contains(id));
        runs.retain(|id, run| {
            if seen.contains(id) {
                return true;
            }
            if run.done.load(Ordering::Relaxed) {
                return false;
            }
            if !run.stop_sent {
                // The server no longer lists it: nothing should run for it.
                run.stop_sent = true;
                let _ = run.stop_tx.send(true);
            }
            true
        });
        true
    }
}

/// One allocation's run on a simulated node.
struct AllocRun {
    node_idx: usize,
    reporter: SimReporter,
    stats: Arc<SimStats>,
    done: Arc<AtomicBool>,
}

fn event(event_type: &str, display: &str) -> TaskEvent {
    let mut event = TaskEvent::new(event_type, now_nanos(), display);
    event.message = display.to_string();
    event
}

fn terminated_event(exit: ExitResult) -> TaskEvent {
    let display = if exit.signal != 0 {
        format!("Exit Code: {}, Signal: {}", exit.exit_code, exit.signal)
    } else {
        format!("Exit Code: {}", exit.exit_code)
    };
    let mut event = event(task_event::TERMINATED, &display);
    event.exit_code = exit.exit_code;
    event.signal = exit.signal;
    event.details.insert("exit_code".to_string(), exit.exit_code.to_string());
    event.details.insert("signal".to_string(), exit.signal.to_string());
    event
}

impl AllocRun {
    fn report(&self, alloc_id: &str, status: &str, description: &str, task_states: &BTreeMap<String, TaskState>) {
        self.reporter.push(
            self.node_idx,
            AllocClientUpdate {
                id: alloc_id.to_string(),
                client_status: status.to_string(),
                client_description: description.to_string(),
                task_states: task_states.clone(),
            },
        );
    }

    async fn run(self, alloc: Allocation, mut stop: watch::Receiver<bool>, mut shutdown: watch::Receiver<bool>) {
        let tasks = alloc
            .job
            .as_ref()
            .and_then(|job| job.task_group(&alloc.task_group))
            .map(|group| group.tasks.clone())
            .unwrap_or_default();
        // Keep only what the run needs: thousands of runs may be alive at once.
        let alloc_id = alloc.id.clone();
        drop(alloc);
        let mut states: BTreeMap<String, TaskState> = BTreeMap::new();
        for task in &tasks {
            let state = TaskState {
                state: task_state::PENDING.to_string(),
                events: vec![
                    event(task_event::RECEIVED, "Task received by client"),
                    event(task_event::TASK_SETUP, "Building Task Directory"),
                ],
                ..TaskState::default()
            };
            states.insert(task.name.clone(), state);
        }
        self.report(&alloc_id, client_status::PENDING, "No tasks have started", &states);

        let driver = MockDriver;
        let mut handles: Vec<(String, Box<dyn TaskHandle>)> = Vec::new();
        let mut failed = false;
        for task in &tasks {
            let mut config = task.config.clone();
            // Simulated nodes keep no logs.
            config.remove("stdout_string");
            let ctx = TaskContext {
                alloc_id: alloc_id.clone(),
                task_name: task.name.clone(),
                config,
                env: BTreeMap::new(),
                task_dir: PathBuf::new(),
                logs_dir: PathBuf::new(),
                log_config: task.log_config.unwrap_or_default(),
            };
            let Some(state) = states.get_mut(&task.name) else { continue };
            let started = if task.driver == "mock" || task.driver == "mock_driver" {
                driver.start(&ctx).await
            } else {
                Err(crate::driver::DriverError::Unrecoverable(format!("driver {:?} is not simulated", task.driver)))
            };
            match started {
                Ok(handle) => {
                    state.state = task_state::RUNNING.to_string();
                    state.started_at = now_nanos();
                    state.events.push(event(task_event::STARTED, "Task started by client"));
                    handles.push((task.name.clone(), handle));
                }
                Err(e) => {
                    failed = true;
                    state.state = task_state::DEAD.to_string();
                    state.failed = true;
                    state.finished_at = now_nanos();
                    let mut failure = event(task_event::DRIVER_FAILURE, &e.to_string());
                    failure.driver_error = e.to_string();
                    failure.fails_task = true;
                    state.events.push(failure);
                }
            }
        }
        if !handles.is_empty() {
            self.stats.allocs_started.fetch_add(1, Ordering::Relaxed);
            self.report(&alloc_id, client_status::RUNNING, "Tasks are running", &states);
        }

        let mut killed = false;
        for (task_name, handle) in &mut handles {
            if killed {
                // Stopped while an earlier task was waited on: stop this one too.
                let _ = handle.signal(Signal::SIGKILL);
            }
            let exit = tokio::select! {
                exit = handle.wait() => Some(exit),
                _ = stop.wait_for(|stop| *stop), if !killed => None,
                _ = shutdown.wait_for(|stop| *stop) => return,
            };
            let exit = match exit {
                Some(exit) => exit,
                None => {
                    killed = true;
                    for state in states.values_mut().filter(|s| s.state == task_state::RUNNING) {
                        state.events.push(event(task_event::KILLING, "Sent interrupt"));
                    }
                    let _ = handle.signal(Signal::SIGKILL);
                    handle.wait().await
                }
            };
            let Some(state) = states.get_mut(task_name.as_str()) else { continue };
            state.state = task_state::DEAD.to_string();
            state.finished_at = now_nanos();
            match exit {
                Ok(_) if killed => {
                    state.events.push(event(task_event::KILLED, "Task successfully killed"));
                }
                Ok(exit) => {
                    state.failed = !exit.successful();
                    failed |= state.failed;
                    state.events.push(terminated_event(exit));
                }
                Err(e) => {
                    state.failed = true;
                    failed = true;
                    let mut failure = event(task_event::DRIVER_FAILURE, &e.to_string());
                    failure.driver_error = e.to_string();
                    state.events.push(failure);
                }
            }
        }
        if failed {
            self.stats.allocs_failed.fetch_add(1, Ordering::Relaxed);
            self.report(&alloc_id, client_status::FAILED, "Failed tasks", &states);
        } else {
            self.stats.allocs_complete.fetch_add(1, Ordering::Relaxed);
            self.report(&alloc_id, client_status::COMPLETE, "All tasks have completed", &states);
        }
        self.done.store(true, Ordering::Relaxed);
    }
}
