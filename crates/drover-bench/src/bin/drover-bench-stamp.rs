//! `drover-bench-stamp DIR`: the task `dispatch_latency` dispatches (see
//! `drover_bench::stamp`). It is a program of its own, small, so the latency
//! measured ends at the task's first instruction rather than after the
//! loader has relocated the whole benchmark tool.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match drover_bench::stamp::run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
