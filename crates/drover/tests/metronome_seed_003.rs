//! Seed 003 (DC/OS "Creating Jobs"): its `curl` examples against
//! `/service/metronome/v1` on a `-dev` agent, checking the JSON answers; and
//! `drover job run myjob.json` taking the Metronome format, job groups.

mod common;

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use common::{Agent, wait_for};

/// The seed's job file.
const MYJOB: &str = r#"{
    "id": "myjob",
    "description": "A job that sleeps regularly",
    "run": {
        "cmd": "sleep 20000",
        "cpus": 0.01,
        "mem": 32,
        "disk": 0
    },
    "schedules": [
        {
            "id": "sleep-schedule",
            "enabled": true,
            "cron": "20 0 * * *",
            "concurrencyPolicy": "ALLOW"
        }
    ]
}"#;

/// The seed's schedule file.
const CRON: &str = r#"{
    "concurrencyPolicy": "ALLOW",
    "cron": "20 0 * * *",
    "enabled": true,
    "id": "nightly",
    "nextRunAt": "2016-07-26T00:20:00.000+0000",
    "startingDeadlineSeconds": 900,
    "timezone": "UTC"
}"#;

/// `curl -X <method> -H "Authorization: token=..." <base><path> [-d@file]`:
/// the status code and the JSON body.
fn curl(agent: &Agent, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let mut command = Command::new("curl");
    command
        .args(["-s", "-X", method, "-H", "Authorization: token=seed-token", "-w", "\n%{http_code}"])
        .arg(format!("{}/service/metronome/v1{path}", agent.address));
    if let Some(body) = body {
        command.args(["-H", "Content-Type: application/json", "--data-binary", body]);
    }
    let output = command.output().expect("run curl");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    let status: u16 = code.trim().parse().unwrap_or_else(|_| panic!("curl {method} {path}: no status in {text:?}"));
    let value = if body.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {body}"))
    };
    (status, value)
}

fn is_run_id(id: &str) -> bool {
    id.len() == 19
        && id[..14].chars().all(|c| c.is_ascii_digit())
        && id[14..].chars().all(|c| c.is_ascii_alphanumeric())
}

fn is_metronome_time(text: &Value) -> bool {
    let Some(text) = text.as_str() else { return false };
    text.len() == 28 && text.ends_with("+0000") && &text[10..11] == "T" && &text[19..20] == "."
}

