// Allocation: status, task states and events, resources asked, live
// stdout / stderr with follow; Stop and Restart.

import { get, send, streamText } from "./api.js";
import { html, setHtml, badge, when, dur, paths, short, errText, mhz, mb } from "./util.js";

/** Mounts the allocation page. */
export async function mount(root, params, app) {
  const id = params.id;
  let alloc = await get(`/v1/allocation/${encodeURIComponent(id)}`);
  const tasks = Object.keys((alloc.AllocatedResources && alloc.AllocatedResources.Tasks) || alloc.TaskStates || {});
  const taskNames = tasks.length ? tasks : (((alloc.Job && alloc.Job.TaskGroups) || []).find((g) => g.Name === alloc.TaskGroup) || { Tasks: [] }).Tasks.map((t) => t.Name);
  setHtml(root, html`<div class="page">
    <div class="crumbs"><a href="/ui/jobs" data-nav>Jobs</a> / <a href="${paths.job(alloc.JobID)}" data-nav>${alloc.JobID}</a> / Allocation</div>
    <div class="page-head"><div><div class="title-row"><h1 class="mono">${short(alloc.ID)}</h1><span id="alloc-status"></span></div><p class="subtitle">${alloc.Name}</p></div>
      <div class="actions"><button class="btn" data-action="restart" id="alloc-restart">Restart</button><button class="btn btn-danger" data-action="stop" id="alloc-stop">Stop</button></div></div>
    <div id="alloc-live"></div>
    <div class="card"><h2>Logs</h2>
      <div class="log-bar"><select id="log-task" aria-label="Task">${taskNames.map((t) => html`<option value="${t}">${t}</option>`)}</select>
        <div class="seg" id="log-type"><button type="button" data-type="stdout" class="active">stdout</button><button type="button" data-type="stderr">stderr</button></div>
        <label class="check"><input type="checkbox" id="log-follow" checked> Follow</label><span class="muted" id="log-state"></span></div>
      <pre class="logs" id="logs" tabindex="0" aria-label="Task log"></pre></div></div>`);
  const live = root.querySelector("#alloc-live");
  const logsEl = root.querySelector("#logs");
  let logType = "stdout";
  let controller = null;

  const render = () => {
    const status = alloc.DesiredStatus !== "run" && !["complete", "failed"].includes(alloc.ClientStatus) ? "stopped" : alloc.ClientStatus;
    setHtml(root.querySelector("#alloc-status"), badge(status));
    const resources = (alloc.AllocatedResources && alloc.AllocatedResources.Tasks) || {};
    setHtml(live, html`<div class="grid grid-2"><div class="card"><h2>Placement</h2><dl class="kv">
        <dt>Job</dt><dd><a href="${paths.job(alloc.JobID)}" data-nav>${alloc.JobID}</a> <span class="tag">v${alloc.JobVersion}</span></dd>
        <dt>Group</dt><dd>${alloc.TaskGroup}</dd>
        <dt>Runner</dt><dd><a href="${paths.runner(alloc.NodeID)}" data-nav>${alloc.NodeName || short(alloc.NodeID)}</a></dd>
        <dt>Evaluation</dt><dd><a class="mono" href="${paths.eval(alloc.EvalID)}" data-nav>${short(alloc.EvalID)}</a></dd>
        <dt>Created</dt><dd>${when(alloc.CreateTime)}</dd><dt>Modified</dt><dd>${when(alloc.ModifyTime)}</dd>
        <dt>Client</dt><dd>${alloc.ClientDescription || "—"}</dd>
        ${alloc.DesiredDescription ? html`<dt>Desired</dt><dd>${alloc.DesiredStatus}: ${alloc.DesiredDescription}</dd>` : ""}
        ${alloc.PreviousAllocation ? html`<dt>Replaces</dt><dd><a class="mono" href="${paths.alloc(alloc.PreviousAllocation)}" data-nav>${short(alloc.PreviousAllocation)}</a></dd>` : ""}
        ${alloc.NextAllocation ? html`<dt>Replaced by</dt><dd><a class="mono" href="${paths.alloc(alloc.NextAllocation)}" data-nav>${short(alloc.NextAllocation)}</a></dd>` : ""}
      </dl></div>
      <div class="card"><h2>Resources asked</h2><div class="table-wrap"><table class="table"><thead><tr><th>Task</th><th>CPU</th><th>Memory</th></tr></thead><tbody>
        ${Object.entries(resources).map(([t, r]) => html`<tr><td>${t}</td><td>${mhz(r.Cpu && r.Cpu.CpuShares)}</td><td>${mb(r.Memory && r.Memory.MemoryMB)}</td></tr>`)}</tbody></table></div>
        <p class="muted">Disk: ${mb(alloc.AllocatedResources && alloc.AllocatedResources.Shared ? alloc.AllocatedResources.Shared.DiskMB : 0)} shared. Usage figures are not reported by clients yet.</p></div></div>
      ${Object.entries(alloc.TaskStates || {}).map(([name, t]) => html`<div class="card" data-task="${name}"><h2>${name} ${badge(t.State === "dead" ? (t.Failed ? "failed" : "complete") : t.State)} ${t.Restarts ? html`<span class="tag">${t.Restarts} restart${t.Restarts === 1 ? "" : "s"}</span>` : ""}</h2>
        <p class="muted">${t.StartedAt ? html`Started ${when(t.StartedAt)}` : "Not started"}${t.FinishedAt ? html` · finished ${when(t.FinishedAt)} · ran ${dur(t.FinishedAt - t.StartedAt)}` : ""}</p>
        <ul class="timeline">${[...(t.Events || [])].reverse().map((e) => html`<li><span class="muted">${new Date(e.Time / 1e6).toLocaleTimeString()}</span><strong>${e.Type}</strong><span>${e.DisplayMessage || e.Message}${e.DriverError ? html` <span class="badge badge-bad">${e.DriverError}</span>` : ""}</span></li>`)}</ul></div>`)}`);
  };

  const startLogs = () => {
    if (controller) controller.abort();
    controller = new AbortController();
    const signal = controller.signal;
    const task = root.querySelector("#log-task").value;
    const follow = root.querySelector("#log-follow").checked;
    logsEl.textContent = "";
    logsEl.classList.toggle("stderr", logType === "stderr");
    const state = root.querySelector("#log-state");
    state.textContent = follow ? "following…" : "";
    const url = `/v1/client/fs/logs/${encodeURIComponent(id)}?task=${encodeURIComponent(task)}&type=${logType}&follow=${follow}&plain=true&origin=start`;
    streamText(url, (text) => {
      const atBottom = logsEl.scrollTop + logsEl.clientHeight >= logsEl.scrollHeight - 8;
      logsEl.append(text);
      if (atBottom) logsEl.scrollTop = logsEl.scrollHeight;
    }, signal).then(() => {
      if (!signal.aborted) state.textContent = logsEl.textContent ? "end of log" : "(empty)";
    }).catch((err) => {
      if (!signal.aborted) state.textContent = `logs unavailable: ${errText(err)}`;
    });
  };

  root.querySelector("#log-type").addEventListener("click", (ev) => {
    const b = ev.target.closest("[data-type]");
    if (!b) return;
    logType = b.dataset.type;
    for (const x of root.querySelectorAll("#log-type button")) x.classList.toggle("active", x === b);
    startLogs();
  });
  root.querySelector("#log-task").addEventListener("change", startLogs);
  root.querySelector("#log-follow").addEventListener("change", startLogs);
  root.querySelector(".actions").addEventListener("click", async (ev) => {
    const b = ev.target.closest("[data-action]");
    if (!b) return;
    try {
      if (b.dataset.action === "stop") {
        if (!(await app.confirm("Stop this allocation?", "The scheduler may place a replacement, as the job's policy says.", "Stop allocation"))) return;
        await send("POST", `/v1/allocation/${encodeURIComponent(id)}/stop`, {});
        app.toast("Allocation stopping", "ok");
      } else {
        await send("POST", `/v1/client/allocation/${encodeURIComponent(id)}/restart`, {});
        app.toast("Restart requested", "ok");
        setTimeout(startLogs, 500);
      }
    } catch (err) { app.toast(errText(err), "error"); }
  });
  render();
  startLogs();
  const unsubscribe = app.onChange(["Allocation"], async () => {
    try { alloc = await get(`/v1/allocation/${encodeURIComponent(id)}`); render(); } catch (_) { /* gone */ }
  });
  return () => { unsubscribe(); if (controller) controller.abort(); };
}
