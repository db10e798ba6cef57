//! The mock driver through the `Driver` trait: run time, exit codes, failure
//! rate, start errors and signals, as simulated nodes and tests rely on.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use drover_client::driver::mock::MockDriver;
use drover_client::driver::{Driver, DriverError, ExitResult, TaskContext};
use nix::sys::signal::Signal;

fn ctx(config: serde_json::Value) -> TaskContext {
    let config: BTreeMap<String, serde_json::Value> = serde_json::from_value(config).expect("config object");
    TaskContext {
        alloc_id: "a".to_string(),
        task_name: "t".to_string(),
        config,
        env: BTreeMap::new(),
        task_dir: PathBuf::new(),
        logs_dir: PathBuf::new(),
        log_config: Default::default(),
    }
}

async fn run(config: serde_json::Value) -> Result<ExitResult, DriverError> {
    let mut handle = MockDriver.start(&ctx(config)).await?;
    handle.wait().await
}

#[tokio::test]
async fn exit_codes_run_time_and_failure_rate() {
    assert_eq!(run(serde_json::json!({})).await, Ok(ExitResult { exit_code: 0, signal: 0 }));
    assert_eq!(
        run(serde_json::json!({"run_for": "20ms", "exit_code": 3})).await,
        Ok(ExitResult { exit_code: 3, signal: 0 })
    );
    assert_eq!(run(serde_json::json!({"exit_code": "7"})).await, Ok(ExitResult { exit_code: 7, signal: 0 }));
    assert_eq!(run(serde_json::json!({"failure_rate": 1.0})).await, Ok(ExitResult { exit_code: 1, signal: 0 }));
    assert_eq!(run(serde_json::json!({"failure_rate": 0.0, "exit_code": 0})).await, Ok(ExitResult::default()));
}

#[tokio::test]
async fn run_for_is_waited_and_wait_is_repeatable() {
    let mut handle = MockDriver.start(&ctx(serde_json::json!({"run_for": "50ms"}))).await.expect("start");
    let early = tokio::time::timeout(Duration::from_millis(1), handle.wait()).await;
    assert!(early.is_err(), "still running right after the start");
    let exit = handle.wait().await.expect("exit");
    assert_eq!(handle.wait().await.expect("exit again"), exit);
    assert_eq!(handle.state().driver, "mock");
}

#[tokio::test]
async fn signals_end_the_task_with_128_plus_signal() {
    let mut handle = MockDriver.start(&ctx(serde_json::json!({"run_for": "1h"}))).await.expect("start");
    handle.signal(Signal::SIGTERM).expect("signal");
    assert_eq!(handle.wait().await, Ok(ExitResult { exit_code: 128 + 15, signal: 15 }));
}

#[tokio::test]
async fn bad_config_and_start_errors() {
    assert!(matches!(run(serde_json::json!({"run_for": "soon"})).await, Err(DriverError::Unrecoverable(_))));
    assert!(matches!(run(serde_json::json!({"exit_code": [1]})).await, Err(DriverError::Unrecoverable(_))));
    assert_eq!(
        run(serde_json::json!({"start_error": "no capacity"})).await,
        Err(DriverError::Recoverable("no capacity".to_string()))
    );
    assert!(MockDriver.recover(&Default::default()).is_err());
}
