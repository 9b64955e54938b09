import { existsSync, linkSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../shared/clock.js';
import { DEFAULT_SETTINGS, readSettingsFile, SETTINGS_VERSION, type Settings } from '../shared/settings.js';
import { confBackend, SettingsError, SettingsStore, type StoreBackend } from './settings.js';
import { moduleUrl, spawnTs } from './test-support/ts-child.js';

const dirs: string[] = [];
const newDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'latch-settings-'));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const configPath = (dir: string) => join(dir, 'config.json');
const onDisk = (dir: string) => JSON.parse(readFileSync(configPath(dir), 'utf8')) as Record<string, unknown>;

/** confBackend, counting the writes. */
function counted(dir: string): StoreBackend & { writes: number } {
  const inner = confBackend({ cwd: dir });
  const backend = {
    path: inner.path,
    writes: 0,
    write(value: Record<string, unknown>) {
      backend.writes++;
      inner.write(value);
    },
  };
  return backend;
}

function settingsError(fn: () => unknown): SettingsError {
  try {
    fn();
  } catch (err) {
    if (err instanceof SettingsError) return err;
    throw err;
  }
  throw new Error('expected a SettingsError');
}

describe('settings', () => {
  it('start from the defaults: no server yet, so the app asks for one', () => {
    const dir = newDir();
    const store = SettingsStore.open(confBackend({ cwd: dir }));
    expect(store.get()).toEqual(DEFAULT_SETTINGS);
    expect(store.get().serverUrl).toBeNull();
    expect(store.get().expiryWarningLeadMs).toBe(5 * 60_000);
    expect(store.resetNotice).toBeNull();
    expect(store.path).toBe(configPath(dir));
  });

  it('update writes the file (with its version) and tells listeners; a later launch reads it back', () => {
    const dir = newDir();
    const backend = counted(dir);
    const store = SettingsStore.open(backend);
    const seen: [Settings, Settings][] = [];
    const unsubscribe = store.onChange((next, prev) => seen.push([next, prev]));

    const next = store.update({ serverUrl: 'https://jit.example.com/', notifications: { muted: true }, theme: 'dark' });
    expect(next.serverUrl).toBe('https://jit.example.com');
    expect(next.notifications).toEqual({ approvals: true, decisions: true, expiring: true, muted: true });
    expect(store.get()).toBe(next);
    expect(seen).toEqual([[next, DEFAULT_SETTINGS]]);
    expect(onDisk(dir)).toEqual({ version: SETTINGS_VERSION, ...next });

    // The same values again change nothing: no write, no event.
    store.update({ theme: 'dark' });
    expect(backend.writes).toBe(1);
    expect(seen).toHaveLength(1);
    unsubscribe();
    store.update({ startAtLogin: true });
    expect(seen).toHaveLength(1);

    expect(SettingsStore.open(confBackend({ cwd: dir })).get()).toEqual({ ...next, startAtLogin: true });
  });

  it.each([
    [{ expiryWarningLeadMs: 30_000 }, 'expiryWarningLeadMs: the expiry warning comes at least 1 minute before the end'],
    [{ expiryWarningLeadMs: 2 * 3_600_000 }, 'expiryWarningLeadMs: the expiry warning comes at most 1 hour before the end'],
    [{ theme: 'purple' }, 'theme: '],
    [{ serverUrl: 'jit.example.com' }, 'serverUrl: the server URL must be an http:// or https:// address'],
    [{ defaultDurationMs: -5 }, 'defaultDurationMs: the default duration must be positive'],
    [{ apiUrl: 'https://jit.example.com' }, 'Unrecognized key: "apiUrl"'],
    [{ notifications: { loud: true } }, 'notifications: Unrecognized key: "loud"'],
  ])('refuses %j with a clear error and writes nothing', (patch, expected) => {
    const dir = newDir();
    const backend = counted(dir);
    const store = SettingsStore.open(backend);
    let events = 0;
    store.onChange(() => events++);
    const err = settingsError(() => store.update(patch as never));
    expect(err.code).toBe('invalid_settings');
    expect(err.message).toContain(expected);
    expect(err.message).toMatch(/^settings not changed: /);
    expect(store.get()).toEqual(DEFAULT_SETTINGS);
    expect(backend.writes).toBe(0);
    expect(existsSync(configPath(dir))).toBe(false);
    expect(events).toBe(0);
  });

  it('a write that fails leaves the settings as they were', () => {
    const store = SettingsStore.open({ path: '/nowhere/config.json', write: () => { throw new Error('EACCES: permission denied'); } });
    const err = settingsError(() => store.update({ theme: 'light' }));
    expect(err.code).toBe('settings_write_failed');
    expect(err.message).toBe('settings could not be saved to /nowhere/config.json (EACCES: permission denied); the change was not applied');
    expect(store.get().theme).toBe('system');
  });

  it('two windows changing different settings within 50 ms: both persist and both are broadcast (B39)', async () => {
    const dir = newDir();
    const main = SettingsStore.open(confBackend({ cwd: dir }));
    const popup: Settings[] = [];
    const approvals: Settings[] = [];
    main.onChange((s) => popup.push(s));
    main.onChange((s) => approvals.push(s));
    // Each window sends only its intent; the main process applies them one after the other.
    const fromPopup = new Promise<Settings>((done) => setTimeout(() => done(main.update({ notifications: { muted: true } })), 0));
    const fromApprovals = new Promise<Settings>((done) => setTimeout(() => done(main.update({ defaultDurationMs: 2 * 3_600_000 })), 20));
    await Promise.all([fromPopup, fromApprovals]);
    const reopened = SettingsStore.open(confBackend({ cwd: dir })).get();
    expect(reopened.notifications.muted).toBe(true);
    expect(reopened.defaultDurationMs).toBe(2 * 3_600_000);
    expect(popup.at(-1)).toEqual(reopened);
    expect(approvals.at(-1)).toEqual(reopened);
  });
});

