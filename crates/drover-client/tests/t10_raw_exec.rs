//! raw_exec against real processes through the real executor binary: logs and
//! exit codes, process-group kills, re-attaching from a persisted handle, and
//! the one executor per client (shared by its tasks, kept across a client
//! restart, gone once idle, replaced when killed).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;

use drover_client::driver::{Driver, ExitResult, TaskContext, TaskHandle, raw_exec::RawExecDriver};
use drover_types::LogConfig;

/// A driver whose executor serves the "client" with data dir `home`.
fn driver(home: &Path) -> RawExecDriver {
    RawExecDriver::new(PathBuf::from(env!("CARGO_BIN_EXE_drover-executor")), home)
}

fn context(root: &Path, script: &str) -> TaskContext {
    let task_dir = root.join("t");
    let logs_dir = root.join("alloc").join("logs");
    std::fs::create_dir_all(&task_dir).expect("task dir");
    std::fs::create_dir_all(&logs_dir).expect("logs dir");
    let mut config = BTreeMap::new();
    config.insert("command".to_string(), serde_json::json!("/bin/sh"));
    config.insert("args".to_string(), serde_json::json!(["-c", script]));
    let env = [("PATH".to_string(), "/usr/bin:/bin".to_string())].into_iter().collect();
    TaskContext {
        alloc_id: "a".to_string(),
        task_name: "t".to_string(),
        config,
        env,
        task_dir,
        logs_dir,
        log_config: LogConfig::default(),
    }
}

async fn wait(handle: &mut Box<dyn TaskHandle>) -> ExitResult {
    tokio::time::timeout(Duration::from_secs(60), handle.wait()).await.expect("task ends").expect("exit status")
}

/// Whether `pid` is gone (or a zombie nobody reaped yet).
fn gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().next()) == Some("Z"),
    }
}

#[tokio::test]
async fn logs_and_exit_code() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ctx = context(tmp.path(), "echo hi; echo err >&2; echo \"$GREETING\"; exit 3");
    let mut ctx = ctx;
    ctx.env.insert("GREETING".to_string(), "from env".to_string());
    let mut handle = driver(tmp.path()).start(&ctx).await.expect("start");
    assert_eq!(wait(&mut handle).await, ExitResult { exit_code: 3, signal: 0 });
    let stdout = std::fs::read_to_string(ctx.logs_dir.join("t.stdout.0")).expect("stdout log");
    let stderr = std::fs::read_to_string(ctx.logs_dir.join("t.stderr.0")).expect("stderr log");
    assert_eq!(stdout, "hi\nfrom env\n");
    assert_eq!(stderr, "err\n");
}

#[tokio::test]
async fn missing_command_is_unrecoverable() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut ctx = context(tmp.path(), "true");
    ctx.config.remove("command");
    let err = driver(tmp.path()).start(&ctx).await.err().expect("start fails");
    assert_eq!(err, drover_client::driver::DriverError::Unrecoverable("missing command".to_string()));
    ctx.config.insert("command".to_string(), serde_json::json!("/nonexistent/program"));
    let err = driver(tmp.path()).start(&ctx).await.err().expect("start fails");
    assert!(matches!(err, drover_client::driver::DriverError::Unrecoverable(_)), "{err:?}");
}

