// Create / edit a job: a form for the everyday fields, a JSON editor and an
// HCL editor; client checks beside each field, the server's 400 message
// beside the field it names, and a plan preview before submitting.

import { get, send } from "./api.js";
import { html, setHtml, paths, jobPath, errText } from "./util.js";

const NS = 1e9;
const DEFAULTS = {
  id: "", description: "", type: "batch", run: "command", command: "", image: "", cpus: "0.1", memory: "128", disk: "300",
  count: "1", scheduleOn: false, cron: "", timezone: "", concurrency: "ALLOW", deadline: "900", restartAttempts: "3",
  restartDelay: "15", restartMode: "fail", grace: "5", labels: "", paramOn: false, paramPayload: "optional",
  paramRequired: "", paramOptional: "", paramMax: "0",
};

function field(name, label, input, hint = "", wide = false) {
  return html`<label class="field ${wide ? "field-wide" : ""}" data-field="${name}"><span class="label">${label}</span>${input}${hint ? html`<span class="hint">${hint}</span>` : ""}<span class="field-error" data-error-for="${name}"></span></label>`;
}

function formHtml(editing) {
  return html`<form class="form card" id="job-form" novalidate>
    <div class="section"><h2>General</h2><div class="form-grid">
      ${field("id", "Job ID", html`<input name="id" id="f-id" required ${editing ? html`readonly` : ""} placeholder="marketing.nightly-report" autocomplete="off">`, "Dots group jobs: marketing.report is shown under marketing.")}
      ${field("type", "Type", html`<select name="type" id="f-type"><option value="batch">Batch (runs to completion)</option><option value="service">Service (long-running)</option></select>`)}
      ${field("count", "Instances", html`<input name="count" id="f-count" type="number" min="1" step="1">`)}
      ${field("description", "Description", html`<input name="description" id="f-description" placeholder="What this job does">`, "", true)}
    </div></div>
    <div class="section"><h2>What to run</h2>
      <div class="radio-row"><label class="check"><input type="radio" name="run" value="command" id="f-run-command"> Command only</label>
      <label class="check"><input type="radio" name="run" value="container" id="f-run-container"> Container image</label></div>
      <div class="form-grid" style="margin-top:10px">
      ${field("image", "Container image", html`<input name="image" id="f-image" placeholder="alpine:3.20">`, "Runs with the docker driver.", true)}
      ${field("command", "Command", html`<textarea name="command" id="f-command" rows="3" placeholder="echo hello"></textarea>`, "Wrapped as /bin/sh -c <command> (raw_exec driver for commands).", true)}
      </div></div>
    <div class="section"><h2>Resources</h2><div class="form-grid">
      ${field("cpus", "CPUs", html`<input name="cpus" id="f-cpus" type="number" min="0.01" step="0.01">`, "1 CPU = 1000 MHz")}
      ${field("memory", "Memory (MiB)", html`<input name="memory" id="f-memory" type="number" min="10" step="1">`)}
      ${field("disk", "Disk (MiB)", html`<input name="disk" id="f-disk" type="number" min="0" step="1">`)}
    </div></div>
    <div class="section"><h2>Schedule</h2>
      <label class="check"><input type="checkbox" name="scheduleOn" id="f-schedule-on"> Run on a cron schedule</label>
      <div class="form-grid" id="schedule-fields" style="margin-top:10px">
      ${field("cron", "Cron expression", html`<input name="cron" id="f-cron" placeholder="*/15 * * * *" autocomplete="off">`, "5 fields (minute hour day month weekday), 6 with seconds first, or @daily / @hourly.")}
      ${field("timezone", "Time zone", html`<input name="timezone" id="f-timezone" placeholder="UTC" list="tz-list">`)}
      ${field("concurrency", "Concurrency policy", html`<select name="concurrency" id="f-concurrency"><option value="ALLOW">Allow overlapping runs</option><option value="FORBID">Forbid (skip while a run is active)</option><option value="REPLACE">Replace the active run</option></select>`)}
      ${field("deadline", "Starting deadline (s)", html`<input name="deadline" id="f-deadline" type="number" min="0" step="1">`, "A launch later than this is skipped; 0 = no deadline.")}
      </div>
      <datalist id="tz-list"><option value="UTC"><option value="Europe/Berlin"><option value="Europe/London"><option value="America/New_York"><option value="America/Los_Angeles"><option value="Asia/Tokyo"></datalist></div>
    <div class="section"><h2>Run configuration</h2><div class="form-grid">
      ${field("restartAttempts", "Restart attempts", html`<input name="restartAttempts" id="f-restart-attempts" type="number" min="0" step="1">`)}
      ${field("restartDelay", "Restart delay (s)", html`<input name="restartDelay" id="f-restart-delay" type="number" min="0" step="1">`)}
      ${field("restartMode", "When attempts run out", html`<select name="restartMode" id="f-restart-mode"><option value="fail">Fail the run</option><option value="delay">Wait and try again</option></select>`)}
      ${field("grace", "Kill grace period (s)", html`<input name="grace" id="f-grace" type="number" min="0" step="1">`, "Time between SIGTERM and SIGKILL.")}
      ${field("labels", "Labels", html`<textarea name="labels" id="f-labels" rows="3" placeholder="team=marketing&#10;owner=alice"></textarea>`, "One key=value per line; shown in the jobs list.", true)}
    </div></div>
    <div class="section"><h2>Parameters</h2>
      <label class="check"><input type="checkbox" name="paramOn" id="f-param-on"> Parameterized: runs only when dispatched</label>
      <div class="form-grid" id="param-fields" style="margin-top:10px">
      ${field("paramPayload", "Payload", html`<select name="paramPayload" id="f-param-payload"><option value="optional">Optional</option><option value="required">Required</option><option value="forbidden">Forbidden</option></select>`)}
      ${field("paramRequired", "Required meta keys", html`<input name="paramRequired" id="f-param-required" placeholder="customer, region">`, "Comma separated.")}
      ${field("paramOptional", "Optional meta keys", html`<input name="paramOptional" id="f-param-optional" placeholder="priority">`)}
      ${field("paramMax", "Max concurrent runs", html`<input name="paramMax" id="f-param-max" type="number" min="0" step="1">`, "0 = unlimited; more dispatches wait in the queue.")}
      </div></div>
  </form>`;
}

