//! `job dispatch -output`: streams a job's task logs to the terminal while it
//! runs, stdout to stdout and stderr to stderr.
//!
//! A discoverer polls the job's allocations (one may appear late, after a
//! `max_concurrent` wait or a reschedule) and starts one follower per
//! allocation, task and stream. A follower reads the log from where it left
//! off until the task is dead: it checks the task's state *before* opening
//! the stream, so the stream that starts after the task died reads to the
//! end of the log and nothing is lost.

use std::collections::BTreeSet;
use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinSet;

use drover_api::{Client, LogType, LogsRequest};
use drover_types::{Job, task_state};

use crate::cli::ui::{self, BrokenPipe};

/// How often the job's allocations are listed.
const DISCOVER_PAUSE: Duration = Duration::from_millis(300);
/// Pause before a log is opened again (task not started, or still running).
const REOPEN_PAUSE: Duration = Duration::from_millis(250);
/// How long the last bytes may take to arrive once the job is dead.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// Streams the logs of one job until [`Follower::finish`].
#[must_use = "a follower streams until finish() is awaited"]
pub(super) struct Follower {
    stop: watch::Sender<bool>,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Follower {
    /// Starts following `job_id`'s allocations.
    pub(super) fn start(client: Client, job_id: String) -> Follower {
        let (stop, stop_rx) = watch::channel(false);
        let handle = tokio::spawn(discover(client, job_id, stop_rx));
        Follower { stop, handle }
    }

    /// Call once the job is dead: looks for allocations one last time and
    /// waits until every log is read to its end.
    pub(super) async fn finish(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        match self.handle.await {
            Ok(res) => res,
            Err(err) => Err(anyhow::anyhow!("log streaming stopped: {err}")),
        }
    }
}

async fn discover(client: Client, job_id: String, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
    let job = client.job_get(&job_id).await.context("Error reading job")?;
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut followers: JoinSet<anyhow::Result<()>> = JoinSet::new();
    loop {
        let stopping = *stop.borrow_and_update();
        // A failed listing is retried on the next round.
        let mut allocs = client.job_allocations(&job_id, false).await.unwrap_or_default();
        allocs.sort_by_key(|alloc| alloc.create_index);
        for alloc in allocs {
            if !seen.insert(alloc.id.clone()) {
                continue;
            }
            for task in task_names(&job, &alloc.task_group) {
                for log_type in [LogType::Stdout, LogType::Stderr] {
                    followers.spawn(follow_log(client.clone(), alloc.id.clone(), task.clone(), log_type));
                }
            }
        }
        if stopping {
            break;
        }
        tokio::select! {
            _ = stop.changed() => {}
            () = tokio::time::sleep(DISCOVER_PAUSE) => {}
            Some(res) = followers.join_next(), if !followers.is_empty() => stop_on_broken_pipe(res)?,
        }
    }
    let drained = tokio::time::timeout(DRAIN_LIMIT, async {
        while let Some(res) = followers.join_next().await {
            stop_on_broken_pipe(res)?;
        }
        anyhow::Ok(())
    })
    .await;
    match drained {
        Ok(res) => res,
        Err(_) => {
            followers.abort_all();
            Ok(())
        }
    }
}

/// A closed stdout ends the command; other follower errors were reported by the follower.
fn stop_on_broken_pipe(res: Result<anyhow::Result<()>, tokio::task::JoinError>) -> anyhow::Result<()> {
    match res {
        Ok(Err(err)) if err.is::<BrokenPipe>() => Err(err),
        _ => Ok(()),
    }
}

fn task_names(job: &Job, group: &str) -> Vec<String> {
    job.task_groups
        .iter()
        .filter(|tg| tg.name == group)
        .flat_map(|tg| tg.tasks.iter().map(|task| task.name.clone()))
        .collect()
}

async fn follow_log(client: Client, alloc_id: String, task: String, log_type: LogType) -> anyhow::Result<()> {
    let mut offset = 0u64;
    loop {
        let finished_before = task_finished(&client, &alloc_id, &task).await;
        let request = LogsRequest {
            alloc_id: alloc_id.clone(),
            task: task.clone(),
            log_type,
            follow: true,
            from_end: false,
            offset,
        };
        // Not found yet: the client has not started the allocation.
        if let Ok(stream) = client.logs_stream(&request).await {
            let mut stream = std::pin::pin!(stream);
            while let Some(chunk) = stream.next().await {
                let Ok(bytes) = chunk else { break };
                offset += bytes.len() as u64;
                write_out(log_type, &bytes)?;
            }
        }
        if finished_before {
            return Ok(());
        }
        tokio::time::sleep(REOPEN_PAUSE).await;
    }
}

/// Whether the task will write nothing more: dead, its allocation finished,
/// or the allocation is gone.
async fn task_finished(client: &Client, alloc_id: &str, task: &str) -> bool {
    match client.allocation_get(alloc_id).await {
        Ok(alloc) => {
            alloc.client_terminal() || alloc.task_states.get(task).is_some_and(|state| state.state == task_state::DEAD)
        }
        Err(err) => err.is_not_found(),
    }
}

fn write_out(log_type: LogType, bytes: &[u8]) -> anyhow::Result<()> {
    match log_type {
        LogType::Stdout => ui::write_stdout(bytes),
        LogType::Stderr => {
            let mut stderr = std::io::stderr().lock();
            let _ = stderr.write_all(bytes).and_then(|()| stderr.flush());
            Ok(())
        }
    }
}
