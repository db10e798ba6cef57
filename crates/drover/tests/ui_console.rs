//! Browser tests of the web UI: headless Chromium (Debian's `chromium` and
//! `chromium-driver`) driven over WebDriver with fantoccini, against a real
//! `drover agent -dev`. Each test starts its own agent, chromedriver and
//! browser; screenshots of every page land in `target/ui-screenshots/`.
//!
//! Without Chromium the tests fail loudly and say how to install it
//! (`.ci/run` installs it, so they always run there).

mod common;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use common::{Agent, free_port};

const CHROMIUM: &str = "/usr/bin/chromium";
const DEADLINE: Duration = Duration::from_secs(60);

/// A chromedriver process and the WebDriver session it serves.
struct Browser {
    driver: Child,
    client: Client,
    base: String,
    shots: PathBuf,
}

fn find_chromedriver() -> PathBuf {
    for candidate in ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"] {
        if Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    panic!(
        "UI browser tests need headless Chromium and chromedriver, which are not installed on this machine: \
         run `apt-get install -y chromium chromium-driver` (.ci/run installs them)"
    );
}

fn screenshot_dir() -> PathBuf {
    // target/<profile>/drover -> target/ui-screenshots
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_drover"));
    let target = bin.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("target"));
    let dir = target.join("ui-screenshots");
    std::fs::create_dir_all(&dir).expect("create target/ui-screenshots");
    dir
}

