// Runs of a job: derived from its children (scheduled / dispatched runs) and
// its own allocations; success and failure counts; the recent-runs SVG chart;
// the next launch times of a cron schedule; and "Run now".

import { get, getOptional, send, ApiError } from "./api.js";
import { html, dur, jobPath } from "./util.js";

/** One run from a set of allocation stubs (one child job, or one allocation). */
function fromAllocs(allocs) {
  let start = 0, end = 0, running = false;
  const statuses = allocs.map((a) => a.ClientStatus);
  for (const a of allocs) {
    for (const t of Object.values(a.TaskStates || {})) {
      if (t.StartedAt && (!start || t.StartedAt < start)) start = t.StartedAt;
      if (t.FinishedAt && t.FinishedAt > end) end = t.FinishedAt;
      if (t.State !== "dead") running = true;
    }
  }
  let status = "pending";
  if (statuses.includes("failed") || statuses.includes("lost")) status = "failed";
  else if (statuses.includes("running") || (running && start)) status = "running";
  else if (statuses.length && statuses.every((s) => s === "complete")) status = "complete";
  return { status, start, end: status === "running" ? 0 : end };
}

/** A run record's status in the UI's words (the badges of runs derived from allocations). */
export const RUN_STATUS = { SUCCESS: "complete", FAILED: "failed", ACTIVE: "running", STARTING: "pending", INITIAL: "pending", SKIPPED: "stopped" };

/** The runs of `job`, oldest first (at most `limit`): the server's run records when it keeps them, else derived. */
export async function loadRuns(job, allocs, children, limit = 40) {
  const recorded = await getOptional(`${jobPath(job.ID)}/runs`).catch(() => null);
  if (Array.isArray(recorded) && recorded.length) {
    return recorded.map((r) => {
      const kids = r.ChildJobIDs || [];
      const ids = r.Allocations || [];
      return { id: kids.length ? kids[kids.length - 1] : r.ID, kind: kids.length ? "job" : "run", submitted: r.CreatedAt || r.ScheduledFor, status: RUN_STATUS[r.Status] || "pending",
        start: r.StartedAt || 0, end: r.FinishedAt || 0, allocId: ids.length ? ids[ids.length - 1] : "", reason: r.Reason || r.StopReason || "" };
    }).sort((a, b) => a.submitted - b.submitted).slice(-limit);
  }
  const runs = [];
  const recent = [...children].sort((a, b) => a.SubmitTime - b.SubmitTime).slice(-limit);
  const childAllocs = await Promise.all(recent.map((c) => get(`${jobPath(c.ID)}/allocations`).catch(() => [])));
  recent.forEach((child, i) => {
    const r = fromAllocs(childAllocs[i]);
    if (child.Stop && r.status !== "complete" && r.status !== "failed") r.status = "stopped";
    runs.push({ id: child.ID, kind: "job", submitted: child.SubmitTime, ...r, allocId: childAllocs[i][0] && childAllocs[i][0].ID });
  });
  for (const a of allocs) {
    const r = fromAllocs([a]);
    runs.push({ id: a.ID, kind: "alloc", submitted: a.CreateTime, ...r, allocId: a.ID });
  }
  runs.sort((a, b) => a.submitted - b.submitted);
  return runs.slice(-limit);
}

/** Success / failure / active counts. */
export function runCounts(runs) {
  const c = { complete: 0, failed: 0, running: 0, pending: 0 };
  for (const r of runs) {
    if (r.status in c) c[r.status] += 1;
    else if (r.status !== "stopped") c.pending += 1;
  }
  return c;
}

const COLOURS = { complete: "#22c55e", failed: "#ef4444", running: "#3b82f6", pending: "#f59e0b", stopped: "#9aa1b2" };

