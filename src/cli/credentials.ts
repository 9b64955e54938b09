/**
 * Where the CLI keeps its device credential: the OS keychain when one answers, else a 0600 file
 * `$LATCH_HOME/credentials.json` — and it always says which. `$LATCH_HOME/cli.json` (no secrets)
 * records the current server and where each server's credential lives.
 *
 * Unlike the desktop app (DESIGN.md "Desktop agent"), the CLI cannot keep secrets in memory for a
 * session — each command is its own process — so without a keychain it falls back to a file, the
 * way ssh keys and kubeconfigs live, and says so plainly.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { AsyncEntry } from '@napi-rs/keyring';
import { z } from 'zod';
import { own } from '../shared/own.js';
import { CliError } from './errors.js';
import { latchHome } from './paths.js';

export const deviceCredentialSchema = z.object({
  server: z.string(),
  accessToken: z.string(),
  refreshToken: z.string(),
  /** ISO-8601; when the access token stops working (it is refreshed on the server's word, not this). */
  accessExpiresAt: z.string(),
  user: z.string(),
  deviceId: z.string(),
});
export type DeviceCredential = z.infer<typeof deviceCredentialSchema>;

export type Where = 'keychain' | 'file';

const pointerSchema = z.object({
  current: z.string().nullable(),
  servers: z.record(z.string(), z.object({ store: z.enum(['keychain', 'file']), user: z.string() })),
});
type Pointer = z.infer<typeof pointerSchema>;
const fileSchema = z.object({ credentials: z.record(z.string(), deviceCredentialSchema) });

/** The part of `@napi-rs/keyring`'s AsyncEntry the store uses (tests pass a fake one). */
export interface KeychainEntry {
  setPassword(password: string, signal?: AbortSignal | null): Promise<void>;
  getPassword(signal?: AbortSignal | null): Promise<string | null>;
  deleteCredential(signal?: AbortSignal | null): Promise<boolean>;
}

export const KEYCHAIN_SERVICE = 'Latch';
export const KEYCHAIN_TIMEOUT_MS = 5_000;

// Pinned to the Secret Service on Linux: the default falls back to the kernel keyring, which
// forgets everything at reboot (DESIGN.md "Desktop agent"). Ignored on macOS and Windows.
export const openKeychainEntry = (account: string): KeychainEntry => new AsyncEntry(KEYCHAIN_SERVICE, account, { linux: { store: 'secret-service' } });

export class KeychainTimeout extends Error {
  constructor(ms: number) {
    super(`the OS keychain did not answer within ${ms / 1000} s (is it locked?)`);
  }
}

/**
 * Runs one keychain call with a deadline: a locked keyring can wait forever on an unlock prompt
 * nobody sees. The entry is created inside, since its constructor throws when there is no D-Bus.
 */
