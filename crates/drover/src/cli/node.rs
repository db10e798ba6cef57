//! `drover node ...`: status of nodes (runners), drain, eligibility, purge
//! and `node test` (runs a probe task on a runner end to end).

use std::process::ExitCode;

use anyhow::{Context, bail};

use drover_api::Client;
use drover_types::api::{AllocListStub, NodeListStub, NodeModifyResponse, NodeTestResult};
use drover_types::{Allocation, Node, now_nanos, parse_duration};

use crate::cli::flags::GeneralOptions;
use crate::cli::ui::Ui;
use crate::cli::{format, resolve, server_error};

/// Subcommands of `drover node`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum NodeCommand {
    /// List nodes or show one node
    Status(StatusArgs),
    /// Start or stop draining a node
    Drain(DrainArgs),
    /// Mark a node eligible or ineligible for new work
    Eligibility(EligibilityArgs),
    /// Run a probe task on a node to check it can run work
    Test(TestArgs),
    /// Forget a node (its allocations are replaced elsewhere)
    Purge(PurgeArgs),
}

/// Runs a `drover node` subcommand.
pub async fn run(command: NodeCommand) -> anyhow::Result<ExitCode> {
    match command {
        NodeCommand::Status(args) => status(args).await,
        NodeCommand::Drain(args) => drain(args).await,
        NodeCommand::Eligibility(args) => eligibility(args).await,
        NodeCommand::Test(args) => test(args).await,
        NodeCommand::Purge(args) => purge(args).await,
    }
}

/// Flags of `node status`.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// Full IDs, attributes and meta.
    #[arg(long)]
    pub verbose: bool,
    /// The node of the local agent.
    #[arg(long = "self")]
    pub local: bool,
    /// General options.
    #[command(flatten)]
    pub general: GeneralOptions,
    /// Node ID or prefix; none lists every node.
    pub node: Option<String>,
}

async fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let (client, ui) = args.general.resolve()?;
    let prefix = match (&args.node, args.local) {
        (Some(node), _) => node.clone(),
        (None, true) => local_node_id(&client).await?,
        (None, false) => {
            let nodes = client.nodes_list("").await.context("Error querying node status")?;
            if !nodes.is_empty() {
                ui.line(&list(&nodes, args.verbose, now_nanos()))?;
            }
            return Ok(ExitCode::SUCCESS);
        }
    };
    show(&client, &ui, &prefix, args.verbose).await
}

/// The local agent's node ID (`-self`).
async fn local_node_id(client: &Client) -> anyhow::Result<String> {
    let agent = client.agent_self().await.context("Error querying agent info")?;
    let from_stats = agent.stats.get("client").and_then(|stats| stats.get("node_id")).cloned();
    let from_config = Some(agent.config.client.node_id);
    match from_stats.or(from_config).filter(|id| !id.is_empty()) {
        Some(id) => Ok(id),
        None => bail!("Error determining local node ID: the agent is not running a client"),
    }
}

/// The node table: `ID  Node Pool  DC  Name  Class  Drain  Eligibility  Status`
/// plus Drover's `Drivers  Allocs  Last Heartbeat`.
pub fn list(nodes: &[NodeListStub], verbose: bool, now: i64) -> String {
    let mut rows = vec![
        [
            "ID",
            "Node Pool",
            "DC",
            "Name",
            "Class",
            "Drain",
            "Eligibility",
            "Status",
            "Drivers",
            "Allocs",
            "Last Heartbeat",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for node in nodes {
        let drivers: Vec<&str> = node
            .drivers
            .iter()
            .filter(|(_, info)| info.detected && info.healthy)
            .map(|(name, _)| name.as_str())
            .collect();
        rows.push(vec![
            format::id(&node.id, verbose).to_string(),
            or_default(&node.node_pool, "default"),
            node.datacenter.clone(),
            node.name.clone(),
            or_default(&node.node_class, "<none>"),
            node.drain.to_string(),
            node.scheduling_eligibility.clone(),
            runner_status(&node.status, node.drain, &node.scheduling_eligibility).to_string(),
            drivers.join(","),
            node.allocs_running.to_string(),
            format::age(node.last_heartbeat, now),
        ]);
    }
    format::table(&rows)
}

/// The status column: `draining` or `ineligible` for a ready node that takes
/// no new work, else the node's status (`ready`, `down`, `initializing`).
pub fn runner_status<'a>(status: &'a str, drain: bool, eligibility: &str) -> &'a str {
    match status {
        "ready" if drain => "draining",
        "ready" if eligibility == drover_types::eligibility::INELIGIBLE => "ineligible",
        other => other,
    }
}

