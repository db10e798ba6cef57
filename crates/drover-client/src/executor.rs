//! The executor: one long-lived process per client (`drover executor serve
//! <name>`) that runs every raw_exec task of that client, so tasks outlive a
//! client restart and a task start costs the fork and exec of the task alone
//! (an executor process per task cost more CPU than the task: see commit
//! `5cfc1ec` in docs/BENCHMARKS.md, "History of changes").
//!
//! The client starts it with its first raw_exec task and talks to it over a
//! Unix socket in Linux's abstract namespace, named after the client's data
//! dir ([`socket_name`]): no file to leave behind, the name is free again when
//! the process ends, and a second executor for the same client cannot bind it.
//! Each connection carries one request, a JSON line ([`Request`]):
//! - `{"run": spec}`: the executor spawns the task in its own process group,
//!   writes its report as the first line of the task's status file
//!   ([`STATUS_FILE`]) and answers it as one [`ExecutorReport`] line, pumps
//!   the task's stdout/stderr into rotating log files, and when the task
//!   exits kills what is left of its group, appends the exit status to the
//!   status file and answers one [`ExitFile`] line. The client may be gone
//!   by then; the status file is what a restarted client reads.
//! - `"hold"`: a connection the client keeps open for as long as it lives.
//!
//! The executor exits once it has had no connection and no task for
//! [`IDLE_EXIT`]. It runs in its own session, so signals aimed at the client
//! (Ctrl-C) do not reach it or its tasks. Failures after a start go to
//! `executor.log` in the task dir.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::logs::LogRotator;

/// What the client asks the executor to run.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ExecutorSpec {
    /// Program to run.
    pub command: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Its whole environment.
    pub env: BTreeMap<String, String>,
    /// Its working dir (absolute: the executor runs in `/`).
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
    /// The task's status file ([`STATUS_FILE`] in its dir): the
    /// executor's report, then the exit status, a JSON line each.
    pub status_file: PathBuf,
}

/// One request to the executor: the first line of a connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// Run a task and answer its [`ExecutorReport`], then its [`ExitFile`].
    Run(Box<ExecutorSpec>),
    /// Keep the executor alive while this connection is open.
    Hold,
}

/// The executor's answer to a run request (also kept as the task's
/// first line of the task's status file).
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

/// The exit status: the executor's last line on a run connection, and the
/// second line of the task's status file.
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

/// The executor's first line on its stdout once it serves (or found another
/// executor serving the same name), so the client knows it can connect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Ready {
    /// Set instead when the executor cannot serve.
    pub error: Option<String>,
}

/// What a connection from another user gets.
const REFUSED: &str = "the executor runs tasks only for its own user";

/// How long the executor lingers with no connection and no task.
pub const IDLE_EXIT: Duration = Duration::from_secs(1);

/// How long the executor drains a task's pipes after the task exited (a
/// child the task left behind may hold them).
const PUMP_DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Stack of the executor's threads: one per connection, none deep.
const THREAD_STACK: usize = 256 * 1024;

/// The abstract socket name of the executor serving the client whose data dir
/// is `home`: the path itself when it fits, else a hash of it.
pub fn socket_name(home: &Path) -> String {
    let home = std::path::absolute(home).unwrap_or_else(|_| home.to_path_buf());
    let name = format!("drover-executor:{}", home.display());
    // The kernel keeps 107 bytes of an abstract name.
    if name.len() <= 107 {
        return name;
    }
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    home.hash(&mut hasher);
    format!("drover-executor:#{:016x}", hasher.finish())
}

/// Whether the process at the other end of `stream` runs as this process's
/// user. An abstract socket has no file permissions: anyone on the machine
/// can reach it, so both ends check who the other is.
pub fn peer_is_same_user(stream: &impl std::os::fd::AsFd) -> bool {
    nix::sys::socket::getsockopt(stream, nix::sys::socket::sockopt::PeerCredentials)
        .is_ok_and(|peer| peer.uid() == nix::unistd::geteuid().as_raw())
}

/// The abstract socket address for `name`.
pub fn socket_addr(name: &str) -> std::io::Result<SocketAddr> {
    SocketAddr::from_abstract_name(name.as_bytes())
}

/// Entry point of `drover executor serve <name>`; `args` are the arguments
/// after the program name (a leading `executor` is skipped). Returns the
/// process exit code.
pub fn executor_main(args: &[String]) -> i32 {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["executor", "serve", name] | ["serve", name] => serve(name),
        _ => {
            eprintln!("usage: drover executor serve <socket-name>");
            2
        }
    }
}

/// Counts the executor's connections (each run connection lives until its
/// task has exited), to know when it is idle.
struct Activity {
    /// Live connections, and when the count last fell to zero.
    live: Mutex<(usize, Instant)>,
    changed: Condvar,
}

