//! Jobs, task groups and tasks: what users submit.

use std::collections::BTreeMap;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::time::NANOS_PER_SEC;

/// Free-form key/value metadata (`meta { ... }`), ordered for stable output.
pub type Meta = BTreeMap<String, String>;

/// How the scheduler treats a job's task groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum JobType {
    /// Long-running: keep `count` instances running, replace what dies.
    #[default]
    Service,
    /// Run to completion; failed allocations are rescheduled per policy.
    Batch,
    /// One instance on every eligible node, kept running.
    System,
    /// One instance on every eligible node, run to completion.
    Sysbatch,
}

impl JobType {
    /// The name as written in jobspecs and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            JobType::Service => "service",
            JobType::Batch => "batch",
            JobType::System => "system",
            JobType::Sysbatch => "sysbatch",
        }
    }

    /// Parses a jobspec type name.
    pub fn parse(text: &str) -> Option<JobType> {
        match text {
            "service" => Some(JobType::Service),
            "batch" => Some(JobType::Batch),
            "system" => Some(JobType::System),
            "sysbatch" => Some(JobType::Sysbatch),
            _ => None,
        }
    }

    /// Whether allocations of this type run to completion rather than forever.
    pub fn runs_to_completion(self) -> bool {
        matches!(self, JobType::Batch | JobType::Sysbatch)
    }
}

/// A job's coarse status, as `drover job status` prints it.
pub mod job_status {
    /// Registered, nothing running yet.
    pub const PENDING: &str = "pending";
    /// At least one allocation is not terminal (or a template is registered).
    pub const RUNNING: &str = "running";
    /// Nothing is or will be running.
    pub const DEAD: &str = "dead";
}

/// A job: the unit users submit, version and stop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct Job {
    /// Unique within the namespace.
    #[serde(rename = "ID")]
    pub id: String,
    /// For dispatched and periodic children: the parent's ID.
    #[serde(rename = "ParentID")]
    pub parent_id: String,
    /// Display name; defaults to the ID.
    pub name: String,
    /// Namespace; defaults to `default`.
    pub namespace: String,
    /// Region; defaults to `global`.
    pub region: String,
    /// Scheduler type.
    #[serde(rename = "Type")]
    pub job_type: JobType,
    /// 1..=100, default 50; orders evaluations and queued work.
    pub priority: i32,
    /// Place every allocation in one plan or none (accepted; plans are already atomic).
    pub all_at_once: bool,
    /// Datacenters the job may run in; `*` globs are allowed.
    pub datacenters: Vec<String>,
    /// Node pool the job may run in; `default` when empty.
    pub node_pool: String,
    /// Constraints applied to every task group.
    pub constraints: Vec<Constraint>,
    /// The task groups (shared with the parent by dispatched and periodic children).
    pub task_groups: TaskGroups,
    /// Cron launching (makes the job a template for `periodic-` children).
    pub periodic: Option<PeriodicConfig>,
    /// Metronome-style cron schedules (any makes the job a template for
    /// `periodic-` children); Nomad's `periodic` adds to them, see
    /// [`Job::effective_schedules`].
    pub schedules: Vec<crate::JobSchedule>,
    /// What a failed run does and how many finished runs are kept.
    pub run_policy: crate::RunPolicy,
    /// Drover: the job runs only when started (a manual run or a schedule),
    /// never on registration, like a Metronome job; it is a template as a
    /// periodic job is, even without schedules.
    pub run_on_demand: bool,
    /// Dispatch template configuration (makes the job a template for `dispatch-` children).
    pub parameterized_job: Option<ParameterizedJobConfig>,
    /// True on a dispatched child.
    pub dispatched: bool,
    /// The idempotency token a dispatched child was created with.
    pub dispatch_idempotency_token: String,
    /// The dispatch payload of a child (base64 in JSON).
    #[serde(with = "payload_base64")]
    pub payload: Vec<u8>,
    /// Job-level metadata (task env `DROVER_META_*`).
    pub meta: Meta,
    /// Update strategy as submitted; kept for round-trips, not acted on.
    pub update: Option<serde_json::Value>,
    /// Set by `job stop`: the job stays registered but runs nothing.
    pub stop: bool,
    /// `pending`, `running` or `dead` (see [`job_status`]).
    pub status: String,
    /// Why the job has its status.
    pub status_description: String,
    /// Whether this version was once fully healthy.
    pub stable: bool,
    /// Spec version, bumped on every spec change.
    pub version: u64,
    /// When this version was submitted (Unix ns).
    pub submit_time: i64,
    /// State index at which the job was first created.
    pub create_index: u64,
    /// State index of the last change of any kind.
    pub modify_index: u64,
    /// State index of the last spec change (what `-check-index` compares).
    pub job_modify_index: u64,
}

