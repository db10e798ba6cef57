//! The `drover` binary: the agent (`drover agent -dev`), the hidden task
//! executor, and the command line in [`cli`].

use std::process::ExitCode;

use clap::Parser;

mod agent;
mod cli;

/// mimalloc instead of glibc malloc: the server allocates and frees many small
/// objects (persistent-map nodes of dropped snapshots); see docs/BENCHMARKS.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Drover: a job orchestrator with a Nomad-compatible command line.
#[derive(Debug, clap::Parser)]
#[command(name = "drover", disable_version_flag = true)]
struct Cli {
    /// Print the version
    #[arg(long)]
    version: bool,
    #[command(subcommand)]
    command: Option<TopCommand>,
}

#[derive(Debug, clap::Subcommand)]
enum TopCommand {
    /// Run a Drover agent: server, client, or both with -dev
    Agent(agent::AgentArgs),
    /// Serve a client's raw_exec tasks (started by the client)
    #[command(hide = true)]
    Executor {
        /// `serve`.
        mode: String,
        /// The socket name the client chose.
        name: String,
    },
    #[command(flatten)]
    Cli(cli::Command),
}

fn main() -> ExitCode {
    let args = cli::flags::normalize_args(std::env::args_os());
    let parsed = match Cli::try_parse_from(args) {
        Ok(parsed) => parsed,
        Err(err) => {
            let code = if err.use_stderr() { ExitCode::FAILURE } else { ExitCode::SUCCESS };
            let _ = err.print();
            return code;
        }
    };
    if parsed.version {
        return cli::finish(cli::ui::Ui::plain().line(&cli::version_line()).map(|()| ExitCode::SUCCESS));
    }
    match parsed.command {
        None => {
            let _ = <Cli as clap::CommandFactory>::command().print_help();
            ExitCode::FAILURE
        }
        Some(TopCommand::Agent(args)) => cli::finish(agent::run(args)),
        Some(TopCommand::Executor { mode, name }) => {
            let code = drover_client::executor_main(&[mode, name]);
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
        Some(TopCommand::Cli(command)) => cli::finish(cli::run_blocking(command)),
    }
}
