/**
 * Bad input, thrown at every route of the contract (STYLE.md §3): a malformed body, an unknown
 * field, a wrong type, an oversized body or an unknown id gets a 4xx JSON error
 * `{"error": {"code", "message"}}` — never a 5xx — and changes nothing; no token is a 401; not
 * allowed is a 403, or a 404 where a 403 would tell that the thing exists.
 *
 * The routes come from `routes`, so a new route is covered without touching this file. Where a body
 * must reach a real target to mean anything, it is sent to a live one (a pending request, an active
 * grant, an existing user) by someone a valid body would succeed for, so a rejected input that slips
 * through shows up as a change in the store.
 */
import { createHash, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { SignJWT, decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { errorBodySchema, routes, type RouteName } from '../../shared/api.js';
import { newCodeFor } from '../auth/identity.js';
import { startHarness, type Harness } from '../test-support/harness.js';
import { BODY_LIMIT } from './app.js';

type Route = (typeof routes)[RouteName];
const ROUTES = Object.entries(routes) as [RouteName, Route][];

/**
 * Names every JavaScript object inherits: a lookup of one in a plain object (`obj[name]`,
 * `name in obj`) finds Object.prototype's member (`constructor` was once a resource, a 500).
 */
const INHERITED_NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf'] as const;

/** Generated inputs per property; modest so the file stays well under a minute on 2 cores. */
const RUNS = { body: 40, unknownTarget: 15, oversized: 8, query: 40, params: 25, auth: 15 } as const;

let h: Harness;
const tokens = new Map<string, string>();
/** Ids and names that exist; "unknown" generated values must avoid them. */
const live = { pendingRequest: '', activeGrant: '', enrollCode: '', refreshToken: '', aliceDevice: '' };

// ---- sending --------------------------------------------------------------------------------------

interface Sent { status: number; headers: Headers; text: string; json: unknown }

interface SendOptions {
  /** The whole Authorization header; null for none. */
  auth?: string | null;
  body?: string | Uint8Array | ReadableStream<Uint8Array>;
  /** null: no content-type header (a string body would get text/plain from fetch; send bytes). */
  contentType?: string | null;
  headers?: Record<string, string>;
}

async function send(method: string, path: string, opts: SendOptions = {}): Promise<Sent> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.auth) headers.authorization = opts.auth;
  if (opts.contentType) headers['content-type'] = opts.contentType;
  const init: RequestInit & { duplex?: 'half' } = { method, headers, body: opts.body as RequestInit['body'], signal: AbortSignal.timeout(10_000) };
  if (opts.body instanceof ReadableStream) init.duplex = 'half';
  const res = await fetch(h.url + path, init);
  if (res.headers.get('content-type')?.startsWith('text/event-stream')) {
    // A stream never ends on its own; what matters is that it was opened at all.
    await res.body?.cancel();
    return { status: res.status, headers: res.headers, text: '(event stream)', json: undefined };
  }
  const text = await res.text();
  let json: unknown;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json };
}

const bearer = (user: string) => `Bearer ${tokens.get(user)!}`;

async function login(user: string): Promise<void> {
  const { code } = await newCodeFor(h.server.store, user, h.server.clock.now());
  const r = await send('POST', '/v1/enroll', { body: JSON.stringify({ code, device: `${user}-bad-input` }), contentType: 'application/json' });
  if (r.status !== 200) throw new Error(`enroll ${user}: ${r.status} ${r.text}`);
  tokens.set(user, (r.json as { accessToken: string }).accessToken);
}

// ---- what "changes nothing" means -----------------------------------------------------------------

const TABLES = ['users', 'user_groups', 'enrollment_codes', 'devices', 'requests', 'reviews', 'grants', 'events', 'idempotency', 'meta'] as const;
type Snapshot = Record<(typeof TABLES)[number], { rows: number; digest: string }>;

async function snapshot(): Promise<Snapshot> {
  const out = {} as Snapshot;
  for (const table of TABLES) {
    const rows = (await h.server.store.db.selectFrom(table).selectAll().execute()).map((r) => JSON.stringify(r)).sort();
    out[table] = { rows: rows.length, digest: createHash('sha256').update(rows.join('\n')).digest('hex').slice(0, 16) };
  }
  return out;
}

