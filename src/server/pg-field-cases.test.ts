/**
 * FIELD-CASES.md, postgres connector side (B01, B04, B06, B07, B09, B19): the real server on
 * loopback with a ManualClock, driving the postgres connector against a throwaway cluster whose
 * timezone is Europe/Berlin (B06a). Every check is a real login, a real session or a catalog query.
 *
 * The ManualClock runs about a day ahead of the real clock: VALID UNTIL is a real instant that the
 * cluster compares with its own clock, so a grant ending "in the past" could not even log in. That
 * also proves the point of B06: access ends because revoke ran, not because VALID UNTIL passed.
 * Where a case states a time limit ("within 15 s of expiry"), the test runs on the real clock with
 * grants of a few seconds and never calls settle(): the scheduler's own timer has to do it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../shared/clock.js';
import { policyFor } from '../shared/policy.js';
import { postgresConnector, roleNameFor } from './connectors/postgres.js';
import type { GrantsTable, RequestsTable } from './store/schema.js';
import { TestClient, startHarness, type Harness } from './test-support/harness.js';
import { loginError as loginWith, pgUnavailable, startPgCluster, type PgCluster } from './test-support/pg-cluster.js';
import { serviceAvailable } from './test-support/services.js';
import { eventually } from './test-support/eventually.js';

const run = serviceAvailable('postgres field cases', pgUnavailable());
const MIN = 60_000;
const REASON = 'INC-1234 restart replica';
const ADMIN_PW_ENV = 'LATCH_PG_FC_ADMIN_PW';
const ADMIN_PW = `fc-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
/** A whole hour about a day ahead of now (see the header). */
const tomorrow = () => Math.ceil((Date.now() + 24 * 60 * MIN) / (60 * MIN)) * 60 * MIN;
const iso = (ms: number) => new Date(ms).toISOString();

interface PgCredential { type: 'postgres'; host: string; port: number; database: string; user: string; password: string; url: string }
type Session = pg.Client & { errors: Error[] };


