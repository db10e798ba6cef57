// Job detail: summary per group, runs (counts + chart), schedule with next
// launches, children and held dispatches, allocations, evaluations with
// placement failures, versions and the definition; Run now, Dispatch, Edit,
// Stop, Start and Delete.

import { get, getOptional, send } from "./api.js";
import { html, setHtml, badge, when, dur, paths, jobPath, short, empty, errText, mhz, mb } from "./util.js";
import { loadRuns, runCounts, runsChart, nextLaunches, runNow } from "./runs.js";

/** A job that only launches runs (scheduled or parameterized), not a run itself. */
export function isTemplate(job) {
  if (job.ParentID || job.Dispatched) return false;
  return !!((job.Periodic && job.Periodic.Enabled) || job.ParameterizedJob || (job.Schedules && job.Schedules.length));
}

const TABS = ["overview", "runs", "allocations", "evaluations", "versions", "definition"];

/** Why placements failed, one line per reason. */
export function failureReasons(metric) {
  const out = [];
  for (const [k, n] of Object.entries(metric.ConstraintFiltered || {})) out.push(`constraint ${k} filtered ${n} node${n === 1 ? "" : "s"}`);
  for (const [k, n] of Object.entries(metric.ClassFiltered || {})) out.push(`class ${k} filtered ${n} node${n === 1 ? "" : "s"}`);
  for (const [k, n] of Object.entries(metric.DimensionExhausted || {})) out.push(`${k} exhausted on ${n} node${n === 1 ? "" : "s"}`);
  if (!metric.NodesEvaluated) out.push(metric.NodesInPool ? "no eligible node in the pool" : `no nodes in pool ${metric.NodePool || "default"}`);
  if (metric.CoalescedFailures) out.push(`${metric.CoalescedFailures} more allocation(s) failed the same way`);
  return out.length ? out : ["no node had room"];
}

/** The FailedTGAllocs of an evaluation, as a list. */
export function failuresHtml(failed) {
  const entries = Object.entries(failed || {});
  if (!entries.length) return html``;
  return html`<ul class="failures">${entries.map(([group, m]) => html`<li><strong>${group}</strong>: ${failureReasons(m).join("; ")} <span class="faint">(${m.NodesEvaluated || 0} evaluated, ${m.NodesFiltered || 0} filtered, ${m.NodesExhausted || 0} exhausted)</span></li>`)}</ul>`;
}

/** An allocations table. */
export function allocTable(allocs, opts = {}) {
  if (!allocs.length) return empty("No allocations", opts.hint || "");
  return html`<div class="table-wrap"><table class="table"><thead><tr><th>ID</th>${opts.job ? html`<th>Job</th>` : ""}<th>Group</th><th>Status</th><th class="hide-sm">Node</th><th class="hide-sm">Version</th><th>Created</th><th class="hide-sm">Duration</th></tr></thead><tbody>
    ${allocs.map((a) => {
      let start = 0, end = 0;
      for (const t of Object.values(a.TaskStates || {})) {
        if (t.StartedAt && (!start || t.StartedAt < start)) start = t.StartedAt;
        if (t.FinishedAt > end) end = t.FinishedAt;
      }
      const d = start ? ((a.ClientStatus === "running" ? Date.now() * 1e6 : end) || Date.now() * 1e6) - start : 0;
      const status = a.DesiredStatus !== "run" && a.ClientStatus !== "complete" && a.ClientStatus !== "failed" ? "stopped" : a.ClientStatus;
      return html`<tr data-alloc-id="${a.ID}"><td class="mono"><a href="${paths.alloc(a.ID)}" data-nav>${short(a.ID)}</a></td>${opts.job ? html`<td><a href="${paths.job(a.JobID)}" data-nav>${a.JobID}</a></td>` : ""}<td>${a.TaskGroup}</td><td>${badge(status)}</td>
        <td class="hide-sm"><a href="${paths.runner(a.NodeID)}" data-nav>${a.NodeName || short(a.NodeID)}</a></td><td class="hide-sm">v${a.JobVersion}</td><td>${when(a.CreateTime)}</td><td class="hide-sm">${start ? dur(d) : html`<span class="faint">—</span>`}</td></tr>`;
    })}</tbody></table></div>`;
}