function describeSent(what: string, r: Sent): string {
  return `${what} → ${r.status} ${r.text.slice(0, 300)}`;
}

function expectError(what: string, r: Sent, allowed?: readonly number[], code?: string): void {
  const why = describeSent(what, r);
  expect(r.status, why).toBeGreaterThanOrEqual(400);
  expect(r.status, why).toBeLessThan(500);
  if (allowed) expect(allowed, why).toContain(r.status);
  expect(r.headers.get('content-type') ?? '', why).toMatch(/^application\/json\b/);
  const body = errorBodySchema.safeParse(r.json);
  expect(body.success, `${why}\nnot {"error": {"code" (one of ERROR_CODES), "message"}}`).toBe(true);
  expect(body.data!.error.message.trim(), why).not.toBe('');
  if (code) expect(body.data!.error.code, why).toBe(code);
}

/** The input must be refused with a 4xx JSON error (one of `allowed` when given) and change nothing. */
async function expectRejected(what: string, call: () => Promise<Sent>, allowed?: readonly number[], code?: string): Promise<Sent> {
  const before = await snapshot();
  const r = await call();
  expectError(what, r, allowed, code);
  expect(await snapshot(), `${describeSent(what, r)}\na rejected input changed the store`).toEqual(before);
  return r;
}

/**
 * For inputs that might be valid: never a 5xx; a 2xx only for a body the contract accepts; a 4xx
 * changes nothing. After an accepted call the actor may have been signed out (POST /v1/token/revoke
 * with `{}`), so sign them in again.
 */
async function expectAnswered(what: string, actor: string | null, acceptable: boolean, call: () => Promise<Sent>): Promise<void> {
  const before = await snapshot();
  const r = await call();
  const why = describeSent(what, r);
  expect(r.status, why).toBeLessThan(500);
  if (r.status < 400) {
    expect(acceptable, `${why}\nan input the contract rejects was accepted`).toBe(true);
    if (actor && (await send('GET', '/v1/me', { auth: bearer(actor) })).status === 401) await login(actor);
    return;
  }
  expectError(what, r);
  expect(await snapshot(), `${why}\na rejected input changed the store`).toEqual(before);
}

// ---- who calls what, and on which live target ---------------------------------------------------

const ACTOR: Partial<Record<RouteName, string>> = {
  // Approvers of the live request.
  approve: 'bob',
  deny: 'bob',
  // Signing out is a real effect on the caller; keep it away from the users the other routes use.
  signOut: 'erin',
};
const actorOf = (name: RouteName, route: Route) => ACTOR[name] ?? (route.auth === 'admin' ? 'admin' : 'alice');
/** Sees no live request or grant: answers to them must not tell that they exist. */
const OUTSIDER = 'dave';

/** A body that would succeed (or at least pass validation) — the base that bad inputs are made from. */
function example(name: RouteName): Record<string, unknown> {
  switch (name) {
    case 'enroll': return { code: live.enrollCode, device: 'laptop' };
    case 'refresh': return { refreshToken: live.refreshToken };
    case 'createRequest': return { resource: 'pg-prod', role: 'admin', duration: '1h', reason: 'INC-1234 rotate the replica password' };
    case 'approve': return { comment: 'looks right' };
    case 'deny': return { comment: 'not during the freeze' };
    case 'extendGrant': return { by: '15m', reason: 'INC-1234 still restarting the replica' };
    case 'addUser': return { name: 'zed', groups: ['eng'] };
    default: return {};
  }
}

/** Body fields the server looks up by name in the config (an array field: each of its names). */
const LOOKED_UP: Partial<Record<RouteName, string[]>> = { createRequest: ['resource', 'role'], addUser: ['groups'] };

/** The example body with one looked-up field naming something every object inherits. */
const inheritedNameBodies = (name: RouteName, fields: string[]) =>
  fc.tuple(fc.constantFrom(...fields), fc.constantFrom(...INHERITED_NAMES)).map(([field, inherited]) => {
    const base = example(name);
    const value = Array.isArray(base[field]) ? [...(base[field] as unknown[]), inherited] : inherited;
    return { what: `${field}: ${JSON.stringify(value)}`, body: JSON.stringify({ ...base, [field]: value }) };
  });

