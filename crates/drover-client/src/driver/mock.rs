//! The mock driver: tasks are tokio timers in the client process. Config:
//! `run_for` (duration, default `0s`), `exit_code` (default 0), `failure_rate`
//! (0..1 chance of exiting 1), `stdout_string` (written to the stdout log),
//! `start_error` (fail the start with this message). Fast and deterministic
//! enough for tests and simulated nodes; it cannot survive a client restart.

use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{BoxFuture, Driver, DriverError, ExitResult, HandleState, TaskContext, TaskHandle};
use crate::logs::LogRotator;

/// The mock driver.
#[derive(Debug, Clone, Copy)]
pub struct MockDriver;

#[derive(Debug, Clone, PartialEq)]
struct MockConfig {
    run_for: Duration,
    exit_code: i32,
    failure_rate: f64,
    stdout_string: String,
    start_error: Option<String>,
}

fn parse_config(config: &std::collections::BTreeMap<String, serde_json::Value>) -> Result<MockConfig, DriverError> {
    let bad = |what: &str| DriverError::Unrecoverable(format!("invalid mock config: {what}"));
    let run_for = match config.get("run_for") {
        None | Some(serde_json::Value::Null) => 0,
        Some(serde_json::Value::String(text)) => drover_types::parse_duration(text).map_err(|e| bad(&e))?,
        Some(serde_json::Value::Number(n)) => n.as_i64().ok_or_else(|| bad("run_for"))?,
        Some(_) => return Err(bad("run_for must be a duration")),
    };
    let exit_code = match config.get("exit_code") {
        None | Some(serde_json::Value::Null) => 0,
        Some(serde_json::Value::Number(n)) => {
            n.as_i64().and_then(|n| i32::try_from(n).ok()).ok_or_else(|| bad("exit_code"))?
        }
        Some(serde_json::Value::String(text)) => text.parse().map_err(|_| bad("exit_code"))?,
        Some(_) => return Err(bad("exit_code must be an integer")),
    };
    let failure_rate = match config.get("failure_rate") {
        None | Some(serde_json::Value::Null) => 0.0,
        Some(serde_json::Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        Some(serde_json::Value::String(text)) => text.parse().map_err(|_| bad("failure_rate"))?,
        Some(_) => return Err(bad("failure_rate must be a number")),
    };
    let text = |key: &str| config.get(key).and_then(|v| v.as_str()).map(str::to_string);
    Ok(MockConfig {
        run_for: drover_types::nanos_to_duration(run_for),
        exit_code,
        failure_rate,
        stdout_string: text("stdout_string").unwrap_or_default(),
        start_error: text("start_error").filter(|e| !e.is_empty()),
    })
}

impl Driver for MockDriver {
    fn name(&self) -> &'static str {
        "mock"
    }

    fn start<'a>(&'a self, ctx: &'a TaskContext) -> BoxFuture<'a, Result<Box<dyn TaskHandle>, DriverError>> {
        Box::pin(async move {
            let config = parse_config(&ctx.config)?;
            if let Some(error) = config.start_error {
                return Err(DriverError::Recoverable(error));
            }
            if !config.stdout_string.is_empty() {
                let mut log =
                    LogRotator::open(&ctx.logs_dir, &ctx.stdout_base(), ctx.log_config.max_files, ctx.max_log_bytes())
                        .map_err(|e| DriverError::Recoverable(format!("error opening stdout log: {e}")))?;
                log.write_all(config.stdout_string.as_bytes())
                    .map_err(|e| DriverError::Recoverable(format!("error writing stdout log: {e}")))?;
            }
            let failed = config.failure_rate > 0.0 && rand::random::<f64>() < config.failure_rate;
            let exit_code = if failed { 1 } else { config.exit_code };
            let (signal_tx, mut signal_rx) = mpsc::unbounded_channel::<Signal>();
            let run_for = config.run_for;
            let join = tokio::spawn(async move {
                tokio::select! {
                    _ = tokio::time::sleep(run_for) => ExitResult { exit_code, signal: 0 },
                    Some(signal) = signal_rx.recv() => ExitResult { exit_code: 128 + signal as i32, signal: signal as i32 },
                }
            });
            let handle: Box<dyn TaskHandle> = Box::new(MockHandle { join, signal_tx, exit: None });
            Ok(handle)
        })
    }

    fn recover(&self, _state: &HandleState) -> Result<Box<dyn TaskHandle>, DriverError> {
        Err(DriverError::Recover("mock tasks do not survive a client restart".to_string()))
    }
}

struct MockHandle {
    join: JoinHandle<ExitResult>,
    signal_tx: mpsc::UnboundedSender<Signal>,
    exit: Option<ExitResult>,
}

impl TaskHandle for MockHandle {
    fn wait(&mut self) -> BoxFuture<'_, Result<ExitResult, DriverError>> {
        Box::pin(async move {
            if let Some(exit) = self.exit {
                return Ok(exit);
            }
            let exit = (&mut self.join).await.map_err(|e| DriverError::Lost(format!("mock task failed: {e}")))?;
            self.exit = Some(exit);
            Ok(exit)
        })
    }

    fn signal(&self, signal: Signal) -> Result<(), DriverError> {
        let _ = self.signal_tx.send(signal);
        Ok(())
    }

    fn state(&self) -> HandleState {
        HandleState { driver: "mock".to_string(), data: serde_json::Value::Null }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_errors() {
        let config = parse_config(&Default::default()).expect("defaults");
        assert_eq!(config.run_for, Duration::ZERO);
        assert_eq!(config.exit_code, 0);
        let mut raw = std::collections::BTreeMap::new();
        raw.insert("run_for".to_string(), serde_json::json!("150ms"));
        raw.insert("exit_code".to_string(), serde_json::json!(3));
        let config = parse_config(&raw).expect("parse");
        assert_eq!((config.run_for, config.exit_code), (Duration::from_millis(150), 3));
        raw.insert("run_for".to_string(), serde_json::json!("soon"));
        assert!(matches!(parse_config(&raw), Err(DriverError::Unrecoverable(_))));
    }
}