/** An evaluations table. */
export function evalTable(evals, opts = {}) {
  if (!evals.length) return empty("No evaluations");
  return html`<div class="table-wrap"><table class="table"><thead><tr><th>ID</th>${opts.job ? html`<th>Job</th>` : ""}<th>Status</th><th>Triggered by</th><th class="hide-sm">Priority</th><th>Created</th><th>Placement failures</th></tr></thead><tbody>
    ${evals.map((e) => html`<tr data-eval-id="${e.ID}"><td class="mono"><a href="${paths.eval(e.ID)}" data-nav>${short(e.ID)}</a></td>${opts.job ? html`<td><a href="${paths.job(e.JobID)}" data-nav>${e.JobID}</a></td>` : ""}<td>${badge(e.Status)}${e.StatusDescription ? html`<div class="cell-sub">${e.StatusDescription}</div>` : ""}</td><td>${e.TriggeredBy}</td><td class="hide-sm">${e.Priority}</td><td>${when(e.CreateTime)}</td>
      <td>${Object.keys(e.FailedTGAllocs || {}).length ? failuresHtml(e.FailedTGAllocs) : html`<span class="faint">none</span>`}</td></tr>`)}</tbody></table></div>`;
}

function groupCards(job, summary) {
  const groups = (job.TaskGroups || []).map((tg) => {
    const s = (summary.Summary || {})[tg.Name] || {};
    const res = (tg.Tasks || []).reduce((acc, t) => ({ cpu: acc.cpu + ((t.Resources && t.Resources.CPU) || 0), mem: acc.mem + ((t.Resources && t.Resources.MemoryMB) || 0) }), { cpu: 0, mem: 0 });
    const cells = ["Queued", "Starting", "Running", "Complete", "Failed", "Lost"];
    return html`<div class="card"><h2>${tg.Name} <span class="faint">× ${tg.Count}</span></h2>
      <div class="grid grid-3" style="gap:8px">${cells.map((c) => html`<div class="stat stat-${c === "Running" ? "ok" : c === "Failed" || c === "Lost" ? "bad" : c === "Complete" ? "done" : "warn"}"><div class="v">${s[c] || 0}</div><div class="k">${c}</div></div>`)}</div>
      <p class="muted" style="margin:10px 0 0">${(tg.Tasks || []).map((t) => t.Name + " (" + t.Driver + ")").join(", ")} · asks ${mhz(res.cpu)}, ${mb(res.mem)} per instance</p></div>`;
  });
  return html`<div class="grid grid-2">${groups}</div>`;
}

