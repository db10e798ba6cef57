//! Whether a job update needs a restart: the test behind in-place versus
//! destructive updates, shared by reconcile and the job diff.

use drover_types::{Job, Task, TaskGroup};

/// Whether moving an allocation of `group_name` from `old` to `new` must
/// restart it: a task's driver, config, env, resources, meta, user, kill
/// settings, log config, leadership or dispatch payload changed, the task
/// list changed, the group's meta or disk changed, or the job's meta or
/// payload changed. Count, restart and reschedule policies and constraints
/// do not force a restart.
pub(crate) fn needs_restart(old: &Job, new: &Job, group_name: &str) -> bool {
    let (Some(old_group), Some(new_group)) = (old.task_group(group_name), new.task_group(group_name)) else {
        return true;
    };
    old.meta != new.meta || old.payload != new.payload || group_needs_restart(old_group, new_group)
}

/// The group-level part of [`needs_restart`].
pub(crate) fn group_needs_restart(old: &TaskGroup, new: &TaskGroup) -> bool {
    if old.meta != new.meta || old.ephemeral_disk.unwrap_or_default() != new.ephemeral_disk.unwrap_or_default() {
        return true;
    }
    if old.tasks.len() != new.tasks.len() {
        return true;
    }
    old.tasks.iter().zip(&new.tasks).any(|(old_task, new_task)| task_needs_restart(old_task, new_task))
}

/// Whether a task changed in a way that needs a restart.
pub(crate) fn task_needs_restart(old: &Task, new: &Task) -> bool {
    old.name != new.name
        || old.driver != new.driver
        || old.user != new.user
        || old.config != new.config
        || old.env != new.env
        || old.resources != new.resources
        || old.meta != new.meta
        || old.kill_timeout != new.kill_timeout
        || old.kill_signal != new.kill_signal
        || old.dispatch_payload != new.dispatch_payload
        || old.log_config.unwrap_or_default() != new.log_config.unwrap_or_default()
        || old.leader != new.leader
}
