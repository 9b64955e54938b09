/**
 * The event stream (GET /v1/events, server-sent events) as the desktop agent needs it: typed
 * events, exactly once, across any number of reconnections.
 *
 * - Resume: every reconnection sends `Last-Event-ID`; the server replays what was missed, and
 *   anything at or below the last id seen is dropped, so each event is delivered once.
 * - Resync: when the server cannot resume (`event: resync`) — and on the very first connection,
 *   which starts from "now" — a `resync` signal tells the agent to refetch everything; the events
 *   that follow build on that.
 * - Watchdog (FIELD-CASES B43): after sleep or a network change a dead socket can look open for
 *   minutes. The server sends a heartbeat every `heartbeatMs`; more than two intervals without a
 *   byte, or the wall clock jumping by more than `clockJumpMs` between two checks (the machine
 *   slept — and the data buffered meanwhile must not make the dead connection look alive), and
 *   the connection is destroyed and opened again with capped exponential backoff and jitter.
 * - Status for the tray: `connecting`, `live` (after the server's `ready`), `reconnecting`, and
 *   `offline` once the server has been out of reach for `offlineAfterMs`.
 *
 * Every timer runs on the injected Clock. Under a ManualClock, advancing time without feeding
 * bytes counts as silence, as it would in real life.
 */
import http from 'node:http';
import https from 'node:https';
import { eventSchema, type EventView } from '../shared/api.js';
import type { Clock, TimerHandle } from '../shared/clock.js';
import { backoffDelay, type Backoff } from './backoff.js';
import type { LatchClient } from './client.js';
import { SignedOutError } from './errors.js';
import { SseParser, type SseFrame } from './sse-parser.js';

export type StreamState = 'connecting' | 'live' | 'reconnecting' | 'offline';

/** Why the stream is not live. */
export type DisconnectReason =
  | 'silent' // no byte for more than two heartbeats
  | 'clock_jump' // the wall clock jumped (sleep and resume)
  | 'closed' // the server ended the stream (restart, shutdown)
  | 'network' // the connection failed or the server could not be reached
  | 'http_error' // the server answered something other than the stream
  | 'unauthorized' // the access token was refused even after a refresh
  | 'signed_out' // this device is signed out: the stream stops until start() is called again
  | 'requested'; // reconnectNow()

export interface StreamStatus {
  state: StreamState;
  /** When this state began (the injected clock's time). */
  since: number;
  /** Why the stream went down; null while live and before the first failure. */
  reason: DisconnectReason | null;
  /** One sentence about the last failure, for logs and tooltips (never contains a token). */
  detail: string | null;
}

export type ResyncReason = 'initial' | 'unknown_last_event_id' | 'invalid_event' | (string & {});

export interface ResyncSignal {
  /** `initial`: first connection, nothing to resume from; others: the server or this client lost track. */
  reason: ResyncReason;
  /** The id the stream continues from. */
  lastEventId: number | null;
}

export interface EventStreamOptions {
  client: LatchClient;
  clock: Clock;
  /** The server's heartbeat interval (`latch serve`'s, default 15 s). Silence for twice this is death. */
  heartbeatMs?: number;
  /** How long without the server before the status says `offline` (default 60 s). */
  offlineAfterMs?: number;
  /** Reconnection backoff (default: first wait up to 1 s, doubling, capped at 30 s; jittered). */
  backoff?: Backoff;
  /** A wall-clock jump larger than this between two checks means the machine slept (default 5 s). */
  clockJumpMs?: number;
  /** Where to resume from (persisted by the agent across restarts); null to start from now. */
  lastEventId?: number | null;
  /** A listener threw; the stream carries on (default: console.error). */
  onListenerError?(err: unknown): void;
  random?: () => number;
}

export const DEFAULT_HEARTBEAT_MS = 15_000;
export const DEFAULT_OFFLINE_AFTER_MS = 60_000;
export const DEFAULT_STREAM_BACKOFF: Backoff = { firstMs: 1_000, maxMs: 30_000 };
export const DEFAULT_CLOCK_JUMP_MS = 5_000;
/** The longest 401 body read for its error code. */
const MAX_ERROR_BODY = 16 * 1024;

interface Connection {
  id: number;
  req: http.ClientRequest;
  res: http.IncomingMessage | null;
  parser: SseParser;
}

export class EventStream {
  private readonly client: LatchClient;
  private readonly clock: Clock;
  private readonly heartbeatMs: number;
  private readonly tickMs: number;
  private readonly offlineAfterMs: number;
  private readonly backoff: Backoff;
  private readonly clockJumpMs: number;
  private readonly random: () => number;
  private readonly reportListenerError: (err: unknown) => void;

