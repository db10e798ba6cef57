//! The task environment: Nomad's `NOMAD_*` variables (each also as
//! `DROVER_*`), combined meta as `NOMAD_META_*`, the task's `env` block
//! (interpolated), over a small base (`PATH`, `HOME`) rather than the
//! client's whole environment.

use std::collections::BTreeMap;
use std::path::Path;

use drover_types::{Allocation, Job, Task, TaskGroup};

use crate::interpolate::{Interpolator, NodeVars};

/// What the task environment is built from.
#[derive(Debug, Clone, Copy)]
pub struct TaskEnvInput<'a> {
    /// The allocation.
    pub alloc: &'a Allocation,
    /// Its job.
    pub job: &'a Job,
    /// Its task group.
    pub group: &'a TaskGroup,
    /// The task.
    pub task: &'a Task,
    /// The node.
    pub node: &'a NodeVars,
    /// `<alloc_dir>/<alloc_id>`.
    pub alloc_root: &'a Path,
    /// Variables taken from the client's own environment.
    pub base_env: &'a BTreeMap<String, String>,
}

/// `PATH` and `HOME` from the client's environment (and nothing else).
pub fn base_env_from_process() -> BTreeMap<String, String> {
    ["PATH", "HOME"]
        .into_iter()
        .filter_map(|key| std::env::var(key).ok().map(|value| (key.to_string(), value)))
        .collect()
}

/// The task's full environment.
pub fn build_task_env(input: TaskEnvInput<'_>) -> BTreeMap<String, String> {
    let TaskEnvInput { alloc, job, group, task, node, alloc_root, base_env } = input;
    let mut env = base_env.clone();
    let task_root = alloc_root.join(&task.name);
    let (cpu, memory_mb) = match alloc.allocated_resources.tasks.get(&task.name) {
        Some(res) if res.cpu.cpu_shares > 0 || res.memory.memory_mb > 0 => (res.cpu.cpu_shares, res.memory.memory_mb),
        _ => (task.resources.cpu, task.resources.memory_mb),
    };
    let namespace = if alloc.namespace.is_empty() { &job.namespace } else { &alloc.namespace };
    let vars: [(&str, String); 17] = [
        ("ALLOC_ID", alloc.id.clone()),
        ("SHORT_ALLOC_ID", drover_types::short_id(&alloc.id).to_string()),
        ("ALLOC_NAME", alloc.name.clone()),
        ("ALLOC_INDEX", alloc.index().to_string()),
        ("JOB_ID", job.id.clone()),
        ("JOB_NAME", if job.name.is_empty() { job.id.clone() } else { job.name.clone() }),
        ("JOB_PARENT_ID", job.parent_id.clone()),
        ("TASK_NAME", task.name.clone()),
        ("GROUP_NAME", group.name.clone()),
        ("NAMESPACE", namespace.clone()),
        ("REGION", job.region.clone()),
        ("DC", node.datacenter.clone()),
        ("TASK_DIR", task_root.join("local").display().to_string()),
        ("ALLOC_DIR", alloc_root.join("alloc").display().to_string()),
        ("SECRETS_DIR", task_root.join("secrets").display().to_string()),
        ("CPU_LIMIT", cpu.to_string()),
        ("MEMORY_LIMIT", memory_mb.to_string()),
    ];
    for (suffix, value) in vars {
        set_both(&mut env, suffix, value);
    }
    let mut meta: BTreeMap<&String, &String> = BTreeMap::new();
    for (key, value) in job.meta.iter().chain(group.meta.iter()).chain(task.meta.iter()) {
        meta.insert(key, value);
    }
    for (key, value) in meta {
        set_both(&mut env, &format!("META_{key}"), value.clone());
        set_both(&mut env, &format!("META_{}", key.to_uppercase()), value.clone());
    }
    let interpolated: Vec<(String, String)> = {
        let interpolator = Interpolator { env: &env, node };
        task.env.iter().map(|(key, value)| (key.clone(), interpolator.string(value))).collect()
    };
    env.extend(interpolated);
    env
}

