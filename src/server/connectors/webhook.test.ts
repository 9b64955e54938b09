/**
 * The webhook connector on its own: the signature receivers check, config validation, and what it
 * does with each kind of answer from a real loopback receiver (docs/connectors/webhook.md).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { GrantTarget } from './types.js';
import { signLatchRequest, verifyLatchSignature, webhookConnector } from './webhook.js';
import { WebhookReceiver } from '../test-support/webhook-receiver.js';

const SECRET = 'unit-test-webhook-secret-0123456789';
const ENV = 'LATCH_UNIT_WEBHOOK_SECRET';
const NOW = Date.UTC(2026, 2, 2, 9, 0, 0);
const TS = String(NOW / 1000);
const BODY = '{"event":"provision","grant":{"id":"gr_1"}}';

describe('verifyLatchSignature', () => {
  const sig = signLatchRequest(SECRET, TS, BODY);

  it('accepts the signature of the exact body and timestamp, as a string or bytes', () => {
    expect(sig).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(verifyLatchSignature(SECRET, TS, sig, BODY, NOW)).toBe(true);
    expect(verifyLatchSignature(SECRET, TS, sig, Buffer.from(BODY), NOW)).toBe(true);
  });

  it('refuses a tampered body, a tampered timestamp, another secret', () => {
    expect(verifyLatchSignature(SECRET, TS, sig, BODY.replace('gr_1', 'gr_2'), NOW)).toBe(false);
    expect(verifyLatchSignature(SECRET, TS, sig, `${BODY} `, NOW)).toBe(false);
    expect(verifyLatchSignature(SECRET, String(Number(TS) + 1), sig, BODY, NOW + 1000)).toBe(false);
    expect(verifyLatchSignature('another-secret-of-enough-length', TS, sig, BODY, NOW)).toBe(false);
  });

  it('refuses an old (replayed) or far-future timestamp, even correctly signed', () => {
    expect(verifyLatchSignature(SECRET, TS, sig, BODY, NOW + 300_000)).toBe(true);
    expect(verifyLatchSignature(SECRET, TS, sig, BODY, NOW + 301_000)).toBe(false);
    expect(verifyLatchSignature(SECRET, TS, sig, BODY, NOW - 301_000)).toBe(false);
    expect(verifyLatchSignature(SECRET, TS, sig, BODY, NOW + 30_000, 10)).toBe(false);
  });

  it('refuses missing or malformed headers', () => {
    expect(verifyLatchSignature(SECRET, undefined, sig, BODY, NOW)).toBe(false);
    expect(verifyLatchSignature(SECRET, TS, undefined, BODY, NOW)).toBe(false);
    expect(verifyLatchSignature(SECRET, [TS, TS], sig, BODY, NOW)).toBe(false);
    expect(verifyLatchSignature(SECRET, `${TS}.5`, sig, BODY, NOW)).toBe(false);
    expect(verifyLatchSignature(SECRET, TS, sig.replace('v1=', 'v0='), BODY, NOW)).toBe(false);
    expect(verifyLatchSignature(SECRET, TS, sig.slice(0, -2), BODY, NOW)).toBe(false);
    expect(verifyLatchSignature(SECRET, TS, sig.toUpperCase(), BODY, NOW)).toBe(false);
  });
});

describe('checkConfig', () => {
  const connector = webhookConnector();
  const check = (config: Record<string, unknown>) => () => connector.checkConfig(config, 'ticketing');
  const dir = mkdtempSync(join(tmpdir(), 'latch-webhook-'));
  beforeAll(() => void (process.env[ENV] = SECRET));
  afterAll(() => {
    delete process.env[ENV];
    rmSync(dir, { recursive: true, force: true });
  });

  it('accepts a URL with a secret from the environment or a file', () => {
    expect(check({ url: 'https://hooks.example.com/latch', secretEnv: ENV })).not.toThrow();
    const file = join(dir, 'secret');
    writeFileSync(file, `${SECRET}\n`);
    expect(check({ url: 'http://127.0.0.1:8080/latch?team=a', secretFile: file, timeoutMs: 2000, retries: 1 })).not.toThrow();
  });

  it.each([
    [{ secretEnv: ENV }, /^resource ticketing: webhook config url: /],
    [{ url: 'hooks.example.com', secretEnv: ENV }, /resource ticketing: webhook config url: .*is not a URL/],
    [{ url: 'ftp://hooks.example.com/x', secretEnv: ENV }, /webhook config url: use an http or https URL/],
    [{ url: 'https://user:pw@hooks.example.com/x', secretEnv: ENV }, /webhook config url: put no user or password in the URL/],
    [{ url: 'https://h.example.com' }, /webhook config secretEnv: give exactly one of secretEnv .* or secretFile/],
    [{ url: 'https://h.example.com', secretEnv: ENV, secretFile: '/x' }, /webhook config secretEnv: give exactly one/],
    [{ url: 'https://h.example.com', secretEnv: ENV, timeoutMs: '10s' }, /webhook config timeoutMs: /],
    [{ url: 'https://h.example.com', secretEnv: ENV, retries: 0 }, /webhook config retries: /],
    [{ url: 'https://h.example.com', secretEnv: ENV, timeoutMs: 30_000, retries: 3 }, /webhook config retries: 3 attempts .* more than the 60000 ms/],
    [{ url: 'https://h.example.com', secretEnv: ENV, secret: 'inline' }, /webhook config secret: unknown key/],
  ])('refuses %j, naming the resource and the key', (config, message) => {
    expect(check(config)).toThrow(message);
  });

  it('refuses a secret that is not there or too short, without showing it', () => {
    expect(check({ url: 'https://h.example.com', secretEnv: 'LATCH_UNIT_NOT_SET' })).toThrow('resource ticketing: webhook secretEnv: environment variable LATCH_UNIT_NOT_SET is not set');
    // process.env inherits too: `constructor` is no variable (it was read as a function, "too short").
    expect(check({ url: 'https://h.example.com', secretEnv: 'constructor' })).toThrow('resource ticketing: webhook secretEnv: environment variable constructor is not set');
    expect(check({ url: 'https://h.example.com', secretFile: join(dir, 'missing') })).toThrow(/resource ticketing: webhook secretFile: cannot read .*missing \(ENOENT\)/);
    process.env['LATCH_UNIT_SHORT'] = 'short-secret';
    try {
      expect(check({ url: 'https://h.example.com', secretEnv: 'LATCH_UNIT_SHORT' })).toThrow(/resource ticketing: the webhook signing secret is shorter than 16 characters/);
      expect(check({ url: 'https://h.example.com', secretEnv: 'LATCH_UNIT_SHORT' })).not.toThrow(/short-secret/);
    } finally {
      delete process.env['LATCH_UNIT_SHORT'];
    }
  });
});

describe('calls to a receiver', () => {
  let receiver: WebhookReceiver;
  const sleeps: number[] = [];
  const connector = webhookConnector({
    sleep: async (ms, signal) => {
      sleeps.push(ms);
      await new Promise((r) => setTimeout(r, 1));
      if (signal.aborted) throw new Error('aborted');
    },
  });
  const target = (config: Record<string, unknown> = {}, grantId = 'gr_unit1'): GrantTarget => ({
    grantId, user: 'alice', resource: 'ticketing', role: 'agent', publicKey: null,
    startsAt: NOW, expiresAt: NOW + 30 * 60_000,
    config: { url: receiver.url, secretEnv: ENV, timeoutMs: 500, ...config },
  });

  beforeAll(async () => {
    process.env[ENV] = SECRET;
    receiver = await WebhookReceiver.start(SECRET);
  });
  afterEach(() => {
    receiver.reset();
    sleeps.length = 0;
  });
  afterAll(async () => {
    delete process.env[ENV];
    await receiver.close();
  });

  it('POSTs the signed JSON payload with its headers, and passes the answered credential on', async () => {
    receiver.reply('provision', { status: 201, json: { credential: { type: 'ticket', login: 'alice-jit', token: 't0k' } } });
    const before = Math.floor(Date.now() / 1000);
    const result = await connector.provision(target());

    expect(result).toEqual({ credential: { type: 'ticket', login: 'alice-jit', token: 't0k' } });
    const [call] = receiver.calls;
    expect(call!.verified).toBe(true);
    expect(call!.body).toEqual({
      event: 'provision',
      grant: { id: 'gr_unit1', user: 'alice', resource: 'ticketing', role: 'agent', startsAt: '2026-03-02T09:00:00.000Z', expiresAt: '2026-03-02T09:30:00.000Z' },
    });
    expect(call!.headers).toMatchObject({ 'content-type': 'application/json', 'x-latch-event': 'provision', 'idempotency-key': 'gr_unit1:provision' });
    expect(Number(call!.headers['x-latch-timestamp'])).toBeGreaterThanOrEqual(before);
    expect(call!.headers['x-latch-signature']).toBe(signLatchRequest(SECRET, String(call!.headers['x-latch-timestamp']), call!.raw));
  });

  it('an answer without a credential gives the grantee {type: webhook}', async () => {
    receiver.reply('provision', { status: 200, json: {} }, { status: 204 }, { status: 200, text: 'OK' });
    for (let i = 0; i < 3; i++) expect(await connector.provision(target())).toEqual({ credential: { type: 'webhook' } });
  });

  it('refuses a malformed credential answer instead of granting without it', async () => {
    receiver.reply('provision', { status: 200, json: { credential: 'not-an-object' } }, { status: 200, json: { credential: [1] } });
    await expect(connector.provision(target())).rejects.toThrow(/answered 200 with a "credential" that is not a JSON object/);
    await expect(connector.provision(target())).rejects.toThrow(/not a JSON object/);
  });

  it('retries 5xx, 408 and 429 within the call with doubling backoff and the same idempotency key', async () => {
    receiver.reply('provision', { status: 500 }, { status: 503 }, { status: 200, json: { credential: { type: 'ticket' } } });
    expect(await connector.provision(target())).toEqual({ credential: { type: 'ticket' } });
    expect(receiver.calls.map((c) => c.status)).toEqual([500, 503, 200]);
    expect(sleeps).toEqual([250, 500]);
    expect(new Set(receiver.calls.map((c) => c.headers['idempotency-key']))).toEqual(new Set(['gr_unit1:provision']));
    expect(receiver.calls.every((c) => c.verified)).toBe(true);

    receiver.calls.length = 0;
    receiver.reply('revoke', { status: 408 }, { status: 429 }, { status: 200 });
    await connector.revoke(target());
    expect(receiver.calls.map((c) => c.status)).toEqual([408, 429, 200]);
  });

  it('gives up after the configured attempts with the status and the receiver message', async () => {
    receiver.always('provision', { status: 502, json: { error: 'upstream down' } });
    await expect(connector.provision(target())).rejects.toThrow(`webhook ${receiver.url} answered 502: upstream down (3 attempts)`);
    expect(receiver.calls).toHaveLength(3);
    receiver.calls.length = 0;
    await expect(connector.provision(target({ retries: 1 }))).rejects.toThrow(/answered 502: upstream down$/);
    expect(receiver.calls).toHaveLength(1);
  });

  it('does not retry other 4xx, and shows at most 200 characters of the message on one line', async () => {
    receiver.reply('provision', { status: 400, json: { message: `quota exceeded\n${'x'.repeat(500)}` } });
    const err = await connector.provision(target()).catch((e: Error) => e);
    expect(receiver.calls).toHaveLength(1);
    expect((err as Error).message).toMatch(/^webhook http:\/\/127\.0\.0\.1:\d+\/hooks\/latch answered 400: quota exceeded x+$/);
    expect((err as Error).message.split('answered 400: ')[1]).toHaveLength(200);
  });

  it('counts 404 and 410 on revoke as already revoked, but not on provision', async () => {
    receiver.reply('revoke', { status: 404 }, { status: 410 });
    expect(await connector.revoke(target())).toEqual({ audit: { note: 'already_absent', webhookStatus: 404 } });
    expect(await connector.revoke(target())).toEqual({ audit: { note: 'already_absent', webhookStatus: 410 } });
    expect(await connector.revoke(target())).toEqual({ audit: { webhookStatus: 200 } });
    expect(receiver.calls.map((c) => c.headers['idempotency-key'])).toEqual(['gr_unit1:revoke', 'gr_unit1:revoke', 'gr_unit1:revoke']);
    receiver.reply('provision', { status: 404, text: 'no such route' });
    await expect(connector.provision(target())).rejects.toThrow(/answered 404: no such route$/);
  });

  it('times out a receiver that does not answer, and retries', async () => {
    receiver.reply('provision', { hang: true }, { status: 200, json: { credential: { type: 'late' } } });
    expect(await connector.provision(target({ timeoutMs: 200 }))).toEqual({ credential: { type: 'late' } });
    receiver.always('provision', { hang: true });
    await expect(connector.provision(target({ timeoutMs: 200, retries: 2 }))).rejects.toThrow(`webhook ${receiver.url} did not answer within 200 ms (2 attempts)`);
  });

  it('reports an unreachable receiver by its address only, never the query string', async () => {
    const closed = await WebhookReceiver.start(SECRET);
    const url = closed.url;
    await closed.close();
    await expect(connector.provision(target({ url: `${url}?token=receiver-own-token`, retries: 2 }))).rejects.toThrow(`webhook ${url} unreachable (ECONNREFUSED) (2 attempts)`);
    receiver.reply('provision', { status: 400, text: 'bad' });
    const err = await connector.provision(target({ url: `${receiver.url}?token=receiver-own-token` })).catch((e: Error) => e);
    expect((err as Error).message).not.toContain('receiver-own-token');
  });

  it('does not follow redirects (the signed body would go elsewhere)', async () => {
    receiver.reply('provision', { status: 302 });
    await expect(connector.provision(target())).rejects.toThrow(/answered 302 \(redirects are not followed/);
    expect(receiver.calls).toHaveLength(1);
  });

  it('extend sends its own idempotency key per new end, and keeps the credential unless one is answered', async () => {
    receiver.reply('extend', { status: 200, json: {} }, { status: 200, json: { credential: { type: 'ticket', v: 2 } } });
    expect(await connector.extend!(target())).toBeUndefined();
    expect(await connector.extend!({ ...target(), expiresAt: NOW + 60 * 60_000 })).toEqual({ credential: { type: 'ticket', v: 2 } });
    expect(receiver.calls.map((c) => c.headers['idempotency-key'])).toEqual([`gr_unit1:extend:${(NOW + 30 * 60_000) / 1000}`, `gr_unit1:extend:${(NOW + 60 * 60_000) / 1000}`]);
    expect(receiver.calls.map((c) => c.body.event)).toEqual(['extend', 'extend']);
  });

  it('a revoke cancels a provisioning of the same grant still retrying, so it cannot land after the revoke', async () => {
    receiver.always('provision', { hang: true });
    const provisioning = connector.provision(target({ timeoutMs: 5000 }, 'gr_unit2')).then(() => null, (e: Error) => e);
    await receiver.waitFor((c) => c.event === 'provision');
    await connector.revoke(target({}, 'gr_unit2'));
    expect((await provisioning)?.message).toMatch(/provision cancelled because the grant is being revoked/);
    expect(receiver.calls.map((c) => c.event)).toEqual(['provision', 'revoke']);
  });
});
