/**
 * Connector failures (DESIGN.md, "Connectors"; FIELD-CASES B03, B09): a failed provisioning is
 * never shown as active; a failing revoke is retried with backoff and raises alerts meanwhile; one
 * failing or stuck revoke never holds up the others.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { FakeConnector } from '../test-support/fake-connector.js';
import { startHarness, type Harness, type HarnessOptions, type TestClient } from '../test-support/harness.js';
import { openEvents } from '../test-support/sse-client.js';

const T0 = Date.UTC(2026, 2, 2, 9, 0, 0);
const MIN = 60_000;
const iso = (ms: number) => new Date(ms).toISOString();

const CONFIG = `
groups:
  eng: { members: [alice, dave] }
  sre: { members: [bob, carol] }
resources:
  fake-db:
    connector: fake
    roles: { readonly: {}, admin: {} }
policies:
  - resource: fake-db
    requesters: [eng]
    approvers: { groups: [sre] }
    maxDuration: 4h
    reasonRequired: false
    autoApprove: [{ groups: [eng] }]
`;

let h: Harness | undefined;
let fake: FakeConnector;
let clock: ManualClock;

async function start(opts: Partial<HarnessOptions> = {}) {
  clock = new ManualClock(T0);
  fake = new FakeConnector(clock);
  h = await startHarness({ config: CONFIG, clock, extraConnectors: () => [fake], revokeBackoff: { firstMs: 10, maxMs: 50 }, ...opts });
  return h;
}

afterEach(async () => {
  fake?.releaseHung();
  await h?.close();
  h = undefined;
});

/** An auto-approved grant for alice; waits for provisioning to settle. */
async function grant(alice: TestClient, duration = '30m') {
  const r = await alice.post('/v1/requests', { resource: 'fake-db', role: 'readonly', duration });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  expect(r.body.state).toBe('approved');
  await h!.settle();
  return (await alice.get(`/v1/grants/${r.body.grantId}`)).body;
}

async function auditFor(grantId: string): Promise<any[]> {
  const admin = await h!.as('admin');
  return ((await admin.get('/v1/audit?limit=1000')).body.items as any[]).filter((e) => e.grantId === grantId);
}

describe('provisioning failures', () => {
  it('a failing provision leaves the grant `failed` with the reason, never active, with no credential', async () => {
    await start();
    const alice = await h!.as('alice');
    const bob = await h!.as('bob');
    fake.failProvision(1, { message: 'quota exhausted' });
    const g = await grant(alice);

    expect(g).toMatchObject({ state: 'failed', activatedAt: null, expiresAt: null, hasCredential: false });
    expect(g.failureReason).toContain('quota exhausted');
    expect((await bob.get(`/v1/grants/${g.id}`)).body.state).toBe('failed');
    const cred = await alice.get(`/v1/grants/${g.id}/credential`);
    expect(cred.status).toBe(409);

    // What alice's app hears (the server ends the stream when it stops).
    const stream = await openEvents(h!.url, alice.token!, { after: 0 });
    const failed = stream.ofType('grant.failed').filter((e) => e.json.grantId === g.id);
    expect(failed).toHaveLength(1);
    expect(failed[0]!.json.data.reason).toBe('Access could not be provisioned (quota exhausted)');
    expect(stream.ofType('grant.active').filter((e) => e.json.grantId === g.id)).toEqual([]);
    // Whatever half-exists on the target is cleaned up.
    expect(fake.live.has(g.id)).toBe(false);
    expect(fake.callsFor('revoke', g.id).length).toBeGreaterThanOrEqual(1);
    const ended = await alice.post(`/v1/grants/${g.id}/end`);
    expect(ended.status).toBe(409);
  });

  it('a provisioning that never answers fails after the connector timeout', async () => {
    await start({ connectorTimeoutMs: 200 });
    const alice = await h!.as('alice');
    fake.hangProvision(1);
    const g = await grant(alice);
    expect(g.state).toBe('failed');
    expect(g.failureReason).toContain('took longer than');
  });

  it('a hung clean-up after a failed provisioning does not wedge the server (it still stops promptly)', async () => {
    await start({ connectorTimeoutMs: 200 });
    const alice = await h!.as('alice');
    fake.failProvision(1, { message: 'quota exhausted' });
    fake.hangRevoke(1);
    const r = await alice.post('/v1/requests', { resource: 'fake-db', role: 'readonly', duration: '30m' });
    const t = Date.now();
    await h!.server.lifecycle.drain(5000);
    expect(Date.now() - t).toBeLessThan(2000);
    expect((await alice.get(`/v1/grants/${r.body.grantId}`)).body.state).toBe('failed');
  });
});

