/**
 * The browser harness (DESIGN.md "Testing where Electron cannot run"; issue 5 "Browser harness"):
 * the real approval server, one real desktop agent per user — enrolled through its own `enroll`
 * with a fresh one-time code, on the real sync layer — and a loopback web server that serves the
 * renderer to a browser with `window.latch` carried over a WebSocket to that user's agent. There
 * is no fake data path: renderer → window.latch → WebSocket → agent → approval server.
 *
 * What the Electron shell would show besides the window is recorded for tests: notifications,
 * the clipboard (in memory, never the system's) and the tray model. The agents' keychains are the
 * real OS keychain when a Secret Service answers, and memory-only otherwise (keychain.ts).
 *
 * `npm run dev:browser` (dev.ts) runs it with the demo configuration; e2e tests start their own.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino, { type Logger } from 'pino';
import { Agent } from '../../src/desktop/agent.js';
import type { ClientFactory, NotifierSink } from '../../src/desktop/deps.js';
import type { NotificationIntent } from '../../src/desktop/intents.js';
import { confBackend, SettingsStore } from '../../src/desktop/settings.js';
import { RecordingClipboard, RecordingNotifier, RecordingTray } from '../../src/desktop/test-support/sinks.js';
import { newCodeFor } from '../../src/server/auth/identity.js';
import { loadConfigFile, parseConfig } from '../../src/server/config/load.js';
import { createLatchServer, type LatchServer, type ServerOptions } from '../../src/server/server.js';
import { systemClock } from '../../src/shared/clock.js';
import type { LatchConfig } from '../../src/shared/config.js';
import type { DesktopSnapshot, WindowTarget } from '../../src/shared/desktop-api.js';
import { EventStream, LatchClient, type EventStreamOptions } from '../../src/sync/index.js';
import { CLOSE_HARNESS_STOPPING, TOKEN_PARAM, USER_PARAM } from './bridge-protocol.js';
import { UserBridge } from './bridge-host.js';
import { bundleBridge } from './bundle.js';
import { harnessKeychain, probeSecretService, type HarnessKeychain, type KeychainMode } from './keychain.js';
import { startWeb, type Web } from './web.js';

export interface BrowserHarnessOptions {
  /** A YAML configuration file (default examples/demo.yaml, when `config` is not given). */
  configFile?: string;
  /** The configuration itself: YAML text, or parsed. */
  config?: string | LatchConfig;
  /** Who gets an agent (default: every member of the configuration's groups). */
  users?: string[];
  /** Who is enrolled at start (default: every user); the others start signed out, for the Setup view. */
  enrolled?: string[];
  /** Passed to the approval server. */
  server?: Pick<ServerOptions, 'heartbeatMs' | 'accessTtlS' | 'connectorTimeoutMs' | 'revokeBackoff' | 'extraConnectors'>;
  /**
   * The approval server's logger. Default: silent (or LATCH_TEST_LOG's level). null: the
   * server's own default (LATCH_LOG_LEVEL, secrets redacted), as `latch serve` logs.
   */
  logger?: Logger | null;
  /** The agents' event streams (e.g. a quicker reconnection `backoff` in tests). */
  stream?: Partial<Omit<EventStreamOptions, 'client' | 'clock'>>;
  /** `auto` (default): the OS keychain when a Secret Service answers, memory otherwise. */
  keychain?: 'auto' | 'memory';
  /** Each notification an agent shows, as it is shown (dev.ts prints them). */
  onNotification?(user: string, intent: NotificationIntent): void;
  /** How long to wait for an enrolled agent to be ready and live (default 20 s). */
  readyTimeoutMs?: number;
}

/** One user's agent and what the shell around it would have shown. */
export interface HarnessUser {
  name: string;
  agent: Agent;
  notifier: RecordingNotifier;
  clipboard: RecordingClipboard;
  tray: RecordingTray;
  keychain: HarnessKeychain;
  bridge: UserBridge;
}

