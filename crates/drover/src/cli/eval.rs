//! `drover eval ...`: status and list of evaluations.

use std::process::ExitCode;

use anyhow::Context;

use drover_api::Client;
use drover_types::{Evaluation, now_nanos};

use crate::cli::flags::GeneralOptions;
use crate::cli::ui::Ui;
use crate::cli::{format, resolve};

/// Subcommands of `drover eval`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum EvalCommand {
    /// Show an evaluation and why placements failed
    Status(StatusArgs),
    /// List evaluations
    List(ListArgs),
}

/// Runs a `drover eval` subcommand.
pub async fn run(command: EvalCommand) -> anyhow::Result<ExitCode> {
    match command {
        EvalCommand::Status(args) => {
            let (client, ui) = args.general.resolve()?;
            show(&client, &ui, &args.eval, args.verbose).await
        }
        EvalCommand::List(args) => {
            let (client, ui) = args.general.resolve()?;
            let mut evals = client.evaluations_list("").await.context("Error querying evaluations")?;
            if evals.is_empty() {
                ui.line("No evals found")?;
                return Ok(ExitCode::SUCCESS);
            }
            evals.sort_by_key(|item| std::cmp::Reverse(item.create_index));
            ui.line(&resolve::eval_table(&evals, args.verbose))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Flags of `eval status`.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// Full IDs.
    #[arg(long)]
    pub verbose: bool,
    /// General options.
    #[command(flatten)]
    pub general: GeneralOptions,
    /// Evaluation ID or prefix.
    pub eval: String,
}

/// Flags of `eval list`.
#[derive(Debug, Clone, clap::Args)]
pub struct ListArgs {
    /// Full IDs.
    #[arg(long)]
    pub verbose: bool,
    /// General options.
    #[command(flatten)]
    pub general: GeneralOptions,
}

/// Fetches and prints one evaluation (also used by `drover status <id>`).
pub async fn show(client: &Client, ui: &Ui, prefix: &str, verbose: bool) -> anyhow::Result<ExitCode> {
    let eval = resolve::eval(client, prefix).await?;
    ui.line(&render(&eval, verbose, now_nanos(), ui))?;
    Ok(ExitCode::SUCCESS)
}

/// The evaluation status text (no trailing newline).
pub fn render(eval: &Evaluation, verbose: bool, now: i64, ui: &Ui) -> String {
    let when = |nanos: i64| if verbose { format::time(nanos) } else { format::age(nanos, now) };
    let mut pairs = vec![
        ("ID", format::id(&eval.id, verbose).to_string()),
        ("Create Time", when(eval.create_time)),
        ("Modify Time", when(eval.modify_time)),
        ("Status", eval.status.clone()),
        ("Status Description", eval.status_description.clone()),
        ("Type", eval.eval_type.as_str().to_string()),
        ("TriggeredBy", eval.triggered_by.clone()),
    ];
    if !eval.job_id.is_empty() {
        pairs.push(("Job ID", eval.job_id.clone()));
    }
    if !eval.node_id.is_empty() {
        pairs.push(("Node ID", format::id(&eval.node_id, verbose).to_string()));
    }
    pairs.push(("Priority", eval.priority.to_string()));
    pairs.push(("Placement Failures", (!eval.failed_tg_allocs.is_empty()).to_string()));
    for (key, linked) in
        [("Previous Eval", &eval.previous_eval), ("Next Eval", &eval.next_eval), ("Blocked Eval", &eval.blocked_eval)]
    {
        if !linked.is_empty() {
            pairs.push((key, format::id(linked, verbose).to_string()));
        }
    }
    let mut out = format::kv(&pairs);
    if !eval.failed_tg_allocs.is_empty() {
        out.push_str("\n\n");
        out.push_str(&ui.bold("Failed Placements"));
        for (group, metrics) in &eval.failed_tg_allocs {
            out.push('\n');
            out.push_str(&format::failed_group_header(group, metrics));
            let details = format::alloc_metrics(metrics, "  ");
            if !details.is_empty() {
                out.push('\n');
                out.push_str(&details);
            }
            out.push('\n');
        }
        if !eval.blocked_eval.is_empty() {
            out.push_str(&format!(
                "\nEvaluation {:?} waiting for additional capacity to place remainder",
                format::id(&eval.blocked_eval, verbose)
            ));
        }
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use drover_types::{AllocMetric, NANOS_PER_SEC};

    use super::*;

    #[test]
    fn eval_with_failures() {
        let t0 = 1_509_490_720 * NANOS_PER_SEC;
        let eval = Evaluation {
            id: "31199841-1111-2222-3333-444444444444".to_string(),
            job_id: "example".to_string(),
            status: "complete".to_string(),
            triggered_by: "job-register".to_string(),
            priority: 50,
            blocked_eval: "5a7b1234-0000".to_string(),
            create_time: t0,
            modify_time: t0,
            failed_tg_allocs: BTreeMap::from([(
                "cache".to_string(),
                AllocMetric { nodes_evaluated: 1, nodes_exhausted: 1, ..AllocMetric::default() },
            )]),
            ..Evaluation::default()
        };
        assert_eq!(
            render(&eval, false, t0 + 12 * NANOS_PER_SEC, &Ui::plain()),
            r#"ID                 = 31199841
Create Time        = 12s ago
Modify Time        = 12s ago
Status             = complete
Status Description = <none>
Type               = service
TriggeredBy        = job-register
Job ID             = example
Priority           = 50
Placement Failures = true
Blocked Eval       = 5a7b1234

Failed Placements
Task Group "cache" (failed to place 1 allocation):
  * Resources exhausted on 1 nodes

Evaluation "5a7b1234" waiting for additional capacity to place remainder"#
        );
    }
}
