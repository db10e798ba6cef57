//! `job plan` diffs: the Nomad-shaped difference between the registered job
//! and a new one, with the plan's per-group counts as `Updates`.
//!
//! Everything is flattened to ordered `name -> text` maps and compared; an
//! empty value counts as absent, so `"" -> "x"` is `Added` (as in Nomad).
//! Fields of changed blocks are listed in full (unchanged ones as `None`);
//! unchanged blocks are left out; every task of every group is listed.

use std::collections::BTreeMap;

use drover_types::api::{DesiredUpdates, FieldDiff, JobDiff, ObjectDiff, TaskDiff, TaskGroupDiff, diff_type};
use drover_types::{Constraint, Job, Task, TaskGroup};

use crate::Plan;
use crate::update::task_needs_restart;

/// Annotation of a count that grows.
const FORCES_CREATE: &str = "forces create";
/// Annotation of a count that shrinks.
const FORCES_DESTROY: &str = "forces destroy";
/// Annotation of a task change that needs a restart.
const FORCES_DESTRUCTIVE: &str = "forces create/destroy update";
/// Annotation of a task change that does not.
const FORCES_IN_PLACE: &str = "forces in-place update";

/// Flattened `name -> text` values of one block.
type Flat = BTreeMap<String, String>;

/// See [`crate::job_diff`].
pub(crate) fn job_diff(old: Option<&Job>, new: &Job, plan: &Plan) -> JobDiff {
    let mut diff = JobDiff { id: new.id.clone(), ..JobDiff::default() };
    let old_fields = old.map(job_fields).unwrap_or_default();
    diff.fields = fields_diff(&old_fields, &job_fields(new));
    let old_datacenters = old.map(|job| job.datacenters.as_slice()).unwrap_or_default();
    diff.objects.extend(string_set_diff("Datacenters", old_datacenters, &new.datacenters));
    let old_constraints = old.map(|job| job.constraints.as_slice()).unwrap_or_default();
    diff.objects.extend(constraints_diff(old_constraints, &new.constraints));
    diff.objects.extend(object_diff(
        "Periodic",
        old.and_then(|job| job.periodic.as_ref()).map(periodic_fields),
        new.periodic.as_ref().map(periodic_fields),
    ));
    diff.objects.extend(object_diff(
        "ParameterizedJob",
        old.and_then(|job| job.parameterized_job.as_ref()).map(parameterized_fields),
        new.parameterized_job.as_ref().map(parameterized_fields),
    ));
    let no_updates = DesiredUpdates::default();
    for new_group in &new.task_groups {
        let old_group = old.and_then(|job| job.task_group(&new_group.name));
        let updates = plan.desired_updates.get(&new_group.name).unwrap_or(&no_updates);
        diff.task_groups.push(group_diff(old_group, Some(new_group), updates));
    }
    if let Some(old) = old {
        for old_group in old.task_groups.iter().filter(|group| new.task_group(&group.name).is_none()) {
            let updates = plan.desired_updates.get(&old_group.name).unwrap_or(&no_updates);
            diff.task_groups.push(group_diff(Some(old_group), None, updates));
        }
    }
    let changed = diff.fields.iter().any(|field| field.diff_type != diff_type::NONE)
        || !diff.objects.is_empty()
        || diff.task_groups.iter().any(|group| group.diff_type != diff_type::NONE);
    diff.diff_type = match (old, changed) {
        (None, _) => diff_type::ADDED,
        (Some(_), true) => diff_type::EDITED,
        (Some(_), false) => diff_type::NONE,
    }
    .to_string();
    diff
}

