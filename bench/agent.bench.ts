/**
 * Desktop agent benchmark (not a test): the figures of issue 4, each beside a baseline from the
 * same run on this machine.
 *
 *   (a) resident memory of the agent process with 50 active grants, no window, after settling;
 *       baseline: a process with the same modules loaded and no agent (and an agent with nothing);
 *   (b) timer callbacks per minute with no window, over a whole minute, and which timer each came
 *       from; baseline: an agent with as many grants and its window visible, over the same minute,
 *       and the process with no agent;
 *   (c) a server event → the agent's updated tray model, p50/p99: another user creates (then
 *       cancels) a request the agent's user reviews; baseline: the same HTTP call with no agent.
 *
 * The approval server runs in this process (SQLite, temp data dir, the `latch serve` logger to
 * /dev/null); each agent runs in a child of its own (bench/agent-child), so its memory and timers
 * are its own. Only 127.0.0.1; every wait is bounded. Run: `npm run bench:agent`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { newCodeFor } from '../src/server/auth/identity.js';
import { parseConfig } from '../src/server/config/load.js';
import { createLatchServer, type LatchServer } from '../src/server/server.js';
import type { ChildCommand, ChildMessage, ChildMode, MemoryFigures, WindowFigures } from './agent-child.js';

const HOST = '127.0.0.1';
const GRANTS = 50;
const GRANT_DURATION = '8h';
/**
 * After the first load, before anything is measured: start-up work done, and V8's memory reducer
 * (which returns pages to the OS 10 to 20 s after the last collection, several MiB of RSS) has run.
 */
const SETTLE_MS = 30_000;
/** Each census window: one whole minute, not extrapolated. */
const CENSUS_MS = 60_000;
const EVENTS = 200;
const WARMUP_EVENTS = 10;
const WAIT_MS = 10_000;
const RUN_LIMIT_MS = 5 * 60_000;
const REASON = 'BENCH-1 agent event latency';

const abs = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- a child process running the agent (or the baseline) --------------------------------------------

type Of<T extends ChildMessage['type']> = Extract<ChildMessage, { type: T }>;

const children = new Set<ChildProcess>();

class AgentProcess {
  private waiting: { type: ChildMessage['type']; resolve(m: ChildMessage): void; reject(e: Error): void } | null = null;
  private approvalWaiters = new Map<number, (m: Of<'approvals'>) => void>();
  private exited: Error | null = null;

  private constructor(private readonly proc: ChildProcess) {
    proc.on('message', (m: ChildMessage) => this.onMessage(m));
    proc.on('exit', (code, signal) => {
      children.delete(proc);
      this.exited = new Error(`the agent process exited (${code ?? signal})`);
      this.waiting?.reject(this.exited);
      this.waiting = null;
    });
  }

