//! Job defaults and validation, shared by every way a job comes in.

use thiserror::Error;

use crate::ids::{DEFAULT_NAMESPACE, DEFAULT_REGION};
use crate::job::{
    DEFAULT_KILL_TIMEOUT, DEFAULT_PRIORITY, EphemeralDisk, Job, JobType, LogConfig, MAX_PRIORITY, ReschedulePolicy,
    RestartPolicy, TaskGroup, payload_requirement,
};

/// One problem found in a job, with the path of the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{path}: {message}")]
pub struct ValidationError {
    /// Where, e.g. `group "cache" -> task "redis" -> driver`.
    pub path: String,
    /// What is wrong, lowercase, no trailing period.
    pub message: String,
}

/// Every problem found in a job.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}", render(.0))]
pub struct ValidationErrors(pub Vec<ValidationError>);

fn render(errors: &[ValidationError]) -> String {
    let parts: Vec<String> = errors.iter().map(ToString::to_string).collect();
    parts.join("; ")
}

/// Largest `count` of one task group.
pub const MAX_GROUP_COUNT: u32 = 1_000_000;

const KNOWN_OPERANDS: &[&str] = &[
    "=",
    "==",
    "is",
    "!=",
    "not",
    ">",
    ">=",
    "<",
    "<=",
    "regexp",
    "version",
    "semver",
    "set_contains",
    "set_contains_all",
    "set_contains_any",
    "is_set",
    "is_not_set",
    "distinct_hosts",
    "distinct_property",
];

impl Job {
    /// Fills in Nomad's defaults: name, namespace, region, priority,
    /// datacenters, counts, resources, restart and reschedule policies per job type.
    pub fn canonicalize(&mut self) {
        if self.name.is_empty() {
            self.name = self.id.clone();
        }
        if self.namespace.is_empty() {
            self.namespace = DEFAULT_NAMESPACE.to_string();
        }
        if self.region.is_empty() {
            self.region = DEFAULT_REGION.to_string();
        }
        if self.priority == 0 {
            self.priority = DEFAULT_PRIORITY;
        }
        if self.datacenters.is_empty() {
            self.datacenters = vec!["*".to_string()];
        }
        if self.node_pool.is_empty() {
            self.node_pool = "default".to_string();
        }
        if let Some(param) = &mut self.parameterized_job
            && param.payload.is_empty()
        {
            param.payload = payload_requirement::OPTIONAL.to_string();
        }
        for constraint in &mut self.constraints {
            canonical_operand(&mut constraint.operand);
        }
        // Task groups shared with other jobs (a child's with its parent's) are
        // copied only if they lack a default.
        if self.task_groups.iter().any(|tg| !task_group_is_canonical(tg)) {
            let job_type = self.job_type;
            for tg in self.task_groups.make_mut() {
                canonicalize_task_group(tg, job_type);
            }
        }
    }

