//! The `job`, `group` and `task` blocks, into [`Job`], [`TaskGroup`] and [`Task`].
//!
//! Restart and reschedule policies are read as partial specs and completed
//! once the whole job is read, since their defaults depend on the job type,
//! which may be written after the groups.

use drover_types::{Job, JobType, ReschedulePolicy, RestartPolicy, Task, TaskGroup};
use hcl::edit::Span;
use hcl::edit::structure::Block;

use super::blocks::{self, ReschedulePartial, RestartPartial};
use super::{Ctx, Item, Path, Spec, attr_value, checked, name_label, value};
use crate::fields;

const JOB: Spec = Spec {
    attributes: &["all_at_once", "datacenters", "meta", "name", "namespace", "node_pool", "priority", "region", "type"],
    blocks: &["constraint", "group", "meta", "parameterized", "periodic", "reschedule", "update"],
    nomad: fields::JOB,
};

const GROUP: Spec = Spec {
    attributes: &["count", "meta"],
    blocks: &["constraint", "ephemeral_disk", "meta", "reschedule", "restart", "task"],
    nomad: fields::GROUP,
};

const TASK: Spec = Spec {
    attributes: &["config", "driver", "env", "kill_signal", "kill_timeout", "leader", "meta", "user"],
    blocks: &["config", "constraint", "dispatch_payload", "env", "logs", "meta", "resources"],
    nomad: fields::TASK,
};

/// Policies a group wrote, completed with the job type's defaults at the end.
struct GroupPolicies {
    restart: Option<RestartPartial>,
    reschedule: Option<ReschedulePartial>,
}

/// Reads a `job "id" { ... }` block.
pub(super) fn job(ctx: &mut Ctx<'_>, block: &Block) -> Result<Job, super::JobspecError> {
    let id = name_label(ctx, block, "")?;
    let path = Path { shown: format!("job {id:?}"), validation: "job".to_string() };
    ctx.record(&path.validation, block.ident.span());
    let mut job = Job { id, ..Job::default() };
    let mut job_reschedule = None;
    let mut policies = Vec::new();
    for item in checked(ctx, &block.body, &path, &JOB)? {
        match item {
            Item::Attr(attr) => match attr.key.value().as_str() {
                "all_at_once" => job.all_at_once = attr_value(ctx, attr, &path, value::boolean)?,
                "datacenters" => job.datacenters = attr_value(ctx, attr, &path, value::string_list)?,
                "meta" => job.meta = attr_value(ctx, attr, &path, value::string_map)?,
                "name" => job.name = attr_value(ctx, attr, &path, value::string)?,
                "namespace" => job.namespace = attr_value(ctx, attr, &path, value::string)?,
                "node_pool" => job.node_pool = attr_value(ctx, attr, &path, value::string)?,
                "priority" => job.priority = attr_value(ctx, attr, &path, value::number::<i32>)?,
                "region" => job.region = attr_value(ctx, attr, &path, value::string)?,
                "type" => job.job_type = attr_value(ctx, attr, &path, job_type)?,
                _ => {}
            },
            Item::Block(inner) => match inner.ident.value().as_str() {
                "constraint" => job.constraints.extend(blocks::constraint(ctx, inner, &path)?),
                "group" => {
                    let (group, group_policies) = group(ctx, inner, &path)?;
                    job.task_groups.push(group);
                    policies.push(group_policies);
                }
                "meta" => job.meta = blocks::string_map(ctx, inner, &path)?,
                "parameterized" => job.parameterized_job = Some(blocks::parameterized(ctx, inner, &path)?),
                "periodic" => job.periodic = Some(blocks::periodic(ctx, inner, &path)?),
                "reschedule" => job_reschedule = Some(blocks::reschedule(ctx, inner, &path)?),
                "update" => job.update = Some(blocks::update(ctx, inner, &path)?),
                _ => {}
            },
        }
    }
    for (group, group_policies) in job.task_groups.iter_mut().zip(policies) {
        if let Some(restart) = group_policies.restart {
            group.restart_policy = Some(restart.complete(RestartPolicy::for_job_type(job.job_type)));
        }
        let mut reschedule = ReschedulePolicy::for_job_type(job.job_type);
        let mut reschedule_written = false;
        for partial in [job_reschedule.as_ref(), group_policies.reschedule.as_ref()].into_iter().flatten() {
            reschedule = partial.complete(reschedule);
            reschedule_written = true;
        }
        if reschedule_written {
            group.reschedule_policy = Some(reschedule);
        }
    }
    Ok(job)
}