fn group_diff(old: Option<&TaskGroup>, new: Option<&TaskGroup>, updates: &DesiredUpdates) -> TaskGroupDiff {
    let name = new.or(old).map(|group| group.name.clone()).unwrap_or_default();
    let mut diff = TaskGroupDiff { name, updates: update_counts(updates), ..TaskGroupDiff::default() };
    diff.fields = fields_diff(&old.map(group_fields).unwrap_or_default(), &new.map(group_fields).unwrap_or_default());
    if let (Some(old), Some(new)) = (old, new)
        && let Some(count_field) = diff.fields.iter_mut().find(|field| field.name == "Count")
    {
        if new.count > old.count {
            count_field.annotations.push(FORCES_CREATE.to_string());
        } else if new.count < old.count {
            count_field.annotations.push(FORCES_DESTROY.to_string());
        }
    }
    let old_constraints = old.map(|group| group.constraints.as_slice()).unwrap_or_default();
    let new_constraints = new.map(|group| group.constraints.as_slice()).unwrap_or_default();
    diff.objects.extend(constraints_diff(old_constraints, new_constraints));
    diff.objects.extend(object_diff(
        "RestartPolicy",
        old.and_then(|group| group.restart_policy.as_ref()).map(|policy| {
            flat(&[
                ("Attempts", policy.attempts.to_string()),
                ("Delay", policy.delay.to_string()),
                ("Interval", policy.interval.to_string()),
                ("Mode", policy.mode.clone()),
            ])
        }),
        new.and_then(|group| group.restart_policy.as_ref()).map(|policy| {
            flat(&[
                ("Attempts", policy.attempts.to_string()),
                ("Delay", policy.delay.to_string()),
                ("Interval", policy.interval.to_string()),
                ("Mode", policy.mode.clone()),
            ])
        }),
    ));
    let reschedule_fields = |group: &TaskGroup| {
        group.reschedule_policy.as_ref().map(|policy| {
            flat(&[
                ("Attempts", policy.attempts.to_string()),
                ("Delay", policy.delay.to_string()),
                ("DelayFunction", policy.delay_function.clone()),
                ("Interval", policy.interval.to_string()),
                ("MaxDelay", policy.max_delay.to_string()),
                ("Unlimited", policy.unlimited.to_string()),
            ])
        })
    };
    diff.objects.extend(object_diff(
        "ReschedulePolicy",
        old.and_then(reschedule_fields),
        new.and_then(reschedule_fields),
    ));
    let disk_fields = |group: &TaskGroup| {
        group.ephemeral_disk.map(|disk| {
            flat(&[
                ("Migrate", disk.migrate.to_string()),
                ("SizeMB", disk.size_mb.to_string()),
                ("Sticky", disk.sticky.to_string()),
            ])
        })
    };
    diff.objects.extend(object_diff("EphemeralDisk", old.and_then(disk_fields), new.and_then(disk_fields)));
    let old_tasks = old.map(|group| group.tasks.as_slice()).unwrap_or_default();
    let new_tasks = new.map(|group| group.tasks.as_slice()).unwrap_or_default();
    for new_task in new_tasks {
        let old_task = old_tasks.iter().find(|task| task.name == new_task.name);
        diff.tasks.push(task_diff(old_task, Some(new_task)));
    }
    for old_task in old_tasks.iter().filter(|task| !new_tasks.iter().any(|new_task| new_task.name == task.name)) {
        diff.tasks.push(task_diff(Some(old_task), None));
    }
    let changed = diff.fields.iter().any(|field| field.diff_type != diff_type::NONE)
        || !diff.objects.is_empty()
        || diff.tasks.iter().any(|task| task.diff_type != diff_type::NONE);
    diff.diff_type = presence_type(old.is_some(), new.is_some(), changed).to_string();
    diff
}

fn task_diff(old: Option<&Task>, new: Option<&Task>) -> TaskDiff {
    let name = new.or(old).map(|task| task.name.clone()).unwrap_or_default();
    let mut diff = TaskDiff { name, ..TaskDiff::default() };
    diff.fields = fields_diff(&old.map(task_fields).unwrap_or_default(), &new.map(task_fields).unwrap_or_default());
    diff.objects.extend(object_diff("Config", old.and_then(config_fields), new.and_then(config_fields)));
    let env = |task: &Task| non_empty(task.env.clone());
    diff.objects.extend(object_diff("Env", old.and_then(env), new.and_then(env)));
    let resource_fields = |task: &Task| {
        flat(&[
            ("CPU", task.resources.cpu.to_string()),
            ("DiskMB", task.resources.disk_mb.to_string()),
            ("MemoryMB", task.resources.memory_mb.to_string()),
        ])
    };
    diff.objects.extend(object_diff("Resources", old.map(resource_fields), new.map(resource_fields)));
    let meta = |task: &Task| non_empty(task.meta.clone());
    diff.objects.extend(object_diff("Meta", old.and_then(meta), new.and_then(meta)));
    let old_constraints = old.map(|task| task.constraints.as_slice()).unwrap_or_default();
    let new_constraints = new.map(|task| task.constraints.as_slice()).unwrap_or_default();
    diff.objects.extend(constraints_diff(old_constraints, new_constraints));
    let log_fields = |task: &Task| {
        task.log_config.map(|log| {
            flat(&[("MaxFileSizeMB", log.max_file_size_mb.to_string()), ("MaxFiles", log.max_files.to_string())])
        })
    };
    diff.objects.extend(object_diff("LogConfig", old.and_then(log_fields), new.and_then(log_fields)));
    let payload_fields =
        |task: &Task| task.dispatch_payload.as_ref().map(|payload| flat(&[("File", payload.file.clone())]));
    diff.objects.extend(object_diff("DispatchPayload", old.and_then(payload_fields), new.and_then(payload_fields)));
    let changed = diff.fields.iter().any(|field| field.diff_type != diff_type::NONE) || !diff.objects.is_empty();
    diff.diff_type = presence_type(old.is_some(), new.is_some(), changed).to_string();
    match (old, new) {
        (Some(old), Some(new)) if changed => {
            let annotation = if task_needs_restart(old, new) { FORCES_DESTRUCTIVE } else { FORCES_IN_PLACE };
            diff.annotations.push(annotation.to_string());
        }
        (Some(_), Some(_)) => {}
        _ => diff.annotations.push(FORCES_DESTRUCTIVE.to_string()),
    }
    diff
}

