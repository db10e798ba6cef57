//! The executor: a small process (`drover executor <spec-file>`) that runs one
//! task for the raw_exec driver, so the task outlives a client restart.
//!
//! It reads its spec (from stdin when the client starts it), leaves the
//! client's session (`setsid`), spawns the task in a new process group,
//! reports the task's pid on its stdout (one JSON line the client waits for),
//! writes `executor.pid`, pumps the task's stdout/stderr into rotating log
//! files, and when the task exits kills what is left of its process group,
//! writes `exit.json` atomically and exits. Failures after the start go to
//! `executor.log` in the task dir.
//!
//! It runs once per task start, so its start-up cost counts: the client runs
//! the small `drover-executor` binary when it is installed next to `drover`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::logs::LogRotator;
use crate::state::write_atomic;

/// What the client asks the executor to run, written as JSON to the spec file.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ExecutorSpec {
    /// Program to run.
    pub command: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Its whole environment.
    pub env: BTreeMap<String, String>,
    /// Its working dir.
    pub cwd: PathBuf,
    /// Where log files go.
    pub logs_dir: PathBuf,
    /// Stdout stream base name (`<task>.stdout`).
    pub stdout_base: String,
    /// Stderr stream base name (`<task>.stderr`).
    pub stderr_base: String,
    /// Log files kept per stream.
    pub max_files: u32,
    /// Bytes per log file.
    pub max_file_bytes: u64,
    /// Where the pid info goes.
    pub pid_file: PathBuf,
    /// Where the exit status goes.
    pub exit_file: PathBuf,
}

/// The executor's pid report: one JSON line on its stdout, also kept as the
/// pid file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ExecutorReport {
    /// The executor's pid.
    pub executor_pid: i32,
    /// The executor's start time (clock ticks after boot, `/proc/<pid>/stat`
    /// field 22), to tell it from a later process with the same pid.
    pub executor_start_time: u64,
    /// The task's pid.
    pub task_pid: i32,
    /// The task's process group (its pid).
    pub task_pgid: i32,
    /// Unix ns when the task started.
    pub started_at: i64,
    /// Set instead of the rest when the task could not start.
    pub error: Option<String>,
}

/// The exit status file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ExitFile {
    /// Exit code, `128 + signal` if a signal ended the task.
    pub exit_code: i32,
    /// The signal, 0 if none.
    pub signal: i32,
    /// Unix ns.
    pub finished_at: i64,
}

/// How long the executor waits for the log pumps after the task exited.
const PUMP_DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Entry point of `drover executor <spec-file>`; `args` are the arguments
/// after the program name (a leading `executor` is skipped). A spec file `-`
/// means the spec comes on stdin (what the client does: no file to create per
/// task). Returns the process exit code.
pub fn executor_main(args: &[String]) -> i32 {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let spec_source = match args.as_slice() {
        ["executor", path] | [path] => *path,
        _ => {
            eprintln!("usage: drover executor <spec-file | ->");
            return 2;
        }
    };
    // Leave the client's session so signals aimed at the client (Ctrl-C) do
    // not reach the task; fails only if already a group leader, which is fine.
    let _ = nix::unistd::setsid();
    let spec = match read_spec(spec_source) {
        Ok(spec) => spec,
        Err(e) => {
            report(&ExecutorReport { error: Some(format!("error reading executor spec: {e}")), ..Default::default() });
            return 1;
        }
    };
    match run(&spec) {
        Ok(()) => 0,
        Err(e) => {
            note_failure(&spec, &e);
            1
        }
    }
}

/// The spec from the file `source`, or from stdin if it is `-`.
fn read_spec(source: &str) -> Result<ExecutorSpec, String> {
    let bytes = if source == "-" {
        let mut bytes = Vec::new();
        std::io::stdin().lock().read_to_end(&mut bytes).map_err(|e| format!("reading stdin: {e}"))?;
        bytes
    } else {
        std::fs::read(source).map_err(|e| format!("reading {source}: {e}"))?
    };
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}

/// Where the executor notes what went wrong after the task started (the
/// client is no longer listening by then): `executor.log` in the task dir,
/// created only when there is something to say.
pub const EXECUTOR_LOG: &str = "executor.log";

fn note_failure(spec: &ExecutorSpec, message: &str) {
    let line = format!("executor: {message}\n");
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(spec.cwd.join(EXECUTOR_LOG))
        .and_then(|mut file| file.write_all(line.as_bytes()));
    if written.is_err() {
        eprint!("{line}");
    }
}

