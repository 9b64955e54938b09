// Notification intents as a pure function of two views of the agent's data (fixed times).
import { describe, expect, it } from 'vitest';
import type { EventView } from '../shared/api.js';
import { DEFAULT_SETTINGS, type Settings } from '../shared/settings.js';
import { changeIntents, eventIntents, revokeFailedAudience, type NotificationIntent, type NotifierCommand } from './intents.js';
import { grantView, isoAt, MIN, requestView, USERS, viewAt } from './test-support/fixtures.js';

const settings: Settings = { ...DEFAULT_SETTINGS };
const shows = (cmds: NotifierCommand[]): NotificationIntent[] => cmds.flatMap((c) => (c.type === 'show' ? [c.intent] : []));
const withdrawals = (cmds: NotifierCommand[]): string[] => cmds.flatMap((c) => (c.type === 'withdraw' ? [c.key] : []));

describe('approval_needed', () => {
  const r = requestView({ id: 'req_r1', requester: 'alice' });
  const bobsView = (minutes: number, reviewQueue = [r]) => viewAt(minutes, { user: USERS.bob, reviewQueue });

  it('tells an approver about a request they may review, once it appears', () => {
    const cmds = changeIntents(bobsView(0, []), bobsView(1), 'bob', settings);
    expect(shows(cmds)).toEqual([
      expect.objectContaining({
        kind: 'approval_needed', id: 'approval_needed:req_r1', key: 'approval:req_r1', requestId: 'req_r1',
        title: 'Approval needed: pg-prod/readonly', body: 'alice asks for pg-prod/readonly for 1h: “INC-1 restart replica”',
        open: { view: 'request', requestId: 'req_r1' },
        // Buttons where the OS shows them (macOS): Approve runs at once; Deny needs a comment, so it opens the request.
        actions: [
          { id: 'approve', label: 'Approve', run: { kind: 'approve', requestId: 'req_r1' } },
          { id: 'deny', label: 'Deny…', open: { view: 'request', requestId: 'req_r1' } },
        ],
      }),
    ]);
    expect(changeIntents(bobsView(1), bobsView(2), 'bob', settings)).toEqual([]);
  });

  it('never for their own request (self-approval policies included)', () => {
    const own = requestView({ id: 'req_own', requester: 'bob', canReview: true });
    expect(changeIntents(bobsView(0, []), bobsView(1, [own]), 'bob', settings)).toEqual([]);
  });

  it('says nothing about what the first load finds (B40)', () => {
    expect(changeIntents(viewAt(0, {}, false), bobsView(0), 'bob', settings)).toEqual([]);
  });

  it('is withdrawn when another approver decides (B22), when it is cancelled, or once I reviewed it', () => {
    const byCarol = requestView({ id: 'req_r1', state: 'approved', decidedBy: 'carol', canReview: false });
    expect(changeIntents(bobsView(1), bobsView(2, [byCarol]), 'bob', settings)).toEqual([{ type: 'withdraw', key: 'approval:req_r1' }]);
    const cancelled = requestView({ id: 'req_r1', state: 'cancelled', decidedBy: 'alice', canReview: false });
    expect(withdrawals(changeIntents(bobsView(1), bobsView(2, [cancelled]), 'bob', settings))).toEqual(['approval:req_r1']);
    const reviewedByMe = requestView({ id: 'req_r1', approvalsNeeded: 2, canReview: false });
    expect(withdrawals(changeIntents(bobsView(1), bobsView(2, [reviewedByMe]), 'bob', settings))).toEqual(['approval:req_r1']);
  });
});