describe('migrations', () => {
  it('0 → 1: the prototype\'s flat file becomes the current one, and is written back', () => {
    const dir = newDir();
    writeFileSync(configPath(dir), JSON.stringify({ apiUrl: 'https://jit.example.com', muteNotifications: true, expiryWarningMinutes: 10, openAtLogin: true, theme: 'dark' }));
    const store = SettingsStore.open(confBackend({ cwd: dir }));
    expect(store.resetNotice).toBeNull();
    const expected: Settings = {
      serverUrl: 'https://jit.example.com',
      notifications: { approvals: true, decisions: true, expiring: true, muted: true },
      expiryWarningLeadMs: 10 * 60_000,
      defaultDurationMs: null,
      startAtLogin: true,
      theme: 'dark',
    };
    expect(store.get()).toEqual(expected);
    expect(onDisk(dir)).toEqual({ version: 1, ...expected });
  });

  it('a version-0 file whose values do not survive the migration is set aside like any invalid file', () => {
    expect(readSettingsFile({ expiryWarningMinutes: 600 })).toEqual({
      ok: false, problem: 'invalid', detail: 'expiryWarningLeadMs: the expiry warning comes at most 1 hour before the end',
    });
  });

  it('migrations run in order from the stored version to the current one', () => {
    const order: number[] = [];
    const step = (n: number) => (old: Record<string, unknown>) => {
      order.push(n);
      return { ...old, theme: n === 3 ? 'light' : old.theme };
    };
    const read = readSettingsFile({ version: 1, theme: 'dark' }, { 1: step(1), 2: step(2), 3: step(3) }, 3);
    expect(order).toEqual([2, 3]);
    expect(read).toMatchObject({ ok: true, migratedFrom: 1, settings: { theme: 'light' } });
  });
});

