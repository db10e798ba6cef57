//! `drover job status [-verbose] [-all-allocs] [-short] [job]`: the job list,
//! or one job's fields, summary and allocations (seed 002). A parameterized
//! job shows its dispatched children and the dispatches waiting for
//! `max_concurrent`; `-children [-filter k=v]...` lists a parent's children.

use std::process::ExitCode;

use anyhow::Context;

use drover_api::{Client, QueuedDispatch};
use drover_types::api::{AllocListStub, JobListStub, JobSummary};
use drover_types::{Evaluation, Job, eval_status, now_nanos};

use crate::cli::flags::GeneralOptions;
use crate::cli::format;
use crate::cli::resolve;
use crate::cli::ui::Ui;

/// Flags of `job status`.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// Full IDs, absolute times and the job's evaluations.
    #[arg(long)]
    pub verbose: bool,
    /// Include allocations of earlier jobs with the same ID.
    #[arg(long = "all-allocs")]
    pub all_allocs: bool,
    /// Only the job's fields and summary.
    #[arg(long)]
    pub short: bool,
    /// List the job's children (dispatched or launched jobs).
    #[arg(long)]
    pub children: bool,
    /// With -children: `status=pending|running|dead|queued`, `meta.<key>=<value>`,
    /// `since=<duration>` or `before=<duration>` (repeatable, all must match).
    #[arg(long = "filter", value_name = "key=value")]
    pub filters: Vec<String>,
    /// Only jobs of this job group (IDs `<group>.<name>`, nested groups included).
    #[arg(long, value_name = "group")]
    pub group: Option<String>,
    /// General options.
    #[command(flatten)]
    pub general: GeneralOptions,
    /// Job ID or prefix; none lists every job.
    pub job: Option<String>,
}

/// Runs `job status`.
pub async fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let (client, ui) = args.general.resolve()?;
    let Some(prefix) = args.job.as_deref() else {
        if args.children {
            anyhow::bail!("-children needs a parent job ID");
        }
        // Without a job, `-filter meta.<key>=<value>` filters the list by labels (job meta).
        let jobs = if args.filters.is_empty() {
            client.jobs_list("").await.context("Error querying jobs")?
        } else {
            crate::cli::job::schedule::jobs_with_labels(&client, &args.filters).await?
        };
        let jobs: Vec<_> = match args.group.as_deref() {
            Some(group) => jobs.into_iter().filter(|job| drover_jobspec::metronome::in_group(&job.id, group)).collect(),
            None => jobs,
        };
        if jobs.is_empty() {
            ui.line("No running jobs")?;
        } else {
            ui.line(&resolve::job_table(&jobs))?;
        }
        return Ok(ExitCode::SUCCESS);
    };
    let job = resolve::job(&client, prefix).await?;
    if args.children || !args.filters.is_empty() {
        let filters = child_filters(&args.filters)?;
        return list_children(&client, &ui, &job.id, &filters).await;
    }
    show(&client, &ui, &job.id, Options { verbose: args.verbose, short: args.short, all_allocs: args.all_allocs }).await
}

/// What `show` prints.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Full IDs, absolute times, evaluations.
    pub verbose: bool,
    /// Fields and summary only.
    pub short: bool,
    /// Allocations of earlier jobs with the same ID too.
    pub all_allocs: bool,
}

