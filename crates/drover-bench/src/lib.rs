//! Drover's benchmark tool. `drover-bench <scenario> [options]` starts its own
//! agents (the real `drover` binary) or uses a running one (`-address`),
//! drives a load, and prints one JSON object per line per figure
//! (`{"bench":"dispatch_accept","value":12345.6,"unit":"per_s","n":100000,"nodes":0}`),
//! then a human table.
//!
//! Scenarios ([`scenarios`]): `dispatch_accept`, `placement`,
//! `dispatch_latency`, `e2e_throughput`, `memory`, `backlog`, `cli_dispatch`,
//! and `all` (every one; with `-quick` at a size that finishes in about two
//! minutes). Options ([`Options`]): `-n`, `-nodes`, `-concurrency`,
//! `-address`, `-quick`, `-schedulers`.
//!
//! Finding `drover` ([`agent::drover_binary`]): `-drover PATH`, `$DROVER_BIN`,
//! else the `drover` next to this executable (`target/<profile>/drover`); when
//! started by `cargo run`, it builds that binary first (same profile).
//!
//! Data dirs live under the system temp dir and are removed afterwards; every
//! load loop is bounded in count and time; only 127.0.0.1 is used.
//!
//! ```no_run
//! let mut out = Vec::new();
//! drover_bench::run(&["dispatch_accept".to_string(), "-n".to_string(), "1000".to_string()], &mut out)?;
//! # Ok::<(), anyhow::Error>(())
//! ```

#![warn(unreachable_pub)]

pub mod agent;
pub mod api;
mod args;
pub mod report;
pub mod scenarios;
pub mod stamp;

use std::io::Write;

pub use args::Options;
pub use report::{Figure, Report};

/// Runs the command line `args` (without the program name), writing JSON
/// lines and the table to `out`.
pub fn run(args: &[String], out: &mut dyn Write) -> anyhow::Result<()> {
    let options = args::parse(args)?;
    if options.help {
        writeln!(out, "{}", args::HELP)?;
        return Ok(());
    }
    let drover = match &options.drover_bin {
        Some(path) => path.clone(),
        None => agent::drover_binary()?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut report = Report::new(out);
    let result = runtime.block_on(scenarios::run(&options, &drover, &mut report));
    report.table()?;
    result
}
