/**
 * The load side of bench/server.bench.ts, in its own process so the server never measures its own
 * client. Takes one job at a time over IPC and answers with figures. Every loop is bounded in count
 * and in time; every address is 127.0.0.1.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';

export interface Who { name: string; token: string }

export type Job =
  /** `fixed`: one prebuilt request (the baseline, whose server answers it without looking); otherwise each request is built anew. */
  | { cmd: 'http'; url: string; path: string; users: Who[]; roles: string[]; connections: number; durationS: number; maxRequests: number; offset: number; fixed: boolean }
  | { cmd: 'cycles'; url: string; requesters: Who[]; approvers: Who[]; durationS: number; maxCycles: number }
  | { cmd: 'sse'; url: string; watchers: Who[]; approver: Who; approvals: number; resource: string; role: string }
  | { cmd: 'exit' };

/** `loadCpu`: this process's CPU time over the run's wall time (1 = one core busy). */
export interface HttpFigures { ok: number; other: Record<string, number>; errors: number; seconds: number; perSecond: number; p50: number; p99: number; sent: number; loadCpu: number }
export interface CycleFigures { cycles: number; failed: number; seconds: number; perSecond: number; p50: number; p99: number; firstError: string | null; loadCpu: number }
export interface SseFigures { streams: number; openSeconds: number; samples: number; p50: number; p99: number; max: number; mean: number; approveP50: number; approveP99: number; missed: number; loadCpu: number }

const reason = 'BENCH-1 load test of the request path';

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function cpuMeter(): () => number {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  return () => {
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / 1000 / (performance.now() - t0);
  };
}

// ---- (a) and (b): autocannon ---------------------------------------------------------------------

async function httpLoad(job: Extract<Job, { cmd: 'http' }>): Promise<HttpFigures> {
  // Request i: user i mod U, role ⌊i / U⌋ mod R — a (user, role) pair repeats only after U×R
  // requests, so POST /v1/requests never meets its "already pending" rule; stop before that.
  let i = job.offset;
  let stop = () => undefined as void;
  const limit = Math.min(job.offset + job.maxRequests, job.offset + job.users.length * job.roles.length);
  const build = (n: number) => {
    const user = job.users[n % job.users.length]!;
    const role = job.roles[Math.floor(n / job.users.length) % job.roles.length]!;
    return {
      headers: { 'content-type': 'application/json', authorization: `Bearer ${user.token}`, 'idempotency-key': `bench-${n}` },
      body: JSON.stringify({ resource: 'bench', role, duration: '30m', reason }),
    };
  };
  const options: autocannon.Options = {
    url: job.url,
    connections: job.connections,
    pipelining: 1,
    duration: job.durationS,
    timeout: 10,
    requests: [
      job.fixed
        ? { method: 'POST', path: job.path, ...build(job.offset) }
        : {
            method: 'POST',
            path: job.path,
            setupRequest: (req) => {
              const n = i++;
              if (n === limit) stop();
              return { ...req, ...build(n) };
            },
          },
    ],
  };
  const load = cpuMeter();
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(options, (err, res) => (err ? reject(err as Error) : resolve(res)));
    stop = () => instance.stop();
  });
  const other: Record<string, number> = {};
  for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) if (!code.startsWith('2')) other[code] = (stat as { count: number }).count;
  const ok = result['2xx'];
  return { ok, other, errors: result.errors, seconds: result.duration, perSecond: ok / result.duration, p50: result.latency.p50, p99: result.latency.p99, sent: job.fixed ? 0 : i - job.offset, loadCpu: load() };
}