describe('a corrupt settings file (B37)', () => {
  const clock = () => new ManualClock(Date.UTC(2026, 0, 1, 9, 0, 0));
  const STAMP = '2026-01-01T09-00-00.000Z';

  it.each([
    ['0 bytes', '', 'empty', 'the file is empty'],
    ['a truncated write', '{"apiUrl":"https://jit.exa', 'unparsable', 'not valid JSON'],
    ['an invalid value', JSON.stringify({ version: 1, theme: 'purple' }), 'invalid', 'theme: '],
    ['not an object', '[1, 2]', 'not_an_object', 'does not hold a JSON object'],
    ['a newer version', JSON.stringify({ version: SETTINGS_VERSION + 1 }), 'newer_version', 'written by a newer Latch'],
  ])('%s: kept aside as config.json.corrupt-<time>, defaults restored, the user told', (_name, content, reason, detail) => {
    const dir = newDir();
    writeFileSync(configPath(dir), content);
    const store = SettingsStore.open(confBackend({ cwd: dir }), { clock: clock() });
    const keptAs = join(dir, `config.json.corrupt-${STAMP}`);
    expect(store.resetNotice).toEqual({ reason, keptAs, message: expect.stringContaining(detail) });
    expect(store.resetNotice!.message).toMatch(/reset to the defaults; the old file was kept as config\.json\.corrupt-.*sign-in and saved credentials are not affected/);
    expect(readFileSync(keptAs, 'utf8')).toBe(content);
    expect(store.get()).toEqual(DEFAULT_SETTINGS);
    expect(store.get().serverUrl).toBeNull();
    // The app goes on and writes a good file.
    store.update({ serverUrl: 'https://jit.example.com' });
    expect(onDisk(dir)).toMatchObject({ version: SETTINGS_VERSION, serverUrl: 'https://jit.example.com' });
    expect(SettingsStore.open(confBackend({ cwd: dir })).resetNotice).toBeNull();
  });

  it('a second reset in the same millisecond does not overwrite the first kept file', () => {
    const dir = newDir();
    writeFileSync(configPath(dir), '');
    SettingsStore.open(confBackend({ cwd: dir }), { clock: clock() });
    writeFileSync(configPath(dir), '{');
    const second = SettingsStore.open(confBackend({ cwd: dir }), { clock: clock() });
    expect(second.resetNotice!.keptAs).toBe(join(dir, `config.json.corrupt-${STAMP}-1`));
    expect(readFileSync(join(dir, `config.json.corrupt-${STAMP}`), 'utf8')).toBe('');
  });

  it('SIGKILL during 200 rapid writes: the file always parses and holds a write that completed', async () => {
    const round = async () => {
      const dir = newDir();
      const child = spawnTs(
        `const { SettingsStore, confBackend } = await import(${JSON.stringify(moduleUrl('src/desktop/settings.ts'))});
        const store = SettingsStore.open(confBackend({ cwd: ${JSON.stringify(dir)} }));
        const themes = ['system', 'light', 'dark'];
        for (let i = 0; i < 200; i++) {
          store.update({ expiryWarningLeadMs: 60000 + i * 1000, theme: themes[i % 3], notifications: { muted: i % 2 === 0 } });
          process.stdout.write(i + '\\n');
          await new Promise((r) => setTimeout(r, 1));
        }`,
        process.env,
      );
      let out = '';
      let stderr = '';
      const killAfter = 10 + Math.floor(Math.random() * 90);
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.split('\n').length - 1 > killAfter) child.kill('SIGKILL');
      });
      const signal = await new Promise<NodeJS.Signals | null>((done) => child.on('close', (_code, sig) => done(sig)));
      expect(stderr).toBe('');
      expect(signal).toBe('SIGKILL');
      const lastDone = Number(out.trim().split('\n').at(-1));
      expect(lastDone).toBeLessThan(199);

      const raw = onDisk(dir); // throws if the file does not parse
      expect(raw.version).toBe(SETTINGS_VERSION);
      const store = SettingsStore.open(confBackend({ cwd: dir }));
      expect(store.resetNotice).toBeNull();
      expect(store.get().expiryWarningLeadMs).toBeGreaterThanOrEqual(60_000 + lastDone * 1000);
      expect(readdirSync(dir)).toEqual(['config.json']);
    };
    for (let i = 0; i < 4; i++) await round();
  });

  it('a write replaces the file (temp file + rename), it never rewrites it in place', () => {
    const dir = newDir();
    const store = SettingsStore.open(confBackend({ cwd: dir }));
    store.update({ theme: 'light' });
    // A second name for the old file's inode: an in-place write would change what it reads.
    linkSync(configPath(dir), join(dir, 'old-inode'));
    const before = readFileSync(join(dir, 'old-inode'), 'utf8');
    store.update({ theme: 'dark' });
    expect(readFileSync(join(dir, 'old-inode'), 'utf8')).toBe(before);
    expect(statSync(configPath(dir)).ino).not.toBe(statSync(join(dir, 'old-inode')).ino);
    expect(onDisk(dir).theme).toBe('dark');
    expect(statSync(configPath(dir)).mode & 0o777).toBe(0o600);
  });

  it('opening removes temp files a killed write left behind, and nothing else', () => {
    const dir = newDir();
    writeFileSync(join(dir, 'config.json.tmp-7258000123abc123'), '{"half');
    writeFileSync(join(dir, 'config.json.tmp-notes'), 'mine');
    SettingsStore.open(confBackend({ cwd: dir }));
    expect(readdirSync(dir).sort()).toEqual(['config.json.tmp-notes']);
  });
});
