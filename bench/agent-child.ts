/**
 * The measured process of bench/agent.bench.ts: the real desktop agent (src/desktop/agent.ts) wired
 * as electron/main.ts wires it — the real LatchClient and EventStream on the system clock, the
 * real Keychain over an in-memory store (no Secret Service needed), a real settings file in a temp
 * directory — with sinks that count instead of drawing. Or, as the baseline, the same modules
 * loaded and no agent.
 *
 * The timer census is installed before any of those modules load. The parent drives it over the
 * IPC channel; nothing is sent to it during a census window, so the channel wakes nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Agent } from '../src/desktop/agent.js';
import type { KeyringBackend } from '../src/desktop/keychain.js';
import type { TrayModel } from '../src/desktop/tray-model.js';
import { installTimerCensus, startCensus, stopCensus, uncountedSetTimeout, type CensusFigures } from './timer-census.js';

installTimerCensus();

export type ChildMode = 'baseline' | 'agent';

export type ChildCommand =
  | { cmd: 'enroll'; url: string; code: string; grants: number }
  | { cmd: 'memory' }
  | { cmd: 'census'; ms: number }
  | { cmd: 'window'; visible: boolean }
  | { cmd: 'ping' }
  | { cmd: 'stop' };

export interface MemoryFigures { rss: number; heapUsed: number; external: number; arrayBuffers: number }

/** What one census window saw, besides the timers. */
export interface WindowFigures extends CensusFigures {
  ms: number;
  trayRenders: number;
  snapshotsPushed: number;
  cpuMs: number;
  voluntaryCtxSwitches: number;
  involuntaryCtxSwitches: number;
}

export type ChildMessage =
  | { type: 'loaded'; ms: number }
  | { type: 'enrolled'; ms: number; grants: number; secrets: number }
  | { type: 'memory'; figures: MemoryFigures }
  | { type: 'census'; figures: WindowFigures }
  | { type: 'window' }
  | { type: 'pong'; at: number }
  | { type: 'stopped'; notifications: { shown: number; withdrawn: number }; trayRenders: number }
  /**
   * The tray's "Pending approvals (n)" changed. `at`: when (this process's absolute time, ms with
   * sub-ms resolution); `eventAt`: when the event stream last delivered an event, before that.
   */
  | { type: 'approvals'; n: number; at: number; eventAt: number | null }
  | { type: 'error'; message: string };

const send = (m: ChildMessage): void => void process.send!(m);
/** Absolute time with sub-millisecond resolution, comparable across processes on one machine. */
const absNow = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => uncountedSetTimeout(r, ms));

const mode = process.argv[2] as ChildMode;
const loadStart = performance.now();
// The same modules in both modes, loaded after the census is installed.
const [{ Agent: AgentClass }, { Keychain }, { SettingsStore, confBackend }, { EventStream, LatchClient }, { systemClock }] = await Promise.all([
  import('../src/desktop/agent.js'),
  import('../src/desktop/keychain.js'),
  import('../src/desktop/settings.js'),
  import('../src/sync/index.js'),
  import('../src/shared/clock.js'),
]);
send({ type: 'loaded', ms: performance.now() - loadStart });

/** The OS keychain, in memory: the Keychain's own logic (index, sweeps, timeouts) still runs. */
class MemoryKeyring implements KeyringBackend {
  readonly storeName = 'in-memory (bench)';
  readonly items = new Map<string, string>();
  async get(account: string): Promise<string | null> {
    return this.items.get(account) ?? null;
  }
  async set(account: string, secret: string): Promise<void> {
    this.items.set(account, secret);
  }
  async delete(account: string): Promise<boolean> {
    return this.items.delete(account);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'latch-bench-agent-'));
const ring = new MemoryKeyring();
let agent: Agent | null = null;
let trayRenders = 0;
let snapshotsPushed = 0;
let lastApprovals = -1;
let lastEventAt: number | null = null;
let latest: TrayModel | null = null;
const notifications = { shown: 0, withdrawn: 0 };


