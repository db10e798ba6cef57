//! A stand-alone executor binary: `drover-executor executor serve <name>`.
//! The `drover` binary exposes the same entry point as a hidden subcommand;
//! this target lets the crate's tests run real executors.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(drover_client::executor_main(&args));
}
