// The desktop agent against the real server on loopback, through the real sync layer (LatchClient,
// EventStream), the real Keychain over a FakeKeyring, a real settings file and recording sinks.
// Proxies in between black-hole the network (a sleeping laptop) and count requests. Where time
// matters it is a TestTime: the server's timers keep wall time, the device's stand still while it
// sleeps, as on a real laptop (FIELD-CASES B27).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { GrantView } from '../shared/api.js';
import { ManualClock, systemClock } from '../shared/clock.js';
import { countdown } from '../shared/countdown.js';
import type { ActionResult, DesktopSnapshot } from '../shared/desktop-api.js';
import { FakeConnector } from '../server/test-support/fake-connector.js';
import { startHarness, type Harness, type TestClient } from '../server/test-support/harness.js';
import { activeGrants, endGrants } from '../server/test-support/many-grants.js';
import { startHttpProxy, startTcpProxy } from '../sync/test-support/proxies.js';
import { approvalKey } from './intents.js';
import { accounts } from './keychain.js';
import { LIST_LIMIT } from './state.js';
import { makeRig, until, type Rig, type RigOptions } from './test-support/agent-rig.js';
import { flatten } from './test-support/sinks.js';
import { TestTime } from './test-support/test-time.js';

const REFRESH = '/v1/token/refresh';
const MIN = 60_000;