fn set_both(env: &mut BTreeMap<String, String>, suffix: &str, value: String) {
    env.insert(format!("DROVER_{suffix}"), value.clone());
    env.insert(format!("NOMAD_{suffix}"), value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_has_nomad_and_drover_names_meta_and_task_env() {
        let mut job = Job {
            id: "j/dispatch-1".to_string(),
            parent_id: "j".to_string(),
            region: "global".to_string(),
            ..Job::default()
        };
        job.meta.insert("input".to_string(), "job".to_string());
        job.meta.insert("shadowed".to_string(), "job".to_string());
        let mut group = TaskGroup { name: "g".to_string(), ..TaskGroup::default() };
        group.meta.insert("shadowed".to_string(), "group".to_string());
        let mut task = Task { name: "t".to_string(), ..Task::default() };
        task.meta.insert("shadowed".to_string(), "task".to_string());
        group.meta.insert("from_group".to_string(), "group".to_string());
        task.env.insert("GREETING".to_string(), "hi ${NOMAD_META_input} on ${node.datacenter} ${nope}".to_string());
        let alloc = Allocation {
            id: "0123456789abcdef".to_string(),
            name: "j/dispatch-1.g[2]".to_string(),
            namespace: "default".to_string(),
            ..Allocation::default()
        };
        let node = NodeVars { datacenter: "dc1".to_string(), ..NodeVars::default() };
        let base: BTreeMap<String, String> = [("PATH".to_string(), "/bin".to_string())].into_iter().collect();
        let env = build_task_env(TaskEnvInput {
            alloc: &alloc,
            job: &job,
            group: &group,
            task: &task,
            node: &node,
            alloc_root: Path::new("/a/0123"),
            base_env: &base,
        });
        let get = |key: &str| env.get(key).map(String::as_str);
        assert_eq!(get("PATH"), Some("/bin"));
        assert_eq!(get("NOMAD_ALLOC_ID"), Some("0123456789abcdef"));
        assert_eq!(get("DROVER_ALLOC_ID"), Some("0123456789abcdef"));
        assert_eq!(get("NOMAD_SHORT_ALLOC_ID"), Some("01234567"));
        assert_eq!(get("NOMAD_ALLOC_INDEX"), Some("2"));
        assert_eq!(get("NOMAD_JOB_ID"), Some("j/dispatch-1"));
        assert_eq!(get("NOMAD_JOB_NAME"), Some("j/dispatch-1"));
        assert_eq!(get("NOMAD_JOB_PARENT_ID"), Some("j"));
        assert_eq!(get("NOMAD_GROUP_NAME"), Some("g"));
        assert_eq!(get("NOMAD_TASK_NAME"), Some("t"));
        assert_eq!(get("NOMAD_DC"), Some("dc1"));
        assert_eq!(get("NOMAD_TASK_DIR"), Some("/a/0123/t/local"));
        assert_eq!(get("NOMAD_ALLOC_DIR"), Some("/a/0123/alloc"));
        assert_eq!(get("NOMAD_SECRETS_DIR"), Some("/a/0123/t/secrets"));
        assert_eq!(get("NOMAD_CPU_LIMIT"), Some("100"));
        assert_eq!(get("NOMAD_MEMORY_LIMIT"), Some("300"));
        assert_eq!(get("NOMAD_META_input"), Some("job"));
        assert_eq!(get("NOMAD_META_INPUT"), Some("job"));
        assert_eq!(get("DROVER_META_INPUT"), Some("job"));
        assert_eq!(get("NOMAD_META_shadowed"), Some("task"));
        assert_eq!(get("NOMAD_META_from_group"), Some("group"));
        assert_eq!(get("NOMAD_META_SHADOWED"), Some("task"));
        assert_eq!(get("GREETING"), Some("hi job on dc1 ${nope}"));
        assert_eq!(get("HOME"), None);
    }
}
