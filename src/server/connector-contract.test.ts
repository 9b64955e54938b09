/**
 * What every connector gets from the server, whatever the target (DESIGN.md, "Connectors";
 * FIELD-CASES B03): a grant is active only once its provisioning is confirmed, and its countdown
 * starts then; a failed provisioning is never shown as active; overlapping grants never revoke
 * each other; credentials are sealed at rest, shown to the grantee only, and wiped at the end.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../shared/clock.js';
import type { Connector, GrantTarget, Provisioned } from './connectors/types.js';
import { FakeConnector } from './test-support/fake-connector.js';
import { startHarness, type Harness, type TestClient } from './test-support/harness.js';
import { openEvents, type SseStream } from './test-support/sse-client.js';

const T0 = Date.UTC(2026, 2, 2, 9, 0, 0);
const SEC = 1000;
const MIN = 60_000;
const iso = (ms: number) => new Date(ms).toISOString();

const CONFIG = `
groups:
  eng: { members: [alice, dave] }
  sre: { members: [bob, carol] }
resources:
  async-db:
    connector: async-fake
    roles: { readonly: {} }
  fake-db:
    connector: fake
    roles: { readonly: {}, admin: {} }
policies:
  - resource: async-db
    requesters: [eng]
    approvers: { groups: [sre] }
    maxDuration: 4h
  - resource: fake-db
    requesters: [eng]
    approvers: { groups: [sre] }
    maxDuration: 4h
    reasonRequired: false
    autoApprove: [{ groups: [eng] }]
`;

type OpStatus = 'pending' | 'done' | `failed: ${string}`;

/**
 * A target whose API provisions asynchronously (B03): `grant()` answers `{status: 'pending', opId}`
 * at once and `status(opId)` tells later whether the work was done or failed.
 */
class AsyncTarget {
  private readonly ops = new Map<string, { polls: number; outcome: OpStatus; after: number }>();
  private seq = 0;
  /** How the next operations end, and after how many status polls. */
  plan: { outcome: OpStatus; afterPolls: number } = { outcome: 'done', afterPolls: 1 };
  polls = 0;

  grant(_grantId: string): { status: 'pending'; opId: string } {
    const opId = `op-${++this.seq}`;
    this.ops.set(opId, { polls: 0, outcome: this.plan.outcome, after: this.plan.afterPolls });
    return { status: 'pending', opId };
  }

  status(opId: string): OpStatus {
    const op = this.ops.get(opId)!;
    this.polls++;
    return ++op.polls >= op.after ? op.outcome : 'pending';
  }
}

/** A connector that waits for the target's final status, polling every second of the clock. */
class AsyncConnector implements Connector {
  readonly kind = 'async-fake';
  /** True while a provisioning waits for its next poll. */
  waiting = false;

  constructor(private readonly api: AsyncTarget, private readonly clock: ManualClock) {}

  checkConfig(): void {}

  async provision(t: GrantTarget): Promise<Provisioned> {
    const { opId } = this.api.grant(t.grantId);
    for (;;) {
      this.waiting = true;
      await new Promise((r) => this.clock.setTimer(() => r(null), SEC));
      this.waiting = false;
      const status = this.api.status(opId);
      if (status === 'done') return this.credential(t);
      if (status.startsWith('failed: ')) throw new Error(status.slice('failed: '.length));
    }
  }

  async extend(t: GrantTarget): Promise<Provisioned> {
    return this.credential(t);
  }

  async revoke(): Promise<{ audit: Record<string, unknown> }> {
    return { audit: { note: 'already_absent' } };
  }

  private credential(t: GrantTarget): Provisioned {
    return { credential: { type: 'async-fake', login: `jit_${t.grantId}`, validUntil: iso(t.expiresAt) } };
  }
}

let h: Harness | undefined;
let clock: ManualClock;
let fake: FakeConnector;
let api: AsyncTarget;
let asyncConnector: AsyncConnector;
const streams: SseStream[] = [];

async function start(): Promise<Harness> {
  clock = new ManualClock(T0);
  fake = new FakeConnector(clock);
  api = new AsyncTarget();
  asyncConnector = new AsyncConnector(api, clock);
  h = await startHarness({ config: CONFIG, clock, extraConnectors: () => [fake, asyncConnector], revokeBackoff: { firstMs: 10, maxMs: 50 } });
  return h;
}

afterEach(async () => {
  for (const s of streams.splice(0)) s.close();
  await h?.close();
  h = undefined;
});

