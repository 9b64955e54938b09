import { describe, expect, it } from 'vitest';
import type { EventView } from '../shared/api.js';
import {
  fromFullFetch, grantPhaseAt, grantsEnded, isLiveAt, nextDeadline, placeGrant, placeRequest, refreshTargets, secretsToKeep, sshKeyFates, credentialBehind, LIST_LIMIT, UNFINISHED_LIMIT,
} from './state.js';
import { agentData, at, grantView, isoAt, requestView, USERS, viewAt } from './test-support/fixtures.js';

const event = (over: Partial<EventView>): EventView => ({ id: 1, type: 'request.created', at: isoAt(0), actor: 'alice', requestId: 'req_e1', grantId: null, data: {}, ...over });

describe('agent state', () => {
  it('reads a grant at a server time: active until its end, then expired until the server says more', () => {
    const g = grantView({ expiresAt: isoAt(60) });
    expect(grantPhaseAt(g, at(59))).toBe('active');
    expect(grantPhaseAt(g, at(60))).toBe('expired');
    expect(isLiveAt(g, at(60))).toBe(false);
    expect(isLiveAt(grantView({ state: 'provisioning', expiresAt: null }), at(600))).toBe(true);
    expect(isLiveAt(grantView({ state: 'revoking' }), at(0))).toBe(false);
  });

  it('finds the next deadline: the warning, then the end, of the earliest grant', () => {
    const data = agentData({ grants: [grantView({ id: 'gr_1', expiresAt: isoAt(60) }), grantView({ id: 'gr_2', expiresAt: isoAt(30) }), grantView({ id: 'gr_3', state: 'ended', expiresAt: isoAt(10) })] });
    const lead = 5 * 60_000;
    expect(nextDeadline(data, at(0), lead)).toBe(at(25));
    expect(nextDeadline(data, at(25), lead)).toBe(at(30));
    expect(nextDeadline(data, at(30), lead)).toBe(at(55));
    expect(nextDeadline(data, at(60), lead)).toBeNull();
  });

  it('lists the grants that ended between two views (their keychain entries go)', () => {
    const g = grantView({ expiresAt: isoAt(60) });
    expect(grantsEnded(viewAt(59, { grants: [g] }), viewAt(61, { grants: [g] })).map((x) => x.id)).toEqual([g.id]);
    expect(grantsEnded(viewAt(61, { grants: [g] }), viewAt(62, { grants: [{ ...g, state: 'ended' }] }))).toEqual([]);
  });

  it('keeps the keychain entries of live grants, their requests, and my pending requests', () => {
    const data = agentData({
      grants: [grantView({ id: 'gr_live', requestId: 'req_live', expiresAt: isoAt(60) }), grantView({ id: 'gr_gone', requestId: 'req_gone', state: 'ended' })],
      requests: [requestView({ id: 'req_wait' }), requestView({ id: 'req_no', state: 'denied' })],
    });
    expect(secretsToKeep(data, at(0)).sort()).toEqual(['gr_live', 'req_live', 'req_wait']);
    expect(secretsToKeep(data, at(60)).sort()).toEqual(['req_wait']);
  });

  it('a full fetch keeps the unfinished grants and pending requests older than the newest; it is complete only when none of those lists was cut', () => {
    const ended = Array.from({ length: LIST_LIMIT }, (_, i) => grantView({ id: `gr_ended${String(i).padStart(6, '0')}`, requestId: `req_ended${i}`, state: 'ended' }));
    const old = grantView({ id: 'gr_oldactive', requestId: 'req_oldactive' });
    const revoking = grantView({ id: 'gr_revoking', requestId: 'req_revoking', state: 'revoking' });
    const waiting = requestView({ id: 'req_oldwait' });
    const f = { user: USERS.alice, resources: [], requests: [], reviewQueue: [], grants: [...ended.slice(0, 99), revoking], unfinished: [revoking, old], pending: [waiting] };
    const { data, complete } = fromFullFetch(f);
    expect(data.grants.map((g) => g.id)).toEqual([...ended.slice(0, 99).map((g) => g.id), 'gr_revoking', 'gr_oldactive']);
    expect(data.requests).toEqual([waiting]);
    expect(complete).toBe(true);
    expect(secretsToKeep(data, at(0)).sort()).toEqual(['gr_oldactive', 'req_oldactive', 'req_oldwait']);

    expect(fromFullFetch({ ...f, unfinished: Array.from({ length: UNFINISHED_LIMIT }, () => old) }).complete).toBe(false);
    expect(fromFullFetch({ ...f, pending: Array.from({ length: UNFINISHED_LIMIT }, () => waiting) }).complete).toBe(false);
  });

  it('a grant arriving by event pushes out the oldest finished grants beyond what is kept, never an unfinished one', () => {
    const old = grantView({ id: 'gr_oldactive' });
    const ended = Array.from({ length: 199 }, (_, i) => grantView({ id: `gr_ended${String(i).padStart(6, '0')}`, state: 'ended' }));
    let data = agentData({ grants: [...ended, old] });
    for (let i = 0; i < 3; i++) data = placeGrant(data, grantView({ id: `gr_new${String(i).padStart(8, '0')}`, state: 'ended' }), 'alice');
    expect(data.grants).toHaveLength(200);
    expect(data.grants.at(-1)).toBe(old);
    expect(data.grants.map((g) => g.id).slice(0, 3)).toEqual(['gr_new00000002', 'gr_new00000001', 'gr_new00000000']);
    expect(data.grants.some((g) => g.id === ended.at(-1)!.id)).toBe(false);
  });

  it('moves an ssh key to its live grant, deletes it when the request ended without access, waits otherwise', () => {
    const data = agentData({
      requests: [
        requestView({ id: 'req_wait' }), requestView({ id: 'req_no', state: 'denied' }), requestView({ id: 'req_gone', state: 'cancelled' }),
        requestView({ id: 'req_late', state: 'timed_out' }), requestView({ id: 'req_ok', state: 'approved', grantId: 'gr_ok' }),
        requestView({ id: 'req_fail', state: 'approved', grantId: 'gr_fail' }), requestView({ id: 'req_soon', state: 'approved', grantId: 'gr_soon' }),
      ],
      grants: [grantView({ id: 'gr_ok', requestId: 'req_ok', expiresAt: isoAt(60) }), grantView({ id: 'gr_fail', requestId: 'req_fail', state: 'failed', expiresAt: null })],
    });
    const all = ['req_wait', 'req_no', 'req_gone', 'req_late', 'req_ok', 'req_fail', 'req_soon', 'req_unknown'];
    const now = sshKeyFates(data, at(0), all);
    expect([...now.adopt]).toEqual([['req_ok', 'gr_ok']]);
    expect(now.forget.sort()).toEqual(['req_fail', 'req_gone', 'req_late', 'req_no']);
    // Past its end (asleep, the server's word not in yet): no longer moved, deleted.
    expect(sshKeyFates(data, at(61), ['req_ok'])).toEqual({ adopt: new Map(), forget: ['req_ok'] });
  });

  it('tells a credential fetched before an extension re-issued it (its own end is before the grant end)', () => {
    const g = grantView({ expiresAt: '2026-01-05T10:30:00.500Z' });
    expect(credentialBehind({ validBefore: '2026-01-05T10:15:00.000Z' }, g)).toBe(true);
    expect(credentialBehind({ validBefore: '2026-01-05T10:30:00.000Z' }, g)).toBe(false);
    expect(credentialBehind({ type: 'pass', expiresAt: '2026-01-05T10:15:00.000Z' }, g)).toBe(true);
    expect(credentialBehind({ type: 'postgres', password: 'x' }, g)).toBe(false);
  });

  it('puts fetched requests and grants where they belong', () => {
    const bob = agentData({ user: USERS.bob });
    const others = requestView({ id: 'req_o', requester: 'alice', canReview: false, state: 'approved', approvers: ['group:sre'] });
    expect(placeRequest(bob, others, 'bob')).toMatchObject({ requests: [], reviewQueue: [others] });
    const notMine = requestView({ id: 'req_n', requester: 'alice', canReview: false, approvers: ['group:ops'] });
    expect(placeRequest(bob, notMine, 'bob')).toMatchObject({ requests: [], reviewQueue: [] });
    const mine = requestView({ id: 'req_m', requester: 'bob' });
    expect(placeRequest(bob, mine, 'bob')).toMatchObject({ requests: [mine], reviewQueue: [] });
    const updated = placeRequest(placeRequest(bob, others, 'bob'), { ...others, decidedBy: 'carol' }, 'bob');
    expect(updated.reviewQueue).toEqual([{ ...others, decidedBy: 'carol' }]);
    expect(placeGrant(bob, grantView({ user: 'alice' }), 'bob').grants).toEqual([]);
  });

  it('refetches what an event names: my grants, requests I know or that are new, the catalog on a reload', () => {
    const data = agentData({ user: USERS.bob, reviewQueue: [requestView({ id: 'req_known' })] });
    expect(refreshTargets(event({ type: 'request.created', requestId: 'req_new' }), data, 'bob')).toEqual([{ kind: 'request', id: 'req_new' }]);
    expect(refreshTargets(event({ type: 'request.approved', requestId: 'req_known' }), data, 'bob')).toEqual([{ kind: 'request', id: 'req_known' }]);
    expect(refreshTargets(event({ type: 'request.approved', requestId: 'req_other', data: { requester: 'alice' } }), data, 'bob')).toEqual([]);
    expect(refreshTargets(event({ type: 'grant.active', grantId: 'gr_x', data: { user: 'alice' } }), data, 'bob')).toEqual([]);
    expect(refreshTargets(event({ type: 'grant.active', grantId: 'gr_x', data: { user: 'bob' } }), data, 'bob')).toEqual([{ kind: 'grant', id: 'gr_x' }]);
    expect(refreshTargets(event({ type: 'config.reloaded', requestId: null }), data, 'bob')).toEqual([{ kind: 'resources' }]);
    expect(refreshTargets(event({ type: 'user.added', requestId: null }), data, 'bob')).toEqual([]);
  });
});
