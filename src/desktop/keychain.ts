/**
 * Where the desktop app keeps its secrets (DESIGN.md "Desktop agent"): the OS keychain through
 * `@napi-rs/keyring`, service `Latch` — the device credential, each grant's secret, ssh private
 * keys. When no keychain answers it says so and keeps secrets in memory for this run only; it
 * never writes them to a file (B34).
 *
 * - No keychain at all (no D-Bus session, no Secret Service): status `unavailable`; reads of what
 *   was not stored this run return null, as for someone not signed in.
 * - Locked, denied, or no answer within 5 s: status `locked`, `denied` or `timeout`. That is not
 *   "signed out" (B34c, B36): nothing is deleted, and a read of a secret not held in memory
 *   throws a KeychainError instead of returning null. Only one attempt is made per launch (no
 *   prompt loop, B36); `retry()` makes the next one, and on success moves what was kept in memory
 *   into the keychain.
 * - One keychain call at a time, each with its own deadline: concurrent calls on a locked
 *   keychain would each raise a prompt; after a failure the queued ones go to memory at once.
 *
 * Secret Service listing is not exposed by the adapter, so the accounts written are recorded in
 * the keychain itself under the account `index`; `sweepEnded` uses it to find what grants left.
 */
import { AsyncEntry } from '@napi-rs/keyring';
import { systemClock, type Clock, type TimerHandle } from '../shared/clock.js';

export const KEYCHAIN_SERVICE = 'Latch';
export const KEYCHAIN_TIMEOUT_MS = 5_000;

/** Account names; every account is `<kind>:<id>`. */
export const accounts = {
  /** The device credential for one server. */
  device: (serverUrl: string) => `device:${serverUrl}`,
  /** A grant's secret (database password, token…). */
  grant: (grantId: string) => `grant:${grantId}`,
  /** An ssh private key, made when the request is sent (request id) or the grant starts (grant id). */
  ssh: (grantOrRequestId: string) => `ssh:${grantOrRequestId}`,
};

/** Lists the accounts written, since the adapter cannot list them (not a `<kind>:<id>` name). */
const INDEX_ACCOUNT = 'index';

/** What the agent keeps secrets in; Keychain is the real one. */
export interface SecretStore {
  get(account: string): Promise<string | null>;
  set(account: string, secret: string): Promise<void>;
  delete(account: string): Promise<void>;
  /** The accounts known to exist whose name starts with `prefix`. */
  list?(prefix: string): Promise<string[]>;
}

/** The OS keychain as Keychain uses it; tests pass fakes that hang, deny or are locked. */
export interface KeyringBackend {
  /** The store as the user knows it, for messages: "Secret Service", "macOS Keychain"… */
  readonly storeName: string;
  get(account: string, signal: AbortSignal): Promise<string | null>;
  set(account: string, secret: string, signal: AbortSignal): Promise<void>;
  /** true when something was deleted. */
  delete(account: string, signal: AbortSignal): Promise<boolean>;
}

const STORE_NAMES: Partial<Record<NodeJS.Platform, string>> = { linux: 'Secret Service', darwin: 'macOS Keychain', win32: 'Windows Credential Manager' };

/** The OS keychain through `@napi-rs/keyring`'s AsyncEntry. `service` differs only in tests. */
export function napiKeyringBackend(opts: { service?: string } = {}): KeyringBackend {
  const service = opts.service ?? KEYCHAIN_SERVICE;
  // Pinned to the Secret Service on Linux: the default falls back to the kernel keyring, which
  // forgets everything at reboot. The constructor throws when there is no D-Bus session, so it
  // runs inside each (async) call. The options are ignored on macOS and Windows.
  const entry = (account: string) => new AsyncEntry(service, account, { linux: { store: 'secret-service' } });
  return {
    storeName: STORE_NAMES[process.platform] ?? 'OS keychain',
    get: async (account, signal) => entry(account).getPassword(signal),
    set: async (account, secret, signal) => entry(account).setPassword(secret, signal),
    delete: async (account, signal) => entry(account).deleteCredential(signal),
  };
}