export async function keychainCall<T>(fn: (signal: AbortSignal) => Promise<T>, ms = KEYCHAIN_TIMEOUT_MS): Promise<T> {
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      abort.abort();
      reject(new KeychainTimeout(ms));
    }, ms);
  });
  try {
    return await Promise.race([Promise.resolve().then(() => fn(abort.signal)), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** One line from a keyring error (some carry the whole D-Bus story). */
function shortReason(err: unknown): string {
  const text = (err instanceof Error ? err.message : String(err)).split('\n')[0]!.trim();
  return text.length > 120 ? `${text.slice(0, 117)}…` : text;
}

export const displayPath = (path: string) => (path.startsWith(homedir() + '/') ? `~${path.slice(homedir().length)}` : path);

export interface CredentialStoreOptions {
  home: string;
  /** false: always the file (`LATCH_KEYCHAIN=off`). */
  keychain: boolean;
  timeoutMs?: number;
  openEntry?: (account: string) => KeychainEntry;
}

export class CredentialStore {
  /** Set once a keychain call timed out: its native call may still hold the process open. */
  hung = false;
  private readonly timeoutMs: number;
  private readonly openEntry: (account: string) => KeychainEntry;

  constructor(private readonly opts: CredentialStoreOptions) {
    this.timeoutMs = opts.timeoutMs ?? KEYCHAIN_TIMEOUT_MS;
    this.openEntry = opts.openEntry ?? openKeychainEntry;
  }

  static fromEnv(): CredentialStore {
    return new CredentialStore({ home: latchHome(), keychain: process.env.LATCH_KEYCHAIN !== 'off' });
  }

  get filePath(): string {
    return join(this.opts.home, 'credentials.json');
  }

  private get pointerPath(): string {
    return join(this.opts.home, 'cli.json');
  }

  /** The server `latch login` last signed in to, if its credential is still recorded. */
  currentServer(): string | null {
    const p = this.readPointer();
    return p.current !== null && own(p.servers, p.current) ? p.current : null;
  }

  /** Where the credential of `server` is kept, if there is one. */
  whereIs(server: string): Where | null {
    return own(this.readPointer().servers, server)?.store ?? null;
  }

  /** Stores the credential and makes its server the current one; returns a line saying where. */
  async save(cred: DeviceCredential): Promise<{ where: Where; message: string }> {
    let why = 'LATCH_KEYCHAIN=off';
    if (this.opts.keychain) {
      try {
        await this.keychain((signal) => this.openEntry(account(cred.server)).setPassword(JSON.stringify(cred), signal));
        // A plaintext copy from an earlier fallback must not outlive the keychain copy.
        this.updateFile((creds) => delete creds[cred.server]);
        this.recordPointer(cred, 'keychain');
        return { where: 'keychain', message: 'credential stored in the OS keychain' };
      } catch (err) {
        why = err instanceof KeychainTimeout ? err.message : `no OS keychain reachable (${shortReason(err)})`;
      }
    }
    this.updateFile((creds) => void (creds[cred.server] = cred));
    this.recordPointer(cred, 'file');
    return { where: 'file', message: `${why}; credential stored in ${displayPath(this.filePath)} (mode 0600)` };
  }

  /** The credential for `server` (default: the current one), or null when not signed in there. */
  async load(server: string | null = this.currentServer()): Promise<DeviceCredential | null> {
    if (server === null) return null;
    const where = this.whereIs(server);
    if (where === null) return null;
    if (where === 'keychain' && !this.opts.keychain) {
      throw new CliError(`the credential for ${server} is in the OS keychain but LATCH_KEYCHAIN=off; unset it, or sign in again with \`latch login --server ${server} --code CODE\``);
    }
    if (where === 'keychain') {
      let text: string | null;
      try {
        text = await this.keychain((signal) => this.openEntry(account(server)).getPassword(signal));
      } catch (err) {
        const why = err instanceof KeychainTimeout ? err.message : `the OS keychain could not be read (${shortReason(err)})`;
        throw new CliError(`${why}; unlock it, or sign in again with \`latch login --server ${server} --code CODE\``);
      }
      const parsed = text === null ? null : deviceCredentialSchema.safeParse(safeJson(text));
      return parsed?.success ? parsed.data : null;
    }
    return own(this.readFile(), server) ?? null;
  }

  /** Forgets the credential for `server`; returns a line saying what was removed. */
  async remove(server: string): Promise<string> {
    const where = this.whereIs(server);
    let message = `credential removed from ${displayPath(this.filePath)}`;
    if (where === 'keychain' && !this.opts.keychain) message = `LATCH_KEYCHAIN=off, so its OS keychain entry "${account(server)}" was left in place`;
    else if (where === 'keychain') {
      try {
        await this.keychain((signal) => this.openEntry(account(server)).deleteCredential(signal));
        message = 'credential removed from the OS keychain';
      } catch (err) {
        message = `could not remove the credential from the OS keychain (${err instanceof KeychainTimeout ? err.message : shortReason(err)}); delete the "${KEYCHAIN_SERVICE}" entry "${account(server)}" by hand`;
      }
    }
    this.updateFile((creds) => delete creds[server]);
    const p = this.readPointer();
    delete p.servers[server];
    if (p.current === server) p.current = null;
    writePrivate(this.opts.home, this.pointerPath, p);
    return message;
  }

  /**
   * Runs `fn` holding `$LATCH_HOME/refresh.lock`. Refresh tokens rotate and a reused one signs the
   * device out (src/server/auth/tokens.ts), so two commands refreshing at once must take turns.
   */
  async withRefreshLock<T>(fn: () => Promise<T>, waitMs = 15_000): Promise<T> {
    ensureDir(this.opts.home);
    const lock = join(this.opts.home, 'refresh.lock');
    const until = Date.now() + waitMs;
    for (;;) {
      try {
        closeSync(openSync(lock, 'wx', 0o600));
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        // A lock left by a killed process is taken over once it is clearly stale.
        if (Date.now() - statMtime(lock) > 30_000) rmSync(lock, { force: true });
        else if (Date.now() > until) throw new CliError(`another latch command is refreshing the sign-in (${displayPath(lock)}); try again, or delete that file if none is running`);
        else await new Promise((r) => setTimeout(r, 50));
      }
    }
    try {
      return await fn();
    } finally {
      rmSync(lock, { force: true });
    }
  }

  private async keychain<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    try {
      return await keychainCall(fn, this.timeoutMs);
    } catch (err) {
      if (err instanceof KeychainTimeout) this.hung = true;
      throw err;
    }
  }

  private readPointer(): Pointer {
    const parsed = pointerSchema.safeParse(readJson(this.pointerPath));
    return parsed.success ? parsed.data : { current: null, servers: {} };
  }

  private recordPointer(cred: DeviceCredential, store: Where): void {
    const p = this.readPointer();
    p.servers[cred.server] = { store, user: cred.user };
    p.current = cred.server;
    writePrivate(this.opts.home, this.pointerPath, p);
  }

  private readFile(): Record<string, DeviceCredential> {
    const raw = readJson(this.filePath);
    if (raw === undefined) return {};
    const parsed = fileSchema.safeParse(raw);
    if (!parsed.success) throw new CliError(`${displayPath(this.filePath)} is not a Latch credential file; move it away and sign in again with \`latch login\``);
    return parsed.data.credentials;
  }

  private updateFile(change: (creds: Record<string, DeviceCredential>) => void): void {
    const creds = this.readFile();
    const before = JSON.stringify(creds);
    change(creds);
    if (JSON.stringify(creds) === before) return;
    if (Object.keys(creds).length === 0) rmSync(this.filePath, { force: true });
    else writePrivate(this.opts.home, this.filePath, { credentials: creds });
  }
}

const account = (server: string) => `cli:${server}`;

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function readJson(path: string): unknown {
  return existsSync(path) ? safeJson(readFileSync(path, 'utf8')) : undefined;
}

function statMtime(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return Date.now();
  }
}

function ensureDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/** Writes whole-file-or-nothing, created 0600 (a rename, so the mode never depends on an old file). */
function writePrivate(dir: string, path: string, value: unknown): void {
  ensureDir(dir);
  const tmp = `${path}.${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  renameSync(tmp, path);
}
