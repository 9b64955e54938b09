/**
 * The settings file (DESIGN.md "Desktop agent"): `config.json`, read and checked here, written
 * through conf in Node tests and electron-store (which extends conf) in the app.
 *
 * The main process is the single writer (B39): one SettingsStore lives there; windows send
 * intents (`updateSettings(patch)`) over IPC and receive the result through `onChange`, they never
 * write the file or send the whole object back. `update` is a synchronous read-modify-write of
 * the copy held here, so two patches arriving together are applied one after the other and both
 * persist, whatever their order.
 *
 * Validation and migrations are ours (src/shared/settings.ts), not conf's: conf's constructor
 * throws on a file it cannot parse, or with `clearInvalidConfig` wipes it silently, and its
 * migrations are keyed by the app's semver and run before anyone can look at the file. So the
 * file is read and checked here first, a bad one is set aside as `config.json.corrupt-<time>`
 * with defaults restored and a notice for the user (B37), and conf or electron-store is opened
 * only to write, which it does atomically (temp file, fsync, rename).
 */
import { existsSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import Conf from 'conf';
import { systemClock, type Clock } from '../shared/clock.js';
import {
  applySettingsPatch, DEFAULT_SETTINGS, readSettingsFile, SETTINGS_VERSION, type Settings, type SettingsFileProblem, type SettingsPatch,
} from '../shared/settings.js';

/** Where settings are written. */
export interface StoreBackend {
  /** The settings file, absolute. SettingsStore reads and checks it before the first write. */
  readonly path: string;
  /** Replaces the whole file, atomically: after a crash it holds the old or the new content. */
  write(value: Record<string, unknown>): void;
}

/** The part of conf (and electron-store, its subclass) the backend uses. */
export interface ConfLike {
  store: Record<string, unknown>;
}

/**
 * A backend over conf or electron-store. `create` runs at the first write, after the file was
 * checked: their constructors read the file and throw on one they cannot parse. Create them with
 * no `schema`, `defaults`, `migrations` or `clearInvalidConfig`: SettingsStore does that part.
 * (In the app: `confLikeBackend(join(app.getPath('userData'), 'config.json'), () => new ElectronStore({ configFileMode: 0o600 }))`.)
 */
export function confLikeBackend(path: string, create: () => ConfLike): StoreBackend {
  let store: ConfLike | undefined;
  return {
    path,
    write(value) {
      store ??= create();
      // conf writes with `atomically` (temp file, fsync, rename) except under Snap ($SNAP), where
      // it writes in place (sindresorhus/conf#82); we ship no snap.
      store.store = value;
    },
  };
}

/** The settings file `<cwd>/<configName>.json` through conf@15, as in Node tests. */
export function confBackend(opts: { cwd: string; configName?: string }): StoreBackend {
  const configName = opts.configName ?? 'config';
  return confLikeBackend(resolve(opts.cwd, `${configName}.json`), () => new Conf<Record<string, unknown>>({ cwd: opts.cwd, configName, configFileMode: 0o600 }));
}

export type ResetReason = 'empty' | 'unparsable' | SettingsFileProblem;

/** Shown once, without blocking: the settings file was unreadable and defaults are in use (B37). */
export interface ResetNotice {
  reason: ResetReason;
  /** Where the unreadable file was moved to; null if it could not be moved (the app starts anyway). */
  keptAs: string | null;
  /** For the person: what happened and what they may need to do. */
  message: string;
}

export type SettingsErrorCode = 'invalid_settings' | 'settings_write_failed';

export class SettingsError extends Error {
  constructor(
    readonly code: SettingsErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'SettingsError';
  }
}

export type SettingsListener = (next: Settings, previous: Settings) => void;

export class SettingsStore {
  private current: Settings;
  private readonly listeners = new Set<SettingsListener>();

  private constructor(
    private readonly backend: StoreBackend,
    settings: Settings,
    /** Non-null when the file could not be used this launch; the UI shows it once. */
    readonly resetNotice: ResetNotice | null,
  ) {
    this.current = freeze(settings);
  }

  /**
   * Reads the settings file: migrates an older one (and writes it back in the current version);
   * sets aside one that is empty, unparsable, invalid or from a newer version and uses the
   * defaults. Never throws for the file's content.
   */
  static open(backend: StoreBackend, opts: { clock?: Clock } = {}): SettingsStore {
    const clock = opts.clock ?? systemClock;
    removeStaleTemps(backend.path);
    const found = inspect(backend.path);
    if (found.kind === 'missing') return new SettingsStore(backend, DEFAULT_SETTINGS, null);
    if (found.kind === 'ok') {
      const store = new SettingsStore(backend, found.settings, null);
      try {
        if (found.migratedFrom !== null) store.persist(store.current);
      } catch {
        // Not fatal: the file is migrated again next time, and the next update reports the failure.
      }
      return store;
    }
    const keptAs = setAside(backend.path, clock.now());
    const kept = keptAs === null ? 'the old file could not be moved aside and will be replaced' : `the old file was kept as ${basename(keptAs)}`;
    const message = `Your settings could not be read (${found.detail}) and were reset to the defaults; ${kept}. Your sign-in and saved credentials are not affected.`;
    return new SettingsStore(backend, DEFAULT_SETTINGS, { reason: found.kind, keptAs, message });
  }

  get path(): string {
    return this.backend.path;
  }

  /** The current settings; frozen, so hand it out freely. */
  get(): Settings {
    return this.current;
  }

  /**
   * Applies a patch (only the keys that change; `notifications` may be partial), writes the file
   * and notifies listeners. A patch with an unknown key or a bad value throws
   * `SettingsError('invalid_settings')` naming each problem, and nothing is written.
   */
  update(patch: SettingsPatch): Settings {
    const applied = applySettingsPatch(this.current, patch);
    if (!applied.ok) throw new SettingsError('invalid_settings', `settings not changed: ${applied.detail}`);
    const next = freeze(applied.settings);
    if (isDeepStrictEqual(next, this.current)) return this.current;
    this.persist(next);
    const previous = this.current;
    this.current = next;
    for (const listener of [...this.listeners]) listener(next, previous);
    return next;
  }

  /** Called after each change that was written; returns the unsubscribe function. */
  onChange(listener: SettingsListener): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  private persist(settings: Settings): void {
    try {
      this.backend.write({ version: SETTINGS_VERSION, ...settings });
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new SettingsError('settings_write_failed', `settings could not be saved to ${this.backend.path} (${why}); the change was not applied`);
    }
  }
}

type Inspected =
  | { kind: 'missing' }
  | { kind: 'ok'; settings: Settings; migratedFrom: number | null }
  | { kind: ResetReason; detail: string };

function inspect(path: string): Inspected {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    throw err;
  }
  if (text.trim() === '') return { kind: 'empty', detail: 'the file is empty' };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { kind: 'unparsable', detail: `not valid JSON: ${(err as Error).message}` };
  }
  const read = readSettingsFile(raw);
  return read.ok ? { kind: 'ok', settings: read.settings, migratedFrom: read.migratedFrom } : { kind: read.problem, detail: read.detail };
}

