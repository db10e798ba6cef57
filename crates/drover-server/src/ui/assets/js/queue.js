// Queue: work not yet running, oldest first, with why it waits: held
// dispatches (max_concurrent), blocked evaluations (no room), pending
// evaluations (waiting for a scheduler) and allocations not started yet.

import { get, getOptional, send } from "./api.js";
import { html, setHtml, badge, when, paths, short, errText, empty, jobPath } from "./util.js";
import { failureReasons } from "./job.js";

/** Every waiting item, in the order it will be taken: the server's `/v1/queue` when it has one, else derived. */
export async function loadQueue() {
  const served = await getOptional("/v1/queue?namespace=*").catch(() => null);
  if (served && Array.isArray(served.Queued)) {
    const items = served.Queued.map((q) => ({ kind: q.Kind, jobId: q.JobID, evalId: q.EvalID, allocId: q.AllocID, at: q.Since, position: q.Position, why: q.Reason }));
    // The server lists the first 1,000 and counts the rest.
    items.total = Math.max(served.QueuedTotal || 0, items.length);
    return items;
  }
  return deriveQueue();
}

async function deriveQueue() {
  const [jobs, blocked, pending, allocs] = await Promise.all([
    get("/v1/jobs?namespace=*").catch(() => get("/v1/jobs")),
    get("/v1/evaluations?status=blocked&namespace=*"),
    get("/v1/evaluations?status=pending&namespace=*"),
    get("/v1/allocations?namespace=*"),
  ]);
  const byId = new Map(jobs.map((j) => [j.ID, j]));
  const items = [];
  const held = new Set();
  const parents = jobs.filter((j) => j.ParameterizedJob);
  const lines = await Promise.all(parents.map((p) => get(`${jobPath(p.ID)}/queue`).catch(() => [])));
  parents.forEach((parent, i) => {
    for (const h of lines[i] || []) {
      held.add(h.JobID);
      const child = byId.get(h.JobID);
      items.push({ kind: "held", jobId: h.JobID, parent: parent.ID, at: child ? child.SubmitTime : 0, position: h.Position,
        why: h.Reason || `waiting for a free slot: ${parent.ID} runs at most its max_concurrent at a time (position ${h.Position})` });
    }
  });
  for (const e of blocked) {
    if (held.has(e.JobID)) continue;
    const reasons = Object.entries(e.FailedTGAllocs || {}).map(([g, m]) => `${g}: ${failureReasons(m).join("; ")}`);
    const queued = Object.values(e.QueuedAllocations || {}).reduce((a, b) => a + b, 0);
    items.push({ kind: "blocked", jobId: e.JobID, evalId: e.ID, at: e.CreateTime, why: `${queued ? `${queued} allocation(s) queued. ` : ""}${reasons.join(" · ") || e.StatusDescription || "no runner has room"}` });
  }
  for (const e of pending) {
    if (held.has(e.JobID)) continue;
    items.push({ kind: "pending", jobId: e.JobID, evalId: e.ID, at: e.CreateTime, why: e.WaitUntil ? "delayed until its reschedule time" : `waiting for a scheduler worker (${e.TriggeredBy})` });
  }
  for (const a of allocs) {
    if (a.ClientStatus !== "pending" || a.DesiredStatus !== "run") continue;
    items.push({ kind: "starting", jobId: a.JobID, allocId: a.ID, at: a.CreateTime, why: `placed on ${a.NodeName || short(a.NodeID)}; the runner has not started it yet` });
  }
  items.sort((a, b) => a.at - b.at);
  return items;
}

const LABEL = { held: "queued", blocked: "blocked", pending: "pending", starting: "starting", delayed: "pending" };

/** Mounts the queue page. */
export async function mount(root, _params, app) {
  setHtml(root, html`<div class="page"><div class="page-head"><div><h1>Queue</h1><p class="subtitle">Work that is not running yet, oldest first, and why it waits.</p></div></div>
    <div id="queue-live"><div class="loading">Loading…</div></div></div>`);
  const liveEl = root.querySelector("#queue-live");
  const refresh = async () => {
    try {
      const items = await loadQueue();
      setHtml(liveEl, items.length ? html`<div class="card card-flush"><div class="table-wrap"><table class="table" id="queue-table"><thead><tr><th>#</th><th>Job</th><th>State</th><th>Why it waits</th><th>Since</th><th></th></tr></thead><tbody>
        ${items.map((it, i) => html`<tr data-queue-job="${it.jobId}" data-kind="${it.kind}"><td class="num">${i + 1}</td><td><a href="${paths.job(it.jobId)}" data-nav>${it.jobId}</a>${it.evalId ? html`<div class="cell-sub">eval <a href="${paths.eval(it.evalId)}" data-nav>${short(it.evalId)}</a></div>` : ""}${it.allocId ? html`<div class="cell-sub">alloc <a href="${paths.alloc(it.allocId)}" data-nav>${short(it.allocId)}</a></div>` : ""}</td>
          <td>${badge(LABEL[it.kind] || "pending", it.kind === "held" ? "queued" : it.kind)}</td><td>${it.why}</td><td>${when(it.at)}</td>
          <td><button class="btn btn-danger btn-sm" data-cancel="${it.jobId}">Cancel</button></td></tr>`)}</tbody></table></div></div>
        ${items.total > items.length ? html`<p class="subtitle" id="queue-more">Showing the first ${items.length} of ${items.total} waiting items.</p>` : ""}`
        : empty("Nothing is waiting", "Dispatches beyond a job's max_concurrent, and work that no runner has room for, show up here."));
    } catch (err) {
      setHtml(liveEl, html`<div class="alert alert-error">${errText(err)}</div>`);
    }
  };
  liveEl.addEventListener("click", async (ev) => {
    const b = ev.target.closest("[data-cancel]");
    if (!b) return;
    const id = b.dataset.cancel;
    if (!(await app.confirm(`Cancel ${id}?`, "The job is stopped; it leaves the queue and its history is kept.", "Cancel run"))) return;
    try {
      await send("DELETE", jobPath(id));
      app.toast(`Cancelled ${id}`, "ok");
      refresh();
    } catch (err) { app.toast(errText(err), "error"); }
  });
  await refresh();
  return app.onChange(["Job", "Evaluation", "Allocation"], refresh);
}
