//! Metronome job JSON to a Drover job: [`metronome_to_job`] and
//! [`metronome_to_schedule`]. The JSON is walked by hand ([`Ctx`]) against
//! Metronome's field tables, and every problem is collected as a
//! [`FieldError`] with its JSON pointer path.

use std::collections::BTreeMap;

use drover_types::{
    ConcurrencyPolicy, Constraint, EphemeralDisk, Job, JobSchedule, JobType, NANOS_PER_SEC, ReschedulePolicy,
    Resources, RestartPolicy, RunPolicy, RunRestartPolicy, Task, TaskGroup,
};
use serde_json::{Map, Value, json};

use super::{DESCRIPTION_META_KEY, GPU_ATTRIBUTE, validate_job_id};

/// One problem in a Metronome job or schedule, at a JSON pointer path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// JSON pointer of the offending field, e.g. `/run/mem`; `/` for the whole object.
    pub path: String,
    /// What is wrong, lowercase, no trailing period.
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

const JOB_FIELDS: &[&str] = &["id", "description", "labels", "run", "schedules"];
const RUN_FIELDS: &[&str] = &[
    "cmd",
    "args",
    "cpus",
    "mem",
    "disk",
    "gpus",
    "env",
    "user",
    "docker",
    "artifacts",
    "restart",
    "taskKillGracePeriodSeconds",
    "maxLaunchDelay",
    "placement",
];
/// Metronome fields Drover knows but does not support, with the reason.
const UNSUPPORTED_RUN_FIELDS: &[(&str, &str)] = &[
    ("ucr", "the Universal Container Runtime is not supported; use docker"),
    ("secrets", "secrets are not supported yet"),
    ("volumes", "volumes are not supported yet"),
    ("networks", "networks are not supported yet"),
];
const DOCKER_FIELDS: &[&str] = &["image", "forcePullImage", "privileged", "parameters"];
const ARTIFACT_FIELDS: &[&str] = &["uri", "executable", "extract", "cache"];
const RESTART_FIELDS: &[&str] = &["policy", "activeDeadlineSeconds"];
const SCHEDULE_FIELDS: &[&str] =
    &["id", "cron", "timezone", "timeZone", "startingDeadlineSeconds", "concurrencyPolicy", "enabled", "nextRunAt"];

/// Metronome's defaults for absent resources (`cpus` 1.0, `mem` 128 MB, `disk` 0).
const DEFAULT_CPUS: f64 = 1.0;
const DEFAULT_MEM: f64 = 128.0;
/// Metronome's default `maxLaunchDelay`: a run not running within an hour fails.
const DEFAULT_MAX_LAUNCH_DELAY: u64 = 3600;

/// Reads a Metronome job JSON object into a canonicalized, validated job.
pub fn metronome_to_job(value: &Value) -> Result<Job, Vec<FieldError>> {
    let mut ctx = Ctx::default();
    let job = read_job(&mut ctx, value);
    if !ctx.errors.is_empty() {
        return Err(ctx.errors);
    }
    let Some(mut job) = job else {
        return Err(vec![FieldError { path: "/".to_string(), message: "expected a JSON object".to_string() }]);
    };
    job.canonicalize();
    job.validate().map_err(|errors| {
        errors
            .0
            .iter()
            .map(|error| FieldError { path: "/".to_string(), message: error.to_string() })
            .collect::<Vec<_>>()
    })?;
    Ok(job)
}

/// Reads one Metronome schedule object (`POST /jobs/{id}/schedules`).
/// `timeZone` is accepted as a spelling of `timezone` (the DC/OS CLI sends
/// it); `nextRunAt` is output only and ignored.
pub fn metronome_to_schedule(value: &Value) -> Result<JobSchedule, Vec<FieldError>> {
    let mut ctx = Ctx::default();
    let schedule = read_schedule(&mut ctx, "", value);
    match schedule {
        Some(schedule) if ctx.errors.is_empty() => Ok(schedule),
        _ if !ctx.errors.is_empty() => Err(ctx.errors),
        _ => Err(vec![FieldError { path: "/".to_string(), message: "expected a JSON object".to_string() }]),
    }
}

