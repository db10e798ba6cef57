//! The raw_exec driver: runs a command as the client's user through an
//! executor process (see [`crate::executor`]), so the task survives a client
//! restart. Exit is learned from the executor's exit file; stopping signals
//! the task's process group directly.
//!
//! Starting an executor (fork, exec, loading) is about a millisecond on the
//! path from a placement to the task's first instruction, so the driver keeps
//! one spare executor started ahead, waiting for its spec on stdin, and
//! starts the next spare in the background when it hands one out. A spare
//! that is not used exits when the driver is dropped (its stdin closes).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use super::{BoxFuture, Driver, DriverError, ExitResult, HandleState, TaskContext, TaskHandle};
use crate::executor::{ExecutorReport, ExecutorSpec, process_alive, read_exit_file};

/// How often a re-attached task's exit file is checked.
const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// The raw_exec driver.
#[derive(Debug, Clone)]
pub struct RawExecDriver {
    executor_path: PathBuf,
    spare: Arc<Mutex<SpareSlot>>,
}

/// An executor started ahead of need, waiting for its spec.
#[derive(Debug)]
struct Executor {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    stdout: tokio::process::ChildStdout,
}

/// The driver's spare executor, and whether one is being started.
#[derive(Debug, Default)]
struct SpareSlot {
    ready: Option<Executor>,
    starting: bool,
}

impl RawExecDriver {
    /// A driver spawning `<executor_path> executor -` (the spec on stdin).
    pub fn new(executor_path: PathBuf) -> RawExecDriver {
        RawExecDriver { executor_path, spare: Arc::default() }
    }

    /// Starts an executor in `cwd`; it waits for its spec on stdin.
    fn spawn_executor(executor_path: &Path, cwd: &Path) -> Result<Executor, DriverError> {
        // The spec goes through a pipe rather than a file: one file less to
        // create per task start. The executor notes later failures in
        // executor.log itself, so its stderr is not needed.
        let mut child = tokio::process::Command::new(executor_path)
            .arg("executor")
            .arg("-")
            .env_clear()
            .current_dir(cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                DriverError::Recoverable(format!("error starting executor {}: {e}", executor_path.display()))
            })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(DriverError::Recoverable("executor stdin or stdout not captured".to_string()));
        };
        Ok(Executor { child, stdin, stdout })
    }

    /// The spare executor if one is ready and alive; starts the next one in
    /// the background either way.
    fn take_spare(&self) -> Option<Executor> {
        let taken = {
            let mut slot = self.spare.lock().unwrap_or_else(PoisonError::into_inner);
            let taken = slot.ready.take();
            if slot.starting {
                return taken.and_then(alive);
            }
            slot.starting = true;
            taken
        };
        let slot = self.spare.clone();
        let executor_path = self.executor_path.clone();
        tokio::task::spawn_blocking(move || {
            // A spare pins no allocation's dir: its task's paths are absolute.
            let started = Self::spawn_executor(&executor_path, Path::new("/"));
            let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
            slot.starting = false;
            match started {
                Ok(executor) => slot.ready = Some(executor),
                Err(e) => tracing::debug!(error = %e, "could not start a spare executor"),
            }
        });
        taken.and_then(alive)
    }
}

/// The executor, unless it already exited (killed from outside).
fn alive(mut executor: Executor) -> Option<Executor> {
    matches!(executor.child.try_wait(), Ok(None)).then_some(executor)
}

/// What raw_exec persists per running task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct RawExecState {
    /// The executor's pid and start time, the task's pid and group.
    pub report: ExecutorReport,
    /// The executor's exit file.
    pub exit_file: PathBuf,
}

impl Driver for RawExecDriver {
    fn name(&self) -> &'static str {
        "raw_exec"
    }

    fn start<'a>(&'a self, ctx: &'a TaskContext) -> BoxFuture<'a, Result<Box<dyn TaskHandle>, DriverError>> {
        Box::pin(async move {
            let handle: Box<dyn TaskHandle> = Box::new(self.start_task(ctx).await?);
            Ok(handle)
        })
    }

    fn recover(&self, state: &HandleState) -> Result<Box<dyn TaskHandle>, DriverError> {
        let state: RawExecState = serde_json::from_value(state.data.clone())
            .map_err(|e| DriverError::Recover(format!("invalid raw_exec handle: {e}")))?;
        if read_exit_file(&state.exit_file).is_none()
            && !process_alive(state.report.executor_pid, state.report.executor_start_time)
        {
            return Err(DriverError::Recover(format!(
                "executor (pid {}) is gone and left no exit status",
                state.report.executor_pid
            )));
        }
        Ok(Box::new(RawExecHandle { state, child: None }))
    }

    fn find_unrecorded(&self, ctx: &TaskContext) -> Option<HandleState> {
        let bytes = std::fs::read(ctx.task_dir.join("executor.pid")).ok()?;
        let report: ExecutorReport = serde_json::from_slice(&bytes).ok()?;
        let state = RawExecState { report, exit_file: ctx.task_dir.join("exit.json") };
        Some(HandleState { driver: "raw_exec".to_string(), data: serde_json::to_value(state).ok()? })
    }
}