fn or_default(value: &str, default: &str) -> String {
    if value.is_empty() { default.to_string() } else { value.to_string() }
}

/// Fetches and prints one node (also used by `drover status <id>`).
pub async fn show(client: &Client, ui: &Ui, prefix: &str, verbose: bool) -> anyhow::Result<ExitCode> {
    let stub = resolve::node(client, prefix).await?;
    let node = client.node_get(&stub.id).await.context("Error querying node info")?;
    let allocs = client.node_allocations(&stub.id).await.context("Error querying node allocations")?;
    ui.line(&render(&node, &allocs, verbose, now_nanos(), ui))?;
    Ok(ExitCode::SUCCESS)
}

/// The node status text (no trailing newline).
pub fn render(node: &Node, allocs: &[Allocation], verbose: bool, now: i64, ui: &Ui) -> String {
    let drivers: Vec<&str> =
        node.drivers.iter().filter(|(_, info)| info.detected && info.healthy).map(|(name, _)| name.as_str()).collect();
    let pairs = vec![
        ("ID", format::id(&node.id, verbose).to_string()),
        ("Name", node.name.clone()),
        ("Node Pool", or_default(&node.node_pool, "default")),
        ("Class", node.node_class.clone()),
        ("DC", node.datacenter.clone()),
        ("Drain", node.drain.to_string()),
        ("Eligibility", node.scheduling_eligibility.clone()),
        ("Status", node.status.clone()),
        ("Address", node.http_addr.clone()),
        ("Drivers", drivers.join(",")),
        ("Last Heartbeat", format::age(node.last_heartbeat, now)),
    ];
    let mut out = format::kv(&pairs);

    let (cpu_total, memory_total, disk_total) = node.allocatable();
    let running: Vec<&Allocation> = allocs.iter().filter(|alloc| !alloc.terminal()).collect();
    let cpu_used: u64 = running.iter().map(|alloc| alloc.allocated_resources.cpu()).sum();
    let memory_used: u64 = running.iter().map(|alloc| alloc.allocated_resources.memory_mb()).sum();
    let disk_used: u64 = running.iter().map(|alloc| alloc.allocated_resources.disk_mb()).sum();
    let resources = format::table(&[
        vec!["CPU".to_string(), "Memory".to_string(), "Disk".to_string()],
        vec![
            format!("{cpu_used}/{cpu_total} MHz"),
            format!("{}/{}", format::mib(memory_used), format::mib(memory_total)),
            format!("{}/{}", format::mib(disk_used), format::mib(disk_total)),
        ],
    ]);
    out.push_str(&format!("\n\n{}\n{resources}", ui.bold("Allocated Resources")));

    let mut stubs: Vec<AllocListStub> = allocs.iter().map(|alloc| AllocListStub::from_alloc(alloc, "")).collect();
    stubs.sort_by_key(|item| std::cmp::Reverse(item.create_index));
    let alloc_text =
        if stubs.is_empty() { "No allocations placed".to_string() } else { format::alloc_table(&stubs, verbose, now) };
    out.push_str(&format!("\n\n{}\n{alloc_text}", ui.bold("Allocations")));

    if verbose {
        let attributes: Vec<(&str, &str)> =
            node.attributes.iter().map(|(key, value)| (key.as_str(), value.as_str())).collect();
        out.push_str(&format!("\n\n{}\n{}", ui.bold("Attributes"), format::kv(&attributes)));
        let meta: Vec<(&str, &str)> = node.meta.iter().map(|(key, value)| (key.as_str(), value.as_str())).collect();
        let meta_text = if meta.is_empty() { "<none>".to_string() } else { format::kv(&meta) };
        out.push_str(&format!("\n\n{}\n{meta_text}", ui.bold("Meta")));
    }
    out
}

/// Flags of `node drain`.
#[derive(Debug, Clone, clap::Args)]
pub struct DrainArgs {
    /// Start draining.
    #[arg(long, conflicts_with = "disable")]
    pub enable: bool,
    /// Stop draining (the node becomes eligible again).
    #[arg(long)]
    pub disable: bool,
    /// How long allocations get to move (`1h`, `30m`); default 1h.
    #[arg(long, value_name = "duration")]
    pub deadline: Option<String>,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// The local agent's node.
    #[arg(long = "self")]
    pub local: bool,
    /// General options.
    #[command(flatten)]
    pub general: GeneralOptions,
    /// Node ID or prefix.
    pub node: Option<String>,
}