/// Fetches and prints one job's status (also used by `drover status <id>`).
pub async fn show(client: &Client, ui: &Ui, job_id: &str, options: Options) -> anyhow::Result<ExitCode> {
    let job = client.job_get(job_id).await.context("Error querying job")?;
    let summary = client.job_summary(job_id).await.context("Error querying job summary")?;
    let allocs = client.job_allocations(job_id, options.all_allocs).await.context("Error querying job allocations")?;
    let evals = client.job_evaluations(job_id).await.context("Error querying job evaluations")?;
    let children = if job.is_template() {
        client.job_children(job_id, &[]).await.context("Error querying child jobs")?
    } else {
        Vec::new()
    };
    let queue = if job.is_parameterized() {
        client.job_queue(job_id).await.context("Error querying dispatch queue")?
    } else {
        Vec::new()
    };
    let view =
        View { job: &job, summary: &summary, allocs: &allocs, evals: &evals, children: &children, queue: &queue };
    let mut text = render(&view, options, now_nanos(), ui);
    if job.is_periodic() {
        let periodic = crate::cli::job::schedule::status_sections(client, ui, &job).await?;
        text = format!("{text}\n\n{periodic}");
    }
    ui.line(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// Everything one job status shows.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    /// The job.
    pub job: &'a Job,
    /// Its summary.
    pub summary: &'a JobSummary,
    /// Its allocations.
    pub allocs: &'a [AllocListStub],
    /// Its evaluations.
    pub evals: &'a [Evaluation],
    /// Its children, for templates.
    pub children: &'a [JobListStub],
    /// Dispatches waiting for `max_concurrent`, in order.
    pub queue: &'a [QueuedDispatch],
}

/// The job status text (no trailing newline).
pub fn render(view: &View<'_>, options: Options, now: i64, ui: &Ui) -> String {
    let job = view.job;
    let mut sections = vec![basic(job)];
    if job.is_parameterized() {
        sections.push(parameterized(job, ui));
    }
    if job.is_template() {
        sections.push(children(view, ui));
        return sections.join("\n\n");
    }
    if !view.summary.summary.is_empty() {
        let mut rows = vec![
            ["Task Group", "Queued", "Starting", "Running", "Failed", "Complete", "Lost", "Unknown"]
                .map(String::from)
                .to_vec(),
        ];
        for (group, counts) in &view.summary.summary {
            rows.push(vec![
                group.clone(),
                counts.queued.to_string(),
                counts.starting.to_string(),
                counts.running.to_string(),
                counts.failed.to_string(),
                counts.complete.to_string(),
                counts.lost.to_string(),
                counts.unknown.to_string(),
            ]);
        }
        sections.push(format!("{}\n{}", ui.bold("Summary"), format::table(&rows)));
    }
    if options.short {
        return sections.join("\n\n");
    }
    if options.verbose && !view.evals.is_empty() {
        let mut evals: Vec<&Evaluation> = view.evals.iter().collect();
        evals.sort_by_key(|item| std::cmp::Reverse(item.create_index));
        let mut rows =
            vec![["ID", "Priority", "Triggered By", "Status", "Placement Failures"].map(String::from).to_vec()];
        for eval in evals {
            rows.push(vec![
                eval.id.clone(),
                eval.priority.to_string(),
                eval.triggered_by.clone(),
                eval.status.clone(),
                (!eval.failed_tg_allocs.is_empty()).to_string(),
            ]);
        }
        sections.push(format!("{}\n{}", ui.bold("Evaluations"), format::table(&rows)));
    }
    if let Some(failure) = placement_failure(view.evals) {
        sections.push(format!("{}\n{failure}", ui.bold("Placement Failure")));
    }
    let mut allocs: Vec<AllocListStub> = view.allocs.to_vec();
    allocs.sort_by_key(|item| std::cmp::Reverse(item.create_index));
    let alloc_text = if allocs.is_empty() {
        "No allocations placed".to_string()
    } else {
        format::alloc_table(&allocs, options.verbose, now)
    };
    sections.push(format!("{}\n{alloc_text}", ui.bold("Allocations")));
    sections.join("\n\n")
}

fn basic(job: &Job) -> String {
    let status = resolve::status_with_stop(&job.status, job.stop);
    let pool = if job.node_pool.is_empty() { "default" } else { job.node_pool.as_str() };
    format::kv(&[
        ("ID", job.id.clone()),
        ("Name", job.name.clone()),
        ("Submit Date", format::time(job.submit_time)),
        ("Type", job.job_type.as_str().to_string()),
        ("Priority", job.priority.to_string()),
        ("Datacenters", job.datacenters.join(",")),
        ("Namespace", job.namespace.clone()),
        ("Node Pool", pool.to_string()),
        ("Status", status),
        ("Periodic", job.is_periodic().to_string()),
        ("Parameterized", job.is_parameterized().to_string()),
    ])
}

fn parameterized(job: &Job, ui: &Ui) -> String {
    let Some(config) = &job.parameterized_job else { return String::new() };
    let payload = if config.payload.is_empty() { "optional" } else { config.payload.as_str() };
    format!(
        "{}\n{}",
        ui.bold("Parameterized Job"),
        format::kv(&[
            ("Payload", payload.to_string()),
            ("Required Metadata", config.meta_required.join(", ")),
            ("Optional Metadata", config.meta_optional.join(", ")),
        ])
    )
}

fn children(view: &View<'_>, ui: &Ui) -> String {
    let (summary_title, list_title, none) = if view.job.is_parameterized() {
        ("Parameterized Job Summary", "Dispatched Jobs", "No dispatched instances of parameterized job found")
    } else {
        ("Children Job Summary", "Previously Launched Jobs", "No instances of periodic job found")
    };
    let counts = view.summary.children;
    let mut header = vec!["Pending", "Running", "Dead"];
    let mut values = vec![counts.pending, counts.running, counts.dead];
    if view.job.is_parameterized() {
        // Drover: how the dead ended, counting children already garbage-collected.
        header.extend(["Complete", "Failed", "Stopped", "Collected"]);
        values.extend([counts.complete, counts.failed, counts.stopped, counts.collected]);
    }
    let summary = format::table(&[
        header.iter().map(|title| title.to_string()).collect::<Vec<_>>(),
        values.iter().map(u64::to_string).collect(),
    ]);
    let list = if view.children.is_empty() {
        none.to_string()
    } else {
        let mut children: Vec<&JobListStub> = view.children.iter().collect();
        children.sort_by(|a, b| b.submit_time.cmp(&a.submit_time).then_with(|| a.id.cmp(&b.id)));
        let mut rows = vec![vec!["ID".to_string(), "Status".to_string()]];
        rows.extend(children.iter().map(|child| vec![child.id.clone(), child.status.clone()]));
        format::table(&rows)
    };
    let mut text = format!("{}\n{summary}\n\n{}\n{list}", ui.bold(summary_title), ui.bold(list_title));
    if !view.queue.is_empty() {
        let mut rows = vec![vec!["Position".to_string(), "ID".to_string(), "Priority".to_string()]];
        rows.extend(
            view.queue
                .iter()
                .map(|held| vec![held.position.to_string(), held.job_id.clone(), held.priority.to_string()]),
        );
        text.push_str(&format!("\n\n{}\n{}", ui.bold("Queued Dispatches"), format::table(&rows)));
    }
    text
}

/// `-filter` flags as the children endpoint's query: `status=`, `meta.<key>=`,
/// `since=`, `before=`; anything else is an error naming the flag.
pub fn child_filters(flags: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    let mut filters = Vec::new();
    for flag in flags {
        let Some((key, value)) = flag.split_once('=') else {
            anyhow::bail!("Invalid filter {flag:?}: expected key=value");
        };
        let known = matches!(key, "status" | "since" | "before")
            || key.strip_prefix("meta.").is_some_and(|meta_key| !meta_key.is_empty());
        if !known {
            anyhow::bail!("Invalid filter {flag:?}: expected status=, meta.<key>=, since= or before=");
        }
        filters.push((key.to_string(), value.to_string()));
    }
    Ok(filters)
}

/// `job status -children`: the parent's children matching the filters, newest first.
async fn list_children(
    client: &Client,
    ui: &Ui,
    job_id: &str,
    filters: &[(String, String)],
) -> anyhow::Result<ExitCode> {
    let children = client
        .job_children(job_id, filters)
        .await
        .map_err(crate::cli::server_error)
        .with_context(|| "Error querying child jobs")?;
    if children.is_empty() {
        ui.line(&format!("No child jobs of {job_id:?} found"))?;
        return Ok(ExitCode::SUCCESS);
    }
    ui.line(&children_table(&children))?;
    Ok(ExitCode::SUCCESS)
}

/// The table of `job status -children`: `ID  Status  Submit Date  Meta`.
pub fn children_table(children: &[JobListStub]) -> String {
    let mut rows = vec![["ID", "Status", "Submit Date", "Meta"].map(String::from).to_vec()];
    for child in children {
        let meta = child
            .meta
            .iter()
            .flatten()
            .filter(|(_, value)| !value.is_empty())
            .map(|(key, value)| format!("{key}={value}"))
            .collect::<Vec<_>>()
            .join(",");
        rows.push(vec![
            child.id.clone(),
            resolve::status_with_stop(&child.status, child.stop),
            format::time(child.submit_time),
            if meta.is_empty() { "<none>".to_string() } else { meta },
        ]);
    }
    format::table(&rows)
}

/// The newest placement failure while a blocked evaluation waits for capacity.
fn placement_failure(evals: &[Evaluation]) -> Option<String> {
    if !evals.iter().any(|eval| eval.status == eval_status::BLOCKED) {
        return None;
    }
    let failed = evals.iter().filter(|eval| !eval.failed_tg_allocs.is_empty()).max_by_key(|eval| eval.create_index)?;
    let parts: Vec<String> = failed
        .failed_tg_allocs
        .iter()
        .map(|(group, metrics)| format!("Task Group {group:?}:\n{}", format::alloc_metrics(metrics, "  ")))
        .collect();
    Some(parts.join("\n\n"))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use drover_types::api::{JobChildrenSummary, TaskGroupSummary};
    use drover_types::{NANOS_PER_SEC, ParameterizedJobConfig};

    use super::*;

    const SUBMIT: i64 = 1_509_490_720 * NANOS_PER_SEC; // 10/31/17 22:58:40 UTC

    fn job() -> Job {
        Job {
            id: "example".to_string(),
            name: "example".to_string(),
            namespace: "default".to_string(),
            node_pool: "default".to_string(),
            datacenters: vec!["dc1".to_string()],
            priority: 50,
            status: "running".to_string(),
            submit_time: SUBMIT,
            ..Job::default()
        }
    }

    fn summary() -> JobSummary {
        JobSummary {
            job_id: "example".to_string(),
            summary: BTreeMap::from([(
                "cache".to_string(),
                TaskGroupSummary { running: 1, ..TaskGroupSummary::default() },
            )]),
            ..JobSummary::default()
        }
    }

    fn alloc() -> AllocListStub {
        AllocListStub {
            id: "8ba85cef-1111-2222-3333-444444444444".to_string(),
            node_id: "171a583b-1111-2222-3333-444444444444".to_string(),
            task_group: "cache".to_string(),
            job_version: 0,
            desired_status: "run".to_string(),
            client_status: "running".to_string(),
            create_time: SUBMIT,
            modify_time: SUBMIT,
            ..AllocListStub::default()
        }
    }

    #[test]
    fn running_service_job() {
        let (job, summary, allocs) = (job(), summary(), vec![alloc()]);
        let view = View { job: &job, summary: &summary, allocs: &allocs, evals: &[], children: &[], queue: &[] };
        let now = SUBMIT + 5 * 60 * NANOS_PER_SEC;
        assert_eq!(
            render(&view, Options::default(), now, &Ui::plain()),
            "ID            = example
Name          = example
Submit Date   = 10/31/17 22:58:40 UTC
Type          = service
Priority      = 50
Datacenters   = dc1
Namespace     = default
Node Pool     = default
Status        = running
Periodic      = false
Parameterized = false

Summary
Task Group  Queued  Starting  Running  Failed  Complete  Lost  Unknown
cache       0       0         1        0       0         0     0

Allocations
ID        Node ID   Task Group  Version  Desired  Status   Created  Modified
8ba85cef  171a583b  cache       0        run      running  5m ago   5m ago"
        );
    }

    #[test]
    fn stopped_job_and_short() {
        let mut job = job();
        job.stop = true;
        job.status = "dead".to_string();
        let summary = summary();
        let view = View { job: &job, summary: &summary, allocs: &[], evals: &[], children: &[], queue: &[] };
        let text = render(&view, Options { short: true, ..Options::default() }, SUBMIT, &Ui::plain());
        assert!(text.contains("Status        = dead (stopped)\n"), "{text}");
        assert!(!text.contains("Allocations"), "{text}");
        let text = render(&view, Options::default(), SUBMIT, &Ui::plain());
        assert!(text.ends_with("Allocations\nNo allocations placed"), "{text}");
    }

    #[test]
    fn parameterized_job() {
        let mut job = job();
        job.parameterized_job = Some(ParameterizedJobConfig {
            payload: "required".to_string(),
            meta_required: vec!["input".to_string()],
            ..ParameterizedJobConfig::default()
        });
        let summary = JobSummary {
            children: JobChildrenSummary { running: 1, ..JobChildrenSummary::default() },
            ..JobSummary::default()
        };
        let children = vec![JobListStub {
            id: "example/dispatch-1485379325-cb38d00d".to_string(),
            parent_id: "example".to_string(),
            status: "running".to_string(),
            ..JobListStub::default()
        }];
        let queue = vec![QueuedDispatch {
            job_id: "example/dispatch-1485379330-0a1b2c3d".to_string(),
            position: 1,
            priority: 80,
            ..QueuedDispatch::default()
        }];
        let view = View { job: &job, summary: &summary, allocs: &[], evals: &[], children: &children, queue: &queue };
        let text = render(&view, Options::default(), SUBMIT, &Ui::plain());
        assert!(
            text.ends_with(
                "Parameterized = true

Parameterized Job
Payload           = required
Required Metadata = input
Optional Metadata = <none>

Parameterized Job Summary
Pending  Running  Dead  Complete  Failed  Stopped  Collected
0        1        0     0         0       0        0

Dispatched Jobs
ID                                    Status
example/dispatch-1485379325-cb38d00d  running

Queued Dispatches
Position  ID                                    Priority
1         example/dispatch-1485379330-0a1b2c3d  80"
            ),
            "{text}"
        );
    }

    #[test]
    fn children_filters_and_table() {
        let filters = child_filters(&[
            "status=dead".to_string(),
            "meta.codec=webm".to_string(),
            "since=1h".to_string(),
            "before=10m".to_string(),
        ])
        .expect("valid filters");
        assert_eq!(filters[1], ("meta.codec".to_string(), "webm".to_string()));
        assert_eq!(
            child_filters(&["color=red".to_string()]).expect_err("unknown key").to_string(),
            "Invalid filter \"color=red\": expected status=, meta.<key>=, since= or before="
        );
        assert!(child_filters(&["status".to_string()]).is_err());
        assert!(child_filters(&["meta.=x".to_string()]).is_err());
        let children = vec![JobListStub {
            id: "video-encode/dispatch-1485379325-cb38d00d".to_string(),
            status: "dead".to_string(),
            submit_time: SUBMIT,
            meta: Some(BTreeMap::from([
                ("codec".to_string(), "webm".to_string()),
                ("quality".to_string(), String::new()),
            ])),
            ..JobListStub::default()
        }];
        assert_eq!(
            children_table(&children),
            "ID                                         Status  Submit Date            Meta
video-encode/dispatch-1485379325-cb38d00d  dead    10/31/17 22:58:40 UTC  codec=webm"
        );
    }

    #[test]
    fn blocked_placement_failure_is_shown() {
        let (job, summary) = (job(), summary());
        let failed = Evaluation {
            status: "complete".to_string(),
            create_index: 5,
            failed_tg_allocs: BTreeMap::from([(
                "cache".to_string(),
                drover_types::AllocMetric {
                    nodes_evaluated: 1,
                    nodes_exhausted: 1,
                    ..drover_types::AllocMetric::default()
                },
            )]),
            ..Evaluation::default()
        };
        let blocked = Evaluation { status: "blocked".to_string(), create_index: 6, ..Evaluation::default() };
        let evals = vec![failed, blocked];
        let view = View { job: &job, summary: &summary, allocs: &[], evals: &evals, children: &[], queue: &[] };
        let text = render(&view, Options::default(), SUBMIT, &Ui::plain());
        assert!(
            text.contains(
                "Placement Failure\nTask Group \"cache\":\n  * Resources exhausted on 1 nodes\n\nAllocations"
            ),
            "{text}"
        );
    }
}
