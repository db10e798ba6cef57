//! The [`Node`] a simulated client registers: its own UUIDs, a fingerprint
//! shaped like a real one (with `unique.*` attributes of its own) and the
//! mock driver only.

use std::collections::BTreeMap;

use drover_types::{DriverInfo, Node, NodeCpuResources, NodeDiskResources, NodeMemoryResources, NodeResources};

use super::SimConfig;

/// Node number `node_idx` of the simulation.
pub(crate) fn sim_node(config: &SimConfig, node_idx: usize) -> Node {
    let name = format!("{}-{node_idx}", config.name_prefix);
    let resources = config.resources;
    let total_compute = resources.n_cores * resources.mhz_per_core;
    let mut attributes: BTreeMap<String, String> = BTreeMap::new();
    let mut set = |key: &str, value: String| {
        attributes.insert(key.to_string(), value);
    };
    set("kernel.name", std::env::consts::OS.to_string());
    set("kernel.version", "6.1.0-sim".to_string());
    set("kernel.arch", std::env::consts::ARCH.to_string());
    set("cpu.arch", std::env::consts::ARCH.to_string());
    set("cpu.numcores", resources.n_cores.to_string());
    set("cpu.frequency", resources.mhz_per_core.to_string());
    set("cpu.totalcompute", total_compute.to_string());
    set("cpu.modelname", "Simulated CPU".to_string());
    set("memory.totalbytes", (resources.memory_mb * 1024 * 1024).to_string());
    set("os.name", "debian".to_string());
    set("os.version", "13".to_string());
    set("unique.hostname", name.clone());
    set(
        "unique.network.ip-address",
        format!("10.{}.{}.{}", (node_idx >> 16) & 255, (node_idx >> 8) & 255, node_idx & 255),
    );
    set("unique.storage.volume", format!("/var/lib/{name}"));
    set("unique.storage.bytesfree", (resources.disk_mb * 1024 * 1024).to_string());
    set("drover.version", env!("CARGO_PKG_VERSION").to_string());
    set("nomad.version", env!("CARGO_PKG_VERSION").to_string());
    set("driver.mock", "1".to_string());
    set("sim", "1".to_string());
    let mut drivers = BTreeMap::new();
    drivers.insert(
        "mock".to_string(),
        DriverInfo {
            detected: true,
            healthy: true,
            health_description: "Healthy".to_string(),
            attributes: BTreeMap::new(),
            update_time: drover_types::now_nanos(),
        },
    );
    Node {
        id: uuid::Uuid::new_v4().to_string(),
        secret_id: uuid::Uuid::new_v4().to_string(),
        name,
        datacenter: config.datacenter.clone(),
        node_pool: config.node_pool.clone(),
        node_class: config.node_class.clone(),
        http_addr: String::new(),
        attributes,
        meta: BTreeMap::new(),
        drivers,
        node_resources: NodeResources {
            cpu: NodeCpuResources { cpu_shares: total_compute, total_cpu_cores: resources.n_cores },
            memory: NodeMemoryResources { memory_mb: resources.memory_mb },
            disk: NodeDiskResources { disk_mb: resources.disk_mb },
        },
        status: drover_types::node_status::INITIALIZING.to_string(),
        scheduling_eligibility: drover_types::eligibility::ELIGIBLE.to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        ..Node::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_are_distinct_and_offer_only_mock() {
        let mut config = SimConfig::new(vec!["http://127.0.0.1:1".to_string()], 2);
        config.node_class = "sim-class".to_string();
        let (a, b) = (sim_node(&config, 0), sim_node(&config, 1));
        assert_ne!(a.id, b.id);
        assert_ne!(a.secret_id, b.secret_id);
        assert_eq!((a.name.as_str(), b.name.as_str()), ("sim-0", "sim-1"));
        assert_eq!(a.node_class, "sim-class");
        assert_eq!(a.drivers.keys().collect::<Vec<_>>(), vec!["mock"]);
        assert_eq!(a.attributes.get("unique.hostname").map(String::as_str), Some("sim-0"));
        assert_eq!(a.node_resources.cpu.cpu_shares, 4000);
        assert_eq!(a.node_resources.memory.memory_mb, 8192);
    }
}
