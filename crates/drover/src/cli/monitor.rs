//! The evaluation monitor shared by `job run`, `job stop`, `job eval`,
//! `alloc stop` (and dispatch): follows one evaluation with blocking queries
//! and prints what it does, Nomad's way:
//!
//! ```text
//! ==> Monitoring evaluation "13ebb66d"
//!     Evaluation triggered by job "example"
//!     Allocation "883269bf" created: node "e42d6f19", group "cache"
//!     Evaluation status changed: "pending" -> "complete"
//! ==> Evaluation "13ebb66d" finished with status "complete"
//! ```
//!
//! Exit codes: 0 all placed, 2 placement failures, 1 a failed or cancelled
//! evaluation (or any error). The text is built by [`MonitorState`] and
//! [`finish`] (pure, tested); [`monitor`] only polls and prints.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use drover_api::Client;
use drover_types::api::AllocListStub;
use drover_types::{Evaluation, desired_status, eval_status};

use crate::cli::format;
use crate::cli::ui::Ui;

/// How long one blocking query waits for a change.
const BLOCKING_WAIT: Duration = Duration::from_secs(5);
/// Pause between polls when the server does not block.
const POLL_PAUSE: Duration = Duration::from_millis(200);

/// What has been printed so far for one evaluation.
#[derive(Debug, Clone)]
pub struct MonitorState {
    verbose: bool,
    status: String,
    triggered_printed: bool,
    seen_allocs: BTreeSet<String>,
}

impl MonitorState {
    /// A fresh monitor; evaluations start `pending`.
    pub fn new(verbose: bool) -> MonitorState {
        MonitorState {
            verbose,
            status: eval_status::PENDING.to_string(),
            triggered_printed: false,
            seen_allocs: BTreeSet::new(),
        }
    }

    /// The lines to print for one look at the evaluation and its allocations.
    pub fn update(&mut self, eval: &Evaluation, allocs: &[AllocListStub]) -> Vec<String> {
        let mut lines = Vec::new();
        if !self.triggered_printed {
            self.triggered_printed = true;
            if !eval.node_id.is_empty() && eval.job_id.is_empty() {
                lines.push(format!("    Evaluation triggered by node {:?}", format::id(&eval.node_id, self.verbose)));
            } else {
                lines.push(format!("    Evaluation triggered by job {:?}", eval.job_id));
            }
        }
        let mut allocs: Vec<&AllocListStub> = allocs.iter().collect();
        // New allocations first, then in-place updated ones, as in the seed transcript.
        allocs.sort_by_key(|alloc| (alloc.create_index < eval.create_index, alloc.create_index, alloc.name.clone()));
        for alloc in allocs {
            if self.seen_allocs.contains(&alloc.id) {
                continue;
            }
            let created = alloc.create_index >= eval.create_index;
            if !created && alloc.desired_status != desired_status::RUN {
                // Stopped by this evaluation; Nomad does not list those.
                continue;
            }
            self.seen_allocs.insert(alloc.id.clone());
            let verb = if created { "created" } else { "modified" };
            lines.push(format!(
                "    Allocation {:?} {verb}: node {:?}, group {:?}",
                format::id(&alloc.id, self.verbose),
                format::id(&alloc.node_id, self.verbose),
                alloc.task_group
            ));
        }
        if eval.status != self.status && !eval.status.is_empty() {
            lines.push(format!("    Evaluation status changed: {:?} -> {:?}", self.status, eval.status));
            self.status = eval.status.clone();
        }
        lines
    }
}

/// Whether the monitor stops at this evaluation.
pub fn is_finished(eval: &Evaluation) -> bool {
    eval.is_terminal() || eval.status == eval_status::BLOCKED
}

/// How a monitored evaluation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Lines for stdout.
    pub lines: Vec<String>,
    /// 0 placed, 2 placement failures, 1 failed or cancelled.
    pub code: u8,
    /// One line for stderr, if the evaluation failed.
    pub error: Option<String>,
}

