//! `drover job ...`: submit, plan, inspect, stop and follow jobs.

use std::process::ExitCode;

pub mod diff;
pub mod dispatch;
pub mod eval;
pub mod history;
pub mod init;
pub mod inspect;
pub mod periodic;
pub mod plan;
pub mod run;
pub mod runs;
pub mod schedule;
pub mod spec;
pub mod status;
pub mod stop;
pub mod validate;

/// Subcommands of `drover job`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum JobCommand {
    /// Write an example jobspec (example.drover.hcl)
    Init(init::InitArgs),
    /// Submit a job and monitor its evaluation
    Run(run::RunArgs),
    /// Dry-run a job: what would the scheduler do
    Plan(plan::PlanArgs),
    /// List jobs or show one job's status
    Status(status::StatusArgs),
    /// Stop a job
    Stop(stop::StopArgs),
    /// Print a job as JSON
    Inspect(inspect::InspectArgs),
    /// Check a jobspec without submitting it
    Validate(validate::ValidateArgs),
    /// Show a job's versions
    History(history::HistoryArgs),
    /// Force a new evaluation of a job
    Eval(eval::EvalArgs),
    /// Dispatch an instance of a parameterized job
    Dispatch(dispatch::DispatchArgs),
    /// Launch a periodic job now (`periodic force`)
    Periodic(periodic::PeriodicArgs),
    /// List a job's runs, stop one (`runs stop`) or print one's logs (`runs logs`)
    Runs(runs::RunsArgs),
    /// Add, show, update or remove a job's cron schedules
    Schedule(schedule::ScheduleArgs),
}

/// Runs a `drover job` subcommand.
pub async fn run(command: JobCommand) -> anyhow::Result<ExitCode> {
    match command {
        JobCommand::Init(args) => init::run(args),
        JobCommand::Run(args) => run::run(args).await,
        JobCommand::Plan(args) => plan::run(args).await,
        JobCommand::Status(args) => status::run(args).await,
        JobCommand::Stop(args) => stop::run(args).await,
        JobCommand::Inspect(args) => inspect::run(args).await,
        JobCommand::Validate(args) => validate::run(args),
        JobCommand::History(args) => history::run(args).await,
        JobCommand::Eval(args) => eval::run(args).await,
        JobCommand::Dispatch(args) => dispatch::run(args).await,
        JobCommand::Periodic(args) => periodic::run(args).await,
        JobCommand::Runs(args) => runs::run(args).await,
        JobCommand::Schedule(args) => schedule::run(args).await,
    }
}
