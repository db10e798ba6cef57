//! `job plan` diffs.

use drover_types::api::diff_type;

use super::run;
use crate::job_diff;
use crate::testing::{running_alloc, service_job};

#[test]
fn count_change_example_from_nomad_docs() {
    let old = service_job("example", 1);
    let mut state = super::state_with_nodes(3);
    state.add_job(old.clone());
    state.add_alloc(running_alloc(&old, "group", 0, "n1"));
    let mut new = old.clone();
    new.version = 1;
    new.task_groups[0].count = 3;
    let (new, plan) = run(&mut state, new);
    let diff = job_diff(Some(&old), &new, &plan);
    assert_eq!(diff.diff_type, diff_type::EDITED);
    assert_eq!(diff.id, "example");
    assert_eq!(diff.task_groups.len(), 1);
    let group = &diff.task_groups[0];
    assert_eq!(group.diff_type, diff_type::EDITED);
    let expect_updates: std::collections::BTreeMap<String, u64> =
        [("create".to_string(), 2), ("in-place update".to_string(), 1)].into_iter().collect();
    assert_eq!(group.updates, expect_updates);
    let count = group.fields.iter().find(|field| field.name == "Count").expect("Count field");
    assert_eq!((count.diff_type.as_str(), count.old.as_str(), count.new.as_str()), (diff_type::EDITED, "1", "3"));
    assert_eq!(count.annotations, vec!["forces create"]);
    assert_eq!(group.tasks.len(), 1);
    assert_eq!(group.tasks[0].name, "task");
    assert_eq!(group.tasks[0].diff_type, diff_type::NONE);
    assert!(group.objects.is_empty());
}

#[test]
fn task_changes_are_annotated() {
    let old = service_job("example", 3);
    let mut new = old.clone();
    new.task_groups[0].count = 1;
    new.priority = 70;
    let task = &mut new.task_groups[0].tasks[0];
    task.config.insert("args".to_string(), serde_json::json!(["-v", "x"]));
    task.resources.memory_mb = 512;
    task.env.insert("FOO".to_string(), "bar".to_string());
    let plan = crate::Plan::default();
    let diff = job_diff(Some(&old), &new, &plan);
    let priority = diff.fields.iter().find(|field| field.name == "Priority").expect("Priority");
    assert_eq!((priority.old.as_str(), priority.new.as_str()), ("50", "70"));
    let group = &diff.task_groups[0];
    let count = group.fields.iter().find(|field| field.name == "Count").expect("Count");
    assert_eq!(count.annotations, vec!["forces destroy"]);
    let task = &group.tasks[0];
    assert_eq!(task.diff_type, diff_type::EDITED);
    assert_eq!(task.annotations, vec!["forces create/destroy update"]);
    let object = |name: &str| task.objects.iter().find(|object| object.name == name).expect(name);
    let config = object("Config");
    let names: Vec<(&str, &str)> =
        config.fields.iter().map(|field| (field.name.as_str(), field.diff_type.as_str())).collect();
    assert_eq!(names, vec![("args[0]", "Added"), ("args[1]", "Added"), ("command", "None")]);
    let memory = object("Resources").fields.iter().find(|field| field.name == "MemoryMB").expect("MemoryMB");
    assert_eq!((memory.old.as_str(), memory.new.as_str()), ("256", "512"));
    assert_eq!(object("Env").diff_type, diff_type::ADDED);
    assert!(group.updates.is_empty());

    // A change that needs no restart.
    let mut gentle = old.clone();
    if let Some(log) = gentle.task_groups[0].tasks[0].log_config.as_mut() {
        log.max_files = 3;
    }
    gentle.task_groups[0].tasks[0].constraints.push(super::constraint("${attr.kernel.name}", "=", "linux"));
    let diff = job_diff(Some(&old), &gentle, &plan);
    let task = &diff.task_groups[0].tasks[0];
    assert_eq!(task.diff_type, diff_type::EDITED);
    assert_eq!(task.annotations, vec!["forces create/destroy update"], "log config forces a restart");
}

#[test]
fn added_and_unchanged_jobs() {
    let new = service_job("example", 2);
    let mut plan = crate::Plan::default();
    plan.desired_updates
        .insert("group".to_string(), drover_types::api::DesiredUpdates { place: 2, ..Default::default() });
    let diff = job_diff(None, &new, &plan);
    assert_eq!(diff.diff_type, diff_type::ADDED);
    assert_eq!(diff.task_groups[0].diff_type, diff_type::ADDED);
    assert_eq!(diff.task_groups[0].updates.get("create"), Some(&2));
    assert!(diff.fields.iter().all(|field| field.diff_type == diff_type::ADDED));

    let same = job_diff(Some(&new), &new, &crate::Plan::default());
    assert_eq!(same.diff_type, diff_type::NONE);
    assert_eq!(same.task_groups[0].diff_type, diff_type::NONE);
    assert_eq!(same.task_groups[0].tasks[0].diff_type, diff_type::NONE);

    let mut fewer = new.clone();
    fewer.datacenters = vec!["dc1".to_string()];
    let mut second_group = fewer.task_groups[0].clone();
    second_group.name = "other".to_string();
    fewer.task_groups.push(second_group);
    let diff = job_diff(Some(&new), &fewer, &crate::Plan::default());
    let datacenters = diff.objects.iter().find(|object| object.name == "Datacenters").expect("Datacenters");
    assert_eq!(datacenters.fields.len(), 2);
    assert_eq!(diff.task_groups[1].diff_type, diff_type::ADDED);
    let deleted = job_diff(Some(&fewer), &new, &crate::Plan::default());
    assert_eq!(deleted.task_groups[1].diff_type, diff_type::DELETED);
}