async function realWait(what: string, cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Moves the clock a second at a time while the async connector polls, until the grant leaves `provisioning`. */
async function pollThrough(alice: TestClient, grantId: string): Promise<{ grant: any; seen: any[] }> {
  const seen: any[] = [];
  for (let i = 0; i < 30; i++) {
    const g = (await alice.get(`/v1/grants/${grantId}`)).body;
    seen.push(g);
    if (g.state !== 'provisioning') return { grant: g, seen };
    await realWait('the next status poll', async () => asyncConnector.waiting || (await alice.get(`/v1/grants/${grantId}`)).body.state !== 'provisioning');
    if (!asyncConnector.waiting) continue;
    const polls = api.polls;
    clock.advance(SEC);
    await realWait('the status poll', () => api.polls > polls);
  }
  throw new Error('provisioning did not settle');
}

/** alice asks for async-db, bob approves `approveAfter` later; returns the grant id and the approval time. */
async function requestAndApprove(approveAfter: number): Promise<{ alice: TestClient; bob: TestClient; grantId: string; approvedAt: number }> {
  const alice = await h!.as('alice');
  const bob = await h!.as('bob');
  const req = await alice.post('/v1/requests', { resource: 'async-db', role: 'readonly', duration: '30m', reason: 'CHG-1042: check the nightly load' });
  expect(req.status, JSON.stringify(req.body)).toBe(201);
  clock.advance(approveAfter);
  const approvedAt = clock.now();
  const approved = await bob.post(`/v1/requests/${req.body.id}/approve`, {});
  expect(approved.body).toMatchObject({ state: 'approved' });
  return { alice, bob, grantId: approved.body.grantId, approvedAt };
}

describe('B03: a grant is active only once provisioning is confirmed', () => {
  it('an asynchronous provisioning that ends in `failed: quota` fails the grant: never active, no countdown, both sides see why', async () => {
    await start();
    const alice0 = await h!.as('alice');
    const bob0 = await h!.as('bob');
    const aliceEvents = await openEvents(h!.url, alice0.token!);
    const bobEvents = await openEvents(h!.url, bob0.token!);
    streams.push(aliceEvents, bobEvents);
    api.plan = { outcome: 'failed: quota', afterPolls: 3 };

    const { alice, bob, grantId } = await requestAndApprove(2 * MIN);
    const { grant, seen } = await pollThrough(alice, grantId);
    expect(api.polls).toBe(3);

    // While the target said "pending" the grant was provisioning, with no countdown.
    expect(seen.length).toBeGreaterThan(1);
    for (const g of seen.slice(0, -1)) expect(g).toMatchObject({ state: 'provisioning', activatedAt: null, expiresAt: null, hasCredential: false });
    expect(grant).toMatchObject({ state: 'failed', activatedAt: null, expiresAt: null, hasCredential: false });
    expect(grant.failureReason).toContain('Access could not be provisioned (quota)');
    expect((await bob.get(`/v1/grants/${grantId}`)).body).toMatchObject({ state: 'failed', failureReason: 'Access could not be provisioned (quota)', expiresAt: null });
    expect((await alice.get(`/v1/grants/${grantId}/credential`)).status).toBe(409);

    for (const stream of [aliceEvents, bobEvents]) {
      const failed = await stream.waitFor((e) => e.event === 'grant.failed' && e.json.grantId === grantId);
      expect(failed.json.data.reason).toBe('Access could not be provisioned (quota)');
      expect(stream.events.filter((e) => e.json?.grantId === grantId).map((e) => e.event)).toEqual(['grant.provisioning', 'grant.failed']);
    }
    const admin = await h!.as('admin');
    const audit = ((await admin.get('/v1/audit?limit=1000')).body.items as any[]).filter((e) => e.grantId === grantId);
    expect(audit.map((e) => e.type)).toEqual(['grant.provisioning', 'grant.failed']);
  });

  it('the countdown starts at the confirmed activation, not at the approval click', async () => {
    await start();
    api.plan = { outcome: 'done', afterPolls: 6 }; // 6 s of provisioning, longer than the 5 s SLOW_PROVISION_MS
    const { alice, grantId, approvedAt } = await requestAndApprove(3 * MIN);
    const { grant } = await pollThrough(alice, grantId);
    const confirmedAt = approvedAt + 6 * SEC;

    expect(grant).toMatchObject({ state: 'active', activatedAt: iso(confirmedAt), expiresAt: iso(confirmedAt + 30 * MIN) });
    const cred = (await alice.get(`/v1/grants/${grantId}/credential`)).body;
    // The credential on the target ends with the window too (the connector was asked to move it).
    expect(cred).toMatchObject({ expiresAt: iso(confirmedAt + 30 * MIN), credential: { validUntil: iso(confirmedAt + 30 * MIN) } });

    // And it ends 30 minutes after confirmation, not after approval.
    clock.advance(30 * MIN - 1);
    await h!.settle();
    expect((await alice.get(`/v1/grants/${grantId}`)).body.state).toBe('active');
    clock.advance(1);
    await h!.settle();
    expect((await alice.get(`/v1/grants/${grantId}`)).body).toMatchObject({ state: 'ended', endReason: 'expired' });
  });
});

describe('generic connector guarantees (fake connector)', () => {
  async function autoGrant(user: TestClient, role = 'readonly', duration = '30m'): Promise<any> {
    const r = await user.post('/v1/requests', { resource: 'fake-db', role, duration });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    await h!.settle();
    const g = (await user.get(`/v1/grants/${r.body.grantId}`)).body;
    expect(g.state).toBe('active');
    return g;
  }

  it('overlapping grants on the same resource and role never revoke each other', async () => {
    await start();
    const alice = await h!.as('alice');
    const dave = await h!.as('dave');
    const a1 = await autoGrant(alice, 'readonly', '30m');
    clock.advance(5 * MIN);
    const d1 = await autoGrant(dave, 'readonly', '1h');
    const a2 = await autoGrant(alice, 'readonly', '2h');
    expect(new Set([a1.id, d1.id, a2.id]).size).toBe(3);
    expect([...fake.live].sort()).toEqual([a1.id, d1.id, a2.id].sort());
    const logins = await Promise.all([[alice, a1], [dave, d1], [alice, a2]].map(async ([u, g]) => (await (u as TestClient).get(`/v1/grants/${g.id}/credential`)).body.credential.login));
    expect(new Set(logins).size).toBe(3);

    // alice ends her first grant: only that one is revoked.
    expect((await alice.post(`/v1/grants/${a1.id}/end`)).body.state).toBe('ended');
    expect(fake.revokes.map((c) => c.grantId)).toEqual([a1.id]);
    expect([...fake.live].sort()).toEqual([d1.id, a2.id].sort());
    expect((await alice.get(`/v1/grants/${a2.id}`)).body.state).toBe('active');

    // dave's grant expires on its own: alice's second one stays.
    clock.advance(60 * MIN);
    await h!.settle();
    expect((await dave.get(`/v1/grants/${d1.id}`)).body).toMatchObject({ state: 'ended', endReason: 'expired' });
    expect(fake.revokes.map((c) => c.grantId)).toEqual([a1.id, d1.id]);
    expect([...fake.live]).toEqual([a2.id]);
    expect((await alice.get(`/v1/grants/${a2.id}`)).body.state).toBe('active');
    expect((await alice.get(`/v1/grants/${a2.id}/credential`)).status).toBe(200);
  });

  it('credentials are sealed at rest, readable only by the grantee while active, and wiped at the end', async () => {
    await start();
    const alice = await h!.as('alice');
    const bob = await h!.as('bob');
    const admin = await h!.as('admin');
    const g = await autoGrant(alice);
    const plain = `secret-${g.id}`;
    const stored = async () => (await h!.server.store.db.selectFrom('grants').select('credential_enc').where('id', '=', g.id).executeTakeFirstOrThrow()).credential_enc;

    const sealed = await stored();
    expect(sealed).toMatch(/^v1\./);
    expect(sealed).not.toContain(plain);
    expect(sealed).not.toContain(`fake_${g.id}`);
    expect(Buffer.from(sealed!.split('.').at(-1)!, 'base64').toString('latin1')).not.toContain(plain);

    const mine = await alice.get(`/v1/grants/${g.id}/credential`);
    expect(mine.status).toBe(200);
    expect(mine.headers.get('cache-control')).toBe('no-store');
    expect(mine.body.credential).toMatchObject({ type: 'fake', secret: plain });
    // The approver and even an admin see the grant, never its credential.
    expect((await bob.get(`/v1/grants/${g.id}`)).status).toBe(200);
    expect((await bob.get(`/v1/grants/${g.id}/credential`)).status).toBe(404);
    expect((await admin.get(`/v1/grants/${g.id}/credential`)).status).toBe(404);
    const everywhere = JSON.stringify([(await admin.get('/v1/audit?limit=1000')).body, (await admin.get('/v1/grants?scope=all')).body, (await bob.get(`/v1/grants/${g.id}`)).body]);
    expect(everywhere).not.toContain(plain);

    expect((await alice.post(`/v1/grants/${g.id}/end`)).body.state).toBe('ended');
    expect(await stored()).toBeNull();
    expect((await alice.get(`/v1/grants/${g.id}/credential`)).status).toBe(409);

    // The same when the grant runs out instead.
    const g2 = await autoGrant(alice, 'admin', '10m');
    expect(await h!.server.store.db.selectFrom('grants').select('credential_enc').where('id', '=', g2.id).executeTakeFirstOrThrow()).not.toMatchObject({ credential_enc: null });
    clock.advance(10 * MIN);
    await h!.settle();
    expect((await alice.get(`/v1/grants/${g2.id}`)).body).toMatchObject({ state: 'ended', endReason: 'expired', hasCredential: false });
    expect((await h!.server.store.db.selectFrom('grants').select('credential_enc').where('id', '=', g2.id).executeTakeFirstOrThrow()).credential_enc).toBeNull();
    expect((await alice.get(`/v1/grants/${g2.id}/credential`)).status).toBe(409);
  });
});