#[derive(Default)]
struct Ctx {
    errors: Vec<FieldError>,
}

impl Ctx {
    fn error(&mut self, path: &str, message: impl Into<String>) {
        let path = if path.is_empty() { "/".to_string() } else { path.to_string() };
        self.errors.push(FieldError { path, message: message.into() });
    }

    /// The object at `path`, or an error.
    fn object<'v>(&mut self, path: &str, value: &'v Value) -> Option<&'v Map<String, Value>> {
        match value {
            Value::Object(map) => Some(map),
            other => {
                self.error(path, format!("expected an object, got {}", kind(other)));
                None
            }
        }
    }

    /// Reports keys of `map` not in `allowed`.
    fn known_keys(&mut self, path: &str, map: &Map<String, Value>, allowed: &[&str]) {
        for key in map.keys() {
            if !allowed.contains(&key.as_str()) {
                self.error(
                    &format!("{path}/{key}"),
                    format!("unknown field {key:?}; expected one of: {}", allowed.join(", ")),
                );
            }
        }
    }

    fn string(&mut self, path: &str, map: &Map<String, Value>, key: &str) -> Option<String> {
        match map.get(key)? {
            Value::String(text) => Some(text.clone()),
            Value::Null => None,
            other => {
                self.error(&format!("{path}/{key}"), format!("expected a string, got {}", kind(other)));
                None
            }
        }
    }

    fn number(&mut self, path: &str, map: &Map<String, Value>, key: &str, min: f64) -> Option<f64> {
        match map.get(key)? {
            Value::Number(number) => {
                let value = number.as_f64().unwrap_or(f64::NAN);
                if value.is_nan() || value < min {
                    self.error(&format!("{path}/{key}"), format!("must be at least {min}, got {number}"));
                    return None;
                }
                Some(value)
            }
            Value::Null => None,
            other => {
                self.error(&format!("{path}/{key}"), format!("expected a number, got {}", kind(other)));
                None
            }
        }
    }

    fn integer(&mut self, path: &str, map: &Map<String, Value>, key: &str, min: u64) -> Option<u64> {
        match map.get(key)? {
            Value::Number(number) => match number.as_u64() {
                Some(value) if value >= min => Some(value),
                _ => {
                    self.error(&format!("{path}/{key}"), format!("must be an integer of at least {min}, got {number}"));
                    None
                }
            },
            Value::Null => None,
            other => {
                self.error(&format!("{path}/{key}"), format!("expected an integer, got {}", kind(other)));
                None
            }
        }
    }

    fn boolean(&mut self, path: &str, map: &Map<String, Value>, key: &str) -> Option<bool> {
        match map.get(key)? {
            Value::Bool(value) => Some(*value),
            Value::Null => None,
            other => {
                self.error(&format!("{path}/{key}"), format!("expected true or false, got {}", kind(other)));
                None
            }
        }
    }

    fn array<'v>(&mut self, path: &str, map: &'v Map<String, Value>, key: &str) -> Option<&'v Vec<Value>> {
        match map.get(key)? {
            Value::Array(items) => Some(items),
            Value::Null => None,
            other => {
                self.error(&format!("{path}/{key}"), format!("expected an array, got {}", kind(other)));
                None
            }
        }
    }

    fn string_map(&mut self, path: &str, map: &Map<String, Value>, key: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let Some(value) = map.get(key) else { return out };
        let path = format!("{path}/{key}");
        let Some(object) = self.object(&path, value) else { return out };
        for (name, value) in object {
            match value {
                Value::String(text) => {
                    out.insert(name.clone(), text.clone());
                }
                Value::Object(inner) if key == "env" && inner.contains_key("secret") => {
                    self.error(&format!("{path}/{name}"), "secret references are not supported yet");
                }
                other => self.error(&format!("{path}/{name}"), format!("expected a string, got {}", kind(other))),
            }
        }
        out
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn read_job(ctx: &mut Ctx, value: &Value) -> Option<Job> {
    let map = ctx.object("", value)?;
    ctx.known_keys("", map, JOB_FIELDS);
    let id = ctx.string("", map, "id");
    match &id {
        None if !map.contains_key("id") => ctx.error("/id", "is required"),
        Some(id) => {
            if let Err(message) = validate_job_id(id) {
                ctx.error("/id", message);
            }
        }
        None => {}
    }
    let id = id.unwrap_or_default();
    let description = ctx.string("", map, "description");
    let mut meta = ctx.string_map("", map, "labels");
    if let Some(description) = description {
        if meta.contains_key(DESCRIPTION_META_KEY) {
            ctx.error(
                &format!("/labels/{DESCRIPTION_META_KEY}"),
                "a label named \"description\" conflicts with the job's description (both are stored as job meta \"description\")",
            );
        }
        meta.insert(DESCRIPTION_META_KEY.to_string(), description);
    }
    let schedules = match ctx.array("", map, "schedules") {
        Some(items) => read_schedules(ctx, items),
        None => Vec::new(),
    };
    let (group, run_policy, constraints) = match map.get("run") {
        Some(run) => read_run(ctx, &id, run)?,
        None => {
            ctx.error("/run", "is required");
            return None;
        }
    };
    Some(Job {
        id: id.clone(),
        name: id,
        job_type: JobType::Batch,
        run_on_demand: true,
        meta,
        schedules,
        run_policy,
        constraints,
        task_groups: vec![group].into(),
        ..Job::default()
    })
}

fn read_schedules(ctx: &mut Ctx, items: &[Value]) -> Vec<JobSchedule> {
    let mut schedules: Vec<JobSchedule> = Vec::new();
    for (idx, item) in items.iter().enumerate() {
        let path = format!("/schedules/{idx}");
        let Some(schedule) = read_schedule(ctx, &path, item) else { continue };
        if schedules.iter().any(|other| other.id == schedule.id) {
            ctx.error(&format!("{path}/id"), format!("a schedule with id {} already exists", schedule.id));
            continue;
        }
        schedules.push(schedule);
    }
    schedules
}

fn read_schedule(ctx: &mut Ctx, path: &str, value: &Value) -> Option<JobSchedule> {
    let map = ctx.object(path, value)?;
    ctx.known_keys(path, map, SCHEDULE_FIELDS);
    let mut schedule = JobSchedule::default();
    match ctx.string(path, map, "id") {
        Some(id) => {
            if let Err(message) = drover_types::validate_schedule_id(&id) {
                ctx.error(&format!("{path}/id"), message);
            }
            schedule.id = id;
        }
        None if !map.contains_key("id") => ctx.error(&format!("{path}/id"), "is required"),
        None => {}
    }
    match ctx.string(path, map, "cron") {
        Some(cron) if cron.trim().is_empty() => ctx.error(&format!("{path}/cron"), "must not be empty"),
        Some(cron) => schedule.cron = cron,
        None if !map.contains_key("cron") => ctx.error(&format!("{path}/cron"), "is required"),
        None => {}
    }
    let zone = ctx.string(path, map, "timezone").or_else(|| ctx.string(path, map, "timeZone"));
    if let Some(zone) = zone {
        schedule.time_zone = zone;
    }
    if let Some(deadline) = ctx.integer(path, map, "startingDeadlineSeconds", 1) {
        schedule.starting_deadline_seconds = deadline;
    }
    if let Some(enabled) = ctx.boolean(path, map, "enabled") {
        schedule.enabled = enabled;
    }
    if let Some(policy) = ctx.string(path, map, "concurrencyPolicy") {
        match policy.as_str() {
            "ALLOW" => schedule.concurrency_policy = ConcurrencyPolicy::Allow,
            "FORBID" => schedule.concurrency_policy = ConcurrencyPolicy::Forbid,
            "REPLACE" => schedule.concurrency_policy = ConcurrencyPolicy::Replace,
            other => ctx.error(
                &format!("{path}/concurrencyPolicy"),
                format!("unknown concurrency policy {other:?}; expected ALLOW, FORBID or REPLACE"),
            ),
        }
    }
    Some(schedule)
}

fn read_run(ctx: &mut Ctx, id: &str, value: &Value) -> Option<(TaskGroup, RunPolicy, Vec<Constraint>)> {
    let path = "/run";
    let map = ctx.object(path, value)?;
    for (key, reason) in UNSUPPORTED_RUN_FIELDS {
        if map.contains_key(*key) {
            ctx.error(&format!("{path}/{key}"), *reason);
        }
    }
    let unknown: Map<String, Value> = map
        .iter()
        .filter(|(key, _)| !UNSUPPORTED_RUN_FIELDS.iter().any(|(name, _)| name == key))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    ctx.known_keys(path, &unknown, RUN_FIELDS);

    let cmd = ctx.string(path, map, "cmd");
    if cmd.as_deref() == Some("") {
        ctx.error("/run/cmd", "must not be empty");
    }
    let args: Option<Vec<String>> = ctx.array(path, map, "args").map(|items| {
        items
            .iter()
            .enumerate()
            .filter_map(|(idx, item)| match item {
                Value::String(text) => Some(text.clone()),
                other => {
                    ctx.error(&format!("/run/args/{idx}"), format!("expected a string, got {}", kind(other)));
                    None
                }
            })
            .collect()
    });
    if cmd.is_some() && args.is_some() {
        ctx.error("/run", "cmd and args are mutually exclusive: give one or the other");
    }
    let cpus = ctx.number(path, map, "cpus", 0.01).unwrap_or(DEFAULT_CPUS);
    let mem = ctx.number(path, map, "mem", 32.0).unwrap_or(DEFAULT_MEM);
    let disk = ctx.number(path, map, "disk", 0.0).unwrap_or(0.0);
    let gpus = ctx.integer(path, map, "gpus", 0).unwrap_or(0);
    let env = ctx.string_map(path, map, "env");
    let user = ctx.string(path, map, "user").unwrap_or_default();
    let max_launch_delay = ctx.integer(path, map, "maxLaunchDelay", 1).unwrap_or(DEFAULT_MAX_LAUNCH_DELAY);
    let grace = ctx.number(path, map, "taskKillGracePeriodSeconds", 0.0);

    let mut config: BTreeMap<String, Value> = BTreeMap::new();
    let docker = map.get("docker").and_then(|value| read_docker(ctx, value));
    let driver = if let Some(docker) = docker {
        if gpus > 0 {
            ctx.error("/run/gpus", "GPUs are not supported with Docker");
        }
        config.insert("image".to_string(), json!(docker.image));
        config.insert("force_pull".to_string(), json!(docker.force_pull));
        config.insert("privileged".to_string(), json!(docker.privileged));
        if !docker.parameters.is_empty() {
            config.insert("parameters".to_string(), Value::Array(docker.parameters));
        }
        if let Some(cmd) = &cmd {
            config.insert("command".to_string(), json!("/bin/sh"));
            config.insert("args".to_string(), json!(["-c", cmd]));
        } else if let Some(args) = &args {
            config.insert("args".to_string(), json!(args));
        }
        "docker"
    } else {
        match (&cmd, &args) {
            (Some(cmd), _) => {
                config.insert("command".to_string(), json!("/bin/sh"));
                config.insert("args".to_string(), json!(["-c", cmd]));
            }
            (None, Some(args)) if !args.is_empty() => {
                config.insert("command".to_string(), json!(args[0]));
                config.insert("args".to_string(), json!(args[1..]));
            }
            (None, Some(_)) => ctx.error("/run/args", "must not be empty"),
            (None, None) if !map.contains_key("docker") => {
                ctx.error("/run", "cmd, args or docker image must be specified")
            }
            (None, None) => {}
        }
        "raw_exec"
    };
    if let Some(items) = ctx.array(path, map, "artifacts") {
        let artifacts: Vec<Value> =
            items.iter().enumerate().filter_map(|(idx, item)| read_artifact(ctx, idx, item)).collect();
        if !artifacts.is_empty() {
            config.insert("artifacts".to_string(), Value::Array(artifacts));
        }
    }
    let mut run_policy = match map.get("restart") {
        Some(value) => read_restart(ctx, value),
        None => RunPolicy::default(),
    };
    run_policy.max_launch_delay_seconds = max_launch_delay;
    let constraints = match map.get("placement") {
        Some(value) => read_placement(ctx, value),
        None => Vec::new(),
    };

    let name = id.rsplit('.').next().filter(|segment| !segment.is_empty()).unwrap_or("job").to_string();
    let mut task_constraints = Vec::new();
    if gpus > 0 {
        task_constraints.push(Constraint {
            l_target: GPU_ATTRIBUTE.to_string(),
            r_target: gpus.to_string(),
            operand: ">=".to_string(),
        });
    }
    let task = Task {
        name: name.clone(),
        driver: driver.to_string(),
        user,
        config,
        env,
        resources: Resources { cpu: ((cpus * 1000.0).round() as u64).max(1), memory_mb: mem.ceil() as u64, disk_mb: 0 },
        kill_timeout: grace.map_or(0, |seconds| (seconds * NANOS_PER_SEC as f64).round() as i64),
        constraints: task_constraints,
        ..Task::default()
    };
    let group = TaskGroup {
        name,
        count: 1,
        tasks: vec![task],
        // A failed attempt is the run's business (its restart policy starts
        // a new attempt), not the client's or the rescheduler's.
        restart_policy: Some(RestartPolicy { attempts: 0, ..RestartPolicy::for_job_type(JobType::Batch) }),
        reschedule_policy: Some(ReschedulePolicy {
            attempts: 0,
            unlimited: false,
            ..ReschedulePolicy::for_job_type(JobType::Batch)
        }),
        ephemeral_disk: Some(EphemeralDisk { size_mb: disk.ceil() as u64, ..EphemeralDisk::default() }),
        ..TaskGroup::default()
    };
    Some((group, run_policy, constraints))
}

struct Docker {
    image: String,
    force_pull: bool,
    privileged: bool,
    parameters: Vec<Value>,
}

fn read_docker(ctx: &mut Ctx, value: &Value) -> Option<Docker> {
    let path = "/run/docker";
    let map = ctx.object(path, value)?;
    ctx.known_keys(path, map, DOCKER_FIELDS);
    let image = ctx.string(path, map, "image").unwrap_or_default();
    if image.is_empty() {
        ctx.error("/run/docker/image", "is required");
    }
    let mut parameters = Vec::new();
    for (idx, item) in ctx.array(path, map, "parameters").cloned().unwrap_or_default().iter().enumerate() {
        let item_path = format!("{path}/parameters/{idx}");
        let Some(param) = ctx.object(&item_path, item) else { continue };
        ctx.known_keys(&item_path, param, &["key", "value"]);
        let key = ctx.string(&item_path, param, "key");
        let param_value = ctx.string(&item_path, param, "value");
        match (key, param_value) {
            (Some(key), Some(param_value)) => parameters.push(json!({ "key": key, "value": param_value })),
            _ => ctx.error(&item_path, "a parameter needs a key and a value"),
        }
    }
    Some(Docker {
        image,
        force_pull: ctx.boolean(path, map, "forcePullImage").unwrap_or(false),
        privileged: ctx.boolean(path, map, "privileged").unwrap_or(false),
        parameters,
    })
}

fn read_artifact(ctx: &mut Ctx, idx: usize, value: &Value) -> Option<Value> {
    let path = format!("/run/artifacts/{idx}");
    let map = ctx.object(&path, value)?;
    ctx.known_keys(&path, map, ARTIFACT_FIELDS);
    let uri = ctx.string(&path, map, "uri").unwrap_or_default();
    if uri.is_empty() {
        ctx.error(&format!("{path}/uri"), "is required");
    }
    Some(json!({
        "uri": uri,
        "executable": ctx.boolean(&path, map, "executable").unwrap_or(false),
        "extract": ctx.boolean(&path, map, "extract").unwrap_or(true),
        "cache": ctx.boolean(&path, map, "cache").unwrap_or(false),
    }))
}

fn read_restart(ctx: &mut Ctx, value: &Value) -> RunPolicy {
    let path = "/run/restart";
    let mut policy = RunPolicy::default();
    let Some(map) = ctx.object(path, value) else { return policy };
    ctx.known_keys(path, map, RESTART_FIELDS);
    match ctx.string(path, map, "policy").as_deref() {
        Some("NEVER") => policy.restart_policy = RunRestartPolicy::Never,
        Some("ON_FAILURE") => policy.restart_policy = RunRestartPolicy::OnFailure,
        Some(other) => {
            ctx.error("/run/restart/policy", format!("unknown restart policy {other:?}; expected NEVER or ON_FAILURE"))
        }
        None => ctx.error("/run/restart/policy", "is required"),
    }
    if let Some(deadline) = ctx.integer(path, map, "activeDeadlineSeconds", 0) {
        policy.active_deadline_seconds = deadline;
    }
    policy
}

fn read_placement(ctx: &mut Ctx, value: &Value) -> Vec<Constraint> {
    let path = "/run/placement";
    let Some(map) = ctx.object(path, value) else { return Vec::new() };
    ctx.known_keys(path, map, &["constraints"]);
    let mut constraints = Vec::new();
    for (idx, item) in ctx.array(path, map, "constraints").cloned().unwrap_or_default().iter().enumerate() {
        let item_path = format!("{path}/constraints/{idx}");
        let Some(entry) = ctx.object(&item_path, item) else { continue };
        ctx.known_keys(&item_path, entry, &["attribute", "operator", "value"]);
        let attribute = ctx.string(&item_path, entry, "attribute").unwrap_or_default();
        let operator = ctx.string(&item_path, entry, "operator").unwrap_or_default();
        let value = ctx.string(&item_path, entry, "value").unwrap_or_default();
        if attribute.is_empty() {
            ctx.error(&format!("{item_path}/attribute"), "is required");
            continue;
        }
        let l_target = if attribute == "hostname" {
            "${attr.unique.hostname}".to_string()
        } else {
            format!("${{meta.{attribute}}}")
        };
        let (operand, r_target) = match operator.as_str() {
            "IS" | "EQ" => ("=", value),
            "LIKE" => ("regexp", format!("^(?:{value})$")),
            other => {
                ctx.error(
                    &format!("{item_path}/operator"),
                    format!("unsupported operator {other:?}; expected IS, EQ or LIKE"),
                );
                continue;
            }
        };
        constraints.push(Constraint { l_target, r_target, operand: operand.to_string() });
    }
    constraints
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `input`, renders the outcome (the job's key fields or every
    /// error) as text and compares it with `expect`.
    fn check(input: &str, expect: &str) {
        let value: Value = serde_json::from_str(input).expect("test input is JSON");
        let actual = match metronome_to_job(&value) {
            Ok(job) => {
                let group = &job.task_groups[0];
                let task = &group.tasks[0];
                let mut lines = vec![
                    format!("id={} type={} on_demand={}", job.id, job.job_type.as_str(), job.run_on_demand),
                    format!(
                        "task={} driver={} config={}",
                        task.name,
                        task.driver,
                        serde_json::to_string(&task.config).expect("serializable")
                    ),
                    format!(
                        "cpu={} mem={} disk={} kill_timeout={}",
                        task.resources.cpu,
                        task.resources.memory_mb,
                        group.ephemeral_disk.map(|d| d.size_mb).unwrap_or(0),
                        task.kill_timeout
                    ),
                ];
                if !job.meta.is_empty() {
                    lines.push(format!("meta={:?}", job.meta));
                }
                if !task.env.is_empty() || !task.user.is_empty() {
                    lines.push(format!("env={:?} user={}", task.env, task.user));
                }
                lines.push(format!(
                    "restart={:?} deadline={} max_launch_delay={}",
                    job.run_policy.restart_policy,
                    job.run_policy.active_deadline_seconds,
                    job.run_policy.max_launch_delay_seconds
                ));
                for schedule in &job.schedules {
                    lines.push(format!(
                        "schedule {} {:?} tz={:?} enabled={} {:?} deadline={}",
                        schedule.id,
                        schedule.cron,
                        schedule.time_zone,
                        schedule.enabled,
                        schedule.concurrency_policy,
                        schedule.starting_deadline_seconds
                    ));
                }
                for constraint in job.constraints.iter().chain(&task.constraints) {
                    lines.push(format!("constraint {constraint}"));
                }
                lines.join("\n")
            }
            Err(errors) => errors.iter().map(|e| format!("error {e}")).collect::<Vec<_>>().join("\n"),
        };
        assert_eq!(actual, expect.trim(), "input: {input}");
    }

    #[test]
    fn seed_job_maps_to_a_batch_template() {
        check(
            r#"{"id": "myjob", "description": "A job that sleeps regularly",
                "run": {"cmd": "sleep 20000", "cpus": 0.01, "mem": 32, "disk": 0},
                "schedules": [{"id": "sleep-schedule", "enabled": true, "cron": "20 0 * * *", "concurrencyPolicy": "ALLOW"}]}"#,
            r#"
id=myjob type=batch on_demand=true
task=myjob driver=raw_exec config={"args":["-c","sleep 20000"],"command":"/bin/sh"}
cpu=10 mem=32 disk=0 kill_timeout=5000000000
meta={"description": "A job that sleeps regularly"}
restart=Never deadline=0 max_launch_delay=3600
schedule sleep-schedule "20 0 * * *" tz="" enabled=true Allow deadline=900
"#,
        );
    }

    #[test]
    fn run_fields_map_onto_the_task() {
        check(
            r#"{"id": "marketing.report", "labels": {"team": "web"},
                "run": {"args": ["/usr/bin/env", "A=1"], "cpus": 1.5, "mem": 100.5, "disk": 64,
                        "env": {"X": "1"}, "user": "nobody", "maxLaunchDelay": 600,
                        "taskKillGracePeriodSeconds": 30,
                        "restart": {"policy": "ON_FAILURE", "activeDeadlineSeconds": 120},
                        "artifacts": [{"uri": "https://example.com/a.tgz"}],
                        "placement": {"constraints": [{"attribute": "rack", "operator": "IS", "value": "r1"},
                                                      {"attribute": "hostname", "operator": "LIKE", "value": "web.*"}]}}}"#,
            r#"
id=marketing.report type=batch on_demand=true
task=report driver=raw_exec config={"args":["A=1"],"artifacts":[{"cache":false,"executable":false,"extract":true,"uri":"https://example.com/a.tgz"}],"command":"/usr/bin/env"}
cpu=1500 mem=101 disk=64 kill_timeout=30000000000
meta={"team": "web"}
env={"X": "1"} user=nobody
restart=OnFailure deadline=120 max_launch_delay=600
constraint ${meta.rack} = r1
constraint ${attr.unique.hostname} regexp ^(?:web.*)$
"#,
        );
    }

    #[test]
    fn docker_jobs_use_the_docker_driver() {
        check(
            r#"{"id": "img", "run": {"cmd": "echo hi", "cpus": 0.1, "mem": 64, "disk": 0,
                "docker": {"image": "ubuntu:14.04", "forcePullImage": true, "privileged": false,
                           "parameters": [{"key": "label", "value": "a=b"}]}}}"#,
            r#"
id=img type=batch on_demand=true
task=img driver=docker config={"args":["-c","echo hi"],"command":"/bin/sh","force_pull":true,"image":"ubuntu:14.04","parameters":[{"key":"label","value":"a=b"}],"privileged":false}
cpu=100 mem=64 disk=0 kill_timeout=5000000000
restart=Never deadline=0 max_launch_delay=3600
"#,
        );
        check(
            r#"{"id": "img", "run": {"docker": {"image": "alpine"}, "gpus": 1, "cpus": 1, "mem": 32, "disk": 0}}"#,
            "error /run/gpus: GPUs are not supported with Docker",
        );
    }

    #[test]
    fn validation_reports_every_problem_with_its_path() {
        check(
            r#"{"id": "Bad_ID", "extra": 1, "run": {"cmd": "x", "args": ["y"], "cpus": 0.001, "mem": 16, "disk": -1,
                "restart": {"policy": "ALWAYS"}, "ucr": {}, "foo": true}}"#,
            r#"