impl Job {
    /// Whether this job is a dispatch template (parameterized and not itself a child).
    pub fn is_parameterized(&self) -> bool {
        self.parameterized_job.is_some() && !self.dispatched
    }

    /// Whether this job is a cron template: an enabled `periodic` block, any
    /// schedule (a job whose schedules are all disabled stays a template that
    /// only runs by hand) or `RunOnDemand`. Children never are.
    pub fn is_periodic(&self) -> bool {
        !self.dispatched
            && self.parent_id.is_empty()
            && (self.periodic.as_ref().is_some_and(|p| p.enabled) || !self.schedules.is_empty() || self.run_on_demand)
    }

    /// Every schedule of the job: Nomad's `periodic` block first (IDs
    /// `periodic`, `periodic-1`, ... for `cron` then each of `crons`;
    /// `prohibit_overlap` is FORBID; no starting deadline), then `Schedules`.
    pub fn effective_schedules(&self) -> Vec<crate::JobSchedule> {
        let mut schedules = Vec::new();
        if let Some(periodic) = &self.periodic {
            let crons = std::iter::once(&periodic.spec).filter(|spec| !spec.is_empty()).chain(periodic.specs.iter());
            for (cron_idx, cron) in crons.enumerate() {
                schedules.push(crate::JobSchedule {
                    id: if cron_idx == 0 { "periodic".to_string() } else { format!("periodic-{cron_idx}") },
                    cron: cron.clone(),
                    time_zone: periodic.time_zone.clone(),
                    enabled: periodic.enabled,
                    concurrency_policy: if periodic.prohibit_overlap {
                        crate::ConcurrencyPolicy::Forbid
                    } else {
                        crate::ConcurrencyPolicy::Allow
                    },
                    starting_deadline_seconds: 0,
                });
            }
        }
        schedules.extend(self.schedules.iter().cloned());
        schedules
    }

    /// Templates never get allocations of their own.
    pub fn is_template(&self) -> bool {
        self.is_parameterized() || self.is_periodic()
    }

    /// Finds a task group by name.
    pub fn task_group(&self, name: &str) -> Option<&TaskGroup> {
        self.task_groups.iter().find(|tg| tg.name == name)
    }

    /// The spec fields only: what decides whether a re-submission is a new version.
    /// Indexes, status, version and submit time are server-managed and ignored.
    pub fn spec_eq(&self, other: &Job) -> bool {
        let strip = |job: &Job| {
            let mut job = job.clone();
            job.status = String::new();
            job.status_description = String::new();
            job.stable = false;
            job.version = 0;
            job.submit_time = 0;
            job.create_index = 0;
            job.modify_index = 0;
            job.job_modify_index = 0;
            job.stop = false;
            job
        };
        strip(self) == strip(other)
    }
}

/// A job's task groups, shared copy-on-write: a dispatched or periodic child
/// is a clone of its parent, and with a million children the task groups (every
/// task, its config, env and resources) are most of a job's bytes, so clones
/// share one copy. Read through `Deref` (a `Vec<TaskGroup>`); any mutable
/// access ([`TaskGroups::make_mut`], `DerefMut`) copies first if the groups
/// are shared, so a change to one job never shows in another. Serialized as
/// the plain list: the JSON of a job is unchanged.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskGroups(Arc<Vec<TaskGroup>>);

impl TaskGroups {
    /// The groups, for changing; copies them first if another job shares them.
    pub fn make_mut(&mut self) -> &mut Vec<TaskGroup> {
        Arc::make_mut(&mut self.0)
    }

