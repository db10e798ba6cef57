//! `drover agent`: runs a server, a client, or both (`-dev`) in this process.
//!
//! Flags override the HCL config file (`-config FILE`), which overrides the
//! defaults. `-dev` keeps state in a temporary dir (removed on exit) unless
//! `-data-dir` is given, and stops its tasks on shutdown; a plain client
//! leaves tasks running so a restarted client re-attaches to them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

/// Flags of `drover agent`.
#[derive(Debug, Clone, clap::Args)]
pub struct AgentArgs {
    /// Run a server and a client in one process with a temporary SQLite store.
    #[arg(long)]
    pub dev: bool,
    /// Run a server.
    #[arg(long)]
    pub server: bool,
    /// Run a client.
    #[arg(long)]
    pub client: bool,
    /// Where state is kept (a temporary dir for -dev when not given).
    #[arg(long = "data-dir")]
    pub data_dir: Option<PathBuf>,
    /// Address to bind the HTTP API to (default 127.0.0.1).
    #[arg(long)]
    pub bind: Option<String>,
    /// Port of the HTTP API (default 4747).
    #[arg(long = "http-port")]
    pub http_port: Option<u16>,
    /// Servers a client joins, comma separated (`host:port` or URLs).
    #[arg(long, value_delimiter = ',')]
    pub servers: Vec<String>,
    /// HCL config file(s) setting what the flags set.
    #[arg(long)]
    pub config: Vec<PathBuf>,
    /// Log level: trace, debug, info, warn, error.
    #[arg(long = "log-level")]
    pub log_level: Option<String>,
    /// Log as JSON lines.
    #[arg(long = "log-json")]
    pub log_json: bool,
    /// Node name (default: hostname).
    #[arg(long = "node")]
    pub node_name: Option<String>,
    /// Datacenter of this agent (default dc1).
    #[arg(long)]
    pub dc: Option<String>,
    /// Region of this agent (default global).
    #[arg(long)]
    pub region: Option<String>,
    /// Node class of this client.
    #[arg(long = "node-class")]
    pub node_class: Option<String>,
    /// Node pool of this client.
    #[arg(long = "node-pool")]
    pub node_pool: Option<String>,
    /// Client metadata `key=value`, repeatable.
    #[arg(long = "meta")]
    pub meta: Vec<String>,
    /// ACL token the client presents to servers.
    #[arg(long = "token", env = "DROVER_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Client mode: simulate this many nodes (`sim-<i>`, mock driver only)
    /// instead of running this machine as one node (for benchmarks).
    #[arg(long = "sim-nodes")]
    pub sim_nodes: Option<usize>,
    /// Node class of the simulated nodes.
    #[arg(long = "sim-node-class")]
    pub sim_node_class: Option<String>,
}

/// The agent config file (HCL), Nomad's names where Nomad has them.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    bind_addr: Option<String>,
    log_level: Option<String>,
    log_json: Option<bool>,
    name: Option<String>,
    datacenter: Option<String>,
    region: Option<String>,
    ports: Option<FilePorts>,
    server: Option<FileServer>,
    client: Option<FileClient>,
    tls: Option<FileTls>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileTls {
    http: Option<bool>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FilePorts {
    http: Option<u16>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileServer {
    enabled: Option<bool>,
    num_schedulers: Option<usize>,
    heartbeat_ttl: Option<String>,
    heartbeat_grace: Option<String>,
    job_gc_interval: Option<String>,
    job_gc_threshold: Option<String>,
    dispatch_idempotency_ttl: Option<String>,
    dispatch_payload_limit: Option<usize>,
    run_history_successful: Option<usize>,
    run_history_failed: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileClient {
    enabled: Option<bool>,
    servers: Option<Vec<String>>,
    node_class: Option<String>,
    node_pool: Option<String>,
    alloc_dir: Option<PathBuf>,
    gc_max_allocs: Option<usize>,
    meta: Option<BTreeMap<String, String>>,
}

/// Finished allocations whose directories a client keeps (Nomad's default).
const DEFAULT_GC_MAX_ALLOCS: usize = 50;

/// The agent's settings after flags, file and defaults are merged.
#[derive(Debug)]
struct Settings {
    dev: bool,
    run_server: bool,
    run_client: bool,
    data_dir: Option<PathBuf>,
    bind: String,
    http_port: u16,
    servers: Vec<String>,
    log_level: String,
    log_json: bool,
    node_name: String,
    datacenter: String,
    region: String,
    node_class: String,
    node_pool: String,
    alloc_dir: Option<PathBuf>,
    gc_max_allocs: usize,
    meta: BTreeMap<String, String>,
    num_schedulers: Option<usize>,
    heartbeat_ttl: Option<Duration>,
    heartbeat_grace: Option<Duration>,
    job_gc_interval: Option<Duration>,
    job_gc_threshold: Option<Duration>,
    dispatch_idempotency_ttl: Option<Duration>,
    payload_limit: Option<usize>,
    run_history_successful: Option<usize>,
    run_history_failed: Option<usize>,
    token: String,
    tls: Option<drover_server::TlsConfig>,
    sim_nodes: Option<usize>,
    sim_node_class: String,
}

fn read_config_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
    hcl::from_str(&text).map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))
}

