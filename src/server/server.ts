/**
 * The server's composition root: opens the store, keys and config, builds the connectors, the
 * lifecycle, the scheduler and the HTTP app, and hands each its dependencies (STYLE.md §4).
 */
import { sql } from 'kysely';
import pino, { type Logger } from 'pino';
import type { LatchConfig } from '../shared/config.js';
import { systemClock, type Clock } from '../shared/clock.js';
import { addUser, bootstrapAdmin, listPrincipals, loadPrincipal, newCodeFor, syncConfigMembers } from './auth/identity.js';
import { Tokens, ACCESS_TTL_S } from './auth/tokens.js';
import { connectorProblems } from './config/connector-check.js';
import { ConfigHolder, checkGivenConfig, loadConfigFile } from './config/load.js';
import { builtInConnectors } from './connectors/registry.js';
import type { Connector } from './connectors/types.js';
import { EventBus } from './events/bus.js';
import { Answer, buildApp } from './http/app.js';
import { ApiError } from './http/errors.js';
import { Streams } from './http/sse.js';
import { loadKeys, type ServerKeys } from './keys.js';
import { listRequestable } from './lifecycle/catalog.js';
import { Lifecycle } from './lifecycle/service.js';
import { createMetrics } from './metrics.js';
import { Scheduler } from './scheduler/scheduler.js';
import { openStore, openToOthers, type Store } from './store/open.js';
import type { FastifyInstance } from 'fastify';

export interface ServerOptions {
  dataDir: string;
  /** YAML config file; reloaded on SIGHUP by `latch serve`. */
  configFile?: string | null;
  /** A config given directly (tests); used when there is no file. */
  config?: LatchConfig;
  clock?: Clock;
  logger?: Logger;
  /** Public URL of the server (the `iss` of access passes). */
  publicUrl?: string;
  heartbeatMs?: number;
  accessTtlS?: number;
  connectorTimeoutMs?: number;
  revokeBackoff?: { firstMs: number; maxMs: number };
  /** Connectors beyond the built-in ones (tests, plug-ins). */
  extraConnectors?: (keys: ServerKeys) => Connector[];
}

export interface LatchServer {
  app: FastifyInstance;
  store: Store;
  config: ConfigHolder;
  lifecycle: Lifecycle;
  scheduler: Scheduler;
  tokens: Tokens;
  bus: EventBus;
  streams: Streams;
  keys: ServerKeys;
  clock: Clock;
  log: Logger;
  /** The bootstrap admin's one-time code, on the first start of an empty store. */
  bootstrap: { user: string; code: string } | null;
  /** Starts the scheduler (overdue work first) and listens. Returns the base URL. */
  listen(host: string, port: number): Promise<string>;
  reloadConfig(): Promise<{ ok: true } | { ok: false; error: Error }>;
  /** Graceful stop: no new requests, in-flight ones finish, connector work drains, store closes. */
  close(): Promise<void>;
}

