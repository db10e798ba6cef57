//! The alloc runner: one tokio task per allocation. It builds the alloc dir,
//! runs one task runner per task, reacts to their updates (sibling failure,
//! leader death), computes the allocation's client status, persists its state
//! and hands updates to the reporter. A panic in a task runner fails that task
//! only; a panic in an alloc runner fails that allocation only.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

use drover_types::{
    AllocClientUpdate, Allocation, LogConfig, RestartPolicy, TaskState, client_status, task_event, task_state,
};

use crate::dir_pool::{DirPool, Layout};
use crate::driver::{Drivers, TaskContext};
use crate::env::{TaskEnvInput, build_task_env};
use crate::interpolate::{Interpolator, NodeVars};
use crate::reporter::Reporter;
use crate::state::{PersistedAlloc, PersistedTask, StateStore};
use crate::task_runner::{self, LEADER_DEAD, TaskCommand, TaskRunnerArgs, TaskUpdate, new_event};

/// What every alloc runner shares.
pub(crate) struct RunnerEnv {
    /// `<alloc_dir>`: one dir per allocation under it.
    pub alloc_dir: PathBuf,
    /// Makes the allocation and task directory trees.
    pub dirs: Arc<DirPool>,
    pub store: StateStore,
    pub drivers: Drivers,
    pub node: NodeVars,
    pub base_env: BTreeMap<String, String>,
    pub reporter: Reporter,
}

/// What the client asks of an alloc runner.
#[derive(Debug)]
pub(crate) enum AllocCommand {
    /// A newer version of the allocation (in-place update): tasks keep running.
    Update(Box<Allocation>),
    /// The server wants it stopped.
    Stop,
    /// Restart every running task in place.
    RestartTasks,
    /// Stop watching, leave tasks running (client shutdown).
    Detach,
}

/// What readers (the HTTP listener) can see of a running allocation.
#[derive(Debug, Clone, Default)]
pub(crate) struct AllocSnapshot {
    pub tasks: BTreeMap<String, TaskState>,
    /// All task runners finished.
    pub done: bool,
}

/// The client's grip on one alloc runner.
pub(crate) struct AllocRunnerHandle {
    pub commands: mpsc::UnboundedSender<AllocCommand>,
    pub snapshot: watch::Receiver<AllocSnapshot>,
    pub join: JoinHandle<()>,
    /// The allocation's `AllocModifyIndex` last sent to the runner.
    pub alloc_modify_index: u64,
    /// The job version last sent to the runner.
    pub job_version: u64,
    /// A stop was already sent.
    pub stop_sent: bool,
}

/// Nomad's client status for a set of task states, with its description.
pub(crate) fn client_status_of(tasks: &BTreeMap<String, TaskState>) -> (&'static str, &'static str) {
    if tasks.values().any(|t| t.state == task_state::DEAD && t.failed) {
        return (client_status::FAILED, "Failed tasks");
    }
    if tasks.values().any(|t| t.state == task_state::RUNNING) {
        return (client_status::RUNNING, "Tasks are running");
    }
    if tasks.is_empty() || tasks.values().any(|t| t.state != task_state::DEAD) {
        return (client_status::PENDING, "No tasks have started");
    }
    (client_status::COMPLETE, "All tasks have completed")
}

