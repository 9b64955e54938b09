/**
 * FIELD-CASES.md, server side: each case's scenario as a test, one describe per case, through the
 * real server on loopback with a ManualClock.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { sql } from 'kysely';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../shared/clock.js';
import { policyFor } from '../shared/policy.js';
import type { RequestState } from '../shared/states.js';
import { newCodeFor } from './auth/identity.js';
import { parseConfig } from './config/load.js';
import { createLatchServer, type LatchServer } from './server.js';
import type { GrantsTable, RequestsTable } from './store/schema.js';
import { FakeConnector } from './test-support/fake-connector.js';
import { TEST_CONFIG, TestClient, startHarness, type Harness } from './test-support/harness.js';
import { freePort } from './test-support/net.js';
import { openEvents } from './test-support/sse-client.js';
import { eventually } from './test-support/eventually.js';

const MIN = 60_000;
const H = 60 * MIN;
const iso = (ms: number) => new Date(ms).toISOString();
const at = (hh: number, mm = 0, day = 2) => Date.UTC(2026, 2, day, hh, mm, 0);
const REASON = 'INC-1234 restart replica';

/** pg-prod behind the fake connector; pending requests live 1 h (B21). */
const FIELD_CONFIG = `
groups:
  eng: { members: [alice, dave] }
  sre: { members: [bob, carol] }
resources:
  pg-prod:
    connector: fake
    roles: { readonly: {}, admin: {} }
policies:
  - resource: pg-prod
    requesters: [eng]
    approvers: { groups: [sre] }
    maxDuration: 4h
    approveWithin: 1h
    extensions: { max: 1 }
`;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function harness(opts: Parameters<typeof startHarness>[0]): Promise<Harness> {
  const h = await startHarness(opts);
  cleanups.push(() => h.close());
  return h;
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'latch-field-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}


async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  if (!m) throw new Error(`no metric ${name}`);
  return Number(m[1]);
}

/** `count` active demo-pass/read grants of alice's, written straight to the store (bulk set-up). */
async function insertActiveGrants(server: LatchServer, count: number, activatedAt: number, expiresAt: number): Promise<string[]> {
  const policyJson = JSON.stringify(policyFor(server.config.current, 'demo-pass', 'read'));
  const ids = Array.from({ length: count }, (_, i) => String(i).padStart(10, '0'));
  await server.store.write(async (tx) => {
    for (const n of ids) {
      const request: RequestsTable = {
        id: `req_bulk${n}`, kind: 'access', state: 'approved', requester: 'alice', resource: 'demo-pass', role: 'read', duration_ms: expiresAt - activatedAt,
        reason: REASON, start_at: null, break_glass: 0, public_key: null, created_at: activatedAt, request_expires_at: activatedAt + 24 * H, decided_at: activatedAt,
        decided_by: 'bob', decision_comment: null, policy_json: policyJson, grant_id: `gr_bulk${n}`, idempotency_key: null,
      };
      const grant: GrantsTable = {
        id: `gr_bulk${n}`, request_id: request.id, user_name: 'alice', resource: 'demo-pass', role: 'read', connector: 'pass', state: 'active',
        end_reason: null, duration_ms: expiresAt - activatedAt, start_at: null, activated_at: activatedAt, expires_at: expiresAt, ended_at: null, failure_reason: null,
        extensions_used: 0, break_glass: 0, policy_json: policyJson, public_key: null, target_json: '{}', credential_enc: null,
        revoke_attempts: 0, next_revoke_at: null, last_revoke_error: null, revoke_due_at: null,
      };
      await tx.insertInto('requests').values(request).execute();
      await tx.insertInto('grants').values(grant).execute();
    }
  });
  return ids.map((n) => `gr_bulk${n}`);
}

