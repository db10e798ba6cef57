//! The task runner: one tokio task per task of an allocation. It builds the
//! task dir, starts the task through its driver, waits for it, applies the
//! restart policy ([`crate::restart::decide`]) and kills it on request,
//! recording Nomad's task events. Every state change goes to the alloc runner
//! as a [`TaskUpdate`], which persists and reports it.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::sync::mpsc;

use drover_types::{
    DEFAULT_KILL_TIMEOUT, JobType, RestartPolicy, Task, TaskEvent, format_duration, nanos_to_duration, now_nanos,
    task_event, task_state,
};

use crate::dir_pool::{DirPool, Layout};
use crate::driver::{Driver, DriverError, ExitResult, HandleState, TaskContext, TaskHandle, parse_signal};
use crate::restart::{RestartDecision, RestartInput, RunOutcome, decide};
use crate::state::PersistedTask;

/// Events kept per task.
pub(crate) const MAX_EVENTS: usize = 20;
/// Event type of a user-requested restart.
pub(crate) const RESTART_SIGNALED: &str = "Restart Signaled";
/// Event type when the group's leader task died.
pub(crate) const LEADER_DEAD: &str = "Leader Task Dead";

/// What the alloc runner asks a task runner to do.
#[derive(Debug, Clone)]
pub(crate) enum TaskCommand {
    /// Stop for good; `event` says why (Killing, Sibling Task Failed, Leader Task Dead).
    Kill {
        /// The first event recorded.
        event: Box<TaskEvent>,
    },
    /// Restart in place (user request); does not count against the policy.
    Restart,
}

/// A task's new state, sent to the alloc runner after every change.
#[derive(Debug, Clone)]
pub(crate) struct TaskUpdate {
    /// The task.
    pub task_name: String,
    /// Its whole state.
    pub persisted: PersistedTask,
}

/// Everything a task runner is started with.
pub(crate) struct TaskRunnerArgs {
    pub task: Task,
    pub job_type: JobType,
    pub restart_policy: RestartPolicy,
    /// `None` when the driver is unknown on this client.
    pub driver: Option<Arc<dyn Driver>>,
    pub ctx: TaskContext,
    /// Makes the task dir.
    pub dirs: Arc<DirPool>,
    /// The dispatch payload (empty if none).
    pub payload: Arc<Vec<u8>>,
    /// State from before a client restart.
    pub restore: Option<PersistedTask>,
    pub updates: mpsc::UnboundedSender<TaskUpdate>,
    pub commands: mpsc::UnboundedReceiver<TaskCommand>,
}

/// A new event with its display message (also used as the message).
pub(crate) fn new_event(event_type: &str, display: impl Into<String>) -> TaskEvent {
    let display = display.into();
    let mut event = TaskEvent::new(event_type, now_nanos(), display.clone());
    event.message = display;
    event
}

/// Where the dispatch payload goes: `file` under `local_dir`, refusing
/// absolute paths and paths that climb out of it.
pub fn payload_path(local_dir: &Path, file: &str) -> Result<PathBuf, String> {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for component in Path::new(file).components() {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                if parts.pop().is_none() {
                    return Err(format!("destination escapes allocation directory: {file:?}"));
                }
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!("invalid destination path: {file:?} must be relative to local/"));
            }
        }
    }
    if parts.is_empty() {
        return Err(format!("invalid destination path: {file:?}"));
    }
    Ok(parts.iter().fold(local_dir.to_path_buf(), |path, part| path.join(part)))
}

/// Runs one task to its end.
pub(crate) async fn run(args: TaskRunnerArgs) {
    let mut runner = TaskRunner {
        task: args.task,
        job_type: args.job_type,
        restart_policy: args.restart_policy,
        driver: args.driver,
        ctx: args.ctx,
        dirs: args.dirs,
        payload: args.payload,
        updates: args.updates,
        commands: args.commands,
        state: PersistedTask::default(),
        handle: None,
    };
    runner.run(args.restore).await;
}

enum Step {
    Start,
    Wait,
    Decide(RunOutcome),
}

struct TaskRunner {
    task: Task,
    job_type: JobType,
    restart_policy: RestartPolicy,
    driver: Option<Arc<dyn Driver>>,
    ctx: TaskContext,
    dirs: Arc<DirPool>,
    payload: Arc<Vec<u8>>,
    updates: mpsc::UnboundedSender<TaskUpdate>,
    commands: mpsc::UnboundedReceiver<TaskCommand>,
    state: PersistedTask,
    handle: Option<Box<dyn TaskHandle>>,
}