export async function createLatchServer(opts: ServerOptions): Promise<LatchServer> {
  const clock = opts.clock ?? systemClock;
  const log = opts.logger ?? pino({ level: process.env.LATCH_LOG_LEVEL ?? 'info', redact: ['req.headers.authorization', '*.password', '*.token', '*.refreshToken', '*.code'] });
  // A file the schema refuses is refused before the data dir is touched; the connectors' checks
  // need the keys, so they run below, on a second read.
  if (opts.configFile) loadConfigFile(opts.configFile);
  const store = await openStore(opts.dataDir);
  const exposed = openToOthers(opts.dataDir);
  if (exposed.length > 0) {
    // Not changed behind the admin's back (a group may be meant to read backups); said plainly.
    log.warn({ files: exposed }, `others than the owner may read the store (${exposed.map((f) => `${f.path} ${f.mode}`).join(', ')}); it holds sealed credentials and the audit trail: chmod 700 ${opts.dataDir} and chmod 600 the latch.db files`);
  }
  const keys = await loadKeys(opts.dataDir);
  const issuer = opts.publicUrl ?? 'latch';
  const connectors = new Map<string, Connector>();
  for (const c of [...builtInConnectors({ dataDir: opts.dataDir, keys, issuer, log }), ...(opts.extraConnectors?.(keys) ?? [])]) connectors.set(c.kind, c);
  // The connectors check their resources' config as part of loading it, at start and on every
  // reload, so their problems are refused with the file and line like any other.
  const check = (c: LatchConfig) => connectorProblems(c, connectors);
  let config: ConfigHolder;
  try {
    const initial = opts.configFile ? loadConfigFile(opts.configFile, check) : checkGivenConfig(opts.config ?? { groups: {}, resources: {}, policies: [] }, check);
    config = new ConfigHolder(opts.configFile ?? null, initial, check);
  } catch (err) {
    for (const c of connectors.values()) await c.close?.();
    await store.close();
    throw err;
  }
  // An empty file is a valid start (docs/configuration.md), but a server nobody can use should say so.
  if (opts.configFile && config.current.policies.length === 0) {
    log.warn({ config: opts.configFile }, `${opts.configFile} has no policies, so nothing can be requested; add resources and policies (examples/demo.yaml is an annotated example) and reload`);
  }

  const bus = new EventBus();
  const tokens = new Tokens(store, keys.tokenSecret, () => clock.now(), opts.accessTtlS ?? ACCESS_TTL_S);
  const lifecycle = new Lifecycle({ store, config: () => config.current, clock, connectors, bus, sealer: keys.sealer, log, connectorTimeoutMs: opts.connectorTimeoutMs, revokeBackoff: opts.revokeBackoff });
  const scheduler = new Scheduler(lifecycle, clock, log);
  lifecycle.onScheduleChange = () => scheduler.poke();
  lifecycle.onOverdue = () => scheduler.kick();
  const streams = new Streams(store.db, bus, { heartbeatMs: opts.heartbeatMs ?? 15_000 });
  tokens.onDeviceRevoked = (deviceId) => streams.closeDevice(deviceId);
  await syncConfigMembers(store, config.current, clock.now());
  const bootstrap = await bootstrapAdmin(store, clock.now());

  const metrics = createMetrics({
    streams: () => streams.count,
    oldestOverdueSeconds: () => lifecycle.oldestOverdueSeconds(),
    grantsByState: async () => (await store.db.selectFrom('grants').select(['state', (eb) => eb.fn.countAll<number>().as('n')]).groupBy('state').execute()).map((r) => ({ state: r.state, n: Number(r.n) })),
    pendingRequests: async () => Number((await store.db.selectFrom('requests').select((eb) => eb.fn.countAll<number>().as('n')).where('state', '=', 'pending').executeTakeFirst())?.n ?? 0),
  });
  bus.subscribe((e) => e.type === 'grant.revoke_failed' && metrics.revokeFailures.inc());

  const authenticate = async (token: string) => {
    const { user, device } = await tokens.verify(token);
    const principal = await loadPrincipal(store.db, user);
    if (!principal) throw new ApiError(401, 'unauthorized', 'this user no longer exists');
    return { user: principal, device };
  };
  const idemKey = (req: { headers: Record<string, unknown> }) => {
    const key = req.headers['idempotency-key'];
    if (key === undefined) return undefined;
    if (typeof key !== 'string' || !/^[\x21-\x7e]{1,128}$/.test(key)) throw new ApiError(400, 'validation_failed', 'Idempotency-Key must be 1–128 printable characters');
    return key;
  };
  let started = false;
  let closing = false;

  const app = buildApp({
    logger: log,
    authenticate,
    onResponse: (route, method, status, s) => metrics.observe(route, method, status, s),
    handlers: {
      enroll: async ({ body }) => (await tokens.enroll(body.code, body.device).then((r) => (bus.publish(r.events), r))).tokens,
      refresh: async ({ body }) => tokens.refresh(body.refreshToken),
      signOut: async ({ device }) => (await tokens.signOut(device), { ok: true as const }),
      me: async ({ user }) => ({ name: user.name, groups: [...user.groups], admin: user.admin }),
      resources: async ({ user }) => ({ items: listRequestable(config.current, user) }),
      createRequest: async ({ user, body, req }) => {
        const r = await lifecycle.createRequest(user, body, idemKey(req));
        return r.replayed ? new Answer(200, r.request) : r.request;
      },
      listRequests: async ({ user, query }) => ({ items: await lifecycle.listRequests(user, query) }),
      getRequest: async ({ user, params }) => lifecycle.getRequest(user, params.id),
      approve: async ({ user, params, body }) => lifecycle.review(user, params.id, 'approve', body.comment),
      deny: async ({ user, params, body }) => lifecycle.review(user, params.id, 'deny', body.comment),
      cancel: async ({ user, params }) => lifecycle.cancel(user, params.id),
      listGrants: async ({ user, query }) => ({ items: await lifecycle.listGrants(user, query) }),
      getGrant: async ({ user, params }) => lifecycle.getGrant(user, params.id),
      credential: async ({ user, params, reply }) => (reply.header('cache-control', 'no-store'), lifecycle.credential(user, params.id)),
      endGrant: async ({ user, params }) => lifecycle.endGrant(user, params.id),
      extendGrant: async ({ user, params, body, req }) => {
        const r = await lifecycle.extendGrant(user, params.id, body, idemKey(req));
        return r.replayed ? new Answer(200, r.request) : r.request;
      },
      events: async ({ user, device, query, req, reply }) => streams.serve(req, reply, user, device, query.after),
      audit: async ({ query }) => {
        const rows = await store.db.selectFrom('events').selectAll().where('id', '>', query.after).orderBy('id').limit(query.limit).execute();
        return { items: rows.map((r) => ({ id: Number(r.id), type: r.type, at: new Date(Number(r.at)).toISOString(), actor: r.actor, requestId: r.request_id, grantId: r.grant_id, data: JSON.parse(r.data_json), hash: r.hash, prevHash: r.prev_hash })) };
      },
      addUser: async ({ user, body }) => {
        const r = await addUser(store, body, user.name, clock.now());
        bus.publish(r.events);
        return { user: r.user, code: r.code };
      },
      listUsers: async () => ({ items: (await listPrincipals(store.db)).map((p) => ({ name: p.name, groups: [...p.groups], admin: p.admin })) }),
      newCode: async ({ params }) => newCodeFor(store, params.name, clock.now()),
    },
    extra(app) {
      app.get('/healthz', async () => ({ ok: true }));
      app.get('/readyz', async (_req, reply) => {
        const db = await sql`select 1 as ok`.execute(store.db).then(() => true, () => false);
        const ready = db && started && scheduler.started && !closing;
        return reply.status(ready ? 200 : 503).send({ ok: ready, store: db, scheduler: scheduler.started, closing });
      });
      app.get('/metrics', async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
      app.get('/.well-known/jwks.json', async (_req, reply) => reply.header('cache-control', 'public, max-age=300').send({ keys: [keys.passPublicJwk] }));
      app.get('/.well-known/latch-revoked-passes.json', async () => {
        const now = clock.now();
        const rows = await store.db.selectFrom('grants').select(['id', 'expires_at']).where('connector', '=', 'pass').where('state', 'in', ['revoking', 'ended']).where('end_reason', '!=', 'expired').where('expires_at', '>', now).execute();
        return { revoked: rows.map((r) => ({ jti: r.id, exp: Math.floor(Number(r.expires_at) / 1000) })) };
      });
      for (const connector of connectors.values()) {
        for (const [path, file] of Object.entries(connector.publicFiles ?? {})) {
          app.get(path, async (_req, reply) => reply.type(file.contentType).header('cache-control', 'no-cache').send(await file.body()));
        }
      }
    },
  });

  return {
    app, store, config, lifecycle, scheduler, tokens, bus, streams, keys, clock, log, bootstrap,
    async listen(host, port) {
      await lifecycle.resume();
      // Overdue work first, before the API answers: a grant whose end passed while the server was
      // down is expired (its credential gone) before anyone can read it (B11). Its connector
      // revoke comes with the scheduler's first sweep, while the API answers (B07).
      await lifecycle.expireOverdue();
      const url = await app.listen({ host, port });
      started = true;
      void scheduler.start();
      return url;
    },
    async reloadConfig() {
      // Everything that can refuse the file runs before the switch, so a refused reload leaves
      // the running configuration (and the group members it brought) exactly as they were.
      const next = config.read();
      if (!next.ok) return next;
      try {
        await syncConfigMembers(store, next.config, clock.now());
      } catch (err) {
        return { ok: false, error: err as Error };
      }
      config.use(next.config);
      await lifecycle.commitEvent({ type: 'config.reloaded', actor: null, audience: { users: [] }, data: { file: opts.configFile ?? null } });
      return { ok: true };
    },
    async close() {
      if (closing) return;
      closing = true;
      await scheduler.stop();
      streams.closeAll();
      await app.close();
      await lifecycle.drain(10_000);
      for (const c of connectors.values()) await c.close?.();
      await store.close();
    },
  };
}