/// Starts a runner for `persisted.alloc`; `restoring` re-attaches to tasks
/// recorded in `persisted` instead of starting them.
pub(crate) fn spawn(env: Arc<RunnerEnv>, persisted: PersistedAlloc, restoring: bool) -> AllocRunnerHandle {
    let (commands_tx, commands_rx) = mpsc::unbounded_channel();
    let (snapshot_tx, snapshot_rx) = watch::channel(AllocSnapshot::default());
    let alloc_modify_index = persisted.alloc.alloc_modify_index;
    let job_version = persisted.alloc.job_version;
    let alloc_id = persisted.alloc.id.clone();
    let inner_env = env.clone();
    let inner_snapshot = snapshot_tx.clone();
    let fallback = persisted.clone();
    let join = tokio::spawn(async move {
        let inner = tokio::spawn(async move {
            let mut runner = AllocRunner::new(inner_env, persisted, inner_snapshot);
            runner.run(restoring, commands_rx).await;
        });
        if let Err(e) = inner.await
            && e.is_panic()
        {
            tracing::error!(alloc_id = %alloc_id, "alloc runner panicked");
            let mut persisted = fallback;
            persisted.client_status = client_status::FAILED.to_string();
            persisted.client_description = "alloc runner panicked".to_string();
            let _ = env.store.save(&persisted);
            env.reporter.push(update_of(&persisted));
            let _ = snapshot_tx.send(AllocSnapshot { tasks: BTreeMap::new(), done: true });
        }
    });
    AllocRunnerHandle {
        commands: commands_tx,
        snapshot: snapshot_rx,
        join,
        alloc_modify_index,
        job_version,
        stop_sent: false,
    }
}

fn update_of(persisted: &PersistedAlloc) -> AllocClientUpdate {
    AllocClientUpdate {
        id: persisted.alloc.id.clone(),
        client_status: persisted.client_status.clone(),
        client_description: persisted.client_description.clone(),
        task_states: persisted.tasks.iter().map(|(name, t)| (name.clone(), t.state.clone())).collect(),
    }
}

struct AllocRunner {
    env: Arc<RunnerEnv>,
    persisted: PersistedAlloc,
    snapshot: watch::Sender<AllocSnapshot>,
    task_commands: BTreeMap<String, mpsc::UnboundedSender<TaskCommand>>,
    leaders: Vec<String>,
    siblings_killed: bool,
    /// State changed since the last save (and report).
    dirty: bool,
}

impl AllocRunner {
    fn new(env: Arc<RunnerEnv>, persisted: PersistedAlloc, snapshot: watch::Sender<AllocSnapshot>) -> AllocRunner {
        AllocRunner {
            env,
            persisted,
            snapshot,
            task_commands: BTreeMap::new(),
            leaders: Vec::new(),
            siblings_killed: false,
            dirty: true,
        }
    }

