//! Cron schedules, runs and run policies end to end, against a real
//! `drover agent -dev` with 6-field crons firing every few seconds: launches
//! create `<job>/periodic-<ts>` children and runs, FORBID skips and records
//! the skip, REPLACE stops the old run, missed launches inside and outside
//! the starting deadline across a server restart, ON_FAILURE retries until
//! the active deadline, kill grace on `runs stop`, history counts, schedule
//! CLI and label filters.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Agent, wait_for};

const WAIT: Duration = Duration::from_secs(60);

/// A batch job: `periodic` block and task command given; no client restarts
/// or reschedules, so a failed attempt is dead at once.
fn periodic_hcl(job_id: &str, periodic: &str, command: &str) -> String {
    format!(
        r#"job "{job_id}" {{
  type = "batch"
  datacenters = ["dc1"]
  meta {{
    team = "ml"
  }}
{periodic}
  group "g" {{
    restart {{
      attempts = 0
      mode = "fail"
    }}
    reschedule {{
      attempts = 0
      unlimited = false
    }}
    task "t" {{
      driver = "raw_exec"
      kill_timeout = "5s"
      config {{
        command = "/bin/sh"
        args = ["-c", "{command}"]
      }}
      resources {{
        cpu = 20
        memory = 32
      }}
    }}
  }}
}}
"#
    )
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write file");
    path.display().to_string()
}

fn runs(agent: &Agent, job_id: &str) -> Vec<serde_json::Value> {
    agent.api(&format!("/v1/job/{job_id}/runs")).as_array().cloned().unwrap_or_default()
}

fn field<'a>(run: &'a serde_json::Value, key: &str) -> &'a str {
    run.get(key).and_then(serde_json::Value::as_str).unwrap_or_default()
}

/// The first line holding every token, or a panic showing the text.
fn line_with<'a>(text: &'a str, tokens: &[&str]) -> &'a str {
    text.lines()
        .find(|line| tokens.iter().all(|token| line.contains(token)))
        .unwrap_or_else(|| panic!("no line with {tokens:?} in:\n{text}"))
}

fn number(value: &serde_json::Value, key: &str) -> i64 {
    value.get(key).and_then(serde_json::Value::as_i64).unwrap_or_default()
}

