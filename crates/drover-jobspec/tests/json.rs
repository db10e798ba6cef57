//! Nomad API JSON jobspecs: both shapes, defaults, and positioned errors.

use drover_types::{JobType, NANOS_PER_SEC};

const BARE: &str = r#"{
  "ID": "x",
  "Type": "batch",
  "Meta": {"owner": "team"},
  "TaskGroups": [{
    "Name": "g",
    "Count": 2,
    "Tasks": [{
      "Name": "t",
      "Driver": "raw_exec",
      "Config": {"command": "/bin/sh", "args": ["-c", "echo ${NOMAD_ALLOC_ID}"]},
      "Resources": {"CPU": 250, "MemoryMB": 64},
      "KillTimeout": 20000000000
    }]
  }]
}"#;

/// Parses `source` as `job.json` and checks the fields `expect` looks at.
fn check(source: &str, expect: impl FnOnce(&drover_types::Job)) {
    let job = drover_jobspec::parse(source, "job.json").unwrap_or_else(|err| panic!("{err}"));
    expect(&job);
}

/// Parses `source` as `job.json` and checks the error's Display.
fn check_error(source: &str, expected: &str) {
    match drover_jobspec::parse(source, "job.json") {
        Ok(job) => panic!("expected an error, got {job:?}"),
        Err(err) => assert_eq!(err.to_string(), expected, "\nsource:\n{source}"),
    }
}

#[test]
fn bare_and_wrapped_jobs_parse_to_the_same_job() {
    let wrapped = format!("{{\"Job\": {BARE}, \"EnforceIndex\": false}}");
    let bare = drover_jobspec::parse_json(BARE, "job.json").unwrap_or_else(|err| panic!("{err}"));
    check(&wrapped, |job| assert_eq!(job, &bare));
    check(BARE, |job| {
        assert_eq!(job.id, "x");
        assert_eq!(job.job_type, JobType::Batch);
        assert_eq!(job.meta.get("owner").map(String::as_str), Some("team"));
        let group = &job.task_groups[0];
        assert_eq!(group.count, 2);
        let task = &group.tasks[0];
        assert_eq!(task.config["args"], serde_json::json!(["-c", "echo ${NOMAD_ALLOC_ID}"]));
        assert_eq!((task.resources.cpu, task.resources.memory_mb), (250, 64));
        assert_eq!(task.kill_timeout, 20 * NANOS_PER_SEC);
    });
}

#[test]
fn json_jobs_get_the_same_defaults() {
    check(
        r#"{"Job": {"ID": "x", "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t", "Driver": "raw_exec"}]}]}}"#,
        |job| {
            assert_eq!((job.name.as_str(), job.namespace.as_str(), job.region.as_str()), ("x", "default", "global"));
            assert_eq!((job.job_type, job.priority), (JobType::Service, 50));
            assert_eq!(job.datacenters, vec!["*"]);
            let group = &job.task_groups[0];
            assert_eq!(group.count, 1);
            assert_eq!(group.restart_policy.as_ref().map(|policy| policy.attempts), Some(2));
            assert_eq!(group.tasks[0].kill_timeout, 5 * NANOS_PER_SEC);
            assert_eq!(group.tasks[0].resources.memory_mb, 300);
        },
    );
}

#[test]
fn json_errors_have_file_line_column() {
    check_error("{\n  \"ID\": \"x\",\n  \"TaskGroups\": [\n}", "job.json:4:1: expected value");
    check_error("{\"ID\": \"x\"", "job.json:1:10: EOF while parsing an object");
    check_error(
        "{\n  \"ID\": \"x\",\n  \"TaskGroups\": [{\"Name\": \"g\", \"Count\": \"x\"}]\n}",
        "job.json:3:43: Job.TaskGroups[0].Count: invalid type: string \"x\", expected u32",
    );
    check_error("{\"Job\": {\"ID\": 7}}", "job.json:1:16: Job.ID: invalid type: integer `7`, expected a string");
    check_error(
        "{\"Job\": {\"ID\": \"x\", \"Type\": \"daemon\"}}",
        "job.json:1:36: Job.Type: unknown variant `daemon`, expected one of `service`, `batch`, `system`, `sysbatch`",
    );
    check_error("[1, 2]", "job.json:1:1: expected a JSON object with a Job, got an array");
    check_error(
        "{\"job\": {\"x\": {}}}",
        "job.json: HCL's JSON syntax ({\"job\": {...}}) is not supported; use the Nomad API shape {\"Job\": {...}}",
    );
}

#[test]
fn json_validation_errors_name_the_file() {
    check_error(
        r#"{"Job": {"ID": "x", "Type": "system", "TaskGroups": [{"Name": "g", "Count": 2, "Tasks": [{"Name": "t", "Driver": "raw_exec"}]}]}}"#,
        "job.json: group \"g\": system jobs run one instance per node; count must be 0 or 1",
    );
    check_error(
        r#"{"Job": {"ID": "x", "ParameterizedJob": {}, "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t"}]}]}}"#,
        "job.json: job -> parameterized: parameterized job can only be used with \"batch\" or \"sysbatch\" scheduler\njob.json: group \"g\" -> task \"t\": missing task driver",
    );
}

#[test]
fn json_jobs_refuse_unknown_keys_and_blocks_drover_does_not_run() {
    let with_task = |extra: &str| {
        format!(
            r#"{{"Job": {{"ID": "x", "TaskGroups": [{{"Name": "g", "Tasks": [{{"Name": "t", "Driver": "raw_exec"{extra}}}]}}]}}}}"#
        )
    };
    let unknown =
        drover_jobspec::parse(&with_task(r#", "Templatez": []"#), "job.json").err().map(|err| err.to_string());
    assert!(
        unknown.as_deref().is_some_and(|message| message
            .starts_with("job.json: Job.TaskGroups[0].Tasks[0]: unknown field \"Templatez\" (expected one of ")),
        "{unknown:?}"
    );
    check_error(
        &with_task(r#", "Templates": [{"DestPath": "local/x", "EmbeddedTmpl": "x"}]"#),
        "job.json: Job.TaskGroups[0].Tasks[0].Templates: the \"template\" block is not supported yet",
    );
    check_error(
        r#"{"Job": {"ID": "x"}, "EnforceIndex": true}"#,
        "job.json: EnforceIndex: a register request option is not read from a jobspec file; give it on the command line (-check-index)",
    );
    // What Nomad's Go SDK sends for blocks left out is accepted.
    check(
        &with_task(r#", "Templates": null, "Artifacts": [], "Vault": null, "ShutdownDelay": 0, "Kind": """#),
        |job| {
            assert_eq!(job.task_groups[0].tasks[0].driver, "raw_exec");
        },
    );
}

#[test]
fn json_affinities_are_accepted_with_a_warning() {
    let source = r#"{"ID": "x", "Affinities": [{"LTarget": "${node.datacenter}", "RTarget": "dc1", "Operand": "=", "Weight": 50}],
        "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t", "Driver": "raw_exec"}]}]}"#;
    let parsed = drover_jobspec::parse_with_warnings(source, "job.json").unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(parsed.job.id, "x");
    assert_eq!(
        parsed.warnings,
        [
            "job.json: Job.Affinities: the \"affinity\" block is not supported yet and is ignored; it is a placement preference, and the job is placed without it"
        ]
    );
}