/// Drain deadline when none is given (Nomad's).
const DEFAULT_DRAIN_DEADLINE: &str = "1h";

async fn drain(args: DrainArgs) -> anyhow::Result<ExitCode> {
    if args.enable == args.disable {
        bail!("Either the '-enable' or '-disable' flag must be set");
    }
    let deadline = parse_duration(args.deadline.as_deref().unwrap_or(DEFAULT_DRAIN_DEADLINE))
        .map_err(|err| anyhow::anyhow!("Failed to parse deadline: {err}"))?;
    let (client, ui) = args.general.resolve()?;
    let node_id = node_arg(&client, args.node.as_deref(), args.local).await?;
    let spec = args.enable.then_some(deadline);
    client.node_drain(&node_id, spec).await.map_err(server_error).context("Error updating drain specification")?;
    let verb = if args.enable { "set" } else { "unset" };
    ui.line(&format!("Node {:?} drain strategy {verb}", node_id))?;
    Ok(ExitCode::SUCCESS)
}

/// Flags of `node eligibility`.
#[derive(Debug, Clone, clap::Args)]
pub struct EligibilityArgs {
    /// Mark eligible.
    #[arg(long, conflicts_with = "disable")]
    pub enable: bool,
    /// Mark ineligible.
    #[arg(long)]
    pub disable: bool,
    /// The local agent's node.
    #[arg(long = "self")]
    pub local: bool,
    /// General options.
    #[command(flatten)]
    pub general: GeneralOptions,
    /// Node ID or prefix.
    pub node: Option<String>,
}

async fn eligibility(args: EligibilityArgs) -> anyhow::Result<ExitCode> {
    if args.enable == args.disable {
        bail!("Either the '-enable' or '-disable' flag must be set");
    }
    let (client, ui) = args.general.resolve()?;
    let node_id = node_arg(&client, args.node.as_deref(), args.local).await?;
    client
        .node_eligibility(&node_id, args.enable)
        .await
        .map_err(server_error)
        .context("Error updating scheduling eligibility")?;
    let state = if args.enable { "eligible" } else { "ineligible" };
    ui.line(&format!("Node {node_id:?} scheduling eligibility set: {state} for scheduling"))?;
    Ok(ExitCode::SUCCESS)
}

/// Flags of `node test`.
#[derive(Debug, Clone, clap::Args)]
pub struct TestArgs {
    /// How long to wait for the probe (`30s`, `2m`).
    #[arg(long, value_name = "duration", default_value = "30s")]
    pub timeout: String,
    /// Print the server's JSON reply.
    #[arg(long)]
    pub json: bool,
    /// The local agent's node.
    #[arg(long = "self")]
    pub local: bool,
    /// General options.
    #[command(flatten)]
    pub general: GeneralOptions,
    /// Node ID or prefix.
    pub node: Option<String>,
}

