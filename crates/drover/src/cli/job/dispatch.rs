//! `drover job dispatch [options] <parameterized job ID or prefix> [input source]`:
//! creates a child of a parameterized job (seed 000/001) and monitors its
//! evaluation.
//!
//! ```text
//! Dispatched Job ID = video-encode/dispatch-1485379325-cb38d00d
//! Evaluation ID     = 31199841
//! ==> Monitoring evaluation "31199841"
//!     ...
//! ```
//!
//! The input is a file path or `-` for stdin (none: no payload). Beyond
//! Nomad: `-priority` orders waiting dispatches, a dispatch held by
//! `max_concurrent` says its place in the line, and `-wait` / `-output` turn
//! a dispatch into a function call: wait for the child to finish (streaming
//! its output), print how it ended and exit with the task's exit code.
//!
//! Exit codes: 0 placed (or queued, or already dispatched), 2 placement
//! failures, 1 any other error; with `-wait` the task's exit code.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};

use drover_api::{Client, JobOutcome, QueuedDispatch};
use drover_types::api::{JobDispatchRequest, JobListStub};
use drover_types::{HELD_DESCRIPTION, eval_status, job_status};

use crate::cli::flags::GeneralOptions;
use crate::cli::ui::Ui;
use crate::cli::{format, monitor, resolve, server_error};

mod follow;

/// How long one blocking query waits.
const BLOCKING_WAIT: Duration = Duration::from_secs(5);
/// How long one outcome request waits before asking again.
const OUTCOME_WAIT: Duration = Duration::from_secs(300);

/// Flags of `job dispatch`.
#[derive(Debug, Clone, clap::Args)]
pub struct DispatchArgs {
    /// Metadata `key=value` merged into the child's meta (repeatable); the
    /// parameterized job must allow the key.
    #[arg(long = "meta", value_name = "key=value")]
    pub meta: Vec<String>,
    /// Return after dispatching, printing the child and evaluation IDs.
    #[arg(long)]
    pub detach: bool,
    /// Dispatch at most one child per token: a repeat answers the existing child.
    #[arg(long = "idempotency-token", value_name = "token")]
    pub idempotency_token: Option<String>,
    /// Put this in the child ID: `<parent>/dispatch-<template>-<unix>-<hex>`.
    #[arg(long = "id-prefix-template", value_name = "template")]
    pub id_prefix_template: Option<String>,
    /// Priority of the child (1-100, default the parent's); orders dispatches
    /// waiting for `max_concurrent` or capacity.
    #[arg(long, value_name = "priority", allow_negative_numbers = true)]
    pub priority: Option<i32>,
    /// Full IDs.
    #[arg(long)]
    pub verbose: bool,
    /// Wait until the child finishes, print how it ended and exit with the
    /// task's exit code.
    #[arg(long)]
    pub wait: bool,
    /// Stream the child's stdout and stderr while it runs (implies -wait).
    #[arg(long)]
    pub output: bool,
    /// General options.
    #[command(flatten)]
    pub general: GeneralOptions,
    /// Parameterized job ID or prefix.
    pub job: String,
    /// Payload file, `-` for stdin; none dispatches without a payload.
    pub input: Option<String>,
}

