//! HCL jobspecs: every field mapped, interpolation kept, durations, defaults,
//! Nomad's constraint shorthands, free-form driver config.

use std::collections::BTreeMap;

use drover_types::{
    Constraint, DispatchPayloadConfig, EphemeralDisk, Job, JobType, LogConfig, NANOS_PER_SEC, ParameterizedJobConfig,
    PeriodicConfig, ReschedulePolicy, Resources, RestartPolicy, Task, TaskGroup,
};
use serde_json::json;

/// The brief's full jobspec, one-line blocks and all (HCL1 layout).
const FULL: &str = r#"job "example" {
  datacenters = ["dc1"]
  type = "batch"         # service | batch | system | sysbatch
  priority = 70
  namespace = "default"
  region = "global"
  node_pool = "default"
  all_at_once = false
  meta { owner = "team" }
  constraint { attribute = "${attr.kernel.name}" operator = "=" value = "linux" }
  constraint { operator = "distinct_hosts" value = "true" }
  periodic { crons = ["*/5 * * * *"] cron = "0 * * * *" prohibit_overlap = true time_zone = "America/New_York" enabled = true }
  parameterized { payload = "optional" meta_required = ["a"] meta_optional = ["b"] max_concurrent = 4 }
  update { max_parallel = 1 min_healthy_time = "10s" }
  group "cache" {
    count = 1
    constraint { attribute = "${meta.rack}" value = "r1" }
    meta { tier = "cache" }
    restart { attempts = 2 interval = "30m" delay = "15s" mode = "fail" }
    reschedule { attempts = 1 interval = "24h" delay = "5s" delay_function = "constant" max_delay = "1h" unlimited = false }
    ephemeral_disk { size = 300 }
    task "redis" {
      driver = "raw_exec"
      user = "nobody"
      config { command = "/bin/sh" args = ["-c", "echo ${NOMAD_ALLOC_ID}"] image = "redis:3.2" port_map { db = 6379 } }
      env { KEY = "value" }
      resources { cpu = 500 memory = 256 disk = 10 }
      meta { role = "primary" }
      kill_timeout = "20s"
      kill_signal = "SIGINT"
      leader = true
      constraint { attribute = "${node.unique.id}" operator = "!=" value = "abc" }
      dispatch_payload { file = "config.json" }
      logs { max_files = 5 max_file_size = 15 }
    }
  }
}
"#;

fn constraint(l_target: &str, operand: &str, r_target: &str) -> Constraint {
    Constraint { l_target: l_target.to_string(), operand: operand.to_string(), r_target: r_target.to_string() }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect()
}

fn full_expected() -> Job {
    let task = Task {
        name: "redis".to_string(),
        driver: "raw_exec".to_string(),
        user: "nobody".to_string(),
        config: [
            ("command".to_string(), json!("/bin/sh")),
            ("args".to_string(), json!(["-c", "echo ${NOMAD_ALLOC_ID}"])),
            ("image".to_string(), json!("redis:3.2")),
            ("port_map".to_string(), json!({"db": 6379})),
        ]
        .into_iter()
        .collect(),
        env: map(&[("KEY", "value")]),
        resources: Resources { cpu: 500, memory_mb: 256, disk_mb: 10 },
        meta: map(&[("role", "primary")]),
        kill_timeout: 20 * NANOS_PER_SEC,
        kill_signal: "SIGINT".to_string(),
        constraints: vec![constraint("${node.unique.id}", "!=", "abc")],
        dispatch_payload: Some(DispatchPayloadConfig { file: "config.json".to_string() }),
        log_config: Some(LogConfig { max_files: 5, max_file_size_mb: 15 }),
        leader: true,
    };
    let group = TaskGroup {
        name: "cache".to_string(),
        count: 1,
        constraints: vec![constraint("${meta.rack}", "=", "r1")],
        tasks: vec![task],
        restart_policy: Some(RestartPolicy {
            attempts: 2,
            interval: 30 * 60 * NANOS_PER_SEC,
            delay: 15 * NANOS_PER_SEC,
            mode: "fail".to_string(),
        }),
        reschedule_policy: Some(ReschedulePolicy {
            attempts: 1,
            interval: 24 * 3600 * NANOS_PER_SEC,
            delay: 5 * NANOS_PER_SEC,
            delay_function: "constant".to_string(),
            max_delay: 3600 * NANOS_PER_SEC,
            unlimited: false,
        }),
        ephemeral_disk: Some(EphemeralDisk { size_mb: 300, migrate: false, sticky: false }),
        meta: map(&[("tier", "cache")]),
    };
    Job {
        id: "example".to_string(),
        name: "example".to_string(),
        namespace: "default".to_string(),
        region: "global".to_string(),
        job_type: JobType::Batch,
        priority: 70,
        all_at_once: false,
        datacenters: strings(&["dc1"]),
        node_pool: "default".to_string(),
        constraints: vec![constraint("${attr.kernel.name}", "=", "linux"), constraint("", "distinct_hosts", "true")],
        task_groups: vec![group].into(),
        periodic: Some(PeriodicConfig {
            enabled: true,
            spec: "0 * * * *".to_string(),
            specs: strings(&["*/5 * * * *"]),
            spec_type: "cron".to_string(),
            prohibit_overlap: true,
            time_zone: "America/New_York".to_string(),
        }),
        parameterized_job: Some(ParameterizedJobConfig {
            payload: "optional".to_string(),
            meta_required: strings(&["a"]),
            meta_optional: strings(&["b"]),
            max_concurrent: 4,
        }),
        meta: map(&[("owner", "team")]),
        update: Some(json!({"MaxParallel": 1, "MinHealthyTime": 10 * NANOS_PER_SEC})),
        ..Job::default()
    }
}

