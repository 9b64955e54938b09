/**
 * The lifecycle rules of DESIGN.md ("Domain"), each through the real HTTP server with a
 * ManualClock: what a requester, an approver and an admin see from the API.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { TEST_CONFIG, startHarness, type Harness, type TestClient } from '../test-support/harness.js';
import { openEvents } from '../test-support/sse-client.js';
import { eventually } from '../test-support/eventually.js';
import { activeGrants, endGrants } from '../test-support/many-grants.js';
import { UNFINISHED_GRANT_STATES } from '../../shared/states.js';

const T0 = Date.UTC(2026, 2, 2, 9, 0, 0);
const MIN = 60_000;
const H = 60 * MIN;
const iso = (ms: number) => new Date(ms).toISOString();
const REASON = 'INC-1234 restart replica';

let h: Harness;
let clock: ManualClock;

async function start(config: string = TEST_CONFIG) {
  clock = new ManualClock(T0);
  h = await startHarness({ config, clock });
}

beforeEach(async () => start());
afterEach(async () => h?.close());

/** Moves the clock and lets the server handle whatever came due. */
async function advance(ms: number) {
  clock.advance(ms);
  await h.settle();
}

async function request(client: TestClient, body: Record<string, unknown>, headers?: Record<string, string>) {
  return client.post('/v1/requests', { reason: REASON, ...body }, headers);
}

/** alice asks for demo-pass/read, bob approves, and the grant becomes active. */
async function activeGrant(duration = '30m') {
  const alice = await h.as('alice');
  const bob = await h.as('bob');
  const created = await request(alice, { resource: 'demo-pass', role: 'read', duration });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const approved = await bob.post(`/v1/requests/${created.body.id}/approve`, {});
  expect(approved.status, JSON.stringify(approved.body)).toBe(200);
  await h.settle();
  const grant = await alice.get(`/v1/grants/${approved.body.grantId}`);
  expect(grant.body.state).toBe('active');
  return { alice, bob, request: approved.body, grant: grant.body };
}

describe('access window', () => {
  it('runs from activation, never from creation: approved 40 min late, the grant still gets its full 30 min', async () => {
    const alice = await h.as('alice');
    const bob = await h.as('bob');
    const created = await request(alice, { resource: 'demo-pass', role: 'read', duration: '30m' });
    expect(created.body.createdAt).toBe(iso(T0));

    await advance(40 * MIN);
    expect((await alice.get(`/v1/requests/${created.body.id}`)).body.state).toBe('pending');
    const approved = await bob.post(`/v1/requests/${created.body.id}/approve`, {});
    expect(approved.body.state).toBe('approved');
    await h.settle();

    const grant = (await alice.get(`/v1/grants/${approved.body.grantId}`)).body;
    expect(grant.state).toBe('active');
    expect(grant.activatedAt).toBe(iso(T0 + 40 * MIN));
    expect(grant.expiresAt).toBe(iso(T0 + 70 * MIN));
    const cred = await alice.get(`/v1/grants/${grant.id}/credential`);
    expect(cred.body.expiresAt).toBe(iso(T0 + 70 * MIN));

    await advance(30 * MIN - 1000);
    expect((await alice.get(`/v1/grants/${grant.id}`)).body.state).toBe('active');
    await advance(1000);
    const ended = (await alice.get(`/v1/grants/${grant.id}`)).body;
    expect(ended).toMatchObject({ state: 'ended', endReason: 'expired', endedAt: iso(T0 + 70 * MIN) });
  });
});

describe('names every JavaScript object inherits', () => {
  const INHERITED = ['constructor', '__proto__', 'toString', 'hasOwnProperty'];

  it('a resource or role named after one is refused like any unknown one, and nothing is created', async () => {
    // pg-prod's policy has no `roles:` line (all its roles): `constructor` once passed as one of
    // them and was approved and issued as a signed pass with "role": "constructor".
    const alice = await h.as('alice');
    const erin = await h.as('erin');
    const before = await h.server.store.db.selectFrom('events').select('id').execute();
    for (const name of INHERITED) {
      for (const [who, body] of [
        [alice, { resource: name, role: 'read' }],
        [alice, { resource: 'pg-prod', role: name }],
        [alice, { resource: 'demo-pass', role: name }],
        // erin is auto-approved on pg-prod: a role that slipped through would be granted at once.
        [erin, { resource: 'pg-prod', role: name }],
      ] as const) {
        const r = await request(who, { ...body, duration: '30m' });
        const what = `${who.name} asks for ${body.resource}/${body.role} → ${r.status} ${JSON.stringify(r.body)}`;
        // `constructor` is a valid name and names nothing (404); the others are not names at all (400).
        expect(r.status, what).toBe(name === 'constructor' ? 404 : 400);
        expect(r.body.error.code, what).toBe(name === 'constructor' ? 'not_requestable' : 'validation_failed');
      }
    }
    await h.settle();
    expect(await h.server.store.db.selectFrom('requests').select('id').execute()).toEqual([]);
    expect(await h.server.store.db.selectFrom('grants').select('id').execute()).toEqual([]);
    expect(await h.server.store.db.selectFrom('events').select('id').execute()).toEqual(before);
  });
});

