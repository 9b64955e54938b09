/**
 * The harness side of the bridge for one user: what electron/ipc.ts does for the app's windows,
 * over WebSockets. Every call goes through the same guard as Electron's IPC
 * (src/desktop/ipc-guard.ts `guardedChannels`: the caller is checked, then the arguments are
 * parsed with the contract's schema, and only then does the agent run); every snapshot the agent
 * emits is pushed to every open page of the user; the pages' visibility drives the agent's
 * `setWindowVisible`, as the app's window events do.
 *
 * Who may call was settled when the socket was accepted (token and Origin, web.ts). The guard's
 * sender check then asks what Electron's asks — is this frame ours, is this one of our windows —
 * of the socket: its Origin is the harness's, and it is a socket this bridge accepted and has not
 * seen close.
 */
import type { WebSocket } from 'ws';
import { guardedChannels, IpcRejection, type DesktopCallImpl, type GuardedListener, type IpcSenderEvent } from '../../src/desktop/ipc-guard.js';
import type { DesktopCallName, DesktopSnapshot, DesktopSubscriptions } from '../../src/shared/desktop-api.js';
import { CLOSE_MALFORMED, type CallRefusal, type HarnessMessage, type PageMessage } from './bridge-protocol.js';

/** What the bridge needs of an agent: the contract, its snapshots, and the window's visibility. */
export type BridgedAgent = DesktopCallImpl & DesktopSubscriptions & { setWindowVisible(visible: boolean): void };

/** A page message is at most this long (a request body is a few kB at most). */
export const MAX_MESSAGE_BYTES = 256 * 1024;

let nextSocketId = 1;

export class UserBridge {
  private readonly channels: ReadonlyMap<string, GuardedListener<DesktopCallName>>;
  private readonly sockets = new Map<number, WebSocket>();
  private readonly visible = new Set<number>();
  private windowVisible = false;
  private readonly unsubscribe: () => void;

  constructor(
    readonly user: string,
    private readonly agent: BridgedAgent,
    /** The harness's http origin: the only one its pages have. */
    private readonly origin: string,
    private readonly report: (err: unknown, context: string) => void,
  ) {
    const policy = { isTrustedSender: (frameUrl: string, id: number) => this.sockets.has(id) && new URL(frameUrl).origin === this.origin };
    this.channels = new Map(guardedChannels(agent, policy).map((c) => [c.name, c.listener]));
    this.unsubscribe = agent.onSnapshot((snapshot) => this.broadcast(snapshot));
  }

  /** A socket accepted for this user (token and Origin already checked). */
  attach(socket: WebSocket, snapshot: DesktopSnapshot): void {
    const id = nextSocketId++;
    this.sockets.set(id, socket);
    socket.on('message', (data, isBinary) => void this.receive(id, socket, isBinary ? null : data.toString()));
    socket.on('close', () => {
      this.sockets.delete(id);
      this.visible.delete(id);
      this.followVisibility();
    });
    socket.on('error', (err) => this.report(err, `${this.user}'s bridge socket`));
    // The page's subscribers get the current state at once, also after a reconnect.
    this.send(socket, { snapshot });
  }

  /** Whether any page of this user shows (what the agent was last told). */
  get isWindowVisible(): boolean {
    return this.windowVisible;
  }

  get openPages(): number {
    return this.sockets.size;
  }

  /** Closes every socket of this user (pages reconnect on their own). */
  disconnect(code: number, reason: string): void {
    for (const socket of this.sockets.values()) socket.close(code, reason);
  }

  close(code: number, reason: string): void {
    this.unsubscribe();
    this.disconnect(code, reason);
  }

  private async receive(id: number, socket: WebSocket, text: string | null): Promise<void> {
    const message = text === null ? null : parseMessage(text);
    if (message === null) {
      socket.close(CLOSE_MALFORMED, 'not a bridge message');
      return;
    }
    if ('visible' in message) {
      if (message.visible) this.visible.add(id);
      else this.visible.delete(id);
      this.followVisibility();
      return;
    }
    const listener = this.channels.get(message.name);
    if (!listener) {
      this.send(socket, { id: message.id, error: { code: 'unknown_call', message: `latch:unknown_call: "${message.name.slice(0, 64)}" is not a Latch call` } });
      return;
    }
    const event: IpcSenderEvent = { senderFrame: { url: `${this.origin}/index.html` }, sender: { id } };
    try {
      const result = await listener(event, ...message.args);
      this.send(socket, { id: message.id, result });
    } catch (err) {
      if (!(err instanceof IpcRejection)) this.report(err, `${this.user}: ${message.name}`);
      const error: CallRefusal = err instanceof IpcRejection ? { code: err.code, message: err.message } : { code: 'unexpected', message: `latch:unexpected: ${message.name} failed in the harness; see its terminal.` };
      this.send(socket, { id: message.id, error });
    }
  }

  private followVisibility(): void {
    const visible = this.visible.size > 0;
    if (visible === this.windowVisible) return;
    this.windowVisible = visible;
    this.agent.setWindowVisible(visible);
  }

  private broadcast(snapshot: DesktopSnapshot): void {
    for (const socket of this.sockets.values()) this.send(socket, { snapshot });
  }

  private send(socket: WebSocket, message: HarnessMessage): void {
    if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message));
  }
}

/** A page message, or null when it is not one (the socket is then closed: only the bridge script talks here). */
export function parseMessage(text: string): PageMessage | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const m = value as Record<string, unknown>;
  if ('visible' in m) return typeof m.visible === 'boolean' ? { visible: m.visible } : null;
  if (typeof m.id !== 'number' || !Number.isSafeInteger(m.id) || typeof m.name !== 'string' || !Array.isArray(m.args)) return null;
  return { id: m.id, name: m.name, args: m.args };
}
