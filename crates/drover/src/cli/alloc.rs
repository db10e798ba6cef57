//! `drover alloc ...`: status, logs, stop and restart of allocations.

use std::process::ExitCode;

use anyhow::{Context, bail};
use futures_util::StreamExt;

use drover_api::{Client, LogType, LogsRequest};
use drover_types::{Allocation, TaskEvent, TaskState, format_duration, now_nanos, task_event};

use crate::cli::flags::GeneralOptions;
use crate::cli::ui::{Ui, write_stdout};
use crate::cli::{format, monitor, resolve, server_error};

/// Subcommands of `drover alloc`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum AllocCommand {
    /// Show an allocation's status and task events
    Status(StatusArgs),
    /// Print a task's stdout or stderr
    Logs(LogsArgs),
    /// Stop an allocation (it is replaced)
    Stop(StopArgs),
    /// Restart an allocation's tasks in place
    Restart(RestartArgs),
}

/// Runs a `drover alloc` subcommand.
pub async fn run(command: AllocCommand) -> anyhow::Result<ExitCode> {
    match command {
        AllocCommand::Status(args) => status(args).await,
        AllocCommand::Logs(args) => logs(args).await,
        AllocCommand::Stop(args) => stop(args).await,
        AllocCommand::Restart(args) => restart(args).await,
    }
}

/// Flags of `alloc status`.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// Full IDs and absolute times.
    #[arg(long)]
    pub verbose: bool,
    /// Fields and a one-line-per-task summary only.
    #[arg(long)]
    pub short: bool,
    /// General options.
    #[command(flatten)]
    pub general: GeneralOptions,
    /// Allocation ID or prefix.
    pub alloc: String,
}

async fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let (client, ui) = args.general.resolve()?;
    show(&client, &ui, &args.alloc, args.verbose, args.short).await
}

/// Fetches and prints one allocation (also used by `drover status <id>`).
pub async fn show(client: &Client, ui: &Ui, prefix: &str, verbose: bool, short: bool) -> anyhow::Result<ExitCode> {
    let stub = resolve::alloc(client, prefix).await?;
    let alloc = client.allocation_get(&stub.id).await.context("Error querying allocation")?;
    ui.line(&render(&alloc, verbose, short, now_nanos(), ui))?;
    Ok(ExitCode::SUCCESS)
}

/// The allocation status text (no trailing newline).
pub fn render(alloc: &Allocation, verbose: bool, short: bool, now: i64, ui: &Ui) -> String {
    let when = |nanos: i64| if verbose { format::time(nanos) } else { format::age(nanos, now) };
    let mut pairs = vec![
        ("ID", format::id(&alloc.id, verbose).to_string()),
        ("Eval ID", format::id(&alloc.eval_id, verbose).to_string()),
        ("Name", alloc.name.clone()),
        ("Node ID", format::id(&alloc.node_id, verbose).to_string()),
        ("Node Name", alloc.node_name.clone()),
        ("Job ID", alloc.job_id.clone()),
        ("Job Version", alloc.job_version.to_string()),
        ("Client Status", alloc.client_status.clone()),
        ("Client Description", alloc.client_description.clone()),
        ("Desired Status", alloc.desired_status.clone()),
        ("Desired Description", alloc.desired_description.clone()),
        ("Created", when(alloc.create_time)),
        ("Modified", when(alloc.modify_time)),
    ];
    if !alloc.next_allocation.is_empty() {
        pairs.push(("Replacement Alloc ID", format::id(&alloc.next_allocation, verbose).to_string()));
    }
    if let Some(tracker) = alloc.reschedule_tracker.as_ref().filter(|tracker| !tracker.events.is_empty()) {
        let limit = alloc
            .job
            .as_ref()
            .and_then(|job| job.task_group(&alloc.task_group))
            .and_then(|group| group.reschedule_policy.as_ref())
            .filter(|policy| !policy.unlimited);
        let attempts = match limit {
            Some(policy) => format!("{}/{}", tracker.events.len(), policy.attempts),
            None => tracker.events.len().to_string(),
        };
        pairs.push(("Reschedule Attempts", attempts));
    }
    let mut out = format::kv(&pairs);
    if short {
        if !alloc.task_states.is_empty() {
            let mut rows = vec![["Name", "State", "Last Event", "Time"].map(String::from).to_vec()];
            for (name, state) in &alloc.task_states {
                let last = state.events.last();
                rows.push(vec![
                    name.clone(),
                    state.state.clone(),
                    last.map(|event| event.event_type.clone()).unwrap_or_default(),
                    last.map(|event| format::time(event.time)).unwrap_or_default(),
                ]);
            }
            out.push_str(&format!("\n\n{}\n{}", ui.bold("Tasks"), format::table(&rows)));
        }
        return out;
    }
    for (name, state) in &alloc.task_states {
        out.push_str("\n\n");
        out.push_str(&ui.bold(&format!("Task {name:?} is {:?}", state.state)));
        out.push('\n');
        out.push_str(&task_details(alloc, name, state));
    }
    out
}

