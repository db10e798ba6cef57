//! Starting and stopping real `drover` agents for a scenario: a server, a
//! `-dev` agent, or a client simulating nodes, each in its own data dir under
//! the system temp dir (removed on drop); plus what the scenarios read from
//! `/proc` about them (RSS, CPU time) and data dir sizes.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::api::Api;

/// The `drover` binary: `$DROVER_BIN`, else `drover` next to this executable
/// (or one dir up, for test executables in `target/<profile>/deps/`). When
/// run through cargo (`cargo run -p drover-bench`, which sets `$CARGO`), it
/// first builds `drover` with the same profile, so a fresh clone works and a
/// stale `drover` is never measured.
pub fn drover_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("DROVER_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().context("finding drover-bench's own path")?;
    if let Some(cargo) = std::env::var_os("CARGO") {
        build_drover(&cargo, &exe)?;
    }
    for dir in exe.ancestors().skip(1).take(2) {
        let candidate = dir.join("drover");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!(
        "drover binary not found next to {}: build it (cargo build --release -p drover -p drover-bench), pass -drover PATH or set DROVER_BIN",
        exe.display()
    )
}

/// `cargo build [--release] -p drover --bin drover` in this workspace.
fn build_drover(cargo: &std::ffi::OsStr, exe: &Path) -> anyhow::Result<()> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    if !manifest.is_file() {
        return Ok(());
    }
    let release = exe.ancestors().skip(1).take(2).any(|dir| dir.file_name().is_some_and(|name| name == "release"));
    let mut command = Command::new(cargo);
    command
        .arg("build")
        .arg("-q")
        .arg("--manifest-path")
        .arg(&manifest)
        .args(["-p", "drover", "--bin", "drover"])
        // The small executor the client runs per task (it falls back to
        // `drover executor`, the big binary, when this is missing).
        .args(["-p", "drover-client", "--bin", "drover-executor"])
        // The task dispatch_latency runs.
        .args(["-p", "drover-bench", "--bin", crate::stamp::PROGRAM]);
    if release {
        command.arg("--release");
    }
    let status = command.status().context("running cargo build -p drover -p drover-client -p drover-bench")?;
    if !status.success() {
        bail!("cargo build -p drover -p drover-client -p drover-bench failed ({status})");
    }
    Ok(())
}

/// A free TCP port on 127.0.0.1.
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// A running agent process.
pub struct Agent {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT` (the server's, for a simulating client).
    pub address: String,
    /// The data dir.
    pub data_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    drover: PathBuf,
    args: Vec<String>,
    log_path: PathBuf,
}

/// What kind of agent to start.
pub enum AgentKind<'a> {
    /// `-server` with extra HCL in its `server {}` block.
    Server {
        /// HCL inside `server { }` (`heartbeat_ttl = "1s"`).
        server_hcl: &'a str,
    },
    /// `-dev` (server and a real client).
    Dev,
    /// `-client -sim-nodes N -servers ADDR`.
    Sim {
        /// The server's address.
        servers: &'a str,
        /// How many nodes to simulate.
        n_nodes: u64,
    },
}

impl Agent {
    /// Starts an agent and waits until its API answers (for `Sim`: until
    /// all its nodes are ready on the server).
    pub async fn start(drover: &Path, kind: AgentKind<'_>, data_dir: Option<&Path>) -> anyhow::Result<Agent> {
        let (temp, data_dir) = match data_dir {
            Some(dir) => (None, dir.to_path_buf()),
            None => {
                let temp = tempfile::Builder::new().prefix("drover-bench-").tempdir().context("creating a data dir")?;
                let path = temp.path().to_path_buf();
                (Some(temp), path)
            }
        };
        std::fs::create_dir_all(&data_dir)?;
        let port = free_port()?;
        let mut address = format!("http://127.0.0.1:{port}");
        let mut args = vec!["agent".to_string(), "-log-level=warn".to_string()];
        let mut wait_nodes = 0;
        match &kind {
            AgentKind::Server { server_hcl } => {
                let config = data_dir.join("agent.hcl");
                std::fs::write(&config, format!("server {{\n{server_hcl}\n}}\n"))?;
                args.extend([
                    "-server".to_string(),
                    format!("-data-dir={}", data_dir.display()),
                    format!("-http-port={port}"),
                    format!("-config={}", config.display()),
                ]);
            }
            AgentKind::Dev => {
                args.extend([
                    "-dev".to_string(),
                    format!("-data-dir={}", data_dir.display()),
                    format!("-http-port={port}"),
                ]);
                wait_nodes = 1;
            }
            AgentKind::Sim { servers, n_nodes } => {
                args.extend([
                    "-client".to_string(),
                    format!("-sim-nodes={n_nodes}"),
                    format!("-servers={servers}"),
                    format!("-http-port={port}"),
                ]);
                address = servers.to_string();
                wait_nodes = *n_nodes;
            }
        }
        let log_path = data_dir.join(format!("agent-{port}.log"));
        let mut agent =
            Agent { child: None, address, data_dir, _temp: temp, drover: drover.to_path_buf(), args, log_path };
        agent.spawn()?;
        let api = Api::new(&agent.address)?;
        let timeout = Duration::from_secs(60 + wait_nodes / 100);
        agent.wait_api(&api, wait_nodes, timeout).await?;
        Ok(agent)
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let log = std::fs::File::create(&self.log_path)?;
        let child = Command::new(&self.drover)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.drover.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// Waits until the API answers and at least `n_ready` nodes are ready.
    pub async fn wait_api(&mut self, api: &Api, n_ready: u64, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                bail!("agent exited with {status}; log:\n{}", self.log_tail());
            }
            if let Ok(nodes) = api.get("/v1/nodes").await {
                let ready = nodes.as_array().map(|n| n.iter().filter(|n| n["Status"] == "ready").count()).unwrap_or(0);
                if ready as u64 >= n_ready {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("agent not ready within {timeout:?}; log:\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The last lines of the agent's log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// The process ID.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGTERM, then wait (SIGKILL after 30 s).
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts the same agent again (same args, same data dir) and returns
    /// how long until its API answered.
    pub async fn restart(&mut self) -> anyhow::Result<Duration> {
        self.stop();
        let started = Instant::now();
        self.spawn()?;
        let api = Api::new(&self.address)?;
        self.wait_api(&api, 0, Duration::from_secs(600)).await?;
        Ok(started.elapsed())
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Resident memory of a process in bytes (`VmRSS`), and its peak (`VmHWM`).
pub fn rss_bytes(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| -> u64 {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU time (user + system) a process used so far (100 ticks per second).
pub fn cpu_time(pid: u32) -> Duration {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the `(comm)`: state is field 3; utime 14, stime 15.
    let after = text.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |idx: usize| fields.get(idx).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Bytes of all files under `path`.
pub fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else { return 0 };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => dir_size(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}