impl TaskRunner {
    async fn run(&mut self, restore: Option<PersistedTask>) {
        let first = match restore {
            Some(restored) => match self.restore(restored) {
                Some(step) => step,
                None => return,
            },
            None => {
                self.state.state.state = task_state::PENDING.to_string();
                self.emit(new_event(task_event::RECEIVED, "Task received by client"));
                if let Some(step) = self.adopt_unrecorded() {
                    self.main_loop(step).await;
                    return;
                }
                self.emit(new_event(task_event::TASK_SETUP, "Building Task Directory"));
                if let Err(e) = self.setup() {
                    let mut event = new_event(task_event::SETUP_FAILURE, e.clone());
                    event.setup_error = e;
                    event.fails_task = true;
                    self.finish(event, true);
                    return;
                }
                Step::Start
            }
        };
        self.main_loop(first).await;
    }

    /// Takes over state from before a client restart; `None` if the task is done.
    fn restore(&mut self, restored: PersistedTask) -> Option<Step> {
        self.state = restored;
        if self.state.state.state == task_state::DEAD {
            self.send();
            return None;
        }
        let Some(driver) = self.driver.clone() else {
            self.state.handle = None;
            self.send();
            return Some(Step::Start);
        };
        let handle_state = match self.state.handle.clone() {
            Some(handle_state) => Some(handle_state),
            // Started but not recorded: the client died right after the start
            // (of the first run, if the task never got recorded as started).
            None if self.state.state.state == task_state::RUNNING || self.state.state.started_at == 0 => {
                driver.find_unrecorded(&self.ctx)
            }
            None => None,
        };
        let Some(handle_state) = handle_state else {
            self.send();
            return Some(Step::Start);
        };
        Some(self.attach(driver.as_ref(), &handle_state))
    }

    /// For a task this client has no record of: if an earlier client process
    /// started it and died before recording anything (the task dir holds the
    /// status file its executor wrote; task dirs belong to one allocation),
    /// re-attaches to it instead of starting it a second time.
    fn adopt_unrecorded(&mut self) -> Option<Step> {
        let driver = self.driver.clone()?;
        let handle_state = driver.find_unrecorded(&self.ctx)?;
        tracing::info!(alloc_id = %self.ctx.alloc_id, task = %self.task.name, "re-attaching to a task started by an earlier client");
        let step = self.attach(driver.as_ref(), &handle_state);
        if matches!(step, Step::Wait) {
            self.state.state.started_at = now_nanos();
            self.emit(new_event(task_event::STARTED, "Task started by an earlier client process"));
        }
        Some(step)
    }

    /// Re-attaches to a running (or finished) task from its handle.
    fn attach(&mut self, driver: &dyn Driver, handle_state: &HandleState) -> Step {
        match driver.recover(handle_state) {
            Ok(handle) => {
                self.state.handle = Some(handle.state());
                self.state.state.state = task_state::RUNNING.to_string();
                self.handle = Some(handle);
                self.send();
                Step::Wait
            }
            Err(e) => {
                self.state.handle = None;
                let mut event = new_event(task_event::FAILED_RESTORING, format!("failed to restore task: {e}"));
                event.driver_error = e.to_string();
                self.emit(event);
                Step::Decide(RunOutcome::Failure)
            }
        }
    }