impl Browser {
    async fn start(agent: &Agent) -> Browser {
        assert!(
            Path::new(CHROMIUM).exists(),
            "UI browser tests need {CHROMIUM}: run `apt-get install -y chromium chromium-driver` (.ci/run installs them)"
        );
        let port = free_port();
        let driver = Command::new(find_chromedriver())
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "chromedriver did not listen on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_string(),
            json!({
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,800", "--hide-scrollbars", "--force-device-scale-factor=1"],
            }),
        );
        // Plain HTTP to chromedriver on loopback: no TLS stack needed.
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| {
                panic!("chromium did not start under chromedriver (is `chromium` installed and runnable?): {e}")
            });
        // A 1280x800 viewport whatever the browser's own frame takes.
        let frame = client
            .execute("return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight];", vec![])
            .await
            .unwrap_or_default();
        let extra_w = frame[0].as_u64().unwrap_or(0) as u32;
        let extra_h = frame[1].as_u64().unwrap_or(0) as u32;
        client.set_window_size(1280 + extra_w, 800 + extra_h).await.expect("resize the browser window");
        Browser { driver, client, base: agent.address.clone(), shots: screenshot_dir() }
    }

    /// Opens an app path and waits until the page has rendered.
    async fn open(&self, path: &str) {
        self.client.goto(&format!("{}{path}", self.base)).await.expect("navigate");
        self.settled().await;
    }

    /// Waits until the main area shows no loading placeholder.
    async fn settled(&self) {
        self.wait_js(
            "the page to render",
            "return !!document.querySelector('#main .page') && !document.querySelector('#main .loading');",
        )
        .await;
    }

    async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Polls `script` (returning a truthy value when done) until the deadline.
    async fn wait_js(&self, what: &str, script: &str) -> Value {
        let started = Instant::now();
        loop {
            let value = self.js(script).await;
            if !matches!(value, Value::Null | Value::Bool(false)) && value != json!("") {
                return value;
            }
            if started.elapsed() > DEADLINE {
                let page = self
                    .js("return document.querySelector('#main') ? document.querySelector('#main').innerText : ''")
                    .await;
                panic!("timed out waiting for {what}; page text:\n{page}");
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Clicks the element `css` names. Pages redraw on every change event, so
    /// the element found may be replaced before the click lands ("stale
    /// element reference"): then the current one is found and clicked.
    async fn click(&self, css: &str) {
        for attempt in 1.. {
            let element = self
                .client
                .wait()
                .at_most(DEADLINE)
                .for_element(Locator::Css(css))
                .await
                .unwrap_or_else(|e| panic!("no {css}: {e}"));
            match element.click().await {
                Ok(_) => return,
                Err(e) if attempt < 5 && e.to_string().contains("stale element") => continue,
                Err(e) => panic!("click {css}: {e}"),
            }
        }
    }

    async fn fill(&self, css: &str, text: &str) {
        let element = self
            .client
            .wait()
            .at_most(DEADLINE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"));
        element.clear().await.unwrap_or_else(|e| panic!("clear {css}: {e}"));
        element.send_keys(text).await.unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    async fn text(&self, css: &str) -> String {
        let element = self
            .client
            .wait()
            .at_most(DEADLINE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"));
        element.text().await.unwrap_or_default()
    }

    /// Saves a PNG of the viewport as `target/ui-screenshots/<name>.png`.
    async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(self.shots.join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// Errors the page logged (console.error, uncaught errors, rejections).
    async fn errors(&self) -> Vec<String> {
        let value = self.js("return window.__droverErrors || ['error hook missing'];").await;
        value.as_array().map(|a| a.iter().map(|v| v.as_str().unwrap_or("").to_string()).collect()).unwrap_or_default()
    }

    async fn assert_no_errors(&self, page: &str) {
        let errors = self.errors().await;
        assert!(errors.is_empty(), "console errors on {page}: {errors:#?}");
    }

    /// Calls the API from the page (same origin), returning the JSON reply.
    async fn api(&self, method: &str, path: &str, body: Value) -> Value {
        let script = "const [method, path, body, done] = arguments; \
            fetch(path, {method, headers: {'Content-Type': 'application/json'}, body: method === 'GET' ? undefined : JSON.stringify(body)}) \
              .then(async r => done({status: r.status, text: await r.text()})).catch(e => done({status: 0, text: String(e)}));";
        let reply = self
            .client
            .execute_async(script, vec![json!(method), json!(path), body])
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = reply["status"].as_u64().unwrap_or(0);
        let text = reply["text"].as_str().unwrap_or("").to_string();
        assert!((200..300).contains(&status), "{method} {path}: HTTP {status}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    }

    async fn close(mut self) {
        let _ = self.client.close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn current_path(url: &str) -> String {
    url.splitn(4, '/').nth(3).map(|p| format!("/{p}")).unwrap_or_default()
}

async fn path_of(browser: &Browser) -> String {
    current_path(browser.client.current_url().await.expect("current url").as_str())
}

async fn wait_path(browser: &Browser, prefix: &str) -> String {
    let started = Instant::now();
    loop {
        let path = path_of(browser).await;
        if path.starts_with(prefix) {
            return path;
        }
        assert!(started.elapsed() < DEADLINE, "timed out waiting to reach {prefix}; at {path}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn start_agent(name: &str) -> (tempfile::TempDir, Agent) {
    let dir = tempfile::Builder::new().prefix(&format!("drover-ui-{name}-")).tempdir().expect("temp dir");
    let agent = Agent::dev(&dir.path().join("data"));
    (dir, agent)
}

fn write_job(dir: &Path, name: &str, hcl: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, hcl).expect("write job file");
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn ui_scheduled_job_created_in_the_form_runs_now_and_shows_its_logs() {
    let (_dir, agent) = start_agent("schedule");
    let browser = Browser::start(&agent).await;
    browser.open("/ui/jobs").await;
    browser.click("#create-job").await;
    browser.settled().await;
    browser.fill("#f-id", "reports.nightly").await;
    browser.fill("#f-description", "Nightly report for marketing").await;
    browser.fill("#f-command", "echo hello-from-the-ui; sleep 1").await;
    browser.click("#f-schedule-on").await;
    browser.fill("#f-cron", "not a cron").await;
    browser.fill("#f-labels", "team=marketing\nowner=alice").await;
    browser.click("#plan-job").await;
    let error = browser.text("[data-error-for=\"cron\"]").await;
    assert!(error.contains("expected 5 or 6 fields"), "cron error beside the field: {error:?}");
    browser.fill("#f-cron", "0 3 * * *").await;
    browser.fill("#f-timezone", "Europe/Berlin").await;
    browser.shot("job-form").await;
    browser.click("#plan-job").await;
    browser.wait_js("the plan preview", "return !!document.querySelector('#plan-preview');").await;
    browser.shot("job-plan").await;
    browser.click("#submit-job").await;
    let path = wait_path(&browser, "/ui/jobs/reports.nightly").await;
    assert_eq!(path, "/ui/jobs/reports.nightly");
    browser.settled().await;
    browser.wait_js("the schedule card", "return !!document.querySelector('#schedules [data-next-launch]');").await;

    let job = browser.api("GET", "/v1/job/reports.nightly", Value::Null).await;
    let schedule_stored = job["Periodic"]["Spec"] == json!("0 3 * * *")
        || job["Schedules"].as_array().is_some_and(|s| s.iter().any(|s| s["Cron"] == json!("0 3 * * *")));
    assert!(schedule_stored, "the cron schedule is stored: {job}");
    assert_eq!(job["Meta"]["team"], json!("marketing"));
    assert_eq!(job["Meta"]["description"], json!("Nightly report for marketing"));

    browser.click("#action-run-now").await;
    // The run's page (a child job) follows the run until it completes.
    let child_path = wait_path(&browser, "/ui/jobs/reports.nightly%2F").await;
    browser.settled().await;
    browser
        .wait_js("the run to complete", "return document.querySelector('#runs-succeeded') && document.querySelector('#runs-succeeded').textContent === '1';")
        .await;
    browser.click("#tab-allocations").await;
    browser.click("[data-alloc-id] a").await;
    wait_path(&browser, "/ui/allocations/").await;
    browser.settled().await;
    browser
        .wait_js(
            "the task's stdout",
            "return document.querySelector('#logs').textContent.includes('hello-from-the-ui');",
        )
        .await;
    browser.shot("allocation").await;
    browser.assert_no_errors("the allocation page").await;

    // Back on the parent: the run shows in the runs history and the chart.
    browser.open("/ui/jobs/reports.nightly").await;
    browser
        .wait_js("the run in the parent's history", "return document.querySelector('#runs-succeeded') && document.querySelector('#runs-succeeded').textContent === '1' && document.querySelectorAll('#runs-chart rect').length === 1;")
        .await;
    browser.shot("job-detail").await;
    assert!(child_path.len() > "/ui/jobs/reports.nightly%2F".len());
    browser.assert_no_errors("the job page").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ui_dispatches_a_parameterized_job_with_payload_and_meta() {
    let (dir, agent) = start_agent("dispatch");
    let file = write_job(
        dir.path(),
        "encode.hcl",
        r#"job "video.encode" {
  type = "batch"
  meta { team = "media" }
  parameterized {
    payload       = "optional"
    meta_required = ["customer"]
    meta_optional = ["quality"]
  }
  group "g" {
    task "encode" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo encoding for $NOMAD_META_customer"]
      }
      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
"#,
    );
    agent.cli(dir.path(), &["job", "run", &file]).expect_code(0);
    let browser = Browser::start(&agent).await;
    browser.open("/ui/jobs/video.encode").await;
    browser.click("#action-dispatch").await;
    wait_path(&browser, "/ui/jobs/video.encode/dispatch").await;
    browser.settled().await;
    browser.click("#dispatch-submit").await;
    let error = browser.text("[data-error-for=\"meta-customer\"]").await;
    assert_eq!(error, "required", "a missing required meta key is flagged beside its field");
    browser.fill("#payload-text", "frames: 1-200").await;
    browser.fill("#meta-customer", "acme").await;
    browser.fill("#meta-quality", "high").await;
    let size = browser.text("#payload-size").await;
    assert!(size.contains("of 16 KiB"), "payload size and limit shown: {size:?}");
    browser.shot("dispatch").await;
    browser.click("#dispatch-submit").await;
    let path = wait_path(&browser, "/ui/jobs/video.encode%2Fdispatch-").await;
    browser.settled().await;
    browser.wait_js("the dispatched run to complete", "return document.querySelector('#runs-succeeded') && document.querySelector('#runs-succeeded').textContent === '1';").await;
    let child_id = path.trim_start_matches("/ui/jobs/").replace("%2F", "/");
    let child = browser.api("GET", &format!("/v1/job/{}", child_id.replace('/', "%2F")), Value::Null).await;
    assert_eq!(child["Meta"]["customer"], json!("acme"), "{child}");
    assert_eq!(child["Meta"]["quality"], json!("high"), "{child}");
    assert_eq!(child["Payload"], json!("ZnJhbWVzOiAxLTIwMA=="), "payload is the base64 of the text: {child}");
    browser.assert_no_errors("the dispatched run").await;

    // Once the finished child is garbage-collected, the jobs list still shows
    // the last run, from the run record.
    let runs = browser.api("GET", "/v1/job/video.encode/runs", Value::Null).await;
    let run_id = runs[0]["ID"].as_str().expect("the dispatch's run").to_string();
    browser.api("PUT", "/v1/system/gc", Value::Null).await;
    let jobs = browser.api("GET", "/v1/jobs", Value::Null).await;
    assert!(
        jobs.as_array().is_some_and(|jobs| jobs.iter().all(|job| job["ID"] != json!(child_id))),
        "the child is collected: {jobs}"
    );
    browser.open("/ui/jobs").await;
    let cell = "[data-job-id=\"video.encode\"] td:last-child";
    let last_run = browser
        .wait_js(
            "the last run in the jobs list",
            &format!("const el = document.querySelector('{cell}'); return el && el.querySelector('[data-last-run]') ? el.innerText : null;"),
        )
        .await;
    let last_run = last_run.as_str().unwrap_or_default().to_lowercase();
    assert!(last_run.contains("complete") && !last_run.contains("not yet run"), "last run cell: {last_run:?}");
    let shown = browser.js(&format!("return document.querySelector('{cell} [data-last-run]').dataset.lastRun;")).await;
    assert_eq!(shown, json!(run_id));
    browser.assert_no_errors("the jobs list").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ui_shows_a_queued_dispatch_and_cancels_it() {
    let (dir, agent) = start_agent("queue");
    let file = write_job(
        dir.path(),
        "slow.hcl",
        r#"job "etl.slow" {
  type = "batch"
  parameterized {
    max_concurrent = 1
  }
  group "g" {
    task "work" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "sleep 300"]
      }
      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
"#,
    );
    agent.cli(dir.path(), &["job", "run", &file]).expect_code(0);
    let browser = Browser::start(&agent).await;
    browser.open("/ui/queue").await;
    let first = browser.api("POST", "/v1/job/etl.slow/dispatch", json!({"Meta": {}})).await;
    let second = browser.api("POST", "/v1/job/etl.slow/dispatch", json!({"Meta": {}})).await;
    let first_id = first["DispatchedJobID"].as_str().expect("first child").to_string();
    let second_id = second["DispatchedJobID"].as_str().expect("second child").to_string();
    let row = format!("[data-queue-job=\"{second_id}\"][data-kind=\"held\"]");
    browser.wait_js("the held dispatch in the queue", &format!("return !!document.querySelector('{row}');")).await;
    let why = browser.text(&format!("{row} td:nth-child(4)")).await;
    assert!(!why.is_empty(), "the queue says why the dispatch waits");
    browser.shot("queue").await;
    browser.click(&format!("{row} [data-cancel]")).await;
    browser.click("#modal-confirm").await;
    browser.wait_js("the held dispatch to leave the queue", &format!("return !document.querySelector('{row}');")).await;
    let child = browser.api("GET", &format!("/v1/job/{}", second_id.replace('/', "%2F")), Value::Null).await;
    assert_eq!(child["Stop"], json!(true), "the cancelled dispatch is stopped: {child}");
    browser.assert_no_errors("the queue").await;
    // Clean up the long first run.
    browser.api("DELETE", &format!("/v1/job/{}?purge=true", first_id.replace('/', "%2F")), Value::Null).await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ui_tests_a_runner_with_a_probe_run() {
    let (_dir, agent) = start_agent("runner");
    let browser = Browser::start(&agent).await;
    browser.open("/ui/runners").await;
    browser.click("[data-node-id] [data-action=\"test\"]").await;
    let state = browser
        .wait_js("the probe result", "const el = document.querySelector('[data-probe-state]'); return el && el.dataset.probeState !== 'running' ? el.dataset.probeState : null;")
        .await;
    let text = browser.text("[data-probe-state]").await;
    assert_eq!(state, json!("ok"), "probe result: {text}");
    assert!(text.contains("Test passed"), "{text}");
    browser.shot("runners").await;
    // The probe job is purged afterwards.
    browser
        .wait_js(
            "the probe job to be purged",
            "return fetch('/v1/jobs').then(r => r.json()).then(j => !j.some(x => x.ID.startsWith('drover-probe') || x.ID.startsWith('drover-node-test')));",
        )
        .await;
    browser.assert_no_errors("the runners page").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ui_every_page_loads_without_console_errors() {
    let (dir, agent) = start_agent("pages");
    let file = write_job(
        dir.path(),
        "hello.hcl",
        r#"job "marketing.<b>hello</b>" {
  type = "batch"
  meta {
    description = "<img src=x onerror=alert(1)>"
    team        = "marketing"
  }
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo hi"]
      }
      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
"#,
    );
    agent.cli(dir.path(), &["job", "run", &file]).expect_code(0);
    let big = write_job(
        dir.path(),
        "big.hcl",
        r#"job "too-big" {
  type = "batch"
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
      resources {
        cpu    = 50
        memory = 900000
      }
    }
  }
}
"#,
    );
    agent.cli(dir.path(), &["job", "run", "-detach", &big]).expect_code(0);
    let browser = Browser::start(&agent).await;
    browser.open("/").await;
    assert_eq!(path_of(&browser).await, "/ui/jobs", "/ redirects to the jobs page");
    browser.wait_js("the job rows", "return document.querySelectorAll('[data-job-id]').length === 2;").await;
    let injected = browser.js("return document.querySelectorAll('#main b, #main img').length;").await;
    assert_eq!(injected, json!(0), "job names and labels are escaped, not HTML");
    browser.shot("jobs").await;
    let job = "/ui/jobs/marketing.%3Cb%3Ehello%3C%2Fb%3E";
    browser.open(job).await;
    browser.wait_js("the group summary", "return document.querySelectorAll('.stat').length > 0;").await;
    let allocs = browser.api("GET", "/v1/job/marketing.%3Cb%3Ehello%3C%2Fb%3E/allocations", Value::Null).await;
    let alloc_id = allocs[0]["ID"].as_str().expect("an allocation").to_string();
    let evals = browser.api("GET", "/v1/evaluations?status=blocked", Value::Null).await;
    let blocked = evals[0]["ID"].as_str().expect("a blocked evaluation for the too-big job").to_string();
    let node = browser.api("GET", "/v1/nodes", Value::Null).await;
    let node_id = node[0]["ID"].as_str().expect("a node").to_string();
    let pages = [
        ("jobs", "/ui/jobs".to_string()),
        ("job-new", "/ui/jobs/new".to_string()),
        ("job-overview", job.to_string()),
        ("job-edit", format!("{job}/edit")),
        ("alloc", format!("/ui/allocations/{alloc_id}")),
        ("runners-list", "/ui/runners".to_string()),
        ("runner", format!("/ui/runners/{node_id}")),
        ("queue-blocked", "/ui/queue".to_string()),
        ("evaluations", "/ui/evaluations".to_string()),
        ("evaluation", format!("/ui/evaluations/{blocked}")),
        ("settings", "/ui/settings".to_string()),
        ("job-too-big", "/ui/jobs/too-big".to_string()),
    ];
    for (name, path) in &pages {
        browser.open(path).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        browser.settled().await;
        browser.shot(&format!("page-{name}")).await;
        browser.assert_no_errors(path).await;
    }
    for tab in ["runs", "allocations", "evaluations", "versions", "definition"] {
        browser.open(job).await;
        browser.click(&format!("#tab-{tab}")).await;
        browser.settled().await;
        browser.shot(&format!("page-job-{tab}")).await;
        browser.assert_no_errors(&format!("{job} ({tab})")).await;
    }
    browser.open("/ui/queue").await;
    let text = browser.text("#queue-live").await;
    assert!(text.contains("too-big") && text.contains("memory"), "the blocked job waits for memory: {text}");
    // Phone width: the sidebar folds behind the menu button.
    browser.client.set_window_size(390, 844).await.expect("resize");
    browser.open("/ui/jobs").await;
    let sidebar_hidden =
        browser.js("return document.getElementById('sidebar').getBoundingClientRect().right <= 0;").await;
    assert_eq!(sidebar_hidden, json!(true), "the sidebar is folded at phone width");
    browser.shot("jobs-phone").await;
    browser.assert_no_errors("the jobs page at phone width").await;
    browser.close().await;
}