/** Inline SVG: one bar per run, height = duration, colour = outcome. */
export function runsChart(runs) {
  if (!runs.length) return html`<div class="empty"><div class="empty-title">No runs yet</div><div class="empty-hint">Runs appear here when the job is launched.</div></div>`;
  const now = Date.now() * 1e6;
  const durations = runs.map((r) => (r.start ? (r.end || now) - r.start : 0));
  const max = Math.max(...durations, 1e9);
  const W = 760, H = 170, left = 46, bottom = 22, top = 10;
  const slot = (W - left) / Math.max(runs.length, 12);
  const bw = Math.max(4, Math.min(28, slot * 0.7));
  const bars = runs.map((r, i) => {
    const h = r.start ? Math.max(3, ((durations[i]) / max) * (H - top - bottom)) : 3;
    const x = left + i * slot + (slot - bw) / 2;
    const y = H - bottom - h;
    const label = `${r.id} · ${r.status}${r.start ? ` · ${dur(durations[i])}` : ""} · ${new Date(r.submitted / 1e6).toLocaleString()}`;
    return html`<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${bw.toFixed(1)}" height="${h.toFixed(1)}" rx="2" fill="${COLOURS[r.status] || COLOURS.pending}" data-run="${r.id}"><title>${label}</title></rect>`;
  });
  const first = new Date(runs[0].submitted / 1e6), last = new Date(runs[runs.length - 1].submitted / 1e6);
  const fmt = (d) => d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  return html`<svg class="chart" id="runs-chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="Duration and outcome of the last ${runs.length} runs">
    <line class="axis" x1="${left}" y1="${H - bottom}" x2="${W}" y2="${H - bottom}"></line>
    <line class="axis" x1="${left}" y1="${top}" x2="${left}" y2="${H - bottom}"></line>
    <line class="axis" x1="${left}" y1="${top}" x2="${W}" y2="${top}" stroke-dasharray="3 4"></line>
    <text x="${left - 6}" y="${top + 4}" text-anchor="end">${dur(max)}</text>
    <text x="${left - 6}" y="${H - bottom}" text-anchor="end">0</text>
    <text x="${left}" y="${H - 6}">${fmt(first)}</text>
    <text x="${W}" y="${H - 6}" text-anchor="end">${fmt(last)}</text>
    ${bars}</svg>
    <div class="legend"><span><i style="background:${COLOURS.complete}"></i>succeeded</span><span><i style="background:${COLOURS.failed}"></i>failed</span><span><i style="background:${COLOURS.running}"></i>running</span><span><i style="background:${COLOURS.pending}"></i>pending</span></div>`;
}

// ---- cron: next launches (display only; the server decides) ----

function parseField(text, min, max, names) {
  const out = new Set();
  for (let part of text.split(",")) {
    let step = 1;
    const slash = part.indexOf("/");
    if (slash >= 0) { step = Number(part.slice(slash + 1)); part = part.slice(0, slash); }
    let lo = min, hi = max;
    if (part !== "*" && part !== "?") {
      const conv = (s) => (names && names[s.toLowerCase()] !== undefined ? names[s.toLowerCase()] : Number(s));
      const dash = part.indexOf("-");
      if (dash >= 0) { lo = conv(part.slice(0, dash)); hi = conv(part.slice(dash + 1)); } else { lo = conv(part); hi = slash >= 0 ? max : lo; }
    }
    if (!isFinite(lo) || !isFinite(hi) || !isFinite(step) || step < 1) return null;
    for (let v = lo; v <= hi; v += step) out.add(v === 7 && max === 7 ? 0 : v);
  }
  return out;
}

const MACROS = { "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *" };
const MONTHS = { jan: 1, feb: 2, mar: 3, apr: 4, may: 5, jun: 6, jul: 7, aug: 8, sep: 9, oct: 10, nov: 11, dec: 12 };
const DAYS = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 };