fn task_details(alloc: &Allocation, task_name: &str, state: &TaskState) -> String {
    let task = alloc
        .job
        .as_ref()
        .and_then(|job| job.task_group(&alloc.task_group))
        .and_then(|group| group.tasks.iter().find(|task| task.name == task_name));
    let reserved = alloc.allocated_resources.tasks.get(task_name);
    let cpu = reserved.map(|r| r.cpu.cpu_shares).or(task.map(|t| t.resources.cpu)).unwrap_or(0);
    let memory = reserved.map(|r| r.memory.memory_mb).or(task.map(|t| t.resources.memory_mb)).unwrap_or(0);
    let group_disk = alloc
        .job
        .as_ref()
        .and_then(|job| job.task_group(&alloc.task_group))
        .and_then(|group| group.ephemeral_disk)
        .map(|disk| disk.size_mb);
    let disk = if alloc.allocated_resources.shared.disk_mb > 0 {
        alloc.allocated_resources.shared.disk_mb
    } else {
        group_disk.unwrap_or(0)
    };
    let resources = format::table(&[
        vec!["CPU".to_string(), "Memory".to_string(), "Disk".to_string(), "Addresses".to_string()],
        vec![format!("{cpu} MHz"), format::mib(memory), format::mib(disk), String::new()],
    ]);
    let times = format::kv(&[
        ("Started At", format::time(state.started_at)),
        ("Finished At", format::time(state.finished_at)),
        ("Total Restarts", state.restarts.to_string()),
        ("Last Restart", format::time(state.last_restart)),
    ]);
    let mut rows = vec![vec!["Time".to_string(), "Type".to_string(), "Description".to_string()]];
    for event in state.events.iter().rev() {
        rows.push(vec![format::time(event.time), event.event_type.clone(), event_description(event)]);
    }
    format!("Task Resources\n{resources}\n\nTask Events:\n{times}\n\nRecent Events:\n{}", format::table(&rows))
}

/// An event's description: its display message, or one built from its fields
/// as Nomad does.
pub fn event_description(event: &TaskEvent) -> String {
    if !event.display_message.is_empty() {
        return event.display_message.clone();
    }
    match event.event_type.as_str() {
        task_event::RECEIVED => "Task received by client".to_string(),
        task_event::STARTED => "Task started by client".to_string(),
        task_event::TERMINATED => {
            let mut parts = vec![format!("Exit Code: {}", event.exit_code)];
            if event.signal != 0 {
                parts.push(format!("Signal: {}", event.signal));
            }
            if !event.message.is_empty() {
                parts.push(format!("Exit Message: {:?}", event.message));
            }
            parts.join(", ")
        }
        task_event::RESTARTING => {
            let delay = format!("Task restarting in {}", format_duration(event.start_delay));
            if event.restart_reason.is_empty() || event.restart_reason == "Restart within policy" {
                delay
            } else {
                format!("{} - {delay}", event.restart_reason)
            }
        }
        task_event::NOT_RESTARTING => {
            if event.restart_reason.is_empty() {
                "Task exceeded restart policy".to_string()
            } else {
                event.restart_reason.clone()
            }
        }
        task_event::KILLING => {
            if !event.kill_reason.is_empty() {
                event.kill_reason.clone()
            } else if event.kill_timeout != 0 {
                format!("Sent interrupt. Waiting {} before force killing", format_duration(event.kill_timeout))
            } else {
                "Sent interrupt".to_string()
            }
        }
        task_event::KILLED => {
            if event.kill_error.is_empty() {
                "Task successfully killed".to_string()
            } else {
                event.kill_error.clone()
            }
        }
        task_event::SETUP_FAILURE => event.setup_error.clone(),
        task_event::DRIVER_FAILURE => {
            if event.driver_error.is_empty() {
                "Failed to start task".to_string()
            } else {
                event.driver_error.clone()
            }
        }
        task_event::SIBLING_FAILED => format!("Task's sibling {:?} failed", event.failed_sibling),
        _ => event.message.clone(),
    }
}