function readForm(form) {
  const v = {};
  for (const key of Object.keys(DEFAULTS)) {
    const el = form.elements[key];
    if (!el) continue;
    if (el instanceof RadioNodeList) v[key] = el.value;
    else v[key] = el.type === "checkbox" ? el.checked : el.value.trim();
  }
  return v;
}

function writeForm(form, v) {
  for (const [key, value] of Object.entries(v)) {
    const el = form.elements[key];
    if (!el) continue;
    if (el instanceof RadioNodeList) el.value = value;
    else if (el.type === "checkbox") el.checked = !!value;
    else el.value = value;
  }
  syncSections(form);
}

function syncSections(form) {
  const v = readForm(form);
  form.querySelector('[data-field="image"]').style.display = v.run === "container" ? "" : "none";
  form.querySelector("#schedule-fields").style.display = v.scheduleOn ? "" : "none";
  form.querySelector("#param-fields").style.display = v.paramOn ? "" : "none";
}

/** Client-side checks: field -> message. */
export function validate(v) {
  const errors = {};
  const num = (key, min, integer) => {
    const n = Number(v[key]);
    if (v[key] === "" || !isFinite(n)) errors[key] = "enter a number";
    else if (n < min) errors[key] = `must be at least ${min}`;
    else if (integer && !Number.isInteger(n)) errors[key] = "must be a whole number";
  };
  if (!v.id) errors.id = "a job ID is required";
  else if (/\s/.test(v.id)) errors.id = "no spaces allowed";
  else if (v.id.length > 128) errors.id = "at most 128 characters";
  if (v.run === "container" && !v.image) errors.image = "an image is required for a container job";
  if (v.run === "command" && !v.command) errors.command = "a command is required";
  num("cpus", 0.01, false); num("memory", 10, true); num("disk", 0, true); num("count", 1, true);
  num("restartAttempts", 0, true); num("restartDelay", 0, false); num("grace", 0, false);
  if (v.scheduleOn) {
    const spec = v.cron.trim();
    const n = spec.split(/\s+/).filter(Boolean).length;
    if (!spec) errors.cron = "a cron expression is required for a schedule";
    else if (!spec.startsWith("@") && (n < 5 || n > 6)) errors.cron = `expected 5 or 6 fields, found ${n}`;
    if (v.type !== "batch") errors.cron = errors.cron || "only batch jobs can run on a schedule";
    num("deadline", 0, true);
  }
  if (v.paramOn) {
    num("paramMax", 0, true);
    if (v.scheduleOn) errors.paramOn = "a job is either scheduled or parameterized";
  }
  const lines = v.labels.split("\n").map((l) => l.trim()).filter(Boolean);
  const bad = lines.find((l) => !/^[^=\s]+=.*$/.test(l));
  if (bad) errors.labels = `"${bad}" is not key=value`;
  return errors;
}

