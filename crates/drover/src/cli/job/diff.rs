//! Renders a [`JobDiff`] the way `nomad job plan` does (command/job_plan.go):
//! `+` added, `-` deleted, `+/-` edited, no marker for unchanged; names and
//! values aligned per block; group headers carry the scheduler's counts.

use drover_types::api::{
    DesiredUpdates, FieldDiff, JobDiff, ObjectDiff, PlanAnnotations, TaskDiff, TaskGroupDiff, diff_type,
};

/// The order update kinds are listed in a group header; others follow sorted.
const UPDATE_ORDER: [&str; 7] =
    ["create", "destroy", "migrate", "in-place update", "create/destroy update", "ignore", "canary"];

/// The marker of a diff kind and its width.
fn marker(kind: &str) -> (&'static str, usize) {
    match kind {
        diff_type::ADDED => ("+ ", 2),
        diff_type::DELETED => ("- ", 2),
        diff_type::EDITED => ("+/- ", 4),
        _ => ("", 0),
    }
}

/// The whole job diff; `verbose` also shows the contents of added and
/// deleted tasks and job fields of unchanged jobs. `annotations` fills group
/// counts the server left out of the diff.
pub fn job_diff(job: &JobDiff, annotations: &PlanAnnotations, verbose: bool) -> String {
    let (job_marker, _) = marker(&job.diff_type);
    let mut out = format!("{job_marker}Job: {:?}\n", job.id);
    let (job_fields, job_objects) = (changed_fields(&job.fields), changed_objects(&job.objects));
    let (longest_field, mut longest_marker) = longest_prefixes(&job_fields, &job_objects);
    for group in &job.task_groups {
        longest_marker = longest_marker.max(marker(&group.diff_type).1);
    }
    if job.diff_type == diff_type::EDITED || verbose {
        let fields = aligned(&job_fields, &job_objects, 0, longest_field, longest_marker);
        if !fields.is_empty() {
            out.push_str(&fields);
            out.push('\n');
        }
    }
    for group in &job.task_groups {
        let key_prefix = longest_marker - marker(&group.diff_type).1;
        let updates = if group.updates.is_empty() {
            annotations.desired_tg_updates.get(&group.name).map(updates_of).unwrap_or_default()
        } else {
            group.updates.iter().map(|(kind, count)| (kind.clone(), *count)).collect()
        };
        out.push_str(&group_diff(group, &updates, key_prefix, verbose));
        out.push('\n');
    }
    out
}

/// Whether a diff entry changed (unchanged ones are context only inside blocks).
fn changed(kind: &str) -> bool {
    !(kind.is_empty() || kind == diff_type::NONE)
}

/// The changed fields of a job, group or task; unchanged ones are shown
/// only inside changed blocks, as Nomad does.
fn changed_fields(fields: &[FieldDiff]) -> Vec<FieldDiff> {
    fields.iter().filter(|field| changed(&field.diff_type)).cloned().collect()
}

/// The changed blocks of a job, group or task.
fn changed_objects(objects: &[ObjectDiff]) -> Vec<ObjectDiff> {
    objects.iter().filter(|object| changed(&object.diff_type)).cloned().collect()
}

/// Update counts by kind from the scheduler's annotations of one group.
fn updates_of(desired: &DesiredUpdates) -> Vec<(String, u64)> {
    [
        ("create", desired.place),
        ("destroy", desired.stop),
        ("migrate", desired.migrate),
        ("in-place update", desired.in_place_update),
        ("create/destroy update", desired.destructive_update),
        ("ignore", desired.ignore),
        ("canary", desired.canary),
    ]
    .into_iter()
    .filter(|(_, count)| *count > 0)
    .map(|(kind, count)| (kind.to_string(), count))
    .collect()
}

/// `2 create, 1 in-place update` in Nomad's order.
fn updates_text(updates: &[(String, u64)]) -> String {
    let mut sorted: Vec<&(String, u64)> = updates.iter().collect();
    sorted.sort_by_key(|(kind, _)| {
        let rank = UPDATE_ORDER.iter().position(|known| known == kind).unwrap_or(UPDATE_ORDER.len());
        (rank, kind.clone())
    });
    sorted.iter().map(|(kind, count)| format!("{count} {kind}")).collect::<Vec<_>>().join(", ")
}

