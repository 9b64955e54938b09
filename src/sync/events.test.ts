// The event stream against the real server on loopback (heartbeat 200 ms): typed events, resume
// with Last-Event-ID, resync, the dead-stream watchdog of FIELD-CASES B43 (a black-holing TCP
// proxy, a wall-clock jump), "offline", a token refreshed when the stream gets a 401, and the
// reconnection backoff against a port that resets every connection.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventView } from '../shared/api.js';
import { ManualClock, systemClock, type Clock, type TimerHandle } from '../shared/clock.js';
import { startHarness, type Harness, type TestClient } from '../server/test-support/harness.js';
import { LatchClient } from './client.js';
import { MemoryCredentialSource, type DeviceCredential } from './credentials.js';
import { EventStream, type EventStreamOptions, type ResyncSignal, type StreamStatus } from './events.js';
import { startHttpProxy, startTcpProxy, type HttpProxy, type TcpProxy } from './test-support/proxies.js';

const HEARTBEAT_MS = 200;
const FAST_RETRY = { attempts: 3, firstMs: 20, maxMs: 100 };
const TTL_S = 900;

/** The real clock, whose wall time can jump while timers keep real time (as in sleep and resume). */
class JumpClock implements Clock {
  skew = 0;
  now(): number {
    return Date.now() + this.skew;
  }
  setTimer(fn: () => void, ms: number): TimerHandle {
    return systemClock.setTimer(fn, ms);
  }
  clearTimer(handle: TimerHandle): void {
    systemClock.clearTimer(handle);
  }
}

class CountingSource extends MemoryCredentialSource {
  saves = 0;
  override async save(c: DeviceCredential): Promise<void> {
    this.saves++;
    await super.save(c);
  }
}