    /// Whether `self` and `other` are one shared copy (not merely equal).
    pub fn is_shared_with(&self, other: &TaskGroups) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Deref for TaskGroups {
    type Target = Vec<TaskGroup>;

    fn deref(&self) -> &Vec<TaskGroup> {
        &self.0
    }
}

impl DerefMut for TaskGroups {
    /// Copies the groups first if they are shared (see [`TaskGroups::make_mut`]).
    fn deref_mut(&mut self) -> &mut Vec<TaskGroup> {
        self.make_mut()
    }
}

impl PartialEq for TaskGroups {
    fn eq(&self, other: &TaskGroups) -> bool {
        self.is_shared_with(other) || *self.0 == *other.0
    }
}

impl From<Vec<TaskGroup>> for TaskGroups {
    fn from(groups: Vec<TaskGroup>) -> TaskGroups {
        TaskGroups(Arc::new(groups))
    }
}

impl FromIterator<TaskGroup> for TaskGroups {
    fn from_iter<I: IntoIterator<Item = TaskGroup>>(groups: I) -> TaskGroups {
        TaskGroups::from(groups.into_iter().collect::<Vec<_>>())
    }
}

impl<'a> IntoIterator for &'a TaskGroups {
    type Item = &'a TaskGroup;
    type IntoIter = std::slice::Iter<'a, TaskGroup>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<'a> IntoIterator for &'a mut TaskGroups {
    type Item = &'a mut TaskGroup;
    type IntoIter = std::slice::IterMut<'a, TaskGroup>;

    fn into_iter(self) -> Self::IntoIter {
        self.make_mut().iter_mut()
    }
}

/// A set of tasks placed together on one node, `count` times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskGroup {
    /// Unique within the job.
    pub name: String,
    /// How many instances; default 1.
    pub count: u32,
    /// Constraints for this group (added to the job's).
    pub constraints: Vec<Constraint>,
    /// The tasks, started together.
    pub tasks: Vec<Task>,
    /// What the client does when a task fails.
    pub restart_policy: Option<RestartPolicy>,
    /// What the server does when an allocation fails.
    pub reschedule_policy: Option<ReschedulePolicy>,
    /// Scratch disk for the allocation.
    pub ephemeral_disk: Option<EphemeralDisk>,
    /// Group-level metadata; shadows job meta for its tasks.
    pub meta: Meta,
}

impl Default for TaskGroup {
    /// A group with `count = 1`, Nomad's default when `Count` is absent.
    fn default() -> Self {
        TaskGroup {
            name: String::new(),
            count: 1,
            constraints: Vec::new(),
            tasks: Vec::new(),
            restart_policy: None,
            reschedule_policy: None,
            ephemeral_disk: None,
            meta: Meta::new(),
        }
    }
}

/// One process (or container) run by a driver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct Task {
    /// Unique within the group.
    pub name: String,
    /// Driver name: `raw_exec`, `exec`, `docker`, `mock`.
    pub driver: String,
    /// User to run as (drivers that support it).
    pub user: String,
    /// Driver configuration, as written in the `config` block.
    pub config: BTreeMap<String, serde_json::Value>,
    /// Environment variables added to the task's environment.
    pub env: BTreeMap<String, String>,
    /// Resources asked for.
    pub resources: Resources,
    /// Task-level metadata; shadows group and job meta.
    pub meta: Meta,
    /// Time between the kill signal and SIGKILL (ns); default 5s.
    pub kill_timeout: i64,
    /// Signal sent first on stop; default SIGTERM.
    pub kill_signal: String,
    /// Constraints for this task (added to the group's).
    pub constraints: Vec<Constraint>,
    /// Where a dispatched payload is written, under the task's `local/` dir.
    pub dispatch_payload: Option<DispatchPayloadConfig>,
    /// Log rotation settings.
    pub log_config: Option<LogConfig>,
    /// A leader task's death stops its siblings.
    pub leader: bool,
}

/// Resources a task asks for; also what a node offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Resources {
    /// CPU in MHz.
    #[serde(rename = "CPU")]
    pub cpu: u64,
    /// Memory in MB.
    #[serde(rename = "MemoryMB")]
    pub memory_mb: u64,
    /// Disk in MB (task level is deprecated in Nomad; groups use `EphemeralDisk`).
    #[serde(rename = "DiskMB")]
    pub disk_mb: u64,
}

impl Default for Resources {
    fn default() -> Self {
        Resources { cpu: DEFAULT_TASK_CPU, memory_mb: DEFAULT_TASK_MEMORY_MB, disk_mb: 0 }
    }
}

/// Default task CPU in MHz (Nomad's default).
pub const DEFAULT_TASK_CPU: u64 = 100;
/// Default task memory in MB (Nomad's default).
pub const DEFAULT_TASK_MEMORY_MB: u64 = 300;
/// Default ephemeral disk in MB (Nomad's default).
pub const DEFAULT_EPHEMERAL_DISK_MB: u64 = 300;
/// Default kill timeout (5s).
pub const DEFAULT_KILL_TIMEOUT: i64 = 5 * NANOS_PER_SEC;
/// Default job priority.
pub const DEFAULT_PRIORITY: i32 = 50;
/// Highest job priority.
pub const MAX_PRIORITY: i32 = 100;