describe('approve-by deadline', () => {
  it('a request nobody decides within approveWithin times out, gets no grant and cannot be approved', async () => {
    const alice = await h.as('alice');
    const bob = await h.as('bob');
    const created = await request(alice, { resource: 'demo-pass', role: 'read' });
    expect(created.body.requestExpiresAt).toBe(iso(T0 + 24 * H));

    await advance(24 * H - 1);
    expect((await alice.get(`/v1/requests/${created.body.id}`)).body.state).toBe('pending');
    await advance(1);
    const r = (await alice.get(`/v1/requests/${created.body.id}`)).body;
    expect(r.state).toBe('timed_out');
    expect(r.grantId).toBeNull();

    const late = await bob.post(`/v1/requests/${created.body.id}/approve`, {});
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('already_resolved');
    expect((await alice.get('/v1/grants')).body.items).toEqual([]);
  });
});

describe('approvals', () => {
  it('demo-pass/write needs two distinct approvers; one approver twice is refused', async () => {
    const alice = await h.as('alice');
    const bob = await h.as('bob');
    const carol = await h.as('carol');
    const created = await request(alice, { resource: 'demo-pass', role: 'write', duration: '30m' });
    expect(created.body.approvalsNeeded).toBe(2);

    const first = await bob.post(`/v1/requests/${created.body.id}/approve`, { comment: 'looks fine' });
    expect(first.status).toBe(200);
    expect(first.body.state).toBe('pending');
    expect(first.body.reviews).toMatchObject([{ reviewer: 'bob', decision: 'approve', comment: 'looks fine' }]);
    expect(first.body.grantId).toBeNull();

    const again = await bob.post(`/v1/requests/${created.body.id}/approve`, {});
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('already_reviewed');
    expect((await alice.get(`/v1/requests/${created.body.id}`)).body.state).toBe('pending');

    const second = await carol.post(`/v1/requests/${created.body.id}/approve`, {});
    expect(second.body.state).toBe('approved');
    expect(second.body.grantId).toMatch(/^gr_/);
    await h.settle();
    expect((await alice.get(`/v1/grants/${second.body.grantId}`)).body.state).toBe('active');
  });

  it('a requester who is an approver cannot approve or deny their own request by default', async () => {
    const bob = await h.as('bob');
    const carol = await h.as('carol');
    const created = await request(bob, { resource: 'demo-pass', role: 'read' });
    expect(created.body.canReview).toBe(false);

    const approve = await bob.post(`/v1/requests/${created.body.id}/approve`, {});
    expect(approve.status).toBe(403);
    expect(approve.body.error.code).toBe('self_review');
    const deny = await bob.post(`/v1/requests/${created.body.id}/deny`, { comment: 'never mind' });
    expect(deny.status).toBe(403);
    expect(deny.body.error.code).toBe('self_review');
    const r = (await bob.get(`/v1/requests/${created.body.id}`)).body;
    expect(r.state).toBe('pending');
    expect(r.reviews).toEqual([]);

    expect((await carol.post(`/v1/requests/${created.body.id}/approve`, {})).body.state).toBe('approved');
  });

  it('self-review counts where the policy allows it (demo-pass/write has selfApproval)', async () => {
    const bob = await h.as('bob');
    const carol = await h.as('carol');
    const created = await request(bob, { resource: 'demo-pass', role: 'write', duration: '10m' });
    expect(created.body.canReview).toBe(true);
    const own = await bob.post(`/v1/requests/${created.body.id}/approve`, {});
    expect(own.status).toBe(200);
    expect(own.body.reviews).toMatchObject([{ reviewer: 'bob', decision: 'approve' }]);
    expect(own.body.state).toBe('pending');
    expect((await carol.post(`/v1/requests/${created.body.id}/approve`, {})).body.state).toBe('approved');
  });

  it('a deny needs a comment and ends the request', async () => {
    const alice = await h.as('alice');
    const bob = await h.as('bob');
    const created = await request(alice, { resource: 'demo-pass', role: 'read' });
    const bare = await bob.post(`/v1/requests/${created.body.id}/deny`, {});
    expect(bare.status).toBe(400);
    const denied = await bob.post(`/v1/requests/${created.body.id}/deny`, { comment: 'use the replica' });
    expect(denied.body).toMatchObject({ state: 'denied', decidedBy: 'bob', decisionComment: 'use the replica', grantId: null });
  });
});