  static async start(mode: ChildMode): Promise<{ child: AgentProcess; loadMs: number }> {
    const proc = fork(new URL('./agent-child.js', import.meta.url), [mode], { execArgv: ['--expose-gc'], stdio: 'inherit' });
    children.add(proc);
    const child = new AgentProcess(proc);
    const loaded = await child.next('loaded', 30_000);
    return { child, loadMs: loaded.ms };
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  /** Sends `c` and waits for the answer of `type`. */
  ask<T extends ChildMessage['type']>(c: ChildCommand, type: T, timeoutMs = WAIT_MS): Promise<Of<T>> {
    const answer = this.next(type, timeoutMs);
    this.proc.send(c);
    return answer;
  }

  /** Resolves (in the child's time) when its tray next shows `n` pending approvals. */
  approvals(n: number): Promise<Of<'approvals'>> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.approvalWaiters.delete(n);
        reject(new Error(`the tray did not show ${n} pending approvals within ${WAIT_MS} ms`));
      }, WAIT_MS);
      this.approvalWaiters.set(n, (m) => {
        clearTimeout(t);
        resolve(m);
      });
    });
  }

  /** The child's clock minus this process's (performance.timeOrigin-based), from the fastest of 20 round trips. */
  async clockOffset(): Promise<{ offset: number; rtt: number }> {
    let best = { offset: 0, rtt: Infinity };
    for (let i = 0; i < 20; i++) {
      const t0 = abs();
      const { at } = await this.ask({ cmd: 'ping' }, 'pong');
      const t1 = abs();
      if (t1 - t0 < best.rtt) best = { offset: at - (t0 + t1) / 2, rtt: t1 - t0 };
    }
    return best;
  }

  async stop(): Promise<Of<'stopped'>> {
    const stopped = await this.ask({ cmd: 'stop' }, 'stopped');
    await new Promise<void>((resolve) => (this.exited ? resolve() : this.proc.once('exit', () => resolve())));
    return stopped;
  }

  private next<T extends ChildMessage['type']>(type: T, timeoutMs: number): Promise<Of<T>> {
    if (this.exited) return Promise.reject(this.exited);
    if (this.waiting) return Promise.reject(new Error(`already waiting for ${this.waiting.type}`));
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiting = null;
        reject(new Error(`no ${type} from the agent process within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting = {
        type,
        resolve: (m) => {
          clearTimeout(t);
          resolve(m as Of<T>);
        },
        reject: (e) => {
          clearTimeout(t);
          reject(e);
        },
      };
    });
  }

  private onMessage(m: ChildMessage): void {
    if (m.type === 'approvals') {
      const w = this.approvalWaiters.get(m.n);
      this.approvalWaiters.delete(m.n);
      w?.(m);
      return;
    }
    const w = this.waiting;
    if (!w) return;
    if (m.type === 'error') {
      this.waiting = null;
      w.reject(new Error(`agent process: ${m.message}`));
    } else if (m.type === w.type) {
      this.waiting = null;
      w.resolve(m);
    }
  }
}

// ---- the server and plain HTTP ----------------------------------------------------------------------

const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 4 });

function call(url: string, method: string, path: string, token: string, body?: unknown): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(url + path, {
      method, agent: httpAgent, timeout: WAIT_MS,
      headers: { authorization: `Bearer ${token}`, ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : null });
        } catch (err) {
          reject(err as Error);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} took over ${WAIT_MS} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

const ROLES = Array.from({ length: GRANTS }, (_, i) => `r${String(i).padStart(2, '0')}`);

/**
 * alice and erin each hold 50 grants (auto-approved, 8 h); alice also reviews carol's requests on
 * `queue`; bob could approve the grants' requests, but never needs to; dave has nothing at all.
 */
async function startServer(): Promise<{ server: LatchServer; url: string; dataDir: string }> {
  const config = parseConfig(JSON.stringify({
    groups: { holders: { members: ['alice', 'erin'] }, reviewers: { members: ['alice'] }, granters: { members: ['bob'] }, requesters: { members: ['carol'] }, others: { members: ['dave'] } },
    resources: {
      held: { connector: 'pass', roles: Object.fromEntries(ROLES.map((r) => [r, {}])) },
      queue: { connector: 'pass', roles: { read: {} } },
    },
    policies: [
      { resource: 'held', requesters: ['holders'], approvers: { groups: ['granters'] }, autoApprove: [{ groups: ['holders'] }], maxDuration: GRANT_DURATION },
      { resource: 'queue', requesters: ['requesters'], approvers: { groups: ['reviewers'] }, maxDuration: '1h' },
    ],
  }));
  const dataDir = mkdtempSync(join(tmpdir(), 'latch-bench-'));
  const logger = pino({ level: 'info', redact: ['req.headers.authorization', '*.password', '*.token', '*.refreshToken', '*.code'] }, pino.destination({ dest: '/dev/null', sync: false }));
  const server = await createLatchServer({ dataDir, config, logger, publicUrl: 'http://127.0.0.1' });
  return { server, url: await server.listen(HOST, 0), dataDir };
}

async function tokenOf(server: LatchServer, name: string): Promise<string> {
  const { code } = await newCodeFor(server.store, name, Date.now());
  return (await server.tokens.enroll(code, 'bench-setup')).tokens.accessToken;
}

const codeFor = async (server: LatchServer, name: string) => (await newCodeFor(server.store, name, Date.now())).code;

/** 50 grants for the holder of `token`, each auto-approved and active for 8 h. */
async function makeGrants(url: string, token: string): Promise<void> {
  for (const role of ROLES) {
    const r = await call(url, 'POST', '/v1/requests', token, { resource: 'held', role, duration: GRANT_DURATION, reason: REASON });
    if (r.status !== 201 || r.json.state !== 'approved') throw new Error(`the request for ${role}: ${r.status} ${JSON.stringify(r.json)}`);
  }
  const deadline = performance.now() + 30_000;
  for (;;) {
    const g = await call(url, 'GET', '/v1/grants?scope=mine&limit=100', token);
    const active = (g.json as { items: { state: string }[] }).items.filter((x) => x.state === 'active').length;
    if (active === GRANTS) return;
    if (performance.now() > deadline) throw new Error(`only ${active} of ${GRANTS} grants became active within 30 s`);
    await sleep(50);
  }
}

// ---- (c): a server event → the tray --------------------------------------------------------------

interface EventSamples {
  createToEvent: number[];
  createToTray: number[];
  cancelToEvent: number[];
  cancelToTray: number[];
  createCall: number[];
  cancelCall: number[];
}

/**
 * carol creates a request on `queue` and then cancels it, one at a time. With `watcher`, each
 * step also waits for alice's tray to show the pending approval, then to drop it; the clock starts
 * just before the call is sent, and the tray's time is the child's, brought to this clock.
 */
async function events(url: string, carol: string, watcher: { child: AgentProcess; offset: number } | null): Promise<EventSamples> {
  const out: EventSamples = { createToEvent: [], createToTray: [], cancelToEvent: [], cancelToTray: [], createCall: [], cancelCall: [] };
  const since = (t0: number, at: number | null) => (at === null ? NaN : at - watcher!.offset - t0);
  for (let i = 0; i < WARMUP_EVENTS + EVENTS; i++) {
    const keep = i >= WARMUP_EVENTS;
    const shown = watcher?.child.approvals(1);
    let t0 = abs();
    const created = await call(url, 'POST', '/v1/requests', carol, { resource: 'queue', role: 'read', duration: '30m', reason: REASON });
    let t1 = abs();
    if (created.status !== 201) throw new Error(`carol's request: ${created.status} ${JSON.stringify(created.json)}`);
    if (keep) out.createCall.push(t1 - t0);
    if (shown) {
      const m = await shown;
      if (keep) out.createToEvent.push(since(t0, m.eventAt));
      if (keep) out.createToTray.push(since(t0, m.at));
    }
    const gone = watcher?.child.approvals(0);
    t0 = abs();
    const cancelled = await call(url, 'POST', `/v1/requests/${created.json.id}/cancel`, carol, {});
    t1 = abs();
    if (cancelled.status !== 200) throw new Error(`carol's cancel: ${cancelled.status} ${JSON.stringify(cancelled.json)}`);
    if (keep) out.cancelCall.push(t1 - t0);
    if (gone) {
      const m = await gone;
      if (keep) out.cancelToEvent.push(since(t0, m.eventAt));
      if (keep) out.cancelToTray.push(since(t0, m.at));
    }
  }
  return out;
}

// ---- figures ----------------------------------------------------------------------------------------

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function busyShare(ms: number): Promise<number> {
  const total = (c: ReturnType<typeof cpus>) => c.reduce((s, x) => s + x.times.user + x.times.nice + x.times.sys + x.times.irq + x.times.idle, 0);
  const idle = (c: ReturnType<typeof cpus>) => c.reduce((s, x) => s + x.times.idle, 0);
  const before = cpus();
  await sleep(ms);
  const after = cpus();
  const all = total(after) - total(before);
  return all > 0 ? 1 - (idle(after) - idle(before)) / all : 0;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join(' | ');
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.slice(1).map(line)].join('\n');
}

