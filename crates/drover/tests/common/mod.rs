//! Test support: run the real `drover` binary, start real agents on free
//! loopback ports in temp dirs, and stop them (and their tasks) afterwards.

#![allow(dead_code)]

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub fn drover_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_drover"))
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

/// A running `drover agent` process.
pub struct Agent {
    child: Option<Child>,
    /// The HTTP API address, `http://127.0.0.1:PORT`.
    pub address: String,
    /// The agent's data dir.
    pub data_dir: PathBuf,
    /// Where its stdout and stderr go.
    pub log_path: PathBuf,
    args: Vec<String>,
}

impl Agent {
    /// Starts `drover agent -dev` on a free port with its data in `data_dir`.
    pub fn dev(data_dir: &Path) -> Agent {
        let port = free_port();
        let args = vec![
            "agent".to_string(),
            "-dev".to_string(),
            format!("-http-port={port}"),
            format!("-data-dir={}", data_dir.display()),
            "-log-level=debug".to_string(),
        ];
        Agent::start_with(args, format!("http://127.0.0.1:{port}"), data_dir, true)
    }

    /// Starts an agent with the given arguments; waits for the API when `has_api`.
    pub fn start_with(args: Vec<String>, address: String, data_dir: &Path, has_api: bool) -> Agent {
        std::fs::create_dir_all(data_dir).expect("create data dir");
        let log_path = data_dir.join(format!("agent-{}.log", free_port()));
        let mut agent = Agent { child: None, address, data_dir: data_dir.to_path_buf(), log_path, args };
        agent.spawn();
        if has_api {
            agent.wait_ready();
        }
        agent
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(&self.log_path).expect("create agent log");
        let child = Command::new(drover_bin())
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .expect("start drover agent");
        self.child = Some(child);
    }