fn job_type(expr: &hcl::edit::expr::Expression) -> Result<JobType, String> {
    let text = value::string(expr)?;
    JobType::parse(&text)
        .ok_or_else(|| format!("unknown job type {text:?} (expected one of service, batch, system, sysbatch)"))
}

fn group(ctx: &mut Ctx<'_>, block: &Block, job_path: &Path) -> Result<(TaskGroup, GroupPolicies), super::JobspecError> {
    let name = name_label(ctx, block, &job_path.shown)?;
    let shown = format!("group {name:?}");
    let path = Path { shown: shown.clone(), validation: shown };
    ctx.record(&path.validation, block.ident.span());
    let mut group = TaskGroup { name, ..TaskGroup::default() };
    let mut policies = GroupPolicies { restart: None, reschedule: None };
    for item in checked(ctx, &block.body, &path, &GROUP)? {
        match item {
            Item::Attr(attr) => match attr.key.value().as_str() {
                "count" => group.count = attr_value(ctx, attr, &path, value::number::<u32>)?,
                "meta" => group.meta = attr_value(ctx, attr, &path, value::string_map)?,
                _ => {}
            },
            Item::Block(inner) => match inner.ident.value().as_str() {
                "constraint" => group.constraints.extend(blocks::constraint(ctx, inner, &path)?),
                "ephemeral_disk" => group.ephemeral_disk = Some(blocks::ephemeral_disk(ctx, inner, &path)?),
                "meta" => group.meta = blocks::string_map(ctx, inner, &path)?,
                "reschedule" => policies.reschedule = Some(blocks::reschedule(ctx, inner, &path)?),
                "restart" => policies.restart = Some(blocks::restart(ctx, inner, &path)?),
                "task" => group.tasks.push(task(ctx, inner, &path)?),
                _ => {}
            },
        }
    }
    Ok((group, policies))
}

fn task(ctx: &mut Ctx<'_>, block: &Block, group_path: &Path) -> Result<Task, super::JobspecError> {
    let name = name_label(ctx, block, &group_path.shown)?;
    let path = group_path.child(&format!("task {name:?}"));
    ctx.record(&path.validation, block.ident.span());
    let mut task = Task { name, ..Task::default() };
    for item in checked(ctx, &block.body, &path, &TASK)? {
        match item {
            Item::Attr(attr) => match attr.key.value().as_str() {
                "config" => task.config = attr_value(ctx, attr, &path, value::json_object)?,
                "driver" => task.driver = attr_value(ctx, attr, &path, value::string)?,
                "env" => task.env = attr_value(ctx, attr, &path, value::string_map)?,
                "kill_signal" => task.kill_signal = attr_value(ctx, attr, &path, value::string)?,
                "kill_timeout" => task.kill_timeout = attr_value(ctx, attr, &path, value::duration)?,
                "leader" => task.leader = attr_value(ctx, attr, &path, value::boolean)?,
                "meta" => task.meta = attr_value(ctx, attr, &path, value::string_map)?,
                "user" => task.user = attr_value(ctx, attr, &path, value::string)?,
                _ => {}
            },
            Item::Block(inner) => match inner.ident.value().as_str() {
                "config" => task.config = blocks::config(ctx, inner, &path)?,
                "constraint" => task.constraints.extend(blocks::constraint(ctx, inner, &path)?),
                "dispatch_payload" => task.dispatch_payload = Some(blocks::dispatch_payload(ctx, inner, &path)?),
                "env" => task.env = blocks::string_map(ctx, inner, &path)?,
                "logs" => task.log_config = Some(blocks::logs(ctx, inner, &path)?),
                "meta" => task.meta = blocks::string_map(ctx, inner, &path)?,
                "resources" => task.resources = blocks::resources(ctx, inner, &path)?,
                _ => {}
            },
        }
    }
    Ok(task)
}