/// Which log and how much of it: the flags `alloc logs` and `job runs logs` share.
#[derive(Debug, Clone, clap::Args)]
pub struct LogOutput {
    /// Print stderr instead of stdout.
    #[arg(long)]
    pub stderr: bool,
    /// Keep printing output as it is written.
    #[arg(short = 'f')]
    pub follow: bool,
    /// Print the end of the log (10 lines unless -n or -c).
    #[arg(long)]
    pub tail: bool,
    /// Lines to print from the end.
    #[arg(short = 'n', value_name = "lines")]
    pub lines: Option<u64>,
    /// Bytes to print from the end.
    #[arg(short = 'c', value_name = "bytes")]
    pub bytes: Option<u64>,
    /// Full IDs.
    #[arg(long)]
    pub verbose: bool,
}

/// Flags of `alloc logs`.
#[derive(Debug, Clone, clap::Args)]
pub struct LogsArgs {
    /// Which log and how much.
    #[command(flatten)]
    pub output: LogOutput,
    /// The first argument is a job ID or prefix: show its newest allocation
    /// (for a job with runs, that of its newest run that has one).
    #[arg(long)]
    pub job: bool,
    /// General options.
    #[command(flatten)]
    pub general: GeneralOptions,
    /// Allocation ID or prefix (a job ID or prefix with -job).
    pub alloc: String,
    /// Task name (optional when the allocation has one task).
    pub task: Option<String>,
}

/// Lines printed by `-tail` without `-n`.
const DEFAULT_TAIL_LINES: u64 = 10;
/// Bytes fetched per wanted line when tailing by lines.
const BYTES_PER_LINE: u64 = 120;

/// The task names of an allocation: from its task states, else its job.
fn task_names(alloc: &Allocation) -> Vec<String> {
    if !alloc.task_states.is_empty() {
        return alloc.task_states.keys().cloned().collect();
    }
    alloc
        .job
        .as_ref()
        .and_then(|job| job.task_group(&alloc.task_group))
        .map(|group| group.tasks.iter().map(|task| task.name.clone()).collect())
        .unwrap_or_default()
}

/// The task a command acts on: the named one (checked), or the only one.
fn pick_task(alloc: &Allocation, task: Option<&str>, verbose: bool) -> anyhow::Result<String> {
    let names = task_names(alloc);
    if let Some(task) = task {
        if !names.is_empty() && !names.iter().any(|name| name == task) {
            bail!("Could not find task named: {task}, found:\n{}", bullet_list(&names));
        }
        return Ok(task.to_string());
    }
    match names.as_slice() {
        [only] => Ok(only.clone()),
        [] => bail!("Allocation {:?} has no tasks", format::id(&alloc.id, verbose)),
        _ => bail!(
            "Allocation {:?} is running the following tasks:\n{}\n\nPlease specify the task.",
            format::id(&alloc.id, verbose),
            bullet_list(&names)
        ),
    }
}

fn bullet_list(names: &[String]) -> String {
    names.iter().map(|name| format!("  * {name}")).collect::<Vec<_>>().join("\n")
}

async fn logs(args: LogsArgs) -> anyhow::Result<ExitCode> {
    let (client, _ui) = args.general.resolve()?;
    let alloc_id =
        if args.job { job_alloc(&client, &args.alloc).await? } else { resolve::alloc(&client, &args.alloc).await?.id };
    print_logs(&client, &alloc_id, args.task.as_deref(), &args.output).await
}

/// The allocation `alloc logs -job <job>` shows: for a job with runs, the
/// newest allocation of its newest run that has one; else the job's newest
/// allocation.
async fn job_alloc(client: &Client, prefix: &str) -> anyhow::Result<String> {
    let job = resolve::job(client, prefix).await?;
    let runs = crate::cli::job::runs::fetch_runs(client, &job.id).await?;
    if !runs.is_empty() {
        return Ok(crate::cli::job::runs::run_alloc(&job.id, &runs, None)?.1);
    }
    let allocs =
        client.job_allocations(&job.id, true).await.map_err(server_error).context("Error querying allocations")?;
    allocs
        .into_iter()
        .max_by_key(|alloc| (alloc.create_index, alloc.create_time))
        .map(|alloc| alloc.id)
        .ok_or_else(|| anyhow::anyhow!("Job {:?} has no allocations", job.id))
}

