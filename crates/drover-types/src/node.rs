//! Nodes (runners): machines that run allocations.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Node statuses.
pub mod node_status {
    /// Registered, not yet heartbeating.
    pub const INITIALIZING: &str = "initializing";
    /// Heartbeating; can take work.
    pub const READY: &str = "ready";
    /// Missed its heartbeats.
    pub const DOWN: &str = "down";
}

/// Scheduling eligibility values.
pub mod eligibility {
    /// New work may be placed.
    pub const ELIGIBLE: &str = "eligible";
    /// No new work is placed.
    pub const INELIGIBLE: &str = "ineligible";
}

/// A node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct Node {
    /// UUID, chosen by the client and kept in its data dir.
    #[serde(rename = "ID")]
    pub id: String,
    /// Secret the client proves itself with (never served to readers).
    #[serde(rename = "SecretID", skip_serializing_if = "String::is_empty")]
    pub secret_id: String,
    /// Name, usually the hostname.
    pub name: String,
    /// Datacenter.
    pub datacenter: String,
    /// Node pool.
    pub node_pool: String,
    /// Node class.
    pub node_class: String,
    /// The client's HTTP address, if it serves one.
    #[serde(rename = "HTTPAddr")]
    pub http_addr: String,
    /// Fingerprinted attributes (`kernel.name`, `cpu.numcores`, `driver.raw_exec`...).
    pub attributes: BTreeMap<String, String>,
    /// Operator metadata (`client { meta { ... } }`).
    pub meta: BTreeMap<String, String>,
    /// Drivers found, with health.
    pub drivers: BTreeMap<String, DriverInfo>,
    /// What the node offers.
    pub node_resources: NodeResources,
    /// What is held back for the OS and the agent.
    pub reserved_resources: NodeReservedResources,
    /// See [`node_status`].
    pub status: String,
    /// Why it has its status.
    pub status_description: String,
    /// Last status change (Unix seconds, as Nomad).
    pub status_updated_at: i64,
    /// See [`eligibility`].
    pub scheduling_eligibility: String,
    /// Whether it is draining.
    pub drain: bool,
    /// The drain in progress, if any.
    pub drain_strategy: Option<DrainStrategy>,
    /// The agent's version.
    pub version: String,
    /// Last heartbeat (Unix ns). Drover addition.
    pub last_heartbeat: i64,
    /// State index at creation.
    pub create_index: u64,
    /// State index of the last change.
    pub modify_index: u64,
}

impl Node {
    /// Whether new work may be placed on it.
    pub fn ready_for_work(&self) -> bool {
        self.status == node_status::READY && self.scheduling_eligibility != eligibility::INELIGIBLE && !self.drain
    }

    /// Resources left for allocations: offered minus reserved.
    pub fn allocatable(&self) -> (u64, u64, u64) {
        let cpu = self.node_resources.cpu.cpu_shares.saturating_sub(self.reserved_resources.cpu.cpu_shares);
        let mem = self.node_resources.memory.memory_mb.saturating_sub(self.reserved_resources.memory.memory_mb);
        let disk = self.node_resources.disk.disk_mb.saturating_sub(self.reserved_resources.disk.disk_mb);
        (cpu, mem, disk)
    }

    /// The node's class for feasibility caching: its datacenter, pool, class,
    /// attributes, meta and drivers. Nodes with the same computed class are
    /// interchangeable for constraint checks.
    pub fn computed_class(&self) -> String {
        let mut text = String::new();
        for part in [&self.datacenter, &self.node_pool, &self.node_class] {
            text.push_str(part);
            text.push('\u{1}');
        }
        for (k, v) in self.attributes.iter().chain(self.meta.iter()) {
            if k.starts_with("unique.") {
                continue;
            }
            text.push_str(k);
            text.push('=');
            text.push_str(v);
            text.push('\u{1}');
        }
        for (name, info) in &self.drivers {
            text.push_str(name);
            text.push(if info.healthy { '+' } else { '-' });
        }
        text
    }
}

/// A driver found on a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct DriverInfo {
    /// Found.
    pub detected: bool,
    /// Usable now.
    pub healthy: bool,
    /// Why it is (un)healthy.
    pub health_description: String,
    /// Driver attributes.
    pub attributes: BTreeMap<String, String>,
    /// Last check (Unix ns).
    pub update_time: i64,
}

/// Resources a node offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeResources {
    /// CPU.
    pub cpu: NodeCpuResources,
    /// Memory.
    pub memory: NodeMemoryResources,
    /// Disk.
    pub disk: NodeDiskResources,
}

/// CPU a node offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeCpuResources {
    /// Total MHz (cores x MHz per core).
    pub cpu_shares: u64,
    /// Number of cores.
    pub total_cpu_cores: u64,
}

/// Memory a node offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeMemoryResources {
    /// MB.
    #[serde(rename = "MemoryMB")]
    pub memory_mb: u64,
}

/// Disk a node offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeDiskResources {
    /// MB.
    #[serde(rename = "DiskMB")]
    pub disk_mb: u64,
}

/// Resources held back on a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeReservedResources {
    /// CPU.
    pub cpu: NodeCpuResources,
    /// Memory.
    pub memory: NodeMemoryResources,
    /// Disk.
    pub disk: NodeDiskResources,
}

/// A drain in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct DrainStrategy {
    /// How long allocations get to move (ns); 0 = no deadline.
    pub deadline: i64,
    /// When the deadline passes (Unix ns).
    pub force_deadline: i64,
    /// Leave system jobs running.
    pub ignore_system_jobs: bool,
    /// When the drain started (Unix ns).
    pub started_at: i64,
}