#[tokio::test]
async fn killing_the_group_leaves_no_child() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ctx = context(tmp.path(), "sleep 1000 & echo $! > bg.pid; sleep 1000");
    let mut handle = driver(tmp.path()).start(&ctx).await.expect("start");
    let bg_file = ctx.task_dir.join("bg.pid");
    let mut bg_pid = None;
    for _ in 0..1000 {
        if let Some(pid) = std::fs::read_to_string(&bg_file).ok().and_then(|t| t.trim().parse::<i32>().ok()) {
            bg_pid = Some(pid);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let bg_pid = bg_pid.expect("background sleep started");
    let state: serde_json::Value = handle.state().data;
    let task_pid = state["report"]["task_pid"].as_i64().expect("task pid") as i32;
    assert!(!gone(bg_pid) && !gone(task_pid));
    handle.signal(Signal::SIGTERM).expect("signal");
    let exit = wait(&mut handle).await;
    assert_eq!(exit.signal, 15);
    assert_eq!(exit.exit_code, 128 + 15);
    for _ in 0..500 {
        if gone(bg_pid) && gone(task_pid) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(gone(task_pid), "task {task_pid} still alive");
    assert!(gone(bg_pid), "background child {bg_pid} still alive");
}

#[tokio::test]
async fn sigkill_ends_a_task_ignoring_sigterm() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ctx = context(tmp.path(), "trap '' TERM; echo ready; while true; do sleep 1; done");
    let mut handle = driver(tmp.path()).start(&ctx).await.expect("start");
    for _ in 0..1000 {
        if std::fs::read_to_string(ctx.logs_dir.join("t.stdout.0")).unwrap_or_default().contains("ready") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    handle.signal(Signal::SIGTERM).expect("signal");
    let after_term = tokio::time::timeout(Duration::from_millis(300), handle.wait()).await;
    assert!(after_term.is_err(), "the task ignores SIGTERM");
    handle.signal(Signal::SIGKILL).expect("signal");
    assert_eq!(wait(&mut handle).await, ExitResult { exit_code: 137, signal: 9 });
}

#[tokio::test]
async fn reattach_from_persisted_handle() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ctx = context(tmp.path(), "while [ ! -f go ]; do sleep 0.02; done; echo done; exit 5");
    let persisted = {
        let handle = driver(tmp.path()).start(&ctx).await.expect("start");
        let state = handle.state();
        // Round-trip through JSON as the state file does.
        let text = serde_json::to_string(&state).expect("encode");
        drop(handle); // the "client" goes away; the executor keeps running
        text
    };
    let state = serde_json::from_str(&persisted).expect("decode");
    let fresh_driver = driver(tmp.path());
    let mut handle = fresh_driver.recover(&state).expect("recover");
    std::fs::write(ctx.task_dir.join("go"), b"").expect("signal the task");
    assert_eq!(wait(&mut handle).await, ExitResult { exit_code: 5, signal: 0 });
    let stdout = std::fs::read_to_string(ctx.logs_dir.join("t.stdout.0")).expect("stdout log");
    assert_eq!(stdout, "done\n");
    // Once the executor is gone and its exit file read, re-attaching again still reports the exit.
    let mut again = fresh_driver.recover(&state).expect("recover after exit");
    assert_eq!(wait(&mut again).await, ExitResult { exit_code: 5, signal: 0 });
}

#[tokio::test]
async fn recover_fails_when_the_executor_is_gone() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ctx = context(tmp.path(), "exit 0");
    let mut handle = driver(tmp.path()).start(&ctx).await.expect("start");
    let state = handle.state();
    wait(&mut handle).await;
    std::fs::remove_file(ctx.task_dir.join("status.jsonl")).expect("remove status file");
    // With its driver dropped and no task left, the executor exits.
    wait_gone(executor_pid(handle.as_ref())).await;
    let err = driver(tmp.path()).recover(&state).err().expect("recover fails");
    assert!(matches!(err, drover_client::driver::DriverError::Recover(_)), "{err:?}");
}

fn executor_pid(handle: &dyn TaskHandle) -> i32 {
    handle.state().data["report"]["executor_pid"].as_i64().expect("executor pid") as i32
}

async fn wait_gone(pid: i32) {
    for _ in 0..1000 {
        if gone(pid) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("process {pid} still alive");
}

/// The parent of `pid`, from `/proc/<pid>/stat`.
fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')').next()?.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test]
async fn one_executor_runs_every_task_and_exits_once_idle() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let driver = driver(tmp.path());
    let mut started = Vec::new();
    for run in 0..6 {
        let ctx = context(&tmp.path().join(format!("run{run}")), "while [ ! -f go ]; do sleep 0.02; done");
        started.push((driver.start(&ctx).await.expect("start"), ctx));
    }
    let executor = executor_pid(started[0].0.as_ref());
    assert_ne!(executor as u32, std::process::id());
    for (handle, ctx) in &started {
        assert_eq!(executor_pid(handle.as_ref()), executor, "every task runs under the one executor");
        let task_pid = handle.state().data["report"]["task_pid"].as_i64().expect("task pid") as i32;
        assert_eq!(parent_of(task_pid), Some(executor), "the executor forks the task itself");
        std::fs::write(ctx.task_dir.join("go"), b"").expect("release the task");
    }
    for (handle, ctx) in &mut started {
        assert_eq!(wait(handle).await, ExitResult { exit_code: 0, signal: 0 });
        let status = std::fs::read_to_string(ctx.task_dir.join("status.jsonl")).expect("status file");
        assert_eq!(status.lines().count(), 2, "report and exit: {status}");
    }
    // The driver's hold keeps the idle executor serving: a later task uses it.
    tokio::time::sleep(drover_client::executor::IDLE_EXIT + Duration::from_millis(300)).await;
    assert!(!gone(executor), "held executor exited");
    let ctx = context(&tmp.path().join("later"), "exit 4");
    let mut later = driver.start(&ctx).await.expect("start");
    assert_eq!(executor_pid(later.as_ref()), executor);
    assert_eq!(wait(&mut later).await, ExitResult { exit_code: 4, signal: 0 });
    drop(driver);
    wait_gone(executor).await;
}

