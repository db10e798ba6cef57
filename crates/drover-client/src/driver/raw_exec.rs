//! The raw_exec driver: runs a command as the client's user through the
//! client's executor (see [`crate::executor`]), one long-lived process that
//! runs every raw_exec task, so tasks survive a client restart. A fresh task's
//! exit comes as the last line on its connection to the executor; a
//! re-attached task's exit is read from its exit file. Stopping signals the
//! task's process group directly.
//!
//! The driver starts the executor with its first task (or finds one still
//! serving from before a client restart) and keeps a hold connection open to
//! it for as long as the driver lives; once that closes and the last task has
//! ended, the executor exits.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

use super::{BoxFuture, Driver, DriverError, ExitResult, HandleState, TaskContext, TaskHandle};
use crate::executor::{
    ExecutorReport, ExecutorSpec, ExitFile, Ready, Request, STATUS_FILE, json_line, peer_is_same_user, process_alive,
    read_exit_file, read_report, socket_addr, socket_name,
};

/// How often a re-attached task's exit file is checked.
const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// Tries to reach a serving executor before a start fails (an executor that
/// is exiting as idle refuses or drops connections until the next one binds).
const CONNECT_ATTEMPTS: u32 = 6;

/// The raw_exec driver.
#[derive(Debug, Clone)]
pub struct RawExecDriver {
    executor_path: PathBuf,
    socket_name: String,
    /// Serialises starting an executor, so a burst of first tasks starts one.
    starting: Arc<tokio::sync::Mutex<()>>,
    /// The connection that keeps the executor alive while this driver lives.
    hold: Arc<Mutex<Option<std::os::unix::net::UnixStream>>>,
}

impl RawExecDriver {
    /// A driver whose executor is `<executor_path> executor serve <name>`,
    /// the name derived from `home` (the client's data dir: one executor per
    /// client).
    pub fn new(executor_path: PathBuf, home: &Path) -> RawExecDriver {
        RawExecDriver { executor_path, socket_name: socket_name(home), starting: Arc::default(), hold: Arc::default() }
    }

    /// Sends `request` (a run) to the executor, starting one if none serves,
    /// and returns the connection with the executor's first answer.
    async fn request(&self, request: &[u8]) -> Result<(ExecutorConnection, ExecutorReport), DriverError> {
        let mut last_error = String::new();
        for attempt in 0..CONNECT_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt))).await;
            }
            let stream = match connect(&self.socket_name) {
                Ok(stream) => stream,
                // Another user holds the name: starting executors will not help.
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    return Err(DriverError::Recoverable(e.to_string()));
                }
                Err(e) => {
                    last_error = format!("error connecting to the executor: {e}");
                    self.start_executor().await?;
                    continue;
                }
            };
            self.ensure_hold();
            let mut connection = ExecutorConnection { stream, buffer: Vec::new() };
            if let Err(e) = connection.stream.write_all(request).await {
                last_error = format!("error sending the task to the executor: {e}");
                continue;
            }
            match connection.read_line::<ExecutorReport>().await {
                Ok(report) => return Ok((connection, report)),
                Err(e) => last_error = e,
            }
        }
        Err(DriverError::Recoverable(format!(
            "executor {} did not take the task: {last_error}",
            self.executor_path.display()
        )))
    }

    /// Starts an executor unless one serves by now; returns once it serves.
    async fn start_executor(&self) -> Result<(), DriverError> {
        let _starting = self.starting.lock().await;
        if connect(&self.socket_name).is_ok() {
            return Ok(());
        }
        let mut child = tokio::process::Command::new(&self.executor_path)
            .args(["executor", "serve", &self.socket_name])
            .env_clear()
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                DriverError::Recoverable(format!("error starting executor {}: {e}", self.executor_path.display()))
            })?;
        let Some(stdout) = child.stdout.take() else {
            return Err(DriverError::Recoverable("executor stdout not captured".to_string()));
        };
        let mut line = String::new();
        let read = tokio::io::BufReader::new(stdout).read_line(&mut line).await;
        if !matches!(read, Ok(n) if n > 0) {
            let status = child.wait().await.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
            return Err(DriverError::Recoverable(format!(
                "executor {} exited before serving ({status})",
                self.executor_path.display()
            )));
        }
        let ready: Ready = serde_json::from_str(line.trim())
            .map_err(|e| DriverError::Recoverable(format!("invalid executor answer {line:?}: {e}")))?;
        if let Some(error) = ready.error {
            return Err(DriverError::Recoverable(error));
        }
        // A new executor: the hold on any earlier one is stale. The child is
        // reaped by the runtime when it exits; it outlives this client.
        self.hold.lock().unwrap_or_else(PoisonError::into_inner).take();
        drop(child);
        Ok(())
    }

    /// Opens the hold connection unless one is open.
    fn ensure_hold(&self) {
        let mut hold = self.hold.lock().unwrap_or_else(PoisonError::into_inner);
        if hold.is_some() {
            return;
        }
        let Ok(mut stream) = connect_std(&self.socket_name) else { return };
        if std::io::Write::write_all(&mut stream, &json_line(&Request::Hold)).is_ok() {
            *hold = Some(stream);
        }
    }
}