describe('concurrent decisions (B17)', () => {
  it('approve and deny at once: exactly one wins, the loser gets 409 naming the winner, and nobody can re-decide', async () => {
    const alice = await h.as('alice');
    const bob = await h.as('bob');
    const carol = await h.as('carol');
    const admin = await h.as('admin');
    for (let round = 0; round < 5; round++) {
      const created = await request(alice, { resource: 'demo-pass', role: 'read' });
      expect(created.status).toBe(201);
      const [a, d] = await Promise.all([
        bob.post(`/v1/requests/${created.body.id}/approve`, {}),
        carol.post(`/v1/requests/${created.body.id}/deny`, { comment: 'not during the freeze' }),
      ]);
      expect([a.status, d.status].sort()).toEqual([200, 409]);
      const [winner, loser, outcome] = a.status === 200 ? ['bob', d, 'approved'] : ['carol', a, 'denied'];
      expect(loser.body.error.code).toBe('already_resolved');
      expect(loser.body.error.decidedBy).toBe(winner);
      expect(loser.body.error.message).toContain(`${outcome} by ${winner}`);

      const final = (await alice.get(`/v1/requests/${created.body.id}`)).body;
      expect(final.state).toBe(outcome);
      expect(final.decidedBy).toBe(winner);
      expect(final.grantId === null).toBe(outcome === 'denied');

      // A decided request cannot be decided again, by either side.
      for (const [who, verb] of [[bob, 'deny'], [carol, 'approve'], [carol, 'deny']] as const) {
        const again = await who.post(`/v1/requests/${created.body.id}/${verb}`, { comment: 'second thoughts' });
        expect(again.status).toBe(409);
      }
      const audit = (await admin.get('/v1/audit?limit=1000')).body.items as any[];
      const decisions = audit.filter((e) => e.requestId === created.body.id && ['request.approved', 'request.denied'].includes(e.type));
      expect(decisions).toHaveLength(1);
      await h.settle();
      if (outcome === 'approved') await alice.post(`/v1/grants/${final.grantId}/end`);
    }
  });
});

describe('idempotency', () => {
  it('the same Idempotency-Key twice makes one request; the replay answers 200 with the same id', async () => {
    const alice = await h.as('alice');
    const body = { resource: 'demo-pass', role: 'read', duration: '20m' };
    const first = await request(alice, body, { 'idempotency-key': 'k-1' });
    const second = await request(alice, body, { 'idempotency-key': 'k-1' });
    expect(first.status).toBe(201);
    expect(second.status).toBe(200);
    expect(second.body.id).toBe(first.body.id);
    expect((await alice.get('/v1/requests')).body.items).toHaveLength(1);
  });

  it('the same key with a different body is refused with 422', async () => {
    const alice = await h.as('alice');
    const first = await request(alice, { resource: 'demo-pass', role: 'read', duration: '20m' }, { 'idempotency-key': 'k-2' });
    const other = await request(alice, { resource: 'demo-pass', role: 'read', duration: '40m' }, { 'idempotency-key': 'k-2' });
    expect(other.status).toBe(422);
    expect(other.body.error.code).toBe('idempotency_conflict');
    expect(other.body.error.requestId).toBe(first.body.id);
    expect((await alice.get('/v1/requests')).body.items).toHaveLength(1);
  });
  it('the same key with a different body is refused even when both arrive at once', async () => {
    await h.as('alice');
    const alice = { name: 'alice', groups: ['eng'], admin: false };
    // Straight at the lifecycle, so both calls are surely past the first replay check together.
    const results = await Promise.allSettled([
      h.server.lifecycle.createRequest(alice, { resource: 'demo-pass', role: 'read', duration: '20m', reason: REASON }, 'k-race'),
      h.server.lifecycle.createRequest(alice, { resource: 'demo-pass', role: 'read', duration: '40m', reason: REASON }, 'k-race'),
    ]);
    expect(results[0]).toMatchObject({ status: 'fulfilled', value: { replayed: false } });
    expect(results[1]).toMatchObject({ status: 'rejected', reason: { status: 422, code: 'idempotency_conflict' } });
    const mine = (await (await h.as('alice')).get('/v1/requests')).body.items;
    expect(mine).toHaveLength(1);
    expect(mine[0].durationMs).toBe(20 * MIN);
  });
});

