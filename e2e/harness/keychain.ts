/**
 * The harness agents' keychains. With a Secret Service that answers (gnome-keyring under
 * dbus-run-session, a desktop session), each agent uses the real OS keychain through the adapter
 * the app uses, under a service of its own (`Latch-harness-<user>-<run>`): users and runs never
 * see each other's entries, nor a developer's real `Latch` ones, and `close()` deletes them all.
 * Without one, each agent gets a keychain that reports `unavailable` — the agent's own
 * memory-only behaviour for a machine with no Secret Service (src/desktop/keychain.ts), which the
 * window shows as such.
 */
import { randomBytes } from 'node:crypto';
import { Keychain, KeyringFailure, napiKeyringBackend, type KeyringBackend } from '../../src/desktop/keychain.js';

export type KeychainMode = 'secret-service' | 'memory';

/** The index account Keychain keeps beside the entries (it cannot list them otherwise). */
const INDEX_ACCOUNT = 'index';
const PROBE_TIMEOUT_MS = 5_000;
const signal = () => new AbortController().signal;

/** null when the OS keychain stores, returns and deletes an entry within 5 s each; otherwise why not. */
export async function probeSecretService(): Promise<string | null> {
  const backend = napiKeyringBackend({ service: `Latch-harness-probe-${randomBytes(4).toString('hex')}` });
  const within = <T>(p: Promise<T>) =>
    Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${PROBE_TIMEOUT_MS / 1000} s (locked?)`)), PROBE_TIMEOUT_MS).unref())]);
  try {
    await within(backend.set('probe:1', 'probe', signal()));
    const back = await within(backend.get('probe:1', signal()));
    await within(backend.delete('probe:1', signal()));
    return back === 'probe' ? null : 'the Secret Service did not read back what was stored';
  } catch (err) {
    const why = (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
    // The keyring library's D-Bus wording means "no session bus / no Secret Service on it".
    return /dbus/i.test(why) ? `no Secret Service answers on this session's D-Bus (${why})` : why;
  }
}

/** A store that is never there: Keychain turns this into status `unavailable`, secrets in memory. */
function absentBackend(why: string): KeyringBackend {
  const fail = () => Promise.reject(new KeyringFailure('unavailable', why));
  return { storeName: 'Secret Service', get: fail, set: fail, delete: fail };
}

/** One agent's keychain, and what tests may ask of it. */
export interface HarnessKeychain {
  readonly mode: KeychainMode;
  /** The OS keychain service its entries are under; null in memory mode. */
  readonly service: string | null;
  /** What the agent is given. */
  readonly keychain: Keychain;
  /**
   * Whether an entry exists (`accounts.grant(id)`, `accounts.device(url)` of
   * src/desktop/keychain.ts): read from the OS keychain itself in secret-service mode, from the
   * agent's memory otherwise.
   */
  has(account: string): Promise<boolean>;
  /** The accounts the agent has written and not deleted, sorted. */
  accounts(): Promise<string[]>;
  /** Deletes every entry of this keychain (and its index) from the OS keychain. */
  wipe(): Promise<void>;
}

export function harnessKeychain(user: string, run: string, unavailableBecause: string | null): HarnessKeychain {
  const service = unavailableBecause === null ? `Latch-harness-${user}-${run}` : null;
  const backend = service === null ? absentBackend(`no Secret Service reachable (${unavailableBecause})`) : napiKeyringBackend({ service });
  const keychain = new Keychain({ backend });
  return {
    mode: service === null ? 'memory' : 'secret-service',
    service,
    keychain,
    async has(account) {
      if (service === null) return (await keychain.get(account)) !== null;
      return (await backend.get(account, signal())) !== null;
    },
    accounts: () => keychain.list(''),
    async wipe() {
      if (service === null) return;
      for (const account of await keychain.list('')) await backend.delete(account, signal());
      await backend.delete(INDEX_ACCOUNT, signal());
    },
  };
}
