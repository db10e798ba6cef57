//! Shared fixtures of the dispatch end-to-end tests: the `video-encode`
//! parameterized job of seed 001, the seed's stdin payload, child ID and
//! transcript checks, and a tiny HTTP client for writes.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use crate::common::{Agent, wait_for};

/// The payload of seed 001's stdin example, verbatim.
pub const SEED_PAYLOAD: &str = r#"{
  "s3-input": "https://video-bucket.s3-us-west-1.amazonaws.com/cb31dabb1",
  "s3-output": "https://video-bucket.s3-us-west-1.amazonaws.com/a149adbe3",
  "input-codec": "mp4",
  "output-codec": "webm",
  "quality": "1080p"
}
"#;

/// How long polling waits before a test fails.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Settings of the `video-encode` jobspec.
pub struct Spec<'a> {
    /// Job ID.
    pub id: &'a str,
    /// Extra lines inside `parameterized { }` (`payload = "required"`, `max_concurrent = 1`).
    pub parameterized: &'a str,
    /// Memory of the task in MB.
    pub memory_mb: u64,
}

impl Default for Spec<'_> {
    fn default() -> Self {
        Spec { id: "video-encode", parameterized: "", memory_mb: 32 }
    }
}

/// The parameterized batch job: a raw_exec shell that cats the payload file,
/// echoes `$NOMAD_META_quality`, writes a line to stderr, waits for the file
/// named by meta `gate` (if any) and exits with meta `exit_code`.
pub fn video_encode_hcl(spec: &Spec<'_>) -> String {
    let script = concat!(
        "cat ${NOMAD_TASK_DIR}/config.json 2>/dev/null; echo; ",
        "echo quality=$NOMAD_META_quality; echo encode-stderr >&2; ",
        "if [ -n \\\"$NOMAD_META_gate\\\" ]; then while [ ! -f \\\"$NOMAD_META_gate\\\" ]; do sleep 0.1; done; fi; ",
        "exit $NOMAD_META_exit_code"
    );
    format!(
        r#"job "{id}" {{
  datacenters = ["dc1"]
  type        = "batch"

  parameterized {{
    meta_optional = ["quality", "exit_code", "gate"]
    {parameterized}
  }}

  meta {{
    quality   = "720p"
    exit_code = "0"
  }}

  group "cache" {{
    restart {{
      attempts = 0
      mode     = "fail"
    }}
    reschedule {{
      attempts  = 0
      unlimited = false
    }}

    task "encode" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sh"
        args    = ["-c", "{script}"]
      }}
      dispatch_payload {{
        file = "config.json"
      }}
      resources {{
        cpu    = 50
        memory = {memory}
      }}
    }}
  }}
}}
"#,
        id = spec.id,
        parameterized = spec.parameterized,
        script = script,
        memory = spec.memory_mb,
    )
}

/// Writes the jobspec to `<dir>/<id>.hcl` and registers it with `drover job run`.
pub fn register(agent: &Agent, dir: &Path, spec: &Spec<'_>) {
    let path = dir.join(format!("{}.hcl", spec.id));
    std::fs::write(&path, video_encode_hcl(spec)).expect("write jobspec");
    let path = path.to_string_lossy().into_owned();
    agent.cli(dir, &["job", "run", &path]).expect_code(0).expect_stdout("Job registration successful");
}