    fn setup(&self) -> Result<(), String> {
        self.dirs.place(Layout::Task, &self.ctx.task_dir).map_err(|e| e.to_string())?;
        let file = self.task.dispatch_payload.as_ref().map(|p| p.file.as_str()).unwrap_or("");
        if self.payload.is_empty() || file.is_empty() {
            return Ok(());
        }
        let path = payload_path(&self.ctx.task_dir.join("local"), file)?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("failed to create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, self.payload.as_slice())
            .map_err(|e| format!("failed to write dispatch payload to {}: {e}", path.display()))
    }

    async fn main_loop(&mut self, first: Step) {
        let mut step = first;
        loop {
            step = match step {
                Step::Start => self.start().await,
                Step::Wait => match self.wait().await {
                    Some(step) => step,
                    None => return,
                },
                Step::Decide(outcome) => match self.decide(outcome).await {
                    Some(step) => step,
                    None => return,
                },
            };
        }
    }

    async fn start(&mut self) -> Step {
        let Some(driver) = self.driver.clone() else {
            let message =
                format!("failed to start task: driver {:?} is not available on this client", self.task.driver);
            let mut event = new_event(task_event::DRIVER_FAILURE, message.clone());
            event.driver_error = message;
            self.emit(event);
            return Step::Decide(RunOutcome::Unrecoverable);
        };
        match driver.start(&self.ctx).await {
            Ok(handle) => {
                let now = now_nanos();
                self.state.handle = Some(handle.state());
                self.handle = Some(handle);
                self.state.state.state = task_state::RUNNING.to_string();
                if self.state.state.started_at == 0 {
                    self.state.state.started_at = now;
                }
                self.emit(new_event(task_event::STARTED, "Task started by client"));
                Step::Wait
            }
            Err(e) => {
                let mut event = new_event(task_event::DRIVER_FAILURE, e.to_string());
                event.driver_error = e.to_string();
                self.emit(event);
                match e {
                    DriverError::Unrecoverable(_) => Step::Decide(RunOutcome::Unrecoverable),
                    _ => Step::Decide(RunOutcome::Failure),
                }
            }
        }
    }

    /// Waits for the task to exit or a command; `None` when the runner is done.
    async fn wait(&mut self) -> Option<Step> {
        let Some(handle) = self.handle.as_mut() else { return Some(Step::Start) };
        let result = tokio::select! {
            biased;
            command = self.commands.recv() => Err(command),
            result = handle.wait() => Ok(result),
        };
        match result {
            Err(None) => None, // the alloc runner is gone: detach
            Err(Some(TaskCommand::Kill { event })) => {
                self.kill(*event).await;
                None
            }
            Err(Some(TaskCommand::Restart)) => {
                self.emit(new_event(RESTART_SIGNALED, "User requested restart"));
                self.stop_running(false).await;
                self.restarting(0, "User requested restart", false);
                Some(Step::Start)
            }
            Ok(result) => {
                self.handle = None;
                self.state.handle = None;
                match result {
                    Ok(exit) => {
                        self.emit(terminated_event(exit));
                        Some(Step::Decide(if exit.successful() { RunOutcome::Success } else { RunOutcome::Failure }))
                    }
                    Err(e) => {
                        let mut event = new_event(task_event::DRIVER_FAILURE, e.to_string());
                        event.driver_error = e.to_string();
                        self.emit(event);
                        Some(Step::Decide(RunOutcome::Failure))
                    }
                }
            }
        }
    }

    async fn decide(&mut self, outcome: RunOutcome) -> Option<Step> {
        let now = now_nanos();
        let decision = decide(RestartInput {
            policy: &self.restart_policy,
            job_type: self.job_type,
            restart_times: &self.state.restart_times,
            now,
            outcome,
            jitter: rand::random::<f64>() * 0.25,
        });
        match decision {
            RestartDecision::Completed => {
                self.state.state.state = task_state::DEAD.to_string();
                self.state.state.finished_at = now;
                self.send();
                None
            }
            RestartDecision::NotRestarting { reason, failed } => {
                let mut event = new_event(task_event::NOT_RESTARTING, reason.clone());
                event.restart_reason = reason;
                event.fails_task = failed;
                self.finish(event, failed);
                None
            }
            RestartDecision::Restart { delay, reason } => {
                self.restarting(delay, &reason, true);
                tokio::select! {
                    biased;
                    command = self.commands.recv() => match command {
                        None => return None,
                        Some(TaskCommand::Kill { event }) => {
                            self.kill(*event).await;
                            return None;
                        }
                        Some(TaskCommand::Restart) => {
                            self.emit(new_event(RESTART_SIGNALED, "User requested restart"));
                        }
                    },
                    _ = tokio::time::sleep(nanos_to_duration(delay)) => {}
                }
                Some(Step::Start)
            }
        }
    }

    fn restarting(&mut self, delay: i64, reason: &str, counted: bool) {
        let now = now_nanos();
        if counted {
            let window_start = now.saturating_sub(self.restart_policy.interval);
            self.state.restart_times.retain(|t| *t > window_start);
            self.state.restart_times.push(now);
        }
        self.state.state.restarts += 1;
        self.state.state.last_restart = now;
        self.state.state.state = task_state::PENDING.to_string();
        let mut event = new_event(task_event::RESTARTING, format!("Task restarting in {}", format_duration(delay)));
        event.start_delay = delay;
        event.restart_reason = reason.to_string();
        self.emit(event);
    }

    /// Stops the task for good, recording `event` first.
    async fn kill(&mut self, event: TaskEvent) {
        let is_killing = event.event_type == task_event::KILLING;
        let event = if is_killing { self.killing_event() } else { event };
        self.emit(event);
        if self.handle.is_some() {
            self.stop_running(!is_killing).await;
        }
        let event = new_event(task_event::KILLED, "Task successfully killed");
        self.finish(event, false);
    }

    fn kill_timeout(&self) -> i64 {
        if self.task.kill_timeout > 0 { self.task.kill_timeout } else { DEFAULT_KILL_TIMEOUT }
    }

    fn killing_event(&self) -> TaskEvent {
        let timeout = self.kill_timeout();
        let mut event = new_event(
            task_event::KILLING,
            format!("Sent interrupt. Waiting {} before force killing", format_duration(timeout)),
        );
        event.kill_timeout = timeout;
        event
    }

    /// Signals the running task, escalates to SIGKILL after the kill timeout,
    /// and records its exit.
    async fn stop_running(&mut self, emit_killing: bool) {
        if emit_killing {
            let event = self.killing_event();
            self.emit(event);
        }
        let timeout = nanos_to_duration(self.kill_timeout());
        let signal = parse_signal(&self.task.kill_signal).unwrap_or(Signal::SIGTERM);
        let Some(handle) = self.handle.as_mut() else { return };
        let _ = handle.signal(signal);
        let result = match tokio::time::timeout(timeout, handle.wait()).await {
            Ok(result) => result,
            Err(_) => {
                let _ = handle.signal(Signal::SIGKILL);
                match tokio::time::timeout(Duration::from_secs(30), handle.wait()).await {
                    Ok(result) => result,
                    Err(_) => Err(DriverError::Lost("task did not die after SIGKILL".to_string())),
                }
            }
        };
        self.handle = None;
        self.state.handle = None;
        match result {
            Ok(exit) => self.emit(terminated_event(exit)),
            Err(e) => {
                let mut event = new_event(task_event::DRIVER_FAILURE, e.to_string());
                event.driver_error = e.to_string();
                self.emit(event);
            }
        }
    }

    /// Marks the task dead with a final event.
    fn finish(&mut self, event: TaskEvent, failed: bool) {
        self.state.state.state = task_state::DEAD.to_string();
        self.state.state.failed = self.state.state.failed || failed;
        self.state.state.finished_at = now_nanos();
        self.state.handle = None;
        self.emit(event);
    }

    fn emit(&mut self, event: TaskEvent) {
        let events = &mut self.state.state.events;
        events.push(event);
        if events.len() > MAX_EVENTS {
            let n_extra = events.len() - MAX_EVENTS;
            events.drain(..n_extra);
        }
        self.send();
    }

    fn send(&self) {
        let _ = self.updates.send(TaskUpdate { task_name: self.task.name.clone(), persisted: self.state.clone() });
    }
}

fn terminated_event(exit: ExitResult) -> TaskEvent {
    let display = if exit.signal != 0 {
        format!("Exit Code: {}, Signal: {}", exit.exit_code, exit.signal)
    } else {
        format!("Exit Code: {}", exit.exit_code)
    };
    let mut event = new_event(task_event::TERMINATED, display);
    event.exit_code = exit.exit_code;
    event.signal = exit.signal;
    event.details.insert("exit_code".to_string(), exit.exit_code.to_string());
    event.details.insert("signal".to_string(), exit.signal.to_string());
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_paths_stay_under_local() {
        let local = Path::new("/a/t/local");
        let check = |file: &str, expect: Result<&str, ()>| {
            let got = payload_path(local, file).map(|p| p.display().to_string()).map_err(|_| ());
            assert_eq!(got.as_deref().map_err(|_| ()), expect, "{file}");
        };
        check("input.json", Ok("/a/t/local/input.json"));
        check("in/put.json", Ok("/a/t/local/in/put.json"));
        check("./x/../y", Ok("/a/t/local/y"));
        check("../secrets/x", Err(()));
        check("a/../../x", Err(()));
        check("/etc/passwd", Err(()));
        check("", Err(()));
        check("..", Err(()));
    }

    #[test]
    fn terminated_messages() {
        assert_eq!(terminated_event(ExitResult { exit_code: 3, signal: 0 }).display_message, "Exit Code: 3");
        let killed = terminated_event(ExitResult { exit_code: 137, signal: 9 });
        assert_eq!(killed.display_message, "Exit Code: 137, Signal: 9");
        assert_eq!((killed.exit_code, killed.signal), (137, 9));
    }
}