export interface BrowserHarness {
  /** The web server: `http://127.0.0.1:PORT`. */
  readonly origin: string;
  /** The approval server's base URL (the same port across restarts). */
  readonly serverUrl: string;
  readonly dataDir: string;
  readonly users: readonly string[];
  readonly keychainMode: KeychainMode;
  /** Why the OS keychain is not used (memory mode), or null. */
  readonly keychainUnavailable: string | null;
  /**
   * The page address for `user` at a place in the window: `http://127.0.0.1:PORT/index.html#/home?…`,
   * the user and the harness token in the fragment (never sent to a server; the bridge removes them).
   */
  url(user: string, target?: WindowTarget, query?: Record<string, string>): string;
  user(name: string): HarnessUser;
  agent(name: string): Agent;
  /** What `name`'s agent asked the desktop to notify (`shown(kind)`, `withdrawn(key)`, `log`). */
  notifications(name: string): RecordingNotifier;
  /** `name`'s clipboard (`text`, `writes`, `clears`): in memory only. */
  clipboard(name: string): RecordingClipboard;
  /** `name`'s tray (`last`, `labels()`, `renders`). */
  tray(name: string): RecordingTray;
  /** `name`'s keychain: `has(account)`, `accounts()`, `mode`. */
  keychain(name: string): HarnessKeychain;
  /** Whether any page of `name` is visible, i.e. what the agent's `setWindowVisible` was last told. */
  windowVisible(name: string): boolean;
  /** Resolves with `name`'s agent snapshot once `pred` holds (checked now and on each snapshot). */
  waitFor(name: string, what: string, pred: (s: DesktopSnapshot) => boolean, timeoutMs?: number): Promise<DesktopSnapshot>;
  /** A fresh one-time enrollment code for `name` (to type into the Setup view). */
  enrollmentCode(name: string): Promise<string>;
  /** The approval server running now (a new object after each restart). */
  server(): LatchServer;
  /** Stops the approval server (graceful); agents go reconnecting, then offline. */
  stopServer(): Promise<void>;
  /** Starts it again on the same port and data directory. */
  startServer(): Promise<void>;
  /** `stopServer()` then `startServer()`. */
  restartServer(): Promise<void>;
  /** Closes the bridge sockets of `name` (or of everyone): pages reconnect on their own. */
  disconnectPages(name?: string): void;
  /** Stops everything and deletes the run's data, settings and keychain entries. */
  close(): Promise<void>;
}

const DEFAULT_READY_TIMEOUT_MS = 20_000;

/** The repository: where renderer/dist, examples/ and the bridge's source are (from src or from dist). */
export function repoRoot(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; ) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'e2e', 'harness', 'bridge-client.ts'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the repository above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

