/** An OS keychain in memory that can also be locked, deny access, be missing or never answer. */
import type { KeyringBackend } from '../keychain.js';

export type FakeKeyringMode = 'works' | 'hangs' | 'locked' | 'denied' | 'unavailable';

/** What @napi-rs/keyring really says in each case (see classifyKeyringError). */
export const NATIVE_MESSAGES = {
  unavailable: 'Platform failure: DBus error: Using X11 for dbus-daemon autolaunch was disabled at compile time, set your DBUS_SESSION_BUS_ADDRESS instead',
  locked: "Couldn't access platform storage: Secret Service: unlock prompt was dismissed",
  denied: "Couldn't access platform storage: The user name or passphrase you entered is not correct.",
} as const;

export class FakeKeyring implements KeyringBackend {
  readonly storeName = 'Secret Service';
  /** What the keychain holds, including the `index` account. */
  readonly items = new Map<string, string>();
  /** Each call made, as `get index`, `set grant:g1`… */
  readonly calls: string[] = [];
  /** Milliseconds each working call takes (real time), to let calls overlap. */
  delayMs = 0;

  constructor(public mode: FakeKeyringMode = 'works') {}

  get(account: string): Promise<string | null> {
    return this.call(`get ${account}`, () => this.items.get(account) ?? null);
  }

  set(account: string, secret: string): Promise<void> {
    return this.call(`set ${account}`, () => void this.items.set(account, secret));
  }

  delete(account: string): Promise<boolean> {
    return this.call(`delete ${account}`, () => this.items.delete(account));
  }

  /** The accounts recorded in the index entry. */
  indexed(): string[] {
    return JSON.parse(this.items.get('index') ?? '[]') as string[];
  }

  private async call<T>(name: string, fn: () => T): Promise<T> {
    this.calls.push(name);
    switch (this.mode) {
      case 'hangs':
        return new Promise<never>(() => undefined);
      case 'locked':
      case 'denied':
      case 'unavailable':
        throw new Error(NATIVE_MESSAGES[this.mode]);
      case 'works':
        if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
        return fn();
      default: {
        const unhandled: never = this.mode;
        throw new Error(`unhandled mode ${String(unhandled)}`);
      }
    }
  }
}
