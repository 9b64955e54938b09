/**
 * Issue 3's postgres flow through the built `latch` binary against a throwaway PostgreSQL cluster:
 * alice gets pg-prod for 2 min → logging in with the printed credential works, she can read what
 * the target role allows and cannot write → she holds a session open → `latch end` → that session
 * is terminated and a new login fails. Needs `npm run build` first (`npm test` does it).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newCodeFor } from '../server/auth/identity.js';
import { startHarness, type Harness } from '../server/test-support/harness.js';
import { loginError, pgUnavailable, prepareTarget, startPgCluster, type PgCluster } from '../server/test-support/pg-cluster.js';
import { serviceAvailable } from '../server/test-support/services.js';

const BIN = resolve('dist/src/cli/main.js');
const ADMIN_PW_ENV = 'LATCH_PG_CLI_ADMIN_PW';
interface Run { code: number; stdout: string; stderr: string }

const available = serviceAvailable('latch CLI with a postgres resource', pgUnavailable());

describe.runIf(available)('latch CLI with a postgres resource (real cluster)', () => {
  let cluster: PgCluster;
  let su: pg.Client;
  let h: Harness;
  let tmp: string;
  const open: pg.Client[] = [];

  const latch = (user: string, ...args: string[]): Promise<Run> =>
    new Promise((done) => {
      execFile(process.execPath, [BIN, ...args], { env: { ...process.env, LATCH_HOME: join(tmp, user), LATCH_KEYCHAIN: 'off' }, timeout: 30_000 }, (err, stdout, stderr) => {
        done({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
      });
    });

  beforeAll(async () => {
    if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` before vitest (\`npm test\` does)`);
    cluster = await startPgCluster();
    ({ su } = await prepareTarget(cluster, {
      passwordEnv: ADMIN_PW_ENV,
      roles: ['app_readonly'],
      databases: { app: ['CREATE TABLE accounts (id int PRIMARY KEY, owner text)', `INSERT INTO accounts VALUES (1, 'acme')`, 'GRANT SELECT ON accounts TO app_readonly'] },
    }));
    const config = { url: `postgres://latch_admin@${cluster.host}:${cluster.port}/app`, passwordEnv: ADMIN_PW_ENV, roles: { readonly: 'app_readonly' } };
    tmp = mkdtempSync(join(tmpdir(), 'latch-pg-cli-'));
    h = await startHarness({
      config: `
groups:
  eng: { members: [alice] }
  sre: { members: [bob] }
resources:
  pg-prod: { connector: postgres, roles: { readonly: {} }, config: ${JSON.stringify(config)} }
policies:
  - { resource: pg-prod, requesters: [eng], approvers: { groups: [sre] }, maxDuration: 4h }
`,
    });
    for (const user of ['alice', 'bob']) {
      const code = (await newCodeFor(h.server.store, user, Date.now())).code;
      const r = await latch(user, 'login', '--server', h.url, '--code', code);
      expect(r.code, r.stderr).toBe(0);
    }
  });

  afterAll(async () => {
    for (const c of open) await c.end().catch(() => undefined);
    await h?.close();
    await su?.end().catch(() => undefined);
    await cluster?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    delete process.env[ADMIN_PW_ENV];
  });

  it('request → approve → credential logs in, reads, cannot write → `latch end` cuts the open session and a new login fails', async () => {
    const created = await latch('alice', 'request', 'pg-prod', '--role', 'readonly', '--for', '2m', '--reason', 'INC-1234 check the replica');
    expect(created.code, created.stderr).toBe(0);
    const requestId = /^request (req_\w+) pending/m.exec(created.stdout)?.[1];
    expect(requestId, created.stdout).toBeDefined();
    const approved = await latch('bob', 'approve', requestId!);
    expect(approved.code, approved.stderr).toBe(0);

    let grant: { id: string; state: string } | undefined;
    for (let i = 0; i < 100 && grant?.state !== 'active'; i++) {
      const grants = JSON.parse((await latch('alice', 'grants', '--json')).stdout) as { id: string; requestId: string; state: string }[];
      grant = grants.find((g) => g.requestId === requestId);
      if (grant?.state !== 'active') await new Promise((r) => setTimeout(r, 100));
    }
    expect(grant?.state).toBe('active');

    // What alice sees: the connection details, one per line, and a ready connection string.
    const shown = await latch('alice', 'credential', grant!.id);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/^database: app$/m);
    const url = /^url: (postgresql:\/\/\S+)$/m.exec(shown.stdout)?.[1];
    expect(url, shown.stdout).toBeDefined();
    const user = /^user: (jit_\w+)$/m.exec(shown.stdout)?.[1];
    expect(user, shown.stdout).toBeDefined();

    const session = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
    const lost: Error[] = [];
    session.on('error', (e) => lost.push(e));
    open.push(session);
    await session.connect();
    expect((await session.query('SELECT owner FROM accounts')).rows).toEqual([{ owner: 'acme' }]);
    await expect(session.query(`INSERT INTO accounts VALUES (2, 'mallory')`)).rejects.toThrow(/permission denied/);
    // The session stays open, busy, while she ends the grant from the terminal.
    const sleeping = session.query('SELECT pg_sleep(600)').then(() => null, (e: Error) => e);

    const ended = await latch('alice', 'end', grant!.id);
    expect(ended.code, ended.stderr).toBe(0);
    expect(ended.stdout).toContain(`grant ${grant!.id} ended; access to pg-prod/readonly is revoked`);
    expect((await sleeping)?.message).toMatch(/terminat/);
    expect(await loginError(url!)).toMatch(/does not exist|password authentication failed/);
    expect(Number((await su.query('SELECT count(*) AS n FROM pg_stat_activity WHERE usename = $1', [user])).rows[0].n)).toBe(0);
    expect((await su.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [user])).rowCount).toBe(0);
    const failed = await latch('alice', 'credential', grant!.id);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/not active; its credential is gone/);
  }, 90_000);
});
