/**
 * The CLI client against a scripted HTTP server: refresh on `token_expired`, refresh tokens that
 * rotate (a reused one is refused, as the real server does), idempotency keys and error answers.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LatchClient, signedIn } from './client.js';
import { CredentialStore } from './credentials.js';

interface Seen { method: string; url: string; headers: IncomingHttpHeaders }

let server: Server;
let url: string;
let home: string;
let seen: Seen[];
let tokens: { access: string; refresh: string; generation: number };
/** Overrides for one path: status and raw body. */
let canned: Record<string, { status: number; body: string }>;

const tokenAnswer = () => ({ accessToken: tokens.access, refreshToken: tokens.refresh, expiresIn: 900, user: { name: 'alice', groups: ['eng'], admin: false }, device: { id: 'dev_0123456789abcdef', name: 'test' } });

beforeEach(async () => {
  seen = [];
  canned = {};
  tokens = { access: 'at_0', refresh: 'lrt_0', generation: 0 };
  home = mkdtempSync(join(tmpdir(), 'latch-client-'));
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers });
      const send = (status: number, body: unknown, delayMs = 0) => setTimeout(() => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body)), delayMs);
      const special = canned[req.url!];
      if (special) return void res.writeHead(special.status).end(special.body);
      if (req.url === '/v1/token/refresh') {
        if (JSON.parse(raw).refreshToken !== tokens.refresh) return send(401, { error: { code: 'refresh_invalid', message: 'this device was signed out or its refresh token was already used; sign in again with a new enrollment code' } });
        tokens.generation++;
        tokens = { access: `at_${tokens.generation}`, refresh: `lrt_${tokens.generation}`, generation: tokens.generation };
        // Rotated at once, answered a little later: a second refresh racing this one is a reuse.
        return send(200, tokenAnswer(), 150);
      }
      if (req.headers.authorization !== `Bearer ${tokens.access}`) return send(401, { error: { code: 'token_expired', message: 'the access token expired; refresh it' } });
      if (req.url === '/v1/me') return send(200, { name: 'alice', groups: ['eng'], admin: false });
      if (req.url === '/v1/token/revoke') return send(200, { ok: true });
      send(404, { error: { code: 'not_found', message: `grant ${req.url!.split('/')[3]} was not found, or you may not see it` } });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  await new Promise((r) => server.close(r));
  rmSync(home, { recursive: true, force: true });
});

async function signedInStore(): Promise<CredentialStore> {
  const store = new CredentialStore({ home, keychain: false });
  await store.save({ server: url, accessToken: 'at_stale', refreshToken: 'lrt_0', accessExpiresAt: new Date().toISOString(), user: 'alice', deviceId: 'dev_0123456789abcdef' });
  return store;
}

describe('the CLI client', () => {
  it('refreshes once on token_expired, stores the rotated tokens and repeats the call with the same Idempotency-Key', async () => {
    const store = await signedInStore();
    const client = await signedIn(store);
    expect(await client.call('signOut', { body: {} })).toEqual({ ok: true });
    const revokes = seen.filter((s) => s.url === '/v1/token/revoke');
    expect(revokes).toHaveLength(2);
    expect(revokes[0]!.headers['idempotency-key']).toMatch(/^[0-9a-f-]{36}$/);
    expect(revokes[1]!.headers['idempotency-key']).toBe(revokes[0]!.headers['idempotency-key']);
    expect(revokes[1]!.headers.authorization).toBe('Bearer at_1');
    expect(await store.load()).toMatchObject({ accessToken: 'at_1', refreshToken: 'lrt_1' });
    // A new call is a new key.
    await client.call('signOut', { body: {} });
    expect(seen.at(-1)!.headers['idempotency-key']).not.toBe(revokes[0]!.headers['idempotency-key']);
    expect(seen.filter((s) => s.method === 'GET').every((s) => s.headers['idempotency-key'] === undefined)).toBe(true);
  });

  it('two commands finding the token expired at once refresh it once between them', async () => {
    const store = await signedInStore();
    // Two processes: each its own client and its own copy of the credential.
    const [a, b] = await Promise.all([signedIn(store), signedIn(store)]);
    const answers = await Promise.all([a.call('me'), b.call('me')]);
    expect(answers.map((m) => m.name)).toEqual(['alice', 'alice']);
    expect(seen.filter((s) => s.url === '/v1/token/refresh')).toHaveLength(1);
  });

  it('turns error answers into one-line messages', async () => {
    const client = await signedIn(await signedInStore());
    await expect(client.call('getGrant', { params: { id: 'gr_0000000000000000' } })).rejects.toThrow('grant gr_0000000000000000 was not found, or you may not see it');
    canned['/v1/token/refresh'] = { status: 401, body: JSON.stringify({ error: { code: 'refresh_invalid', message: 'this device was signed out' } }) };
    const fresh = await signedIn(await signedInStore());
    await expect(fresh.call('me')).rejects.toThrow(`this device was signed out (\`latch login --server ${url} --code CODE\`)`);
    canned['/v1/me'] = { status: 502, body: '<html>bad gateway</html>' };
    await expect(fresh.call('me')).rejects.toThrow(`the server at ${url} answered HTTP 502 without a Latch error`);
    canned['/v1/me'] = { status: 200, body: '{"hello":"world"}' };
    await expect(fresh.call('me')).rejects.toThrow(/with something this latch does not understand/);
  });

  it('says when the server cannot be reached', async () => {
    await new Promise((r) => server.close(r));
    await expect(new LatchClient(url).call('enroll', { body: { code: 'X' } })).rejects.toThrow(`cannot reach the Latch server at ${url}; is it running? (\`latch serve\`)`);
  });
});