/// A connection to the executor, refused unless the process serving the
/// name runs as this client's user (a name squatted by another user would
/// otherwise receive the tasks' specs and environment).
fn connect_std(name: &str) -> std::io::Result<std::os::unix::net::UnixStream> {
    let stream = std::os::unix::net::UnixStream::connect_addr(&socket_addr(name)?)?;
    if !peer_is_same_user(&stream) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("the executor socket {name:?} is served by another user's process"),
        ));
    }
    Ok(stream)
}

/// A connection to the executor (see [`connect_std`]), handed to the
/// runtime.
fn connect(name: &str) -> std::io::Result<tokio::net::UnixStream> {
    let stream = connect_std(name)?;
    stream.set_nonblocking(true)?;
    tokio::net::UnixStream::from_std(stream)
}

/// A run connection to the executor and what was read from it but not yet
/// consumed: reading a line is cancel safe.
#[derive(Debug)]
struct ExecutorConnection {
    stream: tokio::net::UnixStream,
    buffer: Vec<u8>,
}

impl ExecutorConnection {
    /// The next JSON line from the executor.
    async fn read_line<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, String> {
        loop {
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                return serde_json::from_slice(&line).map_err(|e| {
                    format!("invalid executor answer {:?}: {e}", String::from_utf8_lossy(&line).trim_end())
                });
            }
            let mut chunk = [0u8; 512];
            match self.stream.read(&mut chunk).await {
                Ok(0) => return Err("the executor closed the connection".to_string()),
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(e) => return Err(format!("error reading from the executor: {e}")),
            }
        }
    }
}

/// What raw_exec persists per running task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct RawExecState {
    /// The executor's pid and start time, the task's pid and group.
    pub report: ExecutorReport,
    /// The task's status file, whose second line is its exit status
    /// (`exit.json` for a task started by a per-task executor).
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
        Ok(Box::new(RawExecHandle { state, connection: None }))
    }

    fn find_unrecorded(&self, ctx: &TaskContext) -> Option<HandleState> {
        let status_file = ctx.task_dir.join(STATUS_FILE);
        let report = read_report(&status_file)?;
        let state = RawExecState { report, exit_file: status_file };
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
        // The executor runs in `/`: every path it gets is absolute.
        let task_dir = absolute(&ctx.task_dir)?;
        let status_file = task_dir.join(STATUS_FILE);
        // A previous run's status would be mistaken for this one's; emptied
        // rather than removed (the executor writes the same file again).
        let _ = std::fs::OpenOptions::new().write(true).truncate(true).open(&status_file);
        let spec = ExecutorSpec {
            command,
            args,
            env: ctx.env.clone(),
            cwd: task_dir,
            logs_dir: absolute(&ctx.logs_dir)?,
            stdout_base: ctx.stdout_base(),
            stderr_base: ctx.stderr_base(),
            max_files: ctx.log_config.max_files.max(1),
            max_file_bytes: ctx.max_log_bytes(),
            status_file: status_file.clone(),
        };
        let (connection, report) = self.request(&json_line(&Request::Run(Box::new(spec)))).await?;
        if let Some(error) = report.error {
            return Err(DriverError::Unrecoverable(error));
        }
        Ok(RawExecHandle { state: RawExecState { report, exit_file: status_file }, connection: Some(connection) })
    }
}

/// `path` made absolute against the client's working dir.
fn absolute(path: &Path) -> Result<PathBuf, DriverError> {
    std::path::absolute(path).map_err(|e| DriverError::Recoverable(format!("error resolving {}: {e}", path.display())))
}

/// A task run by the executor: started by this driver (its exit comes on
/// the connection) or re-attached (its exit file is polled).
struct RawExecHandle {
    state: RawExecState,
    connection: Option<ExecutorConnection>,
}

impl RawExecHandle {
    async fn wait_exit(&mut self) -> Result<ExitResult, DriverError> {
        if let Some(connection) = self.connection.as_mut() {
            match connection.read_line::<ExitFile>().await {
                Ok(exit) => return Ok(ExitResult { exit_code: exit.exit_code, signal: exit.signal }),
                // The executor is gone, or no longer answers on this
                // connection: the exit file and its liveness say the rest.
                Err(_) => self.connection = None,
            }
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
