//! `drover queue [-json] [-verbose] [-limit N]`: the job queue, work not
//! running yet in the order it will be taken with the reason each item waits
//! (blocked evaluations say what no runner has), then the work running with
//! its runner; each list shows its first N items (1,000) and says how many
//! more there are. Cancel a queued or running item with `drover job stop`,
//! `drover alloc stop` or `drover job runs stop`.

use std::process::ExitCode;

use anyhow::Context;

use drover_types::api::QueueResponse as QueueReply;
use drover_types::now_nanos;

use crate::cli::flags::GeneralOptions;
use crate::cli::{format, server_error};

/// Flags of `queue`.
#[derive(Debug, Clone, clap::Args)]
pub struct QueueArgs {
    /// Print the server's JSON reply.
    #[arg(long)]
    pub json: bool,
    /// Full IDs and absolute times.
    #[arg(long)]
    pub verbose: bool,
    /// Show at most this many queued and this many running items (the
    /// totals are always counted).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub limit: u64,
    /// General options.
    #[command(flatten)]
    pub general: GeneralOptions,
}

/// Runs `drover queue`.
pub async fn run(args: QueueArgs) -> anyhow::Result<ExitCode> {
    let (client, ui) = args.general.resolve()?;
    let (reply, _): (QueueReply, _) = client
        .get_json("/v1/queue", &[("limit", args.limit.to_string())])
        .await
        .map_err(server_error)
        .context("Error querying the queue")?;
    if args.json {
        ui.line(&serde_json::to_string_pretty(&reply).context("Error encoding reply")?)?;
    } else {
        ui.line(&render(&reply, args.verbose, now_nanos()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The two sections as text (no trailing newline).
pub fn render(reply: &QueueReply, verbose: bool, now: i64) -> String {
    let when = |at: i64| if verbose { format::time(at) } else { format::age(at, now) };
    let queued = if reply.queued.is_empty() {
        "No queued work".to_string()
    } else {
        let mut rows = vec![
            ["#", "Job ID", "State", "Eval ID", "Alloc ID", "Runner", "Since", "Why it waits"]
                .map(String::from)
                .to_vec(),
        ];
        for item in &reply.queued {
            rows.push(vec![
                item.position.to_string(),
                item.job_id.clone(),
                item.kind.clone(),
                or_dash(format::id(&item.eval_id, verbose)),
                or_dash(format::id(&item.alloc_id, verbose)),
                or_dash(&item.node_name),
                when(item.since),
                item.reason.clone(),
            ]);
        }
        format::table(&rows) + &more(reply.queued_total, reply.queued.len(), "queued")
    };
    let running = if reply.running.is_empty() {
        "No running work".to_string()
    } else {
        let mut rows = vec![["Job ID", "Group", "Alloc ID", "Runner", "Runner ID", "Since"].map(String::from).to_vec()];
        for item in &reply.running {
            rows.push(vec![
                item.job_id.clone(),
                item.task_group.clone(),
                format::id(&item.alloc_id, verbose).to_string(),
                item.node_name.clone(),
                format::id(&item.node_id, verbose).to_string(),
                when(item.since),
            ]);
        }
        format::table(&rows) + &more(reply.running_total, reply.running.len(), "running")
    };
    format!("Queued\n{queued}\n\nRunning\n{running}")
}

/// The line under a list cut at `-limit`, or nothing.
fn more(total: usize, shown: usize, what: &str) -> String {
    if total <= shown {
        return String::new();
    }
    format!("\n... and {} more {what} ({total} in all; -limit N shows more)", total - shown)
}

fn or_dash(text: &str) -> String {
    if text.is_empty() { "-".to_string() } else { text.to_string() }
}

#[cfg(test)]
mod tests {
    use drover_types::NANOS_PER_SEC;
    use drover_types::api::{QueueItem, RunningItem};

    use super::*;

    #[test]
    fn queue_sections() {
        let now = 1_700_000_000 * NANOS_PER_SEC;
        let reply = QueueReply {
            queued: vec![
                QueueItem {
                    position: 1,
                    kind: "blocked".to_string(),
                    job_id: "big".to_string(),
                    eval_id: "5f1c2d3e-0000-0000-0000-000000000000".to_string(),
                    since: now - 5 * NANOS_PER_SEC,
                    reason: r#"group "g": no node has 4096 MB of memory free (1 node exhausted)"#.to_string(),
                    ..QueueItem::default()
                },
                QueueItem {
                    position: 2,
                    kind: "starting".to_string(),
                    job_id: "web".to_string(),
                    eval_id: "6a000000-0000-0000-0000-000000000000".to_string(),
                    alloc_id: "7b000000-0000-0000-0000-000000000000".to_string(),
                    node_name: "runner-1".to_string(),
                    since: now - NANOS_PER_SEC,
                    reason: "placed on runner runner-1, waiting for it to start the task".to_string(),
                    ..QueueItem::default()
                },
            ],
            running: vec![RunningItem {
                job_id: "web".to_string(),
                task_group: "g".to_string(),
                alloc_id: "8c000000-0000-0000-0000-000000000000".to_string(),
                node_id: "9d000000-0000-0000-0000-000000000000".to_string(),
                node_name: "runner-1".to_string(),
                since: now - 60 * NANOS_PER_SEC,
                ..RunningItem::default()
            }],
            queued_total: 2,
            running_total: 1,
        };
        assert_eq!(
            render(&reply, false, now),
            r#"Queued
#  Job ID  State     Eval ID   Alloc ID  Runner    Since   Why it waits
1  big     blocked   5f1c2d3e  -         -         5s ago  group "g": no node has 4096 MB of memory free (1 node exhausted)
2  web     starting  6a000000  7b000000  runner-1  1s ago  placed on runner runner-1, waiting for it to start the task

Running
Job ID  Group  Alloc ID  Runner    Runner ID  Since
web     g      8c000000  runner-1  9d000000   1m ago"#
        );
        assert_eq!(render(&QueueReply::default(), false, now), "Queued\nNo queued work\n\nRunning\nNo running work");
    }

    #[test]
    fn a_list_cut_at_the_limit_says_how_many_more() {
        let now = 1_700_000_000 * NANOS_PER_SEC;
        let reply = QueueReply {
            queued: vec![QueueItem {
                position: 1,
                kind: "blocked".to_string(),
                job_id: "batch/dispatch-1".to_string(),
                since: now,
                reason: "waiting".to_string(),
                ..QueueItem::default()
            }],
            queued_total: 1_000_000,
            running_total: 0,
            ..QueueReply::default()
        };
        let text = render(&reply, false, now);
        assert!(text.contains("\n... and 999999 more queued (1000000 in all; -limit N shows more)\n"), "{text}");
        assert!(text.ends_with("Running\nNo running work"), "{text}");
    }
}