export type KeychainStatus = 'available' | 'unavailable' | 'locked' | 'denied' | 'timeout';

export interface KeychainState {
  status: KeychainStatus;
  /** For the person, saying what to do. */
  message: string;
  /** The keychain's own words for the last failure (no secrets), for logs; null when available. */
  detail: string | null;
}

export type KeyringFailureKind = Exclude<KeychainStatus, 'available'> | 'failed';

/** A keychain call that failed, by kind; `failed` is anything not about reaching the store. */
export class KeyringFailure extends Error {
  constructor(
    readonly kind: KeyringFailureKind,
    message: string,
  ) {
    super(message);
    this.name = 'KeyringFailure';
  }
}

/**
 * Sorts an error from `@napi-rs/keyring` (keyring-rs) by its message, the only thing it carries:
 * - Linux: "Platform failure: DBus error: …" (no session bus, no Secret Service) → unavailable;
 *   "Couldn't access platform storage: Secret Service: unlock prompt was dismissed" → locked.
 * - macOS (Security framework texts): "User canceled the operation." (-128) and "The user name or
 *   passphrase you entered is not correct." (-25293, the Deny button) → denied; "User interaction
 *   is not allowed." (-25308, locked with no UI) → locked; "No keychain is available." → unavailable.
 * - Windows: "No such logon session" → unavailable.
 */
export function classifyKeyringError(err: unknown): KeyringFailure {
  if (err instanceof KeyringFailure) return err;
  const text = (err instanceof Error ? err.message : String(err)).split('\n')[0]!.trim();
  const kind: KeyringFailureKind =
    /user cancel|passphrase you entered is not correct|access denied|not authori[sz]ed|-25293\b|(^|[^\d])-128\b/i.test(text) ? 'denied'
    : /locked|unlock|interaction is not allowed|-25308\b/i.test(text) ? 'locked'
    : /d-?bus|org\.freedesktop\.secrets|no keychain is available|no such logon session|-25291\b/i.test(text) ? 'unavailable'
    // keyring-rs's NoStorageAccess: the store answered but would not open.
    : /couldn't access platform storage/i.test(text) ? 'locked'
    : 'failed';
  return new KeyringFailure(kind, text.length > 200 ? `${text.slice(0, 197)}…` : text);
}

export type KeychainErrorCode = 'keychain_timeout' | 'keychain_locked' | 'keychain_denied' | 'keychain_failed';

/** A read the keychain could not answer; `message` says what to do. Never means "not signed in". */
export class KeychainError extends Error {
  constructor(
    readonly code: KeychainErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'KeychainError';
  }
}

export interface KeychainOptions {
  backend: KeyringBackend;
  /** How long one keychain call may take; a locked keyring can wait forever on a hidden prompt. */
  timeoutMs?: number;
  clock?: Clock;
}

type Attempt<T> = { ok: true; value: T } | { ok: false };

export class Keychain implements SecretStore {
  private readonly backend: KeyringBackend;
  private readonly timeoutMs: number;
  private readonly clock: Clock;
  private current: KeychainState;
  private readonly listeners = new Set<(state: KeychainState) => void>();
  /** Secrets set (or, as null, deleted) while the keychain could not be used; this run only. */
  private readonly memory = new Map<string, string | null>();
  /** The `index` account as last read or written; null until read. */
  private index: Set<string> | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(opts: KeychainOptions) {
    this.backend = opts.backend;
    this.timeoutMs = opts.timeoutMs ?? KEYCHAIN_TIMEOUT_MS;
    this.clock = opts.clock ?? systemClock;
    this.current = this.describe('available', null);
  }

  /** `available` until a call shows otherwise; `open()` makes the first call. */
  get status(): KeychainStatus {
    return this.current.status;
  }

  get state(): KeychainState {
    return this.current;
  }

