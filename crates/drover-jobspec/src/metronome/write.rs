//! A Drover job back in Metronome's JSON shape: [`job_to_metronome`] (or
//! [`NotMetronome`] for a job a Metronome run cannot start) and
//! [`schedule_to_metronome`], for the `/service/metronome/v1` API.

use std::collections::BTreeMap;

use drover_types::{ConcurrencyPolicy, Constraint, Job, JobSchedule, JobType, NANOS_PER_SEC, RunRestartPolicy};
use serde_json::{Map, Value, json};

use super::{DESCRIPTION_META_KEY, GPU_ATTRIBUTE};

/// Why a job has no Metronome form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("job {job_id:?} has no Metronome form: {reason}")]
pub struct NotMetronome {
    /// The job.
    pub job_id: String,
    /// What does not fit, lowercase.
    pub reason: String,
}

/// Renders a job in Metronome's shape (`id`, `description`, `labels`, `run`,
/// `schedules`). Only batch templates (run on demand or on a schedule, not
/// parameterized) with one group of one task have one: the jobs a Metronome
/// run can start.
pub fn job_to_metronome(job: &Job) -> Result<Value, NotMetronome> {
    let not = |reason: &str| NotMetronome { job_id: job.id.clone(), reason: reason.to_string() };
    if job.job_type != JobType::Batch {
        return Err(not(&format!("it is a {} job, not batch", job.job_type.as_str())));
    }
    if !job.parent_id.is_empty() {
        return Err(not("it is a child of another job"));
    }
    if job.is_parameterized() {
        return Err(not("it is a parameterized job: it runs by dispatch (POST /v1/job/<id>/dispatch)"));
    }
    if !job.is_periodic() {
        return Err(not("it runs when registered, not on demand or on a schedule"));
    }
    let [group] = job.task_groups.as_slice() else { return Err(not("it does not have exactly one task group")) };
    let [task] = group.tasks.as_slice() else { return Err(not("its group does not have exactly one task")) };

    let mut run = Map::new();
    let config = &task.config;
    let command = config.get("command").and_then(Value::as_str).unwrap_or("");
    let args: Vec<String> = config
        .get("args")
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(|item| item.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let shell_cmd = (command == "/bin/sh" && args.len() == 2 && args[0] == "-c").then(|| args[1].clone());
    match (task.driver.as_str(), shell_cmd) {
        ("docker", Some(cmd)) | ("raw_exec", Some(cmd)) => {
            run.insert("cmd".to_string(), json!(cmd));
        }
        ("docker", None) => {
            if !command.is_empty() {
                run.insert("cmd".to_string(), json!(command));
            }
            if !args.is_empty() {
                run.insert("args".to_string(), json!(args));
            }
        }
        _ => {
            let mut argv = Vec::with_capacity(args.len() + 1);
            if !command.is_empty() {
                argv.push(command.to_string());
            }
            argv.extend(args);
            run.insert("args".to_string(), json!(argv));
        }
    }
    run.insert("cpus".to_string(), json!(task.resources.cpu as f64 / 1000.0));
    run.insert("mem".to_string(), json!(task.resources.memory_mb));
    run.insert("disk".to_string(), json!(group.ephemeral_disk.map(|disk| disk.size_mb).unwrap_or(0)));
    let gpus = task
        .constraints
        .iter()
        .find(|c| c.l_target == GPU_ATTRIBUTE)
        .and_then(|c| c.r_target.parse::<u64>().ok())
        .unwrap_or(0);
    run.insert("gpus".to_string(), json!(gpus));
    if !task.env.is_empty() {
        run.insert("env".to_string(), json!(task.env));
    }
    if !task.user.is_empty() {
        run.insert("user".to_string(), json!(task.user));
    }
    if task.driver == "docker" {
        let mut docker = Map::new();
        docker.insert("image".to_string(), config.get("image").cloned().unwrap_or(json!("")));
        docker.insert("forcePullImage".to_string(), json!(config_bool(config, "force_pull")));
        docker.insert("privileged".to_string(), json!(config_bool(config, "privileged")));
        docker.insert("parameters".to_string(), config.get("parameters").cloned().unwrap_or(json!([])));
        run.insert("docker".to_string(), Value::Object(docker));
    }
    if let Some(artifacts) = config.get("artifacts") {
        run.insert("artifacts".to_string(), artifacts.clone());
    }
    let policy = match job.run_policy.restart_policy {
        RunRestartPolicy::Never => "NEVER",
        RunRestartPolicy::OnFailure => "ON_FAILURE",
    };
    let mut restart = Map::new();
    restart.insert("policy".to_string(), json!(policy));
    if job.run_policy.active_deadline_seconds > 0 {
        restart.insert("activeDeadlineSeconds".to_string(), json!(job.run_policy.active_deadline_seconds));
    }
    run.insert("restart".to_string(), Value::Object(restart));
    if task.kill_timeout > 0 {
        run.insert("taskKillGracePeriodSeconds".to_string(), json!(task.kill_timeout as f64 / NANOS_PER_SEC as f64));
    }
    if job.run_policy.max_launch_delay_seconds > 0 {
        run.insert("maxLaunchDelay".to_string(), json!(job.run_policy.max_launch_delay_seconds));
    }
    let constraints: Vec<Value> = job.constraints.iter().filter_map(placement_constraint).collect();
    if !constraints.is_empty() {
        run.insert("placement".to_string(), json!({ "constraints": constraints }));
    }

    let mut labels = job.meta.clone();
    let description = labels.remove(DESCRIPTION_META_KEY);
    let mut out = Map::new();
    out.insert("id".to_string(), json!(job.id));
    if let Some(description) = description {
        out.insert("description".to_string(), json!(description));
    }
    out.insert("labels".to_string(), json!(labels));
    out.insert("run".to_string(), Value::Object(run));
    out.insert("schedules".to_string(), Value::Array(job.schedules.iter().map(schedule_to_metronome).collect()));
    Ok(Value::Object(out))
}

/// Renders a schedule in Metronome's shape (without `nextRunAt`, which needs
/// the cron library; the API adds it).
pub fn schedule_to_metronome(schedule: &JobSchedule) -> Value {
    let policy = match schedule.concurrency_policy {
        ConcurrencyPolicy::Allow => "ALLOW",
        ConcurrencyPolicy::Forbid => "FORBID",
        ConcurrencyPolicy::Replace => "REPLACE",
    };
    json!({
        "id": schedule.id,
        "cron": schedule.cron,
        "timezone": if schedule.time_zone.is_empty() { "UTC" } else { schedule.time_zone.as_str() },
        "startingDeadlineSeconds": schedule.starting_deadline_seconds,
        "concurrencyPolicy": policy,
        "enabled": schedule.enabled,
    })
}

fn config_bool(config: &BTreeMap<String, Value>, key: &str) -> bool {
    config.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn placement_constraint(constraint: &Constraint) -> Option<Value> {
    let attribute = if constraint.l_target == "${attr.unique.hostname}" {
        "hostname".to_string()
    } else {
        constraint.l_target.strip_prefix("${meta.")?.strip_suffix('}')?.to_string()
    };
    let (operator, value) = match constraint.operand.as_str() {
        "=" => ("IS", constraint.r_target.clone()),
        "regexp" => {
            let inner = constraint.r_target.strip_prefix("^(?:")?.strip_suffix(")$")?;
            ("LIKE", inner.to_string())
        }
        _ => return None,
    };
    Some(json!({ "attribute": attribute, "operator": operator, "value": value }))
}