/// The group's scratch disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EphemeralDisk {
    /// Size in MB.
    #[serde(rename = "SizeMB")]
    pub size_mb: u64,
    /// Best-effort migration to the replacement allocation (accepted, not acted on).
    pub migrate: bool,
    /// Best-effort placement on the same node (accepted, not acted on).
    pub sticky: bool,
}

impl Default for EphemeralDisk {
    fn default() -> Self {
        EphemeralDisk { size_mb: DEFAULT_EPHEMERAL_DISK_MB, migrate: false, sticky: false }
    }
}

/// A placement rule: `LTarget Operand RTarget`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct Constraint {
    /// Left side, usually `${attr.*}`, `${node.*}` or `${meta.*}`.
    #[serde(rename = "LTarget")]
    pub l_target: String,
    /// Right side: a literal, a regexp, a version range, a set.
    #[serde(rename = "RTarget")]
    pub r_target: String,
    /// `=`, `!=`, `>`, `>=`, `<`, `<=`, `regexp`, `version`, `semver`,
    /// `set_contains`, `set_contains_any`, `is_set`, `is_not_set`, `distinct_hosts`.
    pub operand: String,
}

impl std::fmt::Display for Constraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.l_target, self.operand, self.r_target)
    }
}

/// Client-side restarts of a failed task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    /// Restarts allowed within `interval`.
    pub attempts: u32,
    /// Window for counting attempts (ns).
    pub interval: i64,
    /// Wait before a restart (ns).
    pub delay: i64,
    /// `fail`: give up after the attempts; `delay`: wait out the interval and go on.
    pub mode: String,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy::for_job_type(JobType::Service)
    }
}

impl RestartPolicy {
    /// Nomad's defaults: batch 3 / 24h / 15s / fail, service 2 / 30m / 15s / fail.
    pub fn for_job_type(job_type: JobType) -> RestartPolicy {
        match job_type {
            JobType::Batch | JobType::Sysbatch => RestartPolicy {
                attempts: 3,
                interval: 24 * 3600 * NANOS_PER_SEC,
                delay: 15 * NANOS_PER_SEC,
                mode: "fail".to_string(),
            },
            JobType::Service | JobType::System => RestartPolicy {
                attempts: 2,
                interval: 30 * 60 * NANOS_PER_SEC,
                delay: 15 * NANOS_PER_SEC,
                mode: "fail".to_string(),
            },
        }
    }
}

/// Server-side replacement of a failed allocation on another node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ReschedulePolicy {
    /// Reschedules allowed within `interval` (ignored when `unlimited`).
    pub attempts: u32,
    /// Window for counting attempts (ns).
    pub interval: i64,
    /// Base delay before a reschedule (ns).
    pub delay: i64,
    /// `constant`, `exponential` or `fibonacci`.
    pub delay_function: String,
    /// Cap on the delay (ns).
    pub max_delay: i64,
    /// Reschedule forever.
    pub unlimited: bool,
}

impl Default for ReschedulePolicy {
    fn default() -> Self {
        ReschedulePolicy::for_job_type(JobType::Service)
    }
}

impl ReschedulePolicy {
    /// Nomad's defaults: batch 1 / 24h / 5s constant; service unlimited exponential 30s..1h.
    /// System and sysbatch jobs do not reschedule (zero attempts).
    pub fn for_job_type(job_type: JobType) -> ReschedulePolicy {
        match job_type {
            JobType::Batch => ReschedulePolicy {
                attempts: 1,
                interval: 24 * 3600 * NANOS_PER_SEC,
                delay: 5 * NANOS_PER_SEC,
                delay_function: "constant".to_string(),
                max_delay: 0,
                unlimited: false,
            },
            JobType::Service => ReschedulePolicy {
                attempts: 0,
                interval: 0,
                delay: 30 * NANOS_PER_SEC,
                delay_function: "exponential".to_string(),
                max_delay: 3600 * NANOS_PER_SEC,
                unlimited: true,
            },
            JobType::System | JobType::Sysbatch => ReschedulePolicy {
                attempts: 0,
                interval: 0,
                delay: 0,
                delay_function: "constant".to_string(),
                max_delay: 0,
                unlimited: false,
            },
        }
    }
}

