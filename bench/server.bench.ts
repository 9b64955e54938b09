/**
 * Server benchmark (not a test): prints figures, side by side, from one run on this machine.
 *
 *   (a) a bare Fastify JSON route — same Fastify, same logger, same body limit — the baseline;
 *   (b) POST /v1/requests on the real Latch server, and the ratio b/a;
 *   (c) full cycles: create → approve (another user) → active (seen on the SSE stream) → end;
 *   (d) approval → the requester's `request.approved` SSE event, with 1,000 streams open.
 *
 * The servers run in this process; the load runs in bench/load-worker (a separate process). Only
 * 127.0.0.1; every phase is bounded in count and time. Run: `npm run bench`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import pino from 'pino';
import { newCodeFor } from '../src/server/auth/identity.js';
import { parseConfig } from '../src/server/config/load.js';
import { BODY_LIMIT } from '../src/server/http/app.js';
import { createLatchServer, type LatchServer } from '../src/server/server.js';
import type { CycleFigures, HttpFigures, Job, SseFigures, Who } from './load-worker.js';

const HOST = '127.0.0.1';
const CONNECTIONS = 32;
const WARMUP_S = 2;
const DURATION_S = 10;
/** (b): requesters × roles distinct (user, role) pairs, so no request meets "already pending". */
const REQUESTERS = 250;
const ROLES = 200;
const APPROVERS = 4;
const CYCLE_WORKERS = 8;
const STREAMS = 1000;
const APPROVALS = 200;
/** The whole run; past this it stops with an error. */
const RUN_LIMIT_MS = 6 * 60_000;

const require = createRequire(import.meta.url);
const version = (pkg: string) => (JSON.parse(readFileSync(require.resolve(`${pkg}/package.json`), 'utf8')) as { version: string }).version;

/** The logger `latch serve` uses (level info, the same redaction), written to /dev/null: its cost counts, the terminal stays clean. */
const logger = () =>
  pino({ level: 'info', redact: ['req.headers.authorization', '*.password', '*.token', '*.refreshToken', '*.code'] }, pino.destination({ dest: '/dev/null', sync: false }));

// ---- the load process -------------------------------------------------------------------------------

let worker: ChildProcess | null = null;
function ask<T>(job: Job): Promise<T> {
  return new Promise((resolve, reject) => {
    worker ??= fork(new URL('./load-worker.js', import.meta.url), { stdio: 'inherit' });
    const onExit = (code: number | null) => reject(new Error(`the load process exited (${code})`));
    const w = worker;
    w.once('exit', onExit);
    w.once('message', (m: { ok: boolean; figures?: T; error?: string }) => {
      w.off('exit', onExit);
      if (m.ok) resolve(m.figures as T);
      else reject(new Error(`load process: ${m.error}`));
    });
    w.send(job);
  });
}

/** CPU time this process (the server) spent, as a share of one core, over a phase. */
async function onServerCpu<T>(fn: () => Promise<T>): Promise<{ result: T; cpu: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const result = await fn();
  const c = process.cpuUsage(c0);
  return { result, cpu: (c.user + c.system) / 1000 / (performance.now() - t0) };
}

/** The share of all CPUs' time spent busy over `ms`, from the kernel's counters. */
async function busyShare(ms: number): Promise<number> {
  const total = (c: ReturnType<typeof cpus>) => c.reduce((s, x) => s + x.times.user + x.times.nice + x.times.sys + x.times.irq + x.times.idle, 0);
  const idle = (c: ReturnType<typeof cpus>) => c.reduce((s, x) => s + x.times.idle, 0);
  const before = cpus();
  await new Promise((r) => setTimeout(r, ms));
  const after = cpus();
  const all = total(after) - total(before);
  return all > 0 ? 1 - (idle(after) - idle(before)) / all : 0;
}

// ---- set-up helpers ---------------------------------------------------------------------------------

