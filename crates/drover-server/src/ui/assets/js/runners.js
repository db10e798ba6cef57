// Runners (client nodes): health, last heartbeat, pool / class, drivers, CPU
// and memory used and free, running allocations; Test (a probe run pinned to
// the node), Drain and Eligibility toggles. With an ID: one runner's page.

import { get, send, ApiError } from "./api.js";
import { html, setHtml, badge, when, paths, short, errText, mhz, mb, bar, empty, dur } from "./util.js";
import { allocTable } from "./job.js";

const probes = new Map();

function live(alloc) { return alloc.DesiredStatus === "run" && (alloc.ClientStatus === "pending" || alloc.ClientStatus === "running"); }

async function usage(node) {
  const stubs = await get(`/v1/node/${encodeURIComponent(node.ID)}/allocations`);
  const active = stubs.filter(live);
  const full = await Promise.all(active.slice(0, 64).map((a) => get(`/v1/allocation/${encodeURIComponent(a.ID)}`).catch(() => null)));
  let cpu = 0, mem = 0;
  for (const a of full) {
    if (!a || !a.AllocatedResources) continue;
    for (const t of Object.values(a.AllocatedResources.Tasks || {})) {
      cpu += (t.Cpu && t.Cpu.CpuShares) || 0;
      mem += (t.Memory && t.Memory.MemoryMB) || 0;
    }
  }
  const res = node.NodeResources || {}, reserved = node.ReservedResources || {};
  const cpuTotal = ((res.Cpu && res.Cpu.CpuShares) || 0) - ((reserved.Cpu && reserved.Cpu.CpuShares) || 0);
  const memTotal = ((res.Memory && res.Memory.MemoryMB) || 0) - ((reserved.Memory && reserved.Memory.MemoryMB) || 0);
  return { cpu, mem, cpuTotal, memTotal, stubs, active };
}

function health(node) {
  if (node.Status !== "ready") return badge(node.Status);
  if (node.Drain) return badge("draining");
  if (node.SchedulingEligibility !== "eligible") return badge("ineligible");
  return badge("ready", "healthy");
}

function meter(label, used, total, fmt) {
  return html`<div class="meter"><div class="meter-text"><span>${label}</span><span>${fmt(used)} / ${fmt(total)}</span></div>${bar(used, total, `${label}: ${fmt(used)} used, ${fmt(Math.max(0, total - used))} free`)}<div class="meter-text"><span class="faint">${fmt(Math.max(0, total - used))} free</span></div></div>`;
}

function probeHtml(nodeId) {
  const p = probes.get(nodeId);
  if (!p) return html``;
  if (p.state === "running") return html`<div class="alert alert-info" data-probe-state="running">Testing: ${p.step}…</div>`;
  if (p.state === "ok") return html`<div class="alert alert-ok" data-probe-state="ok"><strong>Test passed</strong> in ${dur(p.duration)}: ${p.detail}</div>`;
  return html`<div class="alert alert-error" data-probe-state="failed"><strong>Test failed:</strong> ${p.detail}</div>`;
}

function card(node, u) {
  const drivers = Object.entries(node.Drivers || {}).filter(([, d]) => d.Detected);
  return html`<div class="card runner-card" data-node-id="${node.ID}">
    <h2><a href="${paths.runner(node.ID)}" data-nav>${node.Name}</a> ${health(node)}</h2>
    <div class="meta">${node.Datacenter} · pool ${node.NodePool || "default"}${node.NodeClass ? ` · class ${node.NodeClass}` : ""} · ${node.HTTPAddr || node.Address || ""} · heartbeat ${when(node.LastHeartbeat)}</div>
    <div class="chips">${drivers.map(([name, d]) => html`<span class="tag ${d.Healthy ? "" : "tag-accent"}" title="${d.HealthDescription}">${d.Healthy ? "✓" : "✗"} ${name}</span>`)}</div>
    <div class="meters">${meter("CPU", u.cpu, u.cpuTotal, mhz)}${meter("Memory", u.mem, u.memTotal, mb)}</div>
    <div class="muted">${u.active.length} running allocation${u.active.length === 1 ? "" : "s"}</div>
    <div class="actions"><button class="btn btn-primary btn-sm" data-action="test" ${probes.get(node.ID) && probes.get(node.ID).state === "running" ? html`disabled` : ""}>Test</button>
      <button class="btn btn-sm" data-action="drain">${node.Drain ? "Stop draining" : "Drain"}</button>
      <button class="btn btn-sm" data-action="eligibility">${node.SchedulingEligibility === "eligible" ? "Mark ineligible" : "Mark eligible"}</button></div>
    <div class="probe" data-probe-for="${node.ID}">${probeHtml(node.ID)}</div></div>`;
}

