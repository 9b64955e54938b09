/**
 * The webhook connector through the real server and a real receiver on loopback: a signed provision
 * on approval, the receiver's credential handed to the grantee, retries within a call, revoke
 * retries that survive a restart, a refused provisioning never shown as active, and the signing
 * secret never written anywhere Latch writes (docs/connectors/webhook.md).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { startHarness, type Harness, type HarnessOptions, type TestClient } from '../test-support/harness.js';
import { WebhookReceiver } from '../test-support/webhook-receiver.js';

const ENV = 'LATCH_TEST_WEBHOOK_SECRET';
const SECRET = 'whsec-integration-3f9a1c7e5b2d48a6';

const configFor = (url: string) => `
groups:
  eng: { members: [alice] }
  sre: { members: [bob] }
resources:
  ticketing:
    connector: webhook
    config: { url: "${url}", secretEnv: ${ENV}, timeoutMs: 2000 }
    roles: { agent: {} }
policies:
  - resource: ticketing
    requesters: [eng]
    approvers: { groups: [sre] }
    maxDuration: 4h
`;

let receiver: WebhookReceiver;
let h: Harness | undefined;
let logLines: string[] = [];

beforeAll(async () => {
  process.env[ENV] = SECRET;
  receiver = await WebhookReceiver.start(SECRET);
});
afterAll(async () => {
  delete process.env[ENV];
  await receiver.close();
});
beforeEach(() => {
  receiver.reset();
  logLines = [];
});
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function start(opts: Partial<HarnessOptions> = {}): Promise<Harness> {
  const logger = pino({ level: 'trace' }, { write: (line: string) => void logLines.push(line) });
  h = await startHarness({ config: configFor(receiver.url), logger, revokeBackoff: { firstMs: 50, maxMs: 200 }, ...opts });
  return h;
}

async function until<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(v)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** alice asks, bob approves; returns the grant once provisioning has settled. */
async function approvedGrant(): Promise<{ alice: TestClient; bob: TestClient; grant: any }> {
  const alice = await h!.as('alice');
  const bob = await h!.as('bob');
  const req = await alice.post('/v1/requests', { resource: 'ticketing', role: 'agent', duration: '30m', reason: 'INC-4211: triage the escalated tickets' });
  expect(req.status, JSON.stringify(req.body)).toBe(201);
  const approved = await bob.post(`/v1/requests/${req.body.id}/approve`, {});
  expect(approved.status, JSON.stringify(approved.body)).toBe(200);
  const id = approved.body.grantId as string;
  const grant = await until('provisioning', async () => (await alice.get(`/v1/grants/${id}`)).body, (g) => g.state !== 'provisioning');
  return { alice, bob, grant };
}

async function auditFor(grantId: string): Promise<any[]> {
  const admin = await h!.as('admin');
  return ((await admin.get('/v1/audit?limit=1000')).body.items as any[]).filter((e) => e.grantId === grantId);
}