fn group_diff(group: &TaskGroupDiff, updates: &[(String, u64)], group_prefix: usize, verbose: bool) -> String {
    let (group_marker, _) = marker(&group.diff_type);
    let mut out = format!("{group_marker}{}Task Group: {:?}", " ".repeat(group_prefix), group.name);
    if updates.is_empty() {
        out.push('\n');
    } else {
        out.push_str(&format!(" ({})\n", updates_text(updates)));
    }
    let (group_fields, group_objects) = (changed_fields(&group.fields), changed_objects(&group.objects));
    let (longest_field, mut longest_marker) = longest_prefixes(&group_fields, &group_objects);
    for task in &group.tasks {
        longest_marker = longest_marker.max(marker(&task.diff_type).1);
    }
    let sub_start = group_prefix + 2;
    let fields = aligned(&group_fields, &group_objects, sub_start, longest_field, longest_marker);
    if !fields.is_empty() {
        out.push_str(&fields);
        out.push('\n');
    }
    for task in &group.tasks {
        let task_prefix = longest_marker - marker(&task.diff_type).1;
        out.push_str(&task_diff(task, sub_start, task_prefix, verbose));
        out.push('\n');
    }
    out
}

fn task_diff(task: &TaskDiff, start_prefix: usize, task_prefix: usize, verbose: bool) -> String {
    let (task_marker, _) = marker(&task.diff_type);
    let mut out = format!("{}{task_marker}{}Task: {:?}", " ".repeat(start_prefix), " ".repeat(task_prefix), task.name);
    if !task.annotations.is_empty() {
        out.push_str(&format!(" ({})", task.annotations.join(", ")));
    }
    let kind = task.diff_type.as_str();
    if kind == diff_type::NONE || kind.is_empty() {
        return out;
    }
    if (kind == diff_type::DELETED || kind == diff_type::ADDED) && !verbose {
        return out;
    }
    out.push('\n');
    let (task_fields, task_objects) = (changed_fields(&task.fields), changed_objects(&task.objects));
    let (longest_field, longest_marker) = longest_prefixes(&task_fields, &task_objects);
    out.push_str(&aligned(&task_fields, &task_objects, start_prefix + 2, longest_field, longest_marker));
    out
}

fn object_diff(object: &ObjectDiff, start_prefix: usize, key_prefix: usize) -> String {
    let (object_marker, marker_len) = marker(&object.diff_type);
    let mut out = format!("{}{object_marker}{}{} {{\n", " ".repeat(start_prefix), " ".repeat(key_prefix), object.name);
    let (longest_field, longest_marker) = longest_prefixes(&object.fields, &object.objects);
    let sub_start = start_prefix + key_prefix + 2;
    out.push_str(&aligned(&object.fields, &object.objects, sub_start, longest_field, longest_marker));
    format!("{out}\n{}}}", " ".repeat(start_prefix + marker_len + key_prefix))
}

fn field_diff(field: &FieldDiff, start_prefix: usize, key_prefix: usize, value_prefix: usize) -> String {
    let (field_marker, _) = marker(&field.diff_type);
    let mut out = format!(
        "{}{field_marker}{}{}: {}",
        " ".repeat(start_prefix),
        " ".repeat(key_prefix),
        field.name,
        " ".repeat(value_prefix)
    );
    match field.diff_type.as_str() {
        diff_type::DELETED => out.push_str(&format!("{:?}", field.old)),
        diff_type::EDITED => out.push_str(&format!("{:?} => {:?}", field.old, field.new)),
        _ => out.push_str(&format!("{:?}", field.new)),
    }
    if !field.annotations.is_empty() {
        out.push_str(&format!(" ({})", field.annotations.join(", ")));
    }
    out
}

/// Fields then objects, one per line, names aligned; no trailing newline.
fn aligned(
    fields: &[FieldDiff],
    objects: &[ObjectDiff],
    start_prefix: usize,
    longest_field: usize,
    longest_marker: usize,
) -> String {
    let mut parts = Vec::new();
    for field in fields {
        let key_prefix = longest_marker - marker(&field.diff_type).1;
        let value_prefix = longest_field - field.name.chars().count();
        parts.push(field_diff(field, start_prefix, key_prefix, value_prefix));
    }
    for object in objects {
        let key_prefix = longest_marker - marker(&object.diff_type).1;
        parts.push(object_diff(object, start_prefix, key_prefix));
    }
    parts.join("\n")
}