function scheduleCard(job, views) {
  const schedules = Array.isArray(views) && views.length ? views.map((s) => ({ id: s.ID, cron: s.Cron, zone: s.TimeZone, enabled: s.Enabled, policy: s.ConcurrencyPolicy, deadline: s.StartingDeadlineSeconds, next: s.NextRunAt }))
    : job.Schedules && job.Schedules.length ? job.Schedules.map((s) => ({ id: s.ID, cron: s.Cron, zone: s.TimeZone, enabled: s.Enabled, policy: s.ConcurrencyPolicy, deadline: s.StartingDeadlineSeconds, next: s.NextRunAt || s.NextLaunch }))
    : job.Periodic && job.Periodic.Spec ? [{ id: "default", cron: job.Periodic.Spec, zone: job.Periodic.TimeZone, enabled: job.Periodic.Enabled, policy: (job.Meta || {})["schedule.concurrency_policy"] || (job.Periodic.ProhibitOverlap ? "FORBID" : "ALLOW"), deadline: (job.Meta || {})["schedule.starting_deadline_seconds"] }] : [];
  if (!schedules.length) return html``;
  return html`<div class="card" id="schedules"><h2>Schedules</h2><div class="table-wrap"><table class="table"><thead><tr><th>ID</th><th>Cron</th><th>Time zone</th><th>Policy</th><th class="hide-sm">Starting deadline</th><th>Next launches</th></tr></thead><tbody>
    ${schedules.map((s) => {
      const computed = s.enabled && !job.Stop ? nextLaunches(s.cron, s.zone, 3) : null;
      // The server's next launch wins; the browser adds the two after it.
      const next = s.next && computed ? [new Date(s.next / 1e6), ...computed.filter((d) => d.getTime() > s.next / 1e6).slice(0, 2)] : computed;
      return html`<tr><td>${s.id}</td><td class="mono">${s.cron}</td><td>${s.zone || "UTC"}</td><td>${s.policy || "ALLOW"}</td><td class="hide-sm">${s.deadline !== undefined && s.deadline !== "" ? `${s.deadline}s` : "—"}</td>
      <td>${!s.enabled || job.Stop ? badge("stopped", "paused") : next ? html`${next.map((d, i) => html`<div class="${i ? "faint" : ""}" data-next-launch="${d.toISOString()}">${d.toLocaleString(undefined, { weekday: "short", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" })} ${when(d.getTime() * 1e6)}</div>`)}` : html`<span class="faint">—</span>`}</td></tr>`;
    })}</tbody></table></div></div>`;
}

function childrenCard(job, children, queue) {
  if (!isTemplate(job) && !children.length) return html``;
  const held = new Map(queue.map((q) => [q.JobID, q]));
  return html`<div class="card card-flush" id="children"><h2>${job.ParameterizedJob ? "Dispatched runs" : "Runs launched"} <span class="faint">· ${children.length}</span></h2>
    ${queue.length ? html`<div style="padding:0 18px"><div class="alert alert-warn">${queue.length} dispatch${queue.length === 1 ? "" : "es"} waiting: max ${job.ParameterizedJob ? job.ParameterizedJob.MaxConcurrent : "?"} concurrent. <a href="/ui/queue" data-nav>Open the queue</a></div></div>` : ""}
    ${children.length ? html`<div class="table-wrap"><table class="table"><thead><tr><th>Run</th><th>Status</th><th>Submitted</th><th class="hide-sm">Meta</th></tr></thead><tbody>
      ${children.slice(0, 50).map((c) => html`<tr data-child-id="${c.ID}"><td><a href="${paths.job(c.ID)}" data-nav>${c.ID.slice(job.ID.length + 1) || c.ID}</a></td>
        <td>${held.has(c.ID) ? badge("queued", `queued #${held.get(c.ID).Position}`) : c.Stop && c.Status !== "dead" ? badge("stopped") : badge(c.Status)}</td><td>${when(c.SubmitTime)}</td>
        <td class="hide-sm"><div class="chips">${Object.entries(c.Meta || {}).filter(([k, v]) => v !== "" && !(k in (job.Meta || {}))).map(([k, v]) => html`<span class="tag">${k}=${v}</span>`)}</div></td></tr>`)}</tbody></table></div>` : empty("No runs yet", job.ParameterizedJob ? "Dispatch the job to start one." : "Use Run now, or wait for the schedule.")}</div>`;
}

function runsCard(runs) {
  const c = runCounts(runs);
  const finished = c.complete + c.failed;
  return html`<div class="card" id="runs"><h2>Recent runs</h2>
    <div class="grid grid-4" style="margin-bottom:14px"><div class="stat stat-ok"><div class="v" id="runs-succeeded">${c.complete}</div><div class="k">Succeeded</div></div>
    <div class="stat stat-bad"><div class="v" id="runs-failed">${c.failed}</div><div class="k">Failed</div></div>
    <div class="stat stat-done"><div class="v">${c.running}</div><div class="k">Running</div></div>
    <div class="stat"><div class="v">${finished ? Math.round((c.complete / finished) * 100) + "%" : "—"}</div><div class="k">Success rate</div></div></div>
    ${runsChart(runs)}</div>`;
}

function versionsHtml(data) {
  const versions = data.Versions || [];
  const diffs = data.Diffs || [];
  return html`<div class="card card-flush"><div class="table-wrap"><table class="table"><thead><tr><th>Version</th><th>Submitted</th><th>Stable</th><th>Changes from the previous version</th></tr></thead><tbody>
    ${versions.map((v, i) => {
      const d = diffs[i];
      const fields = [];
      const walk = (prefix, obj) => {
        for (const f of (obj && obj.Fields) || []) if (f.Type !== "None") fields.push(`${prefix}${f.Name}: ${f.Old || "∅"} → ${f.New || "∅"}`);
        for (const o of (obj && obj.Objects) || []) if (o.Type !== "None") walk(`${prefix}${o.Name}.`, o);
        for (const tg of (obj && obj.TaskGroups) || []) if (tg.Type !== "None") { walk(`${prefix}${tg.Name}.`, tg); for (const t of tg.Tasks || []) if (t.Type !== "None") walk(`${prefix}${tg.Name}.${t.Name}.`, t); }
      };
      if (d) walk("", d);
      return html`<tr><td><strong>v${v.Version}</strong></td><td>${when(v.SubmitTime)}</td><td>${v.Stable ? badge("ok", "stable") : html`<span class="faint">—</span>`}</td>
        <td>${i === versions.length - 1 ? html`<span class="faint">first version</span>` : fields.length ? html`<div class="mono" style="white-space:pre-wrap">${fields.slice(0, 12).join("\n")}${fields.length > 12 ? `\n… ${fields.length - 12} more` : ""}</div>` : html`<span class="faint">no spec changes</span>`}</td></tr>`;
    })}</tbody></table></div></div>`;
}

/** Mounts the job detail page. */
export async function mount(root, params, app) {
  const id = params.id;
  let tab = "overview";
  let job = null;
  setHtml(root, html`<div class="page"><div class="crumbs"><a href="/ui/jobs" data-nav>Jobs</a> / <span id="crumb-parent"></span>${id}</div>
    <div class="page-head"><div><div class="title-row"><h1 id="job-title">${id}</h1><span id="job-status"></span><span id="job-tags"></span></div><p class="subtitle" id="job-desc"></p></div>
      <div class="actions" id="job-actions"></div></div>
    <div class="tabs" role="tablist">${TABS.map((t) => html`<button type="button" data-tab="${t}" id="tab-${t}" class="${t === tab ? "active" : ""}">${t[0].toUpperCase() + t.slice(1)}</button>`)}</div>
    <div id="job-live"><div class="loading">Loading…</div></div></div>`);
  const live = root.querySelector("#job-live");

  const actions = () => {
    const template = isTemplate(job);
    const list = [];
    if (template && job.ParameterizedJob) list.push(html`<a class="btn btn-primary" href="${paths.jobDispatch(job.ID)}" data-nav id="action-dispatch">Dispatch</a>`);
    else if (!job.ParentID && (job.Type === "batch" || template)) list.push(html`<button class="btn btn-primary" data-action="run-now" id="action-run-now" ${job.Stop ? html`disabled` : ""}>&#9654; Run now</button>`);
    list.push(html`<a class="btn" href="${paths.jobEdit(job.ID)}" data-nav id="action-edit">Edit</a>`);
    if (job.Stop) list.push(html`<button class="btn" data-action="start" id="action-start">Start</button>`);
    else list.push(html`<button class="btn btn-danger" data-action="stop" id="action-stop">Stop</button>`);
    list.push(html`<button class="btn btn-danger" data-action="delete" id="action-delete">Delete</button>`);
    return html`${list}`;
  };

  const refresh = async () => {
    try {
      job = await get(jobPath(id));
    } catch (err) {
      setHtml(live, html`<div class="alert alert-error">${errText(err)}</div>`);
      setHtml(root.querySelector("#job-actions"), html``);
      return;
    }
    const template = isTemplate(job);
    setHtml(root.querySelector("#job-status"), job.Stop && job.Status !== "dead" ? badge("stopped") : badge(job.Status));
    setHtml(root.querySelector("#job-tags"), html`<span class="tag">${job.Type}</span>${template && job.ParameterizedJob ? html`<span class="tag tag-accent">parameterized</span>` : template ? html`<span class="tag tag-accent">scheduled</span>` : ""}${job.Dispatched ? html`<span class="tag">dispatched</span>` : ""}<span class="tag">v${job.Version}</span><span class="tag">${job.Namespace}</span>`);
    root.querySelector("#job-desc").textContent = (job.Meta && job.Meta.description) || (job.ParentID ? `A run of ${job.ParentID}` : "");
    setHtml(root.querySelector("#crumb-parent"), job.ParentID ? html`<a href="${paths.job(job.ParentID)}" data-nav>${job.ParentID}</a> / ` : html``);
    if (job.ParentID) root.querySelector("#job-title").textContent = job.ID.slice(job.ParentID.length + 1) || job.ID;
    setHtml(root.querySelector("#job-actions"), actions());
    const [summary, allocs, children, queue, scheduleViews] = await Promise.all([
      get(`${jobPath(id)}/summary`),
      get(`${jobPath(id)}/allocations`),
      get(`${jobPath(id)}/children`).catch(() => []),
      job.ParameterizedJob ? getOptional(`${jobPath(id)}/queue`).then((q) => q || []) : Promise.resolve([]),
      template && !job.ParameterizedJob ? getOptional(`${jobPath(id)}/schedules`).catch(() => null) : Promise.resolve(null),
    ]);
    if (tab === "overview") {
      const runs = template || children.length || allocs.length ? await loadRuns(job, template ? [] : allocs, children, 40) : [];
      setHtml(live, html`${job.Stop ? html`<div class="alert alert-warn">This job is stopped${job.Periodic ? ": its schedule launches nothing until it is started again" : ""}.</div>` : ""}
        ${template ? "" : groupCards(job, summary)}
        ${template ? scheduleCard(job, scheduleViews) : ""}${runsCard(runs)}${childrenCard(job, children, queue)}
        ${!template && allocs.length ? html`<div class="card card-flush"><h2>Latest allocations</h2>${allocTable(allocs.slice(0, 5))}</div>` : ""}`);
    } else if (tab === "runs") {
      const runs = await loadRuns(job, template ? [] : allocs, children, 200);
      setHtml(live, html`${runsCard(runs.slice(-60))}<div class="card card-flush"><div class="table-wrap"><table class="table"><thead><tr><th>Run</th><th>Outcome</th><th>Submitted</th><th>Duration</th><th>Logs</th></tr></thead><tbody>
        ${[...runs].reverse().map((r) => html`<tr><td>${r.kind === "job" ? html`<a href="${paths.job(r.id)}" data-nav>${r.id.slice(id.length + 1)}</a>` : r.kind === "alloc" ? html`<a class="mono" href="${paths.alloc(r.id)}" data-nav>${short(r.id)}</a>` : r.id}</td><td>${badge(r.status)}${r.reason ? html`<div class="cell-sub">${r.reason}</div>` : ""}</td><td>${when(r.submitted)}</td><td>${r.start ? dur((r.end || Date.now() * 1e6) - r.start) : "—"}</td><td>${r.allocId ? html`<a href="${paths.alloc(r.allocId)}" data-nav>view</a>` : ""}</td></tr>`)}</tbody></table></div></div>`);
    } else if (tab === "allocations") {
      setHtml(live, html`<div class="card card-flush">${allocTable(allocs, { hint: template ? "Allocations belong to the job's runs; open a run to see them." : "" })}</div>`);
    } else if (tab === "evaluations") {
      const evals = await get(`${jobPath(id)}/evaluations`);
      setHtml(live, html`<div class="card card-flush">${evalTable(evals)}</div>`);
    } else if (tab === "versions") {
      setHtml(live, versionsHtml(await get(`${jobPath(id)}/versions?diffs=true`)));
    } else {
      setHtml(live, html`<div class="card"><pre class="mono" style="margin:0;white-space:pre-wrap;word-break:break-all" id="job-definition">${JSON.stringify(job, null, 2)}</pre></div>`);
    }
  };

  root.querySelector(".tabs").addEventListener("click", (ev) => {
    const b = ev.target.closest("[data-tab]");
    if (!b) return;
    tab = b.dataset.tab;
    for (const x of root.querySelectorAll("[data-tab]")) x.classList.toggle("active", x === b);
    setHtml(live, html`<div class="loading">Loading…</div>`);
    refresh();
  });
  root.querySelector("#job-actions").addEventListener("click", async (ev) => {
    const b = ev.target.closest("[data-action]");
    if (!b || !job) return;
    const action = b.dataset.action;
    try {
      if (action === "run-now") {
        b.disabled = true;
        const started = await runNow(job);
        app.toast(started === job.ID ? "Run started" : `Started ${started}`, "ok");
        if (started !== job.ID) app.navigate(paths.job(started));
        else refresh();
      } else if (action === "stop") {
        if (!(await app.confirm(`Stop ${job.ID}?`, "Its allocations are stopped and its schedule launches nothing. The job and its history are kept.", "Stop job"))) return;
        await send("DELETE", jobPath(job.ID));
        app.toast(`Stopped ${job.ID}`, "ok");
        refresh();
      } else if (action === "start") {
        const copy = { ...job, Stop: false };
        await send("PUT", "/v1/jobs", { Job: copy });
        app.toast(`Started ${job.ID}`, "ok");
        refresh();
      } else if (action === "delete") {
        if (!(await app.confirm(`Delete ${job.ID}?`, "The job, its versions and its history are purged. This cannot be undone.", "Delete job"))) return;
        await send("DELETE", `${jobPath(job.ID)}?purge=true`);
        app.toast(`Deleted ${job.ID}`, "ok");
        app.navigate(job.ParentID ? paths.job(job.ParentID) : "/ui/jobs");
      }
    } catch (err) {
      b.disabled = false;
      app.toast(errText(err), "error");
    }
  });
  await refresh();
  return app.onChange(["Job", "Allocation", "Evaluation"], () => (job ? refresh() : null));
}