/// Runs `job dispatch`.
pub async fn run(args: DispatchArgs) -> anyhow::Result<ExitCode> {
    let meta = parse_meta(&args.meta)?;
    let payload = read_payload(args.input.as_deref())?;
    let (client, ui) = args.general.resolve()?;
    let parent = resolve_parameterized(&client, &args.job).await?;
    let request = JobDispatchRequest {
        payload,
        meta,
        idempotency_token: args.idempotency_token.clone().unwrap_or_default(),
        id_prefix_template: args.id_prefix_template.clone().unwrap_or_default(),
        priority: args.priority.unwrap_or(0),
        ..JobDispatchRequest::default()
    };
    let resp =
        client.job_dispatch(&parent.id, &request).await.map_err(server_error).context("Error dispatching job")?;
    let child_id = resp.dispatched_job_id;
    let wait = args.wait || args.output;
    if resp.eval_id.is_empty() {
        if parent.periodic || request.idempotency_token.is_empty() {
            // A periodic child launches its own runs; there is nothing to monitor.
            ui.line(&format::kv(&[("Dispatched Job ID", child_id.as_str())]))?;
            return Ok(ExitCode::SUCCESS);
        }
        ui.line(&already_dispatched_line(&child_id, &request.idempotency_token))?;
        if !wait {
            return Ok(ExitCode::SUCCESS);
        }
        return wait_for_child(&client, &ui, &child_id, args.output).await;
    }
    ui.line(&header(&child_id, &resp.eval_id, args.verbose))?;
    if let Some((held, n_running)) = held_position(&client, &parent.id, &child_id).await? {
        ui.line(&queued_line(held.position, n_running, &parent.id))?;
        if !wait {
            return Ok(ExitCode::SUCCESS);
        }
    }
    if !args.detach {
        wait_released(&client, &resp.eval_id).await?;
        let code = monitor::monitor(&client, &ui, &resp.eval_id, args.verbose).await?;
        if !wait || code != ExitCode::SUCCESS {
            return Ok(code);
        }
    } else if !wait {
        return Ok(ExitCode::SUCCESS);
    }
    wait_for_child(&client, &ui, &child_id, args.output).await
}

/// `-meta k=v` flags as a map; a flag without `=` or with an empty key is an error naming it.
pub fn parse_meta(flags: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut meta = BTreeMap::new();
    for flag in flags {
        match flag.split_once('=') {
            Some((key, value)) if !key.is_empty() => {
                meta.insert(key.to_string(), value.to_string());
            }
            _ => bail!("Error parsing meta value: {flag:?} (expected key=value)"),
        }
    }
    Ok(meta)
}

/// The payload: a file's bytes, stdin's with `-`, nothing without an input.
fn read_payload(input: Option<&str>) -> anyhow::Result<Vec<u8>> {
    let mut payload = Vec::new();
    match input {
        None => {}
        Some("-") => {
            std::io::stdin().lock().read_to_end(&mut payload).context("Error reading input data")?;
        }
        Some(path) => {
            payload = std::fs::read(path).with_context(|| format!("Error reading input data from {path:?}"))?;
        }
    }
    Ok(payload)
}

/// The parameterized job a prefix names: an exact ID wins (whatever the job
/// is, so the server can say it is not parameterized); otherwise the one
/// parameterized job with that prefix (its children share the prefix and do not count).
async fn resolve_parameterized(client: &Client, prefix: &str) -> anyhow::Result<JobListStub> {
    let (jobs, more) = resolve::matching_jobs(client, prefix).await?;
    pick_parameterized(prefix, jobs).map_err(|message| anyhow!("{message}{}", resolve::more_jobs_line(more)))
}

/// The choice of [`resolve_parameterized`], without I/O.
pub fn pick_parameterized(prefix: &str, jobs: Vec<JobListStub>) -> Result<JobListStub, String> {
    if let Some(idx) = jobs.iter().position(|job| job.id == prefix) {
        return Ok(jobs.into_iter().nth(idx).unwrap_or_default());
    }
    let (templates, others): (Vec<JobListStub>, Vec<JobListStub>) =
        jobs.into_iter().partition(|job| job.parameterized_job);
    match (templates.len(), others.len()) {
        (1, _) => Ok(templates.into_iter().next().unwrap_or_default()),
        (0, 0) => Err(format!("No job(s) with prefix or id {prefix:?} found")),
        (0, 1) => Ok(others.into_iter().next().unwrap_or_default()),
        (0, _) => Err(format!("No parameterized job(s) with prefix or id {prefix:?} found")),
        _ => Err(format!("Prefix matched multiple jobs\n\n{}", resolve::job_table(&templates))),
    }
}

/// `Dispatched Job ID = ...` and `Evaluation ID     = ...`.
pub fn header(child_id: &str, eval_id: &str, verbose: bool) -> String {
    format::kv(&[("Dispatched Job ID", child_id), ("Evaluation ID", format::id(eval_id, verbose))])
}

/// What a repeated idempotency token prints.
pub fn already_dispatched_line(child_id: &str, token: &str) -> String {
    format!("Job {child_id:?} already dispatched with idempotency token {token:?}.")
}