/// Whether `id` is `<parent>/dispatch-[<template>-]<10 digits>-<8 lowercase hex>`.
pub fn is_child_id(id: &str, parent: &str, template: Option<&str>) -> bool {
    let Some(rest) = id.strip_prefix(&format!("{parent}/dispatch-")) else { return false };
    let rest = match template {
        Some(template) => match rest.strip_prefix(&format!("{template}-")) {
            Some(rest) => rest,
            None => return false,
        },
        None => rest,
    };
    let Some((secs, suffix)) = rest.split_once('-') else { return false };
    secs.len() == 10
        && secs.bytes().all(|b| b.is_ascii_digit())
        && suffix.len() == 8
        && suffix.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Whether `text` is 8 lowercase hex characters (a short ID).
pub fn is_short_id(text: &str) -> bool {
    text.len() == 8 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The value after `key = ` on the line starting with `key`.
pub fn kv_value(text: &str, key: &str) -> Option<String> {
    text.lines().find(|line| line.starts_with(key)).and_then(|line| line.split_once(" = ")).map(|(_, v)| v.to_string())
}

/// Checks the shape of seed 001's transcript line by line and returns the
/// child ID:
///
/// ```text
/// Dispatched Job ID = video-encode/dispatch-1485379325-cb38d00d
/// Evaluation ID     = 31199841
/// ==> Monitoring evaluation "31199841"
///     Evaluation triggered by job "video-encode/dispatch-1485379325-cb38d00d"
///     Allocation "8254b85f" created: node "82ff9c50", group "cache"
///     Evaluation status changed: "pending" -> "complete"
/// ==> Evaluation "31199841" finished with status "complete"
/// ```
pub fn check_transcript(stdout: &str, parent: &str, template: Option<&str>) -> String {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 7, "seven lines as in seed 001:\n{stdout}");
    let child = lines[0].strip_prefix("Dispatched Job ID = ").unwrap_or_else(|| panic!("line 1: {stdout}"));
    assert!(is_child_id(child, parent, template), "child ID format: {child}");
    let eval = lines[1].strip_prefix("Evaluation ID     = ").unwrap_or_else(|| panic!("line 2 aligned: {stdout}"));
    assert!(is_short_id(eval), "short eval ID: {eval}");
    assert_eq!(lines[2], format!("==> Monitoring evaluation \"{eval}\""));
    assert_eq!(lines[3], format!("    Evaluation triggered by job \"{child}\""));
    let alloc_line = lines[4];
    assert!(alloc_line.starts_with("    Allocation \"") && alloc_line.ends_with("\", group \"cache\""), "{stdout}");
    let alloc = &alloc_line["    Allocation \"".len().."    Allocation \"".len() + 8];
    assert!(is_short_id(alloc), "short alloc ID: {alloc_line}");
    assert!(alloc_line.contains("\" created: node \""), "{alloc_line}");
    assert_eq!(lines[5], "    Evaluation status changed: \"pending\" -> \"complete\"");
    assert_eq!(lines[6], format!("==> Evaluation \"{eval}\" finished with status \"complete\""));
    child.to_string()
}

/// The full IDs of a job's allocations, oldest first, with their create index.
pub fn allocs_of(agent: &Agent, job_id: &str) -> Vec<(String, u64)> {
    let path = format!("/v1/job/{}/allocations", job_id.replace('/', "%2F"));
    let list = agent.api(&path);
    let mut allocs: Vec<(String, u64)> = list
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|a| {
                    (a["ID"].as_str().unwrap_or_default().to_string(), a["CreateIndex"].as_u64().unwrap_or_default())
                })
                .collect()
        })
        .unwrap_or_default();
    allocs.sort_by_key(|(_, index)| *index);
    allocs
}

/// Waits until the job is dead and returns its one allocation's full ID.
pub fn finished_alloc(agent: &Agent, job_id: &str) -> String {
    let path = format!("/v1/job/{}", job_id.replace('/', "%2F"));
    wait_for(&format!("{job_id} dead"), DEADLINE, || (agent.api(&path)["Status"] == "dead").then_some(()));
    let allocs = allocs_of(agent, job_id);
    assert_eq!(allocs.len(), 1, "one allocation for {job_id}: {allocs:?}");
    allocs[0].0.clone()
}

/// The task's stdout through `drover alloc logs`.
pub fn task_stdout(agent: &Agent, dir: &Path, alloc_id: &str) -> String {
    agent.cli(dir, &["alloc", "logs", alloc_id, "encode"]).expect_code(0).stdout.clone()
}

/// Sends one HTTP request; the status code and body (`None` when nothing answered).
pub fn http(address: &str, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let host = address.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}
