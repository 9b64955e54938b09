/**
 * What the desktop agent is made of (STYLE.md §4): the composition root — electron/main.ts in the
 * app, the browser harness of e2e/, or a test — builds these and passes them to `new Agent(deps)`.
 * Nothing here imports electron: the shell provides the sinks (Notification, Tray, clipboard).
 */
import { hostname } from 'node:os';
import type { Clock } from '../shared/clock.js';
import { deviceNameFrom } from '../shared/device-name.js';
import { deviceCredentialSchema, type CredentialSource, type DeviceCredential, type EventStream, type LatchClient } from '../sync/index.js';
import type { NotificationIntent, IntentFormat } from './intents.js';
import { accounts, type Keychain, type SecretStore } from './keychain.js';
import type { SettingsStore } from './settings.js';
import type { SshAgentSink } from './ssh-agent.js';
import type { SshKeyPair } from './ssh-key.js';
import type { TrayModel } from './tray-model.js';

/** Desktop notifications: `show` replaces one with the same `intent.key`; `withdraw` removes it. */
export interface NotifierSink {
  show(intent: NotificationIntent): void;
  withdraw(key: string): void;
}

/** The tray icon and menu: set again on every render (B32). */
export interface TraySink {
  render(model: TrayModel): void;
}

/**
 * The system clipboard. `clear` empties it; the Electron version should leave it alone when it no
 * longer holds what was written (the person copied something else since).
 */
export interface ClipboardSink {
  write(text: string): void;
  clear(): void;
}

/** One server's client and event stream; the agent starts and closes the stream. */
export interface SyncSession {
  client: LatchClient;
  events: EventStream;
}

/**
 * Makes the client and stream for a server (real ones in tests too, against a real server). One
 * per server per process: two clients would each rotate the refresh token (B41).
 */
export type ClientFactory = (baseUrl: string, credentials: CredentialSource) => SyncSession;

/** The keychain as the agent uses it; `Keychain` (over the OS store, or a fake backend in tests) is one. */
export type AgentKeychain = SecretStore & Pick<Keychain, 'state' | 'onStatus' | 'open' | 'retry' | 'sweepEnded' | 'forgetGrant' | 'list'>;

export interface AgentDeps {
  clock: Clock;
  keychain: AgentKeychain;
  settings: SettingsStore;
  notifier: NotifierSink;
  tray: TraySink;
  clipboard: ClipboardSink;
  connect: ClientFactory;
  /**
   * The person's ssh-agent, where an ssh grant's key and certificate go when its command is copied
   * (default: SSH_AUTH_SOCK, or the OpenSSH agent's pipe on Windows).
   */
  sshAgent?: SshAgentSink;
  /** Makes the key pair of an ssh request (default: a fresh ed25519 pair; tests make it fail). */
  makeSshKeyPair?: () => SshKeyPair;
  /** The device name sent when enrolling (default: the host name). */
  deviceName?: string;
  /** How times read in notifications and the tray (default `HH:MM UTC`; the app passes local time). */
  format?: IntentFormat;
  /** Where failures that reach no caller go (default: console.error). Never given secrets. */
  onError?(err: unknown, context: string): void;
  /** Clock tuning (tests): tick, jump threshold, longest single wait. */
  timing?: { tickMs?: number; jumpMs?: number; maxWaitMs?: number; clipboardClearMs?: number };
}

export const defaultDeviceName = (): string => deviceNameFrom(hostname()) || 'desktop';

/**
 * The device credential of `serverUrl`, kept in the keychain under `accounts.device(serverUrl)`.
 * A locked or denied keychain makes `load` throw (KeychainError): that is not "signed out" (B34c).
 * An entry that does not parse is treated as no enrollment.
 */
export function keychainCredentialSource(keychain: SecretStore, serverUrl: string): CredentialSource {
  const account = accounts.device(serverUrl);
  return {
    async load(): Promise<DeviceCredential | null> {
      const text = await keychain.get(account);
      if (text === null) return null;
      try {
        const parsed = deviceCredentialSchema.safeParse(JSON.parse(text));
        return parsed.success ? parsed.data : null;
      } catch {
        return null;
      }
    },
    save: (credential) => keychain.set(account, JSON.stringify(credential)),
    clear: () => keychain.delete(account),
  };
}