/// Log rotation for a task's stdout and stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfig {
    /// Rotated files kept per stream.
    pub max_files: u32,
    /// Size of one file in MB.
    #[serde(rename = "MaxFileSizeMB")]
    pub max_file_size_mb: u32,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { max_files: 10, max_file_size_mb: 10 }
    }
}

/// Where a dispatch payload is written for a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct DispatchPayloadConfig {
    /// Path relative to the task's `local/` dir.
    pub file: String,
}

/// Dispatch template settings (`parameterized { ... }`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct ParameterizedJobConfig {
    /// `optional` (default), `required` or `forbidden`.
    pub payload: String,
    /// Meta keys every dispatch must give.
    pub meta_required: Vec<String>,
    /// Meta keys a dispatch may give.
    pub meta_optional: Vec<String>,
    /// Drover: at most this many children run at once; the rest queue (0 = no limit).
    pub max_concurrent: u32,
}

/// Payload requirement values.
pub mod payload_requirement {
    /// A payload may be given.
    pub const OPTIONAL: &str = "optional";
    /// A payload must be given.
    pub const REQUIRED: &str = "required";
    /// A payload must not be given.
    pub const FORBIDDEN: &str = "forbidden";
}

/// Cron launching settings (`periodic { ... }`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PeriodicConfig {
    /// Whether launches happen.
    pub enabled: bool,
    /// One cron expression (`cron = "..."`).
    pub spec: String,
    /// Several cron expressions (`crons = [...]`).
    pub specs: Vec<String>,
    /// Always `cron`.
    pub spec_type: String,
    /// Skip a launch while a previous child still runs.
    pub prohibit_overlap: bool,
    /// IANA zone the expressions are read in; UTC when empty.
    pub time_zone: String,
}

impl Default for PeriodicConfig {
    fn default() -> Self {
        PeriodicConfig {
            enabled: true,
            spec: String::new(),
            specs: Vec::new(),
            spec_type: "cron".to_string(),
            prohibit_overlap: false,
            time_zone: String::new(),
        }
    }
}

/// Serde for `Job::payload`: base64 text in JSON, as Nomad's API sends it.
mod payload_base64 {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        if bytes.is_empty() {
            return serializer.serialize_none();
        }
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text: Option<String> = Option::deserialize(deserializer)?;
        match text {
            None => Ok(Vec::new()),
            Some(text) => STANDARD.decode(text.as_bytes()).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job_with_group(count: u32) -> Job {
        Job {
            id: "parent".to_string(),
            task_groups: vec![TaskGroup { name: "g".to_string(), count, ..TaskGroup::default() }].into(),
            ..Job::default()
        }
    }

    #[test]
    fn cloned_jobs_share_task_groups_until_one_changes_them() {
        let parent = job_with_group(1);
        let mut child = parent.clone();
        assert!(child.task_groups.is_shared_with(&parent.task_groups));

        child.task_groups[0].count = 5;
        assert!(!child.task_groups.is_shared_with(&parent.task_groups), "a change copies first");
        assert_eq!((parent.task_groups[0].count, child.task_groups[0].count), (1, 5));

        let mut other = parent.clone();
        other.task_groups.make_mut().push(TaskGroup { name: "h".to_string(), ..TaskGroup::default() });
        assert_eq!((parent.task_groups.len(), other.task_groups.len()), (1, 2));
    }

    #[test]
    fn task_groups_compare_by_content() {
        let (a, b) = (job_with_group(1), job_with_group(1));
        assert!(!a.task_groups.is_shared_with(&b.task_groups));
        assert_eq!(a.task_groups, b.task_groups);
        assert_ne!(a.task_groups, job_with_group(2).task_groups);
        assert!(a.spec_eq(&b));
    }

    #[test]
    fn task_groups_serialize_as_the_plain_list() {
        let job = job_with_group(3);
        let json = serde_json::to_value(&job).expect("serializes");
        let groups = json["TaskGroups"].as_array().expect("a list");
        assert_eq!((groups.len(), groups[0]["Name"].as_str(), groups[0]["Count"].as_u64()), (1, Some("g"), Some(3)));
        let back: Job = serde_json::from_value(json).expect("deserializes");
        assert_eq!(back, job);
        let empty: Job = serde_json::from_str(r#"{"ID":"x"}"#).expect("deserializes");
        assert!(empty.task_groups.is_empty());
    }
}