    async fn run(&mut self, restoring: bool, mut commands: mpsc::UnboundedReceiver<AllocCommand>) {
        if restoring && client_status::is_terminal(&self.persisted.client_status) {
            self.publish(true);
            return;
        }
        let alloc = self.persisted.alloc.clone();
        let Some(job) = alloc.job.clone() else {
            self.fail_alloc("allocation has no job");
            return;
        };
        let Some(group) = job.task_group(&alloc.task_group).cloned() else {
            self.fail_alloc(&format!("task group {:?} not found in job", alloc.task_group));
            return;
        };
        if group.tasks.is_empty() {
            self.fail_alloc("task group has no tasks");
            return;
        }
        let alloc_root = self.env.alloc_dir.join(&alloc.id);
        if let Err(e) = self.env.dirs.place(Layout::Alloc, &alloc_root) {
            let error = e.to_string();
            for task in &group.tasks {
                let mut state = TaskState { state: task_state::DEAD.to_string(), failed: true, ..TaskState::default() };
                let mut event = new_event(task_event::SETUP_FAILURE, error.clone());
                event.setup_error = error.clone();
                event.fails_task = true;
                state.events.push(event);
                self.persisted.tasks.insert(task.name.clone(), PersistedTask { state, ..PersistedTask::default() });
            }
            self.publish(true);
            return;
        }

        let restart_policy = group.restart_policy.clone().unwrap_or_else(|| RestartPolicy::for_job_type(job.job_type));
        let payload = Arc::new(job.payload.clone());
        let (updates_tx, mut updates_rx) = mpsc::unbounded_channel::<TaskUpdate>();
        let mut task_runners = JoinSet::new();
        let mut task_names: HashMap<tokio::task::Id, String> = HashMap::new();
        for task in &group.tasks {
            let env = build_task_env(TaskEnvInput {
                alloc: &alloc,
                job: &job,
                group: &group,
                task,
                node: &self.env.node,
                alloc_root: &alloc_root,
                base_env: &self.env.base_env,
            });
            let interpolator = Interpolator { env: &env, node: &self.env.node };
            let config = task.config.iter().map(|(k, v)| (k.clone(), interpolator.value(v))).collect();
            let ctx = TaskContext {
                alloc_id: alloc.id.clone(),
                task_name: task.name.clone(),
                config,
                env,
                task_dir: alloc_root.join(&task.name),
                logs_dir: alloc_root.join("alloc").join("logs"),
                log_config: task.log_config.unwrap_or(LogConfig::default()),
            };
            let restore = if restoring { self.persisted.tasks.get(&task.name).cloned() } else { None };
            let (command_tx, command_rx) = mpsc::unbounded_channel();
            self.task_commands.insert(task.name.clone(), command_tx);
            if task.leader {
                self.leaders.push(task.name.clone());
            }
            let args = TaskRunnerArgs {
                task: task.clone(),
                job_type: job.job_type,
                restart_policy: restart_policy.clone(),
                driver: self.env.drivers.get(&task.driver),
                ctx,
                dirs: self.env.dirs.clone(),
                payload: payload.clone(),
                restore,
                updates: updates_tx.clone(),
                commands: command_rx,
            };
            let abort = task_runners.spawn(task_runner::run(args));
            task_names.insert(abort.id(), task.name.clone());
        }

        loop {
            tokio::select! {
                biased;
                Some(update) = updates_rx.recv() => {
                    // Updates that arrived together (Received and Task Setup,
                    // Terminated and the final state) cost one save and report.
                    self.on_task_update(update);
                    self.take_pending_updates(&mut updates_rx);
                    self.publish(false);
                }
                command = commands.recv() => match command {
                    Some(AllocCommand::Update(alloc)) => {
                        let job_changed = alloc.job_version != self.persisted.alloc.job_version;
                        self.persisted.alloc = *alloc;
                        if job_changed {
                            tracing::debug!(alloc_id = %self.persisted.alloc.id, "in-place update to a new job version");
                        }
                        self.save();
                    }
                    Some(AllocCommand::Stop) => {
                        for command in self.task_commands.values() {
                            let event = new_event(task_event::KILLING, "");
                            let _ = command.send(TaskCommand::Kill { event: Box::new(event) });
                        }
                    }
                    Some(AllocCommand::RestartTasks) => {
                        for command in self.task_commands.values() {
                            let _ = command.send(TaskCommand::Restart);
                        }
                    }
                    Some(AllocCommand::Detach) | None => {
                        task_runners.abort_all();
                        return;
                    }
                },
                Some(joined) = task_runners.join_next_with_id() => {
                    self.take_pending_updates(&mut updates_rx);
                    if let Err(e) = joined {
                        let name = task_names.get(&e.id()).cloned().unwrap_or_default();
                        tracing::error!(alloc_id = %self.persisted.alloc.id, task = %name, error = %e, "task runner ended abnormally");
                        self.fail_task(&name, &format!("task runner failed: {e}"));
                    }
                    if task_runners.is_empty() {
                        self.publish(true);
                        return;
                    }
                    if self.dirty {
                        self.publish(false);
                    }
                }
            }
        }
    }

    /// Applies every update already queued; whether there was one.
    fn take_pending_updates(&mut self, updates: &mut mpsc::UnboundedReceiver<TaskUpdate>) -> bool {
        let mut any = false;
        while let Ok(update) = updates.try_recv() {
            self.on_task_update(update);
            any = true;
        }
        any
    }

