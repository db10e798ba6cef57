// The app shell: client-side routing, navigation, toasts, confirmations,
// the settings page (ACL token) and the live-connection indicator.

import { get, token, setToken } from "./api.js";
import { onChange, startLive } from "./live.js";
import { html, setHtml, errText } from "./util.js";

const main = document.getElementById("main");
let cleanup = null;
let generation = 0;

const ROUTES = [
  [/^\/ui\/?$/, () => ({ redirect: "/ui/jobs" })],
  [/^\/ui\/jobs\/?$/, () => ({ page: "jobs", section: "jobs" })],
  [/^\/ui\/jobs\/new$/, () => ({ page: "jobform", section: "jobs", params: {} })],
  [/^\/ui\/jobs\/([^/]+)\/edit$/, (m) => ({ page: "jobform", section: "jobs", params: { id: m[1] } })],
  [/^\/ui\/jobs\/([^/]+)\/dispatch$/, (m) => ({ page: "dispatch", section: "jobs", params: { id: m[1] } })],
  [/^\/ui\/jobs\/([^/]+)$/, (m) => ({ page: "job", section: "jobs", params: { id: m[1] } })],
  [/^\/ui\/allocations\/([^/]+)$/, (m) => ({ page: "alloc", section: "jobs", params: { id: m[1] } })],
  [/^\/ui\/runners\/?$/, () => ({ page: "runners", section: "runners", params: {} })],
  [/^\/ui\/runners\/([^/]+)$/, (m) => ({ page: "runners", section: "runners", params: { id: m[1] } })],
  [/^\/ui\/queue\/?$/, () => ({ page: "queue", section: "queue" })],
  [/^\/ui\/evaluations\/?$/, () => ({ page: "evals", section: "evaluations", params: {} })],
  [/^\/ui\/evaluations\/([^/]+)$/, (m) => ({ page: "evals", section: "evaluations", params: { id: m[1] } })],
  [/^\/ui\/settings\/?$/, () => ({ page: "settings", section: "settings" })],
];

function resolve(pathname) {
  for (const [re, make] of ROUTES) {
    const m = pathname.match(re);
    if (m) {
      const route = make(m);
      if (route.params) for (const k of Object.keys(route.params)) route.params[k] = decodeURIComponent(route.params[k]);
      return route;
    }
  }
  return null;
}

/** Shows a short message in the corner. */
export function toast(message, kind = "info") {
  const box = document.getElementById("toasts");
  const el = document.createElement("div");
  el.className = `toast toast-${kind}`;
  el.setAttribute("role", kind === "error" ? "alert" : "status");
  el.textContent = message;
  box.appendChild(el);
  setTimeout(() => el.classList.add("toast-out"), kind === "error" ? 7000 : 3500);
  setTimeout(() => el.remove(), kind === "error" ? 7600 : 4100);
}

/** A modal confirmation; resolves true when confirmed. */
export function confirmDialog(title, body, confirmLabel = "Confirm", danger = true) {
  return new Promise((resolveChoice) => {
    const root = document.getElementById("modal-root");
    setHtml(root, html`<div class="modal-backdrop"><div class="modal" role="dialog" aria-modal="true" aria-labelledby="modal-title">
      <h2 id="modal-title">${title}</h2><p>${body}</p>
      <div class="modal-actions"><button class="btn" data-choice="no">Cancel</button>
      <button class="btn ${danger ? "btn-danger" : "btn-primary"}" data-choice="yes" id="modal-confirm">${confirmLabel}</button></div></div></div>`);
    const done = (choice) => { root.innerHTML = ""; document.removeEventListener("keydown", onKey); resolveChoice(choice); };
    const onKey = (ev) => { if (ev.key === "Escape") done(false); };
    document.addEventListener("keydown", onKey);
    root.querySelector(".modal-backdrop").addEventListener("click", (ev) => {
      const choice = ev.target.closest("[data-choice]");
      if (choice) done(choice.dataset.choice === "yes");
      else if (ev.target.classList.contains("modal-backdrop")) done(false);
    });
    root.querySelector("#modal-confirm").focus();
  });
}

/** Goes to an in-app path. */
export function navigate(path, replace = false) {
  if (replace) history.replaceState({}, "", path); else history.pushState({}, "", path);
  render();
}

const app = { navigate, toast, confirm: confirmDialog, onChange };