/** Routes whose handler reads an Idempotency-Key header. */
const IDEMPOTENT: RouteName[] = ['createRequest', 'extendGrant'];

const paramKeys = (route: Route): string[] => ('params' in route ? Object.keys(shapeOf(route.params) ?? {}) : []);

function liveParams(route: Route): Record<string, string> {
  const params: Record<string, string> = {};
  for (const key of paramKeys(route)) {
    if (key === 'id' && route.path.startsWith('/v1/requests/')) params[key] = live.pendingRequest;
    else if (key === 'id' && route.path.startsWith('/v1/grants/')) params[key] = live.activeGrant;
    else if (key === 'name') params[key] = OUTSIDER;
    else throw new Error(`${route.method} ${route.path}: no live target for :${key}; add one to liveParams()`);
  }
  return params;
}

const pathFor = (route: Route, params: Record<string, string>) => route.path.replace(/:(\w+)/g, (_, key: string) => encodeURIComponent(params[key]!));

// ---- generators -----------------------------------------------------------------------------------

function shapeOf(schema: z.ZodType): Record<string, z.ZodType> | null {
  return schema instanceof z.ZodObject ? (schema.shape as Record<string, z.ZodType>) : null;
}

/** What is sent: the text and its content type, and the JSON value the server will see, if any. */
interface Payload { kind: string; body: string | Uint8Array; contentType: string | null; value?: unknown }

const json = (kind: string, value: unknown, contentType = 'application/json'): Payload => {
  const body = JSON.stringify(value);
  // What the server parses (e.g. -0 → 0, undefined members dropped), not what was generated.
  return { kind, body, contentType, value: JSON.parse(body) };
};

const accepts = (schema: z.ZodType | undefined, p: Payload) => p.value !== undefined && (schema ?? z.strictObject({})).safeParse(p.value).success;

const parsesAsJson = (text: string) => {
  try {
    JSON.parse(text.replace(/^\uFEFF/, ''));
    return true;
  } catch {
    return false;
  }
};

/** A value this field refuses: another type, or the right type out of range. */
const badValue = (field: z.ZodType) =>
  fc
    .oneof(
      fc.jsonValue({ maxDepth: 2 }),
      fc.string({ maxLength: 70 }),
      fc.array(fc.string({ maxLength: 70 }), { minLength: 1, maxLength: 60 }),
      fc.integer({ min: 1025, max: 16_500 }).map((n) => 'é'.repeat(n)),
    )
    .filter((v) => !field.safeParse(v).success);