/// `Updates` keys, as `job plan` prints them; only non-zero counts.
fn update_counts(updates: &DesiredUpdates) -> BTreeMap<String, u64> {
    [
        ("create", updates.place),
        ("destroy", updates.stop),
        ("in-place update", updates.in_place_update),
        ("create/destroy update", updates.destructive_update),
        ("migrate", updates.migrate),
        ("ignore", updates.ignore),
        ("canary", updates.canary),
    ]
    .into_iter()
    .filter(|(_, count)| *count > 0)
    .map(|(key, count)| (key.to_string(), count))
    .collect()
}

fn presence_type(old_present: bool, new_present: bool, changed: bool) -> &'static str {
    match (old_present, new_present) {
        (false, _) => diff_type::ADDED,
        (true, false) => diff_type::DELETED,
        (true, true) if changed => diff_type::EDITED,
        (true, true) => diff_type::NONE,
    }
}

/// An empty map is an absent block.
fn non_empty(fields: Flat) -> Option<Flat> {
    if fields.is_empty() { None } else { Some(fields) }
}

fn flat(pairs: &[(&str, String)]) -> Flat {
    pairs.iter().map(|(name, value)| (name.to_string(), value.clone())).collect()
}

fn with_meta(mut fields: Flat, meta: &BTreeMap<String, String>) -> Flat {
    for (key, value) in meta {
        fields.insert(format!("Meta[{key}]"), value.clone());
    }
    fields
}

fn job_fields(job: &Job) -> Flat {
    let fields = flat(&[
        ("AllAtOnce", job.all_at_once.to_string()),
        ("Dispatched", job.dispatched.to_string()),
        ("Name", job.name.clone()),
        ("Namespace", job.namespace.clone()),
        ("NodePool", job.node_pool.clone()),
        ("ParentID", job.parent_id.clone()),
        ("Payload", String::from_utf8_lossy(&job.payload).into_owned()),
        ("Priority", job.priority.to_string()),
        ("Region", job.region.clone()),
        ("Stop", job.stop.to_string()),
        ("Type", job.job_type.as_str().to_string()),
    ]);
    with_meta(fields, &job.meta)
}

fn group_fields(group: &TaskGroup) -> Flat {
    with_meta(flat(&[("Count", group.count.to_string())]), &group.meta)
}

fn task_fields(task: &Task) -> Flat {
    flat(&[
        ("Driver", task.driver.clone()),
        ("KillSignal", task.kill_signal.clone()),
        ("KillTimeout", task.kill_timeout.to_string()),
        ("Leader", task.leader.to_string()),
        ("User", task.user.clone()),
    ])
}

fn periodic_fields(periodic: &drover_types::PeriodicConfig) -> Flat {
    let mut fields = flat(&[
        ("Enabled", periodic.enabled.to_string()),
        ("ProhibitOverlap", periodic.prohibit_overlap.to_string()),
        ("Spec", periodic.spec.clone()),
        ("SpecType", periodic.spec_type.clone()),
        ("TimeZone", periodic.time_zone.clone()),
    ]);
    for (spec_idx, spec) in periodic.specs.iter().enumerate() {
        fields.insert(format!("Specs[{spec_idx}]"), spec.clone());
    }
    fields
}

fn parameterized_fields(config: &drover_types::ParameterizedJobConfig) -> Flat {
    let mut fields = flat(&[("MaxConcurrent", config.max_concurrent.to_string()), ("Payload", config.payload.clone())]);
    for (key_idx, key) in config.meta_required.iter().enumerate() {
        fields.insert(format!("MetaRequired[{key_idx}]"), key.clone());
    }
    for (key_idx, key) in config.meta_optional.iter().enumerate() {
        fields.insert(format!("MetaOptional[{key_idx}]"), key.clone());
    }
    fields
}

/// A task's driver config flattened: `command`, `args[0]`, `mounts[0].source`.
fn config_fields(task: &Task) -> Option<Flat> {
    let mut fields = Flat::new();
    for (key, value) in &task.config {
        flatten_json(key, value, &mut fields);
    }
    non_empty(fields)
}