/// What a dispatch held by `max_concurrent` prints.
pub fn queued_line(position: u64, n_running: usize, parent_id: &str) -> String {
    let children = if n_running == 1 { "child" } else { "children" };
    format!("Dispatch queued: position {position} behind {n_running} running {children} of {parent_id:?}")
}

/// The child's place in its parent's `max_concurrent` line, with how many
/// children of the parent are active; `None` when it is not held.
async fn held_position(
    client: &Client,
    parent_id: &str,
    child_id: &str,
) -> anyhow::Result<Option<(QueuedDispatch, usize)>> {
    let queue = client.job_queue(parent_id).await.context("Error querying dispatch queue")?;
    let Some(held) = queue.iter().find(|entry| entry.job_id == child_id).cloned() else { return Ok(None) };
    let held_ids: BTreeSet<&str> = queue.iter().map(|entry| entry.job_id.as_str()).collect();
    let children = client.job_children(parent_id, &[]).await.context("Error querying child jobs")?;
    let n_running = children
        .iter()
        .filter(|child| child.status != job_status::DEAD && !child.stop && !held_ids.contains(child.id.as_str()))
        .count();
    Ok(Some((held, n_running)))
}

/// Waits while the evaluation is held by `max_concurrent` (returns at once otherwise).
async fn wait_released(client: &Client, eval_id: &str) -> anyhow::Result<()> {
    let mut index = 0;
    loop {
        let (eval, meta) =
            client.evaluation_get_blocking(eval_id, index, BLOCKING_WAIT).await.context("Error reading evaluation")?;
        let held = eval.status == eval_status::BLOCKED && eval.status_description.starts_with(HELD_DESCRIPTION);
        if !held {
            return Ok(());
        }
        if meta.index == 0 || meta.index == index {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        index = meta.index;
    }
}

/// Waits for the child to be dead (streaming its output with `output`),
/// prints how it ended and returns the task's exit code.
async fn wait_for_child(client: &Client, ui: &Ui, child_id: &str, output: bool) -> anyhow::Result<ExitCode> {
    let follower = if output { Some(follow::Follower::start(client.clone(), child_id.to_string())) } else { None };
    let outcome = loop {
        let outcome =
            client.job_outcome(child_id, OUTCOME_WAIT).await.map_err(server_error).context("Error waiting for job")?;
        if outcome.finished {
            break outcome;
        }
    };
    if let Some(follower) = follower {
        follower.finish().await?;
    }
    let (line, code) = finished(child_id, &outcome);
    ui.line(&line)?;
    Ok(ExitCode::from(code))
}

/// The closing line of `-wait` and the exit code: 0 complete, the task's
/// code when it failed, 1 when it ended without one.
pub fn finished(child_id: &str, outcome: &JobOutcome) -> (String, u8) {
    let code_of = |exit_code: i32| u8::try_from(exit_code).ok().filter(|code| *code != 0).unwrap_or(1);
    match outcome.outcome.as_str() {
        "complete" => (format!("Job {child_id:?} finished: complete (exit code {})", outcome.exit_code), 0),
        "failed" => {
            let code = code_of(outcome.exit_code);
            (format!("Job {child_id:?} finished: failed (exit code {})", outcome.exit_code), code)
        }
        other => {
            let ran = outcome.allocations.iter().any(|alloc| alloc.tasks.values().any(Option::is_some));
            let what = if other.is_empty() { "dead" } else { other };
            if ran && outcome.exit_code != 0 {
                (
                    format!("Job {child_id:?} finished: {what} (exit code {})", outcome.exit_code),
                    code_of(outcome.exit_code),
                )
            } else {
                (format!("Job {child_id:?} finished: {what}"), 1)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use drover_api::AllocOutcome;

    use super::*;

    fn stub(id: &str, parameterized: bool) -> JobListStub {
        JobListStub { id: id.to_string(), parameterized_job: parameterized, ..JobListStub::default() }
    }

    fn pick(prefix: &str, jobs: &[(&str, bool)]) -> Result<String, String> {
        let jobs = jobs.iter().map(|(id, parameterized)| stub(id, *parameterized)).collect();
        pick_parameterized(prefix, jobs).map(|job| job.id)
    }

    #[test]
    fn prefixes_pick_the_one_parameterized_job() {
        let family = [("video-encode", true), ("video-encode/dispatch-1485379325-cb38d00d", false)];
        assert_eq!(pick("video", &family), Ok("video-encode".to_string()), "children share the prefix");
        assert_eq!(pick("video-encode", &family), Ok("video-encode".to_string()));
        assert_eq!(pick("web", &[("web", false)]), Ok("web".to_string()), "exact ID: the server says why not");
        assert_eq!(pick("we", &[("web", false)]), Ok("web".to_string()));
        assert_eq!(pick("x", &[]), Err("No job(s) with prefix or id \"x\" found".to_string()));
        assert_eq!(
            pick("w", &[("web", false), ("worker", false)]),
            Err("No parameterized job(s) with prefix or id \"w\" found".to_string())
        );
        let many = pick("video", &[("video-encode", true), ("video-resize", true)]).expect_err("ambiguous");
        assert!(many.starts_with("Prefix matched multiple jobs\n\nID "), "{many}");
        assert!(many.contains("video-encode") && many.contains("video-resize"), "{many}");
    }

    #[test]
    fn meta_flags() {
        let flags = ["quality=1080p".to_string(), "expr=a=b".to_string(), "empty=".to_string()];
        let meta = parse_meta(&flags).expect("valid");
        assert_eq!(meta.get("quality").map(String::as_str), Some("1080p"));
        assert_eq!(meta.get("expr").map(String::as_str), Some("a=b"));
        assert_eq!(meta.get("empty").map(String::as_str), Some(""));
        let err = parse_meta(&["quality".to_string()]).expect_err("no =");
        assert_eq!(err.to_string(), "Error parsing meta value: \"quality\" (expected key=value)");
        assert!(parse_meta(&["=x".to_string()]).is_err());
    }

    #[test]
    fn output_lines() {
        assert_eq!(
            header("video-encode/dispatch-1485379325-cb38d00d", "31199841-aaaa-bbbb-cccc-dddddddddddd", false),
            "Dispatched Job ID = video-encode/dispatch-1485379325-cb38d00d\nEvaluation ID     = 31199841"
        );
        assert_eq!(
            already_dispatched_line("video-encode/dispatch-1485379325-cb38d00d", "prod"),
            "Job \"video-encode/dispatch-1485379325-cb38d00d\" already dispatched with idempotency token \"prod\"."
        );
        assert_eq!(
            queued_line(2, 1, "video-encode"),
            "Dispatch queued: position 2 behind 1 running child of \"video-encode\""
        );
    }

    fn outcome(outcome: &str, exit_code: i32, task_code: Option<i32>) -> JobOutcome {
        JobOutcome {
            job_id: "j".to_string(),
            status: "dead".to_string(),
            finished: true,
            outcome: outcome.to_string(),
            exit_code,
            allocations: vec![AllocOutcome {
                id: "a".to_string(),
                client_status: "complete".to_string(),
                tasks: BTreeMap::from([("t".to_string(), task_code)]),
            }],
            index: 1,
        }
    }

    #[test]
    fn wait_exit_codes() {
        assert_eq!(
            finished("j", &outcome("complete", 0, Some(0))),
            ("Job \"j\" finished: complete (exit code 0)".to_string(), 0)
        );
        assert_eq!(
            finished("j", &outcome("failed", 3, Some(3))),
            ("Job \"j\" finished: failed (exit code 3)".to_string(), 3)
        );
        assert_eq!(finished("j", &outcome("failed", 300, Some(300))).1, 1, "codes beyond 255 exit 1");
        assert_eq!(finished("j", &outcome("stopped", 1, None)), ("Job \"j\" finished: stopped".to_string(), 1));
        assert_eq!(finished("j", &outcome("lost", 1, None)), ("Job \"j\" finished: lost".to_string(), 1));
        assert_eq!(finished("j", &outcome("stopped", 137, Some(137))).1, 137);
    }
}