const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(4, '0')}`);

async function startLatch(groups: Record<string, string[]>, resources: Record<string, string[]>): Promise<{ server: LatchServer; url: string; dataDir: string }> {
  const config = parseConfig(
    JSON.stringify({
      groups: Object.fromEntries(Object.entries(groups).map(([g, members]) => [g, { members }])),
      resources: Object.fromEntries(Object.entries(resources).map(([r, roles]) => [r, { connector: 'pass', roles: Object.fromEntries(roles.map((role) => [role, {}])) }])),
      policies: Object.keys(resources).map((resource) => ({ resource, requesters: ['requesters'], approvers: { groups: ['approvers'] }, defaultDuration: '30m', maxDuration: '1h' })),
    }),
  );
  const dataDir = mkdtempSync(join(tmpdir(), 'latch-bench-'));
  const server = await createLatchServer({ dataDir, config, logger: logger(), accessTtlS: 3600, publicUrl: 'http://127.0.0.1' });
  const url = await server.listen(HOST, 0);
  return { server, url, dataDir };
}

async function signIn(server: LatchServer, users: string[]): Promise<Who[]> {
  const out: Who[] = [];
  for (const name of users) {
    const { code } = await newCodeFor(server.store, name, Date.now());
    out.push({ name, token: (await server.tokens.enroll(code, 'bench')).tokens.accessToken });
  }
  return out;
}

// ---- the run ----------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = new Date();
  const cpu = cpus();
  const machine = `${cpu.length} CPU (${cpu[0]?.model.trim() ?? 'unknown'}), Node ${process.version}, Fastify ${version('fastify')}, autocannon ${version('autocannon')}`;
  // Anything else running on the machine skews every figure: say how busy it was just before.
  const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');
  const busy = await busyShare(1000);
  console.log(`Latch server benchmark — ${started.toISOString()}\n${machine}\nbefore the run: ${Math.round(busy * 100)}% of the CPUs busy over 1 s (load average ${load()})\n`);
  if (busy > 0.15) console.log('warning: something else is using the CPUs; these figures will be low and noisy\n');
  const httpJob = (url: string, path: string, users: Who[], roles: string[], durationS: number, offset: number, fixed = false): Job =>
    ({ cmd: 'http', url, path, users, roles, connections: CONNECTIONS, durationS, maxRequests: 1_000_000, offset, fixed });

  // (a) the baseline: a bare Fastify app, a request of the same shape (headers, body) and the same
  // connections. Prebuilt once: building each request anew costs the load process more than the
  // bare route costs the server, and the baseline would measure the client.
  console.log(`(a) bare Fastify POST /ok: ${WARMUP_S} s warm-up, ${DURATION_S} s at ${CONNECTIONS} connections…`);
  const bare = Fastify({ loggerInstance: logger() as FastifyBaseLogger, bodyLimit: BODY_LIMIT });
  bare.post('/ok', async () => ({ ok: true }));
  const bareUrl = await bare.listen({ host: HOST, port: 0 });
  const fakeUsers = names('u', REQUESTERS).map((name) => ({ name, token: 'x'.repeat(180) }));
  const roles = names('r', ROLES);
  await ask<HttpFigures>(httpJob(bareUrl, '/ok', fakeUsers, roles, WARMUP_S, 0, true));
  const a = await onServerCpu(() => ask<HttpFigures>(httpJob(bareUrl, '/ok', fakeUsers, roles, DURATION_S, 0, true)));
  await bare.close();

  // (b) and (c) on one Latch server: 250 requesters, 4 approvers, one resource with 200 roles.
  const requesters = names('u', REQUESTERS);
  const approvers = names('a', APPROVERS);
  const latch = await startLatch({ requesters, approvers }, { bench: roles, cycle: ['use'] });
  const who = await signIn(latch.server, [...requesters, ...approvers]);
  const requesterTokens = who.slice(0, REQUESTERS);
  const approverTokens = who.slice(REQUESTERS);

  console.log(`(b) Latch POST /v1/requests: ${WARMUP_S} s warm-up, ${DURATION_S} s at ${CONNECTIONS} connections…`);
  const warm = await ask<HttpFigures>(httpJob(latch.url, '/v1/requests', requesterTokens, roles, WARMUP_S, 0));
  const b = await onServerCpu(() => ask<HttpFigures>(httpJob(latch.url, '/v1/requests', requesterTokens, roles, DURATION_S, warm.sent)));

  console.log(`(c) create → approve → active → end: ${DURATION_S} s, ${CYCLE_WORKERS} at a time…`);
  const c = await onServerCpu(() =>
    ask<CycleFigures>({ cmd: 'cycles', url: latch.url, requesters: requesterTokens.slice(0, CYCLE_WORKERS), approvers: approverTokens, durationS: DURATION_S, maxCycles: 50_000 }),
  );
  await latch.server.close();
  rmSync(latch.dataDir, { recursive: true, force: true });

  // (d) a fresh server with 1,000 users, each with one open stream.
  console.log(`(d) approval → SSE event: ${STREAMS} streams (one per user), ${APPROVALS} approvals one at a time…`);
  const watchers = names('w', STREAMS);
  const sse = await startLatch({ requesters: watchers, approvers: ['a0000'] }, { bench: ['read'] });
  const watcherTokens = await signIn(sse.server, watchers);
  const [approver] = await signIn(sse.server, ['a0000']);
  let openStreamsSeen = 0;
  const sampler = setInterval(() => (openStreamsSeen = Math.max(openStreamsSeen, sse.server.streams.count)), 50);
  const d = await onServerCpu(() => ask<SseFigures>({ cmd: 'sse', url: sse.url, watchers: watcherTokens, approver: approver!, approvals: APPROVALS, resource: 'bench', role: 'read' }));
  clearInterval(sampler);
  await sse.server.close();
  rmSync(sse.dataDir, { recursive: true, force: true });

  await ask({ cmd: 'exit' }).catch(() => undefined);

  // ---- the table ----
  const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '–');
  const pct = (share: number) => `${Math.round(share * 100)}%`;
  const f0 = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');
  const other = (h: HttpFigures) => [...Object.entries(h.other).map(([k, v]) => `${v}×${k}`), ...(h.errors ? [`${h.errors} errors`] : [])].join(', ') || 'none';
  const rows: string[][] = [
    ['scenario', 'throughput', 'p50 ms', 'p99 ms', 'server CPU', 'load CPU', 'not 2xx'],
    ['(a) bare Fastify POST /ok → {ok:true}', `${f0(a.result.perSecond)} req/s`, f1(a.result.p50), f1(a.result.p99), pct(a.cpu), pct(a.result.loadCpu), other(a.result)],
    ['(b) Latch POST /v1/requests (201)', `${f0(b.result.perSecond)} req/s`, f1(b.result.p50), f1(b.result.p99), pct(b.cpu), pct(b.result.loadCpu), other(b.result)],
    ['    ratio b/a', `${(b.result.perSecond / a.result.perSecond).toFixed(3)}`, '', '', '', '', ''],
    [`(c) create→approve→active→end, ${CYCLE_WORKERS} at a time`, `${f1(c.result.perSecond)} cycles/s`, f1(c.result.p50), f1(c.result.p99), pct(c.cpu), pct(c.result.loadCpu), c.result.failed ? `${c.result.failed} failed: ${c.result.firstError}` : 'none'],
    [`(d) approve sent → requester's request.approved, ${f0(d.result.streams)} streams`, `n=${d.result.samples}`, f1(d.result.p50), f1(d.result.p99), pct(d.cpu), pct(d.result.loadCpu), d.result.missed ? `${d.result.missed} missed` : 'none'],
    ['    (the approve call itself, same run)', '', f1(d.result.approveP50), f1(d.result.approveP99), '', '', ''],
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join(' | ');
  console.log(`\n${line(rows[0]!)}\n${widths.map((w) => '-'.repeat(w)).join('-|-')}`);
  for (const r of rows.slice(1)) console.log(line(r));
  console.log(
    `\n(a)/(b): ${CONNECTIONS} connections, no pipelining, ${DURATION_S} s after a ${WARMUP_S} s warm-up; (b) ${f0(b.result.ok)} requests created, each a distinct (user, role) pair with its own Idempotency-Key (${REQUESTERS} users × ${ROLES} roles).` +
      `\n(c): ${f0(c.result.cycles)} cycles in ${c.result.seconds.toFixed(1)} s; "active" is the grant.active event on the requester's own stream; p50/p99 are per cycle.` +
      `\n(d): ${f0(d.result.streams)} streams open (the server counted at most ${openStreamsSeen} at once; opened in ${d.result.openSeconds.toFixed(1)} s); max ${f1(d.result.max)} ms, mean ${f1(d.result.mean)} ms.` +
      `\nServer CPU: the server process's CPU time over the phase's wall time (100% = one core); load CPU: the same for the load process.`,
  );
  console.log(`\nTook ${((Date.now() - started.getTime()) / 1000).toFixed(0)} s; load average at the end: ${load()}.`);
}

const guard = setTimeout(() => {
  console.error(`the benchmark took over ${RUN_LIMIT_MS / 60_000} minutes; stopping`);
  worker?.kill();
  process.exit(1);
}, RUN_LIMIT_MS);

main().then(
  () => {
    clearTimeout(guard);
    // Lingering keep-alive sockets or timers must not hold the process open.
    process.exit(0);
  },
  (err: unknown) => {
    console.error(err);
    worker?.kill();
    process.exit(1);
  },
);
