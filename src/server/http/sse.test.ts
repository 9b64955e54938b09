// The event stream as a client sees it: proxy-safe headers, heartbeats, per-user visibility and
// resume with Last-Event-ID.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness, type TestClient } from '../test-support/harness.js';
import { openEvents } from '../test-support/sse-client.js';

let h: Harness;
let alice: TestClient, bob: TestClient, dave: TestClient;

beforeAll(async () => {
  h = await startHarness({ heartbeatMs: 100 });
  [alice, bob, dave] = await Promise.all([h.as('alice'), h.as('bob'), h.as('dave')]);
});
afterAll(async () => h.close());

const request = (c: TestClient, reason: string) => c.post('/v1/requests', { resource: 'demo-pass', role: 'read', duration: '10m', reason });

describe('GET /v1/events', () => {
  it('answers with proxy-safe headers and a heartbeat comment every interval', async () => {
    const controller = new AbortController();
    const res = await fetch(`${h.url}/v1/events`, { headers: { authorization: `Bearer ${alice.token}` }, signal: controller.signal });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('cache-control')).toMatch(/no-cache/);
    expect(res.headers.get('x-accel-buffering')).toBe('no');
    const reader = res.body!.getReader();
    let text = '';
    const until = Date.now() + 550;
    while (Date.now() < until) {
      const { value } = await reader.read();
      text += new TextDecoder().decode(value);
    }
    controller.abort();
    expect(text.match(/^: heartbeat/gm)?.length ?? 0).toBeGreaterThanOrEqual(3);
  });

  it('refuses a caller without a token', async () => {
    const res = await fetch(`${h.url}/v1/events`);
    expect(res.status).toBe(401);
    expect(((await res.json()) as any).error.code).toBe('unauthorized');
  });

  it('shows each person only their own requests and the ones they may review', async () => {
    const [a, b, d] = await Promise.all([openEvents(h.url, alice.token!), openEvents(h.url, bob.token!), openEvents(h.url, dave.token!)]);
    const r = await request(alice, 'INC-10 visible to approvers only');
    await a.waitFor((e) => e.event === 'request.created' && e.json.requestId === r.body.id);
    await b.waitFor((e) => e.event === 'request.created' && e.json.requestId === r.body.id);
    // dave is in eng but approves nothing: a later event of his own proves his stream is live.
    const own = await request(dave, 'INC-11 dave needs the pass');
    await d.waitFor((e) => e.event === 'request.created' && e.json.requestId === own.body.id);
    expect(d.events.some((e) => e.json?.requestId === r.body.id)).toBe(false);
    expect(a.events.some((e) => e.json?.requestId === own.body.id)).toBe(false);
    for (const s of [a, b, d]) s.close();
    await alice.post(`/v1/requests/${r.body.id}/cancel`);
    await dave.post(`/v1/requests/${own.body.id}/cancel`);
  });

  it('resumes after Last-Event-ID with exactly the missed events, in order', async () => {
    const first = await openEvents(h.url, alice.token!);
    const r = await request(alice, 'INC-12 resume after a drop');
    const created = await first.waitFor((e) => e.event === 'request.created' && e.json.requestId === r.body.id);
    first.close();

    await bob.post(`/v1/requests/${r.body.id}/approve`, { comment: 'go' });
    await h.settle();
    await alice.post(`/v1/grants/${(await alice.get(`/v1/requests/${r.body.id}`)).body.grantId}/end`);

    const resumed = await openEvents(h.url, alice.token!, { lastEventId: created.id! });
    const types = resumed.events.filter((e) => e.json?.requestId === r.body.id).map((e) => e.event);
    expect(types).toEqual(['request.reviewed', 'request.approved', 'grant.provisioning', 'grant.active', 'grant.revoking', 'grant.ended']);
    const ids = resumed.events.filter((e) => e.id !== null && e.event !== 'ready').map((e) => Number(e.id));
    expect(ids.every((id) => id > Number(created.id))).toBe(true);
    expect([...ids].sort((x, y) => x - y)).toEqual(ids);
    resumed.close();
  });

  it('tells a client that remembers more than the server has to resync', async () => {
    const s = await openEvents(h.url, alice.token!, { lastEventId: '999999' });
    expect(s.ofType('resync')).toHaveLength(1);
    s.close();
  });
});

describe('errors before routing', () => {
  it('answers oversized headers with the JSON error shape', async () => {
    const res = await fetch(`${h.url}/v1/me`, { headers: { authorization: `Bearer ${'a'.repeat(20_000)}` } });
    expect(res.status).toBe(431);
    expect(((await res.json()) as any).error).toMatchObject({ code: 'bad_request' });
  });
});
