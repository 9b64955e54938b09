import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../shared/clock.js';
import { serviceAvailable } from '../server/test-support/services.js';
import { accounts, classifyKeyringError, Keychain, KeychainError, napiKeyringBackend, type KeychainState } from './keychain.js';
import { FakeKeyring, NATIVE_MESSAGES } from './test-support/fake-keyring.js';
import { moduleUrl, runTs } from './test-support/ts-child.js';

const device = accounts.device('https://jit.example.com');

async function rejection(p: Promise<unknown>): Promise<KeychainError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof KeychainError) return err;
    throw err;
  }
  throw new Error('expected a KeychainError');
}

describe('a keychain that works', () => {
  it('stores, reads and deletes secrets, and records the accounts (never the secrets) in its index', async () => {
    const ring = new FakeKeyring();
    const kc = new Keychain({ backend: ring });
    expect((await kc.open()).status).toBe('available');
    await kc.set(device, 'device-secret');
    await kc.set(accounts.grant('g1'), 'pg-password');
    expect(await kc.get(device)).toBe('device-secret');
    expect(ring.items.get(accounts.grant('g1'))).toBe('pg-password');
    expect(ring.indexed()).toEqual([device, 'grant:g1']);
    expect(ring.items.get('index')).not.toContain('secret');
    await kc.delete(accounts.grant('g1'));
    expect(await kc.get(accounts.grant('g1'))).toBeNull();
    expect(ring.indexed()).toEqual([device]);
    expect(kc.status).toBe('available');
  });

  it('a later launch finds what an earlier one stored', async () => {
    const ring = new FakeKeyring();
    await new Keychain({ backend: ring }).set(accounts.ssh('req_1'), 'PRIVATE KEY');
    const next = new Keychain({ backend: ring });
    expect(await next.list('ssh:')).toEqual(['ssh:req_1']);
    expect(await next.get('ssh:req_1')).toBe('PRIVATE KEY');
  });

  it('forgetGrant deletes the grant secret and its ssh keys (by grant and request id), nothing else', async () => {
    const ring = new FakeKeyring();
    const kc = new Keychain({ backend: ring });
    for (const account of [device, 'grant:g1', 'ssh:g1', 'ssh:r1', 'grant:g2', 'ssh:r2']) await kc.set(account, `secret of ${account}`);
    await kc.forgetGrant('g1', 'r1');
    expect([...ring.items.keys()].filter((a) => a !== 'index').sort()).toEqual([device, 'grant:g2', 'ssh:r2']);
    expect(await kc.list('')).toEqual([device, 'grant:g2', 'ssh:r2']);
  });

  it('sweepEnded deletes entries of grants that ended while the app was closed, not device credentials', async () => {
    const ring = new FakeKeyring();
    const before = new Keychain({ backend: ring });
    for (const account of [device, 'grant:g1', 'grant:g2', 'ssh:g2', 'ssh:r3']) await before.set(account, 'x');
    const onStart = new Keychain({ backend: ring });
    expect(await onStart.sweepEnded(['g1', 'r3'])).toEqual(['grant:g2', 'ssh:g2']);
    expect([...ring.items.keys()].filter((a) => a !== 'index').sort()).toEqual([device, 'grant:g1', 'ssh:r3']);
    expect(ring.indexed()).toEqual([device, 'grant:g1', 'ssh:r3']);
  });

  it('calls overlapping in time take turns, so the index keeps every account', async () => {
    const ring = new FakeKeyring();
    ring.delayMs = 5;
    const kc = new Keychain({ backend: ring });
    await Promise.all(['grant:a', 'grant:b', 'grant:c', 'ssh:a'].map((a) => kc.set(a, 's')));
    expect(ring.indexed()).toEqual(['grant:a', 'grant:b', 'grant:c', 'ssh:a']);
  });

  it('refuses account names that are not <kind>:<id> (the index account among them)', async () => {
    const kc = new Keychain({ backend: new FakeKeyring() });
    expect(() => kc.get('index')).toThrow(/not a keychain account name/);
  });
});