#[test]
fn full_jobspec_maps_every_field() {
    let job = drover_jobspec::parse_hcl(FULL, "example.drover.hcl").expect("full jobspec parses");
    assert_eq!(job, full_expected());
}

/// The same jobspec with one statement per line, as `nomad fmt` writes it.
const FULL_HCL2: &str = r#"job "example" {
  datacenters = ["dc1"]
  type        = "batch"
  priority    = 70
  namespace   = "default"
  region      = "global"
  node_pool   = "default"
  all_at_once = false
  meta = {
    owner = "team"
  }
  constraint {
    attribute = "${attr.kernel.name}"
    operator  = "="
    value     = "linux"
  }
  constraint {
    operator = "distinct_hosts"
    value    = "true"
  }
  periodic {
    crons            = ["*/5 * * * *"]
    cron             = "0 * * * *"
    prohibit_overlap = true
    time_zone        = "America/New_York"
    enabled          = true
  }
  parameterized {
    payload        = "optional"
    meta_required  = ["a"]
    meta_optional  = ["b"]
    max_concurrent = 4
  }
  update {
    max_parallel     = 1
    min_healthy_time = "10s"
  }
  group "cache" {
    count = 1
    constraint {
      attribute = "${meta.rack}"
      value     = "r1"
    }
    meta {
      tier = "cache"
    }
    restart {
      attempts = 2
      interval = "30m"
      delay    = "15s"
      mode     = "fail"
    }
    reschedule {
      attempts       = 1
      interval       = "24h"
      delay          = "5s"
      delay_function = "constant"
      max_delay      = "1h"
      unlimited      = false
    }
    ephemeral_disk {
      size = 300
    }
    task "redis" {
      driver = "raw_exec"
      user   = "nobody"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo ${NOMAD_ALLOC_ID}"]
        image   = "redis:3.2"
        port_map {
          db = 6379
        }
      }
      env {
        KEY = "value"
      }
      resources {
        cpu    = 500
        memory = 256
        disk   = 10
      }
      meta {
        role = "primary"
      }
      kill_timeout = "20s"
      kill_signal  = "SIGINT"
      leader       = true
      constraint {
        attribute = "${node.unique.id}"
        operator  = "!="
        value     = "abc"
      }
      dispatch_payload {
        file = "config.json"
      }
      logs {
        max_files     = 5
        max_file_size = 15
      }
    }
  }
}
"#;

#[test]
fn full_jobspec_in_hcl2_layout_is_the_same_job() {
    assert!(hcl::edit::parser::parse_body(FULL_HCL2).is_ok(), "FULL_HCL2 is HCL2 as written");
    let job = drover_jobspec::parse_hcl(FULL_HCL2, "example.drover.hcl").unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(job, full_expected());
}

