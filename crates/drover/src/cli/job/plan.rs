//! `drover job plan [-verbose] [-diff=true] <file>`: a scheduler dry run of
//! a jobspec against the registered job. Exit codes: 0 no allocations
//! created or destroyed, 1 allocations would change, 255 error.

use std::process::ExitCode;

use anyhow::Context;

use drover_types::JobType;
use drover_types::api::diff_type;
use drover_types::api::{JobPlanRequest, JobPlanResponse};

use crate::cli::flags::GeneralOptions;
use crate::cli::job::{diff, spec};
use crate::cli::ui::Ui;
use crate::cli::{format, print_error, server_error};

/// Flags of `job plan`.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    /// Show the diff (default true; `-diff=false` hides it).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_missing_value = "true")]
    pub diff: bool,
    /// Full IDs and the contents of added and removed tasks.
    #[arg(long)]
    pub verbose: bool,
    /// Not supported yet (HCL2 input variables): giving it is an error.
    #[arg(long = "var", value_name = "key=value")]
    pub vars: Vec<String>,
    /// Not supported yet (HCL2 input variables): giving it is an error.
    #[arg(long = "var-file", value_name = "path")]
    pub var_files: Vec<String>,
    /// General options.
    #[command(flatten)]
    pub general: GeneralOptions,
    /// The jobspec file, `-` for stdin.
    pub file: String,
}

/// The exit code of a failed plan.
const PLAN_ERROR: u8 = 255;

/// Runs `job plan`; errors exit 255.
pub async fn run(args: PlanArgs) -> anyhow::Result<ExitCode> {
    match plan(args).await {
        Ok(code) => Ok(code),
        Err(err) => {
            print_error(&err);
            Ok(ExitCode::from(PLAN_ERROR))
        }
    }
}

async fn plan(args: PlanArgs) -> anyhow::Result<ExitCode> {
    spec::no_variables(&args.vars, &args.var_files)?;
    let parsed = spec::load(&args.file)?;
    let job = parsed.job;
    let (client, ui) = args.general.resolve()?;
    let job_type = job.job_type;
    let job_id = job.id.clone();
    let request = JobPlanRequest { job: Some(job), diff: true };
    let mut resp = client.job_plan(&job_id, &request).await.map_err(server_error).context("Error during plan")?;
    resp.warnings = spec::warnings(&parsed.warnings, &resp.warnings);
    ui.text(&render(&resp, job_type, &args.file, args.diff, args.verbose, &ui))?;
    Ok(ExitCode::from(exit_code(&resp)))
}

/// 1 when allocations would be created, stopped, replaced or moved, else 0.
pub fn exit_code(resp: &JobPlanResponse) -> u8 {
    let Some(diff) = &resp.diff else { return 0 };
    if diff.diff_type == diff_type::NONE {
        return 0;
    }
    let changes = resp.annotations.desired_tg_updates.values().any(|updates| {
        updates.place + updates.stop + updates.migrate + updates.destructive_update + updates.canary > 0
    });
    u8::from(changes)
}

/// The whole plan output, ending with a newline.
pub fn render(
    resp: &JobPlanResponse,
    job_type: JobType,
    path: &str,
    show_diff: bool,
    verbose: bool,
    ui: &Ui,
) -> String {
    let mut out = String::new();
    if show_diff && let Some(job_diff) = &resp.diff {
        out.push_str(diff::job_diff(job_diff, &resp.annotations, verbose).trim());
        out.push_str("\n\n");
    }
    out.push_str(&ui.bold("Scheduler dry-run:"));
    out.push('\n');
    out.push_str(&dry_run(resp, job_type));
    out.push_str("\n\n");
    if !resp.warnings.is_empty() {
        out.push_str(&ui.bold(&format!("Job Warnings:\n{}", resp.warnings.trim())));
        out.push_str("\n\n");
    }
    out.push_str(&ui.bold(&format!("Job Modify Index: {}", resp.job_modify_index)));
    out.push('\n');
    out.push_str(&format!(
        "To submit the job with version verification run:

drover job run -check-index {} {path}

When running the job with the check-index flag, the job will only be run if the
job modify index given matches the server-side version. If the index has
changed, another user has modified the job and the plan's results are
potentially invalid.
",
        resp.job_modify_index
    ));
    out
}