/// Prints the log of `task` (or the only task) of allocation `alloc_id`:
/// the one piece of code behind `alloc logs` and `job runs logs`.
pub async fn print_logs(
    client: &Client,
    alloc_id: &str,
    task: Option<&str>,
    output: &LogOutput,
) -> anyhow::Result<ExitCode> {
    let alloc = match client.allocation_get(alloc_id).await {
        Ok(alloc) => alloc,
        Err(drover_api::ApiError::Status { status: 404, .. }) => {
            bail!("Allocation {alloc_id} no longer exists: finished allocations are garbage-collected")
        }
        Err(err) => return Err(server_error(err)).context("Error querying allocation"),
    };
    let task = pick_task(&alloc, task, output.verbose)?;
    let tail = output.tail || output.lines.is_some() || output.bytes.is_some();
    let keep_lines = match (output.bytes, output.lines) {
        (Some(_), _) => None,
        (None, Some(lines)) => Some(lines),
        (None, None) => tail.then_some(DEFAULT_TAIL_LINES),
    };
    let offset = match (output.bytes, keep_lines) {
        (Some(bytes), _) => bytes,
        (None, Some(lines)) => lines.saturating_add(1).saturating_mul(BYTES_PER_LINE),
        (None, None) => 0,
    };
    let request = LogsRequest {
        alloc_id: alloc.id.clone(),
        task,
        log_type: if output.stderr { LogType::Stderr } else { LogType::Stdout },
        follow: output.follow,
        from_end: tail,
        offset,
    };
    let mut stream = client.logs_stream(&request).await.map_err(server_error).context("Error reading logs")?;
    match keep_lines {
        Some(lines) if !output.follow => {
            let mut all = Vec::new();
            while let Some(chunk) = stream.next().await {
                all.extend_from_slice(&chunk.context("Error reading logs")?);
            }
            write_stdout(last_lines(&all, lines))?;
        }
        Some(lines) => {
            // Following: trim the first chunk to the wanted lines, then stream.
            let mut first = true;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.context("Error reading logs")?;
                let bytes = if first { last_lines(&chunk, lines) } else { &chunk[..] };
                first = false;
                write_stdout(bytes)?;
            }
        }
        None => {
            while let Some(chunk) = stream.next().await {
                write_stdout(&chunk.context("Error reading logs")?)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The last `n_lines` lines of `bytes` (a final line without a newline counts).
pub fn last_lines(bytes: &[u8], n_lines: u64) -> &[u8] {
    if n_lines == 0 {
        return &bytes[bytes.len()..];
    }
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let mut seen = 0;
    for (idx, byte) in body.iter().enumerate().rev() {
        if *byte == b'\n' {
            seen += 1;
            if seen == n_lines {
                return &bytes[idx + 1..];
            }
        }
    }
    bytes
}

/// Flags of `alloc stop`.
#[derive(Debug, Clone, clap::Args)]
pub struct StopArgs {
    /// Return at once, printing the evaluation ID.
    #[arg(long)]
    pub detach: bool,
    /// Full IDs.
    #[arg(long)]
    pub verbose: bool,
    /// General options.
    #[command(flatten)]
    pub general: GeneralOptions,
    /// Allocation ID or prefix.
    pub alloc: String,
}

async fn stop(args: StopArgs) -> anyhow::Result<ExitCode> {
    let (client, ui) = args.general.resolve()?;
    let stub = resolve::alloc(&client, &args.alloc).await?;
    let resp = client.allocation_stop(&stub.id).await.map_err(server_error).context("Error stopping allocation")?;
    if args.detach || resp.eval_id.is_empty() {
        ui.line(&resp.eval_id)?;
        return Ok(ExitCode::SUCCESS);
    }
    monitor::monitor(&client, &ui, &resp.eval_id, args.verbose).await
}

/// Flags of `alloc restart`.
#[derive(Debug, Clone, clap::Args)]
pub struct RestartArgs {
    /// Full IDs.
    #[arg(long)]
    pub verbose: bool,
    /// General options.
    #[command(flatten)]
    pub general: GeneralOptions,
    /// Allocation ID or prefix.
    pub alloc: String,
    /// Only this task (all tasks when omitted).
    pub task: Option<String>,
}

async fn restart(args: RestartArgs) -> anyhow::Result<ExitCode> {
    let (client, _ui) = args.general.resolve()?;
    let stub = resolve::alloc(&client, &args.alloc).await?;
    let task = match &args.task {
        Some(_) => {
            let alloc = client.allocation_get(&stub.id).await.context("Error querying allocation")?;
            pick_task(&alloc, args.task.as_deref(), args.verbose)?
        }
        None => String::new(),
    };
    client.allocation_restart(&stub.id, &task).await.map_err(server_error).context("Failed to restart allocation")?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use drover_types::{
        AllocatedCpu, AllocatedMemory, AllocatedResources, AllocatedSharedResources, AllocatedTaskResources,
        NANOS_PER_SEC,
    };

    use super::*;

    const T0: i64 = 1_509_490_720 * NANOS_PER_SEC; // 10/31/17 22:58:40 UTC

    fn alloc() -> Allocation {
        let event =
            |event_type: &str, secs: i64, message: &str| TaskEvent::new(event_type, T0 + secs * NANOS_PER_SEC, message);
        Allocation {
            id: "8ba85cef-1111-2222-3333-444444444444".to_string(),
            eval_id: "13ebb66d-1111-2222-3333-444444444444".to_string(),
            name: "example.cache[0]".to_string(),
            node_id: "e42d6f19-1111-2222-3333-444444444444".to_string(),
            node_name: "laptop".to_string(),
            job_id: "example".to_string(),
            task_group: "cache".to_string(),
            client_status: "running".to_string(),
            desired_status: "run".to_string(),
            create_time: T0,
            modify_time: T0,
            allocated_resources: AllocatedResources {
                tasks: BTreeMap::from([(
                    "redis".to_string(),
                    AllocatedTaskResources {
                        cpu: AllocatedCpu { cpu_shares: 100 },
                        memory: AllocatedMemory { memory_mb: 300 },
                    },
                )]),
                shared: AllocatedSharedResources { disk_mb: 300 },
            },
            task_states: BTreeMap::from([(
                "redis".to_string(),
                TaskState {
                    state: "running".to_string(),
                    started_at: T0 + 9 * NANOS_PER_SEC,
                    events: vec![
                        event("Received", 0, "Task received by client"),
                        event("Task Setup", 0, "Building Task Directory"),
                        event("Started", 9, "Task started by client"),
                    ],
                    ..TaskState::default()
                },
            )]),
            ..Allocation::default()
        }
    }

    #[test]
    fn alloc_status_like_the_seed() {
        let now = T0 + 5 * 60 * NANOS_PER_SEC;
        assert_eq!(
            render(&alloc(), false, false, now, &Ui::plain()),
            r#"ID                  = 8ba85cef
Eval ID             = 13ebb66d
Name                = example.cache[0]
Node ID             = e42d6f19
Node Name           = laptop
Job ID              = example
Job Version         = 0
Client Status       = running
Client Description  = <none>
Desired Status      = run
Desired Description = <none>
Created             = 5m ago
Modified            = 5m ago

Task "redis" is "running"
Task Resources
CPU      Memory   Disk     Addresses
100 MHz  300 MiB  300 MiB

Task Events:
Started At     = 10/31/17 22:58:49 UTC
Finished At    = N/A
Total Restarts = 0
Last Restart   = N/A

Recent Events:
Time                   Type        Description
10/31/17 22:58:49 UTC  Started     Task started by client
10/31/17 22:58:40 UTC  Task Setup  Building Task Directory
10/31/17 22:58:40 UTC  Received    Task received by client"#
        );
    }

    #[test]
    fn event_descriptions() {
        let mut terminated = TaskEvent::new("Terminated", 0, "");
        terminated.exit_code = 3;
        assert_eq!(event_description(&terminated), "Exit Code: 3");
        terminated.signal = 9;
        assert_eq!(event_description(&terminated), "Exit Code: 3, Signal: 9");
        let mut killing = TaskEvent::new("Killing", 0, "");
        killing.kill_timeout = 5 * NANOS_PER_SEC;
        assert_eq!(event_description(&killing), "Sent interrupt. Waiting 5s before force killing");
        let mut restarting = TaskEvent::new("Restarting", 0, "");
        restarting.start_delay = 15 * NANOS_PER_SEC;
        assert_eq!(event_description(&restarting), "Task restarting in 15s");
    }

    #[test]
    fn task_choice() {
        let mut two = alloc();
        two.task_states.insert("web".to_string(), TaskState::default());
        let err = pick_task(&two, None, false).expect_err("two tasks need a name");
        assert_eq!(
            err.to_string(),
            "Allocation \"8ba85cef\" is running the following tasks:\n  * redis\n  * web\n\nPlease specify the task."
        );
        assert_eq!(pick_task(&alloc(), None, false).expect("one task"), "redis");
        assert!(pick_task(&alloc(), Some("nope"), false).is_err());
    }

    #[test]
    fn tail_lines() {
        assert_eq!(last_lines(b"a\nb\nc\n", 2), b"b\nc\n");
        assert_eq!(last_lines(b"a\nb\nc", 2), b"b\nc");
        assert_eq!(last_lines(b"a\nb\n", 5), b"a\nb\n");
        assert_eq!(last_lines(b"a\n", 0), b"");
    }
}