fn merge(args: &AgentArgs) -> anyhow::Result<Settings> {
    let mut file = FileConfig::default();
    for path in &args.config {
        let next = read_config_file(path)?;
        file = FileConfig {
            data_dir: next.data_dir.or(file.data_dir),
            bind_addr: next.bind_addr.or(file.bind_addr),
            log_level: next.log_level.or(file.log_level),
            log_json: next.log_json.or(file.log_json),
            name: next.name.or(file.name),
            datacenter: next.datacenter.or(file.datacenter),
            region: next.region.or(file.region),
            ports: next.ports.or(file.ports),
            server: next.server.or(file.server),
            client: next.client.or(file.client),
            tls: next.tls.or(file.tls),
        };
    }
    let tls = match file.tls {
        Some(FileTls { http: Some(true), cert_file, key_file }) => match (cert_file, key_file) {
            (Some(cert_file), Some(key_file)) => Some(drover_server::TlsConfig { cert_file, key_file }),
            _ => bail!("tls: http = true needs both cert_file and key_file"),
        },
        _ => None,
    };
    let server_file = file.server.unwrap_or_default();
    let client_file = file.client.unwrap_or_default();
    let run_server = args.dev || args.server || server_file.enabled.unwrap_or(false);
    let run_client = args.dev || args.client || client_file.enabled.unwrap_or(false);
    if !run_server && !run_client {
        bail!("must specify either server, client or dev mode for the agent (-server, -client or -dev)");
    }
    let data_dir = args.data_dir.clone().or(file.data_dir);
    if args.sim_nodes.is_some() && (args.dev || !run_client || run_server) {
        bail!("-sim-nodes needs client mode only (-client -servers ADDR), without -dev or -server");
    }
    if data_dir.is_none() && !args.dev && args.sim_nodes.is_none() {
        bail!("must specify a data directory with -data-dir (or data_dir in the config file) outside -dev mode");
    }
    let mut meta = client_file.meta.unwrap_or_default();
    for pair in &args.meta {
        let (key, value) =
            pair.split_once('=').ok_or_else(|| anyhow::anyhow!("invalid -meta {pair:?}: expected key=value"))?;
        meta.insert(key.to_string(), value.to_string());
    }
    let heartbeat_grace = config_duration("server.heartbeat_grace", server_file.heartbeat_grace)?;
    let heartbeat_ttl = config_duration("server.heartbeat_ttl", server_file.heartbeat_ttl)?;
    let job_gc_interval = config_duration("server.job_gc_interval", server_file.job_gc_interval)?;
    let job_gc_threshold = config_duration("server.job_gc_threshold", server_file.job_gc_threshold)?;
    let dispatch_idempotency_ttl =
        config_duration("server.dispatch_idempotency_ttl", server_file.dispatch_idempotency_ttl)?;
    let mut servers = args.servers.clone();
    if servers.is_empty() {
        servers = client_file.servers.unwrap_or_default();
    }
    Ok(Settings {
        dev: args.dev,
        run_server,
        run_client,
        data_dir,
        bind: args.bind.clone().or(file.bind_addr).unwrap_or_else(|| "127.0.0.1".to_string()),
        http_port: args.http_port.or(file.ports.and_then(|p| p.http)).unwrap_or(4747),
        servers,
        log_level: args.log_level.clone().or(file.log_level).unwrap_or_else(|| "info".to_string()),
        log_json: args.log_json || file.log_json.unwrap_or(false),
        node_name: args.node_name.clone().or(file.name).unwrap_or_else(hostname),
        datacenter: args.dc.clone().or(file.datacenter).unwrap_or_else(|| "dc1".to_string()),
        region: args.region.clone().or(file.region).unwrap_or_else(|| "global".to_string()),
        node_class: args.node_class.clone().or(client_file.node_class).unwrap_or_default(),
        node_pool: args.node_pool.clone().or(client_file.node_pool).unwrap_or_else(|| "default".to_string()),
        alloc_dir: client_file.alloc_dir,
        gc_max_allocs: client_file.gc_max_allocs.unwrap_or(DEFAULT_GC_MAX_ALLOCS),
        meta,
        num_schedulers: server_file.num_schedulers,
        heartbeat_ttl,
        heartbeat_grace,
        job_gc_interval,
        job_gc_threshold,
        dispatch_idempotency_ttl,
        payload_limit: server_file.dispatch_payload_limit,
        run_history_successful: server_file.run_history_successful,
        run_history_failed: server_file.run_history_failed,
        token: args.token.clone().unwrap_or_default(),
        tls,
        sim_nodes: args.sim_nodes,
        sim_node_class: args.sim_node_class.clone().unwrap_or_default(),
    })
}