// ---- plain HTTP for (c) and (d) ------------------------------------------------------------------

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function call(url: string, method: string, path: string, token: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(url + path, {
      method, agent, timeout: 10_000,
      headers: { authorization: `Bearer ${token}`, ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}), ...headers },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        try { resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : null }); } catch (err) { reject(err as Error); }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} took over 10 s`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Server-sent events, parsed: resolves once the server says `ready`. */
function openStream(url: string, token: string, onEvent: (type: string, data: any) => void): Promise<{ close(): void }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url + '/v1/events', { agent: false, headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`GET /v1/events → ${res.statusCode}`));
        return;
      }
      res.setEncoding('utf8');
      let buffer = '';
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let type = 'message';
          let data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) type = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (type === 'ready') resolve({ close: () => req.destroy() });
          else if (data) onEvent(type, JSON.parse(data));
        }
      });
    });
    req.setTimeout(30_000, () => req.destroy(new Error('no ready event within 30 s')));
    req.on('error', reject);
    req.on('response', () => req.setTimeout(0));
  });
}

/** Waits for events by key; remembers keys seen before anyone waited (an event can beat the HTTP answer). */
class Waiters {
  private readonly seen = new Map<string, number>();
  private readonly waiting = new Map<string, (at: number) => void>();

  hit(key: string, at: number): void {
    const w = this.waiting.get(key);
    if (w) {
      this.waiting.delete(key);
      w(at);
    } else {
      this.seen.set(key, at);
    }
  }

  wait(key: string, ms: number): Promise<number> {
    const at = this.seen.get(key);
    if (at !== undefined) {
      this.seen.delete(key);
      return Promise.resolve(at);
    }
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiting.delete(key);
        reject(new Error(`no ${key} within ${ms} ms`));
      }, ms);
      this.waiting.set(key, (when) => {
        clearTimeout(t);
        resolve(when);
      });
    });
  }
}

// ---- (c): create → approve → active → end --------------------------------------------------------

async function cycles(job: Extract<Job, { cmd: 'cycles' }>): Promise<CycleFigures> {
  const waiters = new Waiters();
  const streams = await Promise.all(job.requesters.map((r) => openStream(job.url, r.token, (type, e) => {
    if (type === 'grant.active' && e.grantId) waiters.hit(`active:${e.grantId}`, performance.now());
  })));
  const times: number[] = [];
  const load = cpuMeter();
  let failed = 0;
  let firstError: string | null = null;
  let started = 0;
  const start = performance.now();
  const deadline = start + job.durationS * 1000;

  const one = async (requester: Who, approver: Who, n: number) => {
    const t0 = performance.now();
    const created = await call(job.url, 'POST', '/v1/requests', requester.token, { resource: 'cycle', role: 'use', duration: '30m', reason }, { 'idempotency-key': `cycle-${n}` });
    if (created.status !== 201) throw new Error(`create → ${created.status} ${JSON.stringify(created.json)}`);
    const approved = await call(job.url, 'POST', `/v1/requests/${created.json.id}/approve`, approver.token, {});
    if (approved.status !== 200 || !approved.json.grantId) throw new Error(`approve → ${approved.status} ${JSON.stringify(approved.json)}`);
    await waiters.wait(`active:${approved.json.grantId}`, 10_000);
    const ended = await call(job.url, 'POST', `/v1/grants/${approved.json.grantId}/end`, requester.token, {});
    if (ended.status !== 200 || ended.json.state !== 'ended') throw new Error(`end → ${ended.status} ${JSON.stringify(ended.json)}`);
    times.push(performance.now() - t0);
  };

  await Promise.all(job.requesters.map(async (requester, w) => {
    const approver = job.approvers[w % job.approvers.length]!;
    while (performance.now() < deadline && started < job.maxCycles && failed < 20) {
      const n = started++;
      try {
        await one(requester, approver, n);
      } catch (err) {
        failed++;
        firstError ??= (err as Error).message;
      }
    }
  }));
  const seconds = (performance.now() - start) / 1000;
  for (const s of streams) s.close();
  const sorted = times.sort((x, y) => x - y);
  return { cycles: times.length, failed, seconds, perSecond: times.length / seconds, p50: percentile(sorted, 50), p99: percentile(sorted, 99), firstError, loadCpu: load() };
}

// ---- (d): approval → the requester's SSE event, with many streams open ---------------------------

async function sseLatency(job: Extract<Job, { cmd: 'sse' }>): Promise<SseFigures> {
  const waiters = new Waiters();
  const onEvent = (type: string, e: any) => {
    if (type === 'request.approved' && e.requestId) waiters.hit(`approved:${e.requestId}`, performance.now());
    if (type === 'grant.active' && e.requestId) waiters.hit(`active:${e.requestId}`, performance.now());
  };
  const openStart = performance.now();
  const streams: { close(): void }[] = [];
  // Opened in batches; each stream is one user's, so every event is checked against every stream.
  for (let i = 0; i < job.watchers.length; i += 100) {
    streams.push(...(await Promise.all(job.watchers.slice(i, i + 100).map((w) => openStream(job.url, w.token, onEvent)))));
    if (performance.now() - openStart > 60_000) throw new Error('opening the streams took over 60 s');
  }
  const openSeconds = (performance.now() - openStart) / 1000;

  // The requests to approve, made before measuring: one per requester, spread over the streams.
  const step = Math.max(1, Math.floor(job.watchers.length / job.approvals));
  const pending: string[] = [];
  for (let k = 0; k < job.approvals && k * step < job.watchers.length; k++) {
    const r = await call(job.url, 'POST', '/v1/requests', job.watchers[k * step]!.token, { resource: job.resource, role: job.role, duration: '30m', reason });
    if (r.status !== 201) throw new Error(`create → ${r.status} ${JSON.stringify(r.json)}`);
    pending.push(r.json.id);
  }

  const latencies: number[] = [];
  const load = cpuMeter();
  const approveTimes: number[] = [];
  let missed = 0;
  const deadline = performance.now() + 120_000;
  for (const id of pending) {
    if (performance.now() > deadline) break;
    const approvedEvent = waiters.wait(`approved:${id}`, 10_000);
    const active = waiters.wait(`active:${id}`, 10_000);
    const t0 = performance.now();
    const response = call(job.url, 'POST', `/v1/requests/${id}/approve`, job.approver.token, {}).then((r) => {
      approveTimes.push(performance.now() - t0);
      if (r.status !== 200) throw new Error(`approve → ${r.status} ${JSON.stringify(r.json)}`);
    });
    try {
      latencies.push((await approvedEvent) - t0);
    } catch {
      missed++;
    }
    await response;
    // One approval at a time, each settled (grant active) before the next: latency, not queueing.
    await active.catch(() => undefined);
  }
  for (const s of streams) s.close();
  const sorted = latencies.sort((x, y) => x - y);
  const approveSorted = approveTimes.sort((x, y) => x - y);
  return {
    streams: streams.length, openSeconds, samples: sorted.length, missed,
    p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? NaN, mean: sorted.reduce((s, x) => s + x, 0) / sorted.length,
    approveP50: percentile(approveSorted, 50), approveP99: percentile(approveSorted, 99), loadCpu: load(),
  };
}

// ---- IPC ----------------------------------------------------------------------------------------

process.on('message', (job: Job) => {
  if (job.cmd === 'exit') {
    agent.destroy();
    process.disconnect();
    return;
  }
  const run = job.cmd === 'http' ? httpLoad(job) : job.cmd === 'cycles' ? cycles(job) : sseLatency(job);
  run.then(
    (figures) => process.send!({ ok: true, figures }),
    (err: unknown) => process.send!({ ok: false, error: err instanceof Error ? err.stack ?? err.message : String(err) }),
  );
});