/// Parses `source` and checks that the job, as Nomad API JSON, contains `expected`
/// (objects: the listed keys; arrays: same length, each item contained).
fn check(source: &str, expected: serde_json::Value) {
    let job = drover_jobspec::parse(source, "test.drover.hcl").unwrap_or_else(|err| panic!("{err}"));
    let actual = serde_json::to_value(&job).unwrap_or_else(|err| panic!("{err}"));
    if let Err(at) = contains(&actual, &expected, "") {
        panic!("mismatch at {at}\nactual: {actual:#}\nexpected: {expected:#}");
    }
}

fn contains(actual: &serde_json::Value, expected: &serde_json::Value, at: &str) -> Result<(), String> {
    match (actual, expected) {
        (serde_json::Value::Object(actual), serde_json::Value::Object(expected)) => {
            for (key, value) in expected {
                let actual = actual.get(key).ok_or_else(|| format!("{at}.{key} (missing)"))?;
                contains(actual, value, &format!("{at}.{key}"))?;
            }
            Ok(())
        }
        (serde_json::Value::Array(actual), serde_json::Value::Array(expected)) => {
            if actual.len() != expected.len() {
                return Err(format!("{at} (length {} != {})", actual.len(), expected.len()));
            }
            for (item_idx, (actual, expected)) in actual.iter().zip(expected).enumerate() {
                contains(actual, expected, &format!("{at}[{item_idx}]"))?;
            }
            Ok(())
        }
        _ if actual == expected => Ok(()),
        _ => Err(format!("{at} ({actual} != {expected})")),
    }
}

/// A minimal job around one task body.
fn task_job(task_body: &str) -> String {
    format!(
        "job \"x\" {{\n  type = \"batch\"\n  group \"g\" {{\n    task \"t\" {{\n      driver = \"raw_exec\"\n{task_body}\n    }}\n  }}\n}}\n"
    )
}

#[test]
fn interpolation_is_kept_as_literal_text() {
    check(
        r#"job "x" {
  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo ${NOMAD_META_foo} and $HOME", "${ meta.foo }-${node.unique.id}", "$${escaped} 100%"]
      }
      env {
        ALLOC = "${NOMAD_ALLOC_ID}"
      }
      meta = { "from-env" = "${env.HOME}" }
    }
  }
}
"#,
        json!({
            "Constraints": [{"LTarget": "${attr.kernel.name}", "RTarget": "linux", "Operand": "="}],
            "TaskGroups": [{"Tasks": [{
                "Config": {"args": ["-c", "echo ${NOMAD_META_foo} and $HOME", "${ meta.foo }-${node.unique.id}", "${escaped} 100%"]},
                "Env": {"ALLOC": "${NOMAD_ALLOC_ID}"},
                "Meta": {"from-env": "${env.HOME}"},
            }]}],
        }),
    );
    check(
        &task_job(
            "      config {\n        script = <<-EOT\n          echo ${NOMAD_TASK_NAME}\n          exit 0\n        EOT\n      }",
        ),
        json!({"TaskGroups": [{"Tasks": [{"Config": {"script": "echo ${NOMAD_TASK_NAME}\nexit 0\n"}}]}]}),
    );
}

#[test]
fn durations_are_nanoseconds() {
    let restart = |body: &str| {
        format!(
            "job \"x\" {{\n  group \"g\" {{\n    restart {{\n{body}\n    }}\n    task \"t\" {{\n      driver = \"raw_exec\"\n    }}\n  }}\n}}\n"
        )
    };
    check(
        &restart("      delay = \"1m30s\""),
        json!({"TaskGroups": [{"RestartPolicy": {"Delay": 90 * NANOS_PER_SEC}}]}),
    );
    check(&restart("      delay = \"500ms\""), json!({"TaskGroups": [{"RestartPolicy": {"Delay": 500_000_000}}]}));
    check(&restart("      delay = 2000"), json!({"TaskGroups": [{"RestartPolicy": {"Delay": 2000}}]}));
    check(
        &restart("      interval = \"24h\""),
        json!({"TaskGroups": [{"RestartPolicy": {"Interval": 86400 * NANOS_PER_SEC}}]}),
    );
    check(
        &task_job("      kill_timeout = \"45s\""),
        json!({"TaskGroups": [{"Tasks": [{"KillTimeout": 45 * NANOS_PER_SEC}]}]}),
    );
}

