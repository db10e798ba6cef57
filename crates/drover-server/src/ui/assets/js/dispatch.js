// Dispatch a parameterized job: payload (text or file, 16 KiB limit), its
// required and optional meta keys, an idempotency token; then follow the run.

import { get, send } from "./api.js";
import { html, setHtml, paths, jobPath, errText, base64 } from "./util.js";

/** The server's payload limit. */
export const PAYLOAD_LIMIT = 16 * 1024;

/** Mounts the dispatch form. */
export async function mount(root, params, app) {
  const job = await get(jobPath(params.id));
  const p = job.ParameterizedJob;
  if (!p) {
    setHtml(root, html`<div class="page"><div class="alert alert-warn">${job.ID} is not a parameterized job; it cannot be dispatched.</div><a class="btn" href="${paths.job(job.ID)}" data-nav>Back to the job</a></div>`);
    return null;
  }
  const payload = p.Payload || "optional";
  const metaField = (key, required) => html`<label class="field" data-field="meta-${key}"><span class="label">${key}${required ? html` <span class="tag tag-accent">required</span>` : html` <span class="tag">optional</span>`}</span>
    <input name="meta" data-key="${key}" data-required="${required ? "1" : ""}" id="meta-${key}" autocomplete="off"><span class="field-error" data-error-for="meta-${key}"></span></label>`;
  setHtml(root, html`<div class="page page-narrow">
    <div class="crumbs"><a href="/ui/jobs" data-nav>Jobs</a> / <a href="${paths.job(job.ID)}" data-nav>${job.ID}</a> / Dispatch</div>
    <div class="page-head"><div><h1>Dispatch ${job.ID}</h1><p class="subtitle">Starts one run of this parameterized job${p.MaxConcurrent ? ` (at most ${p.MaxConcurrent} at a time; more wait in the queue)` : ""}.</p></div></div>
    <form class="card form" id="dispatch-form" novalidate>
      <div class="section"><h2>Payload <span class="tag">${payload}</span></h2>
      ${payload === "forbidden" ? html`<p class="muted">This job takes no payload.</p>` : html`
        <div class="seg" id="payload-mode"><button type="button" data-mode="text" class="active">Text</button><button type="button" data-mode="file">File</button></div>
        <label class="field" style="margin-top:10px" data-field="payload"><textarea id="payload-text" rows="6" placeholder="Payload given to the task as a file"></textarea>
        <input type="file" id="payload-file" hidden><span class="hint" id="payload-size">0 B of 16 KiB</span><span class="field-error" data-error-for="payload"></span></label>`}</div>
      <div class="section"><h2>Meta</h2>
      ${(p.MetaRequired || []).length + (p.MetaOptional || []).length ? html`<div class="form-grid">${(p.MetaRequired || []).map((k) => metaField(k, true))}${(p.MetaOptional || []).map((k) => metaField(k, false))}</div>` : html`<p class="muted">This job declares no meta keys.</p>`}</div>
      <div class="section"><label class="field"><span class="label">Idempotency token</span><input id="idempotency" autocomplete="off" placeholder="optional: a second dispatch with the same token returns the first run"></label></div>
      <div id="dispatch-error"></div>
      <div class="form-actions"><button class="btn btn-primary" type="submit" id="dispatch-submit">Dispatch</button><a class="btn" href="${paths.job(job.ID)}" data-nav>Cancel</a></div>
    </form></div>`);
  const form = root.querySelector("#dispatch-form");
  let mode = "text";
  let fileBytes = null;
  const sizeEl = root.querySelector("#payload-size");
  const currentBytes = () => (mode === "file" ? fileBytes || new Uint8Array() : new TextEncoder().encode((root.querySelector("#payload-text") || { value: "" }).value));
  const showSize = () => {
    if (!sizeEl) return;
    const n = currentBytes().length;
    sizeEl.textContent = `${n < 1024 ? `${n} B` : `${(n / 1024).toFixed(1)} KiB`} of 16 KiB`;
    sizeEl.style.color = n > PAYLOAD_LIMIT ? "var(--bad)" : "";
  };
  const modeEl = root.querySelector("#payload-mode");
  if (modeEl) {
    modeEl.addEventListener("click", (ev) => {
      const b = ev.target.closest("[data-mode]");
      if (!b) return;
      mode = b.dataset.mode;
      for (const x of modeEl.querySelectorAll("button")) x.classList.toggle("active", x === b);
      root.querySelector("#payload-text").hidden = mode !== "text";
      root.querySelector("#payload-file").hidden = mode !== "file";
      showSize();
    });
    root.querySelector("#payload-text").addEventListener("input", showSize);
    root.querySelector("#payload-file").addEventListener("change", async (ev) => {
      const file = ev.target.files[0];
      fileBytes = file ? new Uint8Array(await file.arrayBuffer()) : null;
      showSize();
    });
  }
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const errors = {};
    const meta = {};
    for (const input of form.querySelectorAll('input[name="meta"]')) {
      const value = input.value.trim();
      if (value) meta[input.dataset.key] = value;
      else if (input.dataset.required) errors[`meta-${input.dataset.key}`] = "required";
    }
    const bytes = payload === "forbidden" ? new Uint8Array() : currentBytes();
    if (bytes.length > PAYLOAD_LIMIT) errors.payload = `payload is ${bytes.length} bytes; the limit is ${PAYLOAD_LIMIT}`;
    if (payload === "required" && !bytes.length) errors.payload = "this job requires a payload";
    for (const el of form.querySelectorAll("[data-error-for]")) {
      el.textContent = errors[el.dataset.errorFor] || "";
      el.closest(".field").classList.toggle("invalid", !!errors[el.dataset.errorFor]);
    }
    if (Object.keys(errors).length) return;
    const body = { Meta: meta, IdempotencyToken: root.querySelector("#idempotency").value.trim() };
    if (bytes.length) body.Payload = base64(bytes);
    const button = root.querySelector("#dispatch-submit");
    button.disabled = true;
    try {
      const reply = await send("POST", `${jobPath(job.ID)}/dispatch`, body);
      app.toast(`Dispatched ${reply.DispatchedJobID}`, "ok");
      app.navigate(paths.job(reply.DispatchedJobID));
    } catch (err) {
      button.disabled = false;
      setHtml(root.querySelector("#dispatch-error"), html`<div class="alert alert-error" role="alert">${errText(err)}</div>`);
    }
  });
  showSize();
  return null;
}