describe('B11: expiry missed while the server was down', () => {
  it('a grant whose end passed while down is revoked at start, marked expired with late_by, and alice is told once', async () => {
    const clock = new ManualClock(at(11, 0));
    const fake = new FakeConnector(clock); // the target outlives the server
    const dataDir = tempDir();
    const first = await startHarness({ config: FIELD_CONFIG, clock, dataDir, extraConnectors: () => [fake] });
    let grantId: string;
    try {
      const alice = await first.as('alice');
      const bob = await first.as('bob');
      const r = await alice.post('/v1/requests', { resource: 'pg-prod', role: 'readonly', duration: '1h', reason: REASON });
      const approved = await bob.post(`/v1/requests/${r.body.id}/approve`, {});
      await first.settle();
      grantId = approved.body.grantId;
      expect((await alice.get(`/v1/grants/${grantId}`)).body).toMatchObject({ state: 'active', expiresAt: iso(at(12, 0)) });
      clock.advance(55 * MIN); // 11:55
      await first.settle();
      expect((await alice.get(`/v1/grants/${grantId}`)).body.state).toBe('active');
    } finally {
      await first.close();
    }

    clock.set(at(12, 10)); // down from 11:55 to 12:10
    expect(fake.live.has(grantId)).toBe(true);
    const second = await harness({ config: FIELD_CONFIG, clock, dataDir, extraConnectors: () => [fake] });
    const alice = await second.as('alice');
    // No settle(): the server's own start-up sweep must do it, without the clock moving.
    const ended = await eventually('grant ended after restart', async () => (await alice.get(`/v1/grants/${grantId}`)).body, (g) => g.state === 'ended');
    expect(ended).toMatchObject({ endReason: 'expired', endedAt: iso(at(12, 10)), expiresAt: iso(at(12, 0)) });
    expect(fake.live.has(grantId)).toBe(false);
    expect(fake.callsFor('revoke', grantId).map((c) => c.at)).toEqual([at(12, 10)]);

    const stream = await openEvents(second.url, alice.token!, { after: 0 });
    const endedEvents = stream.ofType('grant.ended').filter((e) => e.json.grantId === grantId);
    expect(endedEvents).toHaveLength(1);
    expect(endedEvents[0]!.json.at).toBe(iso(at(12, 10))); // the real revoke time, not backdated
    expect(endedEvents[0]!.json.data).toMatchObject({ reason: 'expired', late_by: '10m', lateByMs: 10 * MIN });

    expect(await metric(second.url, 'latch_oldest_overdue_grant_seconds')).toBe(0);
  });

  it('the oldest-overdue metric reads 0 while the sweeper keeps up and rises when it is stopped', async () => {
    const clock = new ManualClock(at(11, 0));
    const fake = new FakeConnector(clock);
    const h = await harness({ config: FIELD_CONFIG, clock, extraConnectors: () => [fake] });
    const alice = await h.as('alice');
    const bob = await h.as('bob');
    const r = await alice.post('/v1/requests', { resource: 'pg-prod', role: 'readonly', duration: '30m', reason: REASON });
    const { grantId } = (await bob.post(`/v1/requests/${r.body.id}/approve`, {})).body;
    await h.settle();
    expect(await metric(h.url, 'latch_oldest_overdue_grant_seconds')).toBe(0);

    await h.server.scheduler.stop();
    clock.advance(35 * MIN); // 5 min past the end, nobody sweeping
    expect((await alice.get(`/v1/grants/${grantId}`)).body.state).toBe('active');
    expect(await metric(h.url, 'latch_oldest_overdue_grant_seconds')).toBe(5 * 60);

    await h.server.scheduler.start();
    await eventually('grant ended once the sweeper runs', async () => (await alice.get(`/v1/grants/${grantId}`)).body.state, (s) => s === 'ended');
    expect(await metric(h.url, 'latch_oldest_overdue_grant_seconds')).toBe(0);
  });

  it('a server started with overdue grants answers no API request before it has expired them', async () => {
    const clock = new ManualClock(at(11, 0));
    const dataDir = tempDir();
    const first = await startHarness({ clock, dataDir }); // TEST_CONFIG: demo-pass behind the pass connector
    let alice: TestClient;
    let grantId: string;
    try {
      alice = await first.as('alice');
      const r = await alice.post('/v1/requests', { resource: 'demo-pass', role: 'read', duration: '30m', reason: REASON });
      grantId = (await (await first.as('bob')).post(`/v1/requests/${r.body.id}/approve`, {})).body.grantId;
      await first.settle();
      expect((await alice.get(`/v1/grants/${grantId}/credential`)).status).toBe(200);
      // Enough others that a sweep running alongside the API would still be under way at its first answer.
      await insertActiveGrants(first.server, 300, at(11, 0), at(11, 30));
    } finally {
      await first.close();
    }

    clock.set(at(11, 40)); // down from 11:00 to 11:40; every grant ended at 11:30
    const server = await createLatchServer({ dataDir, config: parseConfig(TEST_CONFIG), clock, logger: pino({ level: 'silent' }), accessTtlS: 400 * 24 * 3600 });
    cleanups.push(() => server.close());
    const port = await freePort();
    const listening = server.listen('127.0.0.1', port);
    const client = new TestClient(`http://127.0.0.1:${port}`, alice.token, 'alice');
    // Knock until the port opens: the very first answer must already see every grant expired.
    let firstAnswer;
    for (const deadline = Date.now() + 30_000; ; ) {
      try {
        firstAnswer = await client.get('/v1/grants?scope=mine&state=active&limit=500');
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 1));
      }
    }
    expect(firstAnswer.status).toBe(200);
    expect(firstAnswer.body.items).toEqual([]);
    expect((await client.get(`/v1/grants/${grantId}/credential`)).status).toBe(409);
    await listening;
    const ended = await eventually('grant ended', async () => (await client.get(`/v1/grants/${grantId}`)).body, (g) => g.state === 'ended');
    expect(ended).toMatchObject({ endReason: 'expired', endedAt: iso(at(11, 40)) });
  });
});