/// The closing lines of a finished evaluation and the exit code.
pub fn finish(eval: &Evaluation, verbose: bool, ui: &Ui) -> Outcome {
    let short = format::id(&eval.id, verbose);
    let mut lines = Vec::new();
    if !eval.failed_tg_allocs.is_empty() {
        lines.push(ui.bold(&format!(
            "==> Evaluation {short:?} finished with status {:?} but failed to place all allocations:",
            eval.status
        )));
        for (group, metrics) in &eval.failed_tg_allocs {
            lines.push(format!("    {}", format::failed_group_header(group, metrics)));
            let details = format::alloc_metrics(metrics, "      ");
            if !details.is_empty() {
                lines.push(details);
            }
        }
        // A dispatch parked behind its already-blocked siblings is itself the
        // evaluation that waits (the server skipped the scheduler pass).
        let waiting = if !eval.blocked_eval.is_empty() {
            Some(&eval.blocked_eval)
        } else if eval.status == eval_status::BLOCKED {
            Some(&eval.id)
        } else {
            None
        };
        if let Some(waiting) = waiting {
            lines.push(format!(
                "    Evaluation {:?} waiting for additional capacity to place remainder",
                format::id(waiting, verbose)
            ));
        }
        return Outcome { lines, code: 2, error: None };
    }
    lines.push(ui.bold(&format!("==> Evaluation {short:?} finished with status {:?}", eval.status)));
    if !eval.next_eval.is_empty() {
        lines.push(format!("    Follow-up evaluation {:?} created", format::id(&eval.next_eval, verbose)));
    }
    match eval.status.as_str() {
        eval_status::COMPLETE => Outcome { lines, code: 0, error: None },
        eval_status::BLOCKED => {
            lines.push(format!("    Evaluation {short:?} waiting for additional capacity to place remainder"));
            Outcome { lines, code: 2, error: None }
        }
        status => {
            let description = if eval.status_description.is_empty() {
                String::new()
            } else {
                format!(": {}", eval.status_description)
            };
            Outcome { lines, code: 1, error: Some(format!("Evaluation {short:?} {status}{description}")) }
        }
    }
}