describe('duration', () => {
  it('a duration above the maximum is refused with 422 duration_exceeds_max naming the maximum, and nothing is created', async () => {
    const alice = await h.as('alice');
    const r = await request(alice, { resource: 'demo-pass', role: 'read', duration: '2h' });
    expect(r.status).toBe(422);
    expect(r.body.error.code).toBe('duration_exceeds_max');
    expect(r.body.error.max).toBe('1h');
    expect(r.body.error.message).toContain('1h');
    expect((await alice.get('/v1/requests')).body.items).toEqual([]);
  });

  it('without a duration the request gets the policy default', async () => {
    const alice = await h.as('alice');
    expect((await request(alice, { resource: 'demo-pass', role: 'read' })).body.durationMs).toBe(30 * MIN);
  });

  it('a duration that is not one is a 400 naming the field', async () => {
    const alice = await h.as('alice');
    const r = await request(alice, { resource: 'demo-pass', role: 'read', duration: 'ten minutes' });
    expect(r.status).toBe(400);
    expect(r.body.error.field).toBe('duration');
  });
});

describe('reason (B24)', () => {
  it.each([
    ['', 'reason_required'],
    ['   ', 'reason_invalid'],
    ['.', 'reason_invalid'],
    ['\u0000abc', 'reason_invalid'],
    ['a'.repeat(1025), 'reason_too_long'],
    ['🔥'.repeat(1025), 'reason_too_long'],
  ])('refuses %j with %s and creates nothing', async (reason, code) => {
    const alice = await h.as('alice');
    const r = await alice.post('/v1/requests', { resource: 'demo-pass', role: 'read', reason });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe(code);
    expect((await alice.get('/v1/requests')).body.items).toEqual([]);
  });

  it('a missing reason where one is required is reason_required', async () => {
    const alice = await h.as('alice');
    const r = await alice.post('/v1/requests', { resource: 'demo-pass', role: 'read' });
    expect(r.body.error.code).toBe('reason_required');
  });

  it('counts emoji in characters (1024 of them fit) and stores the reason trimmed', async () => {
    const alice = await h.as('alice');
    const emoji = await alice.post('/v1/requests', { resource: 'demo-pass', role: 'read', reason: '🔥'.repeat(1024) });
    expect(emoji.status).toBe(201);
    expect([...emoji.body.reason]).toHaveLength(1024);
    await alice.post(`/v1/requests/${emoji.body.id}/cancel`);

    const padded = await alice.post('/v1/requests', { resource: 'demo-pass', role: 'read', reason: '  INC-1234 restart replica  ' });
    expect(padded.status).toBe(201);
    expect(padded.body.reason).toBe('INC-1234 restart replica');
    expect((await alice.get(`/v1/requests/${padded.body.id}`)).body.reason).toBe('INC-1234 restart replica');
  });
});

describe('extensions', () => {
  it('an approved extension moves expiresAt of the same grant; the grant then ends at the new time', async () => {
    const { alice, bob, grant } = await activeGrant('30m');
    expect(grant.expiresAt).toBe(iso(T0 + 30 * MIN));

    const ext = await alice.post(`/v1/grants/${grant.id}/extend`, { by: '15m', reason: 'the migration is still running' });
    expect(ext.status).toBe(201);
    expect(ext.body).toMatchObject({ kind: 'extension', state: 'pending', grantId: grant.id, durationMs: 15 * MIN });
    expect((await alice.get(`/v1/grants/${grant.id}`)).body.expiresAt).toBe(iso(T0 + 30 * MIN));

    const approved = await bob.post(`/v1/requests/${ext.body.id}/approve`, {});
    expect(approved.body.state).toBe('approved');
    await h.settle();
    const moved = (await alice.get(`/v1/grants/${grant.id}`)).body;
    expect(moved).toMatchObject({ id: grant.id, state: 'active', activatedAt: grant.activatedAt, expiresAt: iso(T0 + 45 * MIN), extensionsUsed: 1 });
    const grants = (await alice.get('/v1/grants')).body.items;
    expect(grants.map((g: any) => g.id)).toEqual([grant.id]);
    expect((await alice.get(`/v1/grants/${grant.id}/credential`)).body.expiresAt).toBe(iso(T0 + 45 * MIN));

    await advance(30 * MIN);
    expect((await alice.get(`/v1/grants/${grant.id}`)).body.state).toBe('active');
    await advance(15 * MIN);
    expect((await alice.get(`/v1/grants/${grant.id}`)).body).toMatchObject({ state: 'ended', endReason: 'expired' });
  });

  it('an extension longer than the policy allows is 422, and so is one past the allowed count', async () => {
    const { alice, bob, grant } = await activeGrant('30m');
    const tooLong = await alice.post(`/v1/grants/${grant.id}/extend`, { by: '45m', reason: 'the migration is still running' });
    expect(tooLong.status).toBe(422);
    expect(tooLong.body.error).toMatchObject({ code: 'duration_exceeds_max', max: '30m' });

    for (let i = 0; i < 2; i++) {
      const ext = await alice.post(`/v1/grants/${grant.id}/extend`, { by: '10m', reason: 'the migration is still running' });
      expect(ext.status).toBe(201);
      await bob.post(`/v1/requests/${ext.body.id}/approve`, {});
    }
    const third = await alice.post(`/v1/grants/${grant.id}/extend`, { by: '10m', reason: 'the migration is still running' });
    expect(third.status).toBe(422);
    expect(third.body.error.code).toBe('extension_not_allowed');
    expect((await alice.get(`/v1/grants/${grant.id}`)).body).toMatchObject({ expiresAt: iso(T0 + 50 * MIN), extensionsUsed: 2 });
  });
});