    /// Waits until the HTTP API answers and a node is ready (for agents with a client).
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(body) = http_get(&self.address, "/v1/nodes")
                && (body.contains("\"ready\"") || !self.args.iter().any(|a| a == "-dev" || a == "-client"))
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("agent did not come up at {}; log:\n{}", self.address, self.log());
    }

    /// The agent's output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// SIGTERM, then wait for the process to exit (SIGKILL after 20 s).
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let pid = child.id() as i32;
        let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// SIGKILL: the agent dies without cleaning up (a crash).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the same agent again (same args, same data dir).
    pub fn restart(&mut self, has_api: bool) {
        self.stop();
        self.spawn();
        if has_api {
            self.wait_ready();
        }
    }

    /// Runs a CLI command against this agent.
    pub fn cli(&self, dir: &Path, args: &[&str]) -> CliOutput {
        run_cli(dir, &self.address, args, None)
    }

    /// Runs a CLI command with stdin.
    pub fn cli_stdin(&self, dir: &Path, args: &[&str], stdin: &str) -> CliOutput {
        run_cli(dir, &self.address, args, Some(stdin))
    }

    /// GETs a path from the API, JSON-decoded.
    pub fn api(&self, path: &str) -> serde_json::Value {
        let body = http_get(&self.address, path).unwrap_or_else(|| panic!("GET {path} failed"));
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"))
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What a CLI run printed and how it exited.
#[derive(Debug)]
pub struct CliOutput {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl CliOutput {
    /// Panics with everything printed unless the exit code is `code`.
    pub fn expect_code(&self, code: i32) -> &CliOutput {
        assert_eq!(self.code, code, "exit code; stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }

    /// Panics unless stdout contains `text`.
    pub fn expect_stdout(&self, text: &str) -> &CliOutput {
        assert!(
            self.stdout.contains(text),
            "stdout lacks {text:?}; stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Panics unless stderr contains `text`.
    pub fn expect_stderr(&self, text: &str) -> &CliOutput {
        assert!(
            self.stderr.contains(text),
            "stderr lacks {text:?}; stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// Runs `drover <args>` in `dir` against `address`.
pub fn run_cli(dir: &Path, address: &str, args: &[&str], stdin: Option<&str>) -> CliOutput {
    let mut command = Command::new(drover_bin());
    command
        .args(args)
        .current_dir(dir)
        .env("DROVER_ADDR", address)
        .env_remove("DROVER_TOKEN")
        .env_remove("DROVER_NAMESPACE")
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("run drover");
    if let Some(input) = stdin {
        use std::io::Write;
        let mut handle = child.stdin.take().expect("stdin piped");
        handle.write_all(input.as_bytes()).expect("write stdin");
    }
    let output: Output = wait_with_timeout(child, Duration::from_secs(120));
    CliOutput {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn wait_with_timeout(mut child: Child, timeout: Duration) -> Output {
    let deadline = Instant::now() + timeout;
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.read_to_end(&mut buf);
        }
        buf
    });
    let err_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.read_to_end(&mut buf);
        }
        buf
    });
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break child.wait().expect("wait after kill");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output { status, stdout: out_thread.join().unwrap_or_default(), stderr: err_thread.join().unwrap_or_default() }
}

/// A plain HTTP GET on loopback (no client crate needed); `None` on any failure or non-200.
pub fn http_get(address: &str, path: &str) -> Option<String> {
    use std::io::Write;
    let host = address.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    if !head.starts_with("HTTP/1.1 200") {
        return None;
    }
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        return Some(dechunk(body));
    }
    Some(body.to_string())
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size_line, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size_line.trim(), 16) else { break };
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}

/// Polls `check` every 50 ms until it returns `Some`, or panics after `timeout` with `what`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The first 8-character ID after `marker"` in text, e.g. `Allocation "` → `883269bf`.
pub fn quoted_after(text: &str, marker: &str) -> Option<String> {
    let start = text.find(marker)? + marker.len();
    let rest = &text[start..];
    let end = rest.find('"')?;
    Some(rest[..end].to_string())
}

/// Kills every process whose working directory is under `dir` (tasks left
/// behind by a client that was killed on purpose).
pub fn kill_processes_under(dir: &Path) {
    let Ok(dir) = dir.canonicalize() else { return };
    let Ok(entries) = std::fs::read_dir("/proc") else { return };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let Ok(cwd) = std::fs::read_link(entry.path().join("cwd")) else { continue };
        if cwd.starts_with(&dir) {
            let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
        }
    }
}

/// Starts `drover agent -server` in `<dir>/server` on a free port, with
/// `config_hcl` as its config file when not empty; returns it and its address.
pub fn start_server(dir: &Path, config_hcl: &str) -> (Agent, String) {
    let port = free_port();
    let address = format!("http://127.0.0.1:{port}");
    let server_dir = dir.join("server");
    std::fs::create_dir_all(&server_dir).expect("server dir");
    let mut args = vec![
        "agent".to_string(),
        "-server".to_string(),
        format!("-http-port={port}"),
        format!("-data-dir={}", server_dir.display()),
    ];
    if !config_hcl.is_empty() {
        let config = server_dir.join("server.hcl");
        std::fs::write(&config, config_hcl).expect("write server config");
        args.push(format!("-config={}", config.display()));
    }
    let server = Agent::start_with(args, address.clone(), &server_dir, true);
    (server, address)
}

/// Server config with 1 s heartbeats, so a killed client goes `down` quickly.
pub const FAST_HEARTBEATS: &str = "server {\n  heartbeat_ttl = \"1s\"\n  heartbeat_grace = \"1s\"\n}\n";

/// Starts `drover agent -client` named `name` in `<dir>/<name>`, joined to
/// `address`, with extra arguments.
pub fn start_client(dir: &Path, address: &str, name: &str, extra: &[&str]) -> Agent {
    let data = dir.join(name);
    let mut args = vec![
        "agent".to_string(),
        "-client".to_string(),
        format!("-servers={address}"),
        format!("-data-dir={}", data.display()),
        format!("-node={name}"),
    ];
    args.extend(extra.iter().map(|arg| arg.to_string()));
    Agent::start_with(args, address.to_string(), &data, false)
}