#[test]
fn seed_003_api_examples_replayed_with_curl() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = Agent::dev(&dir.path().join("agent"));

    // Add a job.
    let (status, job) = curl(&agent, "POST", "/jobs", Some(MYJOB));
    assert_eq!(status, 201, "{job}");
    assert_eq!(job["id"], "myjob");
    assert_eq!(job["description"], "A job that sleeps regularly");
    assert_eq!(job["run"]["cmd"], "sleep 20000");
    assert_eq!(job["run"]["cpus"], 0.01);
    assert_eq!(job["run"]["mem"], 32);
    assert_eq!(job["run"]["disk"], 0);
    assert_eq!(job["schedules"][0]["id"], "sleep-schedule");
    assert_eq!(job["schedules"][0]["cron"], "20 0 * * *");
    assert!(is_metronome_time(&job["schedules"][0]["nextRunAt"]), "{job}");

    // Duplicates, invalid jobs and unknown jobs get Metronome's answers.
    assert_eq!(
        curl(&agent, "POST", "/jobs", Some(MYJOB)),
        (409, json!({"message": "Job with this id already exists"}))
    );
    let (status, invalid) = curl(
        &agent,
        "POST",
        "/jobs",
        Some(r#"{"id": "bad", "run": {"cmd": "true", "mem": 16, "cpus": 1, "disk": 0}}"#),
    );
    assert_eq!(status, 422);
    assert_eq!(
        invalid,
        json!({"message": "Object is not valid", "details": [{"path": "/run/mem", "errors": ["must be at least 32, got 16"]}]})
    );
    assert_eq!(curl(&agent, "GET", "/jobs/nope", None), (404, json!({"id": "nope", "message": "Job not found"})));

    // List; embeds repeated or comma-separated; unknown embeds refused.
    let (status, list) = curl(&agent, "GET", "/jobs?embed=activeRuns,historySummary&embed=history", None);
    assert_eq!(status, 200);
    let listed = list.as_array().expect("array");
    assert_eq!(listed.len(), 1, "{list}");
    assert_eq!(listed[0]["activeRuns"], json!([]));
    assert_eq!(listed[0]["historySummary"]["successCount"], 0);
    assert_eq!(listed[0]["history"]["failedFinishedRuns"], json!([]));
    let (status, unknown) = curl(&agent, "GET", "/jobs?embed=bogus", None);
    assert_eq!(status, 400);
    assert_eq!(
        unknown["message"],
        "Unknown embed options. Valid options are: activeRuns, schedules, history, historySummary"
    );

    // The same job through the Nomad-style API and the CLI: a batch template that did not run.
    let nomad = agent.api("/v1/job/myjob");
    assert_eq!(nomad["Type"], "batch");
    assert_eq!(nomad["RunOnDemand"], true);
    assert_eq!(agent.api("/v1/job/myjob/allocations"), json!([]));
    agent.cli(dir.path(), &["job", "status", "myjob"]).expect_code(0).expect_stdout("ID            = myjob");

    // Start a run; list runs (the seed's trailing slash); get it.
    let (status, run) = curl(&agent, "POST", "/jobs/myjob/runs", None);
    assert_eq!(status, 201, "{run}");
    let run_id = run["id"].as_str().expect("run id").to_string();
    assert!(is_run_id(&run_id), "{run_id}");
    assert_eq!(run["jobId"], "myjob");
    assert!(matches!(run["status"].as_str(), Some("INITIAL" | "STARTING" | "ACTIVE")), "{run}");
    assert!(is_metronome_time(&run["createdAt"]), "{run}");
    assert_eq!(run["completedAt"], Value::Null);
    let active = wait_for("the run to become ACTIVE", Duration::from_secs(30), || {
        let (_, runs) = curl(&agent, "GET", "/jobs/myjob/runs/", None);
        (runs[0]["status"] == "ACTIVE").then_some(runs)
    });
    assert_eq!(active[0]["id"], run_id.as_str());
    assert_eq!(active[0]["tasks"][0]["status"], "TASK_RUNNING");
    let (status, fetched) = curl(&agent, "GET", &format!("/jobs/myjob/runs/{run_id}"), None);
    assert_eq!(status, 200);
    assert_eq!(fetched["id"], run_id.as_str());
    assert_eq!(
        curl(&agent, "GET", "/jobs/myjob/runs/20160725212507ghwfZ", None),
        (404, json!({"jobSpec": "myjob", "id": "20160725212507ghwfZ", "message": "Job Run not found"}))
    );

    // Deleting with an active run is refused unless told to stop it; a
    // stopCurrentJobRuns that is not a boolean is refused before anything.
    assert_eq!(
        curl(&agent, "DELETE", "/jobs/myjob?stopCurrentJobRuns=false", None),
        (409, json!({"message": "There are active job runs. Override with stopCurrentJobRuns=true"}))
    );
    assert_eq!(
        curl(&agent, "DELETE", "/jobs/myjob?stopCurrentJobRuns=maybe", None),
        (
            400,
            json!({"message": "Cannot parse parameter stopCurrentJobRuns as Boolean: should be true, false, 0 or 1, got \"maybe\""})
        )
    );
    assert_eq!(curl(&agent, "GET", "/jobs/myjob/runs", None).1[0]["id"], run_id.as_str(), "the run is still active");

    // Stop the run: the reply is the finished run.
    let (status, stopped) = curl(&agent, "POST", &format!("/jobs/myjob/runs/{run_id}/actions/stop"), None);
    assert_eq!(status, 200, "{stopped}");
    assert_eq!(stopped["status"], "FAILED", "{stopped}");
    assert!(is_metronome_time(&stopped["completedAt"]), "{stopped}");
    assert_eq!(stopped["tasks"][0]["status"], "TASK_KILLED");
    let (_, runs) = curl(&agent, "GET", "/jobs/myjob/runs", None);
    assert_eq!(runs, json!([]));
    let (_, with_history) = curl(&agent, "GET", "/jobs/myjob?embed=history", None);
    assert_eq!(with_history["history"]["failureCount"], 1, "{with_history}");
    assert_eq!(with_history["history"]["failedFinishedRuns"][0]["id"], run_id.as_str());

    // Add a schedule; a second add of the same id is a 409.
    let (status, schedule) = curl(&agent, "POST", "/jobs/myjob/schedules", Some(CRON));
    assert_eq!(status, 201, "{schedule}");
    assert_eq!(schedule["id"], "nightly");
    assert_eq!(schedule["startingDeadlineSeconds"], 900);
    assert!(is_metronome_time(&schedule["nextRunAt"]));
    assert_eq!(
        curl(&agent, "POST", "/jobs/myjob/schedules", Some(CRON)),
        (409, json!({"message": "requirement failed: A schedule with id nightly already exists"}))
    );
    let (_, schedules) = curl(&agent, "GET", "/jobs/myjob/schedules", None);
    let ids: Vec<&str> = schedules.as_array().expect("array").iter().filter_map(|s| s["id"].as_str()).collect();
    assert_eq!(ids, vec!["sleep-schedule", "nightly"]);
    let (status, updated) = curl(
        &agent,
        "PUT",
        "/jobs/myjob/schedules/nightly",
        Some(r#"{"id": "nightly", "cron": "0 3 * * *", "timezone": "Europe/Berlin", "concurrencyPolicy": "FORBID"}"#),
    );
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["timezone"], "Europe/Berlin");
    assert_eq!(curl(&agent, "DELETE", "/jobs/myjob/schedules/nightly", None).0, 200);
    assert_eq!(
        curl(&agent, "GET", "/jobs/myjob/schedules/nightly", None),
        (404, json!({"id": "nightly", "message": "Schedule not found"}))
    );

    // Without active runs a plain delete works; with one, stopCurrentJobRuns=true stops it.
    let (status, second) = curl(&agent, "POST", "/jobs/myjob/runs", None);
    assert_eq!(status, 201);
    wait_for("the second run to become ACTIVE", Duration::from_secs(30), || {
        let (_, run) = curl(&agent, "GET", &format!("/jobs/myjob/runs/{}", second["id"].as_str().unwrap_or("")), None);
        (run["status"] == "ACTIVE").then_some(())
    });
    let (status, deleted) = curl(&agent, "DELETE", "/jobs/myjob?stopCurrentJobRuns=true", None);
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["id"], "myjob");
    assert_eq!(curl(&agent, "GET", "/jobs/myjob", None).0, 404);
    wait_for("the run's allocation to stop", Duration::from_secs(30), || {
        let allocs = agent.api("/v1/allocations");
        allocs.as_array()?.iter().all(|a| a["ClientStatus"] != "running").then_some(())
    });
    assert_eq!(curl(&agent, "GET", "/jobs", None), (200, json!([])));

    let (status, plain) = curl(&agent, "POST", "/jobs", Some(r#"{"id": "once", "run": {"cmd": "true"}}"#));
    assert_eq!(status, 201, "{plain}");
    assert_eq!(plain["run"]["maxLaunchDelay"], 3600, "Metronome's default is shown: {plain}");
    assert_eq!(curl(&agent, "DELETE", "/jobs/once", None).0, 200);

    // maxLaunchDelay is honoured: a run that cannot be placed (no node has
    // that hostname) fails once it has waited that long.
    let (status, stuck) = curl(
        &agent,
        "POST",
        "/jobs",
        Some(
            r#"{"id": "stuck", "run": {"cmd": "true", "cpus": 0.01, "mem": 32, "maxLaunchDelay": 1,
                "placement": {"constraints": [{"attribute": "hostname", "operator": "IS", "value": "no-such-host"}]}}}"#,
        ),
    );
    assert_eq!(status, 201, "{stuck}");
    assert_eq!(stuck["run"]["maxLaunchDelay"], 1);
    let (status, run) = curl(&agent, "POST", "/jobs/stuck/runs", None);
    assert_eq!(status, 201, "{run}");
    let run_id = run["id"].as_str().expect("run id").to_string();
    let failed = wait_for("the unplaced run to fail", Duration::from_secs(30), || {
        let (_, run) = curl(&agent, "GET", &format!("/jobs/stuck/runs/{run_id}"), None);
        (run["status"] == "FAILED").then_some(run)
    });
    assert!(is_metronome_time(&failed["completedAt"]), "{failed}");
    let reason = agent.api(&format!("/v1/job/stuck/runs/{run_id}"))["Reason"].clone();
    assert_eq!(reason, "failed: not started within its max launch delay of 1s");
    assert_eq!(curl(&agent, "DELETE", "/jobs/stuck", None).0, 200);

    // Only jobs with a Metronome form are Metronome jobs: a parameterized
    // job is neither listed nor readable nor runnable here, with one answer.
    std::fs::write(
        dir.path().join("param.hcl"),
        r#"job "param" {
  type = "batch"
  parameterized {}
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
"#,
    )
    .expect("write job");
    agent.cli(dir.path(), &["job", "run", "param.hcl"]).expect_code(0);
    assert_eq!(curl(&agent, "GET", "/jobs", None), (200, json!([])));
    let not_metronome = json!({"message": "job \"param\" has no Metronome form: it is a parameterized job: it runs by dispatch (POST /v1/job/<id>/dispatch)"});
    assert_eq!(curl(&agent, "GET", "/jobs/param", None), (409, not_metronome.clone()));
    assert_eq!(curl(&agent, "POST", "/jobs/param/runs", None), (409, not_metronome));
}

