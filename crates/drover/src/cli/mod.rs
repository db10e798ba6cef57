//! The `drover` command line: the clap command tree and how commands end.
//!
//! Each command is a function returning `anyhow::Result<ExitCode>`. Errors
//! print one line to stderr (`Error querying jobs: error connecting to
//! http://127.0.0.1:4747: Connection refused (os error 111)`) and exit 1; a
//! closed stdout exits 0. Flags are Nomad's, single or double dash
//! ([`flags::normalize_args`]); server-facing commands flatten
//! [`flags::GeneralOptions`].

use std::process::ExitCode;

pub mod alloc;
pub mod eval;
pub mod flags;
pub mod format;
pub mod job;
pub mod monitor;
pub mod node;
pub mod queue;
pub mod resolve;
pub mod status;
pub mod ui;

/// The `drover` commands that talk to a server or work on jobspecs (the
/// agent and the executor are added by `main`).
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Print the version
    Version,
    /// Submit, plan, inspect and stop jobs
    #[command(subcommand)]
    Job(Box<job::JobCommand>),
    /// Inspect allocations: status, logs, stop, restart
    #[command(subcommand)]
    Alloc(alloc::AllocCommand),
    /// Inspect evaluations
    #[command(subcommand)]
    Eval(eval::EvalCommand),
    /// Inspect and manage nodes
    #[command(subcommand)]
    Node(node::NodeCommand),
    /// The job queue: work waiting (and why) and work running, with its runner
    Queue(queue::QueueArgs),
    /// List jobs, or show any object by ID prefix
    Status(status::StatusArgs),
    /// Alias of `job run`
    #[command(hide = true)]
    Run(job::run::RunArgs),
    /// Alias of `job plan`
    #[command(hide = true)]
    Plan(job::plan::PlanArgs),
    /// Alias of `job stop`
    #[command(hide = true)]
    Stop(job::stop::StopArgs),
    /// Alias of `job init`
    #[command(hide = true)]
    Init(job::init::InitArgs),
    /// Alias of `job validate`
    #[command(hide = true)]
    Validate(job::validate::ValidateArgs),
    /// Alias of `job inspect`
    #[command(hide = true)]
    Inspect(job::inspect::InspectArgs),
    /// Alias of `alloc logs`
    #[command(hide = true)]
    Logs(alloc::LogsArgs),
}

/// The version line: `Drover v0.1.0`.
pub fn version_line() -> String {
    format!("Drover v{}", env!("CARGO_PKG_VERSION"))
}

/// Runs one command.
pub async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Version => {
            ui::Ui::plain().line(&version_line())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Job(command) => job::run(*command).await,
        Command::Alloc(command) => alloc::run(command).await,
        Command::Eval(command) => eval::run(command).await,
        Command::Node(command) => node::run(command).await,
        Command::Queue(args) => queue::run(args).await,
        Command::Status(args) => status::run(args).await,
        Command::Run(args) => job::run(job::JobCommand::Run(args)).await,
        Command::Plan(args) => job::run(job::JobCommand::Plan(args)).await,
        Command::Stop(args) => job::run(job::JobCommand::Stop(args)).await,
        Command::Init(args) => job::run(job::JobCommand::Init(args)).await,
        Command::Validate(args) => job::run(job::JobCommand::Validate(args)).await,
        Command::Inspect(args) => job::run(job::JobCommand::Inspect(args)).await,
        Command::Logs(args) => alloc::run(alloc::AllocCommand::Logs(args)).await,
    }
}

/// Runs one command on a fresh single-threaded runtime.
pub fn run_blocking(command: Command) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| anyhow::anyhow!("Error starting runtime: {err}"))?;
    runtime.block_on(run(command))
}

/// The exit code of a finished command, printing its error if any: one line
/// on stderr and 1; a closed stdout is success.
pub fn finish(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(err) if err.is::<ui::BrokenPipe>() => ExitCode::SUCCESS,
        Err(err) => {
            print_error(&err);
            ExitCode::FAILURE
        }
    }
}

/// Prints an error and its causes on stderr, `outer: inner: innermost`.
pub fn print_error(err: &anyhow::Error) {
    if err.is::<ui::BrokenPipe>() {
        return;
    }
    eprintln!("{err:#}");
}

/// A server's refusal as its message alone (`Enforcing job modify index 7:
/// ...`), other API errors unchanged.
pub fn server_error(err: drover_api::ApiError) -> anyhow::Error {
    match err {
        drover_api::ApiError::Status { message, .. } if !message.is_empty() => anyhow::anyhow!(message),
        other => anyhow::Error::new(other),
    }
}