async function enroll(url: string, code: string, grants: number): Promise<void> {
  const t0 = performance.now();
  const a: Agent = new AgentClass({
    clock: systemClock,
    keychain: new Keychain({ backend: ring, clock: systemClock }),
    settings: SettingsStore.open(confBackend({ cwd: dir }), { clock: systemClock }),
    notifier: { show: () => void notifications.shown++, withdraw: () => void notifications.withdrawn++ },
    tray: {
      render(model) {
        trayRenders++;
        latest = model;
        const n = model.approvals;
        if (n !== lastApprovals) {
          lastApprovals = n;
          send({ type: 'approvals', n, at: absNow(), eventAt: lastEventAt });
        }
      },
    },
    clipboard: { write: () => undefined, clear: () => undefined },
    connect: (baseUrl, credentials) => {
      const client = new LatchClient({ baseUrl, credentials, clock: systemClock });
      const events = new EventStream({ client, clock: systemClock, onListenerError: (err) => console.error('agent-child: event listener', err) });
      // Subscribed before the agent's own listener: the time the event came off the stream.
      events.onEvent(() => void (lastEventAt = absNow()));
      return { client, events };
    },
    deviceName: 'bench-laptop',
    onError: (err, context) => console.error(`agent-child: ${context}:`, err instanceof Error ? err.message : err),
  });
  agent = a;
  // The window's subscription: it receives a snapshot each second only while the window shows.
  a.onSnapshot(() => void snapshotsPushed++);
  await a.start();
  const r = await a.enroll(url, code);
  if (!r.ok) throw new Error(`enroll: ${r.error.message}`);
  // Ready: the first load is in, every grant is active in the tray, and each grant's credential is in the keychain.
  const secrets = () => [...ring.items.keys()].filter((k) => k.startsWith('grant:')).length;
  const deadline = performance.now() + 30_000;
  while (!(a.snapshot().phase === 'ready' && a.snapshot().grants.length === grants && secrets() >= grants && latest !== null)) {
    if (performance.now() > deadline) throw new Error(`the agent was not ready within 30 s (phase ${a.snapshot().phase}, ${a.snapshot().grants.length} grants, ${secrets()} secrets)`);
    await sleep(20);
  }
  await a.idle();
  send({ type: 'enrolled', ms: performance.now() - t0, grants: a.snapshot().grants.length, secrets: secrets() });
}

async function census(ms: number): Promise<WindowFigures> {
  const r0 = process.resourceUsage();
  const c0 = process.cpuUsage();
  const tray0 = trayRenders;
  const snap0 = snapshotsPushed;
  startCensus();
  await sleep(ms);
  const timers = stopCensus();
  const c = process.cpuUsage(c0);
  const r = process.resourceUsage();
  return {
    ...timers, ms, trayRenders: trayRenders - tray0, snapshotsPushed: snapshotsPushed - snap0, cpuMs: (c.user + c.system) / 1000,
    voluntaryCtxSwitches: r.voluntaryContextSwitches - r0.voluntaryContextSwitches,
    involuntaryCtxSwitches: r.involuntaryContextSwitches - r0.involuntaryContextSwitches,
  };
}

/**
 * RSS as it stands (a forced collection moves it, and V8's memory reducer, which returns pages to
 * the OS some 10 to 20 s after the last collection, moves it more: the parent measures after the
 * process has idled past that); the heap after a full collection, so it counts live objects only.
 */
async function memory(): Promise<MemoryFigures> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run the child with --expose-gc');
  const { rss } = process.memoryUsage();
  gc();
  await sleep(100);
  gc();
  const m = process.memoryUsage();
  return { rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
}

async function handle(c: ChildCommand): Promise<void> {
  switch (c.cmd) {
    case 'enroll':
      if (mode !== 'agent') throw new Error('the baseline child runs no agent');
      return enroll(c.url, c.code, c.grants);
    case 'memory':
      return send({ type: 'memory', figures: await memory() });
    case 'census':
      return send({ type: 'census', figures: await census(c.ms) });
    case 'window':
      agent?.setWindowVisible(c.visible);
      return send({ type: 'window' });
    case 'ping':
      return send({ type: 'pong', at: absNow() });
    case 'stop':
      await agent?.stop();
      rmSync(dir, { recursive: true, force: true });
      send({ type: 'stopped', notifications, trayRenders });
      process.disconnect();
      return;
    default: {
      const unknown: never = c;
      throw new Error(`unknown command ${JSON.stringify(unknown)}`);
    }
  }
}

process.on('message', (c: ChildCommand) => {
  handle(c).catch((err: unknown) => send({ type: 'error', message: err instanceof Error ? err.message : String(err) }));
});
// The parent went away: leave nothing behind.
process.on('disconnect', () => {
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
});
