// Small helpers: HTML escaping (every value goes through `html` or `esc`),
// time and size formatting, status colours.

/** HTML that is already safe (built by `html`). */
export class Safe {
  constructor(text) { this.text = text; }
  toString() { return this.text; }
}

/** Escapes text for HTML element content and attribute values. */
export function esc(value) {
  if (value === null || value === undefined) return "";
  return String(value)
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;")
    .replace(/`/g, "&#96;");
}

function part(value) {
  if (value instanceof Safe) return value.text;
  if (Array.isArray(value)) return value.map(part).join("");
  if (value === false || value === null || value === undefined) return "";
  return esc(value);
}

/** Tagged template: interpolated values are escaped unless they are `Safe` (or arrays of them). */
export function html(strings, ...values) {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += part(values[i]) + strings[i + 1];
  return new Safe(out);
}

/** Marks trusted, constant markup as safe. Never pass user data. */
export function raw(text) { return new Safe(text); }

/** Nanoseconds since the epoch -> milliseconds. */
export function nsToMs(ns) { return Math.floor(Number(ns) / 1e6); }

/** "5m ago" / "in 3h" for a nanosecond timestamp. */
export function ago(ns) {
  if (!ns) return "never";
  const diff = (Date.now() - nsToMs(ns)) / 1000;
  const future = diff < 0;
  const s = Math.abs(diff);
  let text;
  if (s < 5) return future ? "in a moment" : "just now";
  if (s < 60) text = `${Math.round(s)}s`;
  else if (s < 3600) text = `${Math.round(s / 60)}m`;
  else if (s < 86400) text = `${Math.round(s / 3600)}h`;
  else text = `${Math.round(s / 86400)}d`;
  return future ? `in ${text}` : `${text} ago`;
}

/** A `<time>` that the ticker keeps relative. */
export function when(ns) {
  if (!ns) return html`<span class="muted">—</span>`;
  const iso = new Date(nsToMs(ns)).toISOString();
  return html`<time data-ns="${ns}" datetime="${iso}" title="${new Date(nsToMs(ns)).toLocaleString()}">${ago(ns)}</time>`;
}

/** Re-renders every relative time on the page. */
export function tickTimes(root = document) {
  for (const el of root.querySelectorAll("time[data-ns]")) el.textContent = ago(el.dataset.ns);
}

/** A duration in nanoseconds as "1.2s", "3m 4s", "2h 5m". */
export function dur(ns) {
  const s = Number(ns) / 1e9;
  if (!isFinite(s) || s < 0) return "—";
  if (s < 1) return `${Math.round(s * 1000)}ms`;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${Math.round(s % 60)}s`;
  return `${Math.floor(s / 3600)}h ${Math.round((s % 3600) / 60)}m`;
}

/** Megabytes as MiB / GiB. */
export function mb(value) {
  const n = Number(value) || 0;
  return n >= 1024 ? `${(n / 1024).toFixed(n >= 10240 ? 0 : 1)} GiB` : `${n} MiB`;
}

/** MHz as MHz / GHz. */
export function mhz(value) {
  const n = Number(value) || 0;
  return n >= 1000 ? `${(n / 1000).toFixed(1)} GHz` : `${n} MHz`;
}

/** First 8 characters of an ID. */
export function short(id) { return String(id || "").slice(0, 8); }

const STATUS_CLASS = {
  running: "ok", ready: "ok", complete: "done", successful: "ok", eligible: "ok", healthy: "ok", success: "ok",
  pending: "warn", starting: "warn", queued: "warn", blocked: "warn", held: "warn", draining: "warn", ineligible: "warn",
  failed: "bad", lost: "bad", down: "bad", canceled: "muted", dead: "muted", stopped: "muted", initializing: "warn",
  disconnected: "bad", unknown: "muted",
};

/** A coloured status pill. */
export function badge(status, label) {
  const key = String(status || "unknown").toLowerCase();
  return html`<span class="badge badge-${STATUS_CLASS[key] || "muted"}"><span class="dot"></span>${label || key}</span>`;
}

/** An in-app link. */
export function link(href, text, cls = "") {
  return html`<a href="${href}" data-nav class="${cls}">${text}</a>`;
}

/** Route paths. IDs may contain "/": they are percent-encoded into one segment. */
export const paths = {
  job: (id) => `/ui/jobs/${encodeURIComponent(id)}`,
  jobEdit: (id) => `/ui/jobs/${encodeURIComponent(id)}/edit`,
  jobDispatch: (id) => `/ui/jobs/${encodeURIComponent(id)}/dispatch`,
  alloc: (id) => `/ui/allocations/${encodeURIComponent(id)}`,
  runner: (id) => `/ui/runners/${encodeURIComponent(id)}`,
  eval: (id) => `/ui/evaluations/${encodeURIComponent(id)}`,
};

/** The API path segment of a job ID. */
export function jobPath(id) { return `/v1/job/${encodeURIComponent(id)}`; }

/** A horizontal usage bar. */
export function bar(used, total, label) {
  const pct = total > 0 ? Math.min(100, Math.round((used / total) * 100)) : 0;
  const level = pct >= 90 ? "bad" : pct >= 70 ? "warn" : "ok";
  return html`<div class="bar" title="${label}"><div class="bar-fill bar-${level}" style="width:${pct}%"></div></div>`;
}

/** An empty-state box. */
export function empty(title, hint = "") {
  return html`<div class="empty"><div class="empty-title">${title}</div>${hint ? html`<div class="empty-hint">${hint}</div>` : ""}</div>`;
}

/** Text of a thrown value. */
export function errText(err) { return err && err.message ? err.message : String(err); }

/** Job group from a dotted ID: "marketing.report" -> "marketing". */
export function jobGroup(id) {
  const dot = String(id).indexOf(".");
  return dot > 0 ? String(id).slice(0, dot) : "";
}

/** Sets `innerHTML` from a `Safe` value. */
export function setHtml(el, safe) {
  if (!(safe instanceof Safe)) throw new Error("setHtml needs escaped html");
  el.innerHTML = safe.text;
}

/** Base64 of bytes (Uint8Array). */
export function base64(bytes) {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}