impl Activity {
    /// Idle from now.
    fn new() -> Activity {
        Activity { live: Mutex::new((0, Instant::now())), changed: Condvar::new() }
    }

    fn enter(&self) {
        self.live.lock().unwrap_or_else(PoisonError::into_inner).0 += 1;
    }

    fn leave(&self) {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.0 = live.0.saturating_sub(1);
        if live.0 == 0 {
            live.1 = Instant::now();
        }
        self.changed.notify_all();
    }

    /// Returns once nothing has been live for `grace`.
    fn wait_idle(&self, grace: Duration) {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let wait = if live.0 > 0 { grace } else { grace.saturating_sub(live.1.elapsed()) };
            if wait.is_zero() {
                return;
            }
            live = self.changed.wait_timeout(live, wait).unwrap_or_else(PoisonError::into_inner).0;
        }
    }
}

fn serve(name: &str) -> i32 {
    // Leave the client's session so signals aimed at the client do not reach
    // the tasks; fails only if already a group leader, which is fine.
    let _ = nix::unistd::setsid();
    let listener = match socket_addr(name).and_then(|addr| UnixListener::bind_addr(&addr)) {
        Ok(listener) => listener,
        // Another executor serves this client: the client connects to it.
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            announce(&Ready::default());
            return 0;
        }
        Err(e) => {
            announce(&Ready { error: Some(format!("error listening on {name:?}: {e}")) });
            return 1;
        }
    };
    // Idle from the start until the client's first connection arrives.
    let activity = Arc::new(Activity::new());
    announce(&Ready::default());
    let accepting = activity.clone();
    let accept_loop = std::thread::Builder::new().stack_size(THREAD_STACK).spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            // Only the client's own user may have tasks run.
            if !peer_is_same_user(&stream) {
                send(&stream, &ExecutorReport { error: Some(REFUSED.to_string()), ..Default::default() });
                continue;
            }
            accepting.enter();
            let activity = accepting.clone();
            let spawned = std::thread::Builder::new().stack_size(THREAD_STACK).spawn(move || {
                handle(stream);
                activity.leave();
            });
            if spawned.is_err() {
                accepting.leave();
            }
        }
    });
    if accept_loop.is_err() {
        return 1;
    }
    activity.wait_idle(IDLE_EXIT);
    0
}

/// The executor's ready line on its stdout.
fn announce(ready: &Ready) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(&json_line(ready));
    let _ = stdout.flush();
}

/// Serves one connection: a run request or a hold.
fn handle(stream: UnixStream) {
    let mut reader = BufReader::new(&stream);
    let mut line = Vec::new();
    if !matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
        return;
    }
    match serde_json::from_slice::<Request>(&line) {
        Ok(Request::Hold) => {
            // Held until the client closes it (or dies).
            let mut sink = [0u8; 64];
            while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
        }
        Ok(Request::Run(spec)) => {
            if let Err(e) = run(&spec, &stream) {
                note_failure(&spec, &e);
            }
        }
        Err(e) => {
            let report = ExecutorReport { error: Some(format!("invalid executor request: {e}")), ..Default::default() };
            send(&stream, &report);
        }
    }
}

/// Writes one JSON line to the client; a client gone away is no error here.
fn send(mut stream: &UnixStream, message: &impl Serialize) {
    let _ = stream.write_all(&json_line(message));
}

/// Where the executor notes what went wrong after the task started (the
/// client may no longer be listening by then): `executor.log` in the task
/// dir, created only when there is something to say.
pub const EXECUTOR_LOG: &str = "executor.log";

fn note_failure(spec: &ExecutorSpec, message: &str) {
    let line = format!("executor: {message}\n");
    let _ = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(spec.cwd.join(EXECUTOR_LOG))
        .and_then(|mut file| file.write_all(line.as_bytes()));
}

/// Runs one task to its end, answering on `client`.
fn run(spec: &ExecutorSpec, client: &UnixStream) -> Result<(), String> {
    let fail_start = |message: String| {
        send(client, &ExecutorReport { error: Some(message.clone()), ..Default::default() });
        message
    };
    let stdout_log = LogRotator::open(&spec.logs_dir, &spec.stdout_base, spec.max_files, spec.max_file_bytes)
        .map_err(|e| fail_start(format!("error opening stdout log: {e}")))?;
    let stderr_log = LogRotator::open(&spec.logs_dir, &spec.stderr_base, spec.max_files, spec.max_file_bytes)
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
    let pid_report = ExecutorReport {
        executor_pid: own_pid(),
        executor_start_time: own_start_time(),
        task_pid,
        task_pgid: task_pid,
        started_at: drover_types::now_nanos(),
        error: None,
    };
    // One file per task, written in place: creating files (inodes) is what a
    // task start costs the file system most.
    let mut status_file = std::fs::OpenOptions::new().create(true).write(true).truncate(true).open(&spec.status_file);
    if let Ok(file) = status_file.as_mut() {
        let _ = file.write_all(&json_line(&pid_report));
    }
    send(client, &pid_report);

    let streams = [
        child.stdout.take().map(|out| (out.into(), stdout_log)),
        child.stderr.take().map(|err| (err.into(), stderr_log)),
    ];
    let status = pump_until_exit(&mut child, task_pid, streams.into_iter().flatten().collect())
        .map_err(|e| format!("error waiting for task: {e}"))?;
    let exit = exit_from_status(status);
    let written = status_file.and_then(|mut file| file.write_all(&json_line(&exit)));
    send(client, &exit);
    written.map_err(|e| format!("error writing {}: {e}", spec.status_file.display()))
}

