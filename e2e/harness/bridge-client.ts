/**
 * `window.latch` in a plain browser (DESIGN.md "Testing where Electron cannot run"): the same
 * DesktopApi the Electron preload exposes, carried over a loopback WebSocket to the real desktop
 * agent the harness runs in Node. Bundled by the harness at start (bundle.ts) and loaded by a
 * classic <script> placed before the renderer's own, so window.latch exists when app.js runs.
 *
 * - One task-named function per contract call (the list comes from `desktopCalls` at bundle time),
 *   `onSnapshot` returning its unsubscribe function; nothing else, like the preload.
 * - The socket reconnects when it drops. A call made while it is down waits a moment for it
 *   (the page has just loaded, or the socket is reconnecting), then resolves to an ActionResult
 *   error `offline`; it never hangs. So does a call whose answer was lost with the socket.
 * - `getSnapshot` and `getSettings` have no ActionResult to fail with: while down, getSnapshot
 *   answers the last snapshot received (the agent's own words, unchanged), and otherwise both
 *   reject, as an Electron `invoke` rejects.
 * - The page's visibility is reported, so the agent's `setWindowVisible` follows
 *   `document.visibilityState` (countdowns tick once a second only while the window shows).
 */
import type { ActionResult, DesktopApi, DesktopCallName, DesktopSnapshot } from '../../src/shared/desktop-api.js';
import {
  BRIDGE_PROTOCOL, BRIDGE_SOCKET_PATH, TOKEN_PARAM, TOKEN_PROTOCOL_PREFIX, USER_PARAM,
  type HarnessMessage, type PageMessage,
} from './bridge-protocol.js';

/** Every call of the contract, in order; put here by the harness's bundler (`define`). */
declare const __LATCH_CALLS__: readonly DesktopCallName[];

/** How long a call waits for a socket that is not open before it answers `offline`. */
const CONNECT_GRACE_MS = 2_000;
const RECONNECT_FIRST_MS = 250;
const RECONNECT_MAX_MS = 5_000;
/** Calls whose result is not an ActionResult (they cannot say `offline` in one). */
const PLAIN_RESULT: ReadonlySet<DesktopCallName> = new Set(['getSnapshot', 'getSettings']);
const STORAGE_KEY = 'latch-harness';

interface Link {
  user: string;
  token: string;
}

/**
 * The user and token from the fragment (removed from the address at once, before the renderer
 * routes on the hash), or from this tab's sessionStorage after a reload.
 */
function takeLink(): Link | null {
  const hash = location.hash.replace(/^#/, '');
  const q = hash.indexOf('?');
  if (q !== -1) {
    const params = new URLSearchParams(hash.slice(q + 1));
    const user = params.get(USER_PARAM);
    const token = params.get(TOKEN_PARAM);
    if (user !== null || token !== null) {
      params.delete(USER_PARAM);
      params.delete(TOKEN_PARAM);
      const rest = params.toString();
      history.replaceState(history.state, '', `${location.pathname}${location.search}#${hash.slice(0, q)}${rest === '' ? '' : `?${rest}`}`);
      if (user !== null && token !== null) {
        sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ user, token }));
        return { user, token };
      }
    }
  }
  try {
    const saved: unknown = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? 'null');
    if (saved !== null && typeof saved === 'object' && 'user' in saved && 'token' in saved && typeof saved.user === 'string' && typeof saved.token === 'string') {
      return { user: saved.user, token: saved.token };
    }
  } catch {
    // Not JSON: as if there were nothing.
  }
  return null;
}

/**
 * A line at the top of the page when it cannot reach its agent at all (the window alone would
 * only say "Connecting to Latch…" for ever): an address from an earlier run, or a stopped harness.
 */
const NOTICE_ID = 'latch-harness-notice';
function showNotice(text: string | null): void {
  const place = () => {
    const existing = document.getElementById(NOTICE_ID);
    if (text === null) return existing?.remove();
    const notice = existing ?? Object.assign(document.createElement('p'), { id: NOTICE_ID, className: 'callout callout-error' });
    notice.setAttribute('role', 'alert');
    notice.textContent = text;
    if (!existing) document.body.prepend(notice);
  };
  if (document.body) place();
  else document.addEventListener('DOMContentLoaded', place, { once: true });
}
const UNREACHABLE = 'This page cannot reach its Latch agent: the address is from an earlier run of the browser harness, or the harness has stopped. Open one of the addresses `npm run dev:browser` printed.';

function offline<T>(message: string): ActionResult<T> {
  return { ok: false, error: { code: 'offline', message } };
}

interface Pending {
  name: DesktopCallName;
  resolve(value: unknown): void;
  reject(err: Error): void;
}

class Bridge {
  private socket: WebSocket | null = null;
  private open = false;
  private downSince = Date.now();
  private failures = 0;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** Calls waiting for the socket to open (or for the grace to run out). */
  private readonly waiting = new Set<() => void>();
  private readonly listeners = new Set<(s: DesktopSnapshot) => void>();
  private lastSnapshot: DesktopSnapshot | null = null;

  private everOpened = false;

