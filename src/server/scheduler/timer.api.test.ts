/**
 * The scheduler's own timer, on the system clock: approve-by deadlines, scheduled activations and
 * expiries happen with nothing but the armed timer driving them. Elsewhere tests move a
 * ManualClock and call `settle()`, which runs due work directly and would pass if the timer
 * never fired; here nothing calls settle() or runDue(). Deadlines are generous: these prove the
 * timer fires, not how fast.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness, type TestClient } from '../test-support/harness.js';
import { openEvents, type SseStream } from '../test-support/sse-client.js';

const CONFIG = `
groups:
  eng: { members: [alice] }
  sre: { members: [bob] }
resources:
  demo-pass:
    connector: pass
    roles: { read: {} }
policies:
  - resource: demo-pass
    requesters: [eng]
    approvers: { groups: [sre] }
    maxDuration: 2s
    approveWithin: 2s
    scheduledStart: { allowed: true }
`;
const REASON = 'INC-1234 restart replica';
const WAIT_MS = 20_000;

let h: Harness;
let alice: TestClient;
let bob: TestClient;
let stream: SseStream;

beforeEach(async () => {
  h = await startHarness({ config: CONFIG }); // no clock given: the system clock
  alice = await h.as('alice');
  bob = await h.as('bob');
  stream = await openEvents(h.url, alice.token!, { after: 0 });
});
afterEach(async () => {
  await h.close();
});

const about = (type: string, key: 'requestId' | 'grantId', id: string) => (e: { event: string; json: any }) => e.event === type && e.json?.[key] === id;

describe("the scheduler's timer on the system clock", () => {
  it('times out a request nobody decides within its 2 s approve-by window', async () => {
    const created = await alice.post('/v1/requests', { resource: 'demo-pass', role: 'read', duration: '2s', reason: REASON });
    expect(created.body.state).toBe('pending');

    await stream.waitFor(about('request.timed_out', 'requestId', created.body.id), WAIT_MS);
    expect((await alice.get(`/v1/requests/${created.body.id}`)).body).toMatchObject({ state: 'timed_out', grantId: null });
  });

  it('activates a grant at its scheduled start 2 s ahead, then expires it after its 2 s', async () => {
    const startAt = new Date(Date.now() + 2000).toISOString();
    const created = await alice.post('/v1/requests', { resource: 'demo-pass', role: 'read', duration: '2s', reason: REASON, startAt });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const approved = await bob.post(`/v1/requests/${created.body.id}/approve`, {});
    const grantId = approved.body.grantId as string;
    expect((await alice.get(`/v1/grants/${grantId}`)).body.state).toBe('scheduled');

    const active = await stream.waitFor(about('grant.active', 'grantId', grantId), WAIT_MS);
    expect(Date.parse(active.json.data.activatedAt)).toBeGreaterThanOrEqual(Date.parse(startAt));
    const ended = await stream.waitFor(about('grant.ended', 'grantId', grantId), WAIT_MS);
    expect(ended.json.data.reason).toBe('expired');
    expect((await alice.get(`/v1/grants/${grantId}`)).body).toMatchObject({ state: 'ended', endReason: 'expired' });
  });

  it('expires a 2 s grant on its own', async () => {
    const created = await alice.post('/v1/requests', { resource: 'demo-pass', role: 'read', duration: '2s', reason: REASON });
    const grantId = (await bob.post(`/v1/requests/${created.body.id}/approve`, {})).body.grantId as string;
    await stream.waitFor(about('grant.active', 'grantId', grantId), WAIT_MS);
    expect((await alice.get(`/v1/grants/${grantId}/credential`)).status).toBe(200);

    await stream.waitFor(about('grant.ended', 'grantId', grantId), WAIT_MS);
    const grant = (await alice.get(`/v1/grants/${grantId}`)).body;
    expect(grant).toMatchObject({ state: 'ended', endReason: 'expired' });
    expect(Date.parse(grant.endedAt)).toBeGreaterThanOrEqual(Date.parse(grant.expiresAt));
    expect((await alice.get(`/v1/grants/${grantId}/credential`)).status).toBe(409);
  });
});