#[tokio::test]
async fn a_restarted_client_finds_the_executor_still_serving() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ctx = context(&tmp.path().join("first"), "while [ ! -f go ]; do sleep 0.02; done");
    let first = driver(tmp.path()).start(&ctx).await.expect("start");
    let executor = executor_pid(first.as_ref());
    let first_state = first.state();
    // The first "client" is gone; its task keeps the executor alive.
    drop(first);
    let second_ctx = context(&tmp.path().join("second"), "exit 0");
    let fresh = driver(tmp.path());
    let mut second = fresh.start(&second_ctx).await.expect("start");
    assert_eq!(executor_pid(second.as_ref()), executor);
    assert_eq!(wait(&mut second).await, ExitResult { exit_code: 0, signal: 0 });
    // Another client's executor is another process.
    let other_home = tempfile::tempdir().expect("tempdir");
    let other_ctx = context(&other_home.path().join("t"), "exit 0");
    let mut other = driver(other_home.path()).start(&other_ctx).await.expect("start");
    assert_ne!(executor_pid(other.as_ref()), executor);
    wait(&mut other).await;
    std::fs::write(ctx.task_dir.join("go"), b"").expect("release the task");
    let mut first = fresh.recover(&first_state).expect("re-attach the first task");
    assert_eq!(wait(&mut first).await, ExitResult { exit_code: 0, signal: 0 });
}

#[tokio::test]
async fn a_killed_executor_loses_its_tasks_and_is_replaced() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let driver = driver(tmp.path());
    let ctx = context(&tmp.path().join("long"), "sleep 1000");
    let mut handle = driver.start(&ctx).await.expect("start");
    let executor = executor_pid(handle.as_ref());
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(executor), Signal::SIGKILL).expect("kill the executor");
    let lost = tokio::time::timeout(Duration::from_secs(60), handle.wait()).await.expect("wait returns");
    assert!(matches!(lost, Err(drover_client::driver::DriverError::Lost(_))), "{lost:?}");
    // The orphaned task is the test's to clean up.
    handle.signal(Signal::SIGKILL).expect("kill the orphaned task");
    let ctx = context(&tmp.path().join("next"), "echo again");
    let mut next = driver.start(&ctx).await.expect("start after the executor died");
    assert_ne!(executor_pid(next.as_ref()), executor, "a new executor");
    assert_eq!(wait(&mut next).await, ExitResult { exit_code: 0, signal: 0 });
    let stdout = std::fs::read_to_string(ctx.logs_dir.join("t.stdout.0")).expect("stdout log");
    assert_eq!(stdout, "again\n");
}

#[tokio::test]
async fn a_task_that_exits_leaving_a_child_on_its_pipes_ends_and_takes_the_child() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ctx = context(tmp.path(), "sleep 1000 & echo $! > bg.pid; echo bye");
    let mut handle = driver(tmp.path()).start(&ctx).await.expect("start");
    // The background sleep holds stdout open; the task's exit still ends it.
    assert_eq!(wait(&mut handle).await, ExitResult { exit_code: 0, signal: 0 });
    let bg_pid: i32 =
        std::fs::read_to_string(ctx.task_dir.join("bg.pid")).expect("bg pid").trim().parse().expect("a pid");
    wait_gone(bg_pid).await;
    let stdout = std::fs::read_to_string(ctx.logs_dir.join("t.stdout.0")).expect("stdout log");
    assert_eq!(stdout, "bye\n");
}

#[tokio::test]
async fn an_executor_name_served_by_another_user_is_refused() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root to start a process as another user");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    // Another user's process squats on this client's executor name.
    let name = drover_client::executor::socket_name(tmp.path());
    let mut squatter = std::os::unix::process::CommandExt::uid(
        std::process::Command::new(env!("CARGO_BIN_EXE_drover-executor")).args(["executor", "serve", &name]),
        65534,
    )
    .current_dir("/")
    .stdout(std::process::Stdio::piped())
    .spawn()
    .expect("start the squatter");
    let mut ready = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(squatter.stdout.take().expect("stdout")), &mut ready)
        .expect("ready line");
    assert_eq!(ready.trim(), "{\"error\":null}");
    let ctx = context(&tmp.path().join("t"), "echo should not run");
    let err = driver(tmp.path()).start(&ctx).await.err().expect("start refused");
    assert!(err.to_string().contains("served by another user"), "{err}");
    assert!(!ctx.logs_dir.join("t.stdout.0").exists(), "the task never ran");
    let _ = squatter.kill();
    let _ = squatter.wait();
}