#[test]
fn launches_forbid_skips_history_schedule_cli_and_labels() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = Agent::dev(&dir.path().join("agent"));
    let work = dir.path();
    let periodic = "  periodic {\n    crons = [\"*/2 * * * * *\"]\n    prohibit_overlap = true\n  }";
    let job_file = write(work, "cron.hcl", &periodic_hcl("cron", periodic, "sleep 3"));
    agent
        .cli(work, &["job", "run", &job_file])
        .expect_code(0)
        .expect_stdout("Job registration successful")
        .expect_stdout("Approximate next launch time: ");

    // A launch, a skip while it sleeps, and a success.
    let found = wait_for("a launched run, a FORBID skip and a success", WAIT, || {
        let runs = runs(&agent, "cron");
        let launched = runs.iter().find(|run| run["ChildJobIDs"][0].is_string())?;
        let skipped = runs.iter().find(|run| field(run, "Status") == "SKIPPED")?;
        runs.iter().find(|run| field(run, "Status") == "SUCCESS")?;
        Some((launched.clone(), skipped.clone()))
    });
    let (launched, skipped) = found;
    let child_id = launched["ChildJobIDs"][0].as_str().expect("a child").to_string();
    let seconds = child_id.strip_prefix("cron/periodic-").expect("Nomad's child ID form");
    assert!(seconds.parse::<i64>().is_ok(), "{child_id}");
    assert_eq!(field(&launched, "Trigger"), "schedule:periodic");
    assert!(field(&skipped, "Reason").starts_with("skipped: concurrency policy FORBID"), "{skipped}");
    let run_id = field(&launched, "ID");
    assert_eq!(run_id.len(), 19, "yyyyMMddHHmmss + 5: {run_id}");
    let child = agent.api(&format!("/v1/job/{child_id}"));
    assert_eq!(field(&child, "ParentID"), "cron");
    let evals = agent.api(&format!("/v1/job/{child_id}/evaluations"));
    assert_eq!(evals[0]["TriggeredBy"], "periodic-job");

    let history = agent.api("/v1/job/cron/history");
    assert!(number(&history, "SuccessCount") >= 1 && number(&history, "SkippedCount") >= 1, "{history}");
    agent
        .cli(work, &["job", "runs", "cron"])
        .expect_code(0)
        .expect_stdout("ID  ")
        .expect_stdout("Trigger")
        .expect_stdout("Exit Codes")
        .expect_stdout("schedule:periodic")
        .expect_stdout("SKIPPED");
    agent
        .cli(work, &["job", "status", "cron"])
        .expect_code(0)
        .expect_stdout("Periodic      = true")
        .expect_stdout("Next Periodic Launch")
        .expect_stdout("CONCURRENCY POLICY")
        .expect_stdout("FORBID")
        .expect_stdout("Run History")
        .expect_stdout("Success = ");

    // Manual runs ignore the policy.
    agent.cli(work, &["job", "periodic", "force", "-detach", "cron"]).expect_code(0).expect_stdout("Run ");
    wait_for("a manual run", WAIT, || {
        runs(&agent, "cron").iter().any(|run| field(run, "Trigger") == "manual").then_some(())
    });

    // Schedules: add, duplicate, show, bad input, update, remove.
    let nightly = write(
        work,
        "nightly.json",
        r#"{"id":"nightly","cron":"20 0 * * *","timezone":"UTC","enabled":true,"concurrencyPolicy":"ALLOW","startingDeadlineSeconds":900}"#,
    );
    agent.cli(work, &["job", "schedule", "add", "cron", &nightly]).expect_code(0);
    agent
        .cli(work, &["job", "schedule", "add", "cron", &nightly])
        .expect_code(1)
        .expect_stderr("A schedule with id nightly already exists");
    let show = agent.cli(work, &["job", "schedule", "show", "cron"]);
    show.expect_code(0);
    line_with(&show.stdout, &["ID", "CRON", "ENABLED", "NEXT RUN", "CONCURRENCY POLICY"]);
    line_with(&show.stdout, &["nightly", "20 0 * * *", "True", "T00:20:00.000+0000", "ALLOW"]);
    let bad_cron = write(work, "bad.json", r#"{"id":"bad","cron":"61 * * * *"}"#);
    agent
        .cli(work, &["job", "schedule", "add", "cron", &bad_cron])
        .expect_code(1)
        .expect_stderr("cron: invalid cron expression");
    let bad_zone = write(work, "zone.json", r#"{"id":"zone","cron":"* * * * *","timezone":"Mars/Base"}"#);
    agent
        .cli(work, &["job", "schedule", "add", "cron", &bad_zone])
        .expect_code(1)
        .expect_stderr("timezone: unknown time zone");
    let disabled = write(work, "off.json", r#"{"id":"nightly","cron":"20 1 * * *","enabled":false}"#);
    agent.cli(work, &["job", "schedule", "update", "cron", &disabled]).expect_code(0);
    let show = agent.cli(work, &["job", "schedule", "show", "cron"]);
    line_with(&show.stdout, &["nightly", "20 1 * * *", "False"]);
    agent.cli(work, &["job", "schedule", "remove", "cron", "nightly"]).expect_code(0);
    agent
        .cli(work, &["job", "schedule", "remove", "cron", "periodic"])
        .expect_code(1)
        .expect_stderr("comes from the job's periodic block");

    // Labels (job meta) filter the job list.
    agent.cli(work, &["job", "status", "-filter", "meta.team=ml"]).expect_code(0).expect_stdout("cron");
    agent.cli(work, &["job", "status", "-filter", "meta.team=web"]).expect_code(0).expect_stdout("No running jobs");
    let listed = agent.api("/v1/jobs?label=team=ml");
    assert!(listed.as_array().is_some_and(|jobs| jobs.iter().any(|job| job["ID"] == "cron")), "{listed}");

    agent.cli(work, &["job", "stop", "cron"]).expect_code(0);
}

#[test]
fn replace_stops_the_running_instance_and_starts_the_new_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = Agent::dev(&dir.path().join("agent"));
    let work = dir.path();
    // A yearly Nomad periodic block makes it a template; the REPLACE schedule does the work.
    let periodic = "  periodic {\n    cron = \"0 0 1 1 *\"\n  }";
    let job_file = write(work, "replace.hcl", &periodic_hcl("replace", periodic, "sleep 60"));
    agent.cli(work, &["job", "run", &job_file]).expect_code(0);
    let every = write(
        work,
        "every.json",
        r#"{"id":"every","cron":"*/3 * * * * *","concurrencyPolicy":"REPLACE","startingDeadlineSeconds":30}"#,
    );
    agent.cli(work, &["job", "schedule", "add", "replace", &every]).expect_code(0);
    let (replaced, newer) = wait_for("a replaced run and a newer active one", WAIT, || {
        let runs = runs(&agent, "replace");
        let replaced =
            runs.iter().find(|run| field(run, "Reason").starts_with("replaced: concurrency policy REPLACE"))?;
        if field(replaced, "Status") != "FAILED" {
            return None;
        }
        let newer = runs.iter().find(|run| number(run, "CreateIndex") > number(replaced, "CreateIndex"))?;
        Some((replaced.clone(), newer.clone()))
    });
    let old_child = replaced["ChildJobIDs"][0].as_str().expect("child").to_string();
    let child = agent.api(&format!("/v1/job/{old_child}"));
    assert_eq!(child["Stop"], true, "the replaced child is stopped");
    assert_eq!(field(&newer, "Trigger"), "schedule:every");
    agent.cli(work, &["job", "stop", "replace"]).expect_code(0);
}

#[test]
fn missed_launches_inside_and_outside_the_starting_deadline_across_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut agent = Agent::dev(&dir.path().join("agent"));
    let work = dir.path();
    let periodic = "  periodic {\n    cron = \"0 0 1 1 *\"\n  }";
    let job_file = write(work, "missed.hcl", &periodic_hcl("missed", periodic, "true"));
    agent.cli(work, &["job", "run", &job_file]).expect_code(0);
    // Drover allows any starting deadline of 1 s or more (Metronome: 60 s or more).
    let inside = write(work, "inside.json", r#"{"id":"inside","cron":"*/10 * * * * *","startingDeadlineSeconds":60}"#);
    let outside =
        write(work, "outside.json", r#"{"id":"outside","cron":"*/10 * * * * *","startingDeadlineSeconds":1}"#);
    agent.cli(work, &["job", "schedule", "add", "missed", &inside]).expect_code(0);
    agent.cli(work, &["job", "schedule", "add", "missed", &outside]).expect_code(0);
    wait_for("both schedules launched once", WAIT, || {
        let runs = runs(&agent, "missed");
        let launched =
            |trigger: &str| runs.iter().any(|run| field(run, "Trigger") == trigger && field(run, "Status") != "FAILED");
        (launched("schedule:inside") && launched("schedule:outside")).then_some(())
    });

    // Stop just after a slot, stay down until 3 s past the next one: that slot
    // is missed by more than the 1 s deadline and less than the 60 s one.
    let millis_into_period = || {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970");
        (now.as_millis() % 10_000) as u64
    };
    wait_for("just after a slot", WAIT, || (200..1_000).contains(&millis_into_period()).then_some(()));
    agent.stop();
    std::thread::sleep(Duration::from_millis(13_000_u64.saturating_sub(millis_into_period())));
    agent.restart(true);

    let runs_after = wait_for("a late launch inside the deadline and a missed one outside", WAIT, || {
        let runs = runs(&agent, "missed");
        let late = runs.iter().any(|run| {
            field(run, "Trigger") == "schedule:inside"
                && !run["ChildJobIDs"].as_array().is_none_or(Vec::is_empty)
                && number(run, "CreatedAt") - number(run, "ScheduledFor") > 1_000_000_000
        });
        let missed = runs.iter().any(|run| {
            field(run, "Trigger") == "schedule:outside"
                && field(run, "Status") == "FAILED"
                && field(run, "Reason").starts_with("missed: starting deadline 1s passed")
        });
        (late && missed).then_some(runs)
    });
    // No slot launched twice.
    let mut slots: Vec<(String, i64)> = runs_after
        .iter()
        .filter(|run| !run["ChildJobIDs"].as_array().is_none_or(Vec::is_empty))
        .map(|run| (field(run, "Trigger").to_string(), number(run, "ScheduledFor")))
        .collect();
    let n_launches = slots.len();
    slots.sort();
    slots.dedup();
    assert_eq!(slots.len(), n_launches, "a slot was launched twice: {runs_after:?}");
    let history = agent.api("/v1/job/missed/history");
    assert!(number(&history, "FailureCount") >= 1, "missed launches count as failures: {history}");
    agent.cli(work, &["job", "stop", "missed"]).expect_code(0);
}

#[test]
fn on_failure_restarts_until_the_active_deadline() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = Agent::dev(&dir.path().join("agent"));
    let work = dir.path();
    let periodic = "  periodic {\n    cron = \"0 0 1 1 *\"\n  }";
    let hcl = periodic_hcl("retry", periodic, "echo attempt; exit 1");
    // The run policy is a Job field; send the job again as Nomad JSON with it set.
    let hcl_file = write(work, "retry.hcl", &hcl);
    agent.cli(work, &["job", "run", &hcl_file]).expect_code(0);
    let mut job = agent.api("/v1/job/retry");
    job["RunPolicy"] = serde_json::json!({ "RestartPolicy": "ON_FAILURE", "ActiveDeadlineSeconds": 8 });
    let json_file = write(work, "retry.json", &serde_json::json!({ "Job": job }).to_string());
    agent.cli(work, &["job", "run", &json_file]).expect_code(0);
    agent.cli(work, &["job", "periodic", "force", "-detach", "retry"]).expect_code(0);
    let run = wait_for("the run to fail at its deadline", WAIT, || {
        runs(&agent, "retry")
            .into_iter()
            .find(|run| field(run, "Trigger") == "manual" && field(run, "Status") == "FAILED")
    });
    let n_attempts = run["ChildJobIDs"].as_array().map_or(0, Vec::len);
    // Waits of 1 s, 2 s, then at most half the time left: attempts go on
    // until the deadline, and the run ends there, not when the next backoff
    // would overshoot it (4 s after the third attempt, before the fix).
    assert!(n_attempts >= 4, "{n_attempts} attempts: {run}");
    let lasted = number(&run, "FinishedAt") - number(&run, "CreatedAt");
    assert!(lasted >= 8_000_000_000, "the run ended {lasted} ns after its creation, before its 8 s deadline: {run}");
    // The last attempt failed with too little time left for another, or was
    // still running at the deadline (on a slow machine) and was killed.
    let reason = field(&run, "Reason");
    let codes: Vec<i64> =
        run["ExitCodes"].as_array().map(|codes| codes.iter().filter_map(|c| c.as_i64()).collect()).unwrap_or_default();
    if reason == "killed: active deadline 8s passed" {
        assert!(codes.iter().rev().skip(1).all(|code| *code == 1), "{run}");
    } else {
        assert_eq!(
            reason,
            format!("failed: active deadline 8s reached after {n_attempts} attempts (last exit code 1)")
        );
        assert_eq!(codes, vec![1; n_attempts]);
    }
    line_with(&agent.cli(work, &["job", "runs", "retry"]).expect_code(0).stdout, &["manual", "FAILED", reason]);
    let history = agent.api("/v1/job/retry/history");
    assert_eq!(number(&history, "FailureCount"), 1, "one run, however many attempts: {history}");
    agent.cli(work, &["job", "stop", "retry"]).expect_code(0);
}

#[test]
fn stopping_a_run_honours_the_kill_grace_period() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = Agent::dev(&dir.path().join("agent"));
    let work = dir.path();
    let periodic = "  periodic {\n    cron = \"0 0 1 1 *\"\n  }";
    let command = "trap 'echo got-sigterm; sleep 1; exit 0' TERM; echo started; echo on-stderr >&2; while true; do sleep 0.1; done";
    let job_file = write(work, "grace.hcl", &periodic_hcl("grace", periodic, command));
    agent.cli(work, &["job", "run", &job_file]).expect_code(0);
    agent.cli(work, &["job", "periodic", "force", "-detach", "grace"]).expect_code(0);
    let run = wait_for("the run to be active", WAIT, || {
        runs(&agent, "grace").into_iter().find(|run| field(run, "Status") == "ACTIVE")
    });
    let run_id = field(&run, "ID").to_string();
    let alloc_id = run["Allocations"][0].as_str().expect("an allocation").to_string();
    wait_for("the task to print", WAIT, || {
        let out = agent.cli(work, &["alloc", "logs", &alloc_id]);
        out.stdout.contains("started").then_some(())
    });
    agent.cli(work, &["job", "runs", "stop", "grace", &run_id]).expect_code(0).expect_stdout("Stopping run");
    let stopped = wait_for("the run to end", WAIT, || {
        let run = agent.api(&format!("/v1/job/grace/runs/{run_id}"));
        (field(&run, "Status") == "FAILED").then_some(run)
    });
    assert_eq!(field(&stopped, "Reason"), "stopped: by request");
    // The task saw SIGTERM first and its log stays readable, by allocation,
    // by job (its newest run's allocation) or by run, without an allocation ID.
    agent.cli(work, &["alloc", "logs", &alloc_id]).expect_code(0).expect_stdout("got-sigterm");
    agent.cli(work, &["alloc", "logs", "-job", "grace"]).expect_code(0).expect_stdout("started\ngot-sigterm");
    agent.cli(work, &["alloc", "logs", "-job", "grace", "t"]).expect_code(0).expect_stdout("got-sigterm");
    agent.cli(work, &["job", "runs", "logs", "grace"]).expect_code(0).expect_stdout("started\ngot-sigterm");
    let tail = agent.cli(work, &["job", "runs", "logs", "-tail", "-n", "1", "grace", &run_id[..16]]);
    assert_eq!(tail.expect_code(0).stdout, "got-sigterm\n");
    agent.cli(work, &["job", "runs", "logs", "-stderr", "grace", &run_id]).expect_code(0).expect_stdout("on-stderr");
    agent
        .cli(work, &["job", "runs", "logs", "grace", "19990101"])
        .expect_code(1)
        .expect_stderr("No run with ID or prefix \"19990101\" of job \"grace\"");
    agent.cli(work, &["job", "stop", "grace"]).expect_code(0);
}
