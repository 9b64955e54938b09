// The tray model as a pure function of (snapshot, now), with fixed times.
import { describe, expect, it } from 'vitest';
import { flatten } from './test-support/sinks.js';
import { at, grantView, isoAt, requestView, snapshot, T0, USERS } from './test-support/fixtures.js';
import { trayModel, type TrayAction, type TrayMenuItem } from './tray-model.js';

const labels = (items: TrayMenuItem[]) => flatten(items).flatMap((i) => (i.type === 'separator' ? [] : [i.label]));
const actions = (items: TrayMenuItem[]): TrayAction[] => flatten(items).flatMap((i) => (i.type === 'action' ? [i.action] : []));
const top = (items: TrayMenuItem[]) => items.flatMap((i) => (i.type === 'separator' ? [] : [i.label]));

describe('the tray model', () => {
  it('signed out: a way in, the window, quit — nothing that needs a click on the icon', () => {
    const m = trayModel(snapshot({ phase: 'signed_out', user: null }), T0);
    expect(m).toMatchObject({ icon: 'idle', attention: [], approvals: 0, title: '', tooltip: 'Latch — not signed in' });
    expect(top(m.menu)).toEqual(['Not signed in', 'Sign in…', 'Open window', 'Quit']);
    expect(actions(m.menu)).toEqual([{ kind: 'open_window', target: { view: 'enroll' } }, { kind: 'open_window', target: { view: 'home' } }, { kind: 'quit' }]);
  });

  it('loading with a locked keychain: says so and offers the retry (B34)', () => {
    const m = trayModel(snapshot({ phase: 'loading', user: null, keychain: { status: 'locked', message: 'unlock your keyring, then retry' } }), T0);
    expect(m).toMatchObject({ icon: 'attention', attention: ['keychain'], tooltip: 'Latch — loading… · keychain locked' });
    expect(labels(m.menu)).toEqual(['Loading…', 'unlock your keyring, then retry', 'Retry keychain', 'Open window', 'Sign out', 'Quit']);
  });

  it('ready: approvals, my grants with their remaining time and actions, the window, sign out, quit (B32)', () => {
    const s = snapshot({
      user: USERS.bob,
      reviewQueue: [
        requestView({ id: 'req_a1', requester: 'alice', reason: 'INC-7 rotate keys' }),
        requestView({ id: 'req_a2', requester: 'dave', resource: 'demo-pass', role: 'read', durationMs: 30 * 60_000 }),
        requestView({ id: 'req_a3', requester: 'erin', state: 'approved', decidedBy: 'carol', canReview: false }),
      ],
      grants: [grantView({ id: 'gr_b1', user: 'bob', resource: 'demo-pass', role: 'read', expiresAt: isoAt(42) })],
    });
    const m = trayModel(s, T0);
    // Two approvals wait for bob: the count everywhere (his own active grant is not in it).
    expect(m).toMatchObject({
      icon: 'pending', attention: [], approvals: 2, title: '2 · 42m',
      tooltip: 'Latch — 2 approvals waiting · 1 active, next ends in 42m (demo-pass/read at 10:42 UTC)',
    });
    expect(top(m.menu)).toEqual(['Request access…', 'Pending approvals (2)', 'demo-pass/read — 42m left', 'Open window', 'Settings…', 'Sign out', 'Quit']);
    expect(labels(m.menu)).toEqual(expect.arrayContaining([
      'alice: pg-prod/readonly for 1h', '“INC-7 rotate keys”', 'Approve', 'Deny…', 'dave: demo-pass/read for 30m',
      'Ends at 10:42 UTC', 'Copy access pass', 'Extend…', 'End now',
    ]));
    expect(actions(m.menu)).toEqual(expect.arrayContaining<TrayAction>([
      { kind: 'open_window', target: { view: 'request_access' } },
      { kind: 'approve', requestId: 'req_a1' },
      { kind: 'open_window', target: { view: 'request', requestId: 'req_a1' } },
      { kind: 'copy_credential', grantId: 'gr_b1', field: 'token' },
      { kind: 'open_window', target: { view: 'grant', grantId: 'gr_b1', extend: true } },
      { kind: 'end_grant', grantId: 'gr_b1' },
      { kind: 'sign_out' },
      { kind: 'quit' },
    ]));
    // The request decided by carol is not counted, nor offered.
    expect(actions(m.menu)).not.toContainEqual({ kind: 'approve', requestId: 'req_a3' });
  });

  it('offers cancel for my pending requests, and no Extend when none is left', () => {
    const m = trayModel(snapshot({
      requests: [requestView({ id: 'req_m1' })],
      grants: [grantView({ id: 'gr_m1', extensionsUsed: 2, extensionsAllowed: 2, hasCredential: false })],
    }), T0);
    expect(m).toMatchObject({ icon: 'active', approvals: 0, title: '1h 00m' });
    expect(actions(m.menu)).toContainEqual({ kind: 'cancel_request', requestId: 'req_m1' });
    expect(labels(m.menu)).toContain('pg-prod/readonly for 1h — waiting for approval');
    expect(labels(m.menu)).not.toContain('Extend…');
    expect(labels(m.menu).filter((l) => l.startsWith('Copy'))).toEqual([]);
    // My own request waiting for someone else needs nothing from me.
    expect(trayModel(snapshot({ requests: [requestView({ id: 'req_m1' })] }), T0).icon).toBe('idle');
    expect(trayModel(snapshot(), T0)).toMatchObject({ icon: 'idle', approvals: 0, title: '', tooltip: 'Latch — no active access' });
  });

  it('counts down on the server clock: remaining = expiresAt − (now + offset)', () => {
    const s = snapshot({ grants: [grantView({ expiresAt: isoAt(60) })] });
    expect(labels(trayModel(s, at(20)).menu)).toContain('pg-prod/readonly — 40m left');
    expect(labels(trayModel({ ...s, serverOffsetMs: 10 * 60_000 }, at(20)).menu)).toContain('pg-prod/readonly — 30m left');
    expect(labels(trayModel(s, at(59) + 1).menu)).toContain('pg-prod/readonly — 1m left');
  });

  it('an expired grant leaves the badge and shows under "Recently ended" as Expired (B27)', () => {
    const s = snapshot({ grants: [grantView({ expiresAt: isoAt(60) })] });
    const m = trayModel(s, at(140));
    expect(m).toMatchObject({ icon: 'idle', title: '', tooltip: 'Latch — no active access' });
    expect(labels(m.menu)).toEqual(expect.arrayContaining(['No active access', 'Recently ended', 'pg-prod/readonly — Expired at 11:00 UTC']));
    expect(actions(m.menu).some((a) => a.kind === 'end_grant' || a.kind === 'copy_credential')).toBe(false);
    // The server's word: the same.
    const ended = snapshot({ grants: [grantView({ state: 'ended', endReason: 'expired', expiresAt: isoAt(60), endedAt: isoAt(61) })] });
    expect(labels(trayModel(ended, at(140)).menu)).toContain('pg-prod/readonly — Expired at 11:00 UTC');
    expect(labels(trayModel(ended, at(60 + 13 * 60)).menu)).not.toContain('Recently ended');
  });

  it('offline: the last state stays, marked as of when the stream went down', () => {
    const s = snapshot({
      connection: { state: 'offline', since: isoAt(21), detail: 'cannot reach the Latch server' },
      stale: { since: isoAt(20) },
      grants: [grantView({ expiresAt: isoAt(60) })],
    });
    const m = trayModel(s, at(30));
    expect(m).toMatchObject({ icon: 'attention', attention: ['offline'], title: '30m' });
    expect(top(m.menu)[0]).toBe('Offline, showing data as of 10:20 UTC');
    expect(m.tooltip).toBe('Latch — 1 active, next ends in 30m (pg-prod/readonly at 11:00 UTC) · Offline, showing data as of 10:20 UTC');
    // Reconnecting is the stream's own business (it retries with backoff) until it gives up.
    const reconnecting = trayModel({ ...s, connection: { ...s.connection, state: 'reconnecting' } }, at(30));
    expect(reconnecting).toMatchObject({ icon: 'active', attention: [] });
    expect(reconnecting.tooltip).toContain('· Reconnecting…, showing data as of 10:20 UTC');
  });

  it('scheduled and provisioning grants can be ended, but show no countdown', () => {
    const m = trayModel(snapshot({
      grants: [
        grantView({ id: 'gr_s1', state: 'scheduled', startAt: isoAt(120), activatedAt: null, expiresAt: null }),
        grantView({ id: 'gr_p1', state: 'provisioning', activatedAt: null, expiresAt: null, role: 'admin' }),
      ],
    }), T0);
    expect(m).toMatchObject({ icon: 'idle', title: '' });
    expect(top(m.menu)).toEqual(expect.arrayContaining(['pg-prod/readonly — starts at 12:00 UTC', 'pg-prod/admin — being set up…']));
    expect(actions(m.menu)).toEqual(expect.arrayContaining([{ kind: 'end_grant', grantId: 'gr_s1' }, { kind: 'end_grant', grantId: 'gr_p1' }]));
  });

  describe('the icon: attention, then pending approvals, then an active grant, then idle', () => {
    const approval = requestView({ id: 'req_w1', requester: 'alice' });
    const mine = grantView({ id: 'gr_w1', user: 'bob', expiresAt: isoAt(42) });
    const bob = (over: Parameters<typeof snapshot>[0] = {}) => snapshot({ user: USERS.bob, ...over });
    const locked = { status: 'locked', message: 'unlock your keyring, then retry' } as const;

    it.each([
      ['nothing', bob(), 'idle'],
      ['an active grant', bob({ grants: [mine] }), 'active'],
      ['an approval waiting', bob({ reviewQueue: [approval] }), 'pending'],
      ['an approval waiting and an active grant', bob({ reviewQueue: [approval], grants: [mine] }), 'pending'],
      ['a locked keychain, an approval waiting and an active grant', bob({ keychain: locked, reviewQueue: [approval], grants: [mine] }), 'attention'],
      ['a locked keychain and nothing else', bob({ keychain: locked }), 'attention'],
    ] as const)('%s → %s', (_what, s, icon) => {
      expect(trayModel(s, T0).icon).toBe(icon);
    });

    it('whatever the icon, the count and the next expiry stay in the tooltip and the title', () => {
      const m = trayModel(bob({ keychain: locked, reviewQueue: [approval], grants: [mine] }), T0);
      expect(m).toMatchObject({ icon: 'attention', approvals: 1, title: '1 · 42m' });
      expect(m.tooltip).toBe('Latch — 1 approval waiting · keychain locked · 1 active, next ends in 42m (pg-prod/readonly at 10:42 UTC)');
      expect(top(m.menu)).toContain('Pending approvals (1)');
    });

    it('the title and tooltip name the grant that ends first', () => {
      const m = trayModel(bob({ grants: [grantView({ id: 'gr_late', user: 'bob', expiresAt: isoAt(90) }), grantView({ id: 'gr_soon', user: 'bob', role: 'admin', expiresAt: isoAt(7) })] }), T0);
      expect(m).toMatchObject({ icon: 'active', title: '7m', tooltip: 'Latch — 2 active, next ends in 7m (pg-prod/admin at 10:07 UTC)' });
    });
  });

  describe('attention: something needs me', () => {
    it.each([
      ['unavailable', 'secure storage unavailable'],
      ['locked', 'keychain locked'],
      ['denied', 'keychain access denied'],
      ['timeout', 'keychain not answering'],
    ] as const)('the keychain is %s: the icon, the tooltip, the message and a retry (B34)', (status, short) => {
      const message = `the keychain says ${status}; secrets are kept in memory for this run only`;
      for (const phase of ['ready', 'signed_out'] as const) {
        const m = trayModel(snapshot({ phase, user: phase === 'ready' ? USERS.alice : null, keychain: { status, message } }), T0);
        expect(m).toMatchObject({ icon: 'attention', attention: ['keychain'] });
        expect(m.tooltip).toContain(short);
        expect(labels(m.menu)).toEqual(expect.arrayContaining([message, 'Retry keychain']));
        expect(actions(m.menu)).toContainEqual({ kind: 'retry_keychain' });
      }
    });

    it('signed out by the server, unlike signing out myself (B41)', () => {
      const byServer = snapshot({
        phase: 'signed_out', user: null,
        notices: [{ id: 'n1', kind: 'signed_out', level: 'error', message: 'This device was signed out by the Latch server…', at: isoAt(0) }],
      });
      const m = trayModel(byServer, T0);
      expect(m).toMatchObject({ icon: 'attention', attention: ['signed_out_by_server'], tooltip: 'Latch — signed out by the server: sign in again' });
      expect(top(m.menu)).toEqual(['Signed out by the Latch server: sign in again with a new code', 'Sign in…', 'Open window', 'Quit']);
      expect(trayModel(snapshot({ phase: 'signed_out', user: null }), T0)).toMatchObject({ icon: 'idle', attention: [] });
    });

    it('offline with data on show, but not before the first load', () => {
      const offline = { state: 'offline', since: isoAt(0), detail: null } as const;
      expect(trayModel(snapshot({ connection: offline, stale: { since: isoAt(0) } }), at(5))).toMatchObject({ icon: 'attention', attention: ['offline'] });
      expect(trayModel(snapshot({ phase: 'loading', user: null, connection: offline }), T0)).toMatchObject({ icon: 'idle', attention: [], tooltip: 'Latch — loading… · Offline' });
    });

    it('a revoke failing on my grant: it opens the grant', () => {
      const g = grantView({ id: 'gr_r1', state: 'revoking', endReason: 'ended_by_user', endedAt: null, revokeAttempts: 3, lastRevokeError: 'connection refused' });
      const m = trayModel(snapshot({ grants: [g] }), at(10));
      expect(m).toMatchObject({ icon: 'attention', attention: ['revoke_failing'], tooltip: 'Latch — 1 revoke failing · no active access' });
      expect(flatten(m.menu)).toContainEqual({ type: 'action', id: 'revoke-gr_r1', label: 'Revoke failing: your pg-prod/readonly access (Latch keeps retrying)', action: { kind: 'open_window', target: { view: 'grant', grantId: 'gr_r1' } } });
      // Still revoking, first attempt not failed yet: nothing to tell.
      expect(trayModel(snapshot({ grants: [{ ...g, revokeAttempts: 0, lastRevokeError: null }] }), at(10))).toMatchObject({ icon: 'idle', attention: [] });
    });

    it("a revoke failing on a grant I approved (revoke_failed): it opens the request", () => {
      const failure = { grantId: 'gr_a1', requestId: 'req_a1', user: 'alice', resource: 'pg-prod', role: 'admin' };
      const m = trayModel(snapshot({ user: USERS.bob, reviewQueue: [requestView()] }), T0, { revokeFailures: [failure, { ...failure, grantId: 'gr_a2', requestId: null }] });
      expect(m).toMatchObject({ icon: 'attention', attention: ['revoke_failing'], approvals: 1, title: '1' });
      expect(m.tooltip).toBe('Latch — 1 approval waiting · 2 revokes failing · no active access');
      expect(actions(m.menu)).toEqual(expect.arrayContaining([
        { kind: 'open_window', target: { view: 'request', requestId: 'req_a1' } },
        { kind: 'open_window', target: { view: 'approvals' } },
      ]));
      expect(labels(m.menu)).toContain('Revoke failing: alice on pg-prod/admin (Latch keeps retrying)');
    });

    it('names every cause at once', () => {
      const m = trayModel(snapshot({
        keychain: { status: 'timeout', message: 'the Secret Service did not answer within 5 s' },
        connection: { state: 'offline', since: isoAt(1), detail: null }, stale: { since: isoAt(1) },
        grants: [grantView({ state: 'revoking', lastRevokeError: 'timeout', revokeAttempts: 1 })],
      }), at(5));
      expect(m.attention).toEqual(['keychain', 'revoke_failing', 'offline']);
      expect(m.tooltip).toBe('Latch — keychain not answering · 1 revoke failing · no active access · Offline, showing data as of 10:01 UTC');
    });
  });

  it('gives every item a stable id (the shell diffs menus by id)', () => {
    const make = () => trayModel(snapshot({
      user: USERS.bob, reviewQueue: [requestView()], requests: [requestView({ id: 'req_b1', requester: 'bob' })],
      keychain: { status: 'denied', message: 'keychain access denied, sign in again' },
      connection: { state: 'offline', since: isoAt(0), detail: null }, stale: { since: isoAt(0) },
      grants: [grantView({ user: 'bob' }), grantView({ id: 'gr_r1', user: 'bob', state: 'revoking', lastRevokeError: 'refused', revokeAttempts: 2 })],
    }), T0, { revokeFailures: [{ grantId: 'gr_a1', requestId: 'req_0000000001', user: 'alice', resource: 'pg-prod', role: 'admin' }] });
    const m = make();
    const ids = flatten(m.menu).map((i) => i.id);
    expect(ids).toEqual(expect.arrayContaining(['status', 'keychain-retry', 'revoke-gr_r1', 'revoke-gr_a1', 'approvals', 'my-requests']));
    expect(new Set(ids).size).toBe(ids.length);
    expect(make()).toEqual(m);
  });
});