  constructor(private readonly link: Link | null) {
    if (link) this.connect(link);
    else showNotice('This page was opened without its harness link: open one of the addresses `npm run dev:browser` printed.');
    document.addEventListener('visibilitychange', () => this.reportVisibility());
  }

  call(name: DesktopCallName, args: unknown[]): Promise<unknown> {
    if (this.link === null) return this.unavailable(name, 'This page was opened without its harness link: open one of the addresses `npm run dev:browser` printed.');
    return this.whenOpen().then((isOpen) => {
      if (!isOpen || !this.socket) return this.unavailable(name, 'Latch is out of reach: the browser harness does not answer. Start it again (`npm run dev:browser`) and reload this page.');
      const id = this.nextId++;
      const socket = this.socket;
      return new Promise((resolve, reject) => {
        this.pending.set(id, { name, resolve, reject });
        this.send(socket, { id, name, args });
      });
    });
  }

  onSnapshot(cb: (s: DesktopSnapshot) => void): () => void {
    this.listeners.add(cb);
    return () => void this.listeners.delete(cb);
  }

  private unavailable(name: DesktopCallName, message: string): Promise<unknown> {
    if (name === 'getSnapshot' && this.lastSnapshot !== null) return Promise.resolve(this.lastSnapshot);
    if (PLAIN_RESULT.has(name)) return Promise.reject(new Error(`latch:offline: ${message}`));
    return Promise.resolve(offline(message));
  }

  /** true once the socket is open; false when it stays closed past the grace since it went down. */
  private whenOpen(): Promise<boolean> {
    if (this.open) return Promise.resolve(true);
    const left = this.downSince + CONNECT_GRACE_MS - Date.now();
    if (left <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiting.delete(done);
        resolve(this.open);
      };
      const timer = setTimeout(done, left);
      this.waiting.add(done);
    });
  }

  private connect(link: Link): void {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${BRIDGE_SOCKET_PATH}?user=${encodeURIComponent(link.user)}`;
    const socket = new WebSocket(url, [BRIDGE_PROTOCOL, `${TOKEN_PROTOCOL_PREFIX}${link.token}`]);
    this.socket = socket;
    socket.addEventListener('open', () => {
      this.open = true;
      this.failures = 0;
      if (!this.everOpened) showNotice(null);
      this.everOpened = true;
      this.reportVisibility();
      for (const wake of [...this.waiting]) wake();
    });
    socket.addEventListener('message', (event) => this.receive(event.data));
    socket.addEventListener('close', () => {
      if (this.socket !== socket) return;
      if (this.open) this.downSince = Date.now();
      this.open = false;
      this.socket = null;
      // Whether the agent ran these is unknown: say so rather than guess or send them again.
      for (const [id, p] of this.pending) {
        this.pending.delete(id);
        if (PLAIN_RESULT.has(p.name)) p.reject(new Error('latch:offline: the connection to Latch dropped before the answer arrived; try again.'));
        else p.resolve(offline('The connection to Latch dropped before the answer arrived: check whether it happened before trying again.'));
      }
      const wait = Math.min(RECONNECT_MAX_MS, RECONNECT_FIRST_MS * 2 ** this.failures++);
      // Refused from the first try (a wrong token, a stopped harness): say so after a few.
      if (!this.everOpened && this.failures >= 3) showNotice(UNREACHABLE);
      setTimeout(() => this.connect(link), wait);
    });
  }

  private receive(data: unknown): void {
    let message: HarnessMessage;
    try {
      message = JSON.parse(String(data)) as HarnessMessage;
    } catch {
      return;
    }
    if ('snapshot' in message) {
      this.lastSnapshot = message.snapshot;
      for (const cb of [...this.listeners]) {
        try {
          cb(message.snapshot);
        } catch (err) {
          // One failing subscriber must not starve the others (as the agent does for its own).
          setTimeout(() => {
            throw err;
          });
        }
      }
      return;
    }
    const p = this.pending.get(message.id);
    if (!p) return;
    this.pending.delete(message.id);
    if ('error' in message) p.reject(new Error(message.error.message));
    else {
      if (p.name === 'getSnapshot') this.lastSnapshot = message.result as DesktopSnapshot;
      p.resolve(message.result);
    }
  }

  private reportVisibility(): void {
    if (this.open && this.socket) this.send(this.socket, { visible: document.visibilityState === 'visible' });
  }

  private send(socket: WebSocket, message: PageMessage): void {
    socket.send(JSON.stringify(message));
  }
}

const bridge = new Bridge(takeLink());
// Another user's address pasted into this tab changes only the fragment, which loads nothing: take
// the new link, and reload so the page talks to that user's agent from the start.
window.addEventListener('hashchange', () => {
  if (new RegExp(`[?&]${USER_PARAM}=`).test(location.hash) && takeLink() !== null) location.reload();
});
const latch = Object.fromEntries(__LATCH_CALLS__.map((name) => [name, (...args: unknown[]) => bridge.call(name, args)])) as Record<DesktopCallName, unknown>;
const api = Object.freeze({ ...latch, onSnapshot: (cb: (s: DesktopSnapshot) => void) => bridge.onSnapshot(cb) }) as DesktopApi;
Object.defineProperty(window, 'latch', { value: api, enumerable: true });
