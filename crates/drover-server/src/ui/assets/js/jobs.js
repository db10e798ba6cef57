// Jobs: every job (children folded under their parent) grouped by the dotted
// prefix of their ID, with status, type, namespace, labels and last run.

import { get } from "./api.js";
import { html, setHtml, badge, when, paths, jobGroup, empty, errText, jobPath } from "./util.js";
import { RUN_STATUS } from "./runs.js";

const filters = { search: "", status: "", type: "" };

function typeTags(job) {
  return html`<span class="tag">${job.Type}</span>${job.Periodic ? html`<span class="tag tag-accent">scheduled</span>` : ""}${job.ParameterizedJob ? html`<span class="tag tag-accent">parameterized</span>` : ""}`;
}

function labels(meta) {
  const entries = Object.entries(meta || {}).filter(([k]) => k !== "description");
  if (!entries.length) return html`<span class="faint">—</span>`;
  return html`<div class="chips">${entries.slice(0, 4).map(([k, v]) => html`<span class="tag">${k}=${v}</span>`)}${entries.length > 4 ? html`<span class="tag">+${entries.length - 4}</span>` : ""}</div>`;
}

function summaryBar(job) {
  const totals = { running: 0, complete: 0, failed: 0, queued: 0, starting: 0, lost: 0 };
  const summary = (job.JobSummary && job.JobSummary.Summary) || {};
  for (const tg of Object.values(summary)) {
    totals.running += tg.Running; totals.complete += tg.Complete; totals.failed += tg.Failed;
    totals.queued += tg.Queued; totals.starting += tg.Starting; totals.lost += tg.Lost;
  }
  const children = (job.JobSummary && job.JobSummary.Children) || { Pending: 0, Running: 0, Dead: 0 };
  const n = Object.values(totals).reduce((a, b) => a + b, 0);
  const text = Object.entries(totals).filter(([, v]) => v).map(([k, v]) => `${v} ${k}`).join(", ");
  if (!n) {
    const c = children.Pending + children.Running + children.Dead;
    return c ? html`<span class="muted">${c} run${c === 1 ? "" : "s"}: ${children.Running} running, ${children.Pending} pending</span>` : html`<span class="faint">no allocations</span>`;
  }
  return html`<div class="stack" title="${text}">${Object.entries(totals).filter(([, v]) => v).map(([k, v]) => html`<span class="s-${k}" style="width:${(v / n) * 100}%"></span>`)}</div>`;
}

/** The newest run of a scheduled or parameterized job: its run record (kept
 * after its child job is garbage-collected), else its newest child. */
function lastRun(job, children, latestRuns) {
  const run = latestRuns.get(job.ID);
  if (run) {
    const status = RUN_STATUS[run.Status] || "pending";
    return html`<span data-last-run="${run.ID}">${when(run.CreatedAt)} ${badge(status)}</span>`;
  }
  const kids = children.get(job.ID) || [];
  if (kids.length) {
    const latest = kids.reduce((a, b) => (a.SubmitTime > b.SubmitTime ? a : b));
    return html`${when(latest.SubmitTime)} ${badge(latest.Status)}`;
  }
  if (job.Periodic || job.ParameterizedJob) return html`<span class="faint">not yet run</span>`;
  return when(job.SubmitTime);
}

function matches(job) {
  if (filters.status && job.Status !== filters.status) return false;
  if (filters.type === "scheduled" && !job.Periodic) return false;
  if (filters.type === "parameterized" && !job.ParameterizedJob) return false;
  if (filters.type && !["scheduled", "parameterized"].includes(filters.type) && job.Type !== filters.type) return false;
  if (filters.search) {
    const needle = filters.search.toLowerCase();
    const hay = [job.ID, job.Name, job.Namespace, ...Object.entries(job.Meta || {}).map(([k, v]) => `${k}=${v}`)].join(" ").toLowerCase();
    if (!hay.includes(needle)) return false;
  }
  return true;
}