fn config_duration(name: &str, text: Option<String>) -> anyhow::Result<Option<Duration>> {
    let Some(text) = text else { return Ok(None) };
    let nanos = drover_types::parse_duration(&text).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    Ok(Some(drover_types::nanos_to_duration(nanos)))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".to_string())
}

fn init_logging(settings: &Settings) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(format!(
        "{level},hyper=warn,reqwest=warn,h2=warn,tower=warn",
        level = settings.log_level.to_lowercase()
    ))
    .map_err(|e| anyhow::anyhow!("invalid -log-level {:?}: {e}", settings.log_level))?;
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    if settings.log_json {
        builder.json().try_init().map_err(|e| anyhow::anyhow!("setting up logging: {e}"))?;
    } else {
        builder.try_init().map_err(|e| anyhow::anyhow!("setting up logging: {e}"))?;
    }
    Ok(())
}

fn server_url(addr: &str) -> String {
    if addr.starts_with("http://") || addr.starts_with("https://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    }
}

/// Runs the agent until Ctrl-C or SIGTERM.
pub fn run(args: AgentArgs) -> anyhow::Result<ExitCode> {
    let settings = merge(&args)?;
    init_logging(&settings)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(run_async(settings))
}

async fn run_async(settings: Settings) -> anyhow::Result<ExitCode> {
    let temp_dir;
    let data_dir = match &settings.data_dir {
        Some(dir) => dir.clone(),
        None => {
            temp_dir =
                tempfile::Builder::new().prefix("drover-dev-").tempdir().context("creating a temporary data dir")?;
            temp_dir.path().to_path_buf()
        }
    };
    std::fs::create_dir_all(&data_dir).with_context(|| format!("creating data dir {}", data_dir.display()))?;
    let data_dir = data_dir.canonicalize().unwrap_or(data_dir);
    let http_addr = format!("{}:{}", settings.bind, settings.http_port);

    let server = if settings.run_server {
        let mut config = drover_server::ServerConfig::new(data_dir.clone());
        config.http_addr = http_addr.clone();
        config.region = settings.region.clone();
        config.datacenter = settings.datacenter.clone();
        config.node_name = settings.node_name.clone();
        if let Some(n) = settings.num_schedulers {
            config.num_schedulers = n;
        }
        if let Some(interval) = settings.job_gc_interval {
            config.job_gc_interval = interval;
        }
        if let Some(threshold) = settings.job_gc_threshold {
            config.job_gc_threshold = threshold;
        }
        if let Some(ttl) = settings.dispatch_idempotency_ttl {
            config.dispatch_idempotency_ttl = ttl;
        }
        if let Some(ttl) = settings.heartbeat_ttl {
            config.heartbeat_ttl = ttl;
        }
        if let Some(grace) = settings.heartbeat_grace {
            config.heartbeat_grace = grace;
        }
        if let Some(limit) = settings.payload_limit {
            config.max_payload_bytes = limit;
        }
        config.tls = settings.tls.clone();
        if let Some(kept) = settings.run_history_successful {
            config.run_history_successful = kept;
        }
        if let Some(kept) = settings.run_history_failed {
            config.run_history_failed = kept;
        }
        Some(drover_server::start(config).await.context("starting the server")?)
    } else {
        None
    };
    let server_addr = server.as_ref().map(|s| s.http_addr().to_string());

    let sim = match settings.sim_nodes {
        Some(n_nodes) if settings.run_client => {
            let servers: Vec<String> = settings.servers.iter().map(|s| server_url(s)).collect();
            if servers.is_empty() {
                bail!("simulated nodes need servers to join: give -servers ADDR");
            }
            let mut config = drover_client::sim::SimConfig::new(servers, n_nodes);
            config.datacenter = settings.datacenter.clone();
            config.node_class = settings.sim_node_class.clone();
            config.node_pool = settings.node_pool.clone();
            config.token = settings.token.clone();
            Some(drover_client::sim::start_sim(config).await.context("starting simulated nodes")?)
        }
        _ => None,
    };
    let client = if settings.run_client && sim.is_none() {
        let mut servers: Vec<String> = settings.servers.iter().map(|s| server_url(s)).collect();
        if let Some(addr) = &server_addr {
            servers.insert(0, server_url(addr));
        }
        if servers.is_empty() {
            bail!("a client needs servers to join: give -servers ADDR[,ADDR] (or client.servers in the config file)");
        }
        let drover_binary = std::env::current_exe().context("finding the drover binary for the task executor")?;
        let executor_path = executor_binary(&drover_binary);
        let config = drover_client::ClientConfig {
            servers,
            data_dir: data_dir.clone(),
            alloc_dir: settings.alloc_dir.clone().unwrap_or_else(|| data_dir.join("alloc")),
            gc_max_allocs: settings.gc_max_allocs,
            node_name: settings.node_name.clone(),
            datacenter: settings.datacenter.clone(),
            node_class: settings.node_class.clone(),
            node_pool: settings.node_pool.clone(),
            meta: settings.meta.clone(),
            token: settings.token.clone(),
            executor_path,
            http_bind: format!("{}:0", settings.bind),
            stop_tasks_on_shutdown: settings.dev,
            reserved: drover_types::NodeReservedResources::default(),
            options: BTreeMap::new(),
        };
        Some(drover_client::start(config).await.context("starting the client")?)
    } else {
        None
    };

    if let (Some(server), Some(client)) = (&server, &client) {
        server.inner().set_local_node_id(&client.node_id);
    }
    println!("==> Drover agent configuration:\n");
    println!("{:>22}: {}", "Client", settings.run_client);
    if let Some(addr) = &server_addr {
        let scheme = if settings.tls.is_some() { "https" } else { "http" };
        println!("{:>22}: {scheme}://{addr}", "HTTP API");
    }
    println!("{:>22}: {}", "Log Level", settings.log_level.to_uppercase());
    if let Some(client) = &client {
        println!("{:>22}: {}", "Node Id", client.node_id);
    }
    if let Some(sim) = &sim {
        println!("{:>22}: {}", "Simulated Nodes", sim.node_ids().len());
    }
    println!("{:>22}: {} (DC: {})", "Region", settings.region, settings.datacenter);
    println!("{:>22}: {}", "Server", settings.run_server);
    println!("{:>22}: {}", "Data Dir", data_dir.display());
    println!("{:>22}: {}", "Version", env!("CARGO_PKG_VERSION"));
    if settings.dev {
        println!("\n==> Dev mode: state is kept in a temporary directory and tasks stop with the agent.");
    }
    println!("\n==> Drover agent started! Log data will stream in below:\n");

    wait_for_signal().await;
    println!("==> Caught signal, shutting down");
    if let Some(client) = client {
        client.shutdown().await;
    }
    if let Some(sim) = sim {
        sim.shutdown().await;
    }
    if let Some(server) = server {
        server.shutdown().await;
    }
    println!("==> Agent shut down");
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(err) => {
            tracing::warn!(error = %err, "cannot listen for SIGTERM; only Ctrl-C stops the agent");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// The program the client runs as `<program> executor serve <name>`, the one
/// long-lived process that runs its raw_exec tasks: the small
/// `drover-executor` next to the `drover` binary when it is there (it starts
/// sooner and maps a binary a fraction the size), else the `drover` binary
/// itself, so a single installed file keeps working.
fn executor_binary(drover_binary: &Path) -> PathBuf {
    let sibling = drover_binary.with_file_name(format!("drover-executor{}", std::env::consts::EXE_SUFFIX));
    if sibling.is_file() { sibling } else { drover_binary.to_path_buf() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> AgentArgs {
        AgentArgs {
            dev: false,
            server: false,
            client: false,
            data_dir: None,
            bind: None,
            http_port: None,
            servers: vec![],
            config: vec![],
            log_level: None,
            log_json: false,
            node_name: None,
            dc: None,
            region: None,
            node_class: None,
            node_pool: None,
            meta: vec![],
            token: None,
            sim_nodes: None,
            sim_node_class: None,
        }
    }

    #[test]
    fn the_small_executor_next_to_drover_is_preferred() {
        let dir = tempfile::tempdir().expect("temp dir");
        let drover = dir.path().join("drover");
        std::fs::write(&drover, b"").expect("write drover");
        assert_eq!(executor_binary(&drover), drover);
        let small = dir.path().join("drover-executor");
        std::fs::write(&small, b"").expect("write drover-executor");
        assert_eq!(executor_binary(&drover), small);
    }

    #[test]
    fn agent_needs_a_mode_and_a_data_dir() {
        let err = merge(&args()).expect_err("no mode");
        assert!(err.to_string().contains("must specify either server, client or dev mode"), "{err}");
        let mut server = args();
        server.server = true;
        let err = merge(&server).expect_err("no data dir");
        assert!(err.to_string().contains("-data-dir"), "{err}");
    }

    #[test]
    fn config_file_sets_what_flags_set_and_flags_win() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("agent.hcl");
        std::fs::write(
            &path,
            r#"
data_dir = "/var/lib/drover"
bind_addr = "0.0.0.0"
log_level = "debug"
datacenter = "dc9"
ports { http = 5000 }
server {
  enabled = true
  heartbeat_grace = "30s"
  run_history_successful = 5
  run_history_failed = 7
}
client {
  enabled = true
  servers = ["10.0.0.1:4747"]
  node_class = "batch"
  meta { rack = "r1" }
}
"#,
        )
        .expect("write config");
        let mut with_file = args();
        with_file.config = vec![path.clone()];
        with_file.http_port = Some(6000);
        let settings = merge(&with_file).expect("valid config");
        assert!(settings.run_server && settings.run_client);
        assert_eq!(settings.data_dir, Some(PathBuf::from("/var/lib/drover")));
        assert_eq!(settings.bind, "0.0.0.0");
        assert_eq!(settings.http_port, 6000, "the flag wins over ports.http");
        assert_eq!(settings.datacenter, "dc9");
        assert_eq!(settings.node_class, "batch");
        assert_eq!(settings.meta.get("rack").map(String::as_str), Some("r1"));
        assert_eq!(settings.heartbeat_grace, Some(Duration::from_secs(30)));
        assert_eq!((settings.run_history_successful, settings.run_history_failed), (Some(5), Some(7)));
        assert_eq!(settings.servers, vec!["10.0.0.1:4747"]);

        std::fs::write(&path, "data_dir = \"/x\"\nbogus = 1\n").expect("write config");
        let err = merge(&with_file).expect_err("unknown key");
        assert!(err.to_string().contains("bogus"), "{err}");
    }
}