#[test]
fn defaults_are_filled_by_canonicalize() {
    check(
        "job \"x\" {\n  group \"g\" {\n    task \"t\" {\n      driver = \"raw_exec\"\n    }\n  }\n}\n",
        json!({
            "ID": "x", "Name": "x", "Namespace": "default", "Region": "global", "Type": "service",
            "Priority": 50, "Datacenters": ["*"], "NodePool": "default",
            "TaskGroups": [{
                "Count": 1,
                "EphemeralDisk": {"SizeMB": 300},
                "RestartPolicy": {"Attempts": 2, "Interval": 1800 * NANOS_PER_SEC, "Delay": 15 * NANOS_PER_SEC, "Mode": "fail"},
                "ReschedulePolicy": {"Unlimited": true, "DelayFunction": "exponential", "Delay": 30 * NANOS_PER_SEC, "MaxDelay": 3600 * NANOS_PER_SEC},
                "Tasks": [{"KillTimeout": 5 * NANOS_PER_SEC, "Resources": {"CPU": 100, "MemoryMB": 300, "DiskMB": 0}, "LogConfig": {"MaxFiles": 10, "MaxFileSizeMB": 10}}],
            }],
        }),
    );
    // A partial policy keeps the job type's defaults for what it does not say,
    // even when `type` comes after the group; a job-level reschedule applies to groups.
    check(
        "job \"x\" {\n  reschedule {\n    delay = \"10s\"\n  }\n  group \"g\" {\n    restart {\n      attempts = 7\n    }\n    reschedule {\n      attempts = 4\n    }\n    task \"t\" {\n      driver = \"raw_exec\"\n    }\n  }\n  type = \"batch\"\n}\n",
        json!({"TaskGroups": [{
            "RestartPolicy": {"Attempts": 7, "Interval": 86400 * NANOS_PER_SEC, "Delay": 15 * NANOS_PER_SEC, "Mode": "fail"},
            "ReschedulePolicy": {"Attempts": 4, "Interval": 86400 * NANOS_PER_SEC, "Delay": 10 * NANOS_PER_SEC, "DelayFunction": "constant", "Unlimited": false},
        }]}),
    );
    check(
        &task_job("      resources {\n        memory = 128\n      }\n      logs {\n        max_files = 3\n      }"),
        json!({"TaskGroups": [{"Tasks": [{"Resources": {"CPU": 100, "MemoryMB": 128}, "LogConfig": {"MaxFiles": 3, "MaxFileSizeMB": 10}}]}]}),
    );
}

#[test]
fn constraint_shorthands_name_the_operator() {
    let job = |body: &str| {
        format!(
            "job \"x\" {{\n  constraint {{\n{body}\n  }}\n  group \"g\" {{\n    task \"t\" {{\n      driver = \"raw_exec\"\n    }}\n  }}\n}}\n"
        )
    };
    let expect = |l: &str, op: &str, r: &str| json!({"Constraints": [{"LTarget": l, "Operand": op, "RTarget": r}]});
    check(&job("    distinct_hosts = true"), expect("", "distinct_hosts", "true"));
    check(
        &job("    attribute = \"${attr.nomad.version}\"\n    version = \">= 1.2\""),
        expect("${attr.nomad.version}", "version", ">= 1.2"),
    );
    check(
        &job("    attribute = \"${attr.os.name}\"\n    regexp = \"^ubu\""),
        expect("${attr.os.name}", "regexp", "^ubu"),
    );
    check(
        &job("    attribute = \"${meta.tags}\"\n    set_contains = \"a,b\""),
        expect("${meta.tags}", "set_contains", "a,b"),
    );
    check(
        &job("    distinct_property = \"${meta.rack}\"\n    value = \"2\""),
        expect("${meta.rack}", "distinct_property", "2"),
    );
    check(
        &job("    attribute = \"${attr.cpu.numcores}\"\n    operator = \">=\"\n    value = 4"),
        expect("${attr.cpu.numcores}", ">=", "4"),
    );
    check(
        &job("    attribute = \"${attr.kernel.name}\"\n    operator = \"==\"\n    value = \"linux\""),
        expect("${attr.kernel.name}", "=", "linux"),
    );
    check(&job("    distinct_hosts = false"), json!({"Constraints": []}));
}

