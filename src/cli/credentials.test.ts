import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CredentialStore, keychainCall, openKeychainEntry, type DeviceCredential, type KeychainEntry } from './credentials.js';

const homes: string[] = [];
const newHome = () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'latch-cred-')), 'home');
  homes.push(dir);
  return dir;
};
afterEach(() => {
  for (const h of homes.splice(0)) rmSync(join(h, '..'), { recursive: true, force: true });
});

const cred = (server = 'http://127.0.0.1:7300', n = 1): DeviceCredential => ({
  server, accessToken: `access-${n}-${randomUUID()}`, refreshToken: `lrt_${randomUUID()}`, accessExpiresAt: new Date(Date.now() + 900_000).toISOString(), user: 'alice', deviceId: 'dev_0123456789abcdef',
});
const mode = (path: string) => statSync(path).mode & 0o777;

/** An in-memory keychain, or one whose every call fails or never answers. */
function fakeKeychain(behaviour: 'works' | 'hangs' | 'absent') {
  const items = new Map<string, string>();
  const open = (account: string): KeychainEntry => {
    if (behaviour === 'absent') throw new Error('Platform failure: DBus error: no session bus');
    const never = () => new Promise<never>(() => undefined);
    if (behaviour === 'hangs') return { setPassword: never, getPassword: never, deleteCredential: never };
    return {
      setPassword: async (p) => void items.set(account, p),
      getPassword: async () => items.get(account) ?? null,
      deleteCredential: async () => items.delete(account),
    };
  };
  return { items, open };
}

describe('the credential file (LATCH_KEYCHAIN=off)', () => {
  it('keeps the credential in a 0600 file inside a 0700 LATCH_HOME, and says so', async () => {
    const home = newHome();
    const store = new CredentialStore({ home, keychain: false });
    const c = cred();
    const saved = await store.save(c);
    expect(saved.where).toBe('file');
    expect(saved.message).toContain('LATCH_KEYCHAIN=off');
    expect(saved.message).toContain(`${join(home, 'credentials.json')} (mode 0600)`);
    expect(mode(join(home, 'credentials.json'))).toBe(0o600);
    expect(mode(home)).toBe(0o700);
    expect(await store.load()).toEqual(c);
    expect(store.currentServer()).toBe(c.server);
    // The pointer file names the server and the store, never a secret.
    const pointer = readFileSync(join(home, 'cli.json'), 'utf8');
    expect(pointer).toContain(c.server);
    expect(pointer).not.toContain(c.accessToken);
    expect(pointer).not.toContain(c.refreshToken);
  });

  it('keeps one credential per server; the last login is current; remove forgets only that one', async () => {
    const home = newHome();
    const store = new CredentialStore({ home, keychain: false });
    const a = cred('http://a.example:7300', 1);
    const b = cred('http://b.example:7300', 2);
    await store.save(a);
    await store.save(b);
    expect(store.currentServer()).toBe(b.server);
    expect(await store.load(a.server)).toEqual(a);
    expect(await store.remove(b.server)).toContain('credentials.json');
    expect(await store.load(b.server)).toBeNull();
    expect(store.currentServer()).toBeNull();
    expect(await store.load(a.server)).toEqual(a);
    await store.remove(a.server);
    expect(existsSync(join(home, 'credentials.json'))).toBe(false);
  });

  it('a refreshed credential replaces the old one and the file stays 0600', async () => {
    const home = newHome();
    const store = new CredentialStore({ home, keychain: false });
    const first = cred();
    await store.save(first);
    const next = { ...first, accessToken: 'rotated', refreshToken: 'lrt_rotated' };
    await store.save(next);
    expect(await store.load()).toEqual(next);
    expect(readFileSync(join(home, 'credentials.json'), 'utf8')).not.toContain(first.refreshToken);
    expect(mode(join(home, 'credentials.json'))).toBe(0o600);
  });

  it('refresh lock: two holders never overlap', async () => {
    const store = new CredentialStore({ home: newHome(), keychain: false });
    const log: string[] = [];
    const hold = (name: string) => store.withRefreshLock(async () => {
      log.push(`${name} in`);
      await new Promise((r) => setTimeout(r, 100));
      log.push(`${name} out`);
    });
    await Promise.all([hold('a'), hold('b')]);
    expect([['a in', 'a out', 'b in', 'b out'], ['b in', 'b out', 'a in', 'a out']]).toContainEqual(log);
  });
});

