//! What the CLI says about job content Drover does not run, with the real
//! binary and no agent (nothing here reaches a server): `-var`/`-var-file`
//! are errors, `job validate` shows the warnings for ignored soft
//! preferences and refuses blocks Drover does not run yet.

mod common;

use common::run_cli;

/// No agent listens here: a command that got as far as the server would fail differently.
const NOWHERE: &str = "http://127.0.0.1:9";

const JOB: &str = r#"job "x" {
  type = "batch"
  group "g" {
BLOCK
    task "t" {
      driver = "raw_exec"
    }
  }
}
"#;

#[test]
fn variables_are_refused_not_ignored() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("x.hcl"), JOB.replace("BLOCK", "")).expect("write jobspec");
    let message = "-var is not supported yet: HCL2 input variables are not implemented";
    run_cli(dir.path(), NOWHERE, &["job", "run", "-var", "x=1", "x.hcl"], None).expect_code(1).expect_stderr(message);
    run_cli(dir.path(), NOWHERE, &["job", "validate", "-var=x=1", "x.hcl"], None).expect_code(1).expect_stderr(message);
    run_cli(dir.path(), NOWHERE, &["job", "plan", "-var", "x=1", "x.hcl"], None)
        .expect_code(255)
        .expect_stderr(message);
    run_cli(dir.path(), NOWHERE, &["job", "run", "-var-file", "vars.hcl", "x.hcl"], None)
        .expect_code(1)
        .expect_stderr("-var-file is not supported yet: HCL2 input variables are not implemented");
}

#[test]
fn validate_warns_about_ignored_preferences_and_refuses_blocks_drover_does_not_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let spread = JOB.replace("BLOCK", "    spread {\n      attribute = \"${node.datacenter}\"\n    }");
    std::fs::write(dir.path().join("spread.hcl"), spread).expect("write jobspec");
    run_cli(dir.path(), NOWHERE, &["job", "validate", "spread.hcl"], None)
        .expect_code(0)
        .expect_stdout(
            "Job Warnings:\nspread.hcl:4:5: group \"g\": the \"spread\" block is not supported yet and is ignored",
        )
        .expect_stdout("Job validation successful");
    let service = JOB.replace("BLOCK", "    service {\n      name = \"web\"\n    }");
    std::fs::write(dir.path().join("service.hcl"), service).expect("write jobspec");
    run_cli(dir.path(), NOWHERE, &["job", "validate", "service.hcl"], None)
        .expect_code(1)
        .expect_stderr("service.hcl:4:5: group \"g\": the \"service\" block is not supported yet");
}
