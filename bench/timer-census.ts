/**
 * Counts the timer callbacks that actually run in this process, by where they were armed: for
 * bench/agent-child, which installs it before it loads the agent's modules. `setTimeout` and
 * `setInterval` are wrapped; each callback knows the first stack frame outside the wrapper and
 * src/shared/clock (the Clock every agent timer goes through), so the figures say which timer
 * woke the process. Node's own internal timers (socket timeouts, keep-alive) do not go through the
 * globals and are not counted; the OS context-switch count in the child covers them.
 */
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';

export interface CensusFigures {
  /** Timer callbacks that ran during the window. */
  fired: number;
  /** The same, counting callbacks that ran within 1 ms of the previous one once (one wake-up of the event loop). */
  wakeUps: number;
  /** Timers armed during the window (most of the client's and keychain's are cleared before they fire). */
  armed: number;
  /** Milliseconds spent inside those callbacks (synchronous part only). */
  busyMs: number;
  /** Per arming site: callbacks run, timers armed, time inside the callbacks. */
  sites: { site: string; fired: number; armed: number; busyMs: number }[];
}

/** The unwrapped setTimeout: the bench's own waits in the child are not the agent's wake-ups. */
export const uncountedSetTimeout: typeof setTimeout = globalThis.setTimeout;

let counting = false;
let lastFireAt = -Infinity;
let fired = 0;
let wakeUps = 0;
let armed = 0;
let busyMs = 0;
const sites = new Map<string, { fired: number; armed: number; busyMs: number }>();
let installed = false;

/** Replaces the global setTimeout and setInterval with counting ones. Call before importing what is measured. */
export function installTimerCensus(): void {
  if (installed) return;
  installed = true;
  globalThis.setTimeout = wrap('setTimeout', globalThis.setTimeout);
  globalThis.setInterval = wrap('setInterval', globalThis.setInterval);
}

/** Starts a window: every counter back to zero. */
export function startCensus(): void {
  fired = 0;
  wakeUps = 0;
  armed = 0;
  busyMs = 0;
  lastFireAt = -Infinity;
  sites.clear();
  counting = true;
}

export function stopCensus(): CensusFigures {
  counting = false;
  return {
    fired, wakeUps, armed, busyMs,
    sites: [...sites.entries()].map(([site, n]) => ({ site, ...n })).sort((a, b) => b.fired - a.fired || b.armed - a.armed),
  };
}

function wrap<T extends typeof setTimeout | typeof setInterval>(kind: string, real: T): T {
  const wrapped = function (this: unknown, fn: unknown, ms?: number, ...args: unknown[]) {
    if (typeof fn !== 'function') return (real as (...a: unknown[]) => unknown).call(this, fn, ms, ...args);
    const site = `${kind} ${callSite(wrapped)}`;
    if (counting) entry(site).armed++;
    if (counting) armed++;
    const run = function (this: unknown, ...a: unknown[]) {
      if (!counting) return (fn as (...x: unknown[]) => unknown).apply(this, a);
      const start = performance.now();
      fired++;
      if (start - lastFireAt > 1) wakeUps++;
      const e = entry(site);
      e.fired++;
      try {
        return (fn as (...x: unknown[]) => unknown).apply(this, a);
      } finally {
        const end = performance.now();
        e.busyMs += end - start;
        busyMs += end - start;
        lastFireAt = end;
      }
    };
    return (real as (...a: unknown[]) => unknown).call(this, run, ms, ...args);
  };
  // util.promisify(setTimeout) keeps working.
  const custom = (real as unknown as Record<symbol, unknown>)[promisify.custom];
  if (custom) Object.defineProperty(wrapped, promisify.custom, { value: custom });
  return wrapped as unknown as T;
}

function entry(site: string): { fired: number; armed: number; busyMs: number } {
  let e = sites.get(site);
  if (!e) sites.set(site, (e = { fired: 0, armed: 0, busyMs: 0 }));
  return e;
}

/** `Class.method (src/desktop/countdown.js)` of the first frame that is not the wrapper or the Clock. */
function callSite(above: (...a: never[]) => unknown): string {
  const holder: { stack?: string } = {};
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 8;
  Error.captureStackTrace(holder, above);
  Error.stackTraceLimit = limit;
  const frames = (holder.stack ?? '').split('\n').slice(1).map((l) => l.trim().replace(/^at /, ''));
  const frame = frames.find((f) => !f.includes('/src/shared/clock.js')) ?? frames[0] ?? 'unknown';
  const m = /^(?:async )?(.*?) \((.*)\)$/.exec(frame);
  const [name, where] = m ? [m[1]!, m[2]!] : ['<anonymous>', frame];
  const file = where.replace(/:\d+:\d+$/, '').replace(/^file:\/\/.*?\/dist\//, '').replace(/^.*\/node_modules\//, '');
  return `${name} (${file})`;
}