    /// Checks the job, returning every problem found (not only the first).
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = Vec::new();
        let mut push = |path: &str, message: String| {
            errors.push(ValidationError { path: path.to_string(), message });
        };
        if self.id.is_empty() {
            push("job", "missing job ID".to_string());
        } else if self.id.contains(char::is_whitespace) {
            push("job", format!("job ID {:?} contains a space", self.id));
        } else if self.id.contains('\0') {
            push("job", "job ID contains a null character".to_string());
        }
        if !(1..=MAX_PRIORITY).contains(&self.priority) {
            push("job -> priority", format!("priority must be between 1 and {MAX_PRIORITY}, got {}", self.priority));
        }
        if self.task_groups.is_empty() {
            push("job", "missing job task groups".to_string());
        }
        if let Some(param) = &self.parameterized_job {
            if !self.job_type.runs_to_completion() {
                push(
                    "job -> parameterized",
                    "parameterized job can only be used with \"batch\" or \"sysbatch\" scheduler".to_string(),
                );
            }
            if !matches!(
                param.payload.as_str(),
                payload_requirement::OPTIONAL | payload_requirement::REQUIRED | payload_requirement::FORBIDDEN
            ) {
                push(
                    "job -> parameterized -> payload",
                    format!(
                        "unknown payload requirement {:?} (expected optional, required or forbidden)",
                        param.payload
                    ),
                );
            }
            let both: Vec<&String> = param.meta_required.iter().filter(|k| param.meta_optional.contains(k)).collect();
            if !both.is_empty() {
                push(
                    "job -> parameterized",
                    format!("required and optional meta keys should be disjoint; in both: {both:?}"),
                );
            }
        }
        if let Some(periodic) = &self.periodic
            && periodic.enabled
            && periodic.spec.is_empty()
            && periodic.specs.is_empty()
        {
            push("job -> periodic", "a cron expression is required (cron or crons)".to_string());
        }
        for constraint in &self.constraints {
            check_constraint("job -> constraint", constraint, &mut push);
        }
        let mut group_names = std::collections::BTreeSet::new();
        for (tg_idx, tg) in self.task_groups.iter().enumerate() {
            let tg_path =
                if tg.name.is_empty() { format!("group {}", tg_idx + 1) } else { format!("group {:?}", tg.name) };
            if tg.name.is_empty() {
                push(&tg_path, "missing task group name".to_string());
            } else if !group_names.insert(tg.name.as_str()) {
                push(&tg_path, format!("duplicate task group name {:?}", tg.name));
            }
            if tg.tasks.is_empty() {
                push(&tg_path, "missing tasks for task group".to_string());
            }
            if tg.count > MAX_GROUP_COUNT {
                push(
                    &format!("{tg_path} -> count"),
                    format!("count must be at most {MAX_GROUP_COUNT}, got {}", tg.count),
                );
            }
            if matches!(self.job_type, JobType::System | JobType::Sysbatch) && tg.count > 1 {
                push(
                    &tg_path,
                    format!("{} jobs run one instance per node; count must be 0 or 1", self.job_type.as_str()),
                );
            }
            if let Some(restart) = &tg.restart_policy
                && !matches!(restart.mode.as_str(), "fail" | "delay")
            {
                push(
                    &format!("{tg_path} -> restart -> mode"),
                    format!("unknown mode {:?} (expected fail or delay)", restart.mode),
                );
            }
            if let Some(reschedule) = &tg.reschedule_policy
                && !matches!(reschedule.delay_function.as_str(), "constant" | "exponential" | "fibonacci" | "")
            {
                push(
                    &format!("{tg_path} -> reschedule -> delay_function"),
                    format!(
                        "unknown delay function {:?} (expected constant, exponential or fibonacci)",
                        reschedule.delay_function
                    ),
                );
            }
            for constraint in &tg.constraints {
                check_constraint(&format!("{tg_path} -> constraint"), constraint, &mut push);
            }
            let mut task_names = std::collections::BTreeSet::new();
            for (task_idx, task) in tg.tasks.iter().enumerate() {
                let task_path = if task.name.is_empty() {
                    format!("{tg_path} -> task {}", task_idx + 1)
                } else {
                    format!("{tg_path} -> task {:?}", task.name)
                };
                if task.name.is_empty() {
                    push(&task_path, "missing task name".to_string());
                } else if !task_names.insert(task.name.as_str()) {
                    push(&task_path, format!("duplicate task name {:?}", task.name));
                } else if task.name.contains('/') || task.name.contains("..") {
                    push(&task_path, format!("task name {:?} may not contain '/' or '..'", task.name));
                }
                if task.driver.is_empty() {
                    push(&task_path, "missing task driver".to_string());
                }
                if task.kill_timeout < 0 {
                    push(&format!("{task_path} -> kill_timeout"), "must not be negative".to_string());
                }
                if let Some(payload) = &task.dispatch_payload {
                    let file = payload.file.as_str();
                    if file.starts_with('/') || file.split('/').any(|part| part == "..") {
                        push(
                            &format!("{task_path} -> dispatch_payload -> file"),
                            format!("destination {file:?} escapes the task's local directory"),
                        );
                    }
                }
                for constraint in &task.constraints {
                    check_constraint(&format!("{task_path} -> constraint"), constraint, &mut push);
                }
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(ValidationErrors(errors)) }
    }
}

/// Fills a task group's defaults (see [`Job::canonicalize`]).
fn canonicalize_task_group(tg: &mut TaskGroup, job_type: JobType) {
    if tg.restart_policy.is_none() {
        tg.restart_policy = Some(RestartPolicy::for_job_type(job_type));
    }
    if tg.reschedule_policy.is_none() {
        tg.reschedule_policy = Some(ReschedulePolicy::for_job_type(job_type));
    }
    if tg.ephemeral_disk.is_none() {
        tg.ephemeral_disk = Some(EphemeralDisk::default());
    }
    for constraint in &mut tg.constraints {
        canonical_operand(&mut constraint.operand);
    }
    for task in &mut tg.tasks {
        if task.kill_timeout == 0 {
            task.kill_timeout = DEFAULT_KILL_TIMEOUT;
        }
        if task.log_config.is_none() {
            task.log_config = Some(LogConfig::default());
        }
        for constraint in &mut task.constraints {
            canonical_operand(&mut constraint.operand);
        }
    }
}

/// Whether [`canonicalize_task_group`] would leave `tg` as it is.
fn task_group_is_canonical(tg: &TaskGroup) -> bool {
    let operand_is_canonical =
        |constraint: &crate::job::Constraint| canonical_operand_of(&constraint.operand).is_none();
    tg.restart_policy.is_some()
        && tg.reschedule_policy.is_some()
        && tg.ephemeral_disk.is_some()
        && tg.constraints.iter().all(operand_is_canonical)
        && tg.tasks.iter().all(|task| {
            task.kill_timeout != 0 && task.log_config.is_some() && task.constraints.iter().all(operand_is_canonical)
        })
}

