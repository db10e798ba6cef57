//! `drover-bench-stamp DIR`: the task `dispatch_latency` runs. Its first
//! instruction reads the clock; then it writes the time (Unix ns) to
//! `DIR/<$NOMAD_JOB_ID with / as _>`, so the bench sees when the task really
//! started running.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;

/// The stamp program's file name, next to `drover-bench`.
pub const PROGRAM: &str = "drover-bench-stamp";

/// The stamp program next to this executable.
pub fn program() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("finding drover-bench's own path")?;
    let path = exe.with_file_name(PROGRAM);
    anyhow::ensure!(
        path.is_file(),
        "{} not found next to {}: build it (cargo build --release -p drover-bench)",
        PROGRAM,
        exe.display()
    );
    Ok(path)
}

/// Writes the stamp file.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).context("clock before 1970")?.as_nanos();
    let dir = args.first().context("usage: drover-bench-stamp DIR")?;
    let job_id = std::env::var("NOMAD_JOB_ID").unwrap_or_else(|_| "unknown".to_string());
    let path = std::path::Path::new(dir).join(stamp_name(&job_id));
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, now.to_string()).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The stamp file name of a job ID.
pub fn stamp_name(job_id: &str) -> String {
    job_id.replace(['/', '.'], "_")
}