#[test]
fn job_run_takes_a_metronome_file_and_groups_list_by_dots() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = Agent::dev(&dir.path().join("agent"));
    let write = |name: &str, id: &str| {
        std::fs::write(dir.path().join(name), MYJOB.replace("\"myjob\"", &format!("\"{id}\""))).expect("write job");
    };
    write("myjob.json", "marketing.myjob");
    write("report.json", "marketing.eu.report");
    write("other.json", "sales.other");
    for file in ["myjob.json", "report.json", "other.json"] {
        agent.cli(dir.path(), &["job", "run", file]).expect_code(0).expect_stdout("Job registration successful");
    }
    let (_, job) = curl(&agent, "GET", "/jobs/marketing.myjob", None);
    assert_eq!(job["run"]["cmd"], "sleep 20000");

    let group: Vec<String> = agent
        .api("/v1/jobs?group=marketing")
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|job| job["ID"].as_str().map(str::to_string))
        .collect();
    assert_eq!(group, vec!["marketing.eu.report", "marketing.myjob"]);
    let out = agent.cli(dir.path(), &["job", "status", "-group", "marketing"]);
    out.expect_code(0).expect_stdout("marketing.myjob").expect_stdout("marketing.eu.report");
    assert!(!out.stdout.contains("sales.other"), "{}", out.stdout);

    std::fs::write(dir.path().join("bad.json"), r#"{"id": "Bad", "run": {"cmd": "x", "args": ["y"]}}"#).expect("write");
    let bad = agent.cli(dir.path(), &["job", "run", "bad.json"]);
    bad.expect_code(1).expect_stderr("bad.json: /id:").expect_stderr("/run: cmd and args are mutually exclusive");
}