describe('decided', () => {
  const pending = requestView({ id: 'req_d1' });
  const decidedAs = (over: Parameters<typeof requestView>[0]) =>
    changeIntents(viewAt(0, { requests: [pending] }), viewAt(1, { requests: [requestView({ id: 'req_d1', decidedAt: isoAt(1), ...over })] }), 'alice', settings);

  it('tells the requester who decided and what they said', () => {
    expect(shows(decidedAs({ state: 'approved', decidedBy: 'bob', decisionComment: 'go ahead' }))).toEqual([
      expect.objectContaining({ kind: 'decided', key: 'decision:req_d1', outcome: 'approved', by: 'bob', comment: 'go ahead', body: 'bob approved your request for pg-prod/readonly: “go ahead”' }),
    ]);
    expect(shows(decidedAs({ state: 'denied', decidedBy: 'carol', decisionComment: 'use the replica' }))[0]).toMatchObject({
      outcome: 'denied', title: 'Denied: pg-prod/readonly', body: 'carol denied your request for pg-prod/readonly: “use the replica”',
    });
  });

  it('says "expired" for a request nobody decided in time (B21)', () => {
    const [intent] = shows(decidedAs({ state: 'timed_out', decisionComment: 'expired: no decision before the approve-by deadline' }));
    expect(intent).toMatchObject({ outcome: 'timed_out', title: 'Expired: pg-prod/readonly' });
    expect(intent!.body).toMatch(/expired: nobody decided before the approve-by deadline/);
  });

  it('is not sent for my own cancel, nor for an extension closed because its grant ended', () => {
    expect(decidedAs({ state: 'cancelled', decidedBy: 'alice' })).toEqual([]);
    expect(decidedAs({ state: 'cancelled', decidedBy: null, decisionComment: 'the grant ended before the extension was decided' })).toEqual([]);
  });

  it('is not sent for a request first seen decided (approved by policy as it was made)', () => {
    const auto = requestView({ id: 'req_d2', state: 'approved', decidedBy: 'policy' });
    expect(changeIntents(viewAt(0), viewAt(1, { requests: [auto] }), 'alice', settings)).toEqual([]);
  });
});