describe('a keyring that never answers (B34b)', () => {
  it('times out with keychain_timeout, and later calls answer at once without touching it', async () => {
    const ring = new FakeKeyring('hangs');
    const kc = new Keychain({ backend: ring, timeoutMs: 150 });
    const started = Date.now();
    const err = await rejection(kc.get(device));
    expect(err.code).toBe('keychain_timeout');
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(kc.state.status).toBe('timeout');
    expect(kc.state.message).toMatch(/did not answer within 0\.15 s .*unlock your keyring/);

    // The app goes on: a new sign-in is kept for this session, instantly.
    const t = Date.now();
    await kc.set(device, 'new-token');
    expect(await kc.get(device)).toBe('new-token');
    expect((await rejection(kc.get(accounts.grant('g1')))).code).toBe('keychain_timeout');
    expect(Date.now() - t).toBeLessThan(50);
    expect(ring.calls).toEqual([`get ${device}`]);
  });

  it('the default deadline is 5 s', async () => {
    const clock = new ManualClock();
    const kc = new Keychain({ backend: new FakeKeyring('hangs'), clock });
    let settled: unknown = 'pending';
    const read = kc.get(device).then(
      (v) => (settled = v),
      (e: unknown) => (settled = e),
    );
    await new Promise((r) => setTimeout(r, 10));
    clock.advance(4_999);
    await new Promise((r) => setTimeout(r, 10));
    expect(settled).toBe('pending');
    clock.advance(1);
    await read;
    expect((settled as KeychainError).code).toBe('keychain_timeout');
  });

  it('calls queued behind the hung one go to memory when it times out: one attempt, one prompt', async () => {
    const ring = new FakeKeyring('hangs');
    const kc = new Keychain({ backend: ring, timeoutMs: 100 });
    const results = await Promise.allSettled([kc.open(), kc.set('grant:g1', 's1'), kc.get('grant:g1')]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
    expect((results[2] as PromiseFulfilledResult<string | null>).value).toBe('s1');
    expect(ring.calls).toEqual(['get index']);
  });
});

describe('a locked keyring (B34c)', () => {
  it('asks to unlock, is not "signed out": nothing deleted, no second prompt; retry after unlocking restores the session', async () => {
    const ring = new FakeKeyring();
    await new Keychain({ backend: ring }).set(device, 'stored-token');
    ring.mode = 'locked';
    ring.calls.length = 0;

    const kc = new Keychain({ backend: ring });
    const seen: KeychainState[] = [];
    kc.onStatus((s) => seen.push(s));
    expect((await kc.open()).status).toBe('locked');
    expect(kc.state.message).toContain('unlock your keyring');
    expect(kc.state.detail).toBe(NATIVE_MESSAGES.locked);
    for (let i = 0; i < 3; i++) expect((await rejection(kc.get(device))).code).toBe('keychain_locked');
    expect(ring.calls).toEqual(['get index']);
    expect(ring.items.get(device)).toBe('stored-token');

    ring.mode = 'works';
    expect((await kc.retry()).status).toBe('available');
    expect(await kc.get(device)).toBe('stored-token');
    expect(seen.map((s) => s.status)).toEqual(['locked', 'available']);
  });
});

describe('keychain access denied (B36)', () => {
  it('says "sign in again", deletes nothing, does not prompt again; the new sign-in moves to the keychain once access is allowed', async () => {
    const ring = new FakeKeyring();
    await new Keychain({ backend: ring }).set(device, 'old-token');
    await new Keychain({ backend: ring }).set('grant:g1', 'pg-password');
    ring.mode = 'denied';
    ring.calls.length = 0;

    const kc = new Keychain({ backend: ring });
    const err = await rejection(kc.get(device));
    expect(err.code).toBe('keychain_denied');
    expect(kc.state.message).toMatch(/^keychain access denied, sign in again/);
    // Signing in again, forgetting a grant: all in memory, and no further prompt.
    await kc.set(device, 'new-token');
    await kc.forgetGrant('g1');
    expect(await kc.get(device)).toBe('new-token');
    expect(await kc.get('grant:g1')).toBeNull();
    expect(ring.calls).toEqual([`get ${device}`]);
    expect(ring.items.get(device)).toBe('old-token');
    expect(ring.items.get('grant:g1')).toBe('pg-password');

    ring.mode = 'works';
    expect((await kc.retry()).status).toBe('available');
    expect(ring.items.get(device)).toBe('new-token');
    expect(ring.items.has('grant:g1')).toBe(false);
    expect(ring.indexed()).toEqual([device]);
  });

  it('retry() is the only way to try again, and one that still fails keeps everything in memory', async () => {
    const ring = new FakeKeyring('denied');
    const kc = new Keychain({ backend: ring });
    await kc.open();
    await kc.set(device, 't');
    expect(ring.calls).toEqual(['get index']);
    expect((await kc.retry()).status).toBe('denied');
    expect(ring.calls).toEqual(['get index', 'get index']);
    expect(await kc.get(device)).toBe('t');
  });
});

describe('no keychain at all (B34a, with a fake)', () => {
  it('says so plainly, keeps secrets in memory for the session, and reads of anything else are null', async () => {
    const ring = new FakeKeyring('unavailable');
    const kc = new Keychain({ backend: ring });
    const seen: string[] = [];
    const unsubscribe = kc.onStatus((s) => seen.push(s.message));
    await kc.open();
    expect(kc.state).toEqual({
      status: 'unavailable',
      message: 'secure storage unavailable: no Secret Service; secrets kept in memory for this session only',
      detail: NATIVE_MESSAGES.unavailable,
    });
    await kc.set(device, 'token');
    expect(await kc.get(device)).toBe('token');
    expect(await kc.get('grant:other')).toBeNull();
    expect(await kc.list('device:')).toEqual([device]);
    unsubscribe();
    ring.mode = 'locked';
    await kc.retry();
    expect(seen).toHaveLength(1);
    expect(ring.items.size).toBe(0);
  });
});

describe('classifyKeyringError', () => {
  it.each([
    [NATIVE_MESSAGES.unavailable, 'unavailable'],
    ['Platform failure: DBus error: Failed to connect to socket /run/user/1000/bus: No such file or directory', 'unavailable'],
    ['Platform failure: DBus error: The name org.freedesktop.secrets was not provided by any .service files', 'unavailable'],
    [NATIVE_MESSAGES.locked, 'locked'],
    ["Couldn't access platform storage: User interaction is not allowed.", 'locked'],
    [NATIVE_MESSAGES.denied, 'denied'],
    ["Couldn't access platform storage: User canceled the operation.", 'denied'],
    ['Platform failure: No keychain is available. You may need to restart your computer.', 'unavailable'],
    ['Attribute password is longer than platform limit of 2560 chars', 'failed'],
  ])('%s → %s', (message, kind) => {
    expect(classifyKeyringError(new Error(message)).kind).toBe(kind);
  });
});

// ---- the real keychain -------------------------------------------------------------------------

/** Entries go under their own service, so a developer's real `Latch` entries are never touched. */
const TEST_SERVICE = `Latch-test-${randomUUID().slice(0, 8)}`;

/** null when the OS keychain stores, returns and deletes an entry within 5 s each. */
async function probeKeychain(): Promise<string | null> {
  const backend = napiKeyringBackend({ service: TEST_SERVICE });
  const within5s = <T>(p: Promise<T>) => Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer within 5 s (locked?)')), 5_000).unref())]);
  const signal = new AbortController().signal;
  try {
    await within5s(backend.set('probe:1', 'probe', signal));
    const back = await within5s(backend.get('probe:1', signal));
    await within5s(backend.delete('probe:1', signal));
    return back === 'probe' ? null : 'an OS keychain that reads back what was stored';
  } catch (err) {
    return `an OS keychain answering within 5 s, e.g. gnome-keyring under dbus-run-session (${(err instanceof Error ? err.message : String(err)).split('\n')[0]!})`;
  }
}

const realKeychain = serviceAvailable('desktop keychain (Secret Service)', await probeKeychain());

describe.runIf(realKeychain)('the real OS keychain', () => {
  const backend = napiKeyringBackend({ service: TEST_SERVICE });
  afterAll(async () => {
    const kc = new Keychain({ backend });
    for (const account of await kc.list('')) await kc.delete(account);
    await backend.delete('index', new AbortController().signal);
  });

  it('round trip, forgetGrant and sweepEnded, as seen by a later launch', async () => {
    const kc = new Keychain({ backend });
    expect((await kc.open()).status).toBe('available');
    await kc.set(device, 'device-token');
    for (const account of ['grant:g1', 'ssh:g1', 'ssh:r1', 'grant:g2', 'grant:g3']) await kc.set(account, `secret of ${account}`);
    expect(await kc.get('grant:g1')).toBe('secret of grant:g1');

    await kc.forgetGrant('g1', 'r1');
    const later = new Keychain({ backend });
    expect(await later.list('')).toEqual([device, 'grant:g2', 'grant:g3']);
    expect(await later.get('ssh:r1')).toBeNull();
    expect(await later.sweepEnded(['g3'])).toEqual(['grant:g2']);
    expect(await later.get('grant:g2')).toBeNull();
    expect(await later.get('grant:g3')).toBe('secret of grant:g3');
    expect(await later.get(device)).toBe('device-token');

    await later.delete(device);
    expect(await new Keychain({ backend }).get(device)).toBeNull();
    expect(later.status).toBe('available');
  });
});

describe('no D-Bus session (B34a, the real adapter in its own process)', () => {
  it('reports "unavailable", keeps the token in memory and writes nothing to disk', async () => {
    const root = mkdtempSync(join(tmpdir(), 'latch-nodbus-'));
    const dirs = { HOME: 'home', XDG_CONFIG_HOME: 'config', XDG_DATA_HOME: 'data', XDG_CACHE_HOME: 'cache', XDG_STATE_HOME: 'state', XDG_RUNTIME_DIR: 'run', TMPDIR: 'tmp' };
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.DBUS_SESSION_BUS_ADDRESS;
    delete env.DISPLAY;
    for (const [name, dir] of Object.entries(dirs)) {
      mkdirSync(join(root, dir), { mode: 0o700 });
      env[name] = join(root, dir);
    }
    const token = `lrt_${randomUUID()}`;
    try {
      const run = await runTs(
        `const { Keychain, napiKeyringBackend, accounts } = await import(${JSON.stringify(moduleUrl('src/desktop/keychain.ts'))});
        const kc = new Keychain({ backend: napiKeyringBackend() });
        const opened = await kc.open();
        await kc.set(accounts.device('https://jit.example.com'), ${JSON.stringify(token)});
        const back = await kc.get(accounts.device('https://jit.example.com'));
        console.log(JSON.stringify({ opened, back, other: await kc.get(accounts.grant('g1')) }));`,
        env,
      );
      expect(run.stderr).toBe('');
      const out = JSON.parse(run.stdout) as { opened: KeychainState; back: string; other: null };
      expect(out.opened.status).toBe('unavailable');
      expect(out.opened.message).toBe('secure storage unavailable: no Secret Service; secrets kept in memory for this session only');
      expect(out.opened.detail).toMatch(/DBus/);
      expect(out.back).toBe(token);
      expect(out.other).toBeNull();
      for (const dir of Object.values(dirs)) expect(readdirSync(join(root, dir), { recursive: true }), dir).toEqual([]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
