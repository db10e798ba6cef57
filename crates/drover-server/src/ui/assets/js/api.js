// The JSON API client: token header, errors with the server's message,
// blocking queries, NDJSON event stream and streamed logs.

const TOKEN_KEY = "drover.token";

/** The ACL token kept for this browser session. */
export function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

/** Stores (or clears) the session token. */
export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value); else sessionStorage.removeItem(TOKEN_KEY);
}

/** An API error: HTTP status and the server's message. */
export class ApiError extends Error {
  constructor(status, message, path) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.path = path;
  }
}

function headers(extra = {}) {
  const out = { ...extra };
  const t = token();
  if (t) out["X-Nomad-Token"] = t;
  return out;
}

async function failure(res, path) {
  let text = "";
  try { text = (await res.text()).trim(); } catch (_) { /* body unreadable */ }
  if (res.status === 403) text = `permission denied: ${text || "the token may not do this"}`;
  return new ApiError(res.status, text || `${res.status} ${res.statusText}`, path);
}

/** Sends a request; returns `{ data, index }` (data is JSON, or text when not JSON). */
export async function request(method, path, body, opts = {}) {
  const init = { method, headers: headers(body !== undefined ? { "Content-Type": "application/json" } : {}), signal: opts.signal };
  if (body !== undefined) init.body = JSON.stringify(body);
  const res = await fetch(path, init);
  if (!res.ok) throw await failure(res, path);
  const index = Number(res.headers.get("X-Nomad-Index") || 0);
  const type = res.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await res.json() : await res.text();
  return { data, index };
}

/** GET, returning the JSON body. */
export async function get(path, opts) { return (await request("GET", path, undefined, opts)).data; }

/** GET that answers `null` on 404. */
export async function getOptional(path) {
  try { return await get(path); } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 405)) return null;
    throw err;
  }
}

/** POST / PUT / DELETE with a JSON body. */
export async function send(method, path, body) { return (await request(method, path, body)).data; }

/**
 * A blocking query loop: calls `onData(data)` on each change of `path` until
 * `signal` aborts. Uses `?index=N&wait=30s` and the `X-Nomad-Index` header.
 */
export async function watch(path, onData, signal) {
  let index = 0;
  while (!signal.aborted) {
    const sep = path.includes("?") ? "&" : "?";
    try {
      const res = await request("GET", index ? `${path}${sep}index=${index}&wait=30s` : path, undefined, { signal });
      if (res.index !== index || !index) onData(res.data);
      index = res.index || index;
    } catch (err) {
      if (signal.aborted) return;
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

/**
 * Reads a streamed response, calling `onChunk(text)` per piece; resolves when
 * the stream ends or `signal` aborts.
 */
export async function streamText(path, onChunk, signal, onOpen) {
  const res = await fetch(path, { headers: headers(), signal });
  if (!res.ok) throw await failure(res, path);
  if (onOpen) onOpen();
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      onChunk(decoder.decode(value, { stream: true }));
    }
  } catch (err) {
    if (!signal || !signal.aborted) throw err;
  }
}

/**
 * Follows `/v1/event/stream` (NDJSON), calling `onEvents(events)` per batch and
 * `onState("live" | "down")`; reconnects after failures until `signal` aborts.
 */
export async function eventStream(onEvents, onState, signal) {
  while (!signal.aborted) {
    let buffer = "";
    try {
      await streamText("/v1/event/stream", (text) => {
        buffer += text;
        let nl;
        while ((nl = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, nl).trim();
          buffer = buffer.slice(nl + 1);
          if (!line) continue;
          let batch;
          try { batch = JSON.parse(line); } catch (_) { continue; }
          if (batch.Events && batch.Events.length) onEvents(batch.Events);
        }
      }, signal, () => onState("live"));
    } catch (_) { /* reconnect below */ }
    if (signal.aborted) return;
    onState("down");
    await new Promise((r) => setTimeout(r, 2000));
  }
}
