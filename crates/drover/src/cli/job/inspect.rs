//! `drover job inspect [-version N] <job>`: the job as JSON, `{"Job": {...}}`.

use std::process::ExitCode;

use anyhow::{Context, anyhow};
use serde::Serialize;

use crate::cli::flags::GeneralOptions;
use crate::cli::resolve;

/// Flags of `job inspect`.
#[derive(Debug, Clone, clap::Args)]
pub struct InspectArgs {
    /// Show this version instead of the current one.
    #[arg(long)]
    pub version: Option<u64>,
    /// General options.
    #[command(flatten)]
    pub general: GeneralOptions,
    /// Job ID or prefix.
    pub job: String,
}

/// Runs `job inspect`.
pub async fn run(args: InspectArgs) -> anyhow::Result<ExitCode> {
    let (client, ui) = args.general.resolve()?;
    let job_id = resolve::job(&client, &args.job).await?.id;
    let job = match args.version {
        None => client.job_get_raw(&job_id).await.context("Error inspecting job")?,
        Some(version) => {
            let versions = client.job_versions(&job_id, false).await.context("Error inspecting job")?;
            let job = versions
                .versions
                .into_iter()
                .find(|job| job.version == version)
                .ok_or_else(|| anyhow!("Error inspecting job: version {version} of job {job_id:?} not found"))?;
            serde_json::to_value(job).context("Error encoding job")?
        }
    };
    ui.line(&pretty(&serde_json::json!({ "Job": job }))?)?;
    Ok(ExitCode::SUCCESS)
}

/// JSON indented by four spaces, as Nomad prints it.
pub fn pretty(value: &serde_json::Value) -> anyhow::Result<String> {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    value.serialize(&mut serializer).context("Error encoding job")?;
    String::from_utf8(out).context("Error encoding job")
}