/** Tests a runner: the server's `POST /v1/node/:id/test` when it has one, else the probe run from the browser. */
export async function testRunner(node, onStep) {
  onStep("running a probe job on the runner");
  try {
    const r = await send("POST", `/v1/node/${encodeURIComponent(node.ID)}/test`, {});
    return { ok: !!r.Success, duration: (r.DurationMs || 0) * 1e6, detail: r.Message || (r.Success ? "the probe ran" : "no reason given") };
  } catch (err) {
    const missing = err instanceof ApiError && (err.status === 404 || err.status === 405);
    if (!missing) throw err;
  }
  return probeFromBrowser(node, onStep);
}

/** The probe run: a tiny batch job pinned to the node; purged afterwards. */
async function probeFromBrowser(node, onStep) {
  const drivers = node.Drivers || {};
  const driver = drivers.raw_exec && drivers.raw_exec.Healthy ? "raw_exec" : drivers.mock && drivers.mock.Healthy ? "mock" : Object.keys(drivers).find((d) => drivers[d].Healthy);
  if (!driver) throw new Error("no healthy driver on this runner");
  const id = `drover-probe-${short(node.ID)}-${Date.now()}`;
  const job = {
    ID: id, Name: id, Type: "batch", Priority: 90, Datacenters: ["*"], NodePool: node.NodePool || "default",
    Meta: { "drover.probe": node.ID },
    Constraints: [{ LTarget: "${node.unique.id}", RTarget: node.ID, Operand: "=" }],
    TaskGroups: [{
      Name: "probe", Count: 1,
      RestartPolicy: { Attempts: 0, Interval: 60e9, Delay: 1e9, Mode: "fail" },
      ReschedulePolicy: { Attempts: 0, Interval: 0, Delay: 0, DelayFunction: "constant", Unlimited: false },
      EphemeralDisk: { SizeMB: 10 },
      Tasks: [{ Name: "probe", Driver: driver, Config: driver === "raw_exec" ? { command: "/bin/true" } : driver === "mock" ? { run_for: "0s" } : {}, Resources: { CPU: 20, MemoryMB: 16 }, KillTimeout: 1e9 }],
    }],
  };
  const started = Date.now();
  onStep("registering a probe job");
  await send("PUT", "/v1/jobs", { Job: job });
  try {
    const deadline = Date.now() + 60000;
    while (Date.now() < deadline) {
      const allocs = await get(`/v1/job/${encodeURIComponent(id)}/allocations`);
      const a = allocs[0];
      if (a) {
        onStep(`allocation ${short(a.ID)} is ${a.ClientStatus}`);
        if (a.ClientStatus === "complete") {
          const t = Object.values(a.TaskStates || {})[0] || {};
          return { ok: true, duration: (Date.now() - started) * 1e6, detail: `${driver} ran /bin/true on ${node.Name}${t.StartedAt && t.FinishedAt ? ` (task ${dur(t.FinishedAt - t.StartedAt)})` : ""}` };
        }
        if (a.ClientStatus === "failed" || a.ClientStatus === "lost") {
          const full = await get(`/v1/allocation/${encodeURIComponent(a.ID)}`);
          const events = Object.values(full.TaskStates || {}).flatMap((t) => t.Events || []);
          const bad = events.reverse().find((e) => e.DriverError || e.SetupError || e.FailsTask || e.Type === "Driver Failure" || e.Type === "Terminated");
          return { ok: false, detail: `${a.ClientStatus}: ${bad ? bad.DriverError || bad.SetupError || bad.DisplayMessage || bad.Message : a.ClientDescription || "no reason given"}` };
        }
      } else {
        const evals = await get(`/v1/job/${encodeURIComponent(id)}/evaluations`);
        const failed = evals.find((e) => Object.keys(e.FailedTGAllocs || {}).length);
        if (failed) {
          const m = Object.values(failed.FailedTGAllocs)[0];
          const reasons = [...Object.entries(m.ConstraintFiltered || {}).map(([k, n]) => `${k} filtered ${n}`), ...Object.entries(m.DimensionExhausted || {}).map(([k, n]) => `${k} exhausted on ${n}`)];
          const why = node.SchedulingEligibility !== "eligible" ? "the runner is ineligible for scheduling" : node.Drain ? "the runner is draining" : node.Status !== "ready" ? `the runner is ${node.Status}` : reasons.join("; ") || "no room on the runner";
          return { ok: false, detail: `could not place the probe: ${why}` };
        }
        onStep("waiting for placement");
      }
      await new Promise((r) => setTimeout(r, 300));
    }
    return { ok: false, detail: "the probe did not finish within 60 s" };
  } finally {
    await send("DELETE", `/v1/job/${encodeURIComponent(id)}?purge=true`).catch(() => {});
  }
}