fn canonical_operand(operand: &mut String) {
    if let Some(canonical) = canonical_operand_of(operand) {
        *operand = canonical.to_string();
    }
}

/// The canonical spelling of a constraint operator, if `operand` is another one.
fn canonical_operand_of(operand: &str) -> Option<&'static str> {
    match operand {
        "" | "==" | "is" => Some("="),
        "not" => Some("!="),
        _ => None,
    }
}

fn check_constraint(path: &str, constraint: &crate::job::Constraint, push: &mut impl FnMut(&str, String)) {
    if !KNOWN_OPERANDS.contains(&constraint.operand.as_str()) {
        push(
            path,
            format!(
                "unknown operator {:?} (expected one of =, !=, >, >=, <, <=, regexp, version, semver, set_contains, set_contains_any, is_set, is_not_set, distinct_hosts)",
                constraint.operand
            ),
        );
        return;
    }
    let needs_left = !matches!(constraint.operand.as_str(), "distinct_hosts");
    if needs_left && constraint.l_target.is_empty() {
        push(path, format!("constraint with operator {:?} needs an attribute", constraint.operand));
    }
    let needs_right =
        !matches!(constraint.operand.as_str(), "is_set" | "is_not_set" | "distinct_hosts" | "distinct_property");
    if needs_right && constraint.r_target.is_empty() {
        push(path, format!("constraint with operator {:?} needs a value", constraint.operand));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{ParameterizedJobConfig, Task, TaskGroup};

    fn minimal(job_type: JobType) -> Job {
        Job {
            id: "example".to_string(),
            job_type,
            task_groups: vec![TaskGroup {
                name: "cache".to_string(),
                count: 1,
                tasks: vec![Task { name: "t".to_string(), driver: "raw_exec".to_string(), ..Task::default() }],
                ..TaskGroup::default()
            }]
            .into(),
            ..Job::default()
        }
    }

    #[test]
    fn canonicalize_fills_nomad_defaults() {
        let mut job = minimal(JobType::Batch);
        job.canonicalize();
        assert_eq!(job.name, "example");
        assert_eq!(job.namespace, "default");
        assert_eq!(job.priority, 50);
        assert_eq!(job.datacenters, vec!["*"]);
        let restart = job.task_groups[0].restart_policy.clone().expect("restart policy set");
        assert_eq!(restart.attempts, 3);
        assert_eq!(job.task_groups[0].tasks[0].kill_timeout, DEFAULT_KILL_TIMEOUT);
        assert!(job.validate().is_ok());
    }

    #[test]
    fn canonicalize_leaves_canonical_shared_task_groups_shared() {
        let mut parent = minimal(JobType::Batch);
        parent.canonicalize();
        let mut child = parent.clone();
        child.id = "example/dispatch-1".to_string();
        child.canonicalize();
        assert!(child.task_groups.is_shared_with(&parent.task_groups), "nothing to fill: no copy");

        let mut raw = minimal(JobType::Batch);
        let shared = raw.clone();
        raw.canonicalize();
        assert!(!raw.task_groups.is_shared_with(&shared.task_groups), "defaults filled into a copy");
        assert!(shared.task_groups[0].restart_policy.is_none(), "the other job is untouched");
        assert!(raw.task_groups[0].restart_policy.is_some());
    }

    #[test]
    fn validate_reports_every_problem_with_its_path() {
        let mut job = minimal(JobType::Service);
        job.id = "has space".to_string();
        job.task_groups[0].tasks[0].driver.clear();
        job.parameterized_job = Some(ParameterizedJobConfig { payload: "sometimes".to_string(), ..Default::default() });
        job.canonicalize();
        let errors = job.validate().expect_err("invalid job").0;
        let texts: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(texts.contains(&"job: job ID \"has space\" contains a space".to_string()), "{texts:?}");
        assert!(texts.contains(&"group \"cache\" -> task \"t\": missing task driver".to_string()), "{texts:?}");
        assert!(texts.iter().any(|t| t.contains("can only be used with \"batch\"")), "{texts:?}");
        assert!(texts.iter().any(|t| t.contains("unknown payload requirement \"sometimes\"")), "{texts:?}");
    }

    #[test]
    fn spec_eq_ignores_server_managed_fields() {
        let mut a = minimal(JobType::Batch);
        a.canonicalize();
        let mut b = a.clone();
        b.version = 4;
        b.modify_index = 99;
        b.status = "running".to_string();
        assert!(a.spec_eq(&b));
        b.task_groups[0].count = 3;
        assert!(!a.spec_eq(&b));
    }
}
