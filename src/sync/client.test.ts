// The sync client against the real server on loopback: typed calls and errors, the single-flight
// token refresh of FIELD-CASES B41, idempotent retries, and the server clock offset. Proxies in
// between count requests, lose answers and rewrite headers; the server itself is never mocked.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, systemClock, type Clock } from '../shared/clock.js';
import { startHarness, type Harness, type TestClient } from '../server/test-support/harness.js';
import { LatchClient, type LatchClientOptions } from './client.js';
import { MemoryCredentialSource, type DeviceCredential } from './credentials.js';
import { ApiError, OfflineError, ProtocolError, SignedOutError } from './errors.js';
import { startHttpProxy, type HttpProxy } from './test-support/proxies.js';

class CountingSource extends MemoryCredentialSource {
  saves = 0;
  clears = 0;
  override async save(c: DeviceCredential): Promise<void> {
    this.saves++;
    await super.save(c);
  }
  override async clear(): Promise<void> {
    this.clears++;
    await super.clear();
  }
}

async function codeFor(h: Harness, user: string): Promise<string> {
  const admin = await h.as('admin');
  const r = await admin.post(`/v1/admin/users/${user}/code`, {});
  if (r.status !== 201) throw new Error(`code for ${user}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.code as string;
}

const FAST_RETRY = { attempts: 3, firstMs: 20, maxMs: 100 };
const TTL_S = 900;
const REFRESH = '/v1/token/refresh';

/** Enrollment codes for bob, fetched while the admin's own token is fresh (some suites expire tokens). */
async function codesFor(h: Harness, n: number): Promise<string[]> {
  const codes: string[] = [];
  for (let i = 0; i < n; i++) codes.push(await codeFor(h, 'bob'));
  return codes;
}

/** bob's device, enrolled through `proxy` with `code`, with a counting keychain. */
async function device(code: string, proxy: HttpProxy, clock: Clock, extra: Partial<LatchClientOptions> = {}) {
  const source = new CountingSource();
  let signedOut = 0;
  const client = new LatchClient({ baseUrl: proxy.url, credentials: source, clock, retry: FAST_RETRY, onSignedOut: () => signedOut++, ...extra });
  await client.enroll(code, 'bob-laptop');
  return { client, source, signedOut: () => signedOut };
}

/** The tray's five calls at start-up (B41): grants, pending approvals, profile, resources, my requests. */
const fiveCalls = (c: LatchClient) => [
  c.listGrants(),
  c.listRequests({ scope: 'review', state: 'pending' }),
  c.me(),
  c.resources(),
  c.listRequests({ scope: 'mine' }),
] as const;

describe('typed calls', () => {
  let h: Harness;
  let proxy: HttpProxy;
  let alice: TestClient;
  beforeAll(async () => {
    h = await startHarness();
    proxy = await startHttpProxy(h.url);
    alice = await h.as('alice');
  });
  afterAll(async () => {
    await proxy.close();
    await h.close();
  });

  it('enrolls, saves the credential, and answers with the contract types', async () => {
    const { client, source } = await device(await codeFor(h, 'bob'), proxy, systemClock);
    expect(source.saves).toBe(1);
    expect(source.current).toMatchObject({ server: proxy.url, user: 'bob', deviceName: 'bob-laptop' });
    expect(await client.me()).toEqual({ name: 'bob', groups: ['sre'], admin: false });
    expect((await client.resources()).map((r) => r.name).sort()).toEqual(['demo-pass']);
    const created = await alice.post('/v1/requests', { resource: 'demo-pass', role: 'read', duration: '10m', reason: 'INC-1 typed calls' });
    const review = await client.listRequests({ scope: 'review', state: 'pending' });
    expect(review.map((r) => r.id)).toContain(created.body.id);
    const approved = await client.approve(created.body.id, 'ok');
    expect(approved).toMatchObject({ id: created.body.id, state: 'approved', decidedBy: 'bob' });
    client.close();
  });

  it('turns the server error body into an ApiError with its code and details', async () => {
    const { client } = await device(await codeFor(h, 'bob'), proxy, systemClock);
    const missing = await client.getRequest('req_0000000000').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ApiError);
    expect(missing).toMatchObject({ status: 404, code: 'not_found' });
    const refused = await client.createRequest({ resource: 'demo-pass', role: 'read', duration: '9h', reason: 'INC-2 too long' }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ status: 422, code: 'duration_exceeds_max', details: { max: '1h' } });
    client.close();
  });

  it('refuses an answer that does not match the contract', async () => {
    const { client } = await device(await codeFor(h, 'bob'), proxy, systemClock);
    proxy.rewriteBody((r) => r.path === '/v1/me', JSON.stringify({ name: 42, groups: 'sre' }));
    const err = await client.me().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as Error).message).toMatch(/GET \/v1\/me .*field "name"/);
    client.close();
  });

  it('says the server cannot be reached, as an OfflineError, after its retries', async () => {
    const closed = await startHttpProxy(h.url);
    const source = new MemoryCredentialSource();
    const client = new LatchClient({ baseUrl: closed.url, credentials: source, clock: systemClock, retry: FAST_RETRY });
    await client.enroll(await codeFor(h, 'dave'));
    await closed.close();
    const err = await client.me().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OfflineError);
    expect((err as Error).message).toContain(`cannot reach the Latch server at ${closed.url}`);
    expect((err as OfflineError).reason).toBe('ECONNREFUSED');
    client.close();
  });

  it('is signed out before enrolling, without asking the server', async () => {
    const before = proxy.seen.length;
    const client = new LatchClient({ baseUrl: proxy.url, credentials: new MemoryCredentialSource(), clock: systemClock });
    await expect(client.me()).rejects.toBeInstanceOf(SignedOutError);
    expect(await client.signedInAs()).toBeNull();
    expect(proxy.seen.length).toBe(before);
  });

  it('signs out on the server and forgets the credential', async () => {
    const { client, source, signedOut } = await device(await codeFor(h, 'bob'), proxy, systemClock);
    const stolen = source.current!.refreshToken;
    expect(await client.signOut()).toEqual({ revokedOnServer: true });
    expect(source.current).toBeNull();
    expect(signedOut()).toBe(0);
    expect((await h.anonymous().post(REFRESH, { refreshToken: stolen })).body.error.code).toBe('refresh_invalid');
    await expect(client.me()).rejects.toBeInstanceOf(SignedOutError);
  });
});

describe('idempotent retries', () => {
  let h: Harness;
  let proxy: HttpProxy;
  let alice: TestClient;
  beforeAll(async () => {
    h = await startHarness();
    proxy = await startHttpProxy(h.url);
    alice = await h.as('alice');
  });
  afterAll(async () => {
    await proxy.close();
    await h.close();
  });

  it('resends a POST whose answer was lost with the same Idempotency-Key: one request on the server', async () => {
    const source = new MemoryCredentialSource();
    const client = new LatchClient({ baseUrl: proxy.url, credentials: source, clock: systemClock, retry: FAST_RETRY });
    await client.enroll(await codeFor(h, 'dave'));
    proxy.loseAnswer((r) => r.method === 'POST' && r.path === '/v1/requests');
    const request = await client.createRequest({ resource: 'demo-pass', role: 'read', duration: '15m', reason: 'INC-3 answer lost once' });
    expect(request).toMatchObject({ requester: 'dave', state: 'pending', reason: 'INC-3 answer lost once' });

    const posts = proxy.seen.filter((r) => r.method === 'POST' && r.path === '/v1/requests');
    expect(posts).toHaveLength(2);
    expect(posts[0]!.headers['idempotency-key']).toMatch(/^[0-9a-f-]{36}$/);
    expect(posts[1]!.headers['idempotency-key']).toBe(posts[0]!.headers['idempotency-key']);
    const dave = await h.as('dave');
    const mine = await dave.get('/v1/requests?scope=mine');
    expect(mine.body.items.filter((r: { reason: string }) => r.reason === 'INC-3 answer lost once')).toHaveLength(1);
    client.close();
  });

  it('sends a new key for each logical call', async () => {
    const client = new LatchClient({ baseUrl: proxy.url, credentials: new MemoryCredentialSource(), clock: systemClock, retry: FAST_RETRY });
    await client.enroll(await codeFor(h, 'erin'));
    const a = await client.createRequest({ resource: 'pg-prod', role: 'admin', duration: '10m', reason: 'INC-4 first' });
    expect((await client.cancel(a.id)).state).toBe('cancelled');
    await client.createRequest({ resource: 'pg-prod', role: 'admin', duration: '10m', reason: 'INC-4 second' });
    const keys = proxy.seen.filter((r) => r.method === 'POST' && r.path === '/v1/requests').slice(-2).map((r) => r.headers['idempotency-key']);
    expect(new Set(keys).size).toBe(2);
    client.close();
  });

  it('reports an approve whose answer was lost as done, not as "already reviewed"', async () => {
    const { client } = await device(await codeFor(h, 'bob'), proxy, systemClock);
    const created = await alice.post('/v1/requests', { resource: 'demo-pass', role: 'read', duration: '10m', reason: 'INC-5 approve, answer lost' });
    proxy.loseAnswer((r) => r.method === 'POST' && r.path.endsWith('/approve'));
    const approved = await client.approve(created.body.id);
    expect(approved).toMatchObject({ state: 'approved', decidedBy: 'bob' });
    expect(approved.reviews).toEqual([expect.objectContaining({ reviewer: 'bob', decision: 'approve' })]);
    expect(proxy.count('POST', `/v1/requests/${created.body.id}/approve`)).toBe(2);
    client.close();
  });

  it('still reports a real conflict', async () => {
    const { client } = await device(await codeFor(h, 'bob'), proxy, systemClock);
    const created = await alice.post('/v1/requests', { resource: 'demo-pass', role: 'write', duration: '10m', reason: 'INC-6 two approvals' });
    await client.approve(created.body.id);
    await expect(client.approve(created.body.id)).rejects.toMatchObject({ status: 409, code: 'already_reviewed' });
    client.close();
  });
});

describe('token refresh (B41)', () => {
  let h: Harness;
  let proxy: HttpProxy;
  /** The server's clock: moved past the access tokens' lifetime to expire them. */
  const serverClock = new ManualClock(Date.now());
  let codes: string[];
  beforeAll(async () => {
    h = await startHarness({ clock: serverClock, accessTtlS: TTL_S });
    proxy = await startHttpProxy(h.url);
    codes = await codesFor(h, 3);
  });
  afterAll(async () => {
    await proxy.close();
    await h.close();
  });
  afterEach(() => {
    proxy.seen.length = 0;
  });

  it('expired token, 5 parallel calls: exactly one refresh, all retried once and succeeding, saved once', async () => {
    // The client's clock is the real one: it believes the token is fresh, the server says expired.
    const { client, source, signedOut } = await device(codes[0]!, proxy, systemClock);
    const before = source.current!;
    serverClock.advance((TTL_S + 1) * 1000);
    proxy.seen.length = 0;

    const results = await Promise.all(fiveCalls(client));
    expect(results[2]).toMatchObject({ name: 'bob' });
    expect(proxy.count('POST', REFRESH)).toBe(1);
    const calls = proxy.seen.filter((r) => r.path !== REFRESH);
    const refused = calls.filter((r) => r.status === 401);
    // Each call that met the expired token was retried once with the new one; none twice.
    expect(refused.length).toBeGreaterThanOrEqual(1);
    expect(calls.filter((r) => r.status === 200)).toHaveLength(5);
    expect(calls).toHaveLength(5 + refused.length);
    expect(source.saves).toBe(2); // enrollment, then the one rotation
    expect(source.current!.refreshToken).not.toBe(before.refreshToken);
    expect(signedOut()).toBe(0);
    client.close();
  });

  it('a refresh timer firing while the 401s come back joins the same refresh', async () => {
    const { client, source } = await device(codes[1]!, proxy, systemClock);
    serverClock.advance((TTL_S + 1) * 1000);
    proxy.seen.length = 0;
    let timer: Promise<void> | null = null;
    proxy.onAnswer((r) => {
      // The first 401 is on its way to the client when the timer fires.
      if (r.status === 401 && timer === null) timer = client.refreshAccess();
    });
    await Promise.all(fiveCalls(client));
    expect(timer).not.toBeNull();
    await timer;
    expect(proxy.count('POST', REFRESH)).toBe(1);
    expect(source.saves).toBe(2);
    client.close();
  });

  it('refresh refused: one sign-out, every pending call rejected, at most one refresh call, no loop', async () => {
    const { client, source, signedOut } = await device(codes[2]!, proxy, systemClock);
    // Someone else used this device's refresh token (a copied keychain): it was rotated away, and
    // presenting it now signs the device out on the server.
    const copied = await h.anonymous().post(REFRESH, { refreshToken: source.current!.refreshToken });
    expect(copied.status).toBe(200);
    serverClock.advance((TTL_S + 1) * 1000);
    proxy.seen.length = 0;

    const settled = await Promise.allSettled(fiveCalls(client));
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected', 'rejected']);
    for (const s of settled) expect((s as PromiseRejectedResult).reason).toBeInstanceOf(SignedOutError);
    expect(proxy.count('POST', REFRESH)).toBe(1);
    expect(signedOut()).toBe(1);
    expect(source.clears).toBe(1);
    expect(source.current).toBeNull();

    const sent = proxy.seen.length;
    await expect(client.listGrants()).rejects.toBeInstanceOf(SignedOutError);
    await expect(client.accessToken()).rejects.toBeInstanceOf(SignedOutError);
    expect(proxy.seen.length).toBe(sent);
    expect(signedOut()).toBe(1);
    client.close();
  });
});

describe('proactive refresh on the server clock (B41)', () => {
  let h: Harness;
  let proxy: HttpProxy;
  // One clock for server and client: moving it expires the token for both.
  const clock = new ManualClock(Date.now());
  let codes: string[];
  beforeAll(async () => {
    h = await startHarness({ clock, accessTtlS: TTL_S });
    proxy = await startHttpProxy(h.url);
    codes = await codesFor(h, 1);
  });
  afterAll(async () => {
    await proxy.close();
    await h.close();
  });

  it('expired token and the refresh timer in the same tick: one refresh, before any call, and no 401', async () => {
    const { client, source } = await device(codes[0]!, proxy, clock);
    clock.advance((TTL_S + 1) * 1000);
    proxy.seen.length = 0;
    const results = await Promise.all([...fiveCalls(client), client.refreshAccess()]);
    expect(results[2]).toMatchObject({ name: 'bob' });
    expect(proxy.seen[0]!.path).toBe(REFRESH);
    expect(proxy.count('POST', REFRESH)).toBe(1);
    expect(proxy.seen.filter((r) => r.status === 401)).toEqual([]);
    expect(source.saves).toBe(2);
    client.close();
  });
});

describe('server clock offset', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ accessTtlS: TTL_S });
  });
  afterAll(async () => h.close());

  it('is measured from the Date header: a server 90 s ahead reads as +90 000 ms', async () => {
    const proxy = await startHttpProxy(h.url);
    proxy.shiftDate(90_000);
    const { client } = await device(await codeFor(h, 'bob'), proxy, systemClock);
    for (let i = 0; i < 3; i++) await client.me();
    expect(Math.abs(client.clockOffsetMs - 90_000)).toBeLessThanOrEqual(2_000);
    expect(Math.abs(client.serverNow() - (Date.now() + 90_000))).toBeLessThanOrEqual(2_000);
    client.close();
    await proxy.close();
  });

  it('decides the proactive refresh on the server clock: 60 s before expiry there, whatever the local clock says', async () => {
    const proxy = await startHttpProxy(h.url);
    const { client } = await device(await codeFor(h, 'bob'), proxy, systemClock);
    const refreshes = () => proxy.count('POST', REFRESH);
    // The server's clock runs ahead (its Date header); the local one does not move.
    proxy.shiftDate((TTL_S - 120) * 1000);
    await client.me(); // measures the new offset
    await client.me(); // 120 s left by the server's clock: not yet
    expect(refreshes()).toBe(0);
    proxy.shiftDate((TTL_S - 30) * 1000);
    await client.me();
    await client.me(); // 30 s left: inside the margin
    expect(refreshes()).toBe(1);
    client.close();
    await proxy.close();
  });

  it('is about zero against a server on the same clock', async () => {
    const proxy = await startHttpProxy(h.url);
    const { client } = await device(await codeFor(h, 'bob'), proxy, systemClock);
    for (let i = 0; i < 3; i++) await client.me();
    expect(Math.abs(client.clockOffsetMs)).toBeLessThanOrEqual(1_000);
    client.close();
    await proxy.close();
  });
});