describe.runIf(run)('postgres field cases (real cluster, Europe/Berlin)', () => {
  let cluster: PgCluster;
  let su: pg.Client;
  let config: string;
  let prodConfig: Record<string, unknown>;
  const dirs: string[] = [];
  const sessions: pg.Client[] = [];
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    cluster = await startPgCluster({ timezone: 'Europe/Berlin' });
    su = new pg.Client({ connectionString: cluster.url() });
    await su.connect();
    // The admin as docs/connectors/postgres.md sets it up: CREATEROLE, no superuser.
    await su.query(`CREATE ROLE latch_admin LOGIN CREATEROLE PASSWORD '${ADMIN_PW}'`);
    for (const r of ['app_readonly', 'app_admin', 'other_readonly', 'app_lobby', 'app_gated']) await su.query(`CREATE ROLE ${r} NOLOGIN`);
    await su.query('CREATE DATABASE app');
    await su.query('CREATE DATABASE app2');
    // app3: every session starts as app_lobby (a DBA's "SET role" default). A member of app_gated may
    // switch to app_lobby, so the per-grant role logs in fine, but then runs without app_gated's privileges.
    await su.query('GRANT app_lobby TO app_gated');
    await su.query('CREATE DATABASE app3');
    await su.query(`ALTER DATABASE app3 SET role = 'app_lobby'`);
    for (const [db, sql] of [
      ['app', [`CREATE TABLE accounts (id int PRIMARY KEY, owner text)`, `INSERT INTO accounts VALUES (1, 'acme')`, 'GRANT SELECT ON accounts TO app_readonly', 'GRANT ALL ON accounts TO app_admin', 'GRANT CREATE ON SCHEMA public TO app_admin']],
      ['app2', [`CREATE TABLE invoices (id int PRIMARY KEY)`, 'GRANT SELECT ON invoices TO other_readonly']],
    ] as const) {
      const c = new pg.Client({ connectionString: cluster.url(db) });
      await c.connect();
      for (const s of sql) await c.query(s);
      await c.end();
    }
    process.env[ADMIN_PW_ENV] = ADMIN_PW;
    const dir = mkdtempSync(join(tmpdir(), 'latch-pgfc-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'admin-pw'), `${ADMIN_PW}\n`, { mode: 0o600 });

    prodConfig = { host: cluster.host, port: cluster.port, database: 'app', user: 'latch_admin', passwordEnv: ADMIN_PW_ENV, roles: { readonly: 'app_readonly', admin: 'app_admin' } };
    // pg-other: a second resource on another database of the same cluster, configured by url and password file.
    const otherConfig = { url: `postgres://latch_admin@${cluster.host}:${cluster.port}/app2`, passwordFile: join(dir, 'admin-pw'), roles: { readonly: 'other_readonly' } };
    const stuckConfig = { ...prodConfig, roles: { admin: 'app_admin' }, reassignOwnedTo: 'no_such_role' };
    const gatedConfig = { ...prodConfig, database: 'app3', roles: { readonly: 'app_gated' } };
    config = `
groups:
  eng: { members: [alice, dave] }
  sre: { members: [bob, carol] }
resources:
  pg-prod: { connector: postgres, roles: { readonly: {}, admin: {} }, config: ${JSON.stringify(prodConfig)} }
  pg-other: { connector: postgres, roles: { readonly: {} }, config: ${JSON.stringify(otherConfig)} }
  pg-stuck: { connector: postgres, roles: { admin: {} }, config: ${JSON.stringify(stuckConfig)} }
  pg-gated: { connector: postgres, roles: { readonly: {} }, config: ${JSON.stringify(gatedConfig)} }
policies:
  - { resource: pg-prod, requesters: [eng, sre], approvers: { groups: [sre] }, maxDuration: 4h }
  - { resource: pg-other, requesters: [sre], approvers: { groups: [sre] }, maxDuration: 4h }
  - { resource: pg-stuck, requesters: [eng], approvers: { groups: [sre] }, maxDuration: 4h }
  - { resource: pg-gated, requesters: [eng], approvers: { groups: [sre] }, maxDuration: 4h }
`;
  });

  afterEach(async () => {
    for (const s of sessions.splice(0)) await s.end().catch(() => undefined);
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  afterAll(async () => {
    await su?.end().catch(() => undefined);
    await cluster?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  async function harness(opts: Parameters<typeof startHarness>[0]): Promise<Harness> {
    const h = await startHarness({ config, ...opts });
    cleanups.push(() => h.close());
    return h;
  }

  /** Opens a session as the grantee; its connection errors are collected (a terminated session is expected). */
  async function login(cred: PgCredential): Promise<Session> {
    const c = Object.assign(new pg.Client({ connectionString: cred.url, connectionTimeoutMillis: 5000 }), { errors: [] as Error[] });
    c.on('error', (e) => c.errors.push(e));
    sessions.push(c);
    await c.connect();
    return c;
  }

  /** A new login attempt: null when it works, else the error message. */
  const loginError = (cred: PgCredential) => loginWith(cred.url);

  const sessionCount = async (role: string) => Number((await su.query('SELECT count(*) AS n FROM pg_stat_activity WHERE usename = $1', [role])).rows[0].n);
  const roleRow = async (role: string) =>
    (await su.query<{ rolcanlogin: boolean; rolvaliduntil: Date | null }>('SELECT rolcanlogin, rolvaliduntil FROM pg_roles WHERE rolname = $1', [role])).rows[0];

  /** requester asks, approver approves, and the grant is active (provisioning confirmed). */
  async function activeGrant(h: Harness, requester: TestClient, approver: TestClient, resource: string, role: string, duration: string) {
    const r = await requester.post('/v1/requests', { resource, role, duration, reason: REASON });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const a = await approver.post(`/v1/requests/${r.body.id}/approve`, {});
    expect(a.status, JSON.stringify(a.body)).toBe(200);
    const id = a.body.grantId as string;
    const g = await eventually('provisioned', async () => (await requester.get(`/v1/grants/${id}`)).body, (b) => b.state !== 'provisioning');
    expect(g.state, g.failureReason).toBe('active');
    const cred = (await requester.get(`/v1/grants/${id}/credential`)).body.credential as PgCredential;
    expect(cred.user).toBe(roleNameFor(id));
    return { id, expiresAt: Date.parse(g.expiresAt), activatedAt: Date.parse(g.activatedAt), cred };
  }

  const auditOf = async (h: Harness, grantId: string) =>
    ((await (await h.as('admin')).get('/v1/audit?limit=1000')).body.items as { type: string; at: string; grantId: string | null; data: Record<string, unknown> }[]).filter((e) => e.grantId === grantId);

  /** B04's observable result: both sessions cut, no new login, no session row, no role. */
  async function expectAccessGone(cred: PgCredential, idle: Session, sleeping: Promise<Error | null>) {
    expect((await sleeping)?.message).toMatch(/terminat/);
    await expect(idle.query('SELECT 1')).rejects.toThrow();
    expect(await loginError(cred)).toMatch(/does not exist|password authentication failed/);
    expect(await sessionCount(cred.user)).toBe(0);
    expect(await roleRow(cred.user)).toBeUndefined();
  }

  describe('B03: never active unless the role really holds the target role', () => {
    it('the role logs in but its sessions run as another role (a database "SET role" default): the grant is failed with a reason that says so, never active, and the role is removed', async () => {
      const clock = new ManualClock(tomorrow());
      const h = await harness({ clock });
      const alice = await h.as('alice');
      const r = await alice.post('/v1/requests', { resource: 'pg-gated', role: 'readonly', duration: '30m', reason: REASON });
      const id = (await (await h.as('bob')).post(`/v1/requests/${r.body.id}/approve`, {})).body.grantId as string;
      const g = await eventually('provisioning settled', async () => (await alice.get(`/v1/grants/${id}`)).body, (b) => b.state !== 'provisioning');
      expect(g).toMatchObject({ state: 'failed', activatedAt: null, expiresAt: null, hasCredential: false });
      expect(g.failureReason).toMatch(/^Access could not be provisioned \(PostgreSQL at .*\/app3 \(resource pg-gated\): role jit_\w+ logged in but does not hold the privileges of app_gated; its sessions run as app_lobby/);
      expect((await auditOf(h, id)).some((e) => e.type === 'grant.active')).toBe(false);
      expect((await alice.get(`/v1/grants/${id}/credential`)).status).toBe(409);
      // The half-made role is cleaned up.
      await h.settle();
      expect(await roleRow(roleNameFor(id))).toBeUndefined();
    });
  });

  describe('B04 / B19: a revoked role keeps no session', () => {
    it('"End now": the role reads but cannot write; both sessions are terminated, login fails, no pg_stat_activity row, role gone, audit counts 2; ending again → 409', async () => {
      const clock = new ManualClock(tomorrow());
      const h = await harness({ clock });
      const alice = await h.as('alice');
      const g = await activeGrant(h, alice, await h.as('bob'), 'pg-prod', 'readonly', '2m');

      const idle = await login(g.cred);
      expect((await idle.query('SELECT owner FROM accounts')).rows).toEqual([{ owner: 'acme' }]);
      await expect(idle.query(`INSERT INTO accounts VALUES (2, 'mallory')`)).rejects.toThrow(/permission denied/);
      const busy = await login(g.cred);
      const sleeping = busy.query('SELECT pg_sleep(600)').then(() => null, (e: Error) => e);
      await eventually('pg_sleep running', () => sessionCount(g.cred.user), (n) => n === 2);

      const ended = await alice.post(`/v1/grants/${g.id}/end`);
      expect(ended.status).toBe(200);
      expect(ended.body).toMatchObject({ state: 'ended', endReason: 'ended_by_user' });
      await expectAccessGone(g.cred, idle, sleeping);
      const audit = await auditOf(h, g.id);
      expect(audit.find((e) => e.type === 'grant.ended')?.data).toMatchObject({ reason: 'ended_by_user', sessionsTerminated: 2, attempts: 1, role: g.cred.user });

      // B19: the ended grant cannot be ended, re-activated or its credential fetched again.
      expect((await alice.post(`/v1/grants/${g.id}/end`)).status).toBe(409);
      expect((await alice.get(`/v1/grants/${g.id}/credential`)).status).toBe(409);
    });

    it("expiry on the real clock: the scheduler's own timer terminates both sessions and drops the role, not before expiresAt and within 15 s of it (no settle)", async () => {
      const h = await harness({});
      const alice = await h.as('alice');
      const g = await activeGrant(h, alice, await h.as('bob'), 'pg-prod', 'readonly', '8s');
      const idle = await login(g.cred);
      const busy = await login(g.cred);
      const sleeping = busy.query('SELECT pg_sleep(600)').then(() => null, (e: Error) => e);
      await eventually('pg_sleep running', () => sessionCount(g.cred.user), (n) => n === 2);

      // Nothing but the server's timer acts from here; the test only watches the cluster.
      await eventually('role gone', () => roleRow(g.cred.user), (row) => row === undefined, 30_000);
      const goneAt = Date.now();
      expect(goneAt - g.expiresAt).toBeLessThanOrEqual(15_000);
      await expectAccessGone(g.cred, idle, sleeping);
      const endedEvent = (await auditOf(h, g.id)).find((e) => e.type === 'grant.ended')!;
      expect(endedEvent.data).toMatchObject({ reason: 'expired', sessionsTerminated: 2, attempts: 1 });
      const revoking = (await auditOf(h, g.id)).find((e) => e.type === 'grant.revoking')!;
      expect(Date.parse(revoking.at)).toBeGreaterThanOrEqual(g.expiresAt); // not a millisecond early
      expect(Date.parse(endedEvent.at) - g.expiresAt).toBeLessThanOrEqual(15_000);
    }, 60_000);
  });

  describe('B01: overlapping grants for the same resource and role', () => {
    it("G1's expiry leaves G2 working (its own role and session); G2's expiry then ends it", async () => {
      const T0 = tomorrow();
      const clock = new ManualClock(T0);
      const h = await harness({ clock });
      const alice = await h.as('alice');
      const bob = await h.as('bob');
      const g1 = await activeGrant(h, alice, bob, 'pg-prod', 'readonly', '60m');
      clock.advance(50 * MIN);
      const g2 = await activeGrant(h, alice, bob, 'pg-prod', 'readonly', '60m');
      expect(g2.cred.user).not.toBe(g1.cred.user);
      const g2Session = await login(g2.cred);

      clock.set(T0 + 60 * MIN + 1000); // 11:00:01
      await h.settle();
      expect((await alice.get(`/v1/grants/${g1.id}`)).body).toMatchObject({ state: 'ended', endReason: 'expired' });
      expect(await loginError(g1.cred)).not.toBeNull();
      clock.advance(4 * MIN); // 11:05
      expect(await loginError(g2.cred)).toBeNull();
      expect((await g2Session.query('SELECT count(*)::int AS n FROM accounts')).rows).toEqual([{ n: 1 }]);

      clock.set(g2.expiresAt + 1000); // 11:50:01
      await h.settle();
      expect((await alice.get(`/v1/grants/${g2.id}`)).body).toMatchObject({ state: 'ended', endReason: 'expired' });
      expect(await loginError(g2.cred)).toMatch(/does not exist|password authentication failed/);
      expect(g2Session.errors.length + (await g2Session.query('SELECT 1').then(() => 0, () => 1))).toBeGreaterThan(0);
    });

    for (const first of ['G1 revoke', 'G2 provisioning'] as const) {
      it(`G2 activated exactly at G1's end: the same result when ${first} runs first`, async () => {
        const T0 = tomorrow();
        const clock = new ManualClock(T0);
        const h = await harness({ clock });
        const alice = await h.as('alice');
        const bob = await h.as('bob');
        const g1 = await activeGrant(h, alice, bob, 'pg-prod', 'readonly', '60m');
        // Drive the jobs by hand, in the order under test.
        await h.server.scheduler.stop();
        clock.set(g1.expiresAt);
        let g2: Awaited<ReturnType<typeof activeGrant>>;
        if (first === 'G1 revoke') {
          await h.settle();
          expect((await alice.get(`/v1/grants/${g1.id}`)).body.state).toBe('ended');
          g2 = await activeGrant(h, alice, bob, 'pg-prod', 'readonly', '60m');
        } else {
          g2 = await activeGrant(h, alice, bob, 'pg-prod', 'readonly', '60m');
          expect((await alice.get(`/v1/grants/${g1.id}`)).body.state).toBe('active');
          await h.settle();
        }
        expect(g2.activatedAt).toBe(g1.expiresAt);
        expect((await alice.get(`/v1/grants/${g1.id}`)).body).toMatchObject({ state: 'ended', endReason: 'expired' });
        expect(await roleRow(g1.cred.user)).toBeUndefined();
        expect(await loginError(g2.cred)).toBeNull();
        expect((await alice.get(`/v1/grants/${g2.id}`)).body.state).toBe('active');
      });
    }
  });

  describe('B06: VALID UNTIL is an exact UTC instant, and only a backstop', () => {
    /** The next last-Sunday-of-March 01:30Z (Europe's spring-forward night) at least a day ahead. */
    const nextDstNight = () => {
      for (let y = new Date().getUTCFullYear(); ; y++) {
        const lastSunday = 31 - new Date(Date.UTC(y, 2, 31)).getUTCDay();
        const at = Date.UTC(y, 2, lastSunday, 1, 30);
        if (at > Date.now() + 24 * 60 * MIN) return at;
      }
    };

    it('(a) server timezone Europe/Berlin, grant ending on the DST night at 01:30Z: rolvaliduntil is exactly that instant', async () => {
      expect((await su.query('SHOW timezone')).rows[0].TimeZone).toBe('Europe/Berlin');
      const end = nextDstNight();
      const clock = new ManualClock(end - 30 * MIN);
      const h = await harness({ clock });
      const g = await activeGrant(h, await h.as('alice'), await h.as('bob'), 'pg-prod', 'readonly', '30m');
      expect(g.expiresAt).toBe(end);
      expect((await roleRow(g.cred.user))?.rolvaliduntil?.getTime()).toBe(end);
      // As the server shows it locally: 03:30 CEST, one hour after the clocks jumped (no bare date, no local midnight).
      const shown = await su.query(`SELECT rolvaliduntil::text AS t FROM pg_roles WHERE rolname = $1`, [g.cred.user]);
      expect(shown.rows[0].t).toBe(`${iso(end).slice(0, 10)} 03:30:00+02`);
    });

    it("(a) the case's own instant, 2025-03-30T01:30:00Z, written by the connector", async () => {
      // 2025 is in the real past, so a role valid until then cannot log in and provisioning (which
      // proves a login) would rightly fail; extend() writes the same VALID UNTIL without a login.
      const connector = postgresConnector({ log: pino({ level: 'silent' }) });
      try {
        const target = { grantId: 'gr_B06aCaseInstant', user: 'alice', resource: 'pg-prod', role: 'readonly', config: prodConfig, startsAt: Date.now(), expiresAt: Date.now() + 10 * MIN, publicKey: null };
        await connector.provision(target);
        await connector.extend!({ ...target, expiresAt: Date.parse('2025-03-30T01:30:00Z') });
        const row = await su.query(`SELECT rolvaliduntil, rolvaliduntil::text AS t FROM pg_roles WHERE rolname = $1`, [roleNameFor(target.grantId)]);
        expect((row.rows[0].rolvaliduntil as Date).toISOString()).toBe('2025-03-30T01:30:00.000Z');
        expect(row.rows[0].t).toBe('2025-03-30 03:30:00+02');
        await connector.revoke(target);
      } finally {
        await connector.close?.();
      }
    });

    it('(b) with the revocation job stopped, a session opened earlier outlives VALID UNTIL; once it runs again, B04 follows within 15 s (real clock, no settle)', async () => {
      // The real clock: the cluster's own clock passes VALID UNTIL at the grant's end.
      const h = await harness({});
      const g = await activeGrant(h, await h.as('alice'), await h.as('bob'), 'pg-prod', 'readonly', '4s');
      const early = await login(g.cred);
      await h.server.scheduler.stop(); // the revocation job disabled
      await new Promise((r) => setTimeout(r, Math.max(0, g.expiresAt - Date.now()) + 500));
      expect(Date.now()).toBeGreaterThan(g.expiresAt);
      expect(await loginError(g.cred)).toMatch(/password authentication failed/); // VALID UNTIL did stop new logins…
      expect((await early.query('SELECT owner FROM accounts')).rows).toEqual([{ owner: 'acme' }]); // …but not this session
      expect(await sessionCount(g.cred.user)).toBe(1);

      const enabledAt = Date.now();
      await h.server.scheduler.start();
      await eventually('role gone', () => roleRow(g.cred.user), (row) => row === undefined, 30_000);
      expect(Date.now() - enabledAt).toBeLessThanOrEqual(15_000);
      await expect(early.query('SELECT 1')).rejects.toThrow();
      expect(await sessionCount(g.cred.user)).toBe(0);
      const endedEvent = (await auditOf(h, g.id)).find((e) => e.type === 'grant.ended')!;
      expect(endedEvent.data).toMatchObject({ sessionsTerminated: 1 });
    }, 60_000);

    // (c) PgBouncer: not covered. The fixture has no pooler; with one that authenticates on its own
    // (auth_query / userlist), a dropped role could keep logging in through the pooler's cache.
  });

  describe('B07: the role was removed by someone else', () => {
    it('a DBA drops the jit role: at expiry the grant ends with note already_absent, after 1 attempt, with no revoke_failed', async () => {
      const clock = new ManualClock(tomorrow());
      const h = await harness({ clock, revokeBackoff: { firstMs: 50, maxMs: 200 } });
      const alice = await h.as('alice');
      const g = await activeGrant(h, alice, await h.as('bob'), 'pg-prod', 'readonly', '10m');
      await su.query(`DROP ROLE ${g.cred.user}`); // the DBA, by hand

      clock.set(g.expiresAt + 1000);
      await h.settle();
      expect((await alice.get(`/v1/grants/${g.id}`)).body).toMatchObject({ state: 'ended', endReason: 'expired', revokeAttempts: 0 });
      const audit = await auditOf(h, g.id);
      expect(audit.find((e) => e.type === 'grant.ended')?.data).toMatchObject({ note: 'already_absent', attempts: 1 });
      expect(audit.filter((e) => e.type === 'grant.revoke_failed')).toEqual([]);
    });

    it('500 such grants overdue at server start: all resolved within 60 s; /healthz and GET /v1/requests answer in under 1 s throughout', async () => {
      const T0 = tomorrow();
      const clock = new ManualClock(T0);
      const dataDir = mkdtempSync(join(tmpdir(), 'latch-pgfc-data-'));
      dirs.push(dataDir);
      const N = 500;
      let token: string;
      const first = await startHarness({ config, clock, dataDir });
      try {
        token = (await first.as('alice')).token!;
        // Fast path: the grants as the lifecycle would have left them (active on pg-prod), written
        // straight into the store. Their roles do not exist: as if a DBA had dropped them all.
        const policyJson = JSON.stringify(policyFor(first.server.config.current, 'pg-prod', 'readonly'));
        await first.server.store.write(async (tx) => {
          for (let i = 0; i < N; i++) {
            const n = String(i).padStart(6, '0');
            const request: RequestsTable = {
              id: `req_b07x${n}`, kind: 'access', state: 'approved', requester: 'alice', resource: 'pg-prod', role: 'readonly', duration_ms: 10 * MIN,
              reason: REASON, start_at: null, break_glass: 0, public_key: null, created_at: T0, request_expires_at: T0 + 60 * MIN, decided_at: T0,
              decided_by: 'bob', decision_comment: null, policy_json: policyJson, grant_id: `gr_b07x${n}`, idempotency_key: null,
            };
            const grant: GrantsTable = {
              id: `gr_b07x${n}`, request_id: request.id, user_name: 'alice', resource: 'pg-prod', role: 'readonly', connector: 'postgres', state: 'active',
              end_reason: null, duration_ms: 10 * MIN, start_at: null, activated_at: T0, expires_at: T0 + 10 * MIN, ended_at: null, failure_reason: null,
              extensions_used: 0, break_glass: 0, policy_json: policyJson, public_key: null, target_json: JSON.stringify(prodConfig), credential_enc: null,
              revoke_attempts: 0, next_revoke_at: null, last_revoke_error: null, revoke_due_at: null,
            };
            await tx.insertInto('requests').values(request).execute();
            await tx.insertInto('grants').values(grant).execute();
          }
        });
      } finally {
        await first.close();
      }

      clock.set(T0 + 30 * MIN); // the server was down past every end
      const started = Date.now();
      const second = await harness({ clock, dataDir, revokeBackoff: { firstMs: 50, maxMs: 200 } });
      const alice = new TestClient(second.url, token, 'alice');
      const db = second.server.store.db;
      const ended = async () => Number((await db.selectFrom('grants').select((eb) => eb.fn.countAll<number>().as('n')).where('id', 'like', 'gr_b07x%').where('state', '=', 'ended').executeTakeFirst())?.n);
      const timings: { healthz: number; requests: number; endedBefore: number }[] = [];
      let done = 0;
      while (done < N && Date.now() - started < 60_000) {
        const endedBefore = await ended();
        let t = performance.now();
        const hz = await fetch(`${second.url}/healthz`);
        const healthz = performance.now() - t;
        t = performance.now();
        const list = await alice.get('/v1/requests?limit=50');
        const requests = performance.now() - t;
        expect(hz.status).toBe(200);
        expect(list.status).toBe(200);
        timings.push({ healthz, requests, endedBefore });
        done = await ended();
      }
      const took = Date.now() - started;
      expect(done, `resolved ${done} of ${N} in ${took} ms`).toBe(N);
      expect(took).toBeLessThan(60_000);
      // Measured during the sweep, not after it.
      expect(timings.filter((x) => x.endedBefore < N).length).toBeGreaterThanOrEqual(3);
      expect(Math.max(...timings.map((x) => x.healthz))).toBeLessThan(1000);
      expect(Math.max(...timings.map((x) => x.requests))).toBeLessThan(1000);
      const rows = await db.selectFrom('grants').select(['revoke_attempts', 'end_reason']).where('id', 'like', 'gr_b07x%').execute();
      expect(rows.every((r) => r.revoke_attempts === 0 && r.end_reason === 'expired')).toBe(true);
      const failed = await db.selectFrom('events').select((eb) => eb.fn.countAll<number>().as('n')).where('type', '=', 'grant.revoke_failed').executeTakeFirst();
      expect(Number(failed?.n)).toBe(0);
    }, 90_000);
  });

  describe('B09: what the role owns, and one failure never stalls the others', () => {
    it("G1 created a table: it is reassigned, the role dropped; G2 (bob, another database) expiring in the same minute is revoked too", async () => {
      const clock = new ManualClock(tomorrow());
      const h = await harness({ clock });
      const alice = await h.as('alice');
      const bob = await h.as('bob');
      const g1 = await activeGrant(h, alice, bob, 'pg-prod', 'admin', '10m');
      const g2 = await activeGrant(h, bob, await h.as('carol'), 'pg-other', 'readonly', '10m');
      expect(g2.cred.database).toBe('app2');
      const s1 = await login(g1.cred);
      await s1.query('CREATE TABLE scratch_g1 (id int)');
      expect((await (await login(g2.cred)).query('SELECT count(*)::int AS n FROM invoices')).rows).toEqual([{ n: 0 }]);

      clock.set(Math.max(g1.expiresAt, g2.expiresAt) + 1000);
      await h.settle();
      for (const g of [g1, g2]) {
        expect((await (await h.as('admin')).get(`/v1/grants/${g.id}`)).body).toMatchObject({ state: 'ended', endReason: 'expired' });
        expect(await roleRow(g.cred.user)).toBeUndefined();
        expect(await sessionCount(g.cred.user)).toBe(0);
      }
      const app = new pg.Client({ connectionString: cluster.url('app') });
      await app.connect();
      try {
        expect((await app.query(`SELECT tableowner FROM pg_tables WHERE tablename = 'scratch_g1'`)).rows).toEqual([{ tableowner: 'latch_admin' }]);
      } finally {
        await app.end();
      }
    });

    it("G1's revoke blocked by another session's lock on its table: G1 fails fast as revoke_failed with login already disabled, G2 on the same database is revoked on time, and G1 completes once the lock is gone", async () => {
      // The real clock and the scheduler's real timer: nothing here calls settle().
      const h = await harness({ revokeBackoff: { firstMs: 500, maxMs: 2000 } });
      const alice = await h.as('alice');
      const bob = await h.as('bob');
      const g1 = await activeGrant(h, alice, bob, 'pg-prod', 'admin', '6s');
      const s1 = await login(g1.cred);
      await s1.query('CREATE TABLE scratch_locked (id int)');
      // Someone else reads the table in a transaction left open: ACCESS SHARE until COMMIT, which
      // REASSIGN OWNED (ALTER TABLE … OWNER) has to wait for.
      const reader = new pg.Client({ connectionString: cluster.url('app') });
      await reader.connect();
      cleanups.push(() => reader.end().catch(() => undefined));
      await reader.query('BEGIN');
      await reader.query('SELECT count(*) FROM scratch_locked');
      // G2 ends well after G1's first attempts have hit the lock.
      const g2 = await activeGrant(h, await h.as('dave'), bob, 'pg-prod', 'readonly', '16s');
      const s2 = await login(g2.cred);

      // G1: login disabled and its session cut at once; the blocked step fails and is retried.
      const failing = await eventually('G1 revoke_failed twice', async () => (await bob.get(`/v1/grants/${g1.id}`)).body, (b) => b.revokeAttempts >= 2, 30_000);
      expect(failing).toMatchObject({ state: 'revoking', endReason: 'expired' });
      expect(failing.lastRevokeError).toMatch(/lock/);
      expect((await auditOf(h, g1.id)).filter((e) => e.type === 'grant.revoke_failed').length).toBeGreaterThanOrEqual(2);
      expect(await roleRow(g1.cred.user)).toMatchObject({ rolcanlogin: false });
      // (On the real clock VALID UNTIL has passed as well, so the password is refused first.)
      expect(await loginError(g1.cred)).toMatch(/not permitted to log in|password authentication failed/);
      await expect(s1.query('SELECT 1')).rejects.toThrow();

      // G2, same database, same admin pool: revoked within 15 s of its end, measured in real time.
      await eventually('G2 ended', async () => (await bob.get(`/v1/grants/${g2.id}`)).body.state, (st) => st === 'ended', 30_000);
      const g2Ended = (await auditOf(h, g2.id)).find((e) => e.type === 'grant.ended')!;
      expect(g2Ended.data).toMatchObject({ reason: 'expired', attempts: 1, sessionsTerminated: 1 });
      expect(Date.parse(g2Ended.at) - g2.expiresAt).toBeLessThanOrEqual(15_000);
      expect(await roleRow(g2.cred.user)).toBeUndefined();
      expect(await loginError(g2.cred)).toMatch(/does not exist|password authentication failed/);
      await expect(s2.query('SELECT 1')).rejects.toThrow();
      expect((await bob.get(`/v1/grants/${g1.id}`)).body.state).toBe('revoking');

      // The lock goes: the next retry completes G1.
      await reader.query('COMMIT');
      await eventually('G1 ended', async () => (await bob.get(`/v1/grants/${g1.id}`)).body.state, (st) => st === 'ended', 30_000);
      expect(await roleRow(g1.cred.user)).toBeUndefined();
      expect((await reader.query(`SELECT tableowner FROM pg_tables WHERE tablename = 'scratch_locked'`)).rows).toEqual([{ tableowner: 'latch_admin' }]);
      await reader.query('DROP TABLE scratch_locked');
    }, 90_000);

    it('G1 configured to reassign to a missing role: it cannot log in and keeps retrying as revoke_failed, never ended; G2 is revoked within 15 s of its end (real clock, no settle)', async () => {
      const h = await harness({ revokeBackoff: { firstMs: 50, maxMs: 200 } });
      const alice = await h.as('alice');
      const bob = await h.as('bob');
      const g1 = await activeGrant(h, alice, bob, 'pg-stuck', 'admin', '5s');
      const g2 = await activeGrant(h, bob, await h.as('carol'), 'pg-other', 'readonly', '5s');
      const s1 = await login(g1.cred);
      await s1.query('CREATE TABLE scratch_stuck (id int)');

      await eventually('G2 ended', async () => (await bob.get(`/v1/grants/${g2.id}`)).body.state, (st) => st === 'ended', 30_000);
      const g2Ended = (await auditOf(h, g2.id)).find((e) => e.type === 'grant.ended')!;
      expect(g2Ended.data).toMatchObject({ reason: 'expired', attempts: 1 });
      expect(Date.parse(g2Ended.at) - g2.expiresAt).toBeLessThanOrEqual(15_000);
      expect(await roleRow(g2.cred.user)).toBeUndefined();
      await eventually('G1 retried', async () => (await bob.get(`/v1/grants/${g1.id}`)).body.revokeAttempts, (n) => n >= 3, 30_000);

      // As bob (an approver) sees it: still revoking, with the error and the attempts.
      const seen = (await bob.get(`/v1/grants/${g1.id}`)).body;
      expect(seen).toMatchObject({ state: 'revoking', endReason: 'expired' });
      expect(seen.revokeAttempts).toBeGreaterThanOrEqual(3);
      expect(seen.lastRevokeError).toMatch(/reassignOwnedTo role no_such_role does not exist/);
      const audit = await auditOf(h, g1.id);
      expect(audit.filter((e) => e.type === 'grant.revoke_failed').length).toBeGreaterThanOrEqual(3);
      expect(audit.some((e) => e.type === 'grant.ended')).toBe(false);
      // …and yet no access: login disabled, the session gone.
      expect(await roleRow(g1.cred.user)).toMatchObject({ rolcanlogin: false });
      expect(await sessionCount(g1.cred.user)).toBe(0);
      expect(await loginError(g1.cred)).toMatch(/not permitted to log in|password authentication failed/);
      await expect(s1.query('SELECT 1')).rejects.toThrow();
    }, 60_000);
  });
});