/// Follows an evaluation until it finishes, printing as it goes.
pub async fn monitor(client: &Client, ui: &Ui, eval_id: &str, verbose: bool) -> anyhow::Result<ExitCode> {
    ui.line(&ui.bold(&format!("==> Monitoring evaluation {:?}", format::id(eval_id, verbose))))?;
    let mut state = MonitorState::new(verbose);
    let mut index = 0;
    loop {
        let (eval, meta) =
            client.evaluation_get_blocking(eval_id, index, BLOCKING_WAIT).await.context("Error reading evaluation")?;
        let allocs = client.evaluation_allocations(eval_id).await.context("Error reading allocations")?;
        for line in state.update(&eval, &allocs) {
            ui.line(&line)?;
        }
        if is_finished(&eval) {
            let outcome = finish(&eval, verbose, ui);
            for line in &outcome.lines {
                ui.line(line)?;
            }
            if let Some(error) = &outcome.error {
                eprintln!("{error}");
            }
            return Ok(ExitCode::from(outcome.code));
        }
        if meta.index == 0 || meta.index == index {
            tokio::time::sleep(POLL_PAUSE).await;
        }
        index = meta.index;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use drover_types::AllocMetric;

    use super::*;

    fn eval(status: &str) -> Evaluation {
        Evaluation {
            id: "13ebb66d-1111-2222-3333-444455556666".to_string(),
            job_id: "example".to_string(),
            status: status.to_string(),
            create_index: 10,
            ..Evaluation::default()
        }
    }

    fn alloc(id: &str, create_index: u64) -> AllocListStub {
        AllocListStub {
            id: id.to_string(),
            node_id: "e42d6f19-aaaa-bbbb-cccc-dddddddddddd".to_string(),
            task_group: "cache".to_string(),
            desired_status: "run".to_string(),
            create_index,
            ..AllocListStub::default()
        }
    }

    #[test]
    fn run_transcript() {
        let mut state = MonitorState::new(false);
        let allocs = vec![alloc("883269bf-0000", 5), alloc("3249e320-0000", 11)];
        let mut lines = state.update(&eval("complete"), &allocs);
        let outcome = finish(&eval("complete"), false, &Ui::plain());
        lines.extend(outcome.lines);
        assert_eq!(
            lines.join("\n"),
            r#"    Evaluation triggered by job "example"
    Allocation "3249e320" created: node "e42d6f19", group "cache"
    Allocation "883269bf" modified: node "e42d6f19", group "cache"
    Evaluation status changed: "pending" -> "complete"
==> Evaluation "13ebb66d" finished with status "complete""#
        );
        assert_eq!(outcome.code, 0);
        assert!(state.update(&eval("complete"), &allocs).is_empty(), "nothing is printed twice");
    }

    #[test]
    fn placement_failure_block() {
        let mut failed = eval("complete");
        failed.blocked_eval = "5a7b1234-0000".to_string();
        failed.failed_tg_allocs = BTreeMap::from([(
            "cache".to_string(),
            AllocMetric {
                nodes_evaluated: 2,
                nodes_exhausted: 1,
                constraint_filtered: BTreeMap::from([("${attr.kernel.name} = windows".to_string(), 1)]),
                dimension_exhausted: BTreeMap::from([("memory".to_string(), 1)]),
                ..AllocMetric::default()
            },
        )]);
        let outcome = finish(&failed, false, &Ui::plain());
        assert_eq!(
            outcome.lines.join("\n"),
            r#"==> Evaluation "13ebb66d" finished with status "complete" but failed to place all allocations:
    Task Group "cache" (failed to place 1 allocation):
      * Constraint "${attr.kernel.name} = windows": 1 nodes excluded by filter
      * Resources exhausted on 1 nodes
      * Dimension "memory" exhausted on 1 nodes
    Evaluation "5a7b1234" waiting for additional capacity to place remainder"#
        );
        assert_eq!(outcome.code, 2);

        failed.failed_tg_allocs =
            BTreeMap::from([("cache".to_string(), AllocMetric { coalesced_failures: 2, ..AllocMetric::default() })]);
        failed.blocked_eval = String::new();
        assert_eq!(
            finish(&failed, false, &Ui::plain()).lines.join("\n"),
            r#"==> Evaluation "13ebb66d" finished with status "complete" but failed to place all allocations:
    Task Group "cache" (failed to place 3 allocations):
      * No nodes were eligible for evaluation"#
        );
    }

    #[test]
    fn a_parked_blocked_eval_says_it_waits_itself() {
        let mut parked = eval("blocked");
        parked.failed_tg_allocs =
            BTreeMap::from([("cache".to_string(), AllocMetric { nodes_evaluated: 0, ..AllocMetric::default() })]);
        let outcome = finish(&parked, false, &Ui::plain());
        assert_eq!(
            outcome.lines.join("\n"),
            r#"==> Evaluation "13ebb66d" finished with status "blocked" but failed to place all allocations:
    Task Group "cache" (failed to place 1 allocation):
      * No nodes were eligible for evaluation
    Evaluation "13ebb66d" waiting for additional capacity to place remainder"#
        );
        assert_eq!(outcome.code, 2);
    }

    #[test]
    fn failed_eval_exits_one() {
        let mut failed = eval("failed");
        failed.status_description = "maximum attempts reached (5)".to_string();
        let outcome = finish(&failed, false, &Ui::plain());
        assert_eq!(outcome.code, 1);
        assert_eq!(outcome.error.as_deref(), Some(r#"Evaluation "13ebb66d" failed: maximum attempts reached (5)"#));
    }
}