describe('expiring_soon and ended', () => {
  const g = grantView({ id: 'gr_g1', expiresAt: isoAt(60) });

  it('warns when the lead time (5 min by default) is crossed, with Extend while extensions are left', () => {
    const cmds = changeIntents(viewAt(54, { grants: [g] }), viewAt(55, { grants: [g] }), 'alice', settings);
    expect(shows(cmds)).toEqual([
      expect.objectContaining({
        kind: 'expiring_soon', id: `expiring_soon:gr_g1:${Date.parse(isoAt(60))}`, key: 'grant:gr_g1', canExtend: true,
        title: 'pg-prod/readonly ends soon', body: 'Your access ends at 11:00 UTC (in 5m). Extend it if you need more time.',
        actions: [{ id: 'extend', label: 'Extend…', open: { view: 'grant', grantId: 'gr_g1', extend: true } }],
      }),
    ]);
    const used = grantView({ id: 'gr_g1', extensionsUsed: 2, extensionsAllowed: 2 });
    expect(shows(changeIntents(viewAt(54, { grants: [used] }), viewAt(55, { grants: [used] }), 'alice', settings))[0]).toMatchObject({ canExtend: false, actions: [] });
    // Once crossed, not again.
    expect(changeIntents(viewAt(55, { grants: [g] }), viewAt(56, { grants: [g] }), 'alice', settings)).toEqual([]);
  });

  it('takes the lead time from the settings', () => {
    const tenMinutes = { ...settings, expiryWarningLeadMs: 10 * 60_000 };
    expect(shows(changeIntents(viewAt(49, { grants: [g] }), viewAt(50, { grants: [g] }), 'alice', tenMinutes))).toHaveLength(1);
    expect(shows(changeIntents(viewAt(54, { grants: [g] }), viewAt(55, { grants: [g] }), 'alice', tenMinutes))).toEqual([]);
  });

  it('ends with one "ended" at the expiry, before the server says so', () => {
    const cmds = changeIntents(viewAt(59, { grants: [g] }), viewAt(60, { grants: [g] }), 'alice', settings);
    expect(shows(cmds)).toEqual([expect.objectContaining({ kind: 'ended', id: 'ended:gr_g1', key: 'grant:gr_g1', reason: 'expired', at: isoAt(60), body: 'Your access ended at 11:00 UTC.' })]);
    // The server's word arriving afterwards changes nothing.
    const onServer = grantView({ id: 'gr_g1', state: 'ended', endReason: 'expired', endedAt: isoAt(60) });
    expect(changeIntents(viewAt(60, { grants: [g] }), viewAt(61, { grants: [onServer] }), 'alice', settings)).toEqual([]);
  });

  it('after sleeping through the warning and the end: the end only, not a burst (B27)', () => {
    const cmds = changeIntents(viewAt(20, { grants: [g] }), viewAt(140, { grants: [g] }), 'alice', settings);
    expect(shows(cmds).map((i) => i.kind)).toEqual(['ended']);
  });

  it('says who ended it, and says nothing when I did', () => {
    const byAdmin = grantView({ id: 'gr_g1', state: 'revoking', endReason: 'revoked_by_admin', endedAt: null });
    expect(shows(changeIntents(viewAt(30, { grants: [g] }), viewAt(31, { grants: [byAdmin] }), 'alice', settings))[0]).toMatchObject({ reason: 'revoked_by_admin', body: 'An admin ended your access at 10:31 UTC.' });
    const byMe = grantView({ id: 'gr_g1', state: 'revoking', endReason: 'ended_by_user' });
    expect(changeIntents(viewAt(30, { grants: [g] }), viewAt(31, { grants: [byMe] }), 'alice', settings)).toEqual([]);
  });

  it('reports a grant that could not be provisioned', () => {
    const provisioning = grantView({ id: 'gr_g2', state: 'provisioning', activatedAt: null, expiresAt: null });
    const failed = grantView({ ...provisioning, state: 'failed', failureReason: 'Access could not be provisioned (quota)' });
    expect(shows(changeIntents(viewAt(0, { grants: [provisioning] }), viewAt(1, { grants: [failed] }), 'alice', settings))[0]).toMatchObject({
      kind: 'ended', reason: 'failed', title: 'Access not granted: pg-prod/readonly', body: 'Access could not be provisioned (quota)',
    });
  });

  it('does not warn about a grant shorter than the lead time', () => {
    const short = grantView({ id: 'gr_g3', activatedAt: isoAt(10), expiresAt: isoAt(13), durationMs: 3 * 60_000 });
    expect(changeIntents(viewAt(0), viewAt(10, { grants: [short] }), 'alice', settings)).toEqual([]);
  });

  it('the first load finds a grant inside its warning window: one warning now, then the end once', () => {
    const first = shows(changeIntents(viewAt(57, {}, false), viewAt(57, { grants: [g] }), 'alice', settings));
    expect(first).toEqual([expect.objectContaining({ kind: 'expiring_soon', id: `expiring_soon:gr_g1:${Date.parse(isoAt(60))}`, body: 'Your access ends at 11:00 UTC (in 3m). Extend it if you need more time.' })]);
    expect(changeIntents(viewAt(57, { grants: [g] }), viewAt(58, { grants: [g] }), 'alice', settings)).toEqual([]);
    // A refetch (resync) of the same grant is no news either.
    expect(changeIntents(viewAt(58, { grants: [g] }), viewAt(58, { grants: [{ ...g }] }), 'alice', settings)).toEqual([]);
    expect(shows(changeIntents(viewAt(58, { grants: [g] }), viewAt(60, { grants: [g] }), 'alice', settings)).map((i) => i.kind)).toEqual(['ended']);
    // Outside the window, ended already, or shorter than the lead time: nothing from the first load.
    expect(changeIntents(viewAt(30, {}, false), viewAt(30, { grants: [g] }), 'alice', settings)).toEqual([]);
    expect(changeIntents(viewAt(61, {}, false), viewAt(61, { grants: [g] }), 'alice', settings)).toEqual([]);
    const short = grantView({ id: 'gr_g3', activatedAt: isoAt(10), expiresAt: isoAt(13), durationMs: 3 * MIN });
    expect(changeIntents(viewAt(11, {}, false), viewAt(11, { grants: [short] }), 'alice', settings)).toEqual([]);
  });

  it('a lead time raised past now warns at once, once', () => {
    const tenMinutes = { ...settings, expiryWarningLeadMs: 10 * MIN };
    // At 10:52 under a 5 min lead nothing was due; under 10 min the warning time (10:50) has passed.
    const raised = changeIntents(viewAt(52, { grants: [g] }), viewAt(52, { grants: [g] }), 'alice', tenMinutes, undefined, 5 * MIN);
    expect(shows(raised)).toEqual([expect.objectContaining({ kind: 'expiring_soon', grantId: 'gr_g1', body: expect.stringContaining('(in 8m)') })]);
    expect(changeIntents(viewAt(52, { grants: [g] }), viewAt(53, { grants: [g] }), 'alice', tenMinutes)).toEqual([]);
    // Lowered back while warned: no second warning, no withdrawal.
    expect(changeIntents(viewAt(53, { grants: [g] }), viewAt(53, { grants: [g] }), 'alice', settings, undefined, 10 * MIN)).toEqual([]);
  });

  it('after an extension: the old warning is withdrawn and a new one comes for the new end', () => {
    const extended = grantView({ id: 'gr_g1', expiresAt: isoAt(90), extensionsUsed: 1 });
    expect(changeIntents(viewAt(56, { grants: [g] }), viewAt(57, { grants: [extended] }), 'alice', settings)).toEqual([{ type: 'withdraw', key: 'grant:gr_g1' }]);
    const [again] = shows(changeIntents(viewAt(84, { grants: [extended] }), viewAt(85, { grants: [extended] }), 'alice', settings));
    expect(again).toMatchObject({ kind: 'expiring_soon', id: `expiring_soon:gr_g1:${Date.parse(isoAt(90))}` });
  });
});