const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '–');
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '–');
const perMin = (n: number, ms: number) => (n * 60_000) / ms;

// ---- the run ----------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = new Date();
  const cpu = cpus();
  const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');
  const busy = await busyShare(1000);
  console.log(`Latch desktop agent benchmark — ${started.toISOString()}`);
  console.log(`${cpu.length} CPU (${cpu[0]?.model.trim() ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${process.platform}, Node ${process.version}`);
  console.log(`before the run: ${Math.round(busy * 100)}% of the CPUs busy over 1 s (load average ${load()})\n`);
  if (busy > 0.15) console.log('warning: something else is using the CPUs; these figures will be noisy\n');

  const { server, url, dataDir } = await startServer();
  try {
    const alice = await tokenOf(server, 'alice');
    const carol = await tokenOf(server, 'carol');
    console.log(`setting up: ${GRANTS} grants each for alice and erin, auto-approved for ${GRANT_DURATION}…`);
    await makeGrants(url, alice);
    await makeGrants(url, await tokenOf(server, 'erin'));

    // Four processes side by side, so every one is measured over the same minute at the same age
    // (past V8's memory reducer, which returns pages to the OS 10 to 20 s after a collection):
    // the baseline (the agent's modules, no agent); dave's agent (nothing held); alice's agent
    // (50 grants, no window, the reviewer of carol's requests); erin's agent (50 grants, window visible).
    console.log('starting four processes: the baseline (the agent\'s modules loaded, no agent) and the agents of dave (nothing held), alice (no window) and erin (window visible)…');
    const [base, empty, held, shown] = await Promise.all([AgentProcess.start('baseline'), AgentProcess.start('agent'), AgentProcess.start('agent'), AgentProcess.start('agent')]);
    const emptyEnrolled = await empty.child.ask({ cmd: 'enroll', url, code: await codeFor(server, 'dave'), grants: 0 }, 'enrolled', 40_000);
    const heldEnrolled = await held.child.ask({ cmd: 'enroll', url, code: await codeFor(server, 'alice'), grants: GRANTS }, 'enrolled', 40_000);
    await shown.child.ask({ cmd: 'enroll', url, code: await codeFor(server, 'erin'), grants: GRANTS }, 'enrolled', 40_000);
    await shown.child.ask({ cmd: 'window', visible: true }, 'window');
    console.log(`settling for ${SETTLE_MS / 1000} s…`);
    await sleep(SETTLE_MS);

    console.log(`(b) timers: ${CENSUS_MS / 1000} s, in the three processes at once…`);
    const census = (p: AgentProcess) => p.ask({ cmd: 'census', ms: CENSUS_MS }, 'census', CENSUS_MS + WAIT_MS).then((m) => m.figures);
    const [hidden, visible, baseTimers] = await Promise.all([census(held.child), census(shown.child), census(base.child)]);
    await shown.child.stop();

    console.log('(a) memory…');
    const baseMem = (await base.child.ask({ cmd: 'memory' }, 'memory')).figures;
    const emptyMem = (await empty.child.ask({ cmd: 'memory' }, 'memory')).figures;
    const heldMem = (await held.child.ask({ cmd: 'memory' }, 'memory')).figures;
    await base.child.stop();
    await empty.child.stop();

    console.log(`(c) ${EVENTS} requests created and cancelled by carol → alice's tray (after ${WARMUP_EVENTS} for warm-up)…`);
    const clock = await held.child.clockOffset();
    const tStart = performance.now();
    const withAgent = await events(url, carol, { child: held.child, offset: clock.offset });
    const withAgentS = (performance.now() - tStart) / 1000;
    const stopped = await held.child.stop();
    console.log(`(c) baseline: the same calls with no agent connected…`);
    const alone = await events(url, carol, null);

    // ---- (a) ----
    const memRow = (what: string, m: MemoryFigures): string[] => [what, mib(m.rss), mib(m.heapUsed), mib(m.external)];
    console.log(`\n(a) Memory of each process, ${(SETTLE_MS + CENSUS_MS) / 1000} s after the agents were ready (MiB; heap and external after gc())\n`);
    console.log(table([
      ['process', 'RSS', 'heap used', 'external'],
      memRow('baseline: the same modules loaded, no agent', baseMem),
      memRow('agent signed in, nothing held or to review (dave)', emptyMem),
      memRow(`agent with ${GRANTS} active grants, no window (alice)`, heldMem),
      ['  difference: 50-grant agent − baseline', mib(heldMem.rss - baseMem.rss), mib(heldMem.heapUsed - baseMem.heapUsed), mib(heldMem.external - baseMem.external)],
      ['  ratio: 50-grant agent / baseline', f2(heldMem.rss / baseMem.rss), f2(heldMem.heapUsed / baseMem.heapUsed), ''],
      ['  difference: 50 grants − nothing', mib(heldMem.rss - emptyMem.rss), mib(heldMem.heapUsed - emptyMem.heapUsed), mib(heldMem.external - emptyMem.external)],
    ]));

    // ---- (b) ----
    const timerRow = (what: string, w: WindowFigures, how: string): string[] => [
      what, how, f1(perMin(w.fired, w.ms)), f1(perMin(w.wakeUps, w.ms)), f1(perMin(w.trayRenders, w.ms)), f1(perMin(w.snapshotsPushed, w.ms)),
      f1(perMin(w.busyMs, w.ms)), f1(perMin(w.cpuMs, w.ms)), f1(perMin(w.voluntaryCtxSwitches, w.ms)),
    ];
    console.log(`\n(b) Per minute, measured over the same ${CENSUS_MS / 1000} s in each process\n`);
    console.log(table([
      ['process', 'window', 'timer callbacks', 'loop wake-ups', 'tray renders', 'snapshots pushed', 'ms in timers', 'CPU ms', 'ctx switches'],
      timerRow('baseline: modules loaded, no agent', baseTimers, 'none'),
      timerRow(`agent, ${GRANTS} grants (alice)`, hidden, 'hidden'),
      timerRow(`agent, ${GRANTS} grants (erin)`, visible, 'visible'),
      ['  ratio hidden / visible', '', f2(perMin(hidden.fired, hidden.ms) / perMin(visible.fired, visible.ms)), f2(perMin(hidden.wakeUps, hidden.ms) / perMin(visible.wakeUps, visible.ms)), '', '', '', '', ''],
    ]));
    const sites = (w: WindowFigures) =>
      w.sites.length === 0
        ? '  (none)'
        : w.sites.map((s) => `  ${f1(perMin(s.fired, w.ms)).padStart(6)} fired, ${f1(perMin(s.armed, w.ms)).padStart(6)} armed, ${f1(perMin(s.busyMs, w.ms)).padStart(6)} ms inside  ${s.site}`).join('\n');
    console.log(`\nWhat fired per minute, window hidden (alice):\n${sites(hidden)}`);
    console.log(`What fired per minute, window visible (erin):\n${sites(visible)}`);
    console.log(`What fired per minute, baseline:\n${sites(baseTimers)}`);

    // ---- (c) ----
    const latRow = (what: string, xs: number[]): string[] => [what, String(xs.length), f1(percentile(xs, 50)), f1(percentile(xs, 99)), f1(Math.max(...xs))];
    const ratioRow = (a: number[], b: number[]): string[] => ['  ratio: to the tray / the call alone', '', f2(percentile(a, 50) / percentile(b, 50)), f2(percentile(a, 99) / percentile(b, 99)), ''];
    console.log(`\n(c) A server event → alice's tray model (ms)\n`);
    console.log(table([
      ['what', 'n', 'p50', 'p99', 'max'],
      latRow('carol creates a request → the event reaches alice\'s agent', withAgent.createToEvent),
      latRow('carol creates a request → alice\'s tray shows "Pending approvals (1)"', withAgent.createToTray),
      latRow('  baseline: the same POST /v1/requests, no agent connected', alone.createCall),
      ratioRow(withAgent.createToTray, alone.createCall),
      latRow('carol cancels it → the event reaches alice\'s agent', withAgent.cancelToEvent),
      latRow('carol cancels it → alice\'s tray is back to "Pending approvals (0)"', withAgent.cancelToTray),
      latRow('  baseline: the same POST /v1/requests/:id/cancel, no agent connected', alone.cancelCall),
      ratioRow(withAgent.cancelToTray, alone.cancelCall),
    ]));

    console.log(
      `\n(a) The agent and the baseline are each a child process started with --expose-gc; both load the same modules (agent, keychain, settings, sync).` +
        ` Agent start to ready: dave ${f1(emptyEnrolled.ms)} ms, alice ${f1(heldEnrolled.ms)} ms (${heldEnrolled.grants} grants, ${heldEnrolled.secrets} grant credentials fetched into the in-memory keychain).` +
        `\n(b) Timer callbacks: setTimeout/setInterval callbacks that ran in the child (wrapped before the agent's modules loaded); loop wake-ups count callbacks within 1 ms of each other once.` +
        ` Ctx switches: the child's voluntary context switches (all its threads, any cause: timers, the server's heartbeat every 15 s, GC threads). ms in timers: time spent inside those callbacks (their synchronous part). CPU ms: the child's CPU time (all threads, GC included).` +
        ` The visible window (erin's agent, ${GRANTS} grants of its own) is setWindowVisible(true) and an onSnapshot listener that only counts: in the app each push is also an IPC message, not measured here.` +
        `\n(c) One request at a time, each waited for before the next; the first ${WARMUP_EVENTS} are not counted. The clock starts just before the call is sent, in this process;` +
        ` "the event reaches alice's agent" is when her EventStream hands it to its listeners (parsed and validated), just before the agent's own listener;` +
        ` times in the child (performance.timeOrigin + now) are brought to this clock (offset ${f2(clock.offset)} ms, measured to within ±${f2(clock.rtt / 2)} ms).` +
        ` With the agent connected the same calls took p50 ${f1(percentile(withAgent.createCall, 50))} / p99 ${f1(percentile(withAgent.createCall, 99))} ms (create) and` +
        ` p50 ${f1(percentile(withAgent.cancelCall, 50))} / p99 ${f1(percentile(withAgent.cancelCall, 99))} ms (cancel); the ${EVENTS + WARMUP_EVENTS} rounds took ${withAgentS.toFixed(1)} s.` +
        ` The agent raised ${stopped.notifications.shown} notifications and withdrew ${stopped.notifications.withdrawn}; its tray was rendered ${stopped.trayRenders} times in all.`,
    );
    console.log(`\nTook ${((Date.now() - started.getTime()) / 1000).toFixed(0)} s; load average at the end: ${load()}.`);
  } finally {
    for (const c of children) c.kill();
    httpAgent.destroy();
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const guard = setTimeout(() => {
  console.error(`the benchmark took over ${RUN_LIMIT_MS / 60_000} minutes; stopping`);
  for (const c of children) c.kill();
  process.exit(1);
}, RUN_LIMIT_MS);

main().then(
  () => {
    clearTimeout(guard);
    process.exit(0);
  },
  (err: unknown) => {
    console.error(err);
    for (const c of children) c.kill();
    process.exit(1);
  },
);