error /extra: unknown field "extra"; expected one of: id, description, labels, run, schedules
error /id: "Bad_ID" is not a valid job id: dot-separated segments of lowercase letters, digits and '-', each starting and ending with a letter or digit (pattern ^([a-z0-9]+(\-+[a-z0-9]+)*)(\.([a-z0-9]+(\-+[a-z0-9]+)*))*$)
error /run/ucr: the Universal Container Runtime is not supported; use docker
error /run/foo: unknown field "foo"; expected one of: cmd, args, cpus, mem, disk, gpus, env, user, docker, artifacts, restart, taskKillGracePeriodSeconds, maxLaunchDelay, placement
error /run: cmd and args are mutually exclusive: give one or the other
error /run/cpus: must be at least 0.01, got 0.001
error /run/mem: must be at least 32, got 16
error /run/disk: must be at least 0, got -1
error /run/restart/policy: unknown restart policy "ALWAYS"; expected NEVER or ON_FAILURE
"#,
        );
        check(r#"{"run": {"cmd": "x"}}"#, "error /id: is required");
        check(r#"{"id": "a"}"#, "error /run: is required");
        check(r#"{"id": "a", "run": {"cpus": 1}}"#, "error /run: cmd, args or docker image must be specified");
        check(r#"{"id": "a", "run": {"cmd": ""}}"#, "error /run/cmd: must not be empty");
        check(r#"{"id": "a", "run": {"cmd": "x", "mem": "lots"}}"#, "error /run/mem: expected a number, got a string");
        check(
            r#"{"id": "a", "run": {"cmd": "x", "env": {"TOKEN": {"secret": "s"}}}}"#,
            "error /run/env/TOKEN: secret references are not supported yet",
        );
        check(
            r#"{"id": "a", "run": {"cmd": "x"}, "schedules": [{"id": "n", "cron": "* * * * *", "concurrencyPolicy": "SOMETIMES", "bogus": 1},
                                                           {"id": "ok", "cron": "* * * * *"}, {"id": "ok", "cron": "0 * * * *"}]}"#,
            r#"
error /schedules/0/bogus: unknown field "bogus"; expected one of: id, cron, timezone, timeZone, startingDeadlineSeconds, concurrencyPolicy, enabled, nextRunAt
error /schedules/0/id: schedule ID "n" is too short: expected at least 2 characters
error /schedules/0/concurrencyPolicy: unknown concurrency policy "SOMETIMES"; expected ALLOW, FORBID or REPLACE
error /schedules/2/id: a schedule with id ok already exists
"#,
        );
        check("[1]", "error /: expected an object, got an array");
    }
}
