//! Fingerprinting: what this machine offers (CPU, memory, disk), its
//! attributes (`kernel.name`, `cpu.numcores`, `driver.raw_exec`...) and its
//! drivers, turned into the [`Node`] the client registers.

use std::collections::BTreeMap;
use std::path::Path;

use drover_types::{DriverInfo, Node, NodeCpuResources, NodeDiskResources, NodeMemoryResources, NodeResources};

use crate::ClientConfig;
use crate::node_identity::NodeIdentity;

/// MHz per core assumed when `/proc/cpuinfo` has no `cpu MHz`.
const FALLBACK_MHZ: u64 = 1000;

/// CPU facts from `/proc/cpuinfo`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CpuInfo {
    /// Logical cores.
    pub n_cores: u64,
    /// MHz per core.
    pub mhz: u64,
    /// Model name.
    pub model_name: String,
}

/// Parses `/proc/cpuinfo` text.
pub fn parse_cpuinfo(text: &str) -> CpuInfo {
    let mut n_cores = 0;
    let mut mhz: Option<f64> = None;
    let mut model_name = String::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else { continue };
        let (key, value) = (key.trim(), value.trim());
        match key {
            "processor" => n_cores += 1,
            "cpu MHz" if mhz.is_none() => mhz = value.parse().ok(),
            "model name" if model_name.is_empty() => model_name = value.to_string(),
            _ => {}
        }
    }
    let n_cores =
        if n_cores == 0 { std::thread::available_parallelism().map(|n| n.get() as u64).unwrap_or(1) } else { n_cores };
    let mhz = mhz.map(|m| m.round() as u64).filter(|m| *m > 0).unwrap_or(FALLBACK_MHZ);
    CpuInfo { n_cores, mhz, model_name }
}