async function codeFor(h: Harness, user: string): Promise<string> {
  const admin = await h.as('admin');
  const r = await admin.post(`/v1/admin/users/${user}/code`, {});
  if (r.status !== 201) throw new Error(`code for ${user}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.code as string;
}

/** A started agent enrolled as `user` (through `url`), its first load done. */
async function agentFor(h: Harness, user: string, opts: RigOptions, url = h.url): Promise<Rig> {
  const rig = makeRig(opts);
  await rig.agent.start();
  const r = await rig.agent.enroll(url, await codeFor(h, user));
  if (!r.ok) throw new Error(`enroll ${user}: ${r.error.message}`);
  await until(`${user}'s first load`, () => rig.agent.snapshot().phase === 'ready');
  return rig;
}

function value<T>(r: ActionResult<T>): T {
  if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
  return r.value;
}

async function request(c: TestClient, resource: string, role: string, reason: string, duration = '30m'): Promise<string> {
  const r = await c.post('/v1/requests', { resource, role, duration, reason });
  if (r.status !== 201) throw new Error(`request: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.id as string;
}

const grantOf = (rig: Rig, pred: (g: GrantView) => boolean = () => true) => rig.agent.snapshot().grants.find(pred);
const awaiting = (rig: Rig) => rig.agent.snapshot().reviewQueue.filter((r) => r.state === 'pending' && r.canReview);

/**
 * A harness on a TestTime: its `Date` headers follow the test's clock (Node writes the real time),
 * so the agent measures the server clock offset as it would against a real server.
 */
async function timedHarness(time: TestTime, opts: Parameters<typeof startHarness>[0] = {}): Promise<Harness> {
  const h = await startHarness({ ...opts, clock: time.server });
  h.server.app.server.prependListener('request', (_req: unknown, res: { setHeader(name: string, value: string): void }) => res.setHeader('date', new Date(time.now()).toUTCString()));
  return h;
}

/** Lets sockets, the server's connector work and the agent's fetches finish (real time; TestTime stands still). */
async function settle(h: Harness | null, ...rigs: Rig[]): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, 5));
    if (h) await h.settle();
    for (const rig of rigs) await rig.agent.idle();
  }
}

/** Moves a TestTime on by `ms` in steps, settling after each. */
async function run(time: TestTime, ms: number, stepMs: number, h: Harness | null, ...rigs: Rig[]): Promise<void> {
  for (let done = 0; done < ms; done += stepMs) {
    time.advance(Math.min(stepMs, ms - done));
    await settle(h, ...rigs);
  }
}

/** Waits for a promise whose progress needs the device clock to move (retry backoff). */
async function drive<T>(time: TestTime, p: Promise<T>, stepMs = 100): Promise<T> {
  let settled = false;
  void p.finally(() => (settled = true)).catch(() => undefined);
  for (let i = 0; i < 200 && !settled; i++) {
    await new Promise((r) => setTimeout(r, 5));
    if (!settled) time.advance(stepMs);
  }
  return p;
}

const rigs: Rig[] = [];
afterEach(async () => {
  for (const rig of rigs.splice(0)) await rig.close();
});
const track = (rig: Rig) => (rigs.push(rig), rig);

describe('enrollment, sign-out and the keychain', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ heartbeatMs: 500 });
  });
  afterAll(async () => h.close());

  it('enrolls: the device credential goes to the keychain under the server URL, the URL to the settings; the next launch is signed in', async () => {
    const rig = track(makeRig({ clock: systemClock }));
    await rig.agent.start();
    expect(rig.agent.snapshot().phase).toBe('signed_out');
    expect(rig.tray.labels()).toEqual(expect.arrayContaining(['Sign in…', 'Quit']));

    const bad = await rig.agent.enroll(h.url, 'not-a-code');
    expect(bad).toMatchObject({ ok: false, error: { code: 'enrollment_invalid', message: expect.stringMatching(/ask your admin for a new one/) } });
    expect(await rig.agent.enroll('ftp://nope', 'x')).toMatchObject({ ok: false, error: { code: 'invalid_arguments' } });

    const done = value(await rig.agent.enroll(`${h.url}/`, await codeFor(h, 'alice')));
    expect(done).toMatchObject({ serverUrl: h.url, user: { name: 'alice', groups: ['eng'] }, device: { name: 'test-laptop' } });
    expect(rig.settings.get().serverUrl).toBe(h.url);
    const stored = JSON.parse(rig.ring.items.get(accounts.device(h.url))!) as { user: string; refreshToken: string };
    expect(stored.user).toBe('alice');
    expect(JSON.stringify(rig.settings.get())).not.toContain(stored.refreshToken);
    await until('ready', () => rig.agent.snapshot().phase === 'ready');
    expect(rig.agent.snapshot()).toMatchObject({ user: { name: 'alice' }, connection: { state: 'live' }, stale: null, keychain: { status: 'available' } });
    expect(rig.agent.snapshot().resources.map((r) => r.name).sort()).toEqual(['demo-pass', 'pg-prod']);

    const next = track(await rig.relaunch());
    await next.agent.start();
    await until('signed in again without a code', () => next.agent.snapshot().phase === 'ready');
    expect(next.agent.snapshot().user?.name).toBe('alice');
  });

  it('signs out: the server forgets the device, the keychain forgets its credential and grant secrets', async () => {
    const rig = track(await agentFor(h, 'dave', { clock: systemClock }));
    const id = value(await rig.agent.requestAccess({ resource: 'pg-prod', role: 'readonly', duration: '30m', reason: 'INC-101 sign-out test' })).id;
    await (await h.as('bob')).post(`/v1/requests/${id}/approve`, {});
    await until('the credential kept in the keychain', () => [...rig.ring.items.keys()].some((k) => k.startsWith('grant:')));
    const refreshToken = (JSON.parse(rig.ring.items.get(accounts.device(h.url))!) as { refreshToken: string }).refreshToken;

    expect(value(await rig.agent.signOut())).toEqual({ revokedOnServer: true });
    await rig.agent.idle();
    expect([...rig.ring.items.keys()].filter((k) => k !== 'index')).toEqual([]);
    expect(rig.agent.snapshot()).toMatchObject({ phase: 'signed_out', grants: [], requests: [], serverUrl: h.url });
    expect((await h.anonymous().post(REFRESH, { refreshToken })).body.error.code).toBe('refresh_invalid');
    expect(await rig.agent.requestAccess({ resource: 'pg-prod', role: 'readonly', reason: 'INC-101 after sign-out' })).toMatchObject({ ok: false, error: { code: 'signed_out' } });
  });

  it("deletes a grant's keychain entries when it ends, and on start those of grants that ended while the app was closed", async () => {
    const rig = track(await agentFor(h, 'alice', { clock: systemClock }));
    const ids: string[] = [];
    for (const role of ['readonly', 'admin']) ids.push(value(await rig.agent.requestAccess({ resource: 'pg-prod', role, duration: '1h', reason: `INC-102 keychain ${role}` })).id);
    const bob = await h.as('bob');
    for (const id of ids) await bob.post(`/v1/requests/${id}/approve`, {});
    await until('both credentials in the keychain', () => rig.agent.snapshot().grants.filter((g) => g.state === 'active' && rig.ring.items.has(accounts.grant(g.id))).length === 2);
    const [first, second] = rig.agent.snapshot().grants.filter((g) => g.state === 'active');

    // Ended here: its entry goes at once, and it is my own action: no notification.
    value(await rig.agent.endGrant(first!.id));
    await rig.agent.idle();
    expect(rig.ring.items.has(accounts.grant(first!.id))).toBe(false);
    expect(rig.notifier.shown('ended')).toEqual([]);

    // Ended elsewhere while the app is closed (the CLI on another device), plus an ssh key left behind.
    const next = track(await rig.relaunch());
    const cli = await h.as('alice');
    expect((await cli.post(`/v1/grants/${second!.id}/end`)).status).toBe(200);
    await next.keychain.set(accounts.ssh('req_leftover000000'), 'PRIVATE KEY');
    await next.agent.start();
    await until('ready', () => next.agent.snapshot().phase === 'ready');
    await next.agent.idle();
    expect(next.ring.items.has(accounts.grant(second!.id))).toBe(false);
    expect(next.ring.items.has(accounts.ssh('req_leftover000000'))).toBe(false);
    expect(next.ring.items.has(accounts.device(h.url))).toBe(true);
    // Nothing is announced from the first load (B40).
    expect(next.notifier.log).toEqual([]);
  });

  it('a locked keychain at start is not "signed out": it says so, keeps everything, and picks up after a retry (B34c)', async () => {
    const first = track(await agentFor(h, 'dave', { clock: systemClock }));
    const rig = track(await first.relaunch());
    rig.ring.mode = 'locked';
    await rig.agent.start();
    expect(rig.agent.snapshot()).toMatchObject({ phase: 'loading', keychain: { status: 'locked' } });
    expect(rig.tray.last.icon).toBe('attention');
    expect(rig.tray.labels()).toContain('Retry keychain');
    expect(rig.ring.items.has(accounts.device(h.url))).toBe(true);

    rig.ring.mode = 'works';
    expect(await rig.agent.retryKeychain()).toMatchObject({ ok: true, value: { status: 'available' } });
    await until('ready', () => rig.agent.snapshot().phase === 'ready');
    expect(rig.agent.snapshot().user?.name).toBe('dave');
  });

  it('copies a credential field to the clipboard without handing it to the caller, and clears the clipboard after the delay', async () => {
    const rig = track(await agentFor(h, 'erin', { clock: systemClock, timing: { clipboardClearMs: 300 } }));
    // erin (ops) is approved by policy for pg-prod/readonly: active at once.
    const id = value(await rig.agent.requestAccess({ resource: 'pg-prod', role: 'readonly', duration: '1h', reason: 'INC-103 copy the pass' })).id;
    await until('active', () => grantOf(rig, (g) => g.requestId === id)?.state === 'active');
    const g = grantOf(rig, (x) => x.requestId === id)!;
    const token = ((await (await h.as('erin')).get(`/v1/grants/${g.id}/credential`)).body.credential as { token: string }).token;

    const copied = await rig.agent.copyCredential(g.id, 'token');
    expect(copied).toMatchObject({ ok: true, value: { grantId: g.id, field: 'token' } });
    expect(JSON.stringify(copied)).not.toContain(token);
    expect(rig.clipboard.text).toBe(token);
    expect(await rig.agent.copyCredential(g.id, 'password')).toMatchObject({ ok: false, error: { code: 'not_found', message: expect.stringContaining('it has: type, token, expiresAt') } });
    // Names every object inherits are not fields of the credential either (nothing of Object.prototype is copied).
    for (const field of ['constructor', 'toString', 'hasOwnProperty']) {
      expect(await rig.agent.copyCredential(g.id, field)).toMatchObject({ ok: false, error: { code: 'not_found', message: expect.stringContaining(`no "${field}" to copy`) } });
    }
    expect(rig.clipboard.text).toBe(token);
    await until('the clipboard cleared', () => rig.clipboard.text === null, 2_000);

    // Copied again, then the grant ends: the clipboard is cleared with it.
    value(await rig.agent.copyCredential(g.id, 'token'));
    value(await rig.agent.endGrant(g.id));
    expect(rig.clipboard.text).toBeNull();
    expect(await rig.agent.copyCredential(g.id, 'token')).toMatchObject({ ok: false, error: { code: 'invalid_state' } });
  });
});

describe('settings', () => {
  it('a reset settings file becomes a notice until dismissed; windows change settings by patch, never the server URL', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'latch-agent-'));
    writeFileSync(join(dir, 'config.json'), '{"apiUrl":"https://jit.exa');
    const rig = track(makeRig({ clock: systemClock }, { dir }));
    try {
      await rig.agent.start();
      const [notice] = rig.agent.snapshot().notices;
      expect(notice).toMatchObject({ kind: 'settings_reset', level: 'warning', message: expect.stringMatching(/reset to the defaults/) });
      expect(await rig.agent.dismissNotice(notice!.id)).toEqual({ ok: true, value: null });
      expect(rig.agent.snapshot().notices).toEqual([]);

      const changed = await rig.agent.updateSettings({ notifications: { muted: true }, expiryWarningLeadMs: 10 * MIN });
      expect(changed).toMatchObject({ ok: true, value: { notifications: { muted: true, approvals: true }, expiryWarningLeadMs: 10 * MIN } });
      expect(await rig.agent.getSettings()).toEqual(rig.settings.get());
      expect(await rig.agent.updateSettings({ expiryWarningLeadMs: 1 })).toMatchObject({ ok: false, error: { code: 'invalid_arguments', message: expect.stringMatching(/expiryWarningLeadMs\): the expiry warning comes at least 1 minute/) } });
      expect(await rig.agent.updateSettings({ serverUrl: 'https://evil.example.com' } as never)).toMatchObject({ ok: false, error: { code: 'invalid_arguments' } });
      expect(rig.settings.get().serverUrl).toBeNull();
    } finally {
      await rig.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('B22: another approver decides first', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ heartbeatMs: 500 });
  });
  afterAll(async () => h.close());

  it("within 5 s bob's queue shows 'approved by carol' and his notification is withdrawn; his late approve says so plainly", async () => {
    const bob = track(await agentFor(h, 'bob', { clock: systemClock }));
    const carol = track(await agentFor(h, 'carol', { clock: systemClock }));
    const id = await request(await h.as('alice'), 'demo-pass', 'read', 'INC-220 both approvers see it');
    for (const rig of [bob, carol]) await until('the approval notification', () => rig.notifier.shown('approval_needed').some((s) => s.intent.key === approvalKey(id)));
    expect(bob.tray.labels()).toContain('Pending approvals (1)');
    expect(bob.tray.last).toMatchObject({ icon: 'pending', approvals: 1, title: '1' });

    value(await carol.agent.approve(id, 'looks fine'));
    const decidedAt = Date.now();
    // bob clicks before the update reaches him: a sentence, not a stack trace.
    const late = await bob.agent.approve(id);
    expect(late).toMatchObject({ ok: false, error: { code: 'already_resolved', message: 'This request was already approved by carol.', details: { decidedBy: 'carol', state: 'approved' } } });

    await until("bob's queue shows carol's approval", () => bob.agent.snapshot().reviewQueue.some((r) => r.id === id && r.state === 'approved' && r.decidedBy === 'carol'), 5_000);
    await until("bob's notification withdrawn", () => bob.notifier.withdrawn(approvalKey(id)), 5_000);
    expect(Date.now() - decidedAt).toBeLessThan(5_000);
    expect(bob.tray.labels()).toContain('Pending approvals (0)');
    expect(bob.tray.last).toMatchObject({ icon: 'idle', approvals: 0, title: '' });
    // carol is not told about her own approval; bob is not told about a decision on someone else's request.
    expect(carol.notifier.shown().map((s) => s.intent.kind)).toEqual(['approval_needed']);
    expect(bob.notifier.shown().map((s) => s.intent.kind)).toEqual(['approval_needed']);
  });

  it('every action is in the tray menu: approving from it works (B32)', async () => {
    const bob = track(await agentFor(h, 'bob', { clock: systemClock }));
    const id = await request(await h.as('dave'), 'demo-pass', 'read', 'INC-221 approve from the tray');
    await until('listed in the tray', () => bob.tray.items().some((i) => i.type === 'action' && i.action.kind === 'approve' && i.action.requestId === id));
    const item = bob.tray.items().find((i) => i.type === 'action' && i.action.kind === 'approve' && i.action.requestId === id);
    if (item?.type !== 'action' || item.action.kind !== 'approve') throw new Error('no approve item');
    expect((await bob.agent.runTrayAction(item.action)).ok).toBe(true);
    await until('decided', () => bob.agent.snapshot().reviewQueue.some((r) => r.id === id && r.state === 'approved'));
  });

  it("the notification's Approve button approves; Deny (in the window) needs a comment, which the requester's notification carries", async () => {
    const bob = track(await agentFor(h, 'bob', { clock: systemClock }));
    const carol = track(await agentFor(h, 'carol', { clock: systemClock }));
    const alice = track(await agentFor(h, 'alice', { clock: systemClock }));
    const first = value(await alice.agent.requestAccess({ resource: 'demo-pass', role: 'read', duration: '30m', reason: 'INC-222 approve from the button' })).id;
    await until('the notification', () => bob.notifier.shown('approval_needed').some((n) => n.intent.kind === 'approval_needed' && n.intent.requestId === first));
    const note = bob.notifier.shown('approval_needed').find((n) => n.intent.kind === 'approval_needed' && n.intent.requestId === first)!.intent;
    const button = note.actions.find((a) => a.id === 'approve');
    if (!button || !('run' in button)) throw new Error('no Approve button');
    expect((await bob.agent.runTrayAction(button.run)).ok).toBe(true);
    await until("alice's grant", () => alice.agent.snapshot().grants.some((g) => g.requestId === first && g.state === 'active'));
    expect(note.actions.find((a) => a.id === 'deny')).toEqual({ id: 'deny', label: 'Deny…', open: { view: 'request', requestId: first } });

    const second = value(await alice.agent.requestAccess({ resource: 'pg-prod', role: 'admin', duration: '30m', reason: 'INC-223 to be denied' })).id;
    await until('in carol’s queue', () => awaiting(carol).some((r) => r.id === second));
    expect(await carol.agent.deny(second, '')).toMatchObject({ ok: false, error: { code: 'invalid_arguments', message: expect.stringContaining('say why you deny it') } });
    value(await carol.agent.deny(second, 'use the replica instead'));
    await until("alice told", () => alice.notifier.shown('decided').some((n) => n.intent.kind === 'decided' && n.intent.requestId === second));
    const told = alice.notifier.shown('decided').find((n) => n.intent.kind === 'decided' && n.intent.requestId === second)!.intent;
    expect(told).toMatchObject({ title: 'Denied: pg-prod/admin', body: 'carol denied your request for pg-prod/admin: “use the replica instead”', by: 'carol', comment: 'use the replica instead' });
    expect(alice.agent.snapshot().requests.find((r) => r.id === second)).toMatchObject({ state: 'denied', decidedBy: 'carol' });
  });
});

describe.each([
  { resume: true, network: 'back' },
  { resume: false, network: 'back' },
  { resume: true, network: 'still down' },
  { resume: false, network: 'still down' },
])('B27: the laptop sleeps through the expiry (resume event: $resume, network on waking: $network)', ({ resume: withResume, network }) => {
  it('within 5 s of waking: shown expired, no active access in the tray, keychain entry gone, exactly one "ended" notification', async () => {
    const time = new TestTime(Date.UTC(2026, 0, 5, 10, 0, 0));
    const h = await timedHarness(time);
    const tcp = await startTcpProxy(h.url);
    try {
      const rig = track(await agentFor(h, 'alice', { clock: time.device, stream: { heartbeatMs: 3_600_000 } }, tcp.url));
      const id = value(await rig.agent.requestAccess({ resource: 'pg-prod', role: 'readonly', duration: '1h', reason: 'INC-270 sleeps through the end' })).id;
      const bob = await h.as('bob');
      await bob.post(`/v1/requests/${id}/approve`, {});
      await settle(h, rig);
      await until('active, its credential in the keychain', () => {
        const g = grantOf(rig, (x) => x.requestId === id);
        return g?.state === 'active' && rig.ring.items.has(accounts.grant(g.id));
      });
      const g = grantOf(rig, (x) => x.requestId === id)!;
      expect(g.expiresAt).toBe('2026-01-05T11:00:00.000Z');
      expect(rig.tray.last).toMatchObject({ icon: 'active', title: expect.stringMatching(/^(1h 00m|\d{1,2}m)$/) });

      await run(time, 20 * MIN, 60_000, h, rig); // 10:20
      tcp.blackhole();
      time.sleepDevice(40 * MIN + 1_000); // the server, awake, ends the grant at 11:00 on its own
      await h.settle();
      time.sleepDevice(80 * MIN - 1_000); // 12:20
      const onServer = (await bob.get(`/v1/grants/${g.id}`)).body as GrantView;
      expect(onServer).toMatchObject({ state: 'ended', endReason: 'expired', endedAt: expect.stringMatching(/^2026-01-05T11:00:0/) });
      // With the network still down only the agent's own clockwork can see the end.
      if (network === 'back') tcp.restore();

      const woke = time.now();
      if (withResume) rig.agent.resume();
      const shownExpired = () => rig.tray.labels().some((l) => l.startsWith('pg-prod/readonly — Expired'));
      const done = () => shownExpired() && rig.tray.last.tooltip.includes('no active access') && !rig.ring.items.has(accounts.grant(g.id)) && rig.notifier.shown('ended').length === 1;
      await settle(null, rig);
      while (!done() && time.now() - woke < 5_000) {
        time.advance(250);
        await settle(null, rig);
      }
      expect(done()).toBe(true);
      expect(time.now() - woke).toBeLessThanOrEqual(withResume ? 0 : 5_000);

      if (network === 'back') {
        // The stream comes back and replays the server's end: still one notification.
        await run(time, 10_000, 250, null, rig);
        expect(grantOf(rig, (x) => x.id === g.id)?.state).toBe('ended');
        expect(rig.agent.snapshot().connection.state).toBe('live');
      } else {
        expect(grantOf(rig, (x) => x.id === g.id)?.state).toBe('active');
        expect(rig.agent.snapshot().connection.state).not.toBe('live');
      }
      // Never a stale warning, and one end.
      const ended = rig.notifier.shown('ended');
      expect(ended).toHaveLength(1);
      expect(ended[0]!.intent).toMatchObject({ kind: 'ended', reason: 'expired', at: '2026-01-05T11:00:00.000Z', body: 'Your access ended at 11:00 UTC.' });
      expect(rig.notifier.shown('expiring_soon')).toEqual([]);
    } finally {
      for (const rig of rigs.splice(0)) await rig.close();
      await tcp.close();
      await h.close();
    }
  });
});

describe('expiry warnings that are already due', () => {
  it('starting the app 3 min before the end (5 min lead): one warning at once, then one end', async () => {
    const time = new TestTime(Date.UTC(2026, 0, 5, 10, 0, 0));
    const h = await timedHarness(time);
    try {
      const first = track(await agentFor(h, 'alice', { clock: time.device, stream: { heartbeatMs: 3_600_000 } }));
      const id = value(await first.agent.requestAccess({ resource: 'demo-pass', role: 'read', duration: '30m', reason: 'INC-600 starts inside the warning' })).id;
      await (await h.as('bob')).post(`/v1/requests/${id}/approve`, {});
      await settle(h, first);
      await until('active', () => grantOf(first, (g) => g.requestId === id)?.state === 'active');
      const g = grantOf(first, (x) => x.requestId === id)!;
      expect(g.expiresAt).toBe('2026-01-05T10:30:00.000Z');

      // The app is closed until 10:27.
      const rig = track(await first.relaunch());
      time.advance(27 * MIN);
      await h.settle();
      await rig.agent.start();
      await until('ready', () => rig.agent.snapshot().phase === 'ready');
      await settle(h, rig);
      const warned = rig.notifier.shown('expiring_soon');
      expect(warned).toHaveLength(1);
      expect(warned[0]!.intent).toMatchObject({ grantId: g.id, body: 'Your access ends at 10:30 UTC (in 3m). Extend it if you need more time.' });

      // Each evaluation on the way (the 1 s tick, a resync) is no reason to warn again; the end comes once.
      await run(time, 2 * MIN, 15_000, h, rig);
      rig.agent.resume();
      await settle(h, rig);
      await run(time, 2 * MIN, 15_000, h, rig);
      expect(rig.notifier.shown().map((x) => x.intent.kind)).toEqual(['expiring_soon', 'ended']);
      expect(rig.notifier.shown('ended')[0]!.intent).toMatchObject({ grantId: g.id, reason: 'expired' });
    } finally {
      for (const rig of rigs.splice(0)) await rig.close();
      await h.close();
    }
  });

  it('raising the lead time past now warns at once, once', async () => {
    const time = new TestTime(Date.UTC(2026, 0, 5, 10, 0, 0));
    const h = await timedHarness(time);
    try {
      const rig = track(await agentFor(h, 'alice', { clock: time.device, stream: { heartbeatMs: 3_600_000 } }));
      const id = value(await rig.agent.requestAccess({ resource: 'demo-pass', role: 'read', duration: '30m', reason: 'INC-601 a longer lead' })).id;
      await (await h.as('bob')).post(`/v1/requests/${id}/approve`, {});
      await settle(h, rig);
      await until('active', () => grantOf(rig, (g) => g.requestId === id)?.state === 'active');
      await run(time, 22 * MIN, 60_000, h, rig); // 10:22, 8 min left
      expect(rig.notifier.shown('expiring_soon')).toEqual([]);

      value(await rig.agent.updateSettings({ expiryWarningLeadMs: 10 * MIN }));
      const warned = rig.notifier.shown('expiring_soon');
      expect(warned).toHaveLength(1);
      expect(warned[0]!.intent.body).toBe('Your access ends at 10:30 UTC (in 8m). Extend it if you need more time.');
      expect(warned[0]!.at).toBe(time.now());

      await run(time, 10 * MIN, 30_000, h, rig);
      expect(rig.notifier.shown().filter((x) => x.intent.kind !== 'decided').map((x) => x.intent.kind)).toEqual(['expiring_soon', 'ended']);
    } finally {
      for (const rig of rigs.splice(0)) await rig.close();
      await h.close();
    }
  });
});

describe('B28: a hidden window; notifications from the agent’s own timer', () => {
  it('3 grants, one ending at +20 min: the warning and the end come on time, at most one token refresh, the shown window is right at once', async () => {
    const time = new TestTime(Date.UTC(2026, 0, 5, 9, 0, 0));
    const h = await timedHarness(time, { accessTtlS: 15 * 60 });
    const proxy = await startHttpProxy(h.url);
    const answered: { method: string; path: string; at: number }[] = [];
    proxy.onAnswer((r) => answered.push({ method: r.method, path: r.path, at: time.now() }));
    try {
      const rig = track(await agentFor(h, 'alice', { clock: time.device, stream: { heartbeatMs: 3_600_000 } }, proxy.url));
      const bob = await h.as('bob');
      for (const [resource, role, duration] of [['demo-pass', 'read', '20m'], ['pg-prod', 'readonly', '2h'], ['pg-prod', 'admin', '3h']] as const) {
        const id = value(await rig.agent.requestAccess({ resource, role, duration, reason: `INC-280 hidden window ${role}` })).id;
        await bob.post(`/v1/requests/${id}/approve`, {});
      }
      await settle(h, rig);
      await until('3 active grants with their credentials', () => rig.agent.snapshot().grants.filter((g) => g.state === 'active' && rig.ring.items.has(accounts.grant(g.id))).length === 3);
      const short = grantOf(rig, (g) => g.resource === 'demo-pass')!;
      const end = Date.parse(short.expiresAt!);
      expect(end - time.now()).toBe(20 * MIN);

      let pushed = 0;
      rig.agent.onSnapshot(() => pushed++);
      const hiddenFrom = answered.length;
      const notifiedFrom = rig.notifier.shown().length;
      expect(rig.notifier.shown().map((s) => s.intent.kind)).toEqual(['decided', 'decided', 'decided']);
      const t0 = time.now();

      await run(time, 15 * MIN - 10_000, 30_000, h, rig);
      expect(rig.notifier.shown('expiring_soon')).toEqual([]);
      time.advance(10_000);
      // Shown inside the clock step, before any I/O: the agent's own timer, not the server or a renderer.
      const warned = rig.notifier.shown('expiring_soon');
      expect(warned).toHaveLength(1);
      expect(warned[0]!.intent).toMatchObject({ grantId: short.id, canExtend: true, actions: [{ id: 'extend' }] });
      expect(Math.abs(warned[0]!.at - (end - 5 * MIN))).toBeLessThanOrEqual(1_000);
      await settle(h, rig);

      await run(time, 5 * MIN - 10_000, 30_000, h, rig);
      expect(rig.notifier.shown('ended')).toEqual([]);
      time.advance(10_000);
      const ended = rig.notifier.shown('ended');
      expect(ended).toHaveLength(1);
      expect(ended[0]!.intent).toMatchObject({ kind: 'ended', grantId: short.id, reason: 'expired' });
      expect(ended[0]!.at - end).toBeGreaterThanOrEqual(-1_000);
      expect(ended[0]!.at - end).toBeLessThanOrEqual(5_000);
      await settle(h, rig);
      await run(time, 10 * MIN, 30_000, h, rig);
      expect(time.now() - t0).toBe(30 * MIN);
      expect(rig.notifier.shown().slice(notifiedFrom).map((s) => s.intent.kind)).toEqual(['expiring_soon', 'ended']);
      expect(rig.ring.items.has(accounts.grant(short.id))).toBe(false);

      // The network while hidden: the server's end fetched, the token refreshed once, never a burst.
      const hidden = answered.slice(hiddenFrom);
      expect(hidden.filter((r) => r.path === REFRESH)).toHaveLength(1);
      const perSecond = new Map<number, number>();
      for (const r of hidden) perSecond.set(Math.floor(r.at / 1000), (perSecond.get(Math.floor(r.at / 1000)) ?? 0) + 1);
      expect(Math.max(...perSecond.values())).toBeLessThanOrEqual(3);
      // No per-second pushes while hidden: only changes.
      expect(pushed).toBeLessThan(20);

      // Shown: the first snapshot is right, then one every second.
      let first: DesktopSnapshot | null = null;
      rig.agent.onSnapshot((s) => void (first ??= s));
      rig.agent.setWindowVisible(true);
      const shown = first as DesktopSnapshot | null;
      if (!shown) throw new Error('no snapshot on show');
      const left = (resource: string, role: string) => {
        const g = shown.grants.find((x) => x.resource === resource && x.role === role)!;
        return countdown(g.expiresAt!, shown.now, shown.serverOffsetMs).text;
      };
      expect(left('pg-prod', 'readonly')).toBe('1:30:00');
      expect(left('pg-prod', 'admin')).toBe('2:30:00');
      expect(left('demo-pass', 'read')).toBe('Expired');
      const before = pushed;
      time.advance(3_000);
      expect(pushed - before).toBeGreaterThanOrEqual(3);
    } finally {
      for (const rig of rigs.splice(0)) await rig.close();
      await proxy.close();
      await h.close();
    }
  });
});

describe('B41: five actions at once with an expired access token', () => {
  it('one refresh, every action done, still signed in', async () => {
    // The server's clock moves past the token's lifetime; the agent's does not, so its token looks fresh to it.
    const serverClock = new ManualClock(Date.now());
    const h = await startHarness({ clock: serverClock, accessTtlS: 900, heartbeatMs: 500 });
    const proxy = await startHttpProxy(h.url);
    try {
      const bob = track(await agentFor(h, 'bob', { clock: systemClock }, proxy.url));
      const alice = await h.as('alice');
      const dave = await h.as('dave');
      const ids = [
        await request(alice, 'demo-pass', 'read', 'INC-410 one'),
        await request(alice, 'pg-prod', 'readonly', 'INC-410 two'),
        await request(alice, 'pg-prod', 'admin', 'INC-410 three'),
        await request(dave, 'demo-pass', 'read', 'INC-410 four'),
        await request(dave, 'pg-prod', 'readonly', 'INC-410 five'),
      ];
      await until('5 approvals waiting', () => awaiting(bob).length === 5);
      const before = bob.ring.items.get(accounts.device(proxy.url));
      serverClock.advance(901_000);
      proxy.seen.length = 0;

      const results = await Promise.all(ids.map((id) => bob.agent.approve(id)));
      expect(results.map((r) => r.ok)).toEqual([true, true, true, true, true]);
      expect(proxy.count('POST', REFRESH)).toBe(1);
      expect(proxy.seen.filter((r) => r.status === 401).length).toBeGreaterThanOrEqual(1);
      await until('all five decided in the queue', () => awaiting(bob).length === 0);
      await bob.agent.idle();
      expect(proxy.count('POST', REFRESH)).toBe(1);
      expect(bob.agent.snapshot().phase).toBe('ready');
      expect(bob.ring.items.get(accounts.device(proxy.url))).not.toBe(before);
    } finally {
      for (const rig of rigs.splice(0)) await rig.close();
      await proxy.close();
      await h.close();
    }
  });
});

describe('signed out by the server', () => {
  it('a refused refresh signs the agent out once: a notice, the secrets forgotten, no retry loop', async () => {
    const serverClock = new ManualClock(Date.now());
    const h = await startHarness({ clock: serverClock, accessTtlS: 900, heartbeatMs: 500 });
    const proxy = await startHttpProxy(h.url);
    try {
      const alice = track(await agentFor(h, 'alice', { clock: systemClock }, proxy.url));
      // A copy of the keychain used the refresh token elsewhere: it was rotated away.
      const copied = JSON.parse(alice.ring.items.get(accounts.device(proxy.url))!) as { refreshToken: string };
      expect((await h.anonymous().post(REFRESH, { refreshToken: copied.refreshToken })).status).toBe(200);
      serverClock.advance(901_000);
      proxy.seen.length = 0;

      const refused = await alice.agent.requestAccess({ resource: 'pg-prod', role: 'readonly', reason: 'INC-411 after the copy' });
      expect(refused).toMatchObject({ ok: false, error: { code: 'signed_out', message: expect.stringMatching(/enroll it again with a new code/) } });
      await until('signed out', () => alice.agent.snapshot().phase === 'signed_out');
      await alice.agent.idle();
      expect(alice.agent.snapshot().notices).toEqual([expect.objectContaining({ kind: 'signed_out', level: 'error' })]);
      expect(alice.ring.items.has(accounts.device(proxy.url))).toBe(false);
      await new Promise((r) => setTimeout(r, 300));
      expect(proxy.count('POST', REFRESH)).toBe(1);
      expect(alice.tray.labels()).toContain('Sign in…');
    } finally {
      for (const rig of rigs.splice(0)) await rig.close();
      await proxy.close();
      await h.close();
    }
  });
});

describe('B43: the stream dies silently', () => {
  it('shows reconnecting, then offline, then live; the 3 requests made meanwhile give exactly 3 notifications', async () => {
    const h = await startHarness({ heartbeatMs: 200 });
    const tcp = await startTcpProxy(h.url);
    try {
      const bob = track(await agentFor(h, 'bob', { clock: systemClock, stream: { heartbeatMs: 200, offlineAfterMs: 1_500 } }, tcp.url));
      const states: string[] = [];
      bob.agent.onSnapshot((s) => {
        if (states.at(-1) !== s.connection.state) states.push(s.connection.state);
      });
      tcp.blackhole();
      const cut = Date.now();
      await until('reconnecting', () => bob.agent.snapshot().connection.state === 'reconnecting', 3_000);
      expect(Date.now() - cut).toBeLessThan(1_500);
      expect(bob.tray.last.tooltip).toContain('Reconnecting…');
      expect(bob.agent.snapshot().stale).not.toBeNull();

      const ids: string[] = [];
      ids.push(await request(await h.as('alice'), 'demo-pass', 'read', 'INC-430 while the stream is dead #1'));
      ids.push(await request(await h.as('alice'), 'pg-prod', 'admin', 'INC-430 while the stream is dead #2'));
      ids.push(await request(await h.as('dave'), 'demo-pass', 'read', 'INC-430 while the stream is dead #3'));
      await until('offline', () => bob.agent.snapshot().connection.state === 'offline', 3_000);
      expect(bob.tray.labels().some((l) => l.startsWith('Offline, showing data as of'))).toBe(true);

      tcp.restore();
      await until('3 approval notifications', () => bob.notifier.shown('approval_needed').length === 3, 10_000);
      await until('live', () => bob.agent.snapshot().connection.state === 'live');
      await new Promise((r) => setTimeout(r, 400));
      await bob.agent.idle();
      expect(bob.notifier.shown('approval_needed').map((s) => s.intent.kind === 'approval_needed' && s.intent.requestId).sort()).toEqual([...ids].sort());
      expect(awaiting(bob).map((r) => r.id).sort()).toEqual([...ids].sort());
      expect(bob.agent.snapshot().stale).toBeNull();
      expect(states).toEqual(['reconnecting', 'offline', 'live']);
    } finally {
      for (const rig of rigs.splice(0)) await rig.close();
      await tcp.close();
      await h.close();
    }
  });
});

describe('resume from sleep or unlock: one full refetch', () => {
  it('the server cannot resume the stream: the lists are refetched once, the missed changes are told once, the ended grant leaves the keychain', async () => {
    const h = await startHarness({ heartbeatMs: 200 });
    const tcp = await startTcpProxy(h.url);
    const proxy = await startHttpProxy(tcp.url);
    try {
      const alice = track(await agentFor(h, 'alice', { clock: systemClock, stream: { heartbeatMs: 200, offlineAfterMs: 1_500 } }, proxy.url));
      const bob = await h.as('bob');
      const first = value(await alice.agent.requestAccess({ resource: 'demo-pass', role: 'read', duration: '30m', reason: 'INC-440 before the sleep' })).id;
      await bob.post(`/v1/requests/${first}/approve`, {});
      await until('active with its credential', () => {
        const g = grantOf(alice, (x) => x.requestId === first);
        return g?.state === 'active' && alice.ring.items.has(accounts.grant(g.id));
      });
      const g1 = grantOf(alice, (x) => x.requestId === first)!;
      const second = value(await alice.agent.requestAccess({ resource: 'pg-prod', role: 'readonly', duration: '30m', reason: 'INC-441 decided during the sleep' })).id;
      await alice.agent.idle();
      expect(alice.notifier.shown().map((x) => x.intent.kind)).toEqual(['decided']);

      // Asleep: the stream hears nothing while bob approves the second and an admin ends the first.
      tcp.blackhole();
      await until('not live', () => alice.agent.snapshot().connection.state !== 'live', 3_000);
      expect((await bob.post(`/v1/requests/${second}/approve`, {})).status).toBe(200);
      expect((await (await h.as('admin')).post(`/v1/grants/${g1.id}/end`)).status).toBe(200);
      await h.settle();

      // On waking the server does not know the position the stream resumes from (restored from a backup).
      const resyncs: string[] = [];
      alice.streams.at(-1)!.onResync((r) => resyncs.push(r.reason));
      const listsBefore = proxy.count('GET', '/v1/grants');
      tcp.restore();
      proxy.setRequestHeader((r) => r.path === '/v1/events', 'last-event-id', '999999999999', 1);
      alice.agent.resume();
      await until('told about both changes', () => alice.notifier.shown().length === 3, 10_000);
      await until('live', () => alice.agent.snapshot().connection.state === 'live');
      await new Promise((r) => setTimeout(r, 400));
      await alice.agent.idle();

      expect(resyncs).toEqual(['unknown_last_event_id']);
      // One refetch: the newest grants and the unfinished ones.
      expect(proxy.count('GET', '/v1/grants') - listsBefore).toBe(2);
      const snap = alice.agent.snapshot();
      expect(snap.requests.find((r) => r.id === second)).toMatchObject({ state: 'approved', decidedBy: 'bob' });
      expect(snap.grants.find((g) => g.id === g1.id)).toMatchObject({ state: 'ended', endReason: 'revoked_by_admin' });
      const g2 = snap.grants.find((g) => g.requestId === second)!;
      expect(g2.state).toBe('active');
      const told = alice.notifier.shown().map((x) => x.intent);
      expect(told.map((i) => `${i.kind}:${i.kind === 'decided' ? i.requestId : i.kind === 'ended' ? i.grantId : ''}`).sort())
        .toEqual([`decided:${first}`, `decided:${second}`, `ended:${g1.id}`].sort());
      expect(told.find((i) => i.kind === 'ended')).toMatchObject({ reason: 'revoked_by_admin' });
      expect(alice.ring.items.has(accounts.grant(g1.id))).toBe(false);
      await until("the new grant's credential kept", () => alice.ring.items.has(accounts.grant(g2.id)));
    } finally {
      for (const rig of rigs.splice(0)) await rig.close();
      await proxy.close();
      await tcp.close();
      await h.close();
    }
  });

  it('with a stream the server resumes: still one refetch, and nothing told twice', async () => {
    const h = await startHarness({ heartbeatMs: 200 });
    const proxy = await startHttpProxy(h.url);
    try {
      const bob = track(await agentFor(h, 'bob', { clock: systemClock, stream: { heartbeatMs: 200 } }, proxy.url));
      const id = await request(await h.as('alice'), 'demo-pass', 'read', 'INC-442 waiting for bob');
      await until('the approval notification', () => bob.notifier.shown('approval_needed').length === 1);
      await bob.agent.idle();
      const listsBefore = proxy.count('GET', '/v1/requests');
      bob.agent.resume();
      await until('a refetch', () => proxy.count('GET', '/v1/requests') > listsBefore);
      await until('live', () => bob.agent.snapshot().connection.state === 'live');
      await new Promise((r) => setTimeout(r, 400));
      await bob.agent.idle();
      // The three lists of one refetch (mine, my pending ones and to review).
      expect(proxy.count('GET', '/v1/requests') - listsBefore).toBe(3);
      expect(bob.notifier.shown().map((x) => x.intent.kind)).toEqual(['approval_needed']);
      expect(awaiting(bob).map((r) => r.id)).toEqual([id]);
    } finally {
      for (const rig of rigs.splice(0)) await rig.close();
      await proxy.close();
      await h.close();
    }
  });
});

describe('an active grant older than the newest 100 grants', () => {
  it('made before 129 ended ones: shown, its credential kept through a full refetch and a relaunch, while an ended one gone from the lists is swept', async () => {
    const h = await startHarness();
    try {
      const api = await h.as('erin');
      const active = (await activeGrants(h, api, 1))[0]![0]!;
      const ended = (await activeGrants(h, api, 129)).flat();
      await endGrants(api, ended);

      const erin = track(await agentFor(h, 'erin', { clock: systemClock }));
      expect(grantOf(erin, (g) => g.id === active)).toMatchObject({ state: 'active' });
      expect(erin.agent.snapshot().grants).toHaveLength(LIST_LIMIT + 1);
      await until("the active grant's credential in the keychain", () => erin.ring.items.has(accounts.grant(active)));

      // The entry of a grant that ended long ago, older than the newest 100: it is known ended all the same.
      const leftover = ended[0]!;
      await erin.keychain.set(accounts.grant(leftover), 'stale secret');
      erin.agent.resume();
      await until('the ended grant swept from the keychain', () => !erin.ring.items.has(accounts.grant(leftover)), 10_000);
      await erin.agent.idle();
      expect(erin.ring.items.has(accounts.grant(active))).toBe(true);
      expect(grantOf(erin, (g) => g.id === active)).toMatchObject({ state: 'active' });

      const next = track(await erin.relaunch());
      await next.agent.start();
      await until('ready after the relaunch', () => next.agent.snapshot().phase === 'ready');
      await next.agent.idle();
      expect(grantOf(next, (g) => g.id === active)).toMatchObject({ state: 'active' });
      expect(next.ring.items.has(accounts.grant(active))).toBe(true);
    } finally {
      for (const rig of rigs.splice(0)) await rig.close();
      await h.close();
    }
  });
});

describe('revoke_failed', () => {
  const CONFIG = `
groups:
  eng: { members: [alice, dave] }
  sre: { members: [bob, carol] }
  ops: { members: [erin] }
resources:
  flaky-db:
    connector: fake
    roles: { read: {}, write: {} }
  notes:
    connector: pass
    roles: { read: {} }
policies:
  - resource: flaky-db
    requesters: [eng]
    approvers: { groups: [sre] }
    maxDuration: 1h
    breakGlass: { allowed: true, maxDuration: 15m }
  - resource: notes
    requesters: [eng]
    approvers: { groups: [sre] }
    maxDuration: 1h
`;

  it('approvers hear of a failing revoke even after its request left their review queue; the grantee and others do not', async () => {
    const fake = new FakeConnector();
    // Retries far off: each test step sees the first failure only.
    const h = await startHarness({ config: CONFIG, extraConnectors: () => [fake], heartbeatMs: 500, revokeBackoff: { firstMs: 3_600_000, maxMs: 3_600_000 } });
    const erinsProxy = await startHttpProxy(h.url);
    try {
      const alice = await h.as('alice');
      const old = await request(alice, 'flaky-db', 'read', 'INC-450 approved long ago');
      expect((await (await h.as('bob')).post(`/v1/requests/${old}/approve`, {})).status).toBe(200);
      // Since then, more requests than the review queue holds.
      const dave = await h.as('dave');
      for (let i = 0; i < LIST_LIMIT; i++) {
        const id = await request(dave, 'notes', 'read', `INC-451 filler ${i}`);
        await dave.post(`/v1/requests/${id}/cancel`);
      }
      // A break-glass grant, whose events go to everyone.
      const glass = await alice.post('/v1/requests', { resource: 'flaky-db', role: 'write', duration: '15m', reason: 'INC-452 break glass', breakGlass: true });
      expect(glass.status).toBe(201);
      await h.settle();
      const grantOfRequest = async (id: string) => ((await alice.get(`/v1/requests/${id}`)).body as { grantId: string }).grantId;
      const [oldGrant, glassGrant] = [await grantOfRequest(old), await grantOfRequest(glass.body.id as string)];

      const bob = track(await agentFor(h, 'bob', { clock: systemClock }));
      const erin = track(await agentFor(h, 'erin', { clock: systemClock }, erinsProxy.url));
      const holder = track(await agentFor(h, 'alice', { clock: systemClock }));
      expect(bob.agent.snapshot().reviewQueue).toHaveLength(LIST_LIMIT);
      expect(bob.agent.snapshot().reviewQueue.some((r) => r.id === old)).toBe(false);

      fake.failRevoke(10, { message: 'target unreachable' });
      for (const id of [oldGrant, glassGrant]) expect((await alice.post(`/v1/grants/${id}/end`)).body).toMatchObject({ state: 'revoking', revokeAttempts: 1 });

      await until('bob told about both', () => bob.notifier.shown('revoke_failed').length === 2);
      const told = bob.notifier.shown('revoke_failed').map((x) => x.intent);
      expect(told.find((i) => i.kind === 'revoke_failed' && i.grantId === oldGrant)).toMatchObject({
        user: 'alice', resource: 'flaky-db', role: 'read', attempts: 1, error: 'target unreachable',
        title: 'Revoke failing: alice on flaky-db/read', open: { view: 'request', requestId: old },
      });
      // erin got the break-glass grant's event and asked the server, which does not show her the request.
      await until("erin's lookup answered", () => erinsProxy.seen.some((r) => r.path === `/v1/requests/${glass.body.id as string}` && r.status === 404));
      await new Promise((r) => setTimeout(r, 200));
      for (const rig of [bob, erin, holder]) await rig.agent.idle();
      expect(erin.notifier.shown('revoke_failed')).toEqual([]);
      // The holder's own grants show the failure; no notification for it.
      expect(holder.notifier.shown('revoke_failed')).toEqual([]);
      expect(holder.agent.snapshot().grants.find((g) => g.id === oldGrant)).toMatchObject({ state: 'revoking', lastRevokeError: 'target unreachable' });
      expect(bob.notifier.shown('revoke_failed')).toHaveLength(2);
    } finally {
      for (const rig of rigs.splice(0)) await rig.close();
      fake.releaseHung();
      await erinsProxy.close();
      await h.close();
    }
  });
  it("an approver's tray needs attention while a revoke keeps failing, and no longer once the grant ended or its clean-up is done", async () => {
    const fake = new FakeConnector();
    // The first retry comes quickly and succeeds: the attention must go by itself.
    const h = await startHarness({ config: CONFIG, extraConnectors: () => [fake], heartbeatMs: 500, revokeBackoff: { firstMs: 1_500, maxMs: 1_500 } });
    try {
      const alice = await h.as('alice');
      const bob = track(await agentFor(h, 'bob', { clock: systemClock }));
      const revokeFailing = () => bob.agent.trayModel().attention.includes('revoke_failing');
      expect(revokeFailing()).toBe(false);

      // An ended grant whose first revoke fails.
      const ended = await request(alice, 'flaky-db', 'read', 'INC-460 revoke fails once');
      expect((await (await h.as('bob')).post(`/v1/requests/${ended}/approve`, {})).status).toBe(200);
      await h.settle();
      const grantId = ((await alice.get(`/v1/requests/${ended}`)).body as { grantId: string }).grantId;
      fake.failRevoke(1, { message: 'target unreachable' });
      await alice.post(`/v1/grants/${grantId}/end`);
      await until("bob's tray on attention", revokeFailing, 10_000);
      expect(bob.agent.trayModel().icon).toBe('attention');
      await until('the retry revoked it and bob\'s tray calmed down', () => !revokeFailing(), 15_000);
      expect((await alice.get(`/v1/grants/${grantId}`)).body).toMatchObject({ state: 'ended' });

      // A failed provisioning whose clean-up fails once: the same, through grant.cleaned_up.
      fake.failProvision(1, { message: 'quota exhausted' });
      fake.failRevoke(1, { message: 'target unreachable' });
      const failed = await request(alice, 'flaky-db', 'write', 'INC-461 provisioning fails');
      expect((await (await h.as('carol')).post(`/v1/requests/${failed}/approve`, {})).status).toBe(200);
      await until("bob's tray on attention for the clean-up", revokeFailing, 10_000);
      await until('the clean-up done and bob\'s tray calm', () => !revokeFailing(), 15_000);
      // The clean-up is in the audit trail, not only in the log.
      const audit = (await (await h.as('admin')).get('/v1/audit?limit=1000')).body as { items: { type: string; data: { resource?: string } }[] };
      expect(audit.items.filter((e) => e.type === 'grant.cleaned_up')).toEqual([expect.objectContaining({ data: expect.objectContaining({ resource: 'flaky-db' }) })]);
    } finally {
      for (const rig of rigs.splice(0)) await rig.close();
      await h.close();
    }
  });
});

describe('offline', () => {
  it('starting with the server out of reach: reconnecting, then offline, with the reason; actions say so; nothing is sent later', async () => {
    const h = await startHarness({ heartbeatMs: 500 });
    const tcp = await startTcpProxy(h.url);
    try {
      const first = track(await agentFor(h, 'alice', { clock: systemClock, stream: { offlineAfterMs: 1_000 } }, tcp.url));
      const rig = track(await first.relaunch());
      await tcp.down();
      await rig.agent.start();
      await until('reconnecting, with why', () => rig.agent.snapshot().connection.detail !== null);
      expect(rig.agent.snapshot()).toMatchObject({
        phase: 'loading', stale: null,
        connection: { state: 'reconnecting', detail: `cannot reach the Latch server at ${tcp.url} (ECONNREFUSED)` },
      });
      await until('offline', () => rig.agent.snapshot().connection.state === 'offline', 3_000);
      expect(rig.agent.snapshot().connection.detail).toBe(`cannot reach the Latch server at ${tcp.url} (ECONNREFUSED)`);

      // The same sentence as a session that went offline after loading.
      const refused = await rig.agent.requestAccess({ resource: 'demo-pass', role: 'read', duration: '30m', reason: 'INC-510 asked while offline' });
      expect(refused).toEqual({ ok: false, error: { code: 'offline', message: `The Latch server at ${tcp.url} cannot be reached (ECONNREFUSED), so this was not done. Actions are not queued: try again when you are back online.` } });

      await tcp.up();
      await until('loaded once the server is back', () => rig.agent.snapshot().phase === 'ready' && rig.agent.snapshot().connection.state === 'live', 5_000);
      await new Promise((r) => setTimeout(r, 300));
      await rig.agent.idle();
      const onServer = (await (await h.as('alice')).get('/v1/requests?scope=mine')).body as { items: { reason: string }[] };
      expect(onServer.items.map((r) => r.reason)).not.toContain('INC-510 asked while offline');
      expect(rig.agent.snapshot().requests).toEqual([]);
    } finally {
      for (const rig of rigs.splice(0)) await rig.close();
      await tcp.close();
      await h.close();
    }
  });

  it('keeps the last state, marked stale; counts down; ends the grant on time; actions say the server is out of reach and are not sent later', async () => {
    const time = new TestTime(Date.UTC(2026, 0, 5, 10, 0, 0));
    const h = await timedHarness(time);
    // The server's port stops answering (a stopped server, as the device sees it); the server itself
    // goes on, and an HTTP proxy in front of it sees every request that reaches it.
    const reaching = await startHttpProxy(h.url);
    const tcp = await startTcpProxy(reaching.url);
    try {
      const rig = track(await agentFor(h, 'alice', { clock: time.device, stream: { heartbeatMs: 3_600_000 } }, tcp.url));
      const id = value(await rig.agent.requestAccess({ resource: 'pg-prod', role: 'readonly', duration: '1h', reason: 'INC-500 offline countdown' })).id;
      await (await h.as('bob')).post(`/v1/requests/${id}/approve`, {});
      await settle(h, rig);
      await until('active with its credential', () => {
        const g = grantOf(rig, (x) => x.requestId === id);
        return g?.state === 'active' && rig.ring.items.has(accounts.grant(g.id));
      });
      const g = grantOf(rig, (x) => x.requestId === id)!;

      await tcp.down();
      await until('not live', () => rig.agent.snapshot().connection.state !== 'live');
      const stale = rig.agent.snapshot();
      expect(stale.stale).toEqual({ since: '2026-01-05T10:00:00.000Z' });
      expect(stale.grants.map((x) => x.id)).toContain(g.id);

      time.advance(10 * MIN);
      const later = rig.agent.snapshot();
      expect(countdown(g.expiresAt!, later.now, later.serverOffsetMs).text).toBe('0:50:00');
      expect(rig.tray.labels()).toContain('pg-prod/readonly — 50m left');
      expect(rig.tray.last.tooltip).toMatch(/Offline, showing data as of 10:00 UTC$/);

      const refused = await drive(time, rig.agent.extendGrant(g.id, '30m', 'INC-500 more time please'));
      expect(refused).toMatchObject({ ok: false, error: { code: 'offline' } });
      if (!refused.ok) expect(refused.error.message).toMatch(/^The Latch server at http:\/\/127\.0\.0\.1:\d+ cannot be reached \(ECONNREFUSED\), so this was not done\. Actions are not queued/);
      expect(await drive(time, rig.agent.requestAccess({ resource: 'pg-prod', role: 'admin', duration: '1h', reason: 'INC-500 asked while offline' }))).toMatchObject({ ok: false, error: { code: 'offline' } });

      time.advance(50 * MIN);
      await rig.agent.idle();
      expect(rig.notifier.shown('ended')).toHaveLength(1);
      expect(rig.ring.items.has(accounts.grant(g.id))).toBe(false);
      expect(rig.tray.labels()).toContain('pg-prod/readonly — Expired at 11:00 UTC');
      expect(flatten(rig.tray.last.menu).some((i) => i.type === 'action' && i.action.kind === 'end_grant')).toBe(false);

      // The server is back: what was refused while offline does not reach it now either.
      await h.settle();
      const sentBefore = reaching.seen.length;
      await tcp.up();
      for (let i = 0; i < 40 && rig.agent.snapshot().connection.state !== 'live'; i++) await run(time, 250, 250, h, rig);
      expect(rig.agent.snapshot().connection.state).toBe('live');
      await run(time, 10_000, 1_000, h, rig);
      const sent = reaching.seen.slice(sentBefore);
      expect(sent.filter((r) => r.method === 'GET').length).toBeGreaterThan(0);
      expect(sent.filter((r) => r.method !== 'GET')).toEqual([]);
      const cli = await h.as('alice');
      const mine = ((await cli.get('/v1/requests?scope=mine')).body as { items: { reason: string; kind: string }[] }).items;
      expect(mine.map((r) => r.reason)).toEqual(['INC-500 offline countdown']);
      expect((await cli.get(`/v1/grants/${g.id}`)).body).toMatchObject({ state: 'ended', endReason: 'expired', extensionsUsed: 0, expiresAt: g.expiresAt });
      expect(rig.agent.snapshot().requests.map((r) => r.reason)).toEqual(['INC-500 offline countdown']);
      expect(rig.notifier.shown('ended')).toHaveLength(1);
    } finally {
      for (const rig of rigs.splice(0)) await rig.close();
      await tcp.close();
      await reaching.close();
      await h.close();
    }
  });
});