#[test]
fn driver_config_is_free_form_json() {
    check(
        &task_job(
            r#"      config {
        image   = "redis:3.2"
        ports   = ["db", 6379, 1.5, -2, true, null]
        labels  = { team = "cache", "app.kind" = "kv" }
        port_map {
          db = 6379
        }
        mount {
          type   = "bind"
          target = "/a"
        }
        mount {
          type   = "tmpfs"
          target = "/b"
        }
        logging "syslog" {
          tag = "x"
        }
      }"#,
        ),
        json!({"TaskGroups": [{"Tasks": [{"Config": {
            "image": "redis:3.2",
            "ports": ["db", 6379, 1.5, -2, true, null],
            "labels": {"team": "cache", "app.kind": "kv"},
            "port_map": {"db": 6379},
            "mount": [{"type": "bind", "target": "/a"}, {"type": "tmpfs", "target": "/b"}],
            "logging": {"syslog": {"tag": "x"}},
        }}]}]}),
    );
    check(
        &task_job("      config = {\n        command = \"/bin/true\"\n      }"),
        json!({"TaskGroups": [{"Tasks": [{"Config": {"command": "/bin/true"}}]}]}),
    );
}

/// Parses `source` and checks the error's Display.
fn check_error(source: &str, expected: &str) {
    match drover_jobspec::parse(source, "test.drover.hcl") {
        Ok(job) => panic!("expected an error, got {job:?}"),
        Err(err) => assert_eq!(err.to_string(), expected, "\nsource:\n{source}"),
    }
}

#[test]
fn nomad_blocks_drover_does_not_run_are_refused_by_name() {
    check_error(
        &task_job("      template {\n        data        = \"x\"\n        destination = \"local/x\"\n      }"),
        "test.drover.hcl:6:7: group \"g\" -> task \"t\": the \"template\" block is not supported yet",
    );
    check_error(
        &task_job("      vault {\n        policies = [\"x\"]\n      }"),
        "test.drover.hcl:6:7: group \"g\" -> task \"t\": the \"vault\" block is not supported yet",
    );
    check_error(
        &task_job("      restart {\n        attempts = 1\n      }"),
        "test.drover.hcl:6:7: group \"g\" -> task \"t\": the \"restart\" block is not supported yet; in a task, write restart in the group (it applies to every task)",
    );
    check_error(
        &task_job("      resources {\n        memory_max = 512\n      }"),
        "test.drover.hcl:7:9: group \"g\" -> task \"t\" -> resources: the \"memory_max\" attribute is not supported yet",
    );
    check_error(
        "job \"x\" {\n  group \"g\" {\n    network {\n      port \"db\" {}\n    }\n  }\n}\n",
        "test.drover.hcl:3:5: group \"g\": the \"network\" block is not supported yet",
    );
    check_error(
        "job \"x\" {\n  group \"g\" {\n    shutdown_delay = \"5s\"\n  }\n}\n",
        "test.drover.hcl:3:5: group \"g\": the \"shutdown_delay\" attribute is not supported yet",
    );
}

#[test]
fn soft_preferences_and_unset_or_inert_nomad_fields_are_accepted() {
    let source = r#"job "x" {
  vault_token = "ignored"
  affinity {
    attribute = "${meta.x}"
    value     = "y"
  }
  group "g" {
    prevent_reschedule_on_lost = false
    spread {
      attribute = "${node.datacenter}"
    }
    task "t" {
      driver = "raw_exec"
      resources {
        cpu  = 200
        iops = 10
      }
      logs {
        disabled = false
      }
    }
  }
}
"#;
    let parsed = drover_jobspec::parse_with_warnings(source, "test.drover.hcl").unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(parsed.job.task_groups[0].tasks[0].resources.cpu, 200);
    assert_eq!(
        parsed.warnings,
        [
            "test.drover.hcl:3:3: job \"x\": the \"affinity\" block is not supported yet and is ignored; it is a placement preference, and the job is placed without it",
            "test.drover.hcl:9:5: group \"g\": the \"spread\" block is not supported yet and is ignored; it is a placement preference, and the job is placed without it",
        ]
    );
}

#[test]
fn job_types_and_numbers_convert_like_hcl() {
    check(
        "job \"x\" {\n  type = \"sysbatch\"\n  priority = \"80\"\n  all_at_once = \"true\"\n  meta {\n    version = 2\n    enabled = true\n  }\n  group \"g\" {\n    count = 1.0\n    task \"t\" {\n      driver = \"raw_exec\"\n    }\n  }\n}\n",
        json!({"Type": "sysbatch", "Priority": 80, "AllAtOnce": true, "Meta": {"version": "2", "enabled": "true"}, "TaskGroups": [{"Count": 1}]}),
    );
}
