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
    expect(m).toMatchObject({ icon: 'idle', badge: 0, tooltip: 'Latch — not signed in' });
    expect(top(m.menu)).toEqual(['Not signed in', 'Sign in…', 'Open window', 'Quit']);
    expect(actions(m.menu)).toEqual([{ kind: 'open_window', target: { view: 'enroll' } }, { kind: 'open_window', target: { view: 'home' } }, { kind: 'quit' }]);
  });

  it('loading with a locked keychain: says so and offers the retry (B34)', () => {
    const m = trayModel(snapshot({ phase: 'loading', user: null, keychain: { status: 'locked', message: 'unlock your keyring, then retry' } }), T0);
    expect(m.icon).toBe('attention');
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
    expect(m).toMatchObject({ icon: 'attention', badge: 3, tooltip: 'Latch — 1 active, next ends in 42m (demo-pass/read at 10:42 UTC) · 2 approvals waiting' });
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
    expect(m).toMatchObject({ icon: 'active', badge: 1 });
    expect(actions(m.menu)).toContainEqual({ kind: 'cancel_request', requestId: 'req_m1' });
    expect(labels(m.menu)).toContain('pg-prod/readonly for 1h — waiting for approval');
    expect(labels(m.menu)).not.toContain('Extend…');
    expect(labels(m.menu).filter((l) => l.startsWith('Copy'))).toEqual([]);
    expect(trayModel(snapshot({ requests: [requestView({ id: 'req_m1' })] }), T0).icon).toBe('pending');
    expect(trayModel(snapshot(), T0)).toMatchObject({ icon: 'idle', badge: 0, tooltip: 'Latch — no active access' });
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
    expect(m).toMatchObject({ icon: 'idle', badge: 0 });
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
    expect(top(m.menu)[0]).toBe('Offline, showing data as of 10:20 UTC');
    expect(m.tooltip).toBe('Latch — 1 active, next ends in 30m (pg-prod/readonly at 11:00 UTC) · Offline, showing data as of 10:20 UTC');
    expect(trayModel({ ...s, connection: { ...s.connection, state: 'reconnecting' } }, at(30)).tooltip).toContain('· Reconnecting…, showing data as of 10:20 UTC');
  });

  it('scheduled and provisioning grants can be ended, but show no countdown', () => {
    const m = trayModel(snapshot({
      grants: [
        grantView({ id: 'gr_s1', state: 'scheduled', startAt: isoAt(120), activatedAt: null, expiresAt: null }),
        grantView({ id: 'gr_p1', state: 'provisioning', activatedAt: null, expiresAt: null, role: 'admin' }),
      ],
    }), T0);
    expect(m.icon).toBe('pending');
    expect(top(m.menu)).toEqual(expect.arrayContaining(['pg-prod/readonly — starts at 12:00 UTC', 'pg-prod/admin — being set up…']));
    expect(actions(m.menu)).toEqual(expect.arrayContaining([{ kind: 'end_grant', grantId: 'gr_s1' }, { kind: 'end_grant', grantId: 'gr_p1' }]));
  });

  it('gives every item a stable id (the shell diffs menus by id)', () => {
    const m = trayModel(snapshot({ user: USERS.bob, reviewQueue: [requestView()], grants: [grantView({ user: 'bob' })] }), T0);
    const ids = flatten(m.menu).map((i) => i.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(trayModel(snapshot({ user: USERS.bob, reviewQueue: [requestView()], grants: [grantView({ user: 'bob' })] }), T0)).toEqual(m);
  });
});
