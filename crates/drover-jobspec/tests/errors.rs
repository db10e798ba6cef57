//! Every error kind, with its exact message: file, line and column first.

/// Parses `source` as `example.drover.hcl` and checks the error's Display.
fn check(source: &str, expected: &str) {
    match drover_jobspec::parse(source, "example.drover.hcl") {
        Ok(job) => panic!("expected an error, got {job:?}"),
        Err(err) => assert_eq!(err.to_string(), expected, "\nsource:\n{source}"),
    }
}

/// A valid job with `extra` added to the group body.
fn group_job(extra: &str) -> String {
    format!(
        "job \"example\" {{\n  group \"cache\" {{\n{extra}\n    task \"t\" {{\n      driver = \"raw_exec\"\n    }}\n  }}\n}}\n"
    )
}

#[test]
fn syntax_errors_have_file_line_column() {
    check(
        "job \"x\" {\n  count = \n}\n",
        "example.drover.hcl:2:11: invalid expression; expected `\"`, `[`, `{`, `-`, `!`, `(`, `_`, `<`, letter or digit",
    );
    check(
        "job \"x\" {\n  group \"g\" {\n    count = 1\n  }\n",
        "example.drover.hcl:4:5: invalid block body; expected `}`, newline or identifier",
    );
    check(
        "job \"x\" {\n  a = 1\n  a = 2\n}\n",
        "example.drover.hcl:3:3: invalid attribute; expected unique attribute key; found redefined attribute",
    );
    check("job \"x\" {\n  datacenters = [\"dc1\"\n}\n", "example.drover.hcl:3:1: expected `]`");
}

#[test]
fn job_block_must_be_there_once_with_a_name() {
    check("", "example.drover.hcl: no job block found (expected job \"name\" { ... })");
    check("# only a comment\n", "example.drover.hcl: no job block found (expected job \"name\" { ... })");
    check(
        "job \"a\" {\n}\njob \"b\" {\n}\n",
        "example.drover.hcl:3:1: only one job block is allowed per file; the first is at line 1",
    );
    check("job {\n}\n", "example.drover.hcl:1:1: job block needs a name label: job \"name\" { ... }");
    check("job \"a\" \"b\" {\n}\n", "example.drover.hcl:1:1: job block takes one label, got a second one \"b\"");
    check(
        "job \"x\" {\n  group {\n  }\n}\n",
        "example.drover.hcl:2:3: job \"x\": group block needs a name label: group \"name\" { ... }",
    );
    check(
        "job \"x\" {\n  group \"g\" {\n    task {\n    }\n  }\n}\n",
        "example.drover.hcl:3:5: group \"g\": task block needs a name label: task \"name\" { ... }",
    );
    check(
        "variable \"x\" {\n}\njob \"x\" {\n}\n",
        "example.drover.hcl:1:1: unexpected block \"variable\" outside the job block (only job \"name\" { ... } is allowed at the top level)",
    );
    check(
        "region = \"global\"\njob \"x\" {\n}\n",
        "example.drover.hcl:1:1: unexpected attribute \"region\" outside the job block",
    );
}

#[test]
fn unknown_names_list_the_valid_ones() {
    check(
        "job \"example\" {\n  colour = \"red\"\n}\n",
        "example.drover.hcl:2:3: job \"example\": unknown attribute \"colour\" (expected one of all_at_once, datacenters, meta, name, namespace, node_pool, priority, region, type)",
    );
    check(
        &group_job("    size = 3"),
        "example.drover.hcl:3:5: group \"cache\": unknown attribute \"size\" (expected one of count, meta)",
    );
    check(
        &group_job("    frobnicate {\n    }"),
        "example.drover.hcl:3:5: group \"cache\": unknown block \"frobnicate\" (expected one of constraint, ephemeral_disk, meta, reschedule, restart, task)",
    );
    check(
        &group_job("    restart {\n      tries = 3\n    }"),
        "example.drover.hcl:4:7: group \"cache\" -> restart: unknown attribute \"tries\" (expected one of attempts, delay, interval, mode)",
    );
    check(
        &group_job("    reschedule {\n      attempts = 1\n      when = \"now\"\n    }"),
        "example.drover.hcl:5:7: group \"cache\" -> reschedule: unknown attribute \"when\" (expected one of attempts, delay, delay_function, interval, max_delay, unlimited)",
    );
    check(
        &group_job("    constraint {\n      attribute = \"${attr.x}\"\n      op = \"=\"\n    }"),
        "example.drover.hcl:5:7: group \"cache\" -> constraint: unknown attribute \"op\" (expected one of attribute, distinct_hosts, distinct_property, operator, regexp, semver, set_contains, set_contains_all, set_contains_any, value, version)",
    );
    check(
        "job \"x\" {\n  periodic {\n    schedule = \"* * * * *\"\n  }\n}\n",
        "example.drover.hcl:3:5: job \"x\" -> periodic: unknown attribute \"schedule\" (expected one of cron, crons, enabled, prohibit_overlap, time_zone)",
    );
    check(
        "job \"x\" {\n  type = \"batch\"\n  parameterized {\n    payloads = \"optional\"\n  }\n}\n",
        "example.drover.hcl:4:5: job \"x\" -> parameterized: unknown attribute \"payloads\" (expected one of max_concurrent, meta_optional, meta_required, payload)",
    );
    check(
        "job \"x\" {\n  group \"g\" {\n    task \"t\" {\n      driver = \"raw_exec\"\n      cpu = 100\n    }\n  }\n}\n",
        "example.drover.hcl:5:7: group \"g\" -> task \"t\": unknown attribute \"cpu\" (expected one of config, driver, env, kill_signal, kill_timeout, leader, meta, user)",
    );
    check(
        "job \"x\" {\n  group \"g\" {\n    task \"t\" {\n      driver = \"raw_exec\"\n      resources {\n        gpu = 1\n      }\n    }\n  }\n}\n",
        "example.drover.hcl:6:9: group \"g\" -> task \"t\" -> resources: unknown attribute \"gpu\" (expected one of cpu, disk, memory)",
    );
}