/// `MemTotal` from `/proc/meminfo`, in bytes.
pub fn parse_meminfo_total(text: &str) -> Option<u64> {
    let line = text.lines().find(|line| line.starts_with("MemTotal:"))?;
    let kb: u64 = line.trim_start_matches("MemTotal:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}

/// `ID` and `VERSION_ID` from `/etc/os-release`.
pub fn parse_os_release(text: &str) -> (String, String) {
    let mut id = String::new();
    let mut version = String::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else { continue };
        let value = value.trim().trim_matches('"').to_string();
        match key.trim() {
            "ID" => id = value,
            "VERSION_ID" => version = value,
            _ => {}
        }
    }
    (id, version)
}

/// Builds the node to register.
pub fn fingerprint(config: &ClientConfig, identity: &NodeIdentity, http_addr: &str) -> Node {
    let cpu = parse_cpuinfo(&std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default());
    let memory_bytes = parse_meminfo_total(&std::fs::read_to_string("/proc/meminfo").unwrap_or_default()).unwrap_or(0);
    let (disk_free_bytes, disk_volume) = disk_free(&config.alloc_dir);
    let (os_name, os_version) = parse_os_release(&std::fs::read_to_string("/etc/os-release").unwrap_or_default());
    let uname = nix::sys::utsname::uname().ok();
    let uname_field = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
        uname.as_ref().map(|u| f(u).to_string_lossy().into_owned()).unwrap_or_default()
    };
    let hostname = nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default();
    let total_compute = cpu.n_cores * cpu.mhz;
    let arch = std::env::consts::ARCH.to_string();
    let mut attributes: BTreeMap<String, String> = BTreeMap::new();
    let mut set = |key: &str, value: String| {
        attributes.insert(key.to_string(), value);
    };
    set("kernel.name", std::env::consts::OS.to_string());
    set("kernel.version", uname_field(|u| u.release()));
    set("kernel.arch", uname_field(|u| u.machine()));
    set("cpu.arch", arch);
    set("cpu.numcores", cpu.n_cores.to_string());
    set("cpu.frequency", cpu.mhz.to_string());
    set("cpu.totalcompute", total_compute.to_string());
    set("cpu.modelname", cpu.model_name.clone());
    set("memory.totalbytes", memory_bytes.to_string());
    set("os.name", os_name);
    set("os.version", os_version);
    set("unique.hostname", hostname);
    set("unique.storage.volume", disk_volume);
    set("unique.storage.bytesfree", disk_free_bytes.to_string());
    set("drover.version", env!("CARGO_PKG_VERSION").to_string());
    set("nomad.version", env!("CARGO_PKG_VERSION").to_string());
    let raw_exec = crate::driver::raw_exec_enabled(&config.options);
    if raw_exec {
        set("driver.raw_exec", "1".to_string());
    }
    set("driver.mock", "1".to_string());
    let now = drover_types::now_nanos();
    let healthy = |description: &str| DriverInfo {
        detected: true,
        healthy: true,
        health_description: description.to_string(),
        attributes: BTreeMap::new(),
        update_time: now,
    };
    let mut drivers = BTreeMap::new();
    if raw_exec {
        drivers.insert("raw_exec".to_string(), healthy("Healthy"));
    }
    drivers.insert("mock".to_string(), healthy("Healthy"));
    Node {
        id: identity.node_id.clone(),
        secret_id: identity.secret_id.clone(),
        name: config.node_name.clone(),
        datacenter: config.datacenter.clone(),
        node_pool: config.node_pool.clone(),
        node_class: config.node_class.clone(),
        http_addr: http_addr.to_string(),
        attributes,
        meta: config.meta.clone(),
        drivers,
        node_resources: NodeResources {
            cpu: NodeCpuResources { cpu_shares: total_compute, total_cpu_cores: cpu.n_cores },
            memory: NodeMemoryResources { memory_mb: memory_bytes / (1024 * 1024) },
            disk: NodeDiskResources { disk_mb: disk_free_bytes / (1024 * 1024) },
        },
        reserved_resources: config.reserved.clone(),
        status: drover_types::node_status::INITIALIZING.to_string(),
        scheduling_eligibility: drover_types::eligibility::ELIGIBLE.to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        ..Node::default()
    }
}

/// Free bytes on the filesystem holding `path` (or its nearest existing
/// ancestor) and the path measured.
fn disk_free(path: &Path) -> (u64, String) {
    let mut probe = path.to_path_buf();
    loop {
        if probe.exists() {
            break;
        }
        if !probe.pop() {
            return (0, String::new());
        }
    }
    match nix::sys::statvfs::statvfs(&probe) {
        Ok(stat) => (stat.blocks_available() * stat.fragment_size(), probe.display().to_string()),
        Err(_) => (0, probe.display().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuinfo_counts_cores_and_falls_back_on_mhz() {
        let text =
            "processor\t: 0\nmodel name\t: Fancy CPU\ncpu MHz\t\t: 2399.998\n\nprocessor\t: 1\ncpu MHz\t\t: 2400.000\n";
        assert_eq!(parse_cpuinfo(text), CpuInfo { n_cores: 2, mhz: 2400, model_name: "Fancy CPU".to_string() });
        let arm = "processor\t: 0\nBogoMIPS\t: 50.00\n\nprocessor\t: 1\n";
        assert_eq!(parse_cpuinfo(arm).mhz, 1000);
        assert_eq!(parse_cpuinfo(arm).n_cores, 2);
    }

    #[test]
    fn meminfo_and_os_release() {
        assert_eq!(parse_meminfo_total("MemTotal:       16314412 kB\nMemFree: 1 kB\n"), Some(16314412 * 1024));
        assert_eq!(parse_meminfo_total(""), None);
        let os = "NAME=\"Ubuntu\"\nID=ubuntu\nVERSION_ID=\"24.04\"\n";
        assert_eq!(parse_os_release(os), ("ubuntu".to_string(), "24.04".to_string()));
    }
}