describe('ending a grant', () => {
  it('end now revokes at once: ended_by_user, the credential is gone, and ending again is 409', async () => {
    const { alice, grant } = await activeGrant();
    await advance(5 * MIN);
    const ended = await alice.post(`/v1/grants/${grant.id}/end`);
    expect(ended.status).toBe(200);
    expect(ended.body).toMatchObject({ state: 'ended', endReason: 'ended_by_user', endedAt: iso(T0 + 5 * MIN), hasCredential: false });
    const cred = await alice.get(`/v1/grants/${grant.id}/credential`);
    expect(cred.status).toBe(409);
    const again = await alice.post(`/v1/grants/${grant.id}/end`);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('invalid_state');
  });

  it("an admin ending someone's grant is revoked_by_admin; an approver who is not admin cannot", async () => {
    const { alice, bob, grant } = await activeGrant();
    const admin = await h.as('admin');
    const byBob = await bob.post(`/v1/grants/${grant.id}/end`);
    expect(byBob.status).toBe(403);
    expect((await alice.get(`/v1/grants/${grant.id}`)).body.state).toBe('active');
    const ended = await admin.post(`/v1/grants/${grant.id}/end`);
    expect(ended.body).toMatchObject({ state: 'ended', endReason: 'revoked_by_admin' });
    expect((await alice.get(`/v1/grants/${grant.id}`)).body.endReason).toBe('revoked_by_admin');
  });
});

describe('break-glass', () => {
  it('where allowed: an immediate active grant, capped, and everyone sees that it was used', async () => {
    const alice = await h.as('alice');
    const dave = await h.as('dave');
    const erin = await h.as('erin');
    // The server ends these streams when it stops.
    const daveStream = await openEvents(h.url, dave.token!);
    const erinStream = await openEvents(h.url, erin.token!);
    const normal = await request(alice, { resource: 'demo-pass', role: 'read' });
    const over = await request(alice, { resource: 'demo-pass', role: 'write', breakGlass: true, duration: '30m' });
    expect(over.status).toBe(422);
    expect(over.body.error.max).toBe('15m');

    const r = await request(alice, { resource: 'demo-pass', role: 'write', breakGlass: true, duration: '10m' });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ state: 'approved', breakGlass: true, decidedBy: 'break-glass' });
    await h.settle();
    const grant = (await alice.get(`/v1/grants/${r.body.grantId}`)).body;
    expect(grant).toMatchObject({ state: 'active', breakGlass: true, activatedAt: iso(T0), expiresAt: iso(T0 + 10 * MIN) });

    for (const stream of [daveStream, erinStream]) {
      const used = await stream.waitFor((e) => e.event === 'break_glass.used');
      expect(used.json).toMatchObject({ requestId: r.body.id, actor: 'alice', data: { resource: 'demo-pass', role: 'write' } });
      // Only break-glass goes to everyone: an ordinary request stays between alice and its approvers.
      expect(stream.events.filter((e) => e.json?.requestId === normal.body.id)).toEqual([]);
    }
  });

  it('where not allowed: 403 break_glass_not_allowed and no request', async () => {
    const alice = await h.as('alice');
    const r = await request(alice, { resource: 'demo-pass', role: 'read', breakGlass: true });
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe('break_glass_not_allowed');
    expect((await alice.get('/v1/requests')).body.items).toEqual([]);
  });
});