function parseLabels(text) {
  const meta = {};
  for (const line of text.split("\n").map((l) => l.trim()).filter(Boolean)) {
    const eq = line.indexOf("=");
    meta[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return meta;
}

const keyList = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);

/** The Nomad JSON job the form describes, on top of `base` (fields the form does not show are kept). */
export function buildJob(v, base, caps) {
  const job = base ? JSON.parse(JSON.stringify(base)) : { Datacenters: ["*"], Priority: 50 };
  job.ID = v.id;
  job.Name = job.Name && base ? job.Name : v.id;
  job.Type = v.type;
  const meta = parseLabels(v.labels);
  if (v.description) meta.description = v.description;
  const group = (job.TaskGroups && job.TaskGroups[0]) || { Name: "main" };
  group.Count = Number(v.count);
  group.RestartPolicy = { ...(group.RestartPolicy || { Interval: 86400 * NS }), Attempts: Number(v.restartAttempts), Delay: Math.round(Number(v.restartDelay) * NS), Mode: v.restartMode };
  group.EphemeralDisk = { ...(group.EphemeralDisk || {}), SizeMB: Number(v.disk) };
  const task = (group.Tasks && group.Tasks[0]) || { Name: "main" };
  const args = ["-c", v.command];
  if (v.run === "container") {
    task.Driver = "docker";
    task.Config = { image: v.image };
    if (v.command) Object.assign(task.Config, { command: "/bin/sh", args });
  } else {
    task.Driver = "raw_exec";
    task.Config = { command: "/bin/sh", args };
  }
  task.Resources = { ...(task.Resources || {}), CPU: Math.max(1, Math.round(Number(v.cpus) * 1000)), MemoryMB: Number(v.memory) };
  task.KillTimeout = Math.round(Number(v.grace) * NS);
  group.Tasks = [task, ...((group.Tasks || []).slice(1))];
  job.TaskGroups = [group, ...((job.TaskGroups || []).slice(1))];
  delete meta["schedule.concurrency_policy"];
  delete meta["schedule.starting_deadline_seconds"];
  if (v.scheduleOn) {
    const schedule = { ID: "default", Cron: v.cron, TimeZone: v.timezone, Enabled: true, ConcurrencyPolicy: v.concurrency, StartingDeadlineSeconds: Number(v.deadline) };
    if (caps.schedules) {
      job.Schedules = [schedule];
      job.Periodic = null;
    } else {
      job.Periodic = { Enabled: true, Spec: v.cron, SpecType: "cron", TimeZone: v.timezone, ProhibitOverlap: v.concurrency !== "ALLOW" };
      // Kept as labels until the server stores schedules itself.
      meta["schedule.concurrency_policy"] = v.concurrency;
      meta["schedule.starting_deadline_seconds"] = String(Number(v.deadline));
    }
  } else {
    job.Periodic = null;
    if (caps.schedules) job.Schedules = [];
  }
  job.ParameterizedJob = v.paramOn
    ? { Payload: v.paramPayload, MetaRequired: keyList(v.paramRequired), MetaOptional: keyList(v.paramOptional), MaxConcurrent: Number(v.paramMax) }
    : null;
  job.Meta = meta;
  return job;
}

/** Form values describing `job` (best effort: the first group's first task). */
export function valuesOf(job) {
  const v = { ...DEFAULTS };
  const group = (job.TaskGroups && job.TaskGroups[0]) || {};
  const task = (group.Tasks && group.Tasks[0]) || {};
  const config = task.Config || {};
  const meta = { ...(job.Meta || {}) };
  v.id = job.ID || "";
  v.type = job.Type === "service" ? "service" : "batch";
  v.description = meta.description || "";
  v.count = String(group.Count || 1);
  v.run = task.Driver === "docker" ? "container" : "command";
  v.image = config.image || "";
  const args = Array.isArray(config.args) ? config.args : [];
  v.command = args[0] === "-c" ? args.slice(1).join(" ") : [config.command, ...args].filter(Boolean).join(" ");
  const res = task.Resources || {};
  v.cpus = String((res.CPU || 100) / 1000);
  v.memory = String(res.MemoryMB || 128);
  v.disk = String((group.EphemeralDisk && group.EphemeralDisk.SizeMB) || 300);
  const rp = group.RestartPolicy || {};
  v.restartAttempts = String(rp.Attempts ?? 3);
  v.restartDelay = String((rp.Delay ?? 15 * NS) / NS);
  v.restartMode = rp.Mode === "delay" ? "delay" : "fail";
  v.grace = String((task.KillTimeout ?? 5 * NS) / NS);
  const schedule = (job.Schedules && job.Schedules[0]) || null;
  if (schedule) {
    Object.assign(v, { scheduleOn: true, cron: schedule.Cron || "", timezone: schedule.TimeZone || "", concurrency: schedule.ConcurrencyPolicy || "ALLOW", deadline: String(schedule.StartingDeadlineSeconds ?? 900) });
  } else if (job.Periodic && job.Periodic.Enabled) {
    Object.assign(v, {
      scheduleOn: true, cron: job.Periodic.Spec || "", timezone: job.Periodic.TimeZone || "",
      concurrency: meta["schedule.concurrency_policy"] || (job.Periodic.ProhibitOverlap ? "FORBID" : "ALLOW"),
      deadline: meta["schedule.starting_deadline_seconds"] || "900",
    });
  }
  const p = job.ParameterizedJob;
  if (p) Object.assign(v, { paramOn: true, paramPayload: p.Payload || "optional", paramRequired: (p.MetaRequired || []).join(", "), paramOptional: (p.MetaOptional || []).join(", "), paramMax: String(p.MaxConcurrent || 0) });
  delete meta.description; delete meta["schedule.concurrency_policy"]; delete meta["schedule.starting_deadline_seconds"];
  v.labels = Object.entries(meta).map(([k, val]) => `${k}=${val}`).join("\n");
  return v;
}

function fieldForServerError(message) {
  const m = message.toLowerCase();
  if (/cron|periodic|schedule|spec|time ?zone/.test(m)) return /zone|location/.test(m) ? "timezone" : "cron";
  if (/memory/.test(m)) return "memory";
  if (/cpu/.test(m)) return "cpus";
  if (/disk/.test(m)) return "disk";
  if (/image/.test(m)) return "image";
  if (/command|driver|config/.test(m)) return "command";
  if (/restart/.test(m)) return "restartAttempts";
  if (/parameterized|payload|meta/.test(m)) return "paramRequired";
  if (/job id|job name|\bid\b/.test(m)) return "id";
  return null;
}

function metricReasons(metric) {
  const reasons = [];
  for (const [k, n] of Object.entries(metric.ConstraintFiltered || {})) reasons.push(`${n} node(s) excluded by constraint ${k}`);
  for (const [k, n] of Object.entries(metric.DimensionExhausted || {})) reasons.push(`${n} node(s) out of ${k}`);
  for (const [k, n] of Object.entries(metric.ClassFiltered || {})) reasons.push(`${n} node(s) of class ${k} filtered`);
  if (!metric.NodesEvaluated && !metric.NodesInPool) reasons.push("no nodes are available in the pool");
  if (metric.NodesExhausted && !Object.keys(metric.DimensionExhausted || {}).length) reasons.push(`${metric.NodesExhausted} node(s) exhausted`);
  return reasons.length ? reasons : ["no node fits"];
}

/** The plan preview: changes per group and placement failures. */
export function planHtml(plan, job) {
  const updates = (plan.Annotations && plan.Annotations.DesiredTGUpdates) || {};
  const failed = plan.FailedTGAllocs || {};
  const diffType = plan.Diff ? plan.Diff.Type : "";
  const template = (job.Periodic && job.Periodic.Enabled) || job.ParameterizedJob || (job.Schedules && job.Schedules.length);
  const rows = Object.entries(updates).map(([group, u]) => html`<div class="plan-row"><strong>${group}</strong>
      <span class="count count-create">+${u.Place || 0} create</span>
      <span class="count count-destroy">−${u.Stop || 0} destroy</span>
      <span class="count count-update">~${(u.InPlaceUpdate || 0) + (u.DestructiveUpdate || 0)} update</span>
      <span class="count count-ignore">${u.Ignore || 0} unchanged</span></div>`);
  return html`<div class="card plan" id="plan-preview"><h2>Plan <span class="tag">${diffType || "None"}</span></h2>
    ${template ? html`<p class="muted">${job.ParameterizedJob ? "A parameterized job places nothing until it is dispatched." : "A scheduled job places nothing until its schedule (or Run now) launches a run."}</p>` : ""}
    ${rows.length ? rows : template ? "" : html`<p class="muted">No changes to placements.</p>`}
    ${Object.entries(failed).map(([group, metric]) => html`<div class="alert alert-warn"><strong>${group}: cannot place now.</strong> The job would be queued until resources free up.<ul>${metricReasons(metric).map((r) => html`<li>${r}</li>`)}</ul></div>`)}
    <div class="form-actions"><button class="btn btn-primary" type="button" id="submit-job">Submit job</button><button class="btn" type="button" id="cancel-plan">Back to editing</button></div></div>`;
}

/** Mounts the create / edit page. */
export async function mount(root, params, app) {
  const editing = !!params.id;
  let base = null;
  if (editing) base = await get(jobPath(params.id));
  // Does the server know Metronome-style schedules yet? Its canonical job says.
  const probe = await send("POST", "/v1/jobs/parse", { JobHCL: 'job "probe" {\n  group "g" {\n    task "t" {\n      driver = "raw_exec"\n    }\n  }\n}\n', Canonicalize: true }).catch(() => ({}));
  const caps = { schedules: Object.prototype.hasOwnProperty.call(probe || {}, "Schedules") };
  setHtml(root, html`<div class="page page-narrow" style="max-width:980px">
    <div class="crumbs"><a href="/ui/jobs" data-nav>Jobs</a> / ${editing ? html`<a href="${paths.job(params.id)}" data-nav>${params.id}</a> / Edit` : "New"}</div>
    <div class="page-head"><div><h1>${editing ? html`Edit ${params.id}` : "Create a job"}</h1>
      <p class="subtitle">Fill in the form, or paste a job in JSON or HCL. You will see the plan before anything runs.</p></div></div>
    <div class="tabs" role="tablist"><button type="button" data-tab="form" class="active" id="tab-form">Form</button><button type="button" data-tab="json" id="tab-json">JSON editor</button><button type="button" data-tab="hcl" id="tab-hcl">HCL editor</button></div>
    <div id="form-error"></div>
    <div data-pane="form">${formHtml(editing)}</div>
    <div data-pane="json" hidden><div class="card"><label class="field"><span class="label">Job JSON (the body of PUT /v1/jobs, or just the job)</span>
      <textarea id="json-editor" class="code-edit" spellcheck="false"></textarea><span class="field-error" data-error-for="json"></span></label></div></div>
    <div data-pane="hcl" hidden><div class="card"><label class="field"><span class="label">Job HCL</span>
      <textarea id="hcl-editor" class="code-edit" spellcheck="false" placeholder='job "example" { ... }'></textarea><span class="field-error" data-error-for="hcl"></span></label>
      <div class="form-actions"><button class="btn" type="button" id="hcl-convert">Convert to JSON</button></div></div></div>
    <div class="form-actions"><button class="btn btn-primary" type="button" id="plan-job">Review plan</button><a class="btn" href="${editing ? paths.job(params.id) : "/ui/jobs"}" data-nav>Cancel</a></div>
    <div id="plan-area"></div></div>`);
  const form = root.querySelector("#job-form");
  let mode = "form";
  let planned = null;
  writeForm(form, editing ? valuesOf(base) : DEFAULTS);
  form.addEventListener("change", () => syncSections(form));

  const showErrors = (errors) => {
    for (const el of root.querySelectorAll("[data-error-for]")) {
      el.textContent = errors[el.dataset.errorFor] || "";
      const wrap = el.closest(".field");
      if (wrap) wrap.classList.toggle("invalid", !!errors[el.dataset.errorFor]);
    }
  };
  const formError = (message) => setHtml(root.querySelector("#form-error"), message ? html`<div class="alert alert-error" role="alert">${message}</div>` : html``);
  const clearPlan = () => { planned = null; setHtml(root.querySelector("#plan-area"), html``); };

  const currentJob = async () => {
    if (mode === "form") {
      const v = readForm(form);
      const errors = validate(v);
      showErrors(errors);
      if (Object.keys(errors).length) {
        const first = form.querySelector(".field.invalid input, .field.invalid textarea, .field.invalid select");
        if (first) first.focus();
        throw new Error("Fix the highlighted fields");
      }
      return buildJob(v, base, caps);
    }
    if (mode === "json") {
      try {
        const parsed = JSON.parse(root.querySelector("#json-editor").value);
        showErrors({});
        return parsed.Job || parsed;
      } catch (err) {
        showErrors({ json: `Not valid JSON: ${err.message}` });
        throw new Error("The JSON editor holds invalid JSON");
      }
    }
    try {
      const job = await send("POST", "/v1/jobs/parse", { JobHCL: root.querySelector("#hcl-editor").value, Canonicalize: true });
      showErrors({});
      return job;
    } catch (err) {
      showErrors({ hcl: errText(err) });
      throw new Error("The HCL does not parse");
    }
  };

  const switchTo = async (next) => {
    if (next === mode) return;
    if (mode === "form" && next !== "form") {
      const v = readForm(form);
      root.querySelector("#json-editor").value = JSON.stringify({ Job: buildJob(v, base, caps) }, null, 2);
    }
    if (mode === "json" && next === "form") {
      try {
        const parsed = JSON.parse(root.querySelector("#json-editor").value);
        base = parsed.Job || parsed;
        writeForm(form, valuesOf(base));
      } catch (err) {
        showErrors({ json: `Not valid JSON: ${err.message}` });
        return;
      }
    }
    mode = next;
    clearPlan();
    for (const b of root.querySelectorAll("[data-tab]")) b.classList.toggle("active", b.dataset.tab === mode);
    for (const p of root.querySelectorAll("[data-pane]")) p.hidden = p.dataset.pane !== mode;
  };

  root.querySelector(".tabs").addEventListener("click", (ev) => {
    const b = ev.target.closest("[data-tab]");
    if (b) switchTo(b.dataset.tab);
  });
  root.querySelector("#hcl-convert").addEventListener("click", async () => {
    try {
      const job = await send("POST", "/v1/jobs/parse", { JobHCL: root.querySelector("#hcl-editor").value, Canonicalize: true });
      root.querySelector("#json-editor").value = JSON.stringify({ Job: job }, null, 2);
      mode = "hcl";
      await switchTo("json");
    } catch (err) {
      showErrors({ hcl: errText(err) });
    }
  });
  form.addEventListener("input", (ev) => {
    clearPlan();
    const wrap = ev.target.closest(".field");
    if (wrap && wrap.classList.contains("invalid")) {
      wrap.classList.remove("invalid");
      const err = wrap.querySelector(".field-error");
      if (err) err.textContent = "";
    }
  });
  form.addEventListener("submit", (ev) => ev.preventDefault());

  const serverError = (err) => {
    const message = errText(err);
    const name = mode === "form" ? fieldForServerError(message) : mode;
    if (name && root.querySelector(`[data-error-for="${name}"]`)) {
      showErrors({ [name]: message });
      formError(`The server refused the job: ${message}`);
    } else formError(message);
  };

  root.querySelector("#plan-job").addEventListener("click", async () => {
    formError("");
    clearPlan();
    let job;
    try { job = await currentJob(); } catch (err) { formError(errText(err)); return; }
    try {
      const plan = await send("POST", `${jobPath(job.ID)}/plan`, { Job: job, Diff: true });
      planned = job;
      const area = root.querySelector("#plan-area");
      setHtml(area, planHtml(plan, job));
      area.scrollIntoView({ behavior: "smooth", block: "start" });
    } catch (err) { serverError(err); }
  });
  root.querySelector("#plan-area").addEventListener("click", async (ev) => {
    if (ev.target.id === "cancel-plan") { clearPlan(); return; }
    if (ev.target.id !== "submit-job" || !planned) return;
    ev.target.disabled = true;
    try {
      await send("PUT", "/v1/jobs", { Job: planned });
      app.toast(`Job ${planned.ID} ${editing ? "updated" : "created"}`, "ok");
      app.navigate(paths.job(planned.ID));
    } catch (err) {
      ev.target.disabled = false;
      serverError(err);
    }
  });
  return () => {};
}