describe('revoke failures', () => {
  it('a failing revoke is retried with growing backoff, alerts each time, and is never shown as ended until it succeeds', async () => {
    await start();
    const alice = await h!.as('alice');
    const g = await grant(alice);
    fake.failRevoke(5, { message: 'target unreachable', match: (t) => t.grantId === g.id });

    await clock.advance(5 * MIN);
    const first = await alice.post(`/v1/grants/${g.id}/end`);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ state: 'revoking', endReason: 'ended_by_user', revokeAttempts: 1, lastRevokeError: 'target unreachable', hasCredential: false });
    expect((await alice.get(`/v1/grants/${g.id}/credential`)).status).toBe(409);

    const expectedDelays = [10, 20, 40, 50, 50];
    for (const [i, delay] of expectedDelays.entries()) {
      clock.advance(delay - 1);
      await h!.settle();
      expect((await alice.get(`/v1/grants/${g.id}`)).body.revokeAttempts, `no retry before ${delay} ms`).toBe(i + 1);
      clock.advance(1);
      await h!.settle();
    }
    const done = (await alice.get(`/v1/grants/${g.id}`)).body;
    expect(done).toMatchObject({ state: 'ended', endReason: 'ended_by_user' });

    const calls = fake.callsFor('revoke', g.id);
    expect(calls.map((c) => c.outcome)).toEqual(['failed', 'failed', 'failed', 'failed', 'failed', 'ok']);
    expect(calls.slice(1).map((c, i) => c.at - calls[i]!.at)).toEqual(expectedDelays);

    const events = await auditFor(g.id);
    const alerts = events.filter((e) => e.type === 'grant.revoke_failed');
    expect(alerts).toHaveLength(5);
    expect(alerts.map((e) => e.data.attempts)).toEqual([1, 2, 3, 4, 5]);
    expect(alerts.map((e) => Date.parse(e.data.nextRetryAt) - Date.parse(e.at))).toEqual(expectedDelays);
    expect(alerts[0]!.data.error).toBe('target unreachable');
    expect(events.filter((e) => e.type === 'grant.ended')).toHaveLength(1);
    expect(events.findIndex((e) => e.type === 'grant.ended')).toBeGreaterThan(events.findIndex((e) => e.type === 'grant.revoke_failed'));

    const metrics = await (await fetch(`${h!.url}/metrics`)).text();
    expect(metrics).toMatch(/^latch_revoke_failures_total 5$/m);
  });

  it("one grant's failing revoke does not hold up the other grants expiring at the same time", async () => {
    await start();
    const alice = await h!.as('alice');
    const grants = [];
    for (let i = 0; i < 4; i++) grants.push(await grant(alice, '30m'));
    const [bad, ...good] = grants;
    fake.failRevoke(3, { message: 'target unreachable', match: (t) => t.grantId === bad!.id });

    clock.advance(30 * MIN);
    await h!.settle();
    for (const g of good) expect((await alice.get(`/v1/grants/${g.id}`)).body).toMatchObject({ state: 'ended', endReason: 'expired', endedAt: iso(T0 + 30 * MIN) });
    for (const g of good) expect(fake.live.has(g.id)).toBe(false);
    const stuck = (await alice.get(`/v1/grants/${bad!.id}`)).body;
    expect(stuck.state).toBe('revoking');
    expect(stuck.revokeAttempts).toBeGreaterThanOrEqual(1);
    expect(fake.live.has(bad!.id)).toBe(true);

    // The retries eventually get through.
    for (let i = 0; i < 5; i++) {
      clock.advance(50);
      await h!.settle();
    }
    expect((await alice.get(`/v1/grants/${bad!.id}`)).body).toMatchObject({ state: 'ended', endReason: 'expired', revokeAttempts: 3 });
    expect(fake.live.has(bad!.id)).toBe(false);
  });

  it('a stuck revoke does not block the others, and is retried after the connector timeout', async () => {
    await start({ connectorTimeoutMs: 1000 });
    const alice = await h!.as('alice');
    const stuck = await grant(alice);
    const other = await grant(alice);
    fake.hangRevoke(1, { match: (t) => t.grantId === stuck.id });

    const endStuck = alice.post(`/v1/grants/${stuck.id}/end`);
    // Wait until the stuck revoke has really started.
    for (let i = 0; i < 200 && fake.callsFor('revoke', stuck.id).length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(fake.callsFor('revoke', stuck.id)).toHaveLength(1);

    const endOther = await alice.post(`/v1/grants/${other.id}/end`);
    expect(endOther.body).toMatchObject({ state: 'ended', endReason: 'ended_by_user' });
    // The other grant ended while this one is still hung.
    expect((await alice.get(`/v1/grants/${stuck.id}`)).body).toMatchObject({ state: 'revoking', revokeAttempts: 0 });

    const stuckAnswer = await endStuck;
    expect(stuckAnswer.body).toMatchObject({ state: 'revoking', revokeAttempts: 1 });
    expect(stuckAnswer.body.lastRevokeError).toContain('took longer than');

    clock.advance(10);
    await h!.settle();
    expect((await alice.get(`/v1/grants/${stuck.id}`)).body.state).toBe('ended');
    expect(fake.live.has(stuck.id)).toBe(false);
  });
});

describe('clean-up after a failed provisioning', () => {
  it('is a revoke like any other: retried with backoff and alerted on until it succeeds, the grant staying failed', async () => {
    await start();
    fake.failProvision(1).failRevoke(2);
    const alice = await h!.as('alice');
    const r = await alice.post('/v1/requests', { resource: 'fake-db', role: 'readonly', duration: '30m' });
    for (let i = 0; i < 6; i++) {
      await h!.settle();
      clock.advance(60);
    }
    await h!.settle();
    const g = (await alice.get(`/v1/grants/${r.body.grantId}`)).body;
    expect(g.state).toBe('failed');
    expect(g.revokeAttempts).toBe(2);
    expect(fake.calls.filter((c) => c.op === 'revoke' && c.grantId === g.id)).toHaveLength(3);
    const alerts = (await auditFor(g.id)).filter((e) => e.type === 'grant.revoke_failed');
    expect(alerts).toHaveLength(2);
    expect(await h!.server.lifecycle.nextDueAt()).toBeNull();
  });
});