const BIN = resolve('dist/src/cli/main.js');
interface AdminRun { code: number; stdout: string; stderr: string }

/** The built `latch admin --data-dir DIR …`, as an operator runs it on the server host. */
function latchAdmin(dataDir: string, ...args: string[]): Promise<AdminRun> {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` before vitest (\`npm test\` does)`);
  return new Promise((done) => {
    execFile(process.execPath, [BIN, 'admin', '--data-dir', dataDir, ...args], { env: { ...process.env, LATCH_HOME: join(dataDir, 'operator-home'), LATCH_KEYCHAIN: 'off' }, timeout: 30_000 }, (err, stdout, stderr) => {
      done({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

describe('B14: SQLite "database is locked" under concurrent writers', () => {
  it('the expiry sweep, 20 parallel approvals and `latch admin user add` in other processes at once: no 5xx, no SQLITE_BUSY, all persisted', async () => {
    const T0 = at(9, 0);
    const clock = new ManualClock(T0);
    const users = Array.from({ length: 20 }, (_, i) => `u${String(i + 1).padStart(2, '0')}`);
    const config = TEST_CONFIG.replace('eng: { members: [alice, dave] }', `eng: { members: [alice, dave, ${users.join(', ')}] }`);
    expect(config).not.toBe(TEST_CONFIG);
    const h = await harness({ config, clock });
    const db = h.server.store.db;

    // Every connection the server opens: WAL and a busy timeout of at least 5 s.
    const journal = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(db);
    expect(journal.rows[0]?.journal_mode).toBe('wal');
    const busy = await sql<{ timeout: number }>`pragma busy_timeout`.execute(db);
    expect(busy.rows[0]?.timeout).toBeGreaterThanOrEqual(5000);

    // 200 active grants, all ending at 09:10.
    await insertActiveGrants(h.server, 200, T0, T0 + 10 * MIN);
    h.server.scheduler.poke();

    // 20 pending requests to approve.
    const pending: string[] = [];
    for (const u of users) {
      const r = await (await h.as(u)).post('/v1/requests', { resource: 'demo-pass', role: 'read', duration: '30m', reason: REASON });
      expect(r.status).toBe(201);
      pending.push(r.body.id);
    }
    const bob = await h.as('bob');

    // The other writer: the real `latch admin --data-dir` CLI, each run its own process, in three
    // lanes back to back from before the sweep starts until after it has ended.
    let stop = false;
    let next = 0;
    const runs: (AdminRun & { user: string; start: number; end: number })[] = [];
    const lane = async () => {
      while (!stop) {
        const user = `ext${String(next++).padStart(3, '0')}`;
        const start = Date.now();
        const r = await latchAdmin(h.dataDir, 'user', 'add', user, '--group', 'eng', '--json');
        runs.push({ ...r, user, start, end: Date.now() });
      }
    };
    const lanes = Promise.all([lane(), lane(), lane()]);
    await eventually('the CLI has added a user', async () => runs.length, (n) => n > 0, 30_000);

    // All at once: the sweep (the scheduler's timer fires), the approvals, the CLI.
    const sweepStart = Date.now();
    const approvals = Promise.all(pending.map((id) => bob.post(`/v1/requests/${id}/approve`, {})));
    clock.advance(10 * MIN);
    const answers = await approvals;
    await eventually(
      'the sweep ends all 200 grants',
      async () => Number((await db.selectFrom('grants').select((eb) => eb.fn.countAll<number>().as('n')).where('id', 'like', 'gr_bulk%').where('state', '=', 'ended').executeTakeFirst())?.n),
      (n) => n === 200,
      20_000,
    );
    const sweepEnd = Date.now();
    stop = true;
    await lanes;
    await h.settle();

    // The CLI wrote while the sweep ran, and never failed.
    expect(runs.some((r) => r.start < sweepEnd && r.end > sweepStart)).toBe(true);
    for (const r of runs) {
      expect(r.stderr, r.user).toBe('');
      expect(r.code, r.user).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ user: r.user, code: expect.any(String) });
    }
    for (const a of answers) {
      expect(a.status, JSON.stringify(a.body)).toBe(200);
      expect(JSON.stringify(a.body)).not.toMatch(/SQLITE_BUSY|locked/i);
      expect(a.body.state).toBe('approved');
    }

    const approved = await db.selectFrom('requests').select(['id', 'state', 'grant_id']).where('id', 'in', pending).execute();
    expect(approved).toHaveLength(20);
    for (const r of approved) {
      expect(r.state).toBe('approved');
      expect(r.grant_id).not.toBeNull();
    }
    const bulk = await db.selectFrom('grants').select(['state', 'end_reason']).where('id', 'like', 'gr_bulk%').execute();
    expect(bulk.every((g) => g.state === 'ended' && g.end_reason === 'expired')).toBe(true);
    // Every user the CLI said it added is there, in its group.
    const ext = await db.selectFrom('user_groups').select('user_name').where('user_name', 'like', 'ext%').where('group_name', '=', 'eng').execute();
    expect(ext.map((r) => r.user_name).sort()).toEqual(runs.map((r) => r.user).sort());
    // The audit chain is still whole after all that interleaving.
    const admin = await h.as('admin');
    const audit = (await admin.get('/v1/audit?limit=1000')).body.items as { id: number; hash: string; prevHash: string }[];
    for (let i = 1; i < audit.length; i++) expect(audit[i]!.prevHash).toBe(audit[i - 1]!.hash);
  });
});

describe('B15: pending-request lifetime is not the grant duration', () => {
  it('a 10-min request approved 40 min later runs 09:40–09:50; an unactioned one times out after 24 h with no grant', async () => {
    const clock = new ManualClock(at(9, 0));
    const h = await harness({ clock }); // TEST_CONFIG: pg-prod approveWithin 24h
    const alice = await h.as('alice');
    const bob = await h.as('bob');
    const r1 = await alice.post('/v1/requests', { resource: 'pg-prod', role: 'readonly', duration: '10m', reason: REASON });
    const r2 = await alice.post('/v1/requests', { resource: 'pg-prod', role: 'admin', duration: '10m', reason: REASON });
    expect(r1.body.requestExpiresAt).toBe(iso(at(9, 0, 3)));

    clock.advance(40 * MIN);
    await h.settle();
    const seen = (await bob.get(`/v1/requests/${r1.body.id}`)).body;
    expect(seen).toMatchObject({ state: 'pending', canReview: true });
    const approved = await bob.post(`/v1/requests/${r1.body.id}/approve`, {});
    expect(approved.body.state).toBe('approved');
    await h.settle();

    const grant = (await alice.get(`/v1/grants/${approved.body.grantId}`)).body;
    expect(grant).toMatchObject({ state: 'active', activatedAt: iso(at(9, 40)), expiresAt: iso(at(9, 50)) });
    // Two separate fields, each meaning one thing.
    expect((await alice.get(`/v1/requests/${r1.body.id}`)).body.requestExpiresAt).toBe(iso(at(9, 0, 3)));

    clock.advance(10 * MIN);
    await h.settle();
    expect((await alice.get(`/v1/grants/${grant.id}`)).body).toMatchObject({ state: 'ended', endReason: 'expired' });

    clock.set(at(9, 0, 3) - 1);
    await h.settle();
    expect((await alice.get(`/v1/requests/${r2.body.id}`)).body.state).toBe('pending');
    clock.advance(1);
    await h.settle();
    expect((await alice.get(`/v1/requests/${r2.body.id}`)).body).toMatchObject({ state: 'timed_out', grantId: null });
    const grants = (await alice.get('/v1/grants')).body.items as { requestId: string }[];
    expect(grants.map((g) => g.requestId)).toEqual([r1.body.id]);
  });
});

describe('B16: requested duration above the resource maximum', () => {
  const policyYaml = (max: string, extra = '') => `
groups:
  eng: { members: [alice] }
  sre: { members: [bob] }
resources:
  pg-prod:
    connector: pass
    roles: { readonly: {}, admin: {} }
policies:
  - resource: pg-prod
    requesters: [eng]
    approvers: { groups: [sre] }
    maxDuration: ${max}
${extra}`;

  /** The real server with a config file, so ConfigHolder can reload it. */
  async function serverWithFile(file: string, clock: ManualClock) {
    const dataDir = tempDir();
    const server: LatchServer = await createLatchServer({ dataDir, configFile: file, clock, logger: pino({ level: 'silent' }), accessTtlS: 400 * 24 * 3600 });
    const url = await server.listen('127.0.0.1', 0);
    cleanups.push(() => server.close());
    const as = async (user: string) => {
      const { code } = await newCodeFor(server.store, user, clock.now());
      const r = await new TestClient(url, null, user).post('/v1/enroll', { code, device: 'test' });
      return new TestClient(url, r.body.accessToken, user);
    };
    return { server, url, as };
  }

  it('6h is refused with duration_exceeds_max and the max; a lowered max applies to new requests, a pending one keeps its snapshot', async () => {
    const clock = new ManualClock(at(9, 0));
    const file = join(tempDir(), 'latch.yaml');
    writeFileSync(file, policyYaml('4h'));
    const { server, as } = await serverWithFile(file, clock);
    const alice = await as('alice');
    const bob = await as('bob');

    const six = await alice.post('/v1/requests', { resource: 'pg-prod', role: 'readonly', duration: '6h', reason: REASON });
    expect(six.status).toBe(422);
    expect(six.body.error).toMatchObject({ code: 'duration_exceeds_max', max: '4h', maxMs: 4 * H });
    expect((await alice.get('/v1/requests')).body.items).toEqual([]);

    const offered = (await alice.get('/v1/resources')).body.items[0].roles[0];
    expect(offered).toMatchObject({ role: 'readonly', maxDurationMs: 4 * H });
    expect(offered.defaultDurationMs).toBeLessThanOrEqual(4 * H);

    const r1 = await alice.post('/v1/requests', { resource: 'pg-prod', role: 'readonly', duration: '3h', reason: REASON });
    expect(r1.status).toBe(201);

    // A file that breaks the rules is refused and the running policy stays.
    writeFileSync(file, policyYaml('2h', '    defaultDuration: 3h\n'));
    expect((await server.reloadConfig()).ok).toBe(false);
    expect((await alice.get('/v1/resources')).body.items[0].roles[0].maxDurationMs).toBe(4 * H);

    writeFileSync(file, policyYaml('2h'));
    expect(await server.reloadConfig()).toEqual({ ok: true });
    const lowered = (await alice.get('/v1/resources')).body.items[0].roles;
    for (const role of lowered) {
      expect(role.maxDurationMs).toBe(2 * H);
      expect(role.defaultDurationMs).toBeLessThanOrEqual(2 * H);
    }
    const three = await alice.post('/v1/requests', { resource: 'pg-prod', role: 'admin', duration: '3h', reason: REASON });
    expect(three.status).toBe(422);
    expect(three.body.error).toMatchObject({ code: 'duration_exceeds_max', max: '2h' });
    expect(three.body.error.message).toContain('2h');

    // No duration given: the default, never above the (new) max.
    const dflt = await alice.post('/v1/requests', { resource: 'pg-prod', role: 'admin', reason: REASON });
    expect(dflt.status).toBe(201);
    expect(dflt.body.durationMs).toBeLessThanOrEqual(2 * H);

    // The request made under the 4h policy is decided under it.
    const approved = await bob.post(`/v1/requests/${r1.body.id}/approve`, {});
    expect(approved.body.state).toBe('approved');
    await eventually('grant active', async () => (await alice.get(`/v1/grants/${approved.body.grantId}`)).body, (g) => g.state === 'active');
    const g = (await alice.get(`/v1/grants/${approved.body.grantId}`)).body;
    expect(g.durationMs).toBe(3 * H);
    expect(Date.parse(g.expiresAt) - Date.parse(g.activatedAt)).toBe(3 * H);
  });

  it('the default duration is at most the max, with or without a defaultDuration', async () => {
    const clock = new ManualClock(at(9, 0));
    const file = join(tempDir(), 'latch.yaml');
    writeFileSync(file, policyYaml('90m', '    defaultDuration: 30m\n'));
    const { as } = await serverWithFile(file, clock);
    const alice = await as('alice');
    const r = await alice.post('/v1/requests', { resource: 'pg-prod', role: 'readonly', reason: REASON });
    expect(r.body.durationMs).toBe(30 * MIN);
    const roles = (await alice.get('/v1/resources')).body.items[0].roles;
    expect(roles[0]).toMatchObject({ maxDurationMs: 90 * MIN, defaultDurationMs: 30 * MIN });
  });
});

describe('B17: approve/deny race and deny-after-approve', () => {
  it('bob approves while carol denies: one wins by compare-and-set, the loser hears who won, the audit holds one decision', async () => {
    const clock = new ManualClock(at(9, 0));
    const fake = new FakeConnector(clock);
    const h = await harness({ config: FIELD_CONFIG, clock, extraConnectors: () => [fake] });
    const alice = await h.as('alice');
    const bob = await h.as('bob');
    const carol = await h.as('carol');
    const admin = await h.as('admin');
    const r = await alice.post('/v1/requests', { resource: 'pg-prod', role: 'readonly', duration: '1h', reason: REASON });

    const [a, d] = await Promise.all([
      bob.post(`/v1/requests/${r.body.id}/approve`, {}),
      carol.post(`/v1/requests/${r.body.id}/deny`, { comment: 'not during the freeze' }),
    ]);
    expect([a.status, d.status].sort()).toEqual([200, 409]);
    const [winner, state, loser] = a.status === 200 ? ['bob', 'approved', d] : ['carol', 'denied', a];
    expect(loser.body.error).toMatchObject({ code: 'already_resolved', decidedBy: winner, state });
    expect(loser.body.error.message).toContain(`${state} by ${winner}`);
    const audit = (await admin.get('/v1/audit?limit=1000')).body.items as any[];
    expect(audit.filter((e) => e.requestId === r.body.id && /^request\.(approved|denied)$/.test(e.type))).toHaveLength(1);
    expect((await alice.get(`/v1/requests/${r.body.id}`)).body).toMatchObject({ state, decidedBy: winner });
  });

  it('carol cannot deny a request whose grant is already active; only ending the grant takes access away', async () => {
    const clock = new ManualClock(at(9, 0));
    const fake = new FakeConnector(clock);
    const h = await harness({ config: FIELD_CONFIG, clock, extraConnectors: () => [fake] });
    const alice = await h.as('alice');
    const bob = await h.as('bob');
    const carol = await h.as('carol');
    const r = await alice.post('/v1/requests', { resource: 'pg-prod', role: 'readonly', duration: '1h', reason: REASON });
    const approved = await bob.post(`/v1/requests/${r.body.id}/approve`, {});
    await h.settle();
    const grantId = approved.body.grantId;
    expect((await alice.get(`/v1/grants/${grantId}`)).body.state).toBe('active');

    const late = await carol.post(`/v1/requests/${r.body.id}/deny`, { comment: 'changed my mind' });
    expect(late.status).toBe(409);
    expect(late.body.error).toMatchObject({ code: 'already_resolved', decidedBy: 'bob', state: 'approved' });
    expect((await alice.get(`/v1/requests/${r.body.id}`)).body.state).toBe('approved');
    expect((await alice.get(`/v1/grants/${grantId}`)).body.state).toBe('active');
    expect(fake.live.has(grantId)).toBe(true);

    const ended = await alice.post(`/v1/grants/${grantId}/end`);
    expect(ended.body).toMatchObject({ state: 'ended', endReason: 'ended_by_user' });
    expect(fake.callsFor('revoke', grantId)).toHaveLength(1);
    expect(fake.live.has(grantId)).toBe(false);
  });
});

describe('B21: rejected, cancelled or timed-out requests', () => {
  async function setup() {
    const clock = new ManualClock(at(9, 0));
    const fake = new FakeConnector(clock);
    const h = await harness({ config: FIELD_CONFIG, clock, extraConnectors: () => [fake] });
    return { clock, fake, h, alice: await h.as('alice'), bob: await h.as('bob') };
  }

  it('(a) a cancelled request is `cancelled`, has no grant, and bob sees "cancelled by requester"', async () => {
    const { h, alice, bob } = await setup();
    const bobStream = await openEvents(h.url, bob.token!);
    const r1 = await alice.post('/v1/requests', { resource: 'pg-prod', role: 'readonly', duration: '1h', reason: REASON });
    await bobStream.waitFor((e) => e.event === 'request.created' && e.json.requestId === r1.body.id);

    const cancelled = await alice.post(`/v1/requests/${r1.body.id}/cancel`);
    expect(cancelled.body).toMatchObject({ state: 'cancelled', grantId: null, decisionComment: 'cancelled by requester' });

    const heard = await bobStream.waitFor((e) => e.event === 'request.cancelled' && e.json.requestId === r1.body.id);
    expect(heard.json.data.message).toBe('cancelled by requester');
    const listed = ((await bob.get('/v1/requests?scope=review')).body.items as any[]).find((x) => x.id === r1.body.id);
    expect(listed).toMatchObject({ state: 'cancelled', decisionComment: 'cancelled by requester', canReview: false });
    const tooLate = await bob.post(`/v1/requests/${r1.body.id}/approve`, {});
    expect(tooLate.status).toBe(409);

    const rows = await h.server.store.db.selectFrom('grants').select('id').where('request_id', '=', r1.body.id).execute();
    expect(rows).toEqual([]);
  });

  it('(b) a request not actioned within its 1 h TTL times out, alice hears "expired" exactly once, and the pending count drops', async () => {
    const { clock, h, alice, bob } = await setup();
    const r2 = await alice.post('/v1/requests', { resource: 'pg-prod', role: 'readonly', duration: '1h', reason: REASON });
    expect(await metric(h.url, 'latch_pending_requests')).toBe(1);
    expect((await bob.get('/v1/requests?scope=review&state=pending')).body.items).toHaveLength(1);

    clock.advance(H - 1);
    await h.settle();
    expect((await alice.get(`/v1/requests/${r2.body.id}`)).body.state).toBe('pending');
    clock.advance(1);
    await h.settle();
    await h.settle();
    expect((await alice.get(`/v1/requests/${r2.body.id}`)).body).toMatchObject({ state: 'timed_out', grantId: null });

    const stream = await openEvents(h.url, alice.token!, { after: 0 });
    const aboutR2 = stream.events.filter((e) => e.json?.requestId === r2.body.id).map((e) => e.event);
    expect(aboutR2).toEqual(['request.created', 'request.timed_out']);
    const timedOut = stream.ofType('request.timed_out')[0]!;
    expect(timedOut.json.data.message).toMatch(/expired/);

    expect(await metric(h.url, 'latch_pending_requests')).toBe(0);
    expect((await bob.get('/v1/requests?scope=review&state=pending')).body.items).toEqual([]);
  });

  it('(c) a denied request reaches alice as request.denied with who and why', async () => {
    const { h, alice, bob } = await setup();
    const aliceStream = await openEvents(h.url, alice.token!);
    const r3 = await alice.post('/v1/requests', { resource: 'pg-prod', role: 'readonly', duration: '1h', reason: REASON });
    await bob.post(`/v1/requests/${r3.body.id}/deny`, { comment: 'use the replica' });
    const denied = await aliceStream.waitFor((e) => e.event === 'request.denied' && e.json.requestId === r3.body.id);
    expect(denied.json).toMatchObject({ actor: 'bob', data: { by: 'bob', comment: 'use the replica' } });
    expect((await h.server.store.db.selectFrom('grants').select('id').where('request_id', '=', r3.body.id).execute())).toEqual([]);
  });

  it('statuses are a closed set in the database too: a misspelt state is refused by a CHECK constraint', async () => {
    const { h, alice } = await setup();
    const db = h.server.store.db;
    const r = await alice.post('/v1/requests', { resource: 'pg-prod', role: 'readonly', duration: '1h', reason: REASON });
    await expect(sql`update requests set state = 'expired' where id = ${r.body.id}`.execute(db)).rejects.toThrow(/CHECK constraint/);
    await expect(sql`update requests set state = 'rejected' where id = ${r.body.id}`.execute(db)).rejects.toThrow(/CHECK constraint/);
    await expect(
      sql`insert into requests (id, kind, state, requester, resource, role, duration_ms, reason, created_at, request_expires_at, policy_json)
          values ('req_bogus000000', 'access', 'pendng', 'alice', 'pg-prod', 'readonly', 1, 'x', 0, 0, '{}')`.execute(db),
    ).rejects.toThrow(/CHECK constraint/);
    await expect(
      sql`insert into grants (id, request_id, user_name, resource, role, connector, state, duration_ms, policy_json, target_json)
          values ('gr_bogus0000000', ${r.body.id}, 'alice', 'pg-prod', 'readonly', 'fake', 'revoked', 1, '{}', '{}')`.execute(db),
    ).rejects.toThrow(/CHECK constraint/);
    await expect(
      sql`insert into grants (id, request_id, user_name, resource, role, connector, state, end_reason, duration_ms, policy_json, target_json)
          values ('gr_bogus0000000', ${r.body.id}, 'alice', 'pg-prod', 'readonly', 'fake', 'ended', 'revoked', 1, '{}', '{}')`.execute(db),
    ).rejects.toThrow(/CHECK constraint/);
    expect((await alice.get(`/v1/requests/${r.body.id}`)).body.state).toBe('pending');
    // And in TypeScript: a misspelt state does not compile.
    // @ts-expect-error 'expired' is not a request state (it is `timed_out`)
    const typo: RequestState = 'expired';
    expect(typo).toBe('expired');
  });
});

describe('B23: duplicate requests', () => {
  it('a double-click sends two identical POSTs with one Idempotency-Key: one request, both answers carry its id', async () => {
    const clock = new ManualClock(at(9, 0));
    const fake = new FakeConnector(clock);
    const h = await harness({ config: FIELD_CONFIG, clock, extraConnectors: () => [fake] });
    const alice = await h.as('alice');
    const bob = await h.as('bob');
    const carol = await h.as('carol');
    const bobStream = await openEvents(h.url, bob.token!);
    const carolStream = await openEvents(h.url, carol.token!);
    const body = { resource: 'pg-prod', role: 'readonly', duration: '1h', reason: REASON };

    const first = alice.post('/v1/requests', body, { 'idempotency-key': 'submit-1' });
    await new Promise((r) => setTimeout(r, 100)); // the second click, well within 300 ms
    const second = alice.post('/v1/requests', body, { 'idempotency-key': 'submit-1' });
    const [a, b] = await Promise.all([first, second]);
    expect([a.status, b.status].sort()).toEqual([200, 201]);
    expect(b.body.id).toBe(a.body.id);
    const simultaneous = await Promise.all([1, 2].map(() => alice.post('/v1/requests', body, { 'idempotency-key': 'submit-1' })));
    for (const s of simultaneous) expect(s.body.id).toBe(a.body.id);
    expect((await alice.get('/v1/requests')).body.items).toHaveLength(1);

    // The same request again (a new key) while R is pending: 409 with R's id.
    const again = await alice.post('/v1/requests', body, { 'idempotency-key': 'submit-2' });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: 'already_pending', requestId: a.body.id });
    const noKey = await alice.post('/v1/requests', body);
    expect(noKey.body.error).toMatchObject({ code: 'already_pending', requestId: a.body.id });

    // A different, real request.
    const other = await alice.post('/v1/requests', { ...body, role: 'admin' });
    expect(other.status).toBe(201);

    for (const stream of [bobStream, carolStream]) {
      await stream.waitFor((e) => e.event === 'request.created' && e.json.requestId === other.body.id);
      expect(stream.ofType('request.created').map((e) => e.json.requestId)).toEqual([a.body.id, other.body.id]);
    }
  });
});

describe('B24: the reason field (API side)', () => {
  async function setup() {
    const clock = new ManualClock(at(9, 0));
    const fake = new FakeConnector(clock);
    const h = await harness({ config: FIELD_CONFIG, clock, extraConnectors: () => [fake] });
    return { h, alice: await h.as('alice'), bob: await h.as('bob') };
  }
  const ask = (alice: TestClient, reason: unknown) => alice.post('/v1/requests', { resource: 'pg-prod', role: 'readonly', duration: '1h', reason });

  it('junk reasons get 400 reason_invalid, 1025 characters 400 reason_too_long, never a 500', async () => {
    const { alice } = await setup();
    for (const reason of ['   ', '.', '\u0000abc', '\u0000 restart the replica', 'fix it\nplease now']) {
      const r = await ask(alice, reason);
      expect(r.status, JSON.stringify(reason)).toBe(400);
      expect(r.body.error).toMatchObject({ code: 'reason_invalid', field: 'reason' });
    }
    const long = await ask(alice, 'a'.repeat(1025));
    expect(long.status).toBe(400);
    expect(long.body.error.code).toBe('reason_too_long');
    expect(long.body.error.message).toContain('1024');
    const huge = await ask(alice, 'a'.repeat(100_000));
    expect(huge.status).toBeLessThan(500);
    expect((await alice.get('/v1/requests')).body.items).toEqual([]);
  });

  it('a padded reason is stored trimmed; multibyte and emoji count as characters, and the longest fits whole', async () => {
    const { alice } = await setup();
    const padded = await ask(alice, '  INC-1234 restart replica  ');
    expect(padded.status).toBe(201);
    expect((await alice.get(`/v1/requests/${padded.body.id}`)).body.reason).toBe('INC-1234 restart replica');
    await alice.post(`/v1/requests/${padded.body.id}/cancel`);

    const emoji = '👩‍💻'; // one emoji written with 3 code points
    const head = 'Größe ändern 🔥 ';
    const mixed = head + 'é'.repeat(1024 - [...head].length);
    expect([...mixed]).toHaveLength(1024);
    expect(Buffer.byteLength(mixed)).toBeGreaterThan(1024);
    const ok = await ask(alice, mixed);
    expect(ok.status).toBe(201);
    expect((await alice.get(`/v1/requests/${ok.body.id}`)).body.reason).toBe(mixed);
    await alice.post(`/v1/requests/${ok.body.id}/cancel`);

    const tooLong = await ask(alice, `${mixed}é`);
    expect(tooLong.body.error.code).toBe('reason_too_long');
    const shortEmoji = await ask(alice, emoji.repeat(3)); // 9 code points: under the 10 minimum
    expect(shortEmoji.body.error.code).toBe('reason_invalid');
  });

  it('the same rules apply to the reason of an extension', async () => {
    const { h, alice, bob } = await setup();
    const r = await ask(alice, REASON);
    const approved = await bob.post(`/v1/requests/${r.body.id}/approve`, {});
    await h.settle();
    const junk = await alice.post(`/v1/grants/${approved.body.grantId}/extend`, { by: '30m', reason: '.' });
    expect(junk.status).toBe(400);
    expect(junk.body.error.code).toBe('reason_invalid');
    const fine = await alice.post(`/v1/grants/${approved.body.grantId}/extend`, { by: '30m', reason: '  the migration is still running  ' });
    expect(fine.status).toBe(201);
    expect(fine.body.reason).toBe('the migration is still running');
  });
});