  private readonly eventListeners = new Set<(e: EventView) => void>();
  private readonly resyncListeners = new Set<(r: ResyncSignal) => void>();
  private readonly statusListeners = new Set<(s: StreamStatus) => void>();

  private running = false;
  /** Identifies the current connection attempt; callbacks of older ones are ignored. */
  private seq = 0;
  private conn: Connection | null = null;
  private lastId: number | null;
  private resyncOnReady: boolean;
  private failures = 0;
  /** A 401 was answered with a refresh since the last `ready`; a second one waits out the backoff. */
  private renewedSinceReady = false;
  private lastByteAt = 0;
  private lastCheckAt = 0;
  private downSince = 0;
  private retryTimer: TimerHandle | null = null;
  private watchTimer: TimerHandle | null = null;
  private offlineTimer: TimerHandle | null = null;
  private current: StreamStatus;
  private unsubscribeSignOut: (() => void) | null = null;

  constructor(opts: EventStreamOptions) {
    this.client = opts.client;
    this.clock = opts.clock;
    this.heartbeatMs = opts.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    // Checked four times per heartbeat (at most once a second): silence is seen soon after 2 × heartbeat.
    this.tickMs = Math.max(10, Math.min(1_000, Math.floor(this.heartbeatMs / 4)));
    this.offlineAfterMs = opts.offlineAfterMs ?? DEFAULT_OFFLINE_AFTER_MS;
    this.backoff = opts.backoff ?? DEFAULT_STREAM_BACKOFF;
    this.clockJumpMs = opts.clockJumpMs ?? DEFAULT_CLOCK_JUMP_MS;
    this.random = opts.random ?? Math.random;
    this.reportListenerError = opts.onListenerError ?? ((err) => console.error('latch: an event-stream listener failed', err));
    this.lastId = opts.lastEventId ?? null;
    this.resyncOnReady = this.lastId === null;
    this.current = { state: 'connecting', since: this.clock.now(), reason: null, detail: null };
  }

  // ---- subscriptions --------------------------------------------------------------------------

  /** Each event visible to this user, once, in id order. Returns an unsubscribe function. */
  onEvent(cb: (e: EventView) => void): () => void {
    return subscribe(this.eventListeners, cb);
  }

  /** Refetch everything now: the stream cannot (or could not yet) account for what happened before. */
  onResync(cb: (r: ResyncSignal) => void): () => void {
    return subscribe(this.resyncListeners, cb);
  }

  /** Each change of state (not each new reason). The state now is `status`. */
  onStatus(cb: (s: StreamStatus) => void): () => void {
    return subscribe(this.statusListeners, cb);
  }

  get status(): StreamStatus {
    return this.current;
  }

  /** The id of the last event seen (or the server's position after `ready`): persist it to resume after a restart. */
  get lastEventId(): number | null {
    return this.lastId;
  }

  // ---- control --------------------------------------------------------------------------------