describe('scheduled start', () => {
  it('an approved scheduled request waits as `scheduled`, then is active from startAt for its duration', async () => {
    const alice = await h.as('alice');
    const bob = await h.as('bob');
    const carol = await h.as('carol');
    const startAt = T0 + 2 * H;
    const created = await request(alice, { resource: 'demo-pass', role: 'write', duration: '30m', startAt: iso(startAt) });
    expect(created.status).toBe(201);
    expect(created.body.startAt).toBe(iso(startAt));
    await bob.post(`/v1/requests/${created.body.id}/approve`, {});
    const approved = await carol.post(`/v1/requests/${created.body.id}/approve`, {});
    await h.settle();

    const waiting = (await alice.get(`/v1/grants/${approved.body.grantId}`)).body;
    expect(waiting).toMatchObject({ state: 'scheduled', startAt: iso(startAt), activatedAt: null, expiresAt: null });
    expect((await alice.get(`/v1/grants/${waiting.id}/credential`)).status).toBe(409);

    await advance(2 * H - 1000);
    expect((await alice.get(`/v1/grants/${waiting.id}`)).body.state).toBe('scheduled');
    await advance(1000);
    const active = (await alice.get(`/v1/grants/${waiting.id}`)).body;
    expect(active).toMatchObject({ state: 'active', activatedAt: iso(startAt), expiresAt: iso(startAt + 30 * MIN) });
    expect((await alice.get(`/v1/grants/${waiting.id}/credential`)).status).toBe(200);
  });

  it('is refused where the policy does not allow it', async () => {
    const alice = await h.as('alice');
    const r = await request(alice, { resource: 'demo-pass', role: 'read', startAt: iso(T0 + H) });
    expect(r.status).toBe(422);
    expect(r.body.error.code).toBe('scheduled_start_not_allowed');
  });
});

describe('auto-approve', () => {
  const config = TEST_CONFIG;

  it('erin (ops) gets pg-prod/readonly approved by policy at once; other roles and people still need review', async () => {
    await h.close();
    await start(config);
    const erin = await h.as('erin');
    const alice = await h.as('alice');
    const r = await request(erin, { resource: 'pg-prod', role: 'readonly', duration: '1h' });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ state: 'approved', decidedBy: 'policy' });
    await h.settle();
    expect((await erin.get(`/v1/grants/${r.body.grantId}`)).body).toMatchObject({ state: 'active', expiresAt: iso(T0 + H) });

    expect((await request(erin, { resource: 'pg-prod', role: 'admin', duration: '1h' })).body.state).toBe('pending');
    expect((await request(alice, { resource: 'pg-prod', role: 'readonly', duration: '1h' })).body.state).toBe('pending');
  });
});

describe('lists, newest first', () => {
  /** Grant ids in list order: newest batch first, and within one time the larger id first. */
  const newestFirst = (batches: string[][]) => batches.toReversed().flatMap((b) => b.toSorted().toReversed());

  it('130 grants of erin with the active one in the middle: the newest 100 are the 100 made last, the active one among them', async () => {
    const erin = await h.as('erin');
    const nextSecond = () => clock.advance(1000);
    const before = await activeGrants(h, erin, 65, nextSecond);
    const active = (await activeGrants(h, erin, 1, nextSecond))[0]![0]!;
    const after = await activeGrants(h, erin, 64, nextSecond);
    await endGrants(erin, [...before, ...after].flat());

    const all = newestFirst([...before, [active], ...after]);
    const page = (await erin.get('/v1/grants?scope=mine&limit=100')).body.items as { id: string; state: string }[];
    expect(page.map((g) => g.id)).toEqual(all.slice(0, 100));
    expect(page.find((g) => g.id === active)).toMatchObject({ state: 'active' });
    // The default limit is the same 100; the largest one shows them all, in the same order.
    expect(((await erin.get('/v1/grants')).body.items as { id: string }[]).map((g) => g.id)).toEqual(all.slice(0, 100));
    expect(((await erin.get('/v1/grants?limit=500')).body.items as { id: string }[]).map((g) => g.id)).toEqual(all);
    expect(((await (await h.as('admin')).get('/v1/grants?scope=all&limit=3')).body.items as { id: string }[]).map((g) => g.id)).toEqual(all.slice(0, 3));
  });

  it('an active grant made before 129 ended ones is past the newest 100, and the unfinished states find it', async () => {
    const erin = await h.as('erin');
    const active = (await activeGrants(h, erin, 1))[0]![0]!;
    clock.advance(1000);
    const ended = (await activeGrants(h, erin, 129)).flat();
    await endGrants(erin, ended);

    const newest = (await erin.get('/v1/grants?scope=mine&limit=100')).body.items as { id: string; state: string }[];
    expect(newest).toHaveLength(100);
    expect(newest.every((g) => g.state === 'ended')).toBe(true);
    const unfinished = await erin.get(`/v1/grants?scope=mine&state=${UNFINISHED_GRANT_STATES.join(',')}&limit=100`);
    expect((unfinished.body.items as { id: string; state: string }[]).map((g) => [g.id, g.state])).toEqual([[active, 'active']]);
    expect(((await erin.get('/v1/grants?state=ended,failed&limit=500')).body.items as unknown[])).toHaveLength(129);
    expect(((await (await h.as('admin')).get('/v1/grants?scope=all&state=scheduled,active')).body.items as { id: string }[]).map((g) => g.id)).toEqual([active]);

    const bad = await erin.get('/v1/grants?state=active,over');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: 'validation_failed', field: 'state', message: expect.stringMatching(/query field "state" must be one of "scheduled", .*, or several of them separated by commas/) });
  });

  it('requests, mine and to review, newest first by when they were made', async () => {
    const alice = await h.as('alice');
    const bob = await h.as('bob');
    const made: string[] = [];
    for (let i = 0; i < 12; i++) {
      clock.advance(1000);
      const r = await request(alice, { resource: 'demo-pass', role: 'read' });
      made.push(r.body.id as string);
      await alice.post(`/v1/requests/${r.body.id}/cancel`);
    }
    const ids = (items: { id: string }[]) => items.map((r) => r.id);
    expect(ids((await alice.get('/v1/requests?scope=mine&limit=10')).body.items)).toEqual(made.toReversed().slice(0, 10));
    expect(ids((await bob.get('/v1/requests?scope=review&limit=10')).body.items)).toEqual(made.toReversed().slice(0, 10));
  });
});

