// Live updates: one event stream for the whole app; pages register a refresh
// that runs (debounced) when a relevant object changes. Relative times tick.

import { eventStream } from "./api.js";
import { tickTimes } from "./util.js";

const listeners = new Set();
let pending = null;
let topics = new Set();

/**
 * Calls `refresh()` (debounced) after events whose topic is in `wanted`
 * (e.g. ["Job", "Allocation"]). Returns the unsubscribe function.
 */
export function onChange(wanted, refresh) {
  const entry = { wanted: new Set(wanted), refresh };
  listeners.add(entry);
  return () => listeners.delete(entry);
}

function flush() {
  pending = null;
  const seen = topics;
  topics = new Set();
  for (const entry of listeners) {
    if ([...entry.wanted].some((t) => seen.has(t))) {
      Promise.resolve(entry.refresh()).catch((err) => console.warn("refresh failed", err));
    }
  }
}

/** Starts the stream and the relative-time ticker. */
export function startLive(setState) {
  const controller = new AbortController();
  eventStream((events) => {
    for (const ev of events) topics.add(ev.Topic);
    if (!pending) pending = setTimeout(flush, 250);
  }, setState, controller.signal);
  setInterval(() => tickTimes(), 10000);
  return controller;
}