fn longest_prefixes(fields: &[FieldDiff], objects: &[ObjectDiff]) -> (usize, usize) {
    let mut longest_field = 0;
    let mut longest_marker = 0;
    for field in fields {
        longest_field = longest_field.max(field.name.chars().count());
        longest_marker = longest_marker.max(marker(&field.diff_type).1);
    }
    for object in objects {
        longest_marker = longest_marker.max(marker(&object.diff_type).1);
    }
    (longest_field, longest_marker)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn field(kind: &str, name: &str, old: &str, new: &str, annotations: &[&str]) -> FieldDiff {
        FieldDiff {
            diff_type: kind.to_string(),
            name: name.to_string(),
            old: old.to_string(),
            new: new.to_string(),
            annotations: annotations.iter().map(|a| a.to_string()).collect(),
        }
    }

    fn check(diff: &JobDiff, expect: &str) {
        assert_eq!(job_diff(diff, &PlanAnnotations::default(), false).trim(), expect);
    }

    #[test]
    fn count_change_matches_seed() {
        let diff = JobDiff {
            diff_type: "Edited".to_string(),
            id: "example".to_string(),
            task_groups: vec![TaskGroupDiff {
                diff_type: "Edited".to_string(),
                name: "cache".to_string(),
                fields: vec![field("Edited", "Count", "1", "3", &["forces create"])],
                tasks: vec![TaskDiff {
                    diff_type: "None".to_string(),
                    name: "redis".to_string(),
                    ..TaskDiff::default()
                }],
                updates: BTreeMap::from([("in-place update".to_string(), 1), ("create".to_string(), 2)]),
                ..TaskGroupDiff::default()
            }],
            ..JobDiff::default()
        };
        check(
            &diff,
            r#"+/- Job: "example"
+/- Task Group: "cache" (2 create, 1 in-place update)
  +/- Count: "1" => "3" (forces create)
      Task: "redis""#,
        );
    }

    #[test]
    fn config_change_matches_seed() {
        let diff = JobDiff {
            diff_type: "Edited".to_string(),
            id: "example".to_string(),
            task_groups: vec![TaskGroupDiff {
                diff_type: "Edited".to_string(),
                name: "cache".to_string(),
                tasks: vec![TaskDiff {
                    diff_type: "Edited".to_string(),
                    name: "redis".to_string(),
                    annotations: vec!["forces create/destroy update".to_string()],
                    objects: vec![ObjectDiff {
                        diff_type: "Edited".to_string(),
                        name: "Config".to_string(),
                        fields: vec![
                            field("Edited", "image", "redis:3.2", "redis:4.0", &[]),
                            field("None", "port_map[0][db]", "6379", "6379", &[]),
                        ],
                        ..ObjectDiff::default()
                    }],
                    ..TaskDiff::default()
                }],
                updates: BTreeMap::from([("ignore".to_string(), 2), ("create/destroy update".to_string(), 1)]),
                ..TaskGroupDiff::default()
            }],
            ..JobDiff::default()
        };
        check(
            &diff,
            r#"+/- Job: "example"
+/- Task Group: "cache" (1 create/destroy update, 2 ignore)
  +/- Task: "redis" (forces create/destroy update)
    +/- Config {
      +/- image:           "redis:3.2" => "redis:4.0"
          port_map[0][db]: "6379"
        }"#,
        );
    }

    #[test]
    fn unchanged_fields_outside_blocks_are_hidden() {
        let diff = JobDiff {
            diff_type: "Edited".to_string(),
            id: "example".to_string(),
            fields: vec![field("None", "Priority", "50", "50", &[])],
            task_groups: vec![TaskGroupDiff {
                diff_type: "Edited".to_string(),
                name: "cache".to_string(),
                fields: vec![field("Edited", "Count", "1", "3", &[]), field("None", "Name", "cache", "cache", &[])],
                ..TaskGroupDiff::default()
            }],
            ..JobDiff::default()
        };
        check(
            &diff,
            r#"+/- Job: "example"
+/- Task Group: "cache"
  +/- Count: "1" => "3""#,
        );
    }

    #[test]
    fn new_job_uses_annotations_for_counts() {
        let diff = JobDiff {
            diff_type: "Added".to_string(),
            id: "example".to_string(),
            task_groups: vec![TaskGroupDiff {
                diff_type: "Added".to_string(),
                name: "cache".to_string(),
                fields: vec![field("Added", "Count", "", "1", &[])],
                tasks: vec![TaskDiff {
                    diff_type: "Added".to_string(),
                    name: "redis".to_string(),
                    fields: vec![field("Added", "Driver", "", "raw_exec", &[])],
                    ..TaskDiff::default()
                }],
                ..TaskGroupDiff::default()
            }],
            ..JobDiff::default()
        };
        let annotations = PlanAnnotations {
            desired_tg_updates: BTreeMap::from([(
                "cache".to_string(),
                DesiredUpdates { place: 1, ..DesiredUpdates::default() },
            )]),
        };
        assert_eq!(
            job_diff(&diff, &annotations, false).trim(),
            r#"+ Job: "example"
+ Task Group: "cache" (1 create)
  + Count: "1"
  + Task: "redis""#
        );
        assert_eq!(
            job_diff(&diff, &annotations, true).trim(),
            r#"+ Job: "example"
+ Task Group: "cache" (1 create)
  + Count: "1"
  + Task: "redis"
    + Driver: "raw_exec""#
        );
    }
}