describe('settings', () => {
  const prev = viewAt(0, { user: USERS.bob });
  const next = viewAt(1, { user: USERS.bob, reviewQueue: [requestView({ id: 'req_m1' })], grants: [] });

  it('muted: nothing shown, but withdrawals still go', () => {
    const muted = { ...settings, notifications: { ...settings.notifications, muted: true } };
    expect(changeIntents(prev, next, 'bob', muted)).toEqual([]);
    expect(changeIntents(next, viewAt(2, { user: USERS.bob, reviewQueue: [] }), 'bob', muted)).toEqual([{ type: 'withdraw', key: 'approval:req_m1' }]);
  });

  it('each kind has its own switch', () => {
    const noApprovals = { ...settings, notifications: { ...settings.notifications, approvals: false } };
    expect(changeIntents(prev, next, 'bob', noApprovals)).toEqual([]);
    const g = grantView({ id: 'gr_s1' });
    const noExpiring = { ...settings, notifications: { ...settings.notifications, expiring: false } };
    expect(changeIntents(viewAt(54, { grants: [g] }), viewAt(55, { grants: [g] }), 'alice', noExpiring)).toEqual([]);
    // The end is not a warning: it still comes.
    expect(shows(changeIntents(viewAt(59, { grants: [g] }), viewAt(60, { grants: [g] }), 'alice', noExpiring)).map((i) => i.kind)).toEqual(['ended']);
  });
});

describe('revoke_failed', () => {
  const e: EventView = {
    id: 7, type: 'grant.revoke_failed', at: isoAt(61), actor: null, requestId: 'req_x1', grantId: 'gr_x1',
    data: { user: 'alice', resource: 'pg-prod', role: 'readonly', error: 'connection refused', attempts: 3 },
  };

  it('goes to the approvers of the request (and admins), not to the grantee', () => {
    const bob = viewAt(61, { user: USERS.bob, reviewQueue: [requestView({ id: 'req_x1', state: 'approved', canReview: false })] });
    expect(shows(eventIntents(e, bob, 'bob', settings))).toEqual([
      expect.objectContaining({ kind: 'revoke_failed', key: 'revoke:gr_x1', user: 'alice', attempts: 3, title: 'Revoke failing: alice on pg-prod/readonly' }),
    ]);
    expect(eventIntents(e, viewAt(61, { user: USERS.alice }), 'alice', settings)).toEqual([]);
    expect(revokeFailedAudience(e, viewAt(61, { user: USERS.alice }), 'alice')).toBe('not_approver');
    expect(shows(eventIntents(e, viewAt(61, { user: USERS.admin }), 'admin', settings))).toHaveLength(1);
    expect(eventIntents({ ...e, type: 'grant.ended' }, bob, 'bob', settings)).toEqual([]);
  });

  it('a request no longer in my review queue: the server is asked, and its approvers decide', () => {
    // The queue holds the latest 100; the revoke fails hours after the request left it.
    const carol = viewAt(61, { user: USERS.carol, reviewQueue: [] });
    expect(revokeFailedAudience(e, carol, 'carol')).toBe('ask');
    expect(eventIntents(e, carol, 'carol', settings)).toEqual([]);
    const asShown = requestView({ id: 'req_x1', state: 'approved', canReview: false, approvers: ['group:sre'] });
    expect(shows(eventIntents(e, carol, 'carol', settings, asShown))).toEqual([expect.objectContaining({ kind: 'revoke_failed', grantId: 'gr_x1', open: { view: 'request', requestId: 'req_x1' } })]);
    // Not shown to me (404), or shown but not mine to approve (a break-glass grant's events go to everyone).
    expect(eventIntents(e, carol, 'carol', settings, null)).toEqual([]);
    const erin = viewAt(61, { user: { name: 'erin', groups: ['ops'], admin: false } });
    expect(eventIntents(e, erin, 'erin', settings, asShown)).toEqual([]);
    expect(eventIntents(e, carol, 'carol', settings, { ...asShown, id: 'req_other' })).toEqual([]);
  });
});
