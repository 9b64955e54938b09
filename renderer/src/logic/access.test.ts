import { describe, expect, it } from 'vitest';
import { grantPhaseAt, hasNothingLive, myAccess } from './access.js';
import { at, grantView, isoAt, MIN, requestView, T0 } from './test-fixtures.js';

describe('myAccess', () => {
  it('sorts grants into current, scheduled and history, soonest end first', () => {
    const a = myAccess({
      requests: [],
      grants: [
        grantView({ id: 'gr_later00001', expiresAt: isoAt(90) }),
        grantView({ id: 'gr_sooner0001', expiresAt: isoAt(10) }),
        grantView({ id: 'gr_schedule01', state: 'scheduled', startAt: isoAt(30), activatedAt: null, expiresAt: null }),
        grantView({ id: 'gr_ended00001', state: 'ended', endReason: 'ended_by_user', endedAt: isoAt(-5) }),
        grantView({ id: 'gr_failed0001', state: 'failed', failureReason: 'refused', endedAt: null, expiresAt: null, activatedAt: null }),
      ],
    }, T0, 0);
    expect(a.current.map((c) => c.grant.id)).toEqual(['gr_sooner0001', 'gr_later00001']);
    expect(a.current[0]!.left.text).toBe('0:10:00');
    expect(a.scheduled.map((s) => [s.grant.id, s.startsIn.text])).toEqual([['gr_schedule01', '0:30:00']]);
    expect(a.history.map((h) => h.id)).toEqual(['gr_ended00001', 'gr_failed0001']);
    expect(hasNothingLive(a)).toBe(false);
  });

  it('counts down to the server end with the clock offset (a slow laptop still ends on time)', () => {
    const g = grantView({ expiresAt: isoAt(60) });
    // This machine is 5 min behind the server: locally it is 09:55 when the server says 10:00.
    const a = myAccess({ requests: [], grants: [g] }, T0 - 5 * MIN, 5 * MIN);
    expect(a.current[0]!.left.text).toBe('1:00:00');
  });

  it('keeps an active grant past its end as "expired" until the server ends it (never silently gone)', () => {
    const a = myAccess({ requests: [], grants: [grantView({ expiresAt: isoAt(-1) })] }, T0, 0);
    expect(a.current[0]!.phase).toBe('expired');
    expect(a.current[0]!.left.state).toBe('expired');
    expect(a.current[0]!.canExtend).toBe(false);
  });

  it('puts pending requests with their approve-by countdown; approved access requests live on as grants', () => {
    const a = myAccess({
      requests: [
        requestView({ id: 'req_pending001', requestExpiresAt: isoAt(24 * 60) }),
        requestView({ id: 'req_approved01', state: 'approved', decidedBy: 'bob', decidedAt: isoAt(-3) }),
        requestView({ id: 'req_denied0001', state: 'denied', decidedBy: 'carol', decidedAt: isoAt(-2) }),
      ],
      grants: [],
    }, T0, 0);
    expect(a.pending.map((p) => [p.request.id, p.approveWithin.text])).toEqual([['req_pending001', '1d 00:00:00']]);
    expect(a.history.map((h) => h.id)).toEqual(['req_denied0001']);
  });

  it('ties a pending extension to its grant and offers Extend only when allowed', () => {
    const g1 = grantView({ id: 'gr_extending1' });
    const g2 = grantView({ id: 'gr_usedup0001', extensionsUsed: 2, extensionsAllowed: 2 });
    const g3 = grantView({ id: 'gr_free000001' });
    const ext = requestView({ id: 'req_extension', kind: 'extension', grantId: 'gr_extending1', durationMs: 30 * MIN });
    const a = myAccess({ requests: [ext], grants: [g1, g2, g3] }, T0, 0);
    const byId = new Map(a.current.map((c) => [c.grant.id, c]));
    expect(byId.get('gr_extending1')!.pendingExtension?.id).toBe('req_extension');
    expect(byId.get('gr_extending1')!.canExtend).toBe(false);
    expect(byId.get('gr_usedup0001')!.canExtend).toBe(false);
    expect(byId.get('gr_free000001')!.canExtend).toBe(true);
  });

  it('keeps the history short, newest first, and says how much more there is', () => {
    const grants = Array.from({ length: 14 }, (_, i) => grantView({ id: `gr_old${String(i).padStart(7, '0')}`, state: 'ended', endReason: 'expired', endedAt: isoAt(-i) }));
    const a = myAccess({ requests: [], grants }, T0, 0, 10);
    expect(a.history).toHaveLength(10);
    expect(a.history[0]!.id).toBe('gr_old0000000');
    expect(a.moreHistory).toBe(4);
    expect(hasNothingLive(a)).toBe(true);
  });
});

describe('grantPhaseAt', () => {
  it('reads an active grant as expired from its end on, as the agent does', () => {
    expect(grantPhaseAt(grantView({ expiresAt: isoAt(1) }), at(0))).toBe('active');
    expect(grantPhaseAt(grantView({ expiresAt: isoAt(1) }), at(1))).toBe('expired');
    expect(grantPhaseAt(grantView({ state: 'revoking' }), at(0))).toBe('revoking');
  });
});