describe('list limits', () => {
  it('a limit or an after that is not one whole number in range gets one sentence saying what to write', async () => {
    const alice = await h.as('alice');
    const admin = await h.as('admin');
    const cases: [typeof alice, string, string][] = [
      [alice, '/v1/requests?limit=5&limit=6', 'query field "limit" must be one whole number from 1 to 500'],
      [alice, '/v1/requests?limit=1e999', 'query field "limit" must be one whole number from 1 to 500'],
      [alice, '/v1/grants?limit=abc', 'query field "limit" must be one whole number from 1 to 500'],
      [alice, '/v1/grants?limit=501', 'query field "limit" must be one whole number from 1 to 500'],
      [alice, '/v1/requests?limit=2.5', 'query field "limit" must be one whole number from 1 to 500'],
      [admin, '/v1/audit?limit=0', 'query field "limit" must be one whole number from 1 to 1000'],
      [admin, '/v1/audit?after=-1', 'query field "after" must be one whole number, 0 or more'],
    ];
    for (const [who, path, message] of cases) {
      const r = await who.get(path);
      expect(r.status, path).toBe(400);
      expect(r.body.error, path).toMatchObject({ code: 'validation_failed', message, field: path.includes('after') ? 'after' : 'limit' });
    }
    expect((await alice.get('/v1/requests?limit=5')).status).toBe(200);
    expect((await admin.get('/v1/audit?after=0&limit=1000')).status).toBe(200);
  });
});

describe('visibility', () => {
  it("alice cannot see bob's requests; approvers can", async () => {
    const alice = await h.as('alice');
    const bob = await h.as('bob');
    const carol = await h.as('carol');
    const mine = await request(bob, { resource: 'demo-pass', role: 'read' });
    const seen = await alice.get(`/v1/requests/${mine.body.id}`);
    expect(seen.status).toBe(404);
    expect(seen.body.error.code).toBe('not_found');
    expect((await alice.get('/v1/requests')).body.items).toEqual([]);
    expect((await alice.get('/v1/requests?scope=review')).body.items).toEqual([]);
    expect((await carol.get(`/v1/requests/${mine.body.id}`)).status).toBe(200);
    expect((await alice.post(`/v1/requests/${mine.body.id}/cancel`)).status).toBe(404);
  });

  it('a credential is readable only by its grantee, only while the grant is active', async () => {
    const { alice, bob, grant } = await activeGrant();
    const dave = await h.as('dave');
    const admin = await h.as('admin');
    const cred = await alice.get(`/v1/grants/${grant.id}/credential`);
    expect(cred.status).toBe(200);
    expect(cred.body.credential.type).toBe('pass');
    expect(cred.headers.get('cache-control')).toBe('no-store');
    for (const other of [bob, dave, admin]) {
      const r = await other.get(`/v1/grants/${grant.id}/credential`);
      expect(r.status, other.name).toBe(404);
      expect(JSON.stringify(r.body)).not.toContain(cred.body.credential.token);
    }
    expect((await dave.get(`/v1/grants/${grant.id}`)).status).toBe(404);
    expect(JSON.stringify((await bob.get(`/v1/grants/${grant.id}`)).body)).not.toContain(cred.body.credential.token);

    await alice.post(`/v1/grants/${grant.id}/end`);
    const after = await alice.get(`/v1/grants/${grant.id}/credential`);
    expect(after.status).toBe(409);
    expect(JSON.stringify(after.body)).not.toContain(cred.body.credential.token);
  });
});