describe('choosing the keychain or the file', () => {
  it('uses the keychain when it answers, and writes no file', async () => {
    const home = newHome();
    const kc = fakeKeychain('works');
    const store = new CredentialStore({ home, keychain: true, openEntry: kc.open });
    const c = cred();
    expect(await store.save(c)).toEqual({ where: 'keychain', message: 'credential stored in the OS keychain' });
    expect(kc.items.has(`cli:${c.server}`)).toBe(true);
    expect(existsSync(join(home, 'credentials.json'))).toBe(false);
    expect(await store.load()).toEqual(c);
    expect(await store.remove(c.server)).toBe('credential removed from the OS keychain');
    expect(kc.items.size).toBe(0);
  });

  it('falls back to the file when no keychain is reachable, naming why', async () => {
    const home = newHome();
    const store = new CredentialStore({ home, keychain: true, openEntry: fakeKeychain('absent').open });
    const saved = await store.save(cred());
    expect(saved.where).toBe('file');
    expect(saved.message).toMatch(/^no OS keychain reachable \(Platform failure: DBus error: no session bus\); credential stored in .*credentials\.json \(mode 0600\)$/);
  });

  it('gives up on a keychain that does not answer (a locked keyring) and falls back to the file', async () => {
    const home = newHome();
    const store = new CredentialStore({ home, keychain: true, timeoutMs: 100, openEntry: fakeKeychain('hangs').open });
    const started = Date.now();
    const saved = await store.save(cred());
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(saved.where).toBe('file');
    expect(saved.message).toMatch(/did not answer within 0\.1 s/);
    expect(store.hung).toBe(true);
  });

  it('a keychain copy that cannot be read says what to do instead of "not logged in"', async () => {
    const home = newHome();
    const c = cred();
    await new CredentialStore({ home, keychain: true, openEntry: fakeKeychain('works').open }).save(c);
    const locked = new CredentialStore({ home, keychain: true, timeoutMs: 100, openEntry: fakeKeychain('hangs').open });
    await expect(locked.load()).rejects.toThrow(/did not answer within 0\.1 s .*unlock it, or sign in again with `latch login/);
  });
});

/** null when a Secret Service (or the platform keychain) stores, returns and deletes an entry. */
async function probeKeychain(): Promise<string | null> {
  const account = `probe:${randomUUID()}`;
  try {
    await keychainCall((signal) => openKeychainEntry(account).setPassword('probe', signal));
    const back = await keychainCall((signal) => openKeychainEntry(account).getPassword(signal));
    await keychainCall((signal) => openKeychainEntry(account).deleteCredential(signal));
    return back === 'probe' ? null : 'the entry read back differs';
  } catch (err) {
    return (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
  }
}

const missing = await probeKeychain();
const strict = process.env.LATCH_TEST_STRICT === '1';
const MISSING_WHAT = 'Secret Service (gnome-keyring under dbus-run-session)';
if (missing !== null && !strict) console.warn(`skipping the OS keychain round trip: no ${MISSING_WHAT} reachable (${missing})`);

// Skipped only outside strict mode; under LATCH_TEST_STRICT=1 a missing keychain fails the suite.
describe.skipIf(missing !== null && !strict)('the real OS keychain', () => {
  beforeAll(() => {
    if (missing !== null) throw new Error(`LATCH_TEST_STRICT=1 needs a ${MISSING_WHAT}; it is not reachable: ${missing}`);
  });

  it('stores, loads and removes the credential there, with no file written', async () => {
    const home = newHome();
    const store = new CredentialStore({ home, keychain: true });
    const c = cred(`http://keychain-test-${randomUUID().slice(0, 8)}.invalid:7300`);
    expect((await store.save(c)).where).toBe('keychain');
    expect(existsSync(join(home, 'credentials.json'))).toBe(false);
    expect(await new CredentialStore({ home, keychain: true }).load()).toEqual(c);
    expect(await keychainCall((s) => openKeychainEntry(`cli:${c.server}`).getPassword(s))).toContain(c.refreshToken);
    await store.remove(c.server);
    expect(await keychainCall((s) => openKeychainEntry(`cli:${c.server}`).getPassword(s))).toBeNull();
  });
});
