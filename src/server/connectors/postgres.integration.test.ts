/**
 * The postgres connector against a real, throwaway PostgreSQL cluster: every check is a real login
 * or a catalog query, never our own bookkeeping. The admin is a plain CREATEROLE role (no superuser,
 * no pg_signal_backend), as docs/connectors/postgres.md says to set it up.
 */
import { Writable } from 'node:stream';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { pgUnavailable, prepareTarget, startPgCluster, type PgCluster } from '../test-support/pg-cluster.js';
import { serviceAvailable } from '../test-support/services.js';
import { startHarness } from '../test-support/harness.js';
import { postgresConnector, roleNameFor } from './postgres.js';
import type { Connector, GrantTarget } from './types.js';

const run = serviceAvailable('postgres connector', pgUnavailable());
const ADMIN_PW_ENV = 'LATCH_PG_IT_ADMIN_PW';
const MIN = 60_000;

interface PgCredential { type: string; host: string; port: number; database: string; user: string; password: string; url: string }

describe.runIf(run)('postgres connector (real cluster)', () => {
  let cluster: PgCluster;
  let su: pg.Client;
  let connector: Connector;
  const quiet = pino({ level: 'silent' });
  const clients: pg.Client[] = [];
  let config: Record<string, unknown>;
  let n = 0;

  /** A grant target whose window is real time (VALID UNTIL is checked by the real server clock). */
  const target = (over: Partial<GrantTarget> = {}): GrantTarget => ({
    grantId: `gr_It${++n}AbCd${Date.now().toString(36)}`, user: 'alice', resource: 'pg-prod', role: 'readonly', config,
    startsAt: Date.now(), expiresAt: Date.now() + 10 * MIN, publicKey: null, ...over,
  });

  /** Logs in as a grantee; connection errors are collected rather than crashing the run. */
  async function login(cred: PgCredential): Promise<pg.Client & { errors: Error[] }> {
    const c = Object.assign(new pg.Client({ connectionString: cred.url, connectionTimeoutMillis: 5000 }), { errors: [] as Error[] });
    c.on('error', (e) => c.errors.push(e));
    await c.connect();
    clients.push(c);
    return c;
  }

  const roleRow = async (role: string) =>
    (await su.query<{ rolcanlogin: boolean; rolvaliduntil: Date | null }>('SELECT rolcanlogin, rolvaliduntil FROM pg_roles WHERE rolname = $1', [role])).rows[0];
  const sessions = async (role: string) => Number((await su.query('SELECT count(*) AS n FROM pg_stat_activity WHERE usename = $1', [role])).rows[0].n);

  beforeAll(async () => {
    cluster = await startPgCluster();
    ({ su } = await prepareTarget(cluster, {
      passwordEnv: ADMIN_PW_ENV,
      roles: ['app_readonly', 'app_admin'],
      databases: {
        app: [
          'CREATE TABLE accounts (id int PRIMARY KEY, owner text)', `INSERT INTO accounts VALUES (1, 'acme')`,
          'GRANT SELECT ON accounts TO app_readonly', 'GRANT ALL ON accounts TO app_admin', 'GRANT CREATE ON SCHEMA public TO app_admin',
        ],
      },
    }));
    config = { host: cluster.host, port: cluster.port, database: 'app', user: 'latch_admin', passwordEnv: ADMIN_PW_ENV, roles: { readonly: 'app_readonly', admin: 'app_admin' } };
    connector = postgresConnector({ log: quiet, sessionWaitMs: 5000 });
  });

  afterAll(async () => {
    for (const c of clients) await c.end().catch(() => undefined);
    await connector?.close?.();
    await su?.end().catch(() => undefined);
    await cluster?.stop();
  });

  it('provisions a role that logs in with the credential, reads, cannot write, and carries VALID UNTIL as the exact end', async () => {
    const t = target();
    const { credential } = await connector.provision(t);
    const cred = credential as unknown as PgCredential;
    expect(cred).toMatchObject({ type: 'postgres', host: cluster.host, port: cluster.port, database: 'app', user: roleNameFor(t.grantId) });
    expect(cred.password.length).toBeGreaterThanOrEqual(24);
    expect(cred.url).toBe(`postgresql://${cred.user}:${cred.password}@${cluster.host}:${cluster.port}/app`);

    const c = await login(cred);
    expect((await c.query('SELECT owner FROM accounts')).rows).toEqual([{ owner: 'acme' }]);
    await expect(c.query(`INSERT INTO accounts VALUES (2, 'mallory')`)).rejects.toThrow(/permission denied/);
    expect((await roleRow(cred.user))?.rolvaliduntil?.getTime()).toBe(t.expiresAt);
    const comment = await su.query(`SELECT shobj_description(oid, 'pg_authid') AS c FROM pg_roles WHERE rolname = $1`, [cred.user]);
    expect(comment.rows[0].c).toContain(t.grantId);
    await c.end();
    await connector.revoke(t);
  });

  it('provisioning again (a retry) resets the password and validity of the same role: the old password stops working', async () => {
    const t = target();
    const first = (await connector.provision(t)).credential as unknown as PgCredential;
    const later = { ...t, expiresAt: t.expiresAt + 5 * MIN };
    const second = (await connector.provision(later)).credential as unknown as PgCredential;
    expect(second.user).toBe(first.user);
    expect(second.password).not.toBe(first.password);
    await expect(login(first)).rejects.toThrow(/password authentication failed/);
    await (await login(second)).end();
    expect((await roleRow(first.user))?.rolvaliduntil?.getTime()).toBe(later.expiresAt);
    await connector.revoke(t);
  });

  it('extend moves VALID UNTIL and leaves open sessions alone', async () => {
    const t = target();
    const cred = (await connector.provision(t)).credential as unknown as PgCredential;
    const c = await login(cred);
    const moved = { ...t, expiresAt: t.expiresAt + 30 * MIN };
    expect(await connector.extend!(moved)).toBeUndefined();
    expect((await roleRow(cred.user))?.rolvaliduntil?.getTime()).toBe(moved.expiresAt);
    expect((await c.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
    await c.end();
    await connector.revoke(t);
  });

  it('revoke terminates every session (also one that did SET ROLE), drops the role, and counts the sessions; again → already_absent', async () => {
    const t = target();
    const cred = (await connector.provision(t)).credential as unknown as PgCredential;
    const idle = await login(cred);
    const switched = await login(cred);
    await switched.query('SET ROLE app_readonly');
    const sleeping = await login(cred);
    const sleep = sleeping.query('SELECT pg_sleep(600)').then(() => null, (e: Error) => e);

    expect(await connector.revoke(t)).toEqual({ audit: { sessionsTerminated: 3, role: cred.user } });
    expect((await sleep)?.message).toMatch(/terminat/);
    await expect(idle.query('SELECT 1')).rejects.toThrow();
    await expect(switched.query('SELECT 1')).rejects.toThrow();
    expect(await sessions(cred.user)).toBe(0);
    expect(await roleRow(cred.user)).toBeUndefined();
    await expect(login(cred)).rejects.toThrow(/does not exist|password authentication failed/);

    expect(await connector.revoke(t)).toEqual({ audit: { note: 'already_absent', role: cred.user } });
  });

  it('a revoke that cannot reassign fails loudly, but only after the role can no longer log in and has no sessions', async () => {
    const t = target({ role: 'admin', config: { ...config, reassignOwnedTo: 'no_such_role' } });
    const cred = (await connector.provision(t)).credential as unknown as PgCredential;
    const c = await login(cred);
    await c.query('CREATE TABLE scratch_it (id int)');
    await expect(connector.revoke(t)).rejects.toThrow(/reassignOwnedTo role no_such_role does not exist/);
    expect(await roleRow(cred.user)).toMatchObject({ rolcanlogin: false });
    expect(await sessions(cred.user)).toBe(0);
    await expect(login(cred)).rejects.toThrow(/not permitted to log in/);
    // With the config fixed, the same grant's role is reassigned and dropped; the session count survives the retry.
    expect(await connector.revoke({ ...t, config })).toEqual({ audit: { sessionsTerminated: 1, role: cred.user } });
    // What the role created is kept, owned by reassignOwnedTo (default: the admin user).
    const app = new pg.Client({ connectionString: cluster.url('app') });
    await app.connect();
    try {
      expect((await app.query(`SELECT tableowner FROM pg_tables WHERE tablename = 'scratch_it'`)).rows).toEqual([{ tableowner: 'latch_admin' }]);
    } finally {
      await app.end();
    }
  });

  it('objects the role owns in another database block DROP ROLE: the error says where, access is already gone, and a retry succeeds once they are moved', async () => {
    await su.query('GRANT CREATE ON SCHEMA public TO app_admin'); // in the postgres database
    const t = target({ role: 'admin' });
    const cred = (await connector.provision(t)).credential as unknown as PgCredential;
    const elsewhere = await login({ ...cred, url: cred.url.replace(/\/app$/, '/postgres') });
    await elsewhere.query('CREATE TABLE stray (id int)');
    const err = await connector.revoke(t).then(() => null, (e: Error) => e);
    expect(err?.message).toMatch(/cannot be dropped because some objects depend on it \(1 object in database postgres\) \(SQLSTATE 2BP01\); it owns objects or holds privileges in another database/);
    expect(await roleRow(cred.user)).toMatchObject({ rolcanlogin: false });
    expect(await sessions(cred.user)).toBe(0);
    await su.query('DROP TABLE stray');
    await su.query('REVOKE CREATE ON SCHEMA public FROM app_admin');
    expect(await connector.revoke(t)).toEqual({ audit: { sessionsTerminated: 1, role: cred.user } });
    expect(await roleRow(cred.user)).toBeUndefined();
  });

  it("a revoke blocked on another session's lock, given up by the caller, frees its admin connection at once: another grant's revoke on the same one-connection pool completes", async () => {
    // One admin connection and server-side timeouts longer than the test: only the abort can free it.
    const tight = postgresConnector({ log: quiet, poolSize: 1, lockTimeoutMs: 120_000, statementTimeoutMs: 120_000 });
    const app = new pg.Client({ connectionString: cluster.url('app') });
    await app.connect();
    try {
      const t1 = target({ role: 'admin' });
      const cred1 = (await tight.provision(t1)).credential as unknown as PgCredential;
      const s1 = await login(cred1);
      await s1.query('CREATE TABLE scratch_abort (id int)');
      const t2 = target();
      const cred2 = (await tight.provision(t2)).credential as unknown as PgCredential;
      await app.query('BEGIN');
      await app.query('SELECT count(*) FROM scratch_abort'); // ACCESS SHARE until COMMIT

      const giveUp = new AbortController();
      const blocked = tight.revoke(t1, giveUp.signal).then(() => null, (e: Error) => e);
      // Wait until the admin really waits for the lock (REASSIGN OWNED), then give up as the lifecycle's timeout does.
      let waiting = 0;
      for (let i = 0; i < 500 && waiting === 0; i++) {
        await new Promise((r) => setTimeout(r, 10));
        waiting = (await su.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = 'latch' AND wait_event_type = 'Lock' AND query LIKE '%REASSIGN OWNED%'`)).rowCount ?? 0;
      }
      expect(waiting).toBe(1);
      giveUp.abort();
      // Ended on the server too: it will not finish its batch behind the retry's back once the lock goes.
      await expect
        .poll(async () => (await su.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = 'latch' AND wait_event_type = 'Lock' AND query LIKE '%REASSIGN OWNED%'`)).rowCount, { timeout: 5_000 })
        .toBe(0);
      expect(await tight.revoke(t2)).toMatchObject({ audit: { role: cred2.user } });
      expect(await roleRow(cred2.user)).toBeUndefined();
      expect((await blocked)?.message).toBeDefined();
      expect(await roleRow(cred1.user)).toMatchObject({ rolcanlogin: false }); // the steps before the lock were done

      await app.query('COMMIT');
      expect(await tight.revoke(t1)).toMatchObject({ audit: { role: cred1.user } });
      expect(await roleRow(cred1.user)).toBeUndefined();
      await app.query('DROP TABLE scratch_abort');
    } finally {
      await app.end();
      await tight.close?.();
    }
  });

  it('a missing target role fails provisioning with the key to fix, and leaves no role behind', async () => {
    const t = target({ config: { ...config, roles: { readonly: 'app_gone', admin: 'app_admin' } } });
    await expect(connector.provision(t)).rejects.toThrow(/target role app_gone \(config.roles.readonly\) does not exist/);
    expect(await roleRow(roleNameFor(t.grantId))).toBeUndefined();
  });

  it('a role that cannot log in is never reported provisioned (here: PostgreSQL\'s clock already past VALID UNTIL)', async () => {
    const t = target({ expiresAt: Date.now() - MIN });
    await expect(connector.provision(t)).rejects.toThrow(/the new role jit_\S+ could not log in .*password authentication failed.*\(SQLSTATE 28P01\); the new role's password was refused/);
    // What the lifecycle does after a failed provisioning: revoke, which removes the half-made role.
    expect((await connector.revoke(t)).audit).toMatchObject({ sessionsTerminated: 0 });
    expect(await roleRow(roleNameFor(t.grantId))).toBeUndefined();
  });

  it('a wrong admin password is reported with where to fix it, never the password', async () => {
    process.env.LATCH_PG_IT_WRONG_PW = 'Wr0ng-secret-for-the-test';
    const wrong = postgresConnector({ log: quiet });
    const t = target({ config: { ...config, passwordEnv: 'LATCH_PG_IT_WRONG_PW' } });
    const err = await wrong.provision(t).then(() => null, (e: Error) => e);
    expect(err?.message).toMatch(/password authentication failed for user "latch_admin".*check the admin password \(environment variable LATCH_PG_IT_WRONG_PW\)/);
    expect(err?.message).not.toContain('Wr0ng-secret');
    await wrong.close?.();
  });

  it('through the server: no password (admin or grantee) in any log line, stored error or event, on success and failure paths', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write(chunk: Buffer, _enc, cb) { lines.push(chunk.toString()); cb(); } });
    const clock = new ManualClock(Date.now());
    const h = await startHarness({
      clock, logger: pino({ level: 'trace' }, sink), revokeBackoff: { firstMs: 50, maxMs: 200 },
      config: `
groups:
  eng: { members: [alice] }
  sre: { members: [bob] }
resources:
  pg-prod: { connector: postgres, roles: { readonly: {}, admin: {} }, config: ${JSON.stringify(config)} }
  pg-bad: { connector: postgres, roles: { readonly: {} }, config: ${JSON.stringify({ ...config, roles: { readonly: 'app_gone' } })} }
  pg-stuck: { connector: postgres, roles: { readonly: {}, admin: {} }, config: ${JSON.stringify({ ...config, reassignOwnedTo: 'no_such_role' })} }
policies:
${['pg-prod', 'pg-bad', 'pg-stuck'].map((r) => `  - { resource: ${r}, requesters: [eng], approvers: { groups: [sre] }, maxDuration: 1h, autoApprove: [{ groups: [eng] }] }`).join('\n')}
`,
    });
    try {
      const alice = await h.as('alice');
      const admin = await h.as('admin');
      const ask = async (resource: string) => {
        const r = await alice.post('/v1/requests', { resource, role: 'readonly', duration: '10m', reason: 'INC-77 checking logs' });
        expect(r.status, JSON.stringify(r.body)).toBe(201);
        for (let i = 0; i < 200; i++) {
          const g = await alice.get(`/v1/grants/${r.body.grantId}`);
          if (g.body.state !== 'provisioning') return g.body;
          await new Promise((res) => setTimeout(res, 20));
        }
        throw new Error('provisioning did not finish');
      };
      const ok = await ask('pg-prod');
      const bad = await ask('pg-bad');
      const stuck = await ask('pg-stuck');
      expect([ok.state, bad.state, stuck.state]).toEqual(['active', 'failed', 'active']);
      const secrets = [process.env[ADMIN_PW_ENV]!];
      for (const g of [ok, stuck]) {
        const cred = (await alice.get(`/v1/grants/${g.id}/credential`)).body.credential as PgCredential;
        secrets.push(cred.password);
        await (await login(cred)).end();
      }
      expect((await alice.post(`/v1/grants/${ok.id}/end`)).body.state).toBe('ended');
      expect((await alice.post(`/v1/grants/${stuck.id}/end`)).body.state).toBe('revoking');
      await new Promise((r) => setTimeout(r, 120));
      clock.advance(1000);
      await h.settle(); // a second failed attempt

      const stored = await h.server.store.db.selectFrom('grants').select(['failure_reason', 'last_revoke_error']).execute();
      const events = (await admin.get('/v1/audit?limit=1000')).body.items;
      expect(stored.some((g) => g.last_revoke_error?.includes('no_such_role'))).toBe(true);
      expect(events.filter((e: { type: string }) => e.type === 'grant.revoke_failed').length).toBeGreaterThanOrEqual(2);
      const everything = [lines.join(''), JSON.stringify(stored), JSON.stringify(events)].join('\n');
      expect(lines.join('')).toMatch(/postgres role provisioned/);
      expect(lines.join('')).toMatch(/revoke failed; will retry/);
      expect(lines.join('')).toMatch(/provisioning failed/);
      for (const s of secrets) expect(everything).not.toContain(s);
    } finally {
      await h.close();
    }
  });
});