#[test]
fn attributes_and_blocks_are_not_interchangeable() {
    check(
        &group_job("    count {\n    }"),
        "example.drover.hcl:3:5: group \"cache\": count is an attribute; write count = ...",
    );
    check(
        &group_job("    restart = 1"),
        "example.drover.hcl:3:5: group \"cache\": restart is a block; write restart { ... }",
    );
    check(
        &group_job("    restart {\n    }\n    restart {\n    }"),
        "example.drover.hcl:5:5: group \"cache\": restart: defined more than once",
    );
    check(
        &group_job("    restart \"r\" {\n    }"),
        "example.drover.hcl:3:5: group \"cache\": restart block takes no label, got \"r\"",
    );
    check(
        &group_job("    meta {\n      nested {\n      }\n    }"),
        "example.drover.hcl:4:7: group \"cache\" -> meta: unexpected block \"nested\"; meta holds only key = \"value\" pairs",
    );
}

#[test]
fn wrong_types_name_the_attribute_and_place() {
    check(
        "job \"x\" {\n  group \"g\" {\n    task \"t\" {\n      driver = \"raw_exec\"\n      config {\n        mount = []\n        mount {\n        }\n      }\n    }\n  }\n}\n",
        "example.drover.hcl:5:7: group \"g\" -> task \"t\" -> config: mount: defined both as an attribute and as a block",
    );
    check(
        "job \"example\" {\n  type = \"batch\"\n\n  group \"cache\" {\n    count = \"three\"\n  }\n}\n",
        "example.drover.hcl:5:5: group \"cache\": count: expected a number, got a string",
    );
    check(
        &group_job("    count = -1"),
        "example.drover.hcl:3:5: group \"cache\": count: must be between 0 and 4294967295, got -1",
    );
    check(
        &group_job("    count = 1.5"),
        "example.drover.hcl:3:5: group \"cache\": count: expected a whole number, got 1.5",
    );
    check(
        "job \"x\" {\n  datacenters = \"dc1\"\n}\n",
        "example.drover.hcl:2:3: job \"x\": datacenters: expected a list of strings, got a string",
    );
    check(
        "job \"x\" {\n  datacenters = [\"dc1\", [\"dc2\"]]\n}\n",
        "example.drover.hcl:2:3: job \"x\": datacenters: item 2: expected a string, got a list",
    );
    check(
        "job \"x\" {\n  type = \"daemon\"\n}\n",
        "example.drover.hcl:2:3: job \"x\": type: unknown job type \"daemon\" (expected one of service, batch, system, sysbatch)",
    );
    check(
        "job \"x\" {\n  all_at_once = \"yes\"\n}\n",
        "example.drover.hcl:2:3: job \"x\": all_at_once: expected a bool, got a string",
    );
    check(
        "job \"x\" {\n  priority = 1e100\n}\n",
        "example.drover.hcl:2:3: job \"x\": priority: expected a whole number, got 1e100",
    );
    check(
        &group_job("    restart {\n      delay = \"5x\"\n    }"),
        "example.drover.hcl:4:7: group \"cache\" -> restart: delay: unknown unit \"x\" in duration \"5x\"",
    );
    check(
        &group_job("    restart {\n      delay = true\n    }"),
        "example.drover.hcl:4:7: group \"cache\" -> restart: delay: expected a duration such as \"30s\", got a bool",
    );
    check(
        "job \"x\" {\n  group \"g\" {\n    task \"t\" {\n      driver = var.driver\n    }\n  }\n}\n",
        "example.drover.hcl:4:7: group \"g\" -> task \"t\": driver: expected a string, got the expression `var.driver` (variables and functions are not evaluated; write \"${...}\" inside a string for runtime interpolation)",
    );
    check(
        "job \"x\" {\n  group \"g\" {\n    task \"t\" {\n      driver = \"raw_exec\"\n      config {\n        args = [upper(\"x\")]\n      }\n    }\n  }\n}\n",
        "example.drover.hcl:5:7: group \"g\" -> task \"t\" -> config: args: expected a literal value, got the expression `upper(\"x\")` (variables and functions are not evaluated; write \"${...}\" inside a string for runtime interpolation)",
    );
    check(
        "job \"x\" {\n  meta = [\"a\"]\n}\n",
        "example.drover.hcl:2:3: job \"x\": meta: expected an object of strings, got a list",
    );
}