/**
 * Time that moves without the scheduler's timer firing (a late timer, or the first moments after
 * a restart: FIELD-CASES B11). `late` shifts what the server reads as now; the timers, armed on the
 * ManualClock underneath, stay where they were, so no sweep runs unless something asks for one.
 */
class LateTimerClock extends ManualClock {
  late = 0;
  override now(): number {
    return super.now() + this.late;
  }
}


describe('past its end, before the sweep (B11)', () => {
  let late: LateTimerClock;
  beforeEach(async () => {
    await h.close();
    late = new LateTimerClock(T0);
    clock = late;
    h = await startHarness({ clock: late });
  });

  it('the credential of a grant 10 min past its end is refused as expired, and the grant is revoked at once', async () => {
    const { alice, grant } = await activeGrant('30m');
    expect((await alice.get(`/v1/grants/${grant.id}/credential`)).status).toBe(200);

    late.late = 40 * MIN;
    expect((await alice.get(`/v1/grants/${grant.id}`)).body.state).toBe('active'); // nothing has swept it
    const cred = await alice.get(`/v1/grants/${grant.id}/credential`);
    expect(cred.status).toBe(409);
    expect(cred.body.error).toMatchObject({ code: 'invalid_state', message: expect.stringMatching(/expired at .*request access again/) });
    expect(JSON.stringify(cred.body)).not.toMatch(/token|password/i);

    const ended = await eventually('grant revoked after the refused read', async () => (await alice.get(`/v1/grants/${grant.id}`)).body, (g) => g.state === 'ended');
    expect(ended).toMatchObject({ endReason: 'expired', expiresAt: iso(T0 + 30 * MIN), endedAt: iso(T0 + 40 * MIN) });
  });

  it('an extension that needs no approval cannot revive a grant past its end', async () => {
    // demo-pass/write: two approvals, extensions without approval.
    const alice = await h.as('alice');
    const created = await request(alice, { resource: 'demo-pass', role: 'write', duration: '30m' });
    await (await h.as('bob')).post(`/v1/requests/${created.body.id}/approve`, {});
    const approved = await (await h.as('carol')).post(`/v1/requests/${created.body.id}/approve`, {});
    expect(approved.body.state).toBe('approved');
    await h.settle();
    expect((await alice.get(`/v1/grants/${approved.body.grantId}`)).body.state).toBe('active');

    late.late = 40 * MIN;
    const ext = await alice.post(`/v1/grants/${approved.body.grantId}/extend`, { by: '30m', reason: 'the migration is still running' });
    expect(ext.status).toBe(409);
    expect(ext.body.error.message).toMatch(/expired at/);

    const ended = await eventually('grant revoked after the refused extension', async () => (await alice.get(`/v1/grants/${approved.body.grantId}`)).body, (g) => g.state === 'ended');
    expect(ended).toMatchObject({ endReason: 'expired', expiresAt: iso(T0 + 30 * MIN), extensionsUsed: 0 });
    const requests = (await alice.get('/v1/requests?scope=mine')).body.items as { kind: string }[];
    expect(requests.filter((r) => r.kind === 'extension')).toEqual([]);
  });

  it('an extension approved after the grant ended is refused and moves nothing', async () => {
    const { alice, bob, grant } = await activeGrant('30m');
    const ext = await alice.post(`/v1/grants/${grant.id}/extend`, { by: '15m', reason: 'the migration is still running' });
    expect(ext.body.state).toBe('pending');

    late.late = 31 * MIN;
    const approve = await bob.post(`/v1/requests/${ext.body.id}/approve`, {});
    expect(approve.status).toBe(409);
    const ended = await eventually('grant revoked after the refused approval', async () => (await alice.get(`/v1/grants/${grant.id}`)).body, (g) => g.state === 'ended');
    expect(ended).toMatchObject({ endReason: 'expired', expiresAt: iso(T0 + 30 * MIN) });
  });

  it('a request past its approve-by deadline cannot be approved, and times out at once', async () => {
    const alice = await h.as('alice');
    const bob = await h.as('bob');
    const created = await request(alice, { resource: 'demo-pass', role: 'read' });
    late.late = 24 * H;
    const approve = await bob.post(`/v1/requests/${created.body.id}/approve`, {});
    expect(approve.status).toBe(409);
    expect(approve.body.error).toMatchObject({ code: 'already_resolved', message: expect.stringMatching(/timed out/) });
    const r = await eventually('request timed out', async () => (await alice.get(`/v1/requests/${created.body.id}`)).body, (v) => v.state !== 'pending');
    expect(r).toMatchObject({ state: 'timed_out', grantId: null });
  });
});