function table(jobs, latestRuns) {
  const children = new Map();
  for (const job of jobs) {
    if (job.ParentID) {
      if (!children.has(job.ParentID)) children.set(job.ParentID, []);
      children.get(job.ParentID).push(job);
    }
  }
  const top = jobs.filter((j) => !j.ParentID || !jobs.some((p) => p.ID === j.ParentID)).filter(matches);
  if (!jobs.length) return empty("No jobs yet", html`Create one with the button above, or run <code>drover job run example.hcl</code>.`);
  if (!top.length) return empty("No jobs match the filters");
  const groups = new Map();
  for (const job of top) {
    const group = jobGroup(job.ID);
    if (!groups.has(group)) groups.set(group, []);
    groups.get(group).push(job);
  }
  const names = [...groups.keys()].sort((a, b) => (a === "" ? 1 : b === "" ? -1 : a.localeCompare(b)));
  const showGroups = names.length > 1 || names[0] !== "";
  return html`<div class="card card-flush"><div class="table-wrap"><table class="table" id="jobs-table">
    <thead><tr><th>Job</th><th>Status</th><th>Type</th><th class="hide-sm">Namespace</th><th class="hide-sm">Labels</th><th class="hide-sm">Allocations</th><th>Last run</th></tr></thead>
    <tbody>${names.map((name) => html`${showGroups ? html`<tr class="group-row"><td colspan="7">${name ? html`&#9656; ${name}` : "ungrouped"} <span class="faint">· ${groups.get(name).length}</span></td></tr>` : ""}
      ${groups.get(name).sort((a, b) => a.ID.localeCompare(b.ID)).map((job) => html`<tr data-job-id="${job.ID}">
        <td><div class="cell-main"><a href="${paths.job(job.ID)}" data-nav>${job.ID}</a></div>${job.Meta && job.Meta.description ? html`<div class="cell-sub">${job.Meta.description}</div>` : ""}</td>
        <td>${job.Stop && job.Status !== "dead" ? badge("stopped") : badge(job.Status)}</td>
        <td>${typeTags(job)}</td>
        <td class="hide-sm">${job.Namespace}</td>
        <td class="hide-sm">${labels(job.Meta)}</td>
        <td class="hide-sm">${summaryBar(job)}</td>
        <td>${lastRun(job, children, latestRuns)}</td></tr>`)}`)}</tbody></table></div></div>`;
}

/** Mounts the jobs list. */
export async function mount(root, _params, app) {
  setHtml(root, html`<div class="page">
    <div class="page-head"><div><h1>Jobs</h1><p class="subtitle" id="jobs-subtitle">&nbsp;</p></div>
      <div class="actions"><a class="btn btn-primary" href="/ui/jobs/new" data-nav id="create-job">+ Create job</a></div></div>
    <div class="toolbar">
      <input class="search" type="search" id="job-search" placeholder="Search by ID, namespace or label…" value="${filters.search}" aria-label="Search jobs">
      <select id="job-status" aria-label="Status"><option value="">All statuses</option><option value="running">Running</option><option value="pending">Pending</option><option value="dead">Dead</option></select>
      <select id="job-type" aria-label="Type"><option value="">All types</option><option value="batch">Batch</option><option value="service">Service</option><option value="system">System</option><option value="sysbatch">Sysbatch</option><option value="scheduled">Scheduled</option><option value="parameterized">Parameterized</option></select>
    </div>
    <div id="jobs-live"><div class="loading">Loading jobs…</div></div></div>`);
  root.querySelector("#job-status").value = filters.status;
  root.querySelector("#job-type").value = filters.type;
  let jobs = [];
  let latestRuns = new Map();
  const live = root.querySelector("#jobs-live");
  const draw = () => {
    setHtml(live, table(jobs, latestRuns));
    const top = jobs.filter((j) => !j.ParentID);
    const running = top.filter((j) => j.Status === "running").length;
    root.querySelector("#jobs-subtitle").textContent = `${top.length} job${top.length === 1 ? "" : "s"} · ${running} running · ${jobs.length - top.length} runs of scheduled and parameterized jobs`;
  };
  const refresh = async () => {
    try {
      const listed = await get("/v1/jobs?meta=true");
      const templates = listed.filter((j) => !j.ParentID && (j.Periodic || j.ParameterizedJob));
      const newest = await Promise.all(templates.map((j) => get(`${jobPath(j.ID)}/runs?limit=1`).catch(() => [])));
      jobs = listed;
      latestRuns = new Map(templates.map((j, i) => [j.ID, Array.isArray(newest[i]) ? newest[i][0] : undefined]).filter(([, run]) => run));
      draw();
    } catch (err) {
      setHtml(live, html`<div class="alert alert-error">${errText(err)}</div>`);
    }
  };
  root.querySelector("#job-search").addEventListener("input", (ev) => { filters.search = ev.target.value; draw(); });
  root.querySelector("#job-status").addEventListener("change", (ev) => { filters.status = ev.target.value; draw(); });
  root.querySelector("#job-type").addEventListener("change", (ev) => { filters.type = ev.target.value; draw(); });
  await refresh();
  return app.onChange(["Job", "Allocation", "Run"], refresh);
}
