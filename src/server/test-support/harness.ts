/**
 * Test harness: the real server on a random loopback port with a temp data dir, and an HTTP
 * client per user. Used by API tests, field-case tests and benchmarks.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import type { LatchConfig } from '../../shared/config.js';
import type { Clock } from '../../shared/clock.js';
import { parseConfig } from '../config/load.js';
import type { Connector } from '../connectors/types.js';
import type { ServerKeys } from '../keys.js';
import { createLatchServer, type LatchServer } from '../server.js';
import { newCodeFor } from '../auth/identity.js';

export const TEST_CONFIG = `
groups:
  eng: { members: [alice, dave] }
  sre: { members: [bob, carol] }
  ops: { members: [erin] }
resources:
  demo-pass:
    connector: pass
    roles: { read: {}, write: {} }
  pg-prod:
    connector: pass
    roles: { readonly: {}, admin: {} }
policies:
  - resource: demo-pass
    roles: [read]
    requesters: [eng, sre]
    approvers: { groups: [sre] }
    defaultDuration: 30m
    maxDuration: 1h
    extensions: { max: 2, maxDuration: 30m, requireApproval: true }
  - resource: demo-pass
    roles: [write]
    requesters: [eng, sre]
    approvers: { groups: [sre] }
    approvals: 2
    maxDuration: 1h
    selfApproval: true
    scheduledStart: { allowed: true }
    breakGlass: { allowed: true, maxDuration: 15m }
    extensions: { max: 1, requireApproval: false }
  - resource: pg-prod
    requesters: [eng, ops]
    approvers: { groups: [sre] }
    maxDuration: 4h
    approveWithin: 24h
    autoApprove: [{ groups: [ops], roles: [readonly] }]
`;

export interface Reply<T = any> { status: number; body: T; headers: Headers }

export class TestClient {
  constructor(readonly url: string, readonly token: string | null, readonly name: string) {}

  async call<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply<T>> {
    const res = await fetch(this.url + path, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: any = text;
    try { parsed = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
    return { status: res.status, body: parsed as T, headers: res.headers };
  }
  get = <T = any>(path: string) => this.call<T>('GET', path);
  post = <T = any>(path: string, body: unknown = {}, headers?: Record<string, string>) => this.call<T>('POST', path, body, headers);
}

export interface Harness {
  url: string;
  server: LatchServer;
  dataDir: string;
  as(user: string): Promise<TestClient>;
  anonymous(): TestClient;
  /** Runs everything due at the clock's current time and waits for connector work to settle. */
  settle(): Promise<void>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  config?: string | LatchConfig;
  clock?: Clock;
  dataDir?: string;
  heartbeatMs?: number;
  /** Access-token lifetime in seconds (default: 400 days, so tokens never expire mid-test). */
  accessTtlS?: number;
  extraConnectors?: (keys: ServerKeys) => Connector[];
  revokeBackoff?: { firstMs: number; maxMs: number };
  connectorTimeoutMs?: number;
  keepDataDir?: boolean;
  /** The server's logger (default: silent, or LATCH_TEST_LOG's level); tests that check log output pass their own. */
  logger?: Logger;
}

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'latch-test-'));
  const config = typeof opts.config === 'object' ? opts.config : parseConfig(opts.config ?? TEST_CONFIG);
  const server = await createLatchServer({
    dataDir, config, clock: opts.clock, logger: opts.logger ?? pino({ level: process.env.LATCH_TEST_LOG ?? 'silent' }), heartbeatMs: opts.heartbeatMs ?? 15_000,
    accessTtlS: opts.accessTtlS ?? 400 * 24 * 3600, extraConnectors: opts.extraConnectors, revokeBackoff: opts.revokeBackoff, connectorTimeoutMs: opts.connectorTimeoutMs,
  });
  const url = await server.listen('127.0.0.1', 0);
  const clients = new Map<string, TestClient>();
  const harness: Harness = {
    url, server, dataDir,
    async as(user) {
      const known = clients.get(user);
      if (known) return known;
      const code = user === 'admin' && server.bootstrap && !clients.has('admin') ? server.bootstrap.code : (await newCodeFor(server.store, user, server.clock.now())).code;
      const anon = new TestClient(url, null, user);
      const r = await anon.post('/v1/enroll', { code, device: `${user}-test` });
      if (r.status !== 200) throw new Error(`enroll ${user}: ${r.status} ${JSON.stringify(r.body)}`);
      const client = new TestClient(url, r.body.accessToken, user);
      clients.set(user, client);
      return client;
    },
    anonymous: () => new TestClient(url, null, 'anonymous'),
    async settle() {
      for (let i = 0; i < 5; i++) {
        await server.lifecycle.runDue();
        await server.lifecycle.drain(10_000);
      }
    },
    async close() {
      await server.close();
      if (!opts.keepDataDir && !opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return harness;
}