fn run(spec: &ExecutorSpec) -> Result<(), String> {
    let mut stdout_log = LogRotator::open(&spec.logs_dir, &spec.stdout_base, spec.max_files, spec.max_file_bytes)
        .map_err(|e| fail_start(format!("error opening stdout log: {e}")))?;
    let mut stderr_log = LogRotator::open(&spec.logs_dir, &spec.stderr_base, spec.max_files, spec.max_file_bytes)
        .map_err(|e| fail_start(format!("error opening stderr log: {e}")))?;
    let mut command = Command::new(&spec.command);
    command
        .args(&spec.args)
        .env_clear()
        .envs(&spec.env)
        .current_dir(&spec.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command
        .spawn()
        .map_err(|e| fail_start(format!("failed to launch command {:?} with executor: {e}", spec.command)))?;
    let task_pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
    let executor_pid = i32::try_from(std::process::id()).unwrap_or(i32::MAX);
    let pid_report = ExecutorReport {
        executor_pid,
        executor_start_time: process_start_time(executor_pid).unwrap_or(0),
        task_pid,
        task_pgid: task_pid,
        started_at: drover_types::now_nanos(),
        error: None,
    };
    if let Ok(bytes) = serde_json::to_vec(&pid_report) {
        let _ = write_atomic(&spec.pid_file, &bytes);
    }
    report(&pid_report);

    let (done_tx, done_rx) = mpsc::channel::<()>();
    let mut n_pumps = 0;
    if let Some(out) = child.stdout.take() {
        n_pumps += 1;
        let done_tx = done_tx.clone();
        std::thread::spawn(move || {
            pump(out, &mut stdout_log);
            let _ = done_tx.send(());
        });
    }
    if let Some(err) = child.stderr.take() {
        n_pumps += 1;
        let done_tx = done_tx.clone();
        std::thread::spawn(move || {
            pump(err, &mut stderr_log);
            let _ = done_tx.send(());
        });
    }
    let status = child.wait().map_err(|e| format!("error waiting for task: {e}"))?;
    // Whatever the task left behind in its group goes with it.
    let _ = killpg(Pid::from_raw(task_pid), Signal::SIGKILL);
    let deadline = std::time::Instant::now() + PUMP_DRAIN_TIMEOUT;
    for _ in 0..n_pumps {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if done_rx.recv_timeout(left).is_err() {
            break;
        }
    }
    let exit = exit_from_status(status);
    let bytes = serde_json::to_vec(&exit).map_err(|e| e.to_string())?;
    write_atomic(&spec.exit_file, &bytes).map_err(|e| format!("error writing {}: {e}", spec.exit_file.display()))
}

/// Reports a start failure to the client and hands the message back.
fn fail_start(message: String) -> String {
    report(&ExecutorReport { error: Some(message.clone()), ..Default::default() });
    message
}

fn report(report: &ExecutorReport) {
    let Ok(mut line) = serde_json::to_vec(report) else { return };
    line.push(b'\n');
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(&line);
    let _ = stdout.flush();
}

fn pump(mut from: impl Read, to: &mut LogRotator) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) => return,
            Ok(n_read) => {
                if to.write_all(&buf[..n_read]).is_err() {
                    // Keep draining so the task never blocks on a full pipe.
                    continue;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        }
    }
}

fn exit_from_status(status: std::process::ExitStatus) -> ExitFile {
    use std::os::unix::process::ExitStatusExt;
    let finished_at = drover_types::now_nanos();
    match (status.code(), status.signal()) {
        (Some(code), _) => ExitFile { exit_code: code, signal: 0, finished_at },
        (None, Some(signal)) => ExitFile { exit_code: 128 + signal, signal, finished_at },
        (None, None) => ExitFile { exit_code: -1, signal: 0, finished_at },
    }
}

/// A process's start time (field 22 of `/proc/<pid>/stat`), `None` if it does
/// not exist.
pub fn process_start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_start_time(&stat)
}

/// Whether `pid` is alive (not a zombie) and started at `start_time`.
pub fn process_alive(pid: i32, start_time: u64) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    let Some(after_comm) = stat.rfind(')').map(|idx| &stat[idx + 1..]) else { return false };
    let state = after_comm.split_whitespace().next().unwrap_or("");
    if state == "Z" || state == "X" {
        return false;
    }
    parse_stat_start_time(&stat) == Some(start_time)
}

fn parse_stat_start_time(stat: &str) -> Option<u64> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    // Fields after the command start at field 3 (state); start time is field 22.
    after_comm.split_whitespace().nth(22 - 3)?.parse().ok()
}

/// Reads an exit file, `None` if it is not there (yet).
pub fn read_exit_file(path: &Path) -> Option<ExitFile> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_start_time_survives_odd_command_names() {
        let stat = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(parse_stat_start_time(stat), Some(987654));
        let me = i32::try_from(std::process::id()).expect("pid fits");
        let start = process_start_time(me).expect("own stat");
        assert!(process_alive(me, start));
        assert!(!process_alive(me, start + 1));
    }
}