/** Mounts the runners list, or one runner's page. */
export async function mount(root, params, app) {
  const single = params.id;
  setHtml(root, html`<div class="page">${single ? html`<div class="crumbs"><a href="/ui/runners" data-nav>Runners</a> / ${single}</div>` : ""}
    <div class="page-head"><div><h1 id="runners-title">${single ? "Runner" : "Runners"}</h1><p class="subtitle" id="runners-subtitle">&nbsp;</p></div></div>
    <div id="runners-live"><div class="loading">Loading runners…</div></div></div>`);
  const liveEl = root.querySelector("#runners-live");
  let nodes = [];
  const refresh = async () => {
    try {
      if (single) {
        const node = await get(`/v1/node/${encodeURIComponent(single)}`);
        nodes = [node];
        const u = await usage(node);
        root.querySelector("#runners-title").textContent = node.Name;
        root.querySelector("#runners-subtitle").textContent = `${node.ID} · version ${node.Version || "?"}`;
        setHtml(liveEl, html`<div class="grid grid-2">${card(node, u)}<div class="card"><h2>Attributes</h2><dl class="kv">${Object.entries(node.Attributes || {}).slice(0, 30).map(([k, v]) => html`<dt>${k}</dt><dd>${v}</dd>`)}</dl></div></div>
          <div class="card card-flush"><h2>Allocations</h2>${allocTable([...u.stubs].sort((a, b) => b.CreateIndex - a.CreateIndex).slice(0, 50), { job: true })}</div>`);
        return;
      }
      const stubs = await get("/v1/nodes");
      nodes = await Promise.all(stubs.map((s) => get(`/v1/node/${encodeURIComponent(s.ID)}`)));
      const usages = await Promise.all(nodes.map(usage));
      const ready = nodes.filter((n) => n.Status === "ready").length;
      root.querySelector("#runners-subtitle").textContent = `${nodes.length} runner${nodes.length === 1 ? "" : "s"} · ${ready} ready`;
      setHtml(liveEl, nodes.length ? html`<div class="runner-cards">${nodes.map((n, i) => card(n, usages[i]))}</div>` : empty("No runners", "Start a client agent: drover agent -client -servers=…"));
    } catch (err) {
      setHtml(liveEl, html`<div class="alert alert-error">${errText(err)}</div>`);
    }
  };
  liveEl.addEventListener("click", async (ev) => {
    const b = ev.target.closest("[data-action]");
    if (!b) return;
    const nodeId = b.closest("[data-node-id]").dataset.nodeId;
    const node = nodes.find((n) => n.ID === nodeId);
    if (!node) return;
    const action = b.dataset.action;
    try {
      if (action === "test") {
        const paint = () => {
          const el = root.querySelector(`[data-probe-for="${CSS.escape(nodeId)}"]`);
          if (el) setHtml(el, probeHtml(nodeId));
        };
        probes.set(nodeId, { state: "running", step: "starting" });
        b.disabled = true;
        paint();
        let result;
        try {
          result = await testRunner(node, (step) => { probes.set(nodeId, { state: "running", step }); paint(); });
        } catch (err) {
          result = { ok: false, detail: errText(err) };
        }
        probes.set(nodeId, { state: result.ok ? "ok" : "failed", ...result });
        paint();
        const again = root.querySelector(`[data-node-id="${CSS.escape(nodeId)}"] [data-action="test"]`);
        if (again) again.disabled = false;
      } else if (action === "drain") {
        if (!node.Drain && !(await app.confirm(`Drain ${node.Name}?`, "Its allocations are migrated within an hour and nothing new is placed on it.", "Drain"))) return;
        await send("POST", `/v1/node/${encodeURIComponent(nodeId)}/drain`, node.Drain ? { DrainSpec: null } : { DrainSpec: { Deadline: 3600e9 } });
        app.toast(node.Drain ? `${node.Name}: drain stopped` : `${node.Name}: draining`, "ok");
        refresh();
      } else if (action === "eligibility") {
        const next = node.SchedulingEligibility === "eligible" ? "ineligible" : "eligible";
        await send("POST", `/v1/node/${encodeURIComponent(nodeId)}/eligibility`, { Eligibility: next });
        app.toast(`${node.Name} is now ${next}`, "ok");
        refresh();
      }
    } catch (err) { app.toast(errText(err), "error"); }
  });
  await refresh();
  return app.onChange(["Node", "Allocation"], refresh);
}