fn flatten_json(prefix: &str, value: &serde_json::Value, fields: &mut Flat) {
    match value {
        serde_json::Value::Null => {
            fields.insert(prefix.to_string(), String::new());
        }
        serde_json::Value::Bool(flag) => {
            fields.insert(prefix.to_string(), flag.to_string());
        }
        serde_json::Value::Number(number) => {
            fields.insert(prefix.to_string(), number.to_string());
        }
        serde_json::Value::String(text) => {
            fields.insert(prefix.to_string(), text.clone());
        }
        serde_json::Value::Array(items) => {
            for (item_idx, item) in items.iter().enumerate() {
                flatten_json(&format!("{prefix}[{item_idx}]"), item, fields);
            }
        }
        serde_json::Value::Object(entries) => {
            for (key, item) in entries {
                flatten_json(&format!("{prefix}.{key}"), item, fields);
            }
        }
    }
}

/// Field diffs over the union of names; empty means absent; absent on both sides is skipped.
fn fields_diff(old: &Flat, new: &Flat) -> Vec<FieldDiff> {
    let mut names: Vec<&String> = old.keys().chain(new.keys()).collect();
    names.sort();
    names.dedup();
    let mut fields = Vec::with_capacity(names.len());
    for name in names {
        let old_value = old.get(name).map(String::as_str).unwrap_or_default();
        let new_value = new.get(name).map(String::as_str).unwrap_or_default();
        let kind = match (old_value.is_empty(), new_value.is_empty()) {
            (true, true) => continue,
            (true, false) => diff_type::ADDED,
            (false, true) => diff_type::DELETED,
            (false, false) if old_value == new_value => diff_type::NONE,
            (false, false) => diff_type::EDITED,
        };
        fields.push(FieldDiff {
            diff_type: kind.to_string(),
            name: name.clone(),
            old: old_value.to_string(),
            new: new_value.to_string(),
            annotations: Vec::new(),
        });
    }
    fields
}

/// A block's diff, or `None` when it is unchanged (or absent on both sides).
fn object_diff(name: &str, old: Option<Flat>, new: Option<Flat>) -> Option<ObjectDiff> {
    let (old_present, new_present) = (old.is_some(), new.is_some());
    if !old_present && !new_present {
        return None;
    }
    let fields = fields_diff(&old.unwrap_or_default(), &new.unwrap_or_default());
    let changed = fields.iter().any(|field| field.diff_type != diff_type::NONE);
    if !changed {
        return None;
    }
    let kind = presence_type(old_present, new_present, changed);
    Some(ObjectDiff { diff_type: kind.to_string(), name: name.to_string(), fields, objects: Vec::new() })
}

/// A set of strings as Nomad shows it: one field per element, named after the set.
fn string_set_diff(name: &str, old: &[String], new: &[String]) -> Option<ObjectDiff> {
    let added: Vec<&String> = new.iter().filter(|item| !old.contains(item)).collect();
    let deleted: Vec<&String> = old.iter().filter(|item| !new.contains(item)).collect();
    if added.is_empty() && deleted.is_empty() {
        return None;
    }
    let mut fields = Vec::new();
    for item in new {
        let kind = if added.contains(&item) { diff_type::ADDED } else { diff_type::NONE };
        let old_value = if kind == diff_type::NONE { item.clone() } else { String::new() };
        fields.push(FieldDiff {
            diff_type: kind.to_string(),
            name: name.to_string(),
            old: old_value,
            new: item.clone(),
            annotations: Vec::new(),
        });
    }
    for item in deleted {
        fields.push(FieldDiff {
            diff_type: diff_type::DELETED.to_string(),
            name: name.to_string(),
            old: item.clone(),
            new: String::new(),
            annotations: Vec::new(),
        });
    }
    let kind = match (old.is_empty(), new.is_empty()) {
        (true, _) => diff_type::ADDED,
        (false, true) => diff_type::DELETED,
        (false, false) => diff_type::EDITED,
    };
    Some(ObjectDiff { diff_type: kind.to_string(), name: name.to_string(), fields, objects: Vec::new() })
}

/// Constraints as a set: one `Constraint` block per added or deleted constraint.
fn constraints_diff(old: &[Constraint], new: &[Constraint]) -> Vec<ObjectDiff> {
    let constraint_fields = |constraint: &Constraint| {
        flat(&[
            ("LTarget", constraint.l_target.clone()),
            ("Operand", constraint.operand.clone()),
            ("RTarget", constraint.r_target.clone()),
        ])
    };
    let mut objects = Vec::new();
    for constraint in new.iter().filter(|constraint| !old.contains(constraint)) {
        objects.extend(object_diff("Constraint", None, Some(constraint_fields(constraint))));
    }
    for constraint in old.iter().filter(|constraint| !new.contains(constraint)) {
        objects.extend(object_diff("Constraint", Some(constraint_fields(constraint)), None));
    }
    objects
}