export async function startBrowserHarness(opts: BrowserHarnessOptions = {}): Promise<BrowserHarness> {
  const root = repoRoot();
  const clock = systemClock;
  if (opts.config !== undefined && opts.configFile !== undefined) throw new Error('give either config or configFile, not both');
  const configFile = opts.config === undefined ? (opts.configFile ?? join(root, 'examples', 'demo.yaml')) : null;
  const config = configFile !== null ? loadConfigFile(configFile) : typeof opts.config === 'string' ? parseConfig(opts.config) : opts.config!;
  const users = opts.users ?? [...new Set(Object.values(config.groups).flatMap((g) => g.members))].sort();
  const enrolled = opts.enrolled ?? users;
  for (const name of enrolled) if (!users.includes(name)) throw new Error(`enrolled: ${name} is not one of the harness users (${users.join(', ')})`);

  const run = randomBytes(4).toString('hex');
  const token = randomBytes(32).toString('base64url');
  const runDir = mkdtempSync(join(tmpdir(), 'latch-harness-'));
  const dataDir = join(runDir, 'server');
  mkdirSync(dataDir);
  const report = (err: unknown, context: string) => console.error(`harness: ${context}:`, err instanceof Error ? err.message : err);
  const logger = opts.logger === null ? undefined : (opts.logger ?? pino({ level: process.env.LATCH_TEST_LOG ?? 'silent' }));
  const serverOptions: ServerOptions = configFile !== null ? { ...opts.server, dataDir, configFile, logger } : { ...opts.server, dataDir, config, logger };

  const people = new Map<string, HarnessUser>();
  let server: LatchServer | null = null;
  let web: Web | null = null;
  let port = 0;
  let closed = false;

  const close = async () => {
    if (closed) return;
    closed = true;
    for (const p of people.values()) p.bridge.close(CLOSE_HARNESS_STOPPING, 'the harness is stopping');
    await web?.close();
    for (const p of people.values()) {
      await p.agent.stop().catch((err: unknown) => report(err, `stopping ${p.name}'s agent`));
      await p.keychain.wipe().catch((err: unknown) => report(err, `deleting ${p.name}'s keychain entries (service ${p.keychain.service})`));
    }
    await server?.close();
    server = null;
    rmSync(runDir, { recursive: true, force: true });
  };

  try {
    server = await createLatchServer(serverOptions);
    const serverUrl = await server.listen('127.0.0.1', 0);
    port = Number(new URL(serverUrl).port);

    const unavailable = opts.keychain === 'memory' ? 'the harness was asked to keep secrets in memory' : await probeSecretService();
    const connect: ClientFactory = (baseUrl, credentials) => {
      const client = new LatchClient({ baseUrl, credentials, clock });
      return { client, events: new EventStream({ client, clock, onListenerError: (err) => report(err, 'event listener'), ...opts.stream }) };
    };
    const bridgeScript = await bundleBridge(root);
    web = await startWeb({
      root: join(root, 'renderer', 'dist'),
      bridgeScript,
      token,
      knowsUser: (name) => people.has(name),
      accept: (name, socket) => {
        const p = people.get(name)!;
        p.bridge.attach(socket, p.agent.snapshot());
      },
    });
    const origin = web.origin;

    for (const name of users) {
      const settingsDir = join(runDir, 'agents', name);
      mkdirSync(settingsDir, { recursive: true });
      const keychain = harnessKeychain(name, run, unavailable);
      const notifier = new RecordingNotifier(clock);
      const shownTo: NotifierSink = {
        show(intent) {
          notifier.show(intent);
          opts.onNotification?.(name, intent);
        },
        withdraw: (key) => notifier.withdraw(key),
      };
      const tray = new RecordingTray(clock);
      const clipboard = new RecordingClipboard(clock);
      const agent = new Agent({
        clock, keychain: keychain.keychain, settings: SettingsStore.open(confBackend({ cwd: settingsDir }), { clock }),
        notifier: shownTo, tray, clipboard, connect, deviceName: `${name}-browser-harness`, onError: (err, context) => report(err, `${name}'s agent: ${context}`),
      });
      people.set(name, { name, agent, notifier, clipboard, tray, keychain, bridge: new UserBridge(name, agent, origin, report) });
      await agent.start();
    }

    const person = (name: string): HarnessUser => {
      const p = people.get(name);
      if (!p) throw new Error(`no user "${name}" in this harness (it has: ${users.join(', ')})`);
      return p;
    };
    const running = (): LatchServer => {
      if (!server) throw new Error('the approval server is stopped (startServer() starts it)');
      return server;
    };
    const waitFor = (name: string, what: string, pred: (s: DesktopSnapshot) => boolean, timeoutMs = 10_000) => waitForSnapshot(person(name).agent, `${name}: ${what}`, pred, timeoutMs);
    const stopServer = async () => {
      const s = server;
      server = null;
      await s?.close();
    };
    const startServer = async () => {
      if (server) return;
      const s = await createLatchServer(serverOptions);
      try {
        await s.listen('127.0.0.1', port);
      } catch (err) {
        await s.close();
        throw err;
      }
      server = s;
    };

    const readyTimeoutMs = opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
    await Promise.all(
      enrolled.map(async (name) => {
        const { code } = await newCodeFor(running().store, name, clock.now());
        const result = await person(name).agent.enroll(serverUrl, code);
        if (!result.ok) throw new Error(`enrolling ${name}: ${result.error.message}`);
        await waitFor(name, 'ready and live after enrolling', (s) => s.phase === 'ready' && s.connection.state === 'live', readyTimeoutMs);
      }),
    );

    return {
      origin,
      serverUrl,
      dataDir,
      users,
      keychainMode: unavailable === null ? 'secret-service' : 'memory',
      keychainUnavailable: unavailable,
      url(name, target = { view: 'home' }, query = {}) {
        person(name);
        return `${origin}/index.html${windowHash(target, { ...query, [USER_PARAM]: name, [TOKEN_PARAM]: token })}`;
      },
      user: person,
      agent: (name) => person(name).agent,
      notifications: (name) => person(name).notifier,
      clipboard: (name) => person(name).clipboard,
      tray: (name) => person(name).tray,
      keychain: (name) => person(name).keychain,
      windowVisible: (name) => person(name).bridge.isWindowVisible,
      waitFor,
      enrollmentCode: async (name) => (await newCodeFor(running().store, person(name).name, clock.now())).code,
      server: running,
      stopServer,
      startServer,
      async restartServer() {
        await stopServer();
        await startServer();
      },
      disconnectPages(name) {
        for (const p of name === undefined ? people.values() : [person(name)]) p.bridge.disconnect(CLOSE_HARNESS_STOPPING, 'disconnected by the harness');
      },
      close,
    };
  } catch (err) {
    await close().catch((e: unknown) => report(e, 'cleaning up after a failed start'));
    throw err;
  }
}

/**
 * `#/<view>?<fields and query>`: the shape electron/window.ts `windowUrl` gives the app's window
 * and the renderer routes on.
 */
export function windowHash(target: WindowTarget, query: Record<string, string> = {}): string {
  const { view, ...fields } = target as { view: string } & Record<string, string | boolean | undefined>;
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...fields, ...query })) if (v !== undefined && v !== false) search.set(k, String(v));
  const qs = search.toString();
  return `#/${view}${qs === '' ? '' : `?${qs}`}`;
}

function waitForSnapshot(agent: Agent, what: string, pred: (s: DesktopSnapshot) => boolean, timeoutMs: number): Promise<DesktopSnapshot> {
  return new Promise((resolve, reject) => {
    let off = () => undefined as void;
    const timer = setTimeout(() => {
      off();
      const s = agent.snapshot();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (phase ${s.phase}, connection ${s.connection.state}${s.connection.detail ? `: ${s.connection.detail}` : ''})`));
    }, timeoutMs);
    const check = (s: DesktopSnapshot): boolean => {
      if (!pred(s)) return false;
      off();
      clearTimeout(timer);
      resolve(s);
      return true;
    };
    if (!check(agent.snapshot())) off = agent.onSnapshot(check);
  });
}