async function codeFor(h: Harness, user: string): Promise<string> {
  const admin = await h.as('admin');
  const r = await admin.post(`/v1/admin/users/${user}/code`, {});
  if (r.status !== 201) throw new Error(`code for ${user}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.code as string;
}

async function enrolled(baseUrl: string, code: string, clock: Clock = systemClock) {
  const source = new CountingSource();
  const client = new LatchClient({ baseUrl, credentials: source, clock, retry: FAST_RETRY });
  await client.enroll(code, 'bob-laptop');
  return { client, source };
}

function watch(client: LatchClient, opts: Partial<EventStreamOptions> = {}) {
  const stream = new EventStream({ client, clock: systemClock, heartbeatMs: HEARTBEAT_MS, backoff: { firstMs: 100, maxMs: 400 }, ...opts });
  const events: EventView[] = [];
  const statuses: StreamStatus[] = [];
  const resyncs: ResyncSignal[] = [];
  stream.onEvent((e) => events.push(e));
  stream.onStatus((s) => statuses.push(s));
  stream.onResync((r) => resyncs.push(r));
  return { stream, events, statuses, resyncs, created: (id: string) => events.filter((e) => e.type === 'request.created' && e.requestId === id).length };
}

async function until(what: string, pred: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const ROLES = [['demo-pass', 'read'], ['demo-pass', 'write'], ['pg-prod', 'admin']] as const;
/** alice asks for something bob approves; returns the request id. */
async function request(alice: TestClient, i: number, reason: string): Promise<string> {
  const [resource, role] = ROLES[i % ROLES.length]!;
  const r = await alice.post('/v1/requests', { resource, role, duration: '10m', reason });
  if (r.status !== 201) throw new Error(`request: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.id as string;
}

async function cancelAll(alice: TestClient, ids: string[]): Promise<void> {
  for (const id of ids) await alice.post(`/v1/requests/${id}/cancel`);
}

describe('event stream', () => {
  let h: Harness;
  let alice: TestClient;
  beforeAll(async () => {
    h = await startHarness({ heartbeatMs: HEARTBEAT_MS });
    alice = await h.as('alice');
  });
  afterAll(async () => h.close());

  it('goes live, asks for an initial resync once, and delivers typed events', async () => {
    const { client } = await enrolled(h.url, await codeFor(h, 'bob'));
    const w = watch(client);
    w.stream.start();
    await until('live', () => w.stream.status.state === 'live');
    expect(w.statuses.map((s) => s.state)).toEqual(['live']); // it started as `connecting`
    expect(w.resyncs).toEqual([{ reason: 'initial', lastEventId: expect.any(Number) }]);

    const id = await request(alice, 0, 'INC-20 typed events');
    await until('request.created', () => w.created(id) === 1);
    const e = w.events.find((x) => x.requestId === id)!;
    expect(e).toMatchObject({ type: 'request.created', actor: 'alice', data: { resource: 'demo-pass', role: 'read' } });
    expect(w.stream.lastEventId).toBe(e.id);

    w.stream.reconnectNow();
    await until('live again', () => w.statuses.length >= 3 && w.stream.status.state === 'live');
    expect(w.statuses.slice(1).map((s) => [s.state, s.reason])).toEqual([['reconnecting', 'requested'], ['live', null]]);
    expect(w.resyncs).toHaveLength(1);
    w.stream.close();
    client.close();
    await cancelAll(alice, [id]);
  });

  it('signals a resync when the server cannot resume from the remembered id', async () => {
    const { client } = await enrolled(h.url, await codeFor(h, 'bob'));
    const w = watch(client, { lastEventId: 1_000_000 });
    w.stream.start();
    await until('live', () => w.stream.status.state === 'live');
    expect(w.resyncs).toEqual([{ reason: 'unknown_last_event_id', lastEventId: expect.any(Number) }]);
    expect(w.stream.lastEventId).toBeLessThan(1_000_000);
    // And it carries on from the server's position.
    const id = await request(alice, 0, 'INC-21 after resync');
    await until('request.created', () => w.created(id) === 1);
    w.stream.close();
    client.close();
    await cancelAll(alice, [id]);
  });

  it('resumes from a persisted last event id with exactly the missed events', async () => {
    const { client } = await enrolled(h.url, await codeFor(h, 'bob'));
    const first = watch(client);
    first.stream.start();
    await until('live', () => first.stream.status.state === 'live');
    const at = first.stream.lastEventId;
    first.stream.close();
    const ids = [await request(alice, 0, 'INC-22 missed one'), await request(alice, 1, 'INC-22 missed two')];

    const second = watch(client, { lastEventId: at });
    second.stream.start();
    await until('both missed events', () => ids.every((id) => second.created(id) === 1));
    expect(second.resyncs).toEqual([]);
    second.stream.close();
    client.close();
    await cancelAll(alice, ids);
  });
});

describe('dead streams (B43)', () => {
  let h: Harness;
  let alice: TestClient;
  let tcp: TcpProxy;
  beforeAll(async () => {
    h = await startHarness({ heartbeatMs: HEARTBEAT_MS });
    alice = await h.as('alice');
    tcp = await startTcpProxy(h.url);
  });
  afterAll(async () => {
    await tcp.close();
    await h.close();
  });

  it('black-holed traffic: noticed within two heartbeats, offline later, and on return the 3 missed requests arrive exactly once', async () => {
    const { client } = await enrolled(tcp.url, await codeFor(h, 'bob'));
    const w = watch(client, { offlineAfterMs: 1_500 });
    w.stream.start();
    await until('live', () => w.stream.status.state === 'live');

    tcp.blackhole();
    const cut = Date.now();
    await until('reconnecting', () => w.stream.status.state === 'reconnecting', 3_000);
    // Silence for more than 2 heartbeats, seen at the next check (a quarter heartbeat), plus scheduling slack.
    expect(Date.now() - cut).toBeLessThan(2 * HEARTBEAT_MS + HEARTBEAT_MS / 4 + 300);
    expect(w.stream.status.reason).toBe('silent');

    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(await request(alice, i, `INC-30 while bob's stream is dead #${i}`));
    await until('offline', () => w.stream.status.state === 'offline', 3_000);
    expect(w.stream.status.since - cut).toBeGreaterThanOrEqual(1_400);
    expect(ids.some((id) => w.created(id) > 0)).toBe(false);

    tcp.restore();
    await until('the 3 missed requests', () => ids.every((id) => w.created(id) === 1), 5_000);
    expect(w.stream.status.state).toBe('live');
    expect(w.statuses.map((s) => s.state)).toEqual(['live', 'reconnecting', 'offline', 'live']);

    // Another reconnection replays nothing already delivered.
    const seen = w.statuses.length;
    w.stream.reconnectNow();
    await until('live again', () => w.statuses.length >= seen + 2 && w.stream.status.state === 'live');
    await cancelAll(alice, ids);
    await until('the cancellations', () => ids.every((id) => w.events.some((e) => e.type === 'request.cancelled' && e.requestId === id)));
    expect(ids.map((id) => w.created(id))).toEqual([1, 1, 1]);
    expect(w.resyncs.map((r) => r.reason)).toEqual(['initial']);
    w.stream.close();
    client.close();
  });

  it('a wall-clock jump (sleep and resume) reconnects at once, although bytes still flow', async () => {
    const clock = new JumpClock();
    const { client } = await enrolled(tcp.url, await codeFor(h, 'bob'));
    // A long heartbeat setting, so silence cannot be what trips the watchdog here.
    const w = watch(client, { clock, heartbeatMs: 10_000 });
    w.stream.start();
    await until('live', () => w.stream.status.state === 'live');
    clock.skew += 45 * 60_000;
    await until('reconnecting', () => w.stream.status.state === 'reconnecting', 2_000);
    expect(w.stream.status.reason).toBe('clock_jump');
    await until('live again', () => w.stream.status.state === 'live', 3_000);
    w.stream.close();
    client.close();
  });

  it('under a ManualClock, setting the clock ahead reconnects', async () => {
    const clock = new ManualClock(Date.now());
    const { client } = await enrolled(tcp.url, await codeFor(h, 'bob'));
    const w = watch(client, { clock });
    w.stream.start();
    await until('live', () => w.stream.status.state === 'live');
    clock.set(clock.now() + 6_000);
    // Timers of a ManualClock fire in order on the way, so this reads as silence rather than a jump.
    expect(w.statuses.map((s) => [s.state, s.reason])).toEqual([['live', null], ['reconnecting', 'silent']]);
    await until('live again', () => w.stream.status.state === 'live', 3_000);
    w.stream.close();
    client.close();
  });
});

describe('stream authorization', () => {
  // (The server keeps an open stream going after its device signs out; the client ends it.)
  let h: Harness;
  let proxy: HttpProxy;
  const serverClock = new ManualClock(Date.now());
  let codes: string[];
  beforeAll(async () => {
    h = await startHarness({ heartbeatMs: HEARTBEAT_MS, clock: serverClock, accessTtlS: TTL_S });
    proxy = await startHttpProxy(h.url);
    codes = [await codeFor(h, 'bob'), await codeFor(h, 'bob'), await codeFor(h, 'bob')];
  });
  afterAll(async () => {
    await proxy.close();
    await h.close();
  });

  it('stops when the device signs out, and delivers nothing more', async () => {
    const { client } = await enrolled(proxy.url, codes[2]!);
    const w = watch(client);
    w.stream.start();
    await until('live', () => w.stream.status.state === 'live');
    expect(await client.signOut()).toEqual({ revokedOnServer: true });
    expect(w.stream.status).toMatchObject({ state: 'offline', reason: 'signed_out' });
    const alice = await h.as('alice');
    const id = await request(alice, 0, 'INC-40 after bob signed out');
    await new Promise((r) => setTimeout(r, 2 * HEARTBEAT_MS));
    expect(w.events).toEqual([]);
    await cancelAll(alice, [id]);
    client.close();
  });

  it('refreshes the token through the client when the stream gets a 401', async () => {
    const { client, source } = await enrolled(proxy.url, codes[0]!);
    serverClock.advance((TTL_S + 1) * 1000);
    proxy.seen.length = 0;
    const w = watch(client);
    w.stream.start();
    await until('live', () => w.stream.status.state === 'live');
    const streams = proxy.seen.filter((r) => r.path === '/v1/events');
    expect(streams.map((r) => r.status)).toEqual([401, 200]);
    expect(proxy.count('POST', '/v1/token/refresh')).toBe(1);
    expect(source.saves).toBe(2);
    expect(w.stream.status.state).toBe('live');
    w.stream.close();
    client.close();
  });

  it('stops, signed out, when the refresh is refused: no reconnect loop', async () => {
    const { client, source } = await enrolled(proxy.url, codes[1]!);
    await h.anonymous().post('/v1/token/refresh', { refreshToken: source.current!.refreshToken }); // a copy used it
    serverClock.advance((TTL_S + 1) * 1000);
    proxy.seen.length = 0;
    const w = watch(client);
    w.stream.start();
    await until('signed out', () => w.stream.status.reason === 'signed_out');
    expect(w.stream.status.state).toBe('offline');
    await new Promise((r) => setTimeout(r, 4 * HEARTBEAT_MS));
    expect(proxy.count('GET', '/v1/events')).toBe(1);
    expect(proxy.count('POST', '/v1/token/refresh')).toBe(1);
    client.close();
  });
});

/** A ManualClock that also tells which timers are pending and the delay each was armed with. */
class WatchedClock implements Clock {
  private readonly inner = new ManualClock(Date.now());
  private readonly armed: { ms: number; handle: TimerHandle | null; done: boolean }[] = [];
  now(): number {
    return this.inner.now();
  }
  setTimer(fn: () => void, ms: number): TimerHandle {
    const rec: { ms: number; handle: TimerHandle | null; done: boolean } = { ms, handle: null, done: false };
    rec.handle = this.inner.setTimer(() => {
      rec.done = true;
      fn();
    }, ms);
    this.armed.push(rec);
    return rec.handle;
  }
  clearTimer(handle: TimerHandle): void {
    const rec = this.armed.find((r) => r.handle === handle);
    if (rec) rec.done = true;
    this.inner.clearTimer(handle);
  }
  advance(ms: number): void {
    this.inner.advance(ms);
  }
  /** The delays of the timers armed and not yet fired or cleared. */
  pending(): number[] {
    return this.armed.filter((r) => !r.done).map((r) => r.ms);
  }
}

describe('reconnection backoff', () => {
  let h: Harness;
  let tcp: TcpProxy;
  beforeAll(async () => {
    h = await startHarness({ heartbeatMs: HEARTBEAT_MS });
    tcp = await startTcpProxy(h.url);
  });
  afterAll(async () => {
    await tcp.close();
    await h.close();
  });

  it('a server that resets every connection: the waits double up to maxMs, and start over after a connection that went live', async () => {
    const clock = new WatchedClock();
    const { client } = await enrolled(tcp.url, await codeFor(h, 'bob'), clock);
    // heartbeat 10 s: the watchdog checks every 1 s; offline after an hour: neither is a backoff wait.
    const WATCHDOG_MS = 1_000;
    const OFFLINE_MS = 3_600_000;
    const backoff = { firstMs: 30, maxMs: 300 };
    // random = 1: each wait is its ceiling, min(maxMs, firstMs · 2^n); the jitter only ever shortens it (to half).
    const w = watch(client, { clock, heartbeatMs: 10_000, offlineAfterMs: OFFLINE_MS, backoff, random: () => 1 });
    const retryWait = () => clock.pending().filter((ms) => ms !== WATCHDOG_MS && ms !== OFFLINE_MS);

    /** Waits for the refused attempt number `n` to be handled: the next retry armed. Returns its wait. */
    const nextWait = async (n: number): Promise<number> => {
      await until(`attempt ${n} refused and the retry armed`, () => tcp.refused === n && retryWait().length === 1);
      return retryWait()[0]!;
    };
    /** The client comes back after exactly `ms`: not a millisecond before. */
    const comesBackAfter = async (ms: number, n: number): Promise<void> => {
      clock.advance(ms - 1);
      await new Promise((r) => setTimeout(r, 20));
      expect(tcp.accepted, `no attempt before ${ms} ms`).toBe(n);
      clock.advance(1);
      await until(`attempt ${n + 1}`, () => tcp.accepted === n + 1);
    };

    tcp.refuse();
    const base = tcp.accepted;
    w.stream.start();
    const waits: number[] = [];
    for (let i = 1; i <= 6; i++) {
      const wait = await nextWait(i);
      waits.push(wait);
      if (i < 6) await comesBackAfter(wait, base + i);
    }
    expect(waits).toEqual([30, 60, 120, 240, 300, 300]);
    expect(w.stream.status).toMatchObject({ state: 'reconnecting', reason: 'network', detail: expect.stringMatching(/^cannot reach the Latch server at http:\/\/127\.0\.0\.1:\d+ \(ECONNRESET\)$/) });

    // The server is back: the next attempt goes live, which clears the count.
    tcp.restore();
    clock.advance(300);
    await until('live', () => w.stream.status.state === 'live');

    // Reset again: the first wait is the shortest again, and grows from there.
    tcp.refuse();
    const refusedBefore = tcp.refused;
    await until('the live connection reset and the retry armed', () => w.stream.status.state === 'reconnecting' && retryWait().length === 1);
    expect(retryWait()).toEqual([30]);
    clock.advance(30);
    await until('refused again, the retry armed', () => tcp.refused === refusedBefore + 1 && retryWait().length === 1);
    expect(retryWait()).toEqual([60]);
    w.stream.close();
    client.close();
  });
});
