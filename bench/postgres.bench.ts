/**
 * Postgres connector benchmark (not a test): prints figures, side by side, from one run on this
 * machine, against a throwaway PostgreSQL cluster and a real Latch server (SQLite, real clock).
 *
 *   (a) baseline: bare `CREATE ROLE … LOGIN PASSWORD …` and `DROP ROLE …` round trips from one
 *       admin connection, 200 of each;
 *   (b) through the lifecycle, one grant at a time, 200 grants: approve → `grant.active`
 *       (provision), and `POST /end` → `grant.ended` (revoke); ratios to (a);
 *   (c) 1,000 active grants expiring within the same minute (200 of them holding an open
 *       session): from each `expiresAt` to "no session and no role left", seen by polling
 *       pg_roles and pg_stat_activity every 25 ms; (c1) with the ends spread over the minute,
 *       (c2) with all of them ending at the same instant;
 *   (c0) the baseline of (c2): 1,000 bare roles dropped at once over 4 connections (the
 *       connector's pool size), each role's time from the start to its DROP ROLE returning.
 *
 * Only 127.0.0.1; every phase is bounded. Run: `npm run bench:postgres`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { newCodeFor } from '../src/server/auth/identity.js';
import { parseConfig } from '../src/server/config/load.js';
import { createLatchServer, type LatchServer } from '../src/server/server.js';
// The one test-support module the bench needs: tsc emits it with the bench because it is imported
// (tsconfig.build.json's exclude only keeps test-support out of the include globs).
import { pgUnavailable, startPgCluster, type PgCluster } from '../src/server/test-support/pg-cluster.js';

const HOST = '127.0.0.1';
const SEQUENTIAL = 200;
const MASS = 1000;
const MASS_SESSIONS = 200;
const PROVISION_CONCURRENCY = 8;
const POLL_MS = 25;
const RUN_LIMIT_MS = 8 * 60_000;
const ADMIN_PW_ENV = 'LATCH_BENCH_PG_ADMIN_PW';
const REASON = 'bench: postgres connector figures';

interface MassFigures { lag: number[]; grants: number; setUpMs: number; spreadMs: number; sessionsBefore: number; notGone: number; ended: number }

const logger = () => pino({ level: 'info', redact: ['req.headers.authorization', '*.password', '*.token', '*.refreshToken', '*.code'] }, pino.destination({ dest: '/dev/null', sync: false }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pct(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '–');

interface Api {
  url: string;
  token: string;
}
async function call<T = any>(who: Api, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(who.url + path, {
    method,
    headers: { authorization: `Bearer ${who.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T };
}

/** Resolves when the bus publishes `type` for `grantId` (performance.now() of that moment). */
function eventWaiter(server: LatchServer) {
  const seen = new Map<string, number>();
  const waiting = new Map<string, (at: number) => void>();
  server.bus.subscribe((e) => {
    if (!e.grantId) return;
    const key = `${e.type} ${e.grantId}`;
    const at = performance.now();
    seen.set(key, at);
    waiting.get(key)?.(at);
    if (e.type === 'grant.failed') waiting.get(`grant.active ${e.grantId}`)?.(NaN);
  });
  return (type: string, grantId: string, timeoutMs = 30_000) =>
    new Promise<number>((resolve, reject) => {
      const key = `${type} ${grantId}`;
      const known = seen.get(key);
      if (known !== undefined) return resolve(known);
      const t = setTimeout(() => reject(new Error(`no ${type} for ${grantId} within ${timeoutMs} ms`)), timeoutMs);
      waiting.set(key, (at) => {
        clearTimeout(t);
        waiting.delete(key);
        if (Number.isNaN(at)) reject(new Error(`grant ${grantId} failed to provision`));
        else resolve(at);
      });
    });
}