#[test]
fn one_line_blocks_report_positions_in_the_original_text() {
    check(
        "job \"x\" { group \"g\" { count = \"three\" } }\n",
        "example.drover.hcl:1:23: group \"g\": count: expected a number, got a string",
    );
    check(
        "job \"x\" { group \"g\" { count = } }\n",
        "example.drover.hcl:1:31: invalid expression; expected `\"`, `[`, `{`, `-`, `!`, `(`, `_`, `<`, letter or digit",
    );
}

#[test]
fn validation_errors_point_at_the_block_at_fault() {
    check(
        "job \"example\" {\n  type = \"system\"\n  group \"cache\" {\n    count = 3\n    task \"t\" {\n      driver = \"raw_exec\"\n    }\n  }\n}\n",
        "example.drover.hcl:3:3: group \"cache\": system jobs run one instance per node; count must be 0 or 1",
    );
    check(
        "job \"example\" {\n  type = \"service\"\n  parameterized {\n    payload = \"optional\"\n  }\n  group \"cache\" {\n    task \"t\" {\n      driver = \"raw_exec\"\n    }\n  }\n}\n",
        "example.drover.hcl:3:3: job -> parameterized: parameterized job can only be used with \"batch\" or \"sysbatch\" scheduler",
    );
    check(
        "job \"has space\" {\n  priority = 101\n  group \"cache\" {\n    task \"t\" {\n    }\n  }\n  group \"cache\" {\n    task \"u\" {\n      driver = \"raw_exec\"\n    }\n  }\n}\n",
        "example.drover.hcl:1:1: job: job ID \"has space\" contains a space\nexample.drover.hcl:2:3: job -> priority: priority must be between 1 and 100, got 101\nexample.drover.hcl:4:5: group \"cache\" -> task \"t\": missing task driver\nexample.drover.hcl:7:3: group \"cache\": duplicate task group name \"cache\"",
    );
    check(
        &group_job(
            "    constraint {\n      attribute = \"${attr.x}\"\n      operator = \"~\"\n      value = \"y\"\n    }\n    restart {\n      mode = \"sometimes\"\n    }",
        ),
        "example.drover.hcl:9:7: group \"cache\" -> restart -> mode: unknown mode \"sometimes\" (expected fail or delay)\nexample.drover.hcl:3:5: group \"cache\" -> constraint: unknown operator \"~\" (expected one of =, !=, >, >=, <, <=, regexp, version, semver, set_contains, set_contains_any, is_set, is_not_set, distinct_hosts)",
    );
    check("job \"x\" {\n}\n", "example.drover.hcl:1:1: job: missing job task groups");
    check(
        "job \"x\" {\n  type = \"batch\"\n  periodic {\n    prohibit_overlap = true\n  }\n  group \"g\" {\n    task \"t\" {\n      driver = \"raw_exec\"\n      dispatch_payload {\n        file = \"../escape\"\n      }\n    }\n  }\n}\n",
        "example.drover.hcl:3:3: job -> periodic: a cron expression is required (cron or crons)\nexample.drover.hcl:10:9: group \"g\" -> task \"t\" -> dispatch_payload -> file: destination \"../escape\" escapes the task's local directory",
    );
}

#[test]
fn metronome_json_errors_name_the_json_path() {
    check(
        "{\"id\": \"nightly\", \"run\": {\"cmd\": \"true\", \"mem\": 16, \"cpu\": 1}}",
        "example.drover.hcl: /run/cpu: unknown field \"cpu\"; expected one of: cmd, args, cpus, mem, disk, gpus, env, user, docker, artifacts, restart, taskKillGracePeriodSeconds, maxLaunchDelay, placement\nexample.drover.hcl: /run/mem: must be at least 32, got 16",
    );
    let job =
        drover_jobspec::parse("{\"id\": \"nightly\", \"run\": {\"cmd\": \"true\"}}", "myjob.json").expect("valid");
    assert!(job.run_on_demand && job.is_template());
}