/** Renames the file to `<name>.corrupt-<UTC time>` (no `:`, which Windows refuses); returns the new path. */
function setAside(path: string, now: number): string | null {
  const stamp = new Date(now).toISOString().replace(/:/g, '-');
  let target = `${path}.corrupt-${stamp}`;
  for (let n = 1; existsSync(target); n++) target = `${path}.corrupt-${stamp}-${n}`;
  try {
    renameSync(path, target);
    return target;
  } catch {
    // Held open elsewhere (Windows) or a read-only directory: start anyway (B37).
    return null;
  }
}

/**
 * A write killed between creating its temp file and the rename leaves `<name>.tmp-<digits>`
 * behind (atomically's naming); the single writer removes them when it opens the file.
 */
function removeStaleTemps(path: string): void {
  const name = basename(path);
  let entries: string[];
  try {
    entries = readdirSync(dirname(path));
  } catch {
    return;
  }
  for (const entry of entries) {
    if (entry.startsWith(`${name}.tmp-`) && /^\d{10}[0-9a-f]{6}$/.test(entry.slice(name.length + 5))) rmSync(join(dirname(path), entry), { force: true });
  }
}

function freeze(settings: Settings): Settings {
  return Object.freeze({ ...settings, notifications: Object.freeze({ ...settings.notifications }) });
}