    /// Records a task's new state and reacts to its death; the caller publishes.
    fn on_task_update(&mut self, update: TaskUpdate) {
        let name = update.task_name;
        let state = update.persisted.state.clone();
        self.persisted.tasks.insert(name.clone(), update.persisted);
        if state.state == task_state::DEAD {
            if state.failed && !self.siblings_killed {
                self.siblings_killed = true;
                let mut event = new_event(task_event::SIBLING_FAILED, format!("Task's sibling {name:?} failed"));
                event.failed_sibling = name.clone();
                self.kill_others(&name, event);
            } else if self.leaders.contains(&name) && !self.siblings_killed {
                self.siblings_killed = true;
                self.kill_others(&name, new_event(LEADER_DEAD, "Leader Task in Group dead"));
            }
        }
        self.dirty = true;
    }

    fn kill_others(&self, name: &str, event: drover_types::TaskEvent) {
        for (other, command) in &self.task_commands {
            let done = self.persisted.tasks.get(other).is_some_and(|t| t.state.state == task_state::DEAD);
            if other != name && !done {
                let _ = command.send(TaskCommand::Kill { event: Box::new(event.clone()) });
            }
        }
    }

    fn fail_task(&mut self, name: &str, message: &str) {
        let entry = self.persisted.tasks.entry(name.to_string()).or_default();
        entry.state.state = task_state::DEAD.to_string();
        entry.state.failed = true;
        entry.handle = None;
        let mut event = new_event(task_event::DRIVER_FAILURE, message);
        event.driver_error = message.to_string();
        event.fails_task = true;
        entry.state.events.push(event);
        self.dirty = true;
        self.publish(false);
    }

    fn fail_alloc(&mut self, message: &str) {
        tracing::warn!(alloc_id = %self.persisted.alloc.id, "{message}");
        self.persisted.client_status = client_status::FAILED.to_string();
        self.persisted.client_description = message.to_string();
        self.save();
        self.env.reporter.push(update_of(&self.persisted));
        self.snapshot.send_replace(AllocSnapshot { tasks: BTreeMap::new(), done: true });
    }

    /// Recomputes the client status, persists and reports it if anything
    /// changed since the last time, and shows the state.
    fn publish(&mut self, done: bool) {
        let tasks: BTreeMap<String, TaskState> =
            self.persisted.tasks.iter().map(|(name, t)| (name.clone(), t.state.clone())).collect();
        if self.dirty {
            let (status, description) = client_status_of(&tasks);
            self.persisted.client_status = status.to_string();
            self.persisted.client_description = description.to_string();
            self.save();
            self.env.reporter.push(update_of(&self.persisted));
        }
        self.snapshot.send_replace(AllocSnapshot { tasks, done });
    }

    fn save(&mut self) {
        self.dirty = false;
        if let Err(e) = self.env.store.save(&self.persisted) {
            tracing::warn!(alloc_id = %self.persisted.alloc.id, error = %e, "error saving alloc state");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(state: &str, failed: bool) -> TaskState {
        TaskState { state: state.to_string(), failed, ..TaskState::default() }
    }

    #[test]
    fn client_status_table() {
        let check = |tasks: &[(&str, TaskState)], expect: &str| {
            let tasks: BTreeMap<String, TaskState> = tasks.iter().map(|(n, t)| (n.to_string(), t.clone())).collect();
            assert_eq!(client_status_of(&tasks).0, expect, "{tasks:?}");
        };
        check(&[], client_status::PENDING);
        check(&[("a", task("pending", false))], client_status::PENDING);
        check(&[("a", task("running", false)), ("b", task("pending", false))], client_status::RUNNING);
        check(&[("a", task("dead", false)), ("b", task("running", false))], client_status::RUNNING);
        check(&[("a", task("dead", false)), ("b", task("dead", false))], client_status::COMPLETE);
        check(&[("a", task("dead", true)), ("b", task("running", false))], client_status::FAILED);
        check(&[("a", task("dead", false)), ("b", task("pending", false))], client_status::PENDING);
    }
}
