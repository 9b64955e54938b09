/**
 * A desktop agent wired as the app wires it, for tests: the real sync layer (LatchClient and
 * EventStream) against whatever server URL the test enrolls with, the real Keychain over a
 * FakeKeyring, a real SettingsStore in a temp directory, and recording sinks. `relaunch()` starts a
 * new agent on the same keyring and settings file: the app closed and opened again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock } from '../../shared/clock.js';
import { EventStream, LatchClient, type EventStreamOptions, type RetryOptions } from '../../sync/index.js';
import { Agent } from '../agent.js';
import type { AgentDeps, ClientFactory } from '../deps.js';
import { Keychain } from '../keychain.js';
import { confBackend, SettingsStore } from '../settings.js';
import { sshAgentClient } from '../ssh-agent.js';
import { FakeKeyring } from './fake-keyring.js';
import { RecordingClipboard, RecordingNotifier, RecordingTray } from './sinks.js';

export interface RigOptions {
  clock: Clock;
  retry?: RetryOptions;
  stream?: Partial<Omit<EventStreamOptions, 'client' | 'clock'>>;
  timing?: AgentDeps['timing'];
  deviceName?: string;
  /** The ssh-agent (default: none, so no test reaches the developer's own agent). */
  sshAgent?: AgentDeps['sshAgent'];
  makeSshKeyPair?: AgentDeps['makeSshKeyPair'];
}

export interface Rig {
  agent: Agent;
  notifier: RecordingNotifier;
  tray: RecordingTray;
  clipboard: RecordingClipboard;
  ring: FakeKeyring;
  keychain: Keychain;
  settings: SettingsStore;
  /** Every client the agent had made, newest last. */
  clients: LatchClient[];
  /** Every event stream the agent had made, newest last (to watch its resync signals). */
  streams: EventStream[];
  /** The client of the current session. */
  client(): LatchClient;
  /** Stops this agent and starts another on the same keyring and settings (not started: call `start()`). */
  relaunch(): Promise<Rig>;
  close(): Promise<void>;
}

export const FAST_RETRY: RetryOptions = { attempts: 3, firstMs: 20, maxMs: 100 };

export function syncFactory(opts: RigOptions, made: LatchClient[], streams: EventStream[] = []): ClientFactory {
  return (baseUrl, credentials) => {
    const client = new LatchClient({ baseUrl, credentials, clock: opts.clock, retry: opts.retry ?? FAST_RETRY });
    made.push(client);
    const events = new EventStream({ client, clock: opts.clock, backoff: { firstMs: 50, maxMs: 400 }, onListenerError: (err) => console.error(err), ...opts.stream });
    streams.push(events);
    return { client, events };
  };
}

/** A new agent (not started), on `ring` and `dir` when given. */
export function makeRig(opts: RigOptions, shared: { ring?: FakeKeyring; dir?: string } = {}): Rig {
  const dir = shared.dir ?? mkdtempSync(join(tmpdir(), 'latch-agent-'));
  const ring = shared.ring ?? new FakeKeyring();
  const keychain = new Keychain({ backend: ring });
  const settings = SettingsStore.open(confBackend({ cwd: dir }));
  const notifier = new RecordingNotifier(opts.clock);
  const tray = new RecordingTray(opts.clock);
  const clipboard = new RecordingClipboard(opts.clock);
  const clients: LatchClient[] = [];
  const streams: EventStream[] = [];
  const agent = new Agent({
    clock: opts.clock, keychain, settings, notifier, tray, clipboard, connect: syncFactory(opts, clients, streams),
    deviceName: opts.deviceName ?? 'test-laptop', timing: opts.timing, onError: (err, context) => console.error(`agent: ${context}`, err),
    sshAgent: opts.sshAgent ?? sshAgentClient(null), makeSshKeyPair: opts.makeSshKeyPair,
  });
  let closed = false;
  const rig: Rig = {
    agent, notifier, tray, clipboard, ring, keychain, settings, clients, streams,
    client() {
      const c = clients.at(-1);
      if (!c) throw new Error('no client yet');
      return c;
    },
    async relaunch() {
      await agent.stop();
      closed = true;
      return makeRig(opts, { ring, dir });
    },
    async close() {
      if (!closed) await agent.stop();
      closed = true;
      if (!shared.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
  return rig;
}

/** Waits (real time) until `pred` holds. */
export async function until(what: string, pred: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