async function render() {
  const gen = ++generation;
  if (cleanup) { try { cleanup(); } catch (err) { console.warn(err); } cleanup = null; }
  document.body.classList.remove("nav-open");
  const route = resolve(location.pathname);
  if (route && route.redirect) { navigate(route.redirect, true); return; }
  for (const a of document.querySelectorAll(".sidebar a[data-section]")) {
    a.classList.toggle("active", !!route && a.dataset.section === route.section);
  }
  if (!route) {
    setHtml(main, html`<div class="page"><h1>Not found</h1><p class="muted">No page at ${location.pathname}.</p><a class="btn" href="/ui/jobs" data-nav>Go to jobs</a></div>`);
    return;
  }
  main.dataset.page = route.page;
  try {
    let result;
    if (route.page === "settings") result = mountSettings(main);
    else {
      const mod = await import(`./${route.page}.js`);
      if (gen !== generation) return;
      result = await mod.mount(main, route.params || {}, app);
    }
    if (gen !== generation) { if (typeof result === "function") result(); return; }
    cleanup = typeof result === "function" ? result : null;
    main.focus({ preventScroll: true });
  } catch (err) {
    if (gen !== generation) return;
    setHtml(main, html`<div class="page"><div class="alert alert-error"><strong>Could not load this page.</strong> ${errText(err)}</div></div>`);
  }
}

function mountSettings(root) {
  setHtml(root, html`<div class="page page-narrow">
    <div class="page-head"><div><h1>Settings</h1><p class="subtitle">Kept in this browser tab only (session storage).</p></div></div>
    <form class="card form" id="settings-form">
      <label class="field"><span class="label">ACL token</span>
        <input type="password" name="token" id="token-input" autocomplete="off" value="${token()}" placeholder="secret ID">
        <span class="hint">Sent as <code>X-Nomad-Token</code> with every request. Actions the token may not do are refused with the server's message.</span></label>
      <div class="form-actions"><button class="btn btn-primary" type="submit">Save</button>
      <button class="btn" type="button" id="token-clear">Clear</button></div>
    </form>
    <div class="card"><h2>Agent</h2><div id="agent-self" class="muted">Loading…</div></div>
  </div>`);
  root.querySelector("#settings-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    setToken(root.querySelector("#token-input").value.trim());
    toast("Token saved for this session", "ok");
  });
  root.querySelector("#token-clear").addEventListener("click", () => {
    setToken("");
    root.querySelector("#token-input").value = "";
    toast("Token cleared", "ok");
  });
  get("/v1/agent/self").then((self) => {
    const el = root.querySelector("#agent-self");
    if (!el) return;
    const member = self.Member || {};
    setHtml(el, html`<dl class="kv"><dt>Name</dt><dd>${member.Name || "—"}</dd><dt>Address</dt><dd>${location.host}</dd>
      <dt>Version</dt><dd>${(self.Config && self.Config.Version) || member.Version || "—"}</dd></dl>`);
  }).catch((err) => {
    const el = root.querySelector("#agent-self");
    if (el) el.textContent = errText(err);
  });
  return null;
}

document.addEventListener("click", (ev) => {
  const a = ev.target.closest("a[data-nav]");
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin) return;
  ev.preventDefault();
  if (url.pathname + url.search !== location.pathname + location.search) navigate(url.pathname + url.search);
});
window.addEventListener("popstate", render);
document.getElementById("menu-btn").addEventListener("click", () => document.body.classList.toggle("nav-open"));

const conn = document.getElementById("conn");
startLive((state) => {
  conn.dataset.state = state;
  conn.querySelector(".conn-text").textContent = state === "live" ? "live" : "reconnecting";
});

async function refreshQueueCount() {
  try {
    const [blocked, pending] = await Promise.all([
      get("/v1/evaluations?status=blocked&namespace=*"), get("/v1/evaluations?status=pending&namespace=*"),
    ]);
    const n = blocked.length + pending.length;
    const el = document.getElementById("queue-count");
    el.textContent = n ? String(n) : "";
  } catch (_) { /* the badge is optional */ }
}
onChange(["Evaluation"], refreshQueueCount);
refreshQueueCount();
get("/v1/agent/self").then((self) => {
  const member = self.Member || {};
  document.getElementById("agent-info").textContent = `${member.Name || "agent"} · ${location.host}`;
}).catch(() => {});

render();