/// The `- All tasks successfully allocated.` part, or the failures.
fn dry_run(resp: &JobPlanResponse, job_type: JobType) -> String {
    let mut lines = Vec::new();
    if resp.failed_tg_allocs.is_empty() {
        lines.push("- All tasks successfully allocated.".to_string());
    } else {
        if job_type == JobType::System || job_type == JobType::Sysbatch {
            lines.push("- WARNING: Failed to place allocations on all nodes.".to_string());
        } else {
            lines.push("- WARNING: Failed to place all allocations.".to_string());
        }
        for (group, metrics) in &resp.failed_tg_allocs {
            lines.push(format!("  {}", format::failed_group_header(group, metrics)));
            let details = format::alloc_metrics(metrics, "    ");
            if !details.is_empty() {
                lines.push(details);
            }
        }
    }
    if resp.next_periodic_launch > 0 {
        let now = drover_types::now_nanos();
        lines.push(format!(
            "- If submitted now, next periodic launch would be at {} ({}).",
            format::time(resp.next_periodic_launch),
            format::age(resp.next_periodic_launch, now)
        ));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use drover_types::AllocMetric;
    use drover_types::api::{DesiredUpdates, FieldDiff, JobDiff, PlanAnnotations, TaskDiff, TaskGroupDiff};

    use super::*;

    fn seed_response() -> JobPlanResponse {
        JobPlanResponse {
            annotations: PlanAnnotations {
                desired_tg_updates: BTreeMap::from([(
                    "cache".to_string(),
                    DesiredUpdates { place: 2, in_place_update: 1, ..DesiredUpdates::default() },
                )]),
            },
            job_modify_index: 7,
            diff: Some(JobDiff {
                diff_type: "Edited".to_string(),
                id: "example".to_string(),
                task_groups: vec![TaskGroupDiff {
                    diff_type: "Edited".to_string(),
                    name: "cache".to_string(),
                    fields: vec![FieldDiff {
                        diff_type: "Edited".to_string(),
                        name: "Count".to_string(),
                        old: "1".to_string(),
                        new: "3".to_string(),
                        annotations: vec!["forces create".to_string()],
                    }],
                    tasks: vec![TaskDiff {
                        diff_type: "None".to_string(),
                        name: "redis".to_string(),
                        ..TaskDiff::default()
                    }],
                    updates: BTreeMap::from([("create".to_string(), 2), ("in-place update".to_string(), 1)]),
                    ..TaskGroupDiff::default()
                }],
                ..JobDiff::default()
            }),
            ..JobPlanResponse::default()
        }
    }

    #[test]
    fn seed_plan_output() {
        let resp = seed_response();
        let text = render(&resp, JobType::Service, "example.drover.hcl", true, false, &Ui::plain());
        assert_eq!(
            text,
            r#"+/- Job: "example"
+/- Task Group: "cache" (2 create, 1 in-place update)
  +/- Count: "1" => "3" (forces create)
      Task: "redis"

Scheduler dry-run:
- All tasks successfully allocated.

Job Modify Index: 7
To submit the job with version verification run:

drover job run -check-index 7 example.drover.hcl

When running the job with the check-index flag, the job will only be run if the
job modify index given matches the server-side version. If the index has
changed, another user has modified the job and the plan's results are
potentially invalid.
"#
        );
        assert_eq!(exit_code(&resp), 1);
    }

    #[test]
    fn exit_codes() {
        let mut resp = seed_response();
        resp.annotations
            .desired_tg_updates
            .insert("cache".to_string(), DesiredUpdates { in_place_update: 3, ignore: 1, ..DesiredUpdates::default() });
        assert_eq!(exit_code(&resp), 0, "in-place updates change no allocations");
        resp.diff = None;
        assert_eq!(exit_code(&resp), 0);
    }

    #[test]
    fn failed_placements() {
        let mut resp = seed_response();
        resp.diff = None;
        resp.failed_tg_allocs = BTreeMap::from([(
            "cache".to_string(),
            AllocMetric { nodes_evaluated: 1, nodes_exhausted: 1, ..AllocMetric::default() },
        )]);
        let text = render(&resp, JobType::Service, "x.hcl", true, false, &Ui::plain());
        assert!(
            text.starts_with(
                "Scheduler dry-run:
- WARNING: Failed to place all allocations.
  Task Group \"cache\" (failed to place 1 allocation):
    * Resources exhausted on 1 nodes

Job Modify Index: 7
"
            ),
            "{text}"
        );
    }
}