  /** Called on each change of status (or of its detail); returns the unsubscribe function. */
  onStatus(listener: (state: KeychainState) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /** The launch's one attempt: reads the index, which raises the unlock prompt if there is one. */
  open(): Promise<KeychainState> {
    return this.serial(async () => {
      if (this.status === 'available') await this.loadIndex();
      return this.current;
    });
  }

  /**
   * Tries the keychain again (the user unlocked it, or allowed access). On success, secrets kept
   * in memory meanwhile are written to it and deletions made meanwhile are applied.
   */
  retry(): Promise<KeychainState> {
    return this.serial(async () => {
      if (this.status === 'available') return this.current;
      const read = await this.attempt((signal) => this.backend.get(INDEX_ACCOUNT, signal));
      if (!read.ok) return this.current;
      this.index = parseIndex(read.value);
      for (const [account, secret] of [...this.memory]) {
        let done: boolean;
        try {
          done = secret === null ? await this.storeDelete(account) : await this.storeSet(account, secret);
        } catch (err) {
          // This one entry is refused (too long for the store…): it stays in memory, the rest moves.
          if (err instanceof KeychainError) continue;
          throw err;
        }
        if (!done) return this.current;
        this.memory.delete(account);
      }
      this.setState('available', null);
      return this.current;
    });
  }

  /**
   * The secret, or null when there is none. Throws KeychainError when the keychain is locked,
   * denied or not answering and the secret was not set during this run.
   */
  get(account: string): Promise<string | null> {
    checkAccount(account);
    return this.serial(async () => {
      // What this run set or deleted without the keychain is the latest word.
      if (this.memory.has(account)) return this.memory.get(account) ?? null;
      if (this.status === 'available') {
        const read = await this.attempt((signal) => this.backend.get(account, signal));
        if (read.ok) return read.value;
      }
      if (this.status === 'unavailable') return null;
      throw new KeychainError(`keychain_${this.status as 'timeout' | 'locked' | 'denied'}`, this.current.message);
    });
  }

  /**
   * Stores the secret: in the keychain, or in memory for this run when it cannot be reached (the
   * status says so; a call that times out here does not throw). Throws KeychainError
   * `keychain_failed` only when the keychain answers and refuses this entry.
   */
  set(account: string, secret: string): Promise<void> {
    checkAccount(account);
    return this.serial(async () => {
      if (this.status === 'available' && (await this.storeSet(account, secret))) this.memory.delete(account);
      else this.memory.set(account, secret);
    });
  }

  /** Deletes the secret; while the keychain cannot be used, on the next successful `retry()`. */
  delete(account: string): Promise<void> {
    checkAccount(account);
    return this.serial(async () => {
      if (this.status === 'available' && (await this.storeDelete(account))) this.memory.delete(account);
      else this.memory.set(account, null);
    });
  }

  /** Accounts starting with `prefix` that were written (by this or an earlier run) and not deleted. */
  list(prefix: string): Promise<string[]> {
    return this.serial(async () => {
      const known = new Set(this.status === 'available' ? await this.loadIndex() : this.index);
      for (const [account, secret] of this.memory) {
        if (secret === null) known.delete(account);
        else known.add(account);
      }
      return [...known].filter((a) => a.startsWith(prefix)).sort();
    });
  }

  /**
   * Deletes every entry of a grant that ended: its secret and its ssh key (under the grant id, and
   * under the request id when the key was made with the request).
   */
  async forgetGrant(grantId: string, requestId?: string): Promise<void> {
    await this.delete(accounts.grant(grantId));
    await this.delete(accounts.ssh(grantId));
    if (requestId !== undefined) await this.delete(accounts.ssh(requestId));
  }

  /**
   * On start: deletes grant and ssh entries whose id is not in `liveIds` (grants that ended while
   * the app was closed). Pass the ids of every live grant and pending request, from lists the
   * server just returned and did not cut at their limit — never after a failed fetch, never from
   * the newest N only (an active grant can be older than those). Device credentials are left alone.
   * Returns the accounts deleted.
   */
  async sweepEnded(liveIds: Iterable<string>): Promise<string[]> {
    const live = new Set(liveIds);
    const ended = (await this.list('')).filter((account) => {
      const m = /^(?:grant|ssh):(.+)$/.exec(account);
      return m !== null && !live.has(m[1]!);
    });
    for (const account of ended) await this.delete(account);
    return ended;
  }

  // ---- the keychain itself ---------------------------------------------------------------------

  /** Index first, then the entry: the index may list an entry that is gone, never miss one. */
  private async storeSet(account: string, secret: string): Promise<boolean> {
    const index = await this.loadIndex();
    if (index === null) return false;
    if (!index.has(account) && !(await this.saveIndex(new Set(index).add(account)))) return false;
    return (await this.attempt((signal) => this.backend.set(account, secret, signal))).ok;
  }

  /** Entry first, then the index, for the same reason. */
  private async storeDelete(account: string): Promise<boolean> {
    if (!(await this.attempt((signal) => this.backend.delete(account, signal))).ok) return false;
    const index = await this.loadIndex();
    if (index === null) return false;
    if (!index.has(account)) return true;
    const next = new Set(index);
    next.delete(account);
    return this.saveIndex(next);
  }

  private async loadIndex(): Promise<Set<string> | null> {
    if (this.index !== null) return this.index;
    const read = await this.attempt((signal) => this.backend.get(INDEX_ACCOUNT, signal));
    if (read.ok) this.index = parseIndex(read.value);
    return this.index;
  }

  private async saveIndex(next: Set<string>): Promise<boolean> {
    const written = await this.attempt((signal) => this.backend.set(INDEX_ACCOUNT, JSON.stringify([...next].sort()), signal));
    if (written.ok) this.index = next;
    return written.ok;
  }

  /**
   * One keychain call with its deadline. A failure to reach the store changes the status and
   * returns `{ ok: false }` (the caller falls back to memory); any other failure throws.
   */
  private async attempt<T>(call: (signal: AbortSignal) => Promise<T>): Promise<Attempt<T>> {
    const abort = new AbortController();
    let timer: TimerHandle | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = this.clock.setTimer(() => {
        abort.abort();
        reject(new KeyringFailure('timeout', `no answer within ${this.timeoutMs / 1000} s`));
      }, this.timeoutMs);
    });
    try {
      return { ok: true, value: await Promise.race([Promise.resolve().then(() => call(abort.signal)), deadline]) };
    } catch (err) {
      const failure = classifyKeyringError(err);
      if (failure.kind === 'failed') throw new KeychainError('keychain_failed', `the ${this.backend.storeName} refused: ${failure.message}`);
      this.setState(failure.kind, failure.message);
      return { ok: false };
    } finally {
      if (timer !== undefined) this.clock.clearTimer(timer);
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private setState(status: KeychainStatus, detail: string | null): void {
    if (status === this.current.status && detail === this.current.detail) return;
    this.current = this.describe(status, detail);
    for (const listener of [...this.listeners]) listener(this.current);
  }

  private describe(status: KeychainStatus, detail: string | null): KeychainState {
    const store = this.backend.storeName;
    const inMemory = 'secrets kept in memory for this session only';
    const message = ((): string => {
      switch (status) {
        case 'available': return `secrets are kept in the ${store}`;
        case 'unavailable': return `secure storage unavailable: no ${store}; ${inMemory}`;
        case 'locked': return `unlock your keyring (the ${store} is locked), then retry; until then ${inMemory}`;
        case 'denied': return `keychain access denied, sign in again; nothing was deleted from the ${store}, and ${inMemory}`;
        case 'timeout': return `the ${store} did not answer within ${this.timeoutMs / 1000} s (is it locked?): unlock your keyring, then retry; until then ${inMemory}`;
        default: {
          const unhandled: never = status;
          throw new Error(`unhandled keychain status ${String(unhandled)}`);
        }
      }
    })();
    return { status, message, detail };
  }
}

function checkAccount(account: string): void {
  if (!/^[a-z]+:./.test(account)) throw new TypeError(`"${account}" is not a keychain account name (<kind>:<id>; see \`accounts\`)`);
}

function parseIndex(text: string | null): Set<string> {
  if (text === null) return new Set();
  try {
    const list: unknown = JSON.parse(text);
    return new Set(Array.isArray(list) ? list.filter((a): a is string => typeof a === 'string') : []);
  } catch {
    return new Set();
  }
}
