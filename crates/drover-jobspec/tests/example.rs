//! The `drover job init` example: it parses, validates and says what the brief promises.

use drover_types::JobType;

#[test]
fn example_job_parses_and_validates() {
    let job =
        drover_jobspec::parse(drover_jobspec::EXAMPLE_JOB, "example.drover.hcl").unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(job.id, "example");
    assert_eq!(job.job_type, JobType::Service);
    assert_eq!(job.datacenters, vec!["*"]);
    let group = &job.task_groups[0];
    assert_eq!((group.name.as_str(), group.count, job.task_groups.len()), ("cache", 1, 1));
    let task = &group.tasks[0];
    assert_eq!((task.name.as_str(), task.driver.as_str()), ("server", "raw_exec"));
    assert_eq!((task.resources.cpu, task.resources.memory_mb), (100, 64));
    assert_eq!(task.config["command"], "/bin/sh");
    let script = task.config["args"][1].as_str().unwrap_or_default();
    assert_eq!(task.config["args"][0], "-c");
    assert_eq!(
        script,
        "trap 'echo \"example: received stop signal, exiting\"; kill $sleeper 2>/dev/null; exit 0' TERM INT\n\
         echo \"example: server started\"\n\
         n=0\n\
         while true; do\n  \
           n=$((n + 1))\n  \
           echo \"example: still running ($n)\"\n  \
           sleep 5 &\n  \
           sleeper=$!\n  \
           wait $sleeper\n\
         done\n"
    );
}

#[test]
fn example_job_explains_itself_like_nomads() {
    let text = drover_jobspec::EXAMPLE_JOB;
    for needle in [
        "# The \"count\" parameter specifies the number of the task groups that should\n    # be running under this group. This value must be non-negative and defaults\n    # to 1.",
        "# count = 3",
        "# The \"job\" block",
        "# The \"group\" block",
        "# The \"task\" block",
        "# The \"driver\" parameter",
        "# The \"config\" block",
        "# The \"resources\" block",
    ] {
        assert!(text.contains(needle), "missing {needle:?}");
    }
}

/// Runs the example's script with `/bin/sh`: it prints, then exits 0 on SIGTERM.
#[test]
fn example_script_prints_and_exits_cleanly_on_sigterm() {
    let job =
        drover_jobspec::parse(drover_jobspec::EXAMPLE_JOB, "example.drover.hcl").unwrap_or_else(|err| panic!("{err}"));
    let script = job.task_groups[0].tasks[0].config["args"][1].as_str().unwrap_or_default().to_string();
    if !std::path::Path::new("/bin/sh").exists() {
        eprintln!("SKIPPED LOUDLY: /bin/sh is missing on this machine");
        return;
    }
    let mut child = std::process::Command::new("/bin/sh")
        .args(["-c", &script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("spawn /bin/sh: {err}"));
    let mut stdout = child.stdout.take().unwrap_or_else(|| panic!("stdout is piped"));
    let mut seen = String::new();
    let mut buf = [0u8; 256];
    while !seen.contains("still running (1)") {
        let n_read = std::io::Read::read(&mut stdout, &mut buf).unwrap_or(0);
        assert!(n_read > 0, "script ended early: {seen:?}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n_read]));
    }
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap_or_else(|err| panic!("kill: {err}"));
    assert!(kill.success());
    let status = child.wait().unwrap_or_else(|err| panic!("wait: {err}"));
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut stdout, &mut rest);
    seen.push_str(&rest);
    assert!(status.success(), "exit status {status:?}, output {seen:?}");
    assert!(seen.starts_with("example: server started\n"), "{seen:?}");
    assert!(seen.contains("example: received stop signal, exiting"), "{seen:?}");
}