describe('webhook connector through the server', () => {
  it('a role named after what every object inherits is not requestable: the receiver is never called', async () => {
    // The policy covers all of ticketing's roles (no `roles:` line), so `constructor` once passed as one.
    await start();
    const alice = await h!.as('alice');
    for (const role of ['constructor', 'toString', 'hasOwnProperty', '__proto__']) {
      const r = await alice.post('/v1/requests', { resource: 'ticketing', role, duration: '30m', reason: 'INC-4211: triage the escalated tickets' });
      expect(r.status, `${role}: ${JSON.stringify(r.body)}`).toBe(role === 'constructor' ? 404 : 400);
    }
    await h!.settle();
    expect((await alice.get('/v1/requests?scope=mine')).body.items).toEqual([]);
    expect(receiver.calls).toEqual([]);
  });

  it('approval sends a signed provision, the grantee gets the receiver credential, ending sends a revoke', async () => {
    await start();
    receiver.reply('provision', { status: 200, json: { credential: { type: 'ticketing', agentLogin: 'alice+jit', apiToken: 'tk_live_123' } } });
    const { alice, bob, grant } = await approvedGrant();
    expect(grant).toMatchObject({ state: 'active', connector: 'webhook', hasCredential: true });

    const [provision] = receiver.callsFor('provision', grant.id);
    expect(provision).toMatchObject({ verified: true, status: 200 });
    expect(provision!.headers).toMatchObject({ 'x-latch-event': 'provision', 'idempotency-key': `${grant.id}:provision`, 'content-type': 'application/json' });
    expect(provision!.body).toEqual({ event: 'provision', grant: { id: grant.id, user: 'alice', resource: 'ticketing', role: 'agent', startsAt: grant.activatedAt, expiresAt: grant.expiresAt } });

    const cred = await alice.get(`/v1/grants/${grant.id}/credential`);
    expect(cred.status).toBe(200);
    expect(cred.body.credential).toEqual({ type: 'ticketing', agentLogin: 'alice+jit', apiToken: 'tk_live_123' });
    expect((await bob.get(`/v1/grants/${grant.id}/credential`)).status).toBe(404);

    const ended = await alice.post(`/v1/grants/${grant.id}/end`);
    expect(ended.body).toMatchObject({ state: 'ended', endReason: 'ended_by_user' });
    const [revoke] = receiver.callsFor('revoke', grant.id);
    expect(revoke).toMatchObject({ verified: true, status: 200 });
    expect(revoke!.headers).toMatchObject({ 'x-latch-event': 'revoke', 'idempotency-key': `${grant.id}:revoke` });
    expect((await alice.get(`/v1/grants/${grant.id}/credential`)).status).toBe(409);
  });

  it('a receiver failing twice then answering is retried within the one provisioning call', async () => {
    await start();
    receiver.reply('provision', { status: 500 }, { status: 500 }, { status: 200, json: {} });
    const { alice, grant } = await approvedGrant();
    expect(grant.state).toBe('active');
    expect(receiver.callsFor('provision', grant.id).map((c) => c.status)).toEqual([500, 500, 200]);
    expect((await alice.get(`/v1/grants/${grant.id}/credential`)).body.credential).toEqual({ type: 'webhook' });
    const audit = await auditFor(grant.id);
    expect(audit.filter((e) => e.type === 'grant.failed')).toEqual([]);
  });

  it('a refused provisioning (400) fails the grant with the reason, never active, and is not retried', async () => {
    await start();
    receiver.reply('provision', { status: 400, json: { error: 'no agent seats left on the ticketing plan' } });
    const { alice, bob, grant } = await approvedGrant();
    expect(grant).toMatchObject({ state: 'failed', activatedAt: null, expiresAt: null, hasCredential: false });
    expect(grant.failureReason).toContain('answered 400: no agent seats left on the ticketing plan');
    expect((await bob.get(`/v1/grants/${grant.id}`)).body.state).toBe('failed');
    expect((await alice.get(`/v1/grants/${grant.id}/credential`)).status).toBe(409);
    expect(receiver.callsFor('provision', grant.id)).toHaveLength(1);

    const audit = await auditFor(grant.id);
    expect(audit.filter((e) => e.type === 'grant.active')).toEqual([]);
    expect(audit.find((e) => e.type === 'grant.failed')!.data.reason).toMatch(/^Access could not be provisioned \(webhook http:\/\/127\.0\.0\.1:\d+\/hooks\/latch answered 400: no agent seats left/);
    // Whatever half-exists on the target is taken away.
    await receiver.waitFor((c) => c.event === 'revoke' && c.grantId === grant.id);
  });

  it('a revoke the receiver keeps failing stays `revoking` with alerts, and completes once it recovers', async () => {
    await start();
    const { alice, grant } = await approvedGrant();
    receiver.always('revoke', { status: 500, json: { error: 'ticketing API is down' } });

    const ending = await alice.post(`/v1/grants/${grant.id}/end`);
    expect(ending.body).toMatchObject({ state: 'revoking', hasCredential: false });
    const alerts = await until('revoke alerts', async () => (await auditFor(grant.id)).filter((e) => e.type === 'grant.revoke_failed'), (a) => a.length >= 2);
    expect(alerts[0]!.data.error).toMatch(/answered 500: ticketing API is down \(3 attempts\)$/);
    expect((await alice.get(`/v1/grants/${grant.id}`)).body).toMatchObject({ state: 'revoking', lastRevokeError: expect.stringContaining('answered 500') });

    receiver.always('revoke', { status: 200, json: {} });
    await until('revoke', async () => (await alice.get(`/v1/grants/${grant.id}`)).body.state, (s) => s === 'ended');
    const calls = receiver.callsFor('revoke', grant.id);
    expect(calls.length).toBeGreaterThanOrEqual(7); // 2 failed calls of 3 attempts, then the one that got through
    expect(calls.at(-1)!.status).toBe(200);
    expect(new Set(calls.map((c) => c.headers['idempotency-key']))).toEqual(new Set([`${grant.id}:revoke`]));
    expect(calls.every((c) => c.verified)).toBe(true);
  });

  it('a failing revoke resumes after a restart and completes', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'latch-webhook-restart-'));
    try {
      await start({ dataDir });
      const { alice, grant } = await approvedGrant();
      receiver.always('revoke', { status: 503 });
      const ending = await alice.post(`/v1/grants/${grant.id}/end`);
      expect(ending.body).toMatchObject({ state: 'revoking' });
      expect(ending.body.revokeAttempts).toBeGreaterThanOrEqual(1);
      await h!.close();
      h = undefined;

      receiver.always('revoke', { status: 200, json: {} });
      const before = receiver.callsFor('revoke', grant.id).length;
      await start({ dataDir });
      const again = await h!.as('alice');
      const ended = await until('revoke after restart', async () => (await again.get(`/v1/grants/${grant.id}`)).body, (g) => g.state === 'ended');
      expect(ended).toMatchObject({ endReason: 'ended_by_user' });
      expect(receiver.callsFor('revoke', grant.id).slice(before).map((c) => c.status)).toEqual([200]);
      const audit = await auditFor(grant.id);
      expect(audit.filter((e) => e.type === 'grant.ended')).toHaveLength(1);
    } finally {
      await h?.close();
      h = undefined;
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('the signing secret appears in no log line, grant view, event, error or stored file', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'latch-webhook-secret-'));
    try {
      await start({ dataDir });
      receiver.reply('provision', { status: 502 }, { status: 200, json: { credential: { type: 'ticketing', token: 'tk' } } });
      const ok = await approvedGrant();
      receiver.reply('provision', { status: 422, json: { error: 'refused' } });
      const failed = await approvedGrant();
      expect(failed.grant.state).toBe('failed');
      // Its clean-up revoke first, so the failures scripted next go to the other grant's revoke.
      await receiver.waitFor((c) => c.event === 'revoke' && c.grantId === failed.grant.id && c.status === 200);
      receiver.reply('revoke', { status: 500 }, { status: 500 }, { status: 500 });
      await ok.alice.post(`/v1/grants/${ok.grant.id}/end`);
      await until('revoke', async () => (await ok.alice.get(`/v1/grants/${ok.grant.id}`)).body.state, (s) => s === 'ended');

      const admin = await h!.as('admin');
      const seen = JSON.stringify([
        (await admin.get('/v1/audit?limit=1000')).body,
        (await admin.get('/v1/grants?scope=all')).body,
        (await ok.bob.get(`/v1/grants/${ok.grant.id}`)).body,
        (await ok.alice.get(`/v1/grants/${failed.grant.id}`)).body,
      ]);
      // The checks below can fail: the errors and warnings did happen and were recorded.
      expect(seen).toContain('answered 422: refused');
      expect(seen).toContain('answered 500');
      const logs = logLines.join('');
      expect(logs).toContain('webhook call failed; retrying');
      expect(logs).toContain('revoke failed; will retry');
      expect(logs).toContain('provisioning failed');

      expect(seen).not.toContain(SECRET);
      expect(logs).not.toContain(SECRET);
      await h!.close();
      h = undefined;
      for (const file of readdirSync(dataDir, { recursive: true, withFileTypes: true }).filter((f) => f.isFile())) {
        expect(readFileSync(join(file.parentPath, file.name)).includes(SECRET), file.name).toBe(false);
      }
    } finally {
      await h?.close();
      h = undefined;
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('a receiver that never answers holds up only its own resource (FIELD-CASES B09)', () => {
  it("resource A's revokes hang; resource B's revokes expiring at the same moment still complete", async () => {
    const hung = await WebhookReceiver.start(SECRET);
    hung.always('revoke', { hang: true });
    const clock = new ManualClock(Date.UTC(2026, 2, 2, 9, 0, 0));
    try {
      // A answers revokes never (each call waits its full 30 s timeout); B answers at once.
      const config = `
groups:
  eng: { members: [alice] }
  sre: { members: [bob] }
resources:
  hooks-a: { connector: webhook, config: { url: "${hung.url}", secretEnv: ${ENV}, timeoutMs: 30000, retries: 1 }, roles: { agent: {} } }
  hooks-b: { connector: webhook, config: { url: "${receiver.url}", secretEnv: ${ENV}, timeoutMs: 2000 }, roles: { agent: {} } }
policies:
  - { resource: hooks-a, requesters: [eng], approvers: { groups: [sre] }, maxDuration: 4h, reasonRequired: false, autoApprove: [{ groups: [eng] }] }
  - { resource: hooks-b, requesters: [eng], approvers: { groups: [sre] }, maxDuration: 4h, reasonRequired: false, autoApprove: [{ groups: [eng] }] }
`;
      h = await startHarness({ config, clock });
      const alice = await h.as('alice');
      const grantOn = async (resource: string) => {
        const r = await alice.post('/v1/requests', { resource, role: 'agent', duration: '30m' });
        expect(r.status, JSON.stringify(r.body)).toBe(201);
        return until(`${resource} active`, async () => (await alice.get(`/v1/grants/${r.body.grantId}`)).body, (g) => g.state === 'active');
      };
      // More of A than the server runs revokes at once overall (16), queued before B's.
      const onA = [];
      for (let i = 0; i < 20; i++) onA.push(await grantOn('hooks-a'));
      const onB = [await grantOn('hooks-b'), await grantOn('hooks-b')];

      clock.advance(30 * 60_000 + 1000); // the scheduler's timer: every grant expires in the same sweep
      await hung.waitFor((c) => c.event === 'revoke', 1);
      for (const g of onB) {
        const ended = await until(`${g.id} on B ended`, async () => (await alice.get(`/v1/grants/${g.id}`)).body, (v) => v.state === 'ended', 10_000);
        expect(ended).toMatchObject({ endReason: 'expired' });
        expect(receiver.callsFor('revoke', g.id)).toHaveLength(1);
      }
      // A is still waiting on its receiver, and not with every slot the server has.
      for (const g of onA) expect((await alice.get(`/v1/grants/${g.id}`)).body.state).toBe('revoking');
      expect(hung.callsFor('revoke').length).toBeLessThan(16);
    } finally {
      await hung.close();
    }
  }, 60_000);
});