impl RawExecDriver {
    async fn start_task(&self, ctx: &TaskContext) -> Result<RawExecHandle, DriverError> {
        let command = match ctx.config.get("command") {
            Some(serde_json::Value::String(command)) if !command.is_empty() => command.clone(),
            Some(serde_json::Value::String(_)) | None => {
                return Err(DriverError::Unrecoverable("missing command".to_string()));
            }
            Some(_) => return Err(DriverError::Unrecoverable("command must be a string".to_string())),
        };
        let args = match ctx.config.get("args") {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(serde_json::Value::Array(values)) => values
                .iter()
                .map(|value| match value {
                    serde_json::Value::String(text) => Ok(text.clone()),
                    serde_json::Value::Number(n) => Ok(n.to_string()),
                    serde_json::Value::Bool(b) => Ok(b.to_string()),
                    _ => Err(DriverError::Unrecoverable("args must be a list of strings".to_string())),
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => return Err(DriverError::Unrecoverable("args must be a list of strings".to_string())),
        };
        let pid_file = ctx.task_dir.join("executor.pid");
        let exit_file = ctx.task_dir.join("exit.json");
        // A previous run's files would be mistaken for this one's.
        let _ = std::fs::remove_file(&exit_file);
        let _ = std::fs::remove_file(&pid_file);
        let spec = ExecutorSpec {
            command,
            args,
            env: ctx.env.clone(),
            cwd: ctx.task_dir.clone(),
            logs_dir: ctx.logs_dir.clone(),
            stdout_base: ctx.stdout_base(),
            stderr_base: ctx.stderr_base(),
            max_files: ctx.log_config.max_files.max(1),
            max_file_bytes: ctx.max_log_bytes(),
            pid_file,
            exit_file: exit_file.clone(),
        };
        let bytes = serde_json::to_vec(&spec).map_err(|e| DriverError::Recoverable(e.to_string()))?;
        // A spare runs in `/`, so it can serve only a task whose paths do not
        // depend on the executor's working dir.
        let spare = if spec_paths_absolute(&spec) { self.take_spare() } else { None };
        let Executor { mut child, mut stdin, stdout } = match spare {
            Some(executor) => executor,
            None => Self::spawn_executor(&self.executor_path, &ctx.task_dir)?,
        };
        // A failed write means the executor died; reading its report says how.
        let _ = stdin.write_all(&bytes).await;
        drop(stdin);
        let mut line = String::new();
        let n_read = tokio::io::BufReader::new(stdout)
            .read_line(&mut line)
            .await
            .map_err(|e| DriverError::Recoverable(format!("error reading from executor: {e}")))?;
        if n_read == 0 {
            let status = child.wait().await.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
            return Err(DriverError::Recoverable(format!(
                "executor {} exited before starting the task ({status})",
                self.executor_path.display()
            )));
        }
        let report: ExecutorReport = serde_json::from_str(line.trim())
            .map_err(|e| DriverError::Recoverable(format!("invalid executor report {line:?}: {e}")))?;
        if let Some(error) = report.error {
            let _ = child.wait().await;
            return Err(DriverError::Unrecoverable(error));
        }
        Ok(RawExecHandle { state: RawExecState { report, exit_file }, child: Some(child) })
    }
}

/// Whether every path of `spec` is absolute.
fn spec_paths_absolute(spec: &ExecutorSpec) -> bool {
    [&spec.cwd, &spec.logs_dir, &spec.pid_file, &spec.exit_file].iter().all(|path| path.is_absolute())
}

/// A task run by an executor: our child (freshly started) or not (re-attached).
struct RawExecHandle {
    state: RawExecState,
    child: Option<tokio::process::Child>,
}

impl RawExecHandle {
    async fn wait_exit(&mut self) -> Result<ExitResult, DriverError> {
        if let Some(child) = self.child.as_mut() {
            let _ = child.wait().await;
            self.child = None;
            return self.exit_after_executor_died();
        }
        loop {
            if let Some(exit) = read_exit_file(&self.state.exit_file) {
                return Ok(ExitResult { exit_code: exit.exit_code, signal: exit.signal });
            }
            if !process_alive(self.state.report.executor_pid, self.state.report.executor_start_time) {
                return self.exit_after_executor_died();
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    fn exit_after_executor_died(&self) -> Result<ExitResult, DriverError> {
        match read_exit_file(&self.state.exit_file) {
            Some(exit) => Ok(ExitResult { exit_code: exit.exit_code, signal: exit.signal }),
            None => Err(DriverError::Lost(format!(
                "executor (pid {}) exited without writing the task's exit status",
                self.state.report.executor_pid
            ))),
        }
    }
}

impl TaskHandle for RawExecHandle {
    fn wait(&mut self) -> BoxFuture<'_, Result<ExitResult, DriverError>> {
        Box::pin(self.wait_exit())
    }

    fn signal(&self, signal: Signal) -> Result<(), DriverError> {
        match killpg(Pid::from_raw(self.state.report.task_pgid), signal) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
            Err(e) => Err(DriverError::Lost(format!("error sending {signal} to the task: {e}"))),
        }
    }

    fn state(&self) -> HandleState {
        HandleState {
            driver: "raw_exec".to_string(),
            data: serde_json::to_value(&self.state).unwrap_or(serde_json::Value::Null),
        }
    }
}