async fn test(args: TestArgs) -> anyhow::Result<ExitCode> {
    parse_duration(&args.timeout).map_err(|err| anyhow::anyhow!("Failed to parse timeout: {err}"))?;
    let (client, ui) = args.general.resolve()?;
    let node_id = node_arg(&client, args.node.as_deref(), args.local).await?;
    let path = format!("/v1/node/{node_id}/test");
    let reply: NodeTestResult = client
        .write_json::<(), _>(reqwest::Method::POST, &path, &[("timeout", args.timeout.clone())], None)
        .await
        .map_err(server_error)
        .context("Error testing node")?;
    if args.json {
        ui.line(&serde_json::to_string_pretty(&reply).context("Error encoding reply")?)?;
    } else {
        ui.line(&test_line(&reply))?;
    }
    Ok(if reply.success { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// `Runner "f7476465" test succeeded in 42ms` or `Runner "f7476465" test failed: <why>`.
pub fn test_line(reply: &NodeTestResult) -> String {
    let short = format::id(&reply.node_id, false);
    if reply.success {
        format!("Runner {short:?} test succeeded in {}ms ({})", reply.duration_ms, reply.message)
    } else {
        format!("Runner {short:?} test failed: {}", reply.message)
    }
}

/// Flags of `node purge`.
#[derive(Debug, Clone, clap::Args)]
pub struct PurgeArgs {
    /// General options.
    #[command(flatten)]
    pub general: GeneralOptions,
    /// Node ID or prefix.
    pub node: String,
}

async fn purge(args: PurgeArgs) -> anyhow::Result<ExitCode> {
    let (client, ui) = args.general.resolve()?;
    let node_id = resolve::node(&client, &args.node).await?.id;
    let path = format!("/v1/node/{node_id}/purge");
    let _: NodeModifyResponse = client
        .write_json::<(), _>(reqwest::Method::PUT, &path, &[], None)
        .await
        .map_err(server_error)
        .context("Error purging node")?;
    ui.line(&format!("Node {node_id:?} purged"))?;
    Ok(ExitCode::SUCCESS)
}

async fn node_arg(client: &Client, node: Option<&str>, local: bool) -> anyhow::Result<String> {
    match (node, local) {
        (Some(prefix), _) => Ok(resolve::node(client, prefix).await?.id),
        (None, true) => local_node_id(client).await,
        (None, false) => bail!("A node ID or -self is required"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use drover_types::{DriverInfo, NANOS_PER_SEC, NodeCpuResources, NodeMemoryResources, NodeResources};

    use super::*;

    #[test]
    fn node_list_and_status() {
        let t0 = 1_509_490_720 * NANOS_PER_SEC;
        let drivers = BTreeMap::from([
            ("mock".to_string(), DriverInfo { detected: true, healthy: true, ..DriverInfo::default() }),
            ("raw_exec".to_string(), DriverInfo { detected: true, healthy: true, ..DriverInfo::default() }),
            ("docker".to_string(), DriverInfo::default()),
        ]);
        let stub = NodeListStub {
            id: "f7476465-1111-2222-3333-444444444444".to_string(),
            datacenter: "dc1".to_string(),
            name: "laptop".to_string(),
            node_pool: "default".to_string(),
            scheduling_eligibility: "eligible".to_string(),
            status: "ready".to_string(),
            drivers: drivers.clone(),
            allocs_running: 2,
            last_heartbeat: t0,
            ..NodeListStub::default()
        };
        assert_eq!(
            list(&[stub], false, t0 + 3 * NANOS_PER_SEC),
            "ID        Node Pool  DC   Name    Class   Drain  Eligibility  Status  Drivers        Allocs  Last Heartbeat
f7476465  default    dc1  laptop  <none>  false  eligible     ready   mock,raw_exec  2       3s ago"
        );
        let node = Node {
            id: "f7476465-1111-2222-3333-444444444444".to_string(),
            name: "laptop".to_string(),
            datacenter: "dc1".to_string(),
            status: "ready".to_string(),
            scheduling_eligibility: "eligible".to_string(),
            drivers,
            node_resources: NodeResources {
                cpu: NodeCpuResources { cpu_shares: 2200, total_cpu_cores: 2 },
                memory: NodeMemoryResources { memory_mb: 2048 },
                ..NodeResources::default()
            },
            last_heartbeat: t0,
            ..Node::default()
        };
        assert_eq!(runner_status("ready", true, "ineligible"), "draining");
        assert_eq!(runner_status("ready", false, "ineligible"), "ineligible");
        assert_eq!(runner_status("down", true, "ineligible"), "down");
        assert_eq!(runner_status("ready", false, "eligible"), "ready");
        let reply = NodeTestResult {
            node_id: "f7476465-1111-2222-3333-444444444444".to_string(),
            success: true,
            duration_ms: 42,
            message: "probe task exited 0 on raw_exec".to_string(),
        };
        assert_eq!(test_line(&reply), r#"Runner "f7476465" test succeeded in 42ms (probe task exited 0 on raw_exec)"#);
        let failed = NodeTestResult { success: false, message: "runner is down".to_string(), ..reply };
        assert_eq!(test_line(&failed), r#"Runner "f7476465" test failed: runner is down"#);
        let text = render(&node, &[], false, t0, &Ui::plain());
        assert!(
            text.contains("Allocated Resources\nCPU         Memory     Disk\n0/2200 MHz  0 B/2 GiB  0 B/0 B"),
            "{text}"
        );
        assert!(text.ends_with("Allocations\nNo allocations placed"), "{text}");
    }
}