function arbitraries(name: RouteName, schema: z.ZodType) {
  const shape = shapeOf(schema) ?? {};
  const keys = Object.keys(shape);
  const base = example(name);

  const anyJson = fc.jsonValue({ maxDepth: 4 }).map((v) => json('arbitrary JSON', v));

  // The contract's own fields, at least one of them refused, the rest from the example or arbitrary.
  const wrongTypes =
    keys.length === 0
      ? fc.jsonValue({ maxDepth: 2 }).map((v) => json('not the empty object', v))
      : fc
          .tuple(
            fc.constantFrom(...keys).chain((k) => badValue(shape[k]!).map((v) => [k, v] as const)),
            fc.record(Object.fromEntries(keys.map((k) => [k, k in base ? fc.oneof(fc.constant(base[k]), fc.jsonValue({ maxDepth: 1 })) : fc.jsonValue({ maxDepth: 1 })])), { requiredKeys: [] }),
          )
          .map(([[k, v], rest]) => json(`wrong type for "${k}"`, { ...rest, [k]: v }));

  // A body that would succeed, plus fields the contract does not have.
  const unknownKey = fc.oneof(
    fc.constantFrom(...INHERITED_NAMES, 'admin', 'state', 'id', 'user', 'requester', 'approved', 'breakGlass', 'groups', ''),
    fc.string({ maxLength: 20 }),
  ).filter((k) => !keys.includes(k));
  const unknownFields = fc
    .dictionary(unknownKey, fc.jsonValue({ maxDepth: 2 }), { minKeys: 1, maxKeys: 3 })
    .map((extra) => {
      const body = `{${[...Object.entries(base), ...Object.entries(extra)].map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}`).join(',')}}`;
      return { kind: `unknown fields ${Object.keys(extra).map((k) => JSON.stringify(k)).join(', ')}`, body, contentType: 'application/json', value: JSON.parse(body) } as Payload;
    });

  const malformedText = fc
    .oneof(
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)).filter((t) => t.length > 1).chain((t) => fc.integer({ min: 1, max: t.length - 1 }).map((n) => t.slice(0, n))),
      fc.constant(JSON.stringify(base)).chain((t) => fc.integer({ min: 0, max: t.length - 1 }).map((n) => t.slice(0, n))),
      fc.string({ maxLength: 40 }),
      fc.constantFrom('', ' ', '{', '}', '{"comment":', '{"comment":"x",}', "{'comment':'x'}", '{comment:"x"}', 'undefined', 'NaN', '[1,]', '{"a":1}{"b":2}', '{"a":01}', '"unterminated', '{"a":"\\x"}', 'nul', 'tru', '//{}', '{}}'),
    )
    .filter((t) => !parsesAsJson(t));
  const malformed = fc
    .tuple(malformedText, fc.constantFrom('application/json', 'application/json; charset=utf-8'))
    .map(([body, contentType]): Payload => ({ kind: 'malformed JSON', body, contentType }));

  // A body that would succeed, labelled as something else (or not labelled): never read as JSON.
  const contentType = fc.oneof(
    fc.constantFrom(null, 'text/plain', 'text/plain; charset=utf-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'text/html', 'application/octet-stream', 'application/jsonp', 'application/json5', 'text/json', 'application/x-json'),
    fc.stringMatching(/^[a-z]{1,12}\/[a-z0-9.+-]{1,16}$/).filter((t) => t !== 'application/json'),
  );
  const wrongContentType = fc
    .tuple(fc.oneof(fc.constant(base), fc.jsonValue({ maxDepth: 2 })), contentType)
    .map(([value, type]): Payload => {
      const text = JSON.stringify(value);
      return { kind: `content-type ${type ?? '(none)'}`, body: type === null ? new TextEncoder().encode(text) : text, contentType: type };
    });

  // Over the limit: the example padded with whitespace (still valid JSON), a long field, or junk.
  const oversized = fc
    .record({ size: fc.integer({ min: BODY_LIMIT + 1, max: BODY_LIMIT * 3 }), how: fc.constantFrom('padded', 'long field', 'junk'), type: fc.constantFrom('application/json', 'text/plain') })
    .map(({ size, how, type }): Payload => {
      const text = JSON.stringify(base);
      const body =
        how === 'padded' ? ' '.repeat(size - text.length) + text
        : how === 'long field' ? `{${keys[0] ? `${JSON.stringify(keys[0])}:` : '"pad":'}"${'a'.repeat(size)}"}`
        : randomBytes(Math.ceil(size / 2)).toString('hex').slice(0, size);
      return { kind: `${body.length} bytes (${how}, ${type})`, body, contentType: type };
    });

  return { anyJson, wrongTypes, unknownFields, malformed, wrongContentType, oversized };
}
type Category = keyof ReturnType<typeof arbitraries>;
const CATEGORIES: Category[] = ['anyJson', 'wrongTypes', 'unknownFields', 'malformed', 'wrongContentType', 'oversized'];
const expectedStatus: Partial<Record<Category, readonly number[]>> = { oversized: [413] };

/** Path values the contract refuses (or the router cannot match): a 400, or the not-found 404. */
const malformedParam = (route: Route, key: string) =>
  fc
    .oneof(
      fc.string({ maxLength: 60 }),
      fc.string({ unit: 'binary', maxLength: 30 }),
      fc.constantFrom('req_', 'req_short', 'REQ_0123456789abcdef', 'req-0123456789abcdef', 'req_0123456789abcdef!', 'gr_0123456789abcdef ', 'x'.repeat(300), '%', '..', '.', ' ', 'a/b', 'Admin', '-dave', 'null', 'undefined', '0', ...INHERITED_NAMES),
    )
    .filter((v) => {
      if (v === '' || !('params' in route) || route.params.safeParse({ ...liveParams(route), [key]: v }).success) return false;
      try {
        encodeURIComponent(v);
        return true;
      } catch {
        return false; // lone surrogates cannot be written in a URL
      }
    });

/** Path values of the right form that name nothing. */
const WELL_FORMED: Record<string, fc.Arbitrary<string>> = {
  id: fc.stringMatching(/^[a-z]{1,4}_[0-9A-Za-z]{10,40}$/),
  // `constructor` is the one inherited name that is also a well-formed one.
  name: fc.oneof(fc.stringMatching(/^[a-z][a-z0-9_-]{0,62}$/), fc.constant('constructor')),
};
async function unknownParamsArb(route: Route): Promise<fc.Arbitrary<Record<string, string>>> {
  const existing = new Set<string>([
    ...(await h.server.store.db.selectFrom('requests').select('id').execute()).map((r) => r.id),
    ...(await h.server.store.db.selectFrom('grants').select('id').execute()).map((r) => r.id),
    ...(await h.server.store.db.selectFrom('users').select('name').execute()).map((r) => r.name),
  ]);
  const keys = paramKeys(route);
  return fc.record(
    Object.fromEntries(
      keys.map((k) => {
        const arb = WELL_FORMED[k];
        if (!arb) throw new Error(`${route.method} ${route.path}: no well-formed generator for :${k}; add one to WELL_FORMED`);
        return [k, arb.filter((v) => !existing.has(v))];
      }),
    ),
  );
}

// ---- set-up: live targets -------------------------------------------------------------------------

beforeAll(async () => {
  h = await startHarness();
  for (const user of ['admin', 'alice', 'bob', 'carol', 'dave', 'erin']) await login(user);

  // An active grant of alice's that may be extended (demo-pass/read: 2 extensions, with approval).
  const granted = await send('POST', '/v1/requests', { auth: bearer('alice'), contentType: 'application/json', body: JSON.stringify({ resource: 'demo-pass', role: 'read', duration: '30m', reason: 'INC-1234 restart the replica' }) });
  expect(granted.status, granted.text).toBe(201);
  const approved = await send('POST', `/v1/requests/${(granted.json as { id: string }).id}/approve`, { auth: bearer('bob'), contentType: 'application/json', body: '{}' });
  expect(approved.status, approved.text).toBe(200);
  await h.settle();
  live.activeGrant = (approved.json as { grantId: string }).grantId;
  const grant = await send('GET', `/v1/grants/${live.activeGrant}`, { auth: bearer('alice') });
  expect((grant.json as { state: string }).state).toBe('active');

  // A pending request of alice's that bob may approve or deny and alice may cancel.
  const pending = await send('POST', '/v1/requests', { auth: bearer('alice'), contentType: 'application/json', body: JSON.stringify({ resource: 'pg-prod', role: 'readonly', duration: '1h', reason: 'INC-1234 read the replica lag table' }) });
  expect(pending.status, pending.text).toBe(201);
  live.pendingRequest = (pending.json as { id: string }).id;

  // An unused enrollment code and a live refresh token: the enroll and refresh examples would succeed.
  live.enrollCode = (await newCodeFor(h.server.store, 'carol', h.server.clock.now())).code;
  const { code } = await newCodeFor(h.server.store, 'carol', h.server.clock.now());
  const enrolled = await send('POST', '/v1/enroll', { contentType: 'application/json', body: JSON.stringify({ code }) });
  live.refreshToken = (enrolled.json as { refreshToken: string }).refreshToken;
  live.aliceDevice = String(decodeJwt(tokens.get('alice')!).dev);
  await h.settle();
});

afterAll(async () => {
  // The live targets are where a slipped-through input would have landed.
  if (h) {
    const request = await h.server.store.db.selectFrom('requests').select('state').where('id', '=', live.pendingRequest).executeTakeFirst();
    const grant = await h.server.store.db.selectFrom('grants').select(['state', 'extensions_used']).where('id', '=', live.activeGrant).executeTakeFirst();
    await h.close();
    expect(request?.state).toBe('pending');
    expect(grant).toEqual({ state: 'active', extensions_used: 0 });
  }
});

it('has, for every POST route, an example body the contract accepts (the base of the bad ones)', () => {
  for (const [name, route] of ROUTES) {
    if (route.method !== 'POST') continue;
    const schema = 'body' in route ? route.body : z.strictObject({});
    expect(schema.safeParse(example(name)).success, `${name}: add a valid body to example()`).toBe(true);
  }
});

// ---- every route ----------------------------------------------------------------------------------

for (const [name, route] of ROUTES) {
  const isStream = name === 'events';
  const hasParams = paramKeys(route).length > 0;
  const title = `${name}: ${route.method} ${route.path}`;

  describe(title, () => {
    const actor = () => actorOf(name, route);
    const validBody = () => JSON.stringify(example(name));
    const call = (path: string, auth: string | null, extra: SendOptions = {}) =>
      send(route.method, path, route.method === 'POST' ? { auth, body: validBody(), contentType: 'application/json', ...extra } : { auth, ...extra });

    if (route.auth !== 'none') {
      it('answers 401 without a valid token, and changes nothing', async () => {
        const path = pathFor(route, liveParams(route));
        await expectRejected('no Authorization header', () => call(path, null), [401], 'unauthorized');
        const now = Math.floor(Date.now() / 1000);
        const secret = h.server.keys.tokenSecret;
        const sign = (claims: { sub: string; dev: string }, iat: number, exp: number, key: Uint8Array = secret) =>
          new SignJWT({ dev: claims.dev }).setProtectedHeader({ alg: 'HS256' }).setIssuer('latch').setSubject(claims.sub).setIssuedAt(iat).setExpirationTime(exp).sign(key);
        const forged = [
          await sign({ sub: 'alice', dev: live.aliceDevice }, now, now + 600, randomBytes(32)),
          await sign({ sub: 'alice', dev: live.aliceDevice }, now - 7200, now - 3600),
          await sign({ sub: 'ghost', dev: live.aliceDevice }, now, now + 600),
          await sign({ sub: 'alice', dev: 'dev_0000000000000000' }, now, now + 600),
        ];
        const header = fc.oneof(
          fc.constantFrom('Bearer', 'Bearer ', 'Basic YWxpY2U6c2VjcmV0', 'Token abc', `bearer${tokens.get('alice')}`, `Bearer ${tokens.get('alice')}x`, `Bearer ${tokens.get('alice')!.slice(0, -2)}`, ...forged.map((t) => `Bearer ${t}`)),
          fc.string({ minLength: 1, maxLength: 200 }).map((t) => `Bearer ${t}`),
          fc.string({ minLength: 1, maxLength: 60 }),
        );
        await fc.assert(
          fc.asyncProperty(header, async (auth) => {
            await expectRejected(`Authorization: ${auth.slice(0, 80)}`, () => call(path, auth), [401]);
          }),
          { numRuns: RUNS.auth },
        );
      });
    }

    if (route.auth === 'admin') {
      it('answers 403 to a non-admin, and changes nothing', async () => {
        await expectRejected('alice (not an admin)', () => call(pathFor(route, liveParams(route)), bearer('alice')), [403], 'forbidden');
      });
    }

    if (hasParams && route.auth === 'user') {
      it('answers 404 to someone who may not see the target, as for an unknown one, and changes nothing', async () => {
        await expectRejected(`${OUTSIDER} (may not see it)`, () => call(pathFor(route, liveParams(route)), bearer(OUTSIDER)), [404], 'not_found');
      });
    }

    if (hasParams) {
      it('answers 404 to a well-formed id that names nothing and 400 to a malformed one, and changes nothing', async () => {
        const unknown = await unknownParamsArb(route);
        await fc.assert(
          fc.asyncProperty(unknown, async (params) => {
            const path = pathFor(route, params);
            await expectRejected(path, () => call(path, bearer(actor())), [404], 'not_found');
          }),
          { numRuns: RUNS.params },
        );
        for (const key of paramKeys(route)) {
          // Written into the path as they are: broken %-escapes the router itself must refuse.
          for (const raw of ['%', '%zz', '%E0%A4%A', 'req_%C0%AF0123456789', '%00']) {
            const path = route.path.replace(/:(\w+)/g, (_, k: string) => (k === key ? raw : encodeURIComponent(liveParams(route)[k]!)));
            await expectRejected(path, () => call(path, bearer(actor())), [400, 404]);
          }
          await fc.assert(
            fc.asyncProperty(malformedParam(route, key), async (value) => {
              const path = pathFor(route, { ...liveParams(route), [key]: value });
              await expectRejected(path, () => call(path, bearer(actor())), [400, 404]);
            }),
            { numRuns: RUNS.params },
          );
        }
      });
    }

    const otherMethod = route.method === 'GET' ? 'POST' : 'GET';
    if (!ROUTES.some(([, r]) => r.path === route.path && r.method === otherMethod)) {
      it(`answers ${otherMethod} with a 4xx JSON error`, async () => {
        const r = await send(otherMethod, pathFor(route, liveParams(route)), { auth: bearer(actor()) });
        expectError(`${otherMethod} ${route.path}`, r, [404, 405]);
      });
    }

    if (route.method === 'GET') {
      const schema = 'query' in route ? (route.query as z.ZodType) : undefined;
      const shapeKeys = Object.keys((schema && shapeOf(schema)) ?? {});
      it(`answers generated query strings without a 5xx${schema ? ', 400 to the ones the contract refuses' : ''}, and changes nothing`, async () => {
        const key = isStream
          ? fc.oneof(fc.constantFrom(...shapeKeys), fc.stringMatching(/^[a-z]{1,8}$/))
          : fc.oneof(fc.constantFrom(...shapeKeys, 'scope', 'state', 'limit', 'after', ...INHERITED_NAMES), fc.string({ minLength: 1, maxLength: 8 }));
        const value = fc.oneof(
          fc.string({ maxLength: 12 }),
          fc.constantFrom(...INHERITED_NAMES, 'mine', 'review', 'all', 'pending', 'active', 'ended', '0', '1', '-1', '500', '501', '1000', '1e3', '0x10', '1.5', 'NaN', 'Infinity', '9007199254740993', ''),
          fc.integer().map(String),
          fc.array(fc.constantFrom('1', 'mine', 'all'), { minLength: 2, maxLength: 3 }),
        );
        const query = fc.dictionary(key, value, { maxKeys: 4 }).filter((q) => !isStream || !schema!.safeParse(q).success);
        const path = pathFor(route, liveParams(route));
        await fc.assert(
          fc.asyncProperty(query, async (q) => {
            const search = new URLSearchParams();
            for (const [k, v] of Object.entries(q)) for (const one of Array.isArray(v) ? v : [v]) search.append(k, one);
            const url = `${path}?${search.toString()}`;
            const before = await snapshot();
            const r = await send('GET', url, { auth: bearer(actor()) });
            expect(r.status, describeSent(url, r)).toBeLessThan(500);
            if (schema && !schema.safeParse(q).success) expectError(url, r, [400], 'validation_failed');
            else if (r.status >= 400) expectError(url, r, [403]);
            expect(await snapshot(), describeSent(url, r)).toEqual(before);
          }),
          { numRuns: RUNS.query },
        );
        if (isStream) return;
        // Raw text after "?": broken escapes, stray separators; the router and parser must cope.
        await fc.assert(
          fc.asyncProperty(fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('%', '%zz', 'limit=%', '&&&', '=', 'a[b]=1', 'limit=1&limit', '%00=%00', 'scope=%E0%A4%A')), async (raw) => {
            const url = `${path}?${raw}`;
            const before = await snapshot();
            const r = await send('GET', url, { auth: bearer(actor()) });
            expect(r.status, describeSent(url, r)).toBeLessThan(500);
            if (r.status >= 400) expectError(url, r);
            expect(await snapshot(), describeSent(url, r)).toEqual(before);
          }),
          { numRuns: RUNS.query },
        );
      });
    }

    if (route.method === 'POST' && !isStream) {
      const schema = 'body' in route ? (route.body as z.ZodType) : undefined;
      for (const category of CATEGORIES) {
        it(`answers ${category} bodies with a 4xx JSON error, and changes nothing`, async () => {
          const arbs = arbitraries(name, schema ?? z.strictObject({}));
          const arb: fc.Arbitrary<Payload> = arbs[category];
          const numRuns = category === 'oversized' ? RUNS.oversized : RUNS.body;
          const allowed = expectedStatus[category];
          const post = (path: string, p: Payload) => () => send('POST', path, { auth: route.auth === 'none' ? null : bearer(actor()), body: p.body, contentType: p.contentType });
          const label = (p: Payload) => `${p.kind}: ${typeof p.body === 'string' ? p.body.slice(0, 200) : `(bytes) ${new TextDecoder().decode(p.body).slice(0, 200)}`}`;

          if (hasParams) {
            // At the live target, by someone a valid body would succeed for: only refused bodies.
            const path = pathFor(route, liveParams(route));
            await fc.assert(
              fc.asyncProperty(arb.filter((p) => !accepts(schema, p)), async (p) => void (await expectRejected(label(p), post(path, p), allowed))),
              { numRuns },
            );
            // At a target that does not exist: any body at all is refused.
            const unknown = await unknownParamsArb(route);
            await fc.assert(
              fc.asyncProperty(unknown, arb, async (params, p) => void (await expectRejected(label(p), post(pathFor(route, params), p), allowed))),
              { numRuns: Math.min(numRuns, RUNS.unknownTarget) },
            );
          } else {
            await fc.assert(
              fc.asyncProperty(arb, async (p) => {
                if (allowed) await expectRejected(label(p), post(route.path, p), allowed);
                else await expectAnswered(label(p), route.auth === 'none' ? null : actor(), accepts(schema, p), post(route.path, p));
              }),
              { numRuns },
            );
          }
        });
      }

      const lookedUp = LOOKED_UP[name];
      if (lookedUp) {
        it(`refuses ${lookedUp.join(', ')} naming what every object inherits (${INHERITED_NAMES.slice(0, 3).join(', ')}…) as names of nothing, and changes nothing`, async () => {
          await fc.assert(
            fc.asyncProperty(inheritedNameBodies(name, lookedUp), async ({ what, body }) => {
              await expectRejected(what, () => call(route.path, bearer(actor()), { body }), [400, 404, 422]);
            }),
            { numRuns: INHERITED_NAMES.length * lookedUp.length * 2 },
          );
        });
      }

      it('answers 413 to an oversized body sent without a length (chunked), and changes nothing', async () => {
        const chunk = new TextEncoder().encode(' '.repeat(16 * 1024));
        const body = () =>
          new ReadableStream<Uint8Array>({
            start(controller) {
              for (let i = 0; i < BODY_LIMIT / chunk.length + 2; i++) controller.enqueue(chunk);
              controller.enqueue(new TextEncoder().encode(validBody()));
              controller.close();
            },
          });
        await expectRejected('chunked, padded example', () => call(pathFor(route, liveParams(route)), route.auth === 'none' ? null : bearer(actor()), { body: body() }), [413], 'payload_too_large');
      });

      if (IDEMPOTENT.includes(name)) {
        it('answers 400 to a malformed Idempotency-Key with a body that would succeed, and changes nothing', async () => {
          const key = fc.oneof(
            fc.string({ minLength: 129, maxLength: 300 }).map((s) => `k${s.replace(/\s/g, 'x')}k`),
            fc.tuple(fc.stringMatching(/^[a-z0-9]{1,20}$/), fc.stringMatching(/^[a-z0-9]{1,20}$/)).map(([a, b]) => `${a} ${b}`),
            fc.constant(''),
          );
          await fc.assert(
            fc.asyncProperty(key, async (k) => {
              await expectRejected(`Idempotency-Key: ${k.slice(0, 60)}`, () => call(pathFor(route, liveParams(route)), bearer(actor()), { headers: { 'idempotency-key': k } }), [400], 'validation_failed');
            }),
            { numRuns: RUNS.auth },
          );
        });
      }
    }
  });
}
