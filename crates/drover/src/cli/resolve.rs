//! ID prefix resolution: every command that takes an ID accepts any unique
//! prefix; an exact match wins; several matches are listed and fail.

use anyhow::{Context, anyhow};

use drover_api::Client;
use drover_types::Evaluation;
use drover_types::api::{AllocListStub, JobListStub, NodeListStub};

use crate::cli::format;

/// The one item a prefix names, or the error to print.
fn pick<T>(
    prefix: &str,
    items: Vec<T>,
    id_of: impl Fn(&T) -> &str,
    none: impl FnOnce() -> String,
    many: impl FnOnce(&[T]) -> String,
) -> anyhow::Result<T> {
    if let Some(idx) = items.iter().position(|item| id_of(item) == prefix) {
        return items.into_iter().nth(idx).ok_or_else(|| anyhow!("{}", none()));
    }
    match items.len() {
        0 => Err(anyhow!("{}", none())),
        1 => items.into_iter().next().ok_or_else(|| anyhow!("{}", none())),
        _ => Err(anyhow!("{}", many(&items))),
    }
}

/// How many jobs a prefix search reads at most: enough to show an
/// ambiguous prefix, and a bound on the cost of finding a job however many
/// jobs (or children) the server holds.
pub const JOB_MATCH_LIMIT: usize = 20;

/// The job a prefix names: an exact ID wins; a prefix without `/` is not
/// matched against children (`<parent>/dispatch-...`), so a parent with
/// many children is found as fast as one with none.
pub async fn job(client: &Client, prefix: &str) -> anyhow::Result<JobListStub> {
    let (jobs, more) = matching_jobs(client, prefix).await?;
    pick(
        prefix,
        jobs,
        |job| &job.id,
        || format!("No job(s) with prefix or id {prefix:?} found"),
        |jobs| format!("Prefix matched multiple jobs\n\n{}{}", job_table(jobs), more_jobs_line(more)),
    )
}

/// The first [`JOB_MATCH_LIMIT`] jobs a prefix matches, and whether there are more.
pub async fn matching_jobs(client: &Client, prefix: &str) -> anyhow::Result<(Vec<JobListStub>, bool)> {
    client.jobs_matching(prefix, JOB_MATCH_LIMIT).await.context("Error querying jobs")
}

/// The line under a cut list of matching jobs.
pub fn more_jobs_line(more: bool) -> String {
    if more {
        format!("\n(only the first {JOB_MATCH_LIMIT} matches are shown; give more of the ID)")
    } else {
        String::new()
    }
}

/// The allocation a prefix names.
pub async fn alloc(client: &Client, prefix: &str) -> anyhow::Result<AllocListStub> {
    let allocs = client.allocations_list(prefix).await.context("Error querying allocations")?;
    pick(
        prefix,
        allocs,
        |alloc| &alloc.id,
        || format!("No allocation(s) with prefix or id {prefix:?} found"),
        |allocs| {
            let mut rows =
                vec![["ID", "Eval ID", "Job ID", "Task Group", "Desired", "Status"].map(String::from).to_vec()];
            for alloc in allocs {
                rows.push(vec![
                    alloc.id.clone(),
                    format::id(&alloc.eval_id, false).to_string(),
                    alloc.job_id.clone(),
                    alloc.task_group.clone(),
                    alloc.desired_status.clone(),
                    alloc.client_status.clone(),
                ]);
            }
            format!("Prefix matched multiple allocations\n\n{}", format::table(&rows))
        },
    )
}

/// The evaluation a prefix names.
pub async fn eval(client: &Client, prefix: &str) -> anyhow::Result<Evaluation> {
    let evals = client.evaluations_list(prefix).await.context("Error querying evaluations")?;
    pick(
        prefix,
        evals,
        |eval| &eval.id,
        || format!("No evaluation(s) with prefix or id {prefix:?} found"),
        |evals| format!("Prefix matched multiple evaluations\n\n{}", eval_table(evals, true)),
    )
}

/// The node a prefix names.
pub async fn node(client: &Client, prefix: &str) -> anyhow::Result<NodeListStub> {
    let nodes = client.nodes_list(prefix).await.context("Error querying nodes")?;
    pick(
        prefix,
        nodes,
        |node| &node.id,
        || format!("No node(s) with prefix or id {prefix:?} found"),
        |nodes| {
            let mut rows =
                vec![["ID", "DC", "Name", "Class", "Drain", "Eligibility", "Status"].map(String::from).to_vec()];
            for node in nodes {
                rows.push(vec![
                    node.id.clone(),
                    node.datacenter.clone(),
                    node.name.clone(),
                    if node.node_class.is_empty() { "<none>".to_string() } else { node.node_class.clone() },
                    node.drain.to_string(),
                    node.scheduling_eligibility.clone(),
                    node.status.clone(),
                ]);
            }
            format!("Prefix matched multiple nodes\n\n{}", format::table(&rows))
        },
    )
}

/// The job list table: `ID  Type  Priority  Status  Submit Date`.
pub fn job_table(jobs: &[JobListStub]) -> String {
    let mut rows = vec![["ID", "Type", "Priority", "Status", "Submit Date"].map(String::from).to_vec()];
    for job in jobs {
        rows.push(vec![
            job.id.clone(),
            job.job_type.as_str().to_string(),
            job.priority.to_string(),
            status_with_stop(&job.status, job.stop),
            format::time(job.submit_time),
        ]);
    }
    format::table(&rows)
}

/// `dead (stopped)` for a stopped job, else the status.
pub fn status_with_stop(status: &str, stop: bool) -> String {
    if stop { format!("{status} (stopped)") } else { status.to_string() }
}

/// The evaluation list table:
/// `ID  Priority  Triggered By  Job ID  Status  Placement Failures`.
pub fn eval_table(evals: &[Evaluation], verbose: bool) -> String {
    let mut rows =
        vec![["ID", "Priority", "Triggered By", "Job ID", "Status", "Placement Failures"].map(String::from).to_vec()];
    for eval in evals {
        rows.push(vec![
            format::id(&eval.id, verbose).to_string(),
            eval.priority.to_string(),
            eval.triggered_by.clone(),
            eval.job_id.clone(),
            eval.status.clone(),
            (!eval.failed_tg_allocs.is_empty()).to_string(),
        ]);
    }
    format::table(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stub(id: &str) -> JobListStub {
        JobListStub { id: id.to_string(), status: "running".to_string(), ..JobListStub::default() }
    }

    fn run(prefix: &str, ids: &[&str]) -> Result<String, String> {
        let jobs = ids.iter().map(|id| stub(id)).collect();
        pick(prefix, jobs, |job| &job.id, || "none".to_string(), |jobs| format!("many {}", jobs.len()))
            .map(|job| job.id)
            .map_err(|err| err.to_string())
    }

    #[test]
    fn prefix_resolution() {
        assert_eq!(run("ex", &["example"]), Ok("example".to_string()));
        assert_eq!(run("example", &["example", "example/dispatch-1"]), Ok("example".to_string()));
        assert_eq!(run("ex", &["example", "example-2"]), Err("many 2".to_string()));
        assert_eq!(run("nope", &[]), Err("none".to_string()));
    }
}