/// One message of the executor's protocol: a JSON object and a newline.
pub(crate) fn json_line(message: &impl Serialize) -> Vec<u8> {
    let mut line = serde_json::to_vec(message).unwrap_or_default();
    line.push(b'\n');
    line
}

fn own_pid() -> i32 {
    i32::try_from(std::process::id()).unwrap_or(i32::MAX)
}

/// The executor's own start time, read once.
fn own_start_time() -> u64 {
    static START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *START.get_or_init(|| process_start_time(own_pid()).unwrap_or(0))
}

/// How often the pump checks whether the task exited while something it
/// left behind still holds its output pipes open.
const EXIT_CHECK: Duration = Duration::from_millis(100);

/// Copies the task's output pipes into their logs until both close, in this
/// one thread; returns the task's exit status. A task that exited while
/// something it left behind holds a pipe open has its group killed, and the
/// pipes get [`PUMP_DRAIN_TIMEOUT`] more to drain.
fn pump_until_exit(
    child: &mut std::process::Child,
    task_pid: i32,
    mut streams: Vec<(OwnedFd, LogRotator)>,
) -> std::io::Result<std::process::ExitStatus> {
    let mut buf = vec![0u8; 32 * 1024];
    let mut exited: Option<(std::process::ExitStatus, Instant)> = None;
    while !streams.is_empty() {
        let timeout = match exited {
            Some((_, deadline)) => deadline.saturating_duration_since(Instant::now()),
            None => EXIT_CHECK,
        };
        if timeout.is_zero() {
            break;
        }
        let mut fds: Vec<PollFd<'_>> =
            streams.iter().map(|(fd, _)| PollFd::new(fd.as_fd(), PollFlags::POLLIN)).collect();
        let ready = match poll(&mut fds, PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX)) {
            Ok(ready) => ready,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        };
        let readable: Vec<bool> = fds.iter().map(|fd| fd.any().unwrap_or(true)).collect();
        drop(fds);
        if ready > 0 {
            let mut index = 0;
            streams.retain_mut(|(fd, log)| {
                let keep = !readable[index] || copy_once(fd, log, &mut buf);
                index += 1;
                keep
            });
        }
        if exited.is_none()
            && let Some(status) = child.try_wait()?
        {
            // Whatever the task left behind in its group goes with it.
            let _ = killpg(Pid::from_raw(task_pid), Signal::SIGKILL);
            exited = Some((status, Instant::now() + PUMP_DRAIN_TIMEOUT));
        }
    }
    let status = match exited {
        Some((status, _)) => status,
        None => child.wait()?,
    };
    let _ = killpg(Pid::from_raw(task_pid), Signal::SIGKILL);
    Ok(status)
}

/// One read from `from` into `to`; false once the pipe is closed. A failed
/// log write drops the data but keeps reading, so the task never blocks on a
/// full pipe.
fn copy_once(from: &OwnedFd, to: &mut LogRotator, buf: &mut [u8]) -> bool {
    loop {
        match nix::unistd::read(from, buf) {
            Ok(0) => return false,
            Ok(n_read) => {
                let _ = to.write_all(&buf[..n_read]);
                return true;
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return false,
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

/// A task's status file in its dir: the executor's report, then (once the
/// task has ended) its exit status, one JSON line each.
pub const STATUS_FILE: &str = "status.jsonl";

/// The exit status in a task's status file (its second line), `None` until
/// it is there whole. An `exit.json` (written by executors before commit
/// `ce9217a`) holds just the exit status.
pub fn read_exit_file(path: &Path) -> Option<ExitFile> {
    let text = std::fs::read_to_string(path).ok()?;
    if path.file_name().is_some_and(|name| name == "exit.json") {
        return serde_json::from_str(text.trim()).ok();
    }
    let exit_line = text.split_inclusive('\n').filter(|line| line.ends_with('\n')).nth(1)?;
    serde_json::from_str(exit_line).ok()
}

/// The executor's report in a task's status file (its first line).
pub fn read_report(path: &Path) -> Option<ExecutorReport> {
    let text = std::fs::read_to_string(path).ok()?;
    let first = text.split_inclusive('\n').next().filter(|line| line.ends_with('\n'))?;
    serde_json::from_str(first).ok()
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