async function setUpCluster(cluster: PgCluster, adminPw: string): Promise<void> {
  const su = new pg.Client({ connectionString: cluster.url() });
  su.on('error', () => undefined);
  await su.connect();
  await su.query(`CREATE ROLE latch_admin LOGIN CREATEROLE PASSWORD '${adminPw}'`);
  await su.query('CREATE ROLE app_readonly NOLOGIN');
  await su.query('CREATE DATABASE app');
  await su.end();
  const app = new pg.Client({ connectionString: cluster.url('app') });
  app.on('error', () => undefined);
  await app.connect();
  await app.query('CREATE TABLE accounts (id int PRIMARY KEY)');
  await app.query('GRANT SELECT ON accounts TO app_readonly');
  await app.end();
}

let cluster: PgCluster | null = null;

async function main(): Promise<void> {
  const started = new Date();
  const missing = pgUnavailable();
  if (missing) throw new Error(`this benchmark needs ${missing}`);
  const cpu = cpus();
  console.log(`Latch postgres connector benchmark — ${started.toISOString()}\n${cpu.length} CPU (${cpu[0]?.model.trim() ?? 'unknown'}), Node ${process.version}, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);

  const pgc = await startPgCluster();
  cluster = pgc;
  const dataDir = mkdtempSync(join(tmpdir(), 'latch-bench-pg-'));
  let server: LatchServer | null = null;
  const sessions: pg.Client[] = [];
  /** Every client the bench opens as admin or superuser, ended before the cluster stops. */
  const own: pg.Client[] = [];
  const connect = async (config: pg.ClientConfig | string) => {
    const c = new pg.Client(config);
    c.on('error', (err) => console.error(`bench connection: ${err.message}`));
    own.push(c);
    await c.connect();
    return c;
  };
  try {
    const adminPw = `bench-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
    process.env[ADMIN_PW_ENV] = adminPw;
    await setUpCluster(pgc, adminPw);
    const su = await connect({ connectionString: pgc.url('app') });
    const version = (await su.query('SHOW server_version')).rows[0].server_version as string;
    console.log(`PostgreSQL ${version}, a throwaway cluster on ${HOST}:${pgc.port} (fsync off)\n`);

    // ---- (a) baseline: bare CREATE ROLE / DROP ROLE round trips, as the admin -----------------
    console.log(`(a) ${SEQUENTIAL} bare CREATE ROLE … LOGIN PASSWORD / DROP ROLE round trips…`);
    const admin = await connect({ host: HOST, port: pgc.port, database: 'app', user: 'latch_admin', password: adminPw });
    const bareCreate: number[] = [];
    const bareDrop: number[] = [];
    for (let i = 0; i < SEQUENTIAL; i++) {
      let t = performance.now();
      await admin.query(`CREATE ROLE bare_${i} LOGIN PASSWORD 'bare-password-${i}' IN ROLE app_readonly`);
      bareCreate.push(performance.now() - t);
      t = performance.now();
      await admin.query(`DROP ROLE bare_${i}`);
      bareDrop.push(performance.now() - t);
    }

    // ---- the Latch server ---------------------------------------------------------------------
    const pgConfig = { host: HOST, port: pgc.port, database: 'app', user: 'latch_admin', passwordEnv: ADMIN_PW_ENV, roles: { readonly: 'app_readonly' } };
    const config = parseConfig(
      JSON.stringify({
        groups: { requesters: { members: ['r0'] }, approvers: { members: ['a0'] } },
        resources: {
          pg: { connector: 'postgres', config: pgConfig, roles: { readonly: {} } },
          'pg-auto0': { connector: 'postgres', config: pgConfig, roles: { readonly: {} } },
          'pg-auto1': { connector: 'postgres', config: pgConfig, roles: { readonly: {} } },
        },
        policies: [
          { resource: 'pg', requesters: ['requesters'], approvers: { groups: ['approvers'] }, maxDuration: '2h' },
          ...['pg-auto0', 'pg-auto1'].map((resource) => ({ resource, requesters: ['requesters'], approvers: { groups: ['approvers'] }, maxDuration: '2h', autoApprove: [{ groups: ['requesters'] }] })),
        ],
      }),
    );
    server = await createLatchServer({ dataDir, config, logger: logger(), accessTtlS: 3600, connectorTimeoutMs: 60_000 });
    const url = await server.listen(HOST, 0);
    const token = async (name: string) => (await server!.tokens.enroll((await newCodeFor(server!.store, name, Date.now())).code, 'bench')).tokens.accessToken;
    const requester: Api = { url, token: await token('r0') };
    const approver: Api = { url, token: await token('a0') };
    const waitFor = eventWaiter(server);

    // ---- (b) provision and revoke through the lifecycle, one at a time -------------------------
    console.log(`(b) ${SEQUENTIAL} grants through the lifecycle, one at a time: approve → active, end → ended…`);
    const provision: number[] = [];
    const revoke: number[] = [];
    for (let i = 0; i < SEQUENTIAL; i++) {
      const r = await call(requester, 'POST', '/v1/requests', { resource: 'pg', role: 'readonly', duration: '30m', reason: REASON });
      if (r.status !== 201) throw new Error(`request: ${r.status} ${JSON.stringify(r.body)}`);
      const t0 = performance.now();
      const a = await call(approver, 'POST', `/v1/requests/${r.body.id}/approve`, {});
      if (a.status !== 200) throw new Error(`approve: ${a.status} ${JSON.stringify(a.body)}`);
      provision.push((await waitFor('grant.active', a.body.grantId)) - t0);
      const t1 = performance.now();
      const e = await call(requester, 'POST', `/v1/grants/${a.body.grantId}/end`);
      if (e.status !== 200) throw new Error(`end: ${e.status} ${JSON.stringify(e.body)}`);
      revoke.push((await waitFor('grant.ended', a.body.grantId)) - t1);
    }

    // ---- (c) 1,000 grants expiring within one minute: spread over it, then all at once --------
    // Each grant's duration (whole seconds) is chosen so its end falls where `endFor` says; the
    // first end comes `leadMs` from now, after provisioning them all should be done. Running 8 at
    // a time barely beats one at a time on 2 cores (SCRAM hashing is CPU), hence the sequential
    // estimate from (b).
    const perGrantMs = pct(provision, 50) + 15;
    let batch = 0;
    const massExpiry = async (label: string, leadMs: number, endFor: (i: number, windowStart: number) => number): Promise<MassFigures> => {
      const windowStart = Date.now() + leadMs;
      console.log(`(${label}) ${MASS} grants, ${MASS_SESSIONS} with an open session, ending from ${new Date(windowStart).toISOString().slice(11, 19)}…`);
      const resource = `pg-auto${batch++}`;
      const grants: { id: string; role: string; expiresAt: number }[] = [];
      const open: pg.Client[] = [];
      let next = 0;
      const provisionOne = async (i: number) => {
        const seconds = Math.max(1, Math.round((endFor(i, windowStart) - Date.now()) / 1000));
        const r = await call(requester, 'POST', '/v1/requests', { resource, role: 'readonly', duration: `${seconds}s`, reason: REASON });
        if (r.status !== 201 || !r.body.grantId) throw new Error(`request: ${r.status} ${JSON.stringify(r.body)}`);
        await waitFor('grant.active', r.body.grantId, 60_000);
        const g = await call(requester, 'GET', `/v1/grants/${r.body.grantId}`);
        const cred = (await call(requester, 'GET', `/v1/grants/${r.body.grantId}/credential`)).body.credential as { user: string; url: string };
        grants.push({ id: r.body.grantId, role: cred.user, expiresAt: Date.parse(g.body.expiresAt) });
        if (i < MASS_SESSIONS) {
          const c = new pg.Client({ connectionString: cred.url });
          c.on('error', () => undefined); // terminated at expiry, as it should be
          await c.connect();
          open.push(c);
          sessions.push(c);
        }
      };
      const setUpStarted = Date.now();
      await Promise.all(Array.from({ length: PROVISION_CONCURRENCY }, async () => {
        for (let i = next++; i < MASS; i = next++) await provisionOne(i);
      }));
      const setUpMs = Date.now() - setUpStarted;
      const firstEnd = Math.min(...grants.map((g) => g.expiresAt));
      const lastEnd = Math.max(...grants.map((g) => g.expiresAt));
      const sessionsBefore = Number((await su.query(`SELECT count(*) AS n FROM pg_stat_activity WHERE usename LIKE 'jit\\_%'`)).rows[0].n);
      if (Date.now() > firstEnd) console.log(`warning: provisioning took ${(setUpMs / 1000).toFixed(1)} s and ran into the expiry window; figures are still per grant, but not all ${MASS} were live at once`);

      const lag: number[] = [];
      const pending = new Map(grants.map((g) => [g.role, g]));
      while (pending.size > 0 && Date.now() < lastEnd + 120_000) {
        const roles = new Set((await su.query<{ rolname: string }>(`SELECT rolname FROM pg_roles WHERE rolname LIKE 'jit\\_%'`)).rows.map((r) => r.rolname));
        const live = new Set((await su.query<{ usename: string }>(`SELECT DISTINCT usename FROM pg_stat_activity WHERE usename LIKE 'jit\\_%'`)).rows.map((r) => r.usename));
        const at = Date.now();
        for (const [role, g] of pending) {
          if (!roles.has(role) && !live.has(role)) {
            lag.push(at - g.expiresAt);
            pending.delete(role);
          }
        }
        await sleep(POLL_MS);
      }
      const ended = Number((await server!.store.db.selectFrom('grants').select((eb) => eb.fn.countAll<number>().as('n')).where('resource', '=', resource).where('state', '=', 'ended').executeTakeFirst())?.n);
      for (const c of open) await c.end().catch(() => undefined);
      return { lag, grants: grants.length, setUpMs, spreadMs: lastEnd - firstEnd, sessionsBefore, notGone: pending.size, ended };
    };
    const spread = await massExpiry('c1', MASS * perGrantMs * 1.5 + 15_000, (i, start) => start + Math.floor((i / MASS) * 60_000));
    // All at once: the lead comes from how long (c1) really took to provision.
    const burst = await massExpiry('c2', spread.setUpMs * 1.5 + 15_000, (_i, start) => start);

    // ---- (c0) baseline: 1,000 bare roles dropped over 4 connections ----------------------------
    console.log(`(c0) ${MASS} bare roles dropped over 4 connections…`);
    // One multi-statement query (simple protocol), not a DO block: it needs nothing but SQL.
    await admin.query(Array.from({ length: MASS }, (_, i) => `CREATE ROLE mass_${i} LOGIN PASSWORD 'mass-password-${i}' IN ROLE app_readonly;`).join('\n'));
    const conns = await Promise.all(Array.from({ length: 4 }, () => connect({ host: HOST, port: pgc.port, database: 'app', user: 'latch_admin', password: adminPw })));
    const massStart = performance.now();
    const dropAt: number[] = [];
    let m = 0;
    await Promise.all(conns.map(async (c) => {
      for (let i = m++; i < MASS; i = m++) {
        await c.query(`DROP ROLE mass_${i}`);
        dropAt.push(performance.now() - massStart);
      }
    }));

    // ---- the table ----------------------------------------------------------------------------
    const rows: string[][] = [
      ['scenario', 'n', 'p50 ms', 'p99 ms', 'max ms'],
      ['(a) bare CREATE ROLE … LOGIN PASSWORD … IN ROLE', String(bareCreate.length), f1(pct(bareCreate, 50)), f1(pct(bareCreate, 99)), f1(Math.max(...bareCreate))],
      ['(a) bare DROP ROLE', String(bareDrop.length), f1(pct(bareDrop, 50)), f1(pct(bareDrop, 99)), f1(Math.max(...bareDrop))],
      ['(b) provision: approve → grant.active', String(provision.length), f1(pct(provision, 50)), f1(pct(provision, 99)), f1(Math.max(...provision))],
      ['    ratio to bare CREATE ROLE', '', (pct(provision, 50) / pct(bareCreate, 50)).toFixed(1), (pct(provision, 99) / pct(bareCreate, 99)).toFixed(1), ''],
      ['(b) revoke: POST /end → grant.ended', String(revoke.length), f1(pct(revoke, 50)), f1(pct(revoke, 99)), f1(Math.max(...revoke))],
      ['    ratio to bare DROP ROLE', '', (pct(revoke, 50) / pct(bareDrop, 50)).toFixed(1), (pct(revoke, 99) / pct(bareDrop, 99)).toFixed(1), ''],
      [`(c1) ${MASS} ending spread over one minute: expiresAt → no session, no role`, String(spread.lag.length), f1(pct(spread.lag, 50)), f1(pct(spread.lag, 99)), f1(Math.max(...spread.lag))],
      [`(c2) ${MASS} ending at the same instant: expiresAt → no session, no role`, String(burst.lag.length), f1(pct(burst.lag, 50)), f1(pct(burst.lag, 99)), f1(Math.max(...burst.lag))],
      [`(c0) ${MASS} bare DROP ROLE at once, 4 connections: start → dropped`, String(dropAt.length), f1(pct(dropAt, 50)), f1(pct(dropAt, 99)), f1(Math.max(...dropAt))],
      ['    ratio (c2)/(c0)', '', (pct(burst.lag, 50) / pct(dropAt, 50)).toFixed(1), (pct(burst.lag, 99) / pct(dropAt, 99)).toFixed(1), (Math.max(...burst.lag) / Math.max(...dropAt)).toFixed(1)],
    ];
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    const line = (r: string[]) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join(' | ');
    console.log(`\n${line(rows[0]!)}\n${widths.map((w) => '-'.repeat(w)).join('-|-')}`);
    for (const r of rows.slice(1)) console.log(line(r));
    console.log(
      `\n(b): each provision creates the role, grants the target role, comments it, then logs in as it and checks pg_has_role; each revoke disables login, takes membership, terminates sessions, REASSIGN/DROP OWNED, DROP ROLE.` +
        [['c1', spread], ['c2', burst]].map(([label, m]) => {
          const f = m as MassFigures;
          return `\n(${label as string}): ${f.grants} grants provisioned ${PROVISION_CONCURRENCY} at a time in ${(f.setUpMs / 1000).toFixed(1)} s; ends spread over ${(f.spreadMs / 1000).toFixed(1)} s; ${f.sessionsBefore} sessions open before the first end; ${f.lag.length} seen gone (${f.notGone} not within 120 s of the last end); ${f.ended} grants ended in the store.`;
        }).join('') +
        `\n(c1)/(c2): pg_roles and pg_stat_activity polled every ${POLL_MS} ms, so each figure is up to ~${POLL_MS} ms late. (c1) has no bare baseline: its ends are ~60 ms apart, so it measures the scheduler's reaction plus one revoke.`,
    );
    console.log(`\nTook ${((Date.now() - started.getTime()) / 1000).toFixed(0)} s; load average at the end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}.`);
  } finally {
    for (const c of [...sessions, ...own]) await c.end().catch(() => undefined);
    await server?.close();
    await pgc.stop();
    cluster = null;
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const guard = setTimeout(() => {
  console.error(`the benchmark took over ${RUN_LIMIT_MS / 60_000} minutes; stopping`);
  void (cluster?.stop() ?? Promise.resolve()).finally(() => process.exit(1));
}, RUN_LIMIT_MS);

main().then(
  () => {
    clearTimeout(guard);
    process.exit(0);
  },
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