function zoneOffsetMinutes(zone, at) {
  if (!zone || zone === "UTC") return 0;
  try {
    const parts = new Intl.DateTimeFormat("en-US", { timeZone: zone, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric" }).formatToParts(at);
    const get = (t) => Number(parts.find((p) => p.type === t).value);
    const local = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"));
    return Math.round((local - Math.floor(at.getTime() / 60000) * 60000) / 60000);
  } catch (_) { return null; }
}

/** The next `n` launch times (Date) of a 5- or 6-field cron spec in `zone`, or null if unreadable. */
export function nextLaunches(spec, zone, n = 3) {
  let text = (MACROS[spec.trim()] || spec).trim();
  let fields = text.split(/\s+/);
  if (fields.length === 6) fields = fields.slice(1);
  if (fields.length !== 5) return null;
  const [mi, ho, dm, mo, dw] = [parseField(fields[0], 0, 59), parseField(fields[1], 0, 23), parseField(fields[2], 1, 31), parseField(fields[3], 1, 12, MONTHS), parseField(fields[4], 0, 7, DAYS)];
  if (!mi || !ho || !dm || !mo || !dw) return null;
  const offset = zoneOffsetMinutes(zone, new Date());
  if (offset === null) return null;
  const restrictDm = fields[2] !== "*" && fields[2] !== "?", restrictDw = fields[4] !== "*" && fields[4] !== "?";
  const out = [];
  let t = Math.floor(Date.now() / 60000) + 1;
  for (let i = 0; i < 527040 && out.length < n; i++, t++) {
    const local = new Date((t + offset) * 60000);
    if (!mi.has(local.getUTCMinutes()) || !ho.has(local.getUTCHours()) || !mo.has(local.getUTCMonth() + 1)) continue;
    const dayOk = restrictDm && restrictDw ? dm.has(local.getUTCDate()) || dw.has(local.getUTCDay()) : dm.has(local.getUTCDate()) && dw.has(local.getUTCDay());
    if (dayOk) out.push(new Date(t * 60000));
  }
  return out;
}

/** The child job a manual launch registers (Nomad's periodic-force naming). */
export function childOf(job, kind) {
  const child = JSON.parse(JSON.stringify(job));
  child.ID = `${job.ID}/${kind}-${Math.floor(Date.now() / 1000)}`;
  child.Name = child.ID;
  child.ParentID = job.ID;
  child.Periodic = null;
  child.ParameterizedJob = null;
  if ("Schedules" in child) child.Schedules = [];
  child.Stop = false;
  for (const k of ["Status", "StatusDescription", "Version", "SubmitTime", "CreateIndex", "ModifyIndex", "JobModifyIndex", "Stable"]) delete child[k];
  return child;
}

/**
 * Run now: the server's `periodic/force` when it has one, else a child run
 * registered like one. Returns the ID of the job to follow.
 */
export async function runNow(job) {
  const periodic = !job.ParentID && ((job.Periodic && job.Periodic.Enabled) || (job.Schedules && job.Schedules.length));
  if (periodic) {
    try {
      const before = Date.now() * 1e6 - 5e9;
      const reply = await send("POST", `${jobPath(job.ID)}/periodic/force`, {});
      if (reply && reply.DispatchedJobID) return reply.DispatchedJobID;
      // Nomad's reply names only the evaluation: find the new child.
      for (let i = 0; i < 20; i++) {
        const children = await get(`${jobPath(job.ID)}/children`).catch(() => []);
        const fresh = children.filter((c) => c.SubmitTime >= before).sort((a, b) => b.SubmitTime - a.SubmitTime)[0];
        if (fresh) return fresh.ID;
        await new Promise((r) => setTimeout(r, 250));
      }
      return job.ID;
    } catch (err) {
      const missing = err instanceof ApiError && (err.status === 404 || err.status === 405 || /not allowed|body is empty|Invalid URL|Job must be specified|job not found/i.test(err.message));
      if (!missing) throw err;
    }
  }
  const child = childOf(job, periodic ? "periodic" : "run");
  await send("PUT", "/v1/jobs", { Job: child });
  return child.ID;
}