  /**
   * Opens the stream and keeps it open until close(), or until the device is signed out (status
   * `offline`, reason `signed_out`; call start() again after enrolling).
   */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribeSignOut = this.client.onSignOut(() => this.failed(this.seq, new SignedOutError(this.client.baseUrl)));
    this.failures = 0;
    this.downSince = this.clock.now();
    this.setStatus('connecting', null, null);
    this.armOffline();
    void this.connect();
  }

  /** Drops the connection and stops; no more events or status changes. */
  close(): void {
    this.running = false;
    this.unsubscribeSignOut?.();
    this.unsubscribeSignOut = null;
    this.teardown();
    this.clearTimer('retryTimer');
    this.clearTimer('offlineTimer');
  }

  /**
   * Reconnects now with no backoff: for the agent to call when the OS reports a resume from sleep
   * or a network change, rather than waiting for the watchdog.
   */
  reconnectNow(): void {
    if (!this.running) return;
    this.failures = 0;
    this.down('requested', 'reconnecting on request', 0);
  }

  // ---- connection -----------------------------------------------------------------------------

  private async connect(): Promise<void> {
    this.retryTimer = null;
    const id = ++this.seq;
    let token: string;
    try {
      token = await this.client.accessToken();
    } catch (err) {
      if (id === this.seq) this.failed(id, err);
      return;
    }
    if (id !== this.seq || !this.running) return;

    const url = new URL(`${this.client.baseUrl}/v1/events`);
    const headers: Record<string, string> = { accept: 'text/event-stream', 'cache-control': 'no-cache', authorization: `Bearer ${token}` };
    if (this.lastId !== null) headers['last-event-id'] = String(this.lastId);
    const sentAt = this.clock.now();
    // A connection of its own (no keep-alive pool): it is destroyed outright when found dead.
    const req = (url.protocol === 'https:' ? https : http).request(url, { method: 'GET', headers, agent: false });
    this.conn = { id, req, res: null, parser: new SseParser() };
    this.lastByteAt = sentAt;
    this.lastCheckAt = sentAt;
    this.armWatchdog(id);
    req.on('response', (res) => this.onResponse(id, res, token, sentAt));
    req.on('error', (err: NodeJS.ErrnoException) => this.drop(id, 'network', `cannot reach the Latch server at ${this.client.baseUrl} (${err.code ?? err.message})`));
    req.end();
  }

  private onResponse(id: number, res: http.IncomingMessage, token: string, sentAt: number): void {
    if (id !== this.seq || !this.conn) {
      res.destroy();
      return;
    }
    this.conn.res = res;
    this.client.observeServerDate(res.headers.date, sentAt, this.clock.now());
    this.lastByteAt = this.clock.now();
    res.on('error', () => this.drop(id, 'network', 'the connection to the server broke'));

    if (res.statusCode === 401) {
      readSmall(res, (body) => this.onUnauthorized(id, token, body));
      return;
    }
    const type = res.headers['content-type'] ?? '';
    if (res.statusCode !== 200 || !type.startsWith('text/event-stream')) {
      res.resume();
      this.drop(id, 'http_error', `the server answered GET /v1/events with HTTP ${res.statusCode} ${type ? `(${type.split(';')[0]})` : ''}`.trim());
      return;
    }
    res.on('data', (chunk: Buffer) => this.onData(id, chunk));
    res.on('end', () => this.drop(id, 'closed', 'the server ended the event stream'));
    res.on('close', () => this.drop(id, 'closed', 'the event stream was closed'));
  }

  private onUnauthorized(id: number, token: string, body: string): void {
    if (id !== this.seq) return;
    this.teardown();
    if (this.renewedSinceReady) {
      this.down('unauthorized', `the server refused the access token for the event stream (${errorCodeOf(body) ?? 'HTTP 401'})`);
      return;
    }
    this.renewedSinceReady = true;
    const renewal = ++this.seq;
    this.client.renewAccess(token).then(
      () => {
        if (renewal === this.seq && this.running) void this.connect();
      },
      (err: unknown) => {
        if (renewal === this.seq) this.failed(renewal, err);
      },
    );
  }

  private onData(id: number, chunk: Buffer): void {
    if (id !== this.seq || !this.conn) return;
    // Bytes buffered while the machine slept arrive first on resume: the gap is checked before
    // they can count as a sign of life (B43).
    if (this.clockJumped()) return this.drop(id, 'clock_jump', 'the clock jumped (the computer slept); reconnecting');
    this.lastByteAt = this.clock.now();
    let frames: SseFrame[];
    try {
      frames = this.conn.parser.push(chunk);
    } catch (err) {
      return this.drop(id, 'http_error', (err as Error).message);
    }
    for (const frame of frames) {
      if (id !== this.seq) return;
      this.onFrame(frame);
    }
  }

  private onFrame(frame: SseFrame): void {
    switch (frame.event) {
      case 'ready': {
        // The server's position: it may be past our last event when the ones between were not for us.
        const at = numberField(frame.data, 'lastEventId');
        if (at !== null && (this.lastId === null || at > this.lastId)) this.lastId = at;
        this.failures = 0;
        this.renewedSinceReady = false;
        this.clearTimer('offlineTimer');
        this.setStatus('live', null, null);
        if (this.resyncOnReady) {
          this.resyncOnReady = false;
          this.emitResync({ reason: 'initial', lastEventId: this.lastId });
        }
        return;
      }
      case 'resync': {
        this.lastId = numberField(frame.data, 'lastEventId');
        this.resyncOnReady = false;
        const reason = stringField(frame.data, 'reason') ?? 'unknown_last_event_id';
        this.emitResync({ reason, lastEventId: this.lastId });
        return;
      }
      default:
        this.onDomainEvent(frame);
    }
  }

  private onDomainEvent(frame: SseFrame): void {
    const id = frame.id !== null && /^\d{1,15}$/.test(frame.id) ? Number(frame.id) : null;
    if (id === null) return; // every event of the log carries its id; anything else is not ours
    if (this.lastId !== null && id <= this.lastId) return;
    this.lastId = id;
    let parsed;
    try {
      parsed = eventSchema.safeParse(JSON.parse(frame.data));
    } catch {
      parsed = null;
    }
    if (!parsed?.success) {
      // An event this version cannot read: what it changed is unknown, so refetch.
      this.emitResync({ reason: 'invalid_event', lastEventId: id });
      return;
    }
    for (const cb of [...this.eventListeners]) this.safely(() => cb(parsed.data));
  }

  // ---- watchdog -------------------------------------------------------------------------------

  private armWatchdog(id: number): void {
    this.clearTimer('watchTimer');
    this.watchTimer = this.clock.setTimer(() => this.check(id), this.tickMs);
  }

  private check(id: number): void {
    this.watchTimer = null;
    if (id !== this.seq) return;
    if (this.clockJumped()) return this.drop(id, 'clock_jump', 'the clock jumped (the computer slept); reconnecting');
    this.lastCheckAt = this.clock.now();
    if (this.lastCheckAt - this.lastByteAt > 2 * this.heartbeatMs) {
      return this.drop(id, 'silent', `no heartbeat from the server for ${Math.round((this.lastCheckAt - this.lastByteAt) / 1000)} s; reconnecting`);
    }
    this.armWatchdog(id);
  }

  /** True when the wall clock moved much more (or backwards) than the time between two checks allows. */
  private clockJumped(): boolean {
    const gap = this.clock.now() - this.lastCheckAt;
    return gap > this.tickMs + this.clockJumpMs || gap < -this.clockJumpMs;
  }

  // ---- going down and coming back -------------------------------------------------------------

  /** The connection `id` is dead: drop it and schedule the next attempt. */
  private drop(id: number, reason: DisconnectReason, detail: string): void {
    if (id !== this.seq || !this.running) return;
    this.down(reason, detail);
  }

  /** Connecting failed before any connection existed (token refresh, signed out). */
  private failed(id: number, err: unknown): void {
    if (id !== this.seq || !this.running) return;
    if (err instanceof SignedOutError) {
      this.close();
      this.setStatus('offline', 'signed_out', err.message);
      return;
    }
    this.down('network', err instanceof Error ? err.message : String(err));
  }

  private down(reason: DisconnectReason, detail: string, delayMs?: number): void {
    this.teardown();
    this.clearTimer('retryTimer');
    if (this.current.state === 'live') {
      this.downSince = this.clock.now();
      this.armOffline();
    }
    if (this.current.state === 'offline') this.current = { ...this.current, reason, detail };
    else this.setStatus('reconnecting', reason, detail);
    const wait = delayMs ?? backoffDelay(this.failures, this.backoff, this.random);
    this.failures++;
    this.retryTimer = this.clock.setTimer(() => void this.connect(), wait);
  }

  private teardown(): void {
    this.seq++;
    this.clearTimer('watchTimer');
    const conn = this.conn;
    this.conn = null;
    if (conn) {
      conn.res?.destroy();
      conn.req.destroy();
    }
  }

  private armOffline(): void {
    this.clearTimer('offlineTimer');
    const left = Math.max(0, this.offlineAfterMs - (this.clock.now() - this.downSince));
    this.offlineTimer = this.clock.setTimer(() => {
      this.offlineTimer = null;
      if (this.running && this.current.state !== 'live') this.setStatus('offline', this.current.reason, this.current.detail);
    }, left);
  }

  private setStatus(state: StreamState, reason: DisconnectReason | null, detail: string | null): void {
    const changed = state !== this.current.state;
    this.current = { state, since: changed ? this.clock.now() : this.current.since, reason, detail };
    if (changed) for (const cb of [...this.statusListeners]) this.safely(() => cb(this.current));
  }

  private emitResync(signal: ResyncSignal): void {
    for (const cb of [...this.resyncListeners]) this.safely(() => cb(signal));
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.reportListenerError(err);
    }
  }

  private clearTimer(name: 'retryTimer' | 'watchTimer' | 'offlineTimer'): void {
    const t = this[name];
    if (t !== null) this.clock.clearTimer(t);
    this[name] = null;
  }
}

function subscribe<T>(set: Set<T>, cb: T): () => void {
  set.add(cb);
  return () => void set.delete(cb);
}

function readSmall(res: http.IncomingMessage, done: (body: string) => void): void {
  let body = '';
  res.setEncoding('utf8');
  res.on('data', (s: string) => {
    if (body.length < MAX_ERROR_BODY) body += s;
  });
  res.on('end', () => done(body));
  res.on('error', () => done(body));
}

function parseObject(data: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(data);
    return v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function numberField(data: string, key: string): number | null {
  const v = parseObject(data)?.[key];
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : null;
}

function stringField(data: string, key: string): string | null {
  const v = parseObject(data)?.[key];
  return typeof v === 'string' ? v : null;
}

function errorCodeOf(body: string): string | null {
  const error = parseObject(body)?.error;
  return error !== null && typeof error === 'object' && typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : null;
}
