// Evaluations: the list (filter by status) and one evaluation's detail with
// its placement failures and allocations.

import { get } from "./api.js";
import { html, setHtml, badge, when, paths, short, errText } from "./util.js";
import { evalTable, failuresHtml, allocTable } from "./job.js";

let statusFilter = "";

/** Mounts the evaluations list or detail. */
export async function mount(root, params, app) {
  if (params.id) return mountDetail(root, params.id, app);
  setHtml(root, html`<div class="page"><div class="page-head"><div><h1>Evaluations</h1><p class="subtitle">Each evaluation is one scheduling decision: why it ran and what it could not place.</p></div></div>
    <div class="toolbar"><select id="eval-status" aria-label="Status"><option value="">All statuses</option><option value="pending">Pending</option><option value="blocked">Blocked</option><option value="complete">Complete</option><option value="failed">Failed</option><option value="canceled">Canceled</option></select></div>
    <div id="evals-live"><div class="loading">Loading…</div></div></div>`);
  const select = root.querySelector("#eval-status");
  select.value = statusFilter;
  const liveEl = root.querySelector("#evals-live");
  const refresh = async () => {
    try {
      const evals = await get(`/v1/evaluations?namespace=*&per_page=200${statusFilter ? `&status=${statusFilter}` : ""}`);
      setHtml(liveEl, html`<div class="card card-flush">${evalTable(evals, { job: true })}</div>`);
    } catch (err) { setHtml(liveEl, html`<div class="alert alert-error">${errText(err)}</div>`); }
  };
  select.addEventListener("change", () => { statusFilter = select.value; refresh(); });
  await refresh();
  return app.onChange(["Evaluation"], refresh);
}

async function mountDetail(root, id, app) {
  setHtml(root, html`<div class="page"><div class="crumbs"><a href="/ui/evaluations" data-nav>Evaluations</a> / ${short(id)}</div><div id="eval-live"><div class="loading">Loading…</div></div></div>`);
  const liveEl = root.querySelector("#eval-live");
  const refresh = async () => {
    try {
      const [e, allocs] = await Promise.all([get(`/v1/evaluation/${encodeURIComponent(id)}`), get(`/v1/evaluation/${encodeURIComponent(id)}/allocations`)]);
      const failed = Object.keys(e.FailedTGAllocs || {}).length;
      setHtml(liveEl, html`<div class="page-head"><div><div class="title-row"><h1 class="mono">${short(e.ID)}</h1>${badge(e.Status)}</div><p class="subtitle">${e.StatusDescription || `Triggered by ${e.TriggeredBy}`}</p></div></div>
        <div class="grid grid-2"><div class="card"><h2>Details</h2><dl class="kv">
          <dt>ID</dt><dd class="mono">${e.ID}</dd><dt>Job</dt><dd><a href="${paths.job(e.JobID)}" data-nav>${e.JobID}</a></dd><dt>Namespace</dt><dd>${e.Namespace}</dd>
          <dt>Type</dt><dd>${e.Type}</dd><dt>Triggered by</dt><dd>${e.TriggeredBy}</dd><dt>Priority</dt><dd>${e.Priority}</dd>
          ${e.NodeID ? html`<dt>Runner</dt><dd><a href="${paths.runner(e.NodeID)}" data-nav>${short(e.NodeID)}</a></dd>` : ""}
          <dt>Created</dt><dd>${when(e.CreateTime)}</dd><dt>Modified</dt><dd>${when(e.ModifyTime)}</dd>
          ${e.BlockedEval ? html`<dt>Blocked eval</dt><dd><a class="mono" href="${paths.eval(e.BlockedEval)}" data-nav>${short(e.BlockedEval)}</a></dd>` : ""}
          ${e.PreviousEval ? html`<dt>Previous eval</dt><dd><a class="mono" href="${paths.eval(e.PreviousEval)}" data-nav>${short(e.PreviousEval)}</a></dd>` : ""}
          ${e.NextEval ? html`<dt>Next eval</dt><dd><a class="mono" href="${paths.eval(e.NextEval)}" data-nav>${short(e.NextEval)}</a></dd>` : ""}
        </dl></div>
        <div class="card"><h2>Placement failures</h2>${failed ? failuresHtml(e.FailedTGAllocs) : html`<p class="muted">Every allocation was placed.</p>`}
          ${Object.keys(e.QueuedAllocations || {}).length ? html`<h3>Queued</h3><div class="chips">${Object.entries(e.QueuedAllocations).map(([g, n]) => html`<span class="tag">${g}: ${n}</span>`)}</div>` : ""}</div></div>
        <div class="card card-flush"><h2>Allocations</h2>${allocTable(allocs, { job: true })}</div>`);
    } catch (err) { setHtml(liveEl, html`<div class="alert alert-error">${errText(err)}</div>`); }
  };
  await refresh();
  return app.onChange(["Evaluation", "Allocation"], refresh);
}
