//! Fit and score: whether a group's ask fits a node's free resources, and how
//! good a fit it is (bin-packing, with a penalty for co-locating a service
//! group's instances).

use drover_types::{
    AllocatedCpu, AllocatedMemory, AllocatedResources, AllocatedSharedResources, AllocatedTaskResources, TaskGroup,
};

/// CPU (MHz), memory (MB) and disk (MB).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Usage {
    /// CPU in MHz.
    pub(crate) cpu: u64,
    /// Memory in MB.
    pub(crate) memory_mb: u64,
    /// Disk in MB.
    pub(crate) disk_mb: u64,
}

impl Usage {
    /// From the `(cpu, memory, disk)` triples the state and nodes use.
    pub(crate) fn from_triple((cpu, memory_mb, disk_mb): (u64, u64, u64)) -> Usage {
        Usage { cpu, memory_mb, disk_mb }
    }

    /// Adds another usage, saturating.
    pub(crate) fn add(&mut self, other: Usage) {
        self.cpu = self.cpu.saturating_add(other.cpu);
        self.memory_mb = self.memory_mb.saturating_add(other.memory_mb);
        self.disk_mb = self.disk_mb.saturating_add(other.disk_mb);
    }
}

/// What one instance of a group asks for: task CPU and memory summed, plus the group's ephemeral disk.
pub(crate) fn group_ask(group: &TaskGroup) -> Usage {
    let mut ask = Usage { disk_mb: group.ephemeral_disk.unwrap_or_default().size_mb, ..Usage::default() };
    for task in &group.tasks {
        ask.cpu = ask.cpu.saturating_add(task.resources.cpu);
        ask.memory_mb = ask.memory_mb.saturating_add(task.resources.memory_mb);
    }
    ask
}

/// The per-task reservation written on a new allocation.
pub(crate) fn allocated_resources(group: &TaskGroup) -> AllocatedResources {
    let mut resources = AllocatedResources {
        shared: AllocatedSharedResources { disk_mb: group.ephemeral_disk.unwrap_or_default().size_mb },
        ..AllocatedResources::default()
    };
    for task in &group.tasks {
        resources.tasks.insert(
            task.name.clone(),
            AllocatedTaskResources {
                cpu: AllocatedCpu { cpu_shares: task.resources.cpu },
                memory: AllocatedMemory { memory_mb: task.resources.memory_mb },
            },
        );
    }
    resources
}

/// The first dimension that does not fit (`cpu`, `memory`, `disk`), or `None` if the ask fits.
pub(crate) fn exhausted_dimension(allocatable: Usage, used: Usage, ask: Usage) -> Option<&'static str> {
    if used.cpu.saturating_add(ask.cpu) > allocatable.cpu {
        return Some("cpu");
    }
    if used.memory_mb.saturating_add(ask.memory_mb) > allocatable.memory_mb {
        return Some("memory");
    }
    if used.disk_mb.saturating_add(ask.disk_mb) > allocatable.disk_mb {
        return Some("disk");
    }
    None
}

/// Nomad's bin-pack score, normalised to 0..=1: higher when the node is
/// fuller after placing `ask` (`20 - (10^freeCpu + 10^freeMem)`, over 18).
pub(crate) fn binpack_score(allocatable: Usage, used: Usage, ask: Usage) -> f64 {
    let free_fraction = |total: u64, used: u64, ask: u64| -> f64 {
        if total == 0 {
            return 0.0;
        }
        let after = used.saturating_add(ask) as f64;
        (1.0 - after / total as f64).clamp(0.0, 1.0)
    };
    let free_cpu = free_fraction(allocatable.cpu, used.cpu, ask.cpu);
    let free_memory = free_fraction(allocatable.memory_mb, used.memory_mb, ask.memory_mb);
    let raw = 20.0 - (10f64.powf(free_cpu) + 10f64.powf(free_memory));
    (raw / 18.0).clamp(0.0, 1.0)
}

/// Nomad's job anti-affinity penalty: `-(collisions + 1) / desired_count`
/// when the node already runs instances of the group, else nothing.
pub(crate) fn anti_affinity_penalty(collisions: u32, desired_count: u32) -> Option<f64> {
    if collisions == 0 {
        return None;
    }
    let desired_count = desired_count.max(1) as f64;
    Some((-(f64::from(collisions) + 1.0) / desired_count).max(-1.0))
}

/// Scores in thousandths, as `NodeScoreMeta` stores them.
pub(crate) fn thousandths(score: f64) -> i64 {
    (score * 1000.0).round() as i64
}
