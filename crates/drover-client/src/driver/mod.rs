//! Task drivers behind one trait: [`Driver`] starts a task and returns a
//! [`TaskHandle`] to wait on and signal it; [`Driver::recover`] re-attaches to
//! a task started by an earlier client process from its [`HandleState`].
//!
//! Drivers: [`raw_exec`] (a process run by the client's executor so it survives a
//! client restart) and [`mock`] (in-process timers, for tests and simulated
//! nodes).

pub mod mock;
pub mod raw_exec;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;

use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};

use drover_types::LogConfig;

/// A boxed, sendable future: what trait methods return so drivers can sit
/// behind `dyn Driver`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Everything a driver needs to start one task.
#[derive(Debug, Clone)]
pub struct TaskContext {
    /// The allocation.
    pub alloc_id: String,
    /// The task's name.
    pub task_name: String,
    /// The driver config, interpolated.
    pub config: BTreeMap<String, serde_json::Value>,
    /// The task's full environment.
    pub env: BTreeMap<String, String>,
    /// `<alloc_dir>/<alloc_id>/<task>`: working dir and home of executor files.
    pub task_dir: PathBuf,
    /// `<alloc_dir>/<alloc_id>/alloc/logs`.
    pub logs_dir: PathBuf,
    /// Log rotation.
    pub log_config: LogConfig,
}

impl TaskContext {
    /// The stdout stream's base name (`<task>.stdout`).
    pub fn stdout_base(&self) -> String {
        format!("{}.stdout", self.task_name)
    }

    /// The stderr stream's base name (`<task>.stderr`).
    pub fn stderr_base(&self) -> String {
        format!("{}.stderr", self.task_name)
    }

    /// Bytes per log file.
    pub fn max_log_bytes(&self) -> u64 {
        u64::from(self.log_config.max_file_size_mb.max(1)) * 1024 * 1024
    }
}

/// How a task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ExitResult {
    /// Exit code; `128 + signal` when a signal ended it (as Nomad reports).
    pub exit_code: i32,
    /// The signal that ended it, 0 if none.
    pub signal: i32,
}

impl ExitResult {
    /// Exit code 0 and no signal.
    pub fn successful(&self) -> bool {
        self.exit_code == 0 && self.signal == 0
    }
}

/// What a driver persists so a later client process can re-attach.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct HandleState {
    /// The driver's name.
    pub driver: String,
    /// Driver-specific data.
    pub data: serde_json::Value,
}

/// Why a driver call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    /// The task cannot start as configured (`missing command`): restarting will not help.
    #[error("{0}")]
    Unrecoverable(String),
    /// The start failed but may work on a retry.
    #[error("{0}")]
    Recoverable(String),
    /// The running task can no longer be watched.
    #[error("{0}")]
    Lost(String),
    /// Re-attaching after a client restart failed.
    #[error("{0}")]
    Recover(String),
}

/// A task driver.
pub trait Driver: Send + Sync {
    /// The name jobspecs use (`raw_exec`).
    fn name(&self) -> &'static str;
    /// Starts a task; returns once it runs.
    fn start<'a>(&'a self, ctx: &'a TaskContext) -> BoxFuture<'a, Result<Box<dyn TaskHandle>, DriverError>>;
    /// Re-attaches to a task from its persisted handle.
    fn recover(&self, state: &HandleState) -> Result<Box<dyn TaskHandle>, DriverError>;
    /// A handle for a task started but never recorded (the client died right
    /// after starting it), found from its task dir.
    fn find_unrecorded(&self, _ctx: &TaskContext) -> Option<HandleState> {
        None
    }
}

/// A running task.
pub trait TaskHandle: Send {
    /// Waits for the task to end.
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the future and calling `wait` again loses nothing.
    fn wait(&mut self) -> BoxFuture<'_, Result<ExitResult, DriverError>>;
    /// Sends a signal to the task (its whole process group for processes).
    fn signal(&self, signal: Signal) -> Result<(), DriverError>;
    /// What to persist to re-attach later.
    fn state(&self) -> HandleState;
}

/// The drivers a client offers, by name.
#[derive(Clone)]
pub struct Drivers {
    by_name: BTreeMap<String, Arc<dyn Driver>>,
}

impl Drivers {
    /// raw_exec (through the executor `executor_path` serving the client
    /// whose data dir is `home`; on unless the option
    /// `driver.raw_exec.enable` is false) and mock.
    pub fn new(executor_path: PathBuf, home: &Path, options: &BTreeMap<String, String>) -> Drivers {
        let mut by_name: BTreeMap<String, Arc<dyn Driver>> = BTreeMap::new();
        if raw_exec_enabled(options) {
            by_name.insert("raw_exec".to_string(), Arc::new(raw_exec::RawExecDriver::new(executor_path, home)));
        }
        by_name.insert("mock".to_string(), Arc::new(mock::MockDriver));
        by_name.insert("mock_driver".to_string(), Arc::new(mock::MockDriver));
        Drivers { by_name }
    }

    /// Whether a driver called `name` is offered.
    pub fn has(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// The driver called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<dyn Driver>> {
        self.by_name.get(name).cloned()
    }
}

/// Whether the client options leave raw_exec on (Drover enables it by default).
pub fn raw_exec_enabled(options: &BTreeMap<String, String>) -> bool {
    !matches!(
        options.get("driver.raw_exec.enable").map(|v| v.trim().to_ascii_lowercase()).as_deref(),
        Some("0" | "false" | "f" | "no")
    )
}

/// Parses a signal name as jobspecs write it (`SIGINT`, `INT`, `sigterm`).
pub fn parse_signal(name: &str) -> Result<Signal, String> {
    let name = name.trim().to_ascii_uppercase();
    if name.is_empty() {
        return Ok(Signal::SIGTERM);
    }
    let full = if name.starts_with("SIG") { name } else { format!("SIG{name}") };
    Signal::from_str(&full).map_err(|_| format!("unknown signal {full:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names() {
        assert_eq!(parse_signal(""), Ok(Signal::SIGTERM));
        assert_eq!(parse_signal("SIGINT"), Ok(Signal::SIGINT));
        assert_eq!(parse_signal("hup"), Ok(Signal::SIGHUP));
        assert!(parse_signal("SIGNOPE").is_err());
    }
}
