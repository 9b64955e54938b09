/**
 * `webhook`: HMAC-signed POSTs for provision, extend and revoke, for any system Latch has no
 * connector for (docs/connectors/webhook.md). A 2xx answer means done; 5xx, 408, 429, network
 * errors and timeouts are retried a few times within one call, and a failed revoke is then retried
 * by the lifecycle with backoff. The shared secret is read through `readSecret` and never logged.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { z } from 'zod';
import { readSecret } from './secrets.js';
import { ConnectorConfigError, type Connector, type GrantTarget, type Provisioned, type Revoked } from './types.js';

export type WebhookEvent = 'provision' | 'extend' | 'revoke';

/** The JSON body of every call. Times are ISO-8601 (UTC). */
export interface WebhookPayload {
  event: WebhookEvent;
  grant: { id: string; user: string; resource: string; role: string; startsAt: string; expiresAt: string };
}

export const TIMESTAMP_HEADER = 'x-latch-timestamp';
export const SIGNATURE_HEADER = 'x-latch-signature';
export const EVENT_HEADER = 'x-latch-event';

const FIRST_BACKOFF_MS = 250;
/**
 * One connector call must end within the lifecycle's timeout (60 s): a call still retrying after the
 * lifecycle gave up could provision on the target after the grant was marked failed and cleaned up.
 */
const CALL_BUDGET_MS = 60_000;
/** A credential answer larger than this is refused; error bodies are cut to this before parsing. */
const MAX_RESPONSE_BYTES = 64 * 1024;
const MAX_MESSAGE_CHARS = 200;
const MIN_SECRET_CHARS = 16;

/** The total of the waits between `attempts` attempts (250 ms, doubling). */
const backoffTotal = (attempts: number) => FIRST_BACKOFF_MS * (2 ** (attempts - 1) - 1);

const urlSchema = z.string().superRefine((text, ctx) => {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    ctx.addIssue({ code: 'custom', message: `"${text.slice(0, 100)}" is not a URL; write it like https://hooks.example.com/latch` });
    return;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') ctx.addIssue({ code: 'custom', message: `use an http or https URL (got ${url.protocol})` });
  // Anything in the URL ends up in error messages and logs; the HMAC is what authenticates Latch.
  if (url.username || url.password) ctx.addIssue({ code: 'custom', message: 'put no user or password in the URL; receivers authenticate Latch by the signature (secretEnv / secretFile)' });
});

const configSchema = z
  .strictObject({
    url: urlSchema,
    secretEnv: z.string().min(1).optional(),
    secretFile: z.string().min(1).optional(),
    timeoutMs: z.number().int().min(100).max(CALL_BUDGET_MS).default(10_000),
    /** Attempts within one call (the first one included). */
    retries: z.number().int().min(1).max(10).default(3),
  })
  .superRefine((c, ctx) => {
    if ((c.secretEnv === undefined) === (c.secretFile === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['secretEnv'], message: 'give exactly one of secretEnv (an environment variable) or secretFile (a file) holding the signing secret' });
    }
    const worst = c.retries * c.timeoutMs + backoffTotal(c.retries);
    if (worst > CALL_BUDGET_MS) {
      ctx.addIssue({ code: 'custom', path: ['retries'], message: `${c.retries} attempts of up to ${c.timeoutMs} ms each (plus backoff) can take ${worst} ms, more than the ${CALL_BUDGET_MS} ms one connector call may take; lower retries or timeoutMs` });
    }
  });

type WebhookConfig = z.infer<typeof configSchema>;

/** Each problem zod found, as the key it is about and what is wrong with it. */
function issuesOf(error: z.ZodError): { key: string; message: string }[] {
  return error.issues.map((i) => ({
    key: i.code === 'unrecognized_keys' ? [...i.path, i.keys[0]!].join('.') : i.path.join('.'),
    message: i.code === 'unrecognized_keys' ? 'unknown key (the webhook connector takes url, secretEnv or secretFile, timeoutMs, retries)' : i.message,
  }));
}

function parseConfig(config: Record<string, unknown>, resource: string): WebhookConfig {
  const parsed = configSchema.safeParse(config);
  if (parsed.success) return parsed.data;
  // Placed on the first problem's key; the message lists them all.
  const issues = issuesOf(parsed.error);
  const message = issues.map((i) => `resource ${resource}: webhook config ${i.key === '' ? '(config)' : i.key}: ${i.message}`).join('; ');
  const detail = issues.map((i, n) => (n === 0 || i.key === '' ? i.message : `${i.key}: ${i.message}`)).join('; ');
  throw new ConnectorConfigError(message, issues[0]!.key === '' ? null : issues[0]!.key, detail);
}

function secretOf(c: WebhookConfig, resource: string): string {
  const key = c.secretEnv !== undefined ? 'secretEnv' : 'secretFile';
  const secret = readSecret({ env: c.secretEnv, file: c.secretFile }, `resource ${resource}: webhook ${key}`, { env: 'secretEnv', file: 'secretFile' });
  if (secret.length < MIN_SECRET_CHARS) {
    const detail = `the webhook signing secret is shorter than ${MIN_SECRET_CHARS} characters; generate one with \`openssl rand -hex 32\``;
    throw new ConnectorConfigError(`resource ${resource}: ${detail}`, key, detail);
  }
  return secret;
}

/** `v1=<hex HMAC-SHA256(secret, timestamp + "." + rawBody)>`, the value of `x-latch-signature`. */
export function signLatchRequest(secret: string, timestamp: number | string, rawBody: string | Uint8Array): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex')}`;
}

/**
 * For receivers: true when `signatureHeader` is Latch's signature of `rawBody` (the exact bytes
 * received, before any JSON parsing) made with `secret`, and `timestampHeader` is within
 * `toleranceS` seconds of `now` (epoch ms) either way, so a captured call cannot be replayed later.
 * Compares in constant time.
 */
export function verifyLatchSignature(
  secret: string,
  timestampHeader: string | string[] | null | undefined,
  signatureHeader: string | string[] | null | undefined,
  rawBody: string | Uint8Array,
  now: number = Date.now(),
  toleranceS = 300,
): boolean {
  if (typeof timestampHeader !== 'string' || typeof signatureHeader !== 'string') return false;
  if (!/^\d{1,12}$/.test(timestampHeader)) return false;
  if (Math.abs(now / 1000 - Number(timestampHeader)) > toleranceS) return false;
  const given = /^v1=([0-9a-f]{64})$/.exec(signatureHeader.trim());
  if (!given) return false;
  const expected = createHmac('sha256', secret).update(`${timestampHeader}.`).update(rawBody).digest();
  return timingSafeEqual(Buffer.from(given[1]!, 'hex'), expected);
}

export interface WebhookOptions {
  log?: Logger;
  /** The wall clock stamped into `x-latch-timestamp` (receivers compare it with their own). */
  now?: () => number;
  /** Waits between attempts; tests pass a quicker one. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

const abortableSleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });

/** What one HTTP attempt came to. */
type Attempt =
  | { kind: 'done'; status: number; text: string; contentType: string; truncated: boolean }
  | { kind: 'retry'; why: string }
  | { kind: 'refused'; status: number; why: string };

/** Reads at most `max` bytes of a body, then stops reading (a receiver cannot make us buffer more). */
async function readCapped(res: Response, max: number): Promise<{ text: string; truncated: boolean }> {
  if (!res.body) return { text: '', truncated: false };
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return { text: Buffer.concat(chunks).toString('utf8'), truncated: false };
    chunks.push(value);
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      return { text: Buffer.concat(chunks).subarray(0, max).toString('utf8'), truncated: true };
    }
  }
}

/** The receiver's own words for an error, on one line, at most 200 characters. */
function receiverMessage(text: string): string {
  let message = text;
  try {
    const body = JSON.parse(text) as unknown;
    if (body && typeof body === 'object') {
      const b = body as { error?: unknown; message?: unknown };
      const nested = b.error && typeof b.error === 'object' ? (b.error as { message?: unknown }).message : undefined;
      const pick = [b.message, b.error, nested].find((v): v is string => typeof v === 'string' && v.trim() !== '');
      if (pick !== undefined) message = pick;
    }
  } catch {
    /* not JSON: the text itself */
  }
  return message.replace(/[\u0000-\u001f\u007f]+/g, ' ').replace(/\s+/g, ' ').trim().slice(0, MAX_MESSAGE_CHARS);
}

/** The URL as errors and logs show it: never the query string, which may carry a token of the receiver's. */
function shownUrl(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

const errorCode = (err: unknown): string => {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return cause.message;
  return err instanceof Error ? err.message : String(err);
};

export function webhookConnector(opts: WebhookOptions = {}): Connector {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? abortableSleep;
  /** Provision and extend calls in flight, by grant: a revoke cancels them first (see `revoke`). */
  const inflight = new Map<string, Set<AbortController>>();

  const track = (grantId: string): { controller: AbortController; done(): void } => {
    const controller = new AbortController();
    const set = inflight.get(grantId) ?? new Set<AbortController>();
    set.add(controller);
    inflight.set(grantId, set);
    return {
      controller,
      done() {
        set.delete(controller);
        if (set.size === 0 && inflight.get(grantId) === set) inflight.delete(grantId);
      },
    };
  };

  async function attempt(cfg: WebhookConfig, secret: string, where: string, event: WebhookEvent, raw: string, key: string, signal: AbortSignal): Promise<Attempt> {
    const timestamp = Math.floor(now() / 1000);
    const timeout = AbortSignal.timeout(cfg.timeoutMs);
    let res: Response;
    let body: { text: string; truncated: boolean };
    try {
      res = await fetch(cfg.url, {
        method: 'POST',
        // The signature covers these exact bytes; a redirect would carry them to another address.
        redirect: 'manual',
        signal: AbortSignal.any([signal, timeout]),
        headers: {
          'content-type': 'application/json',
          [TIMESTAMP_HEADER]: String(timestamp),
          [SIGNATURE_HEADER]: signLatchRequest(secret, timestamp, raw),
          [EVENT_HEADER]: event,
          'idempotency-key': key,
        },
        body: raw,
      });
      body = await readCapped(res, MAX_RESPONSE_BYTES);
    } catch (err) {
      if (signal.aborted) throw new Error(`webhook ${where}: ${event} cancelled because the grant is being revoked`);
      if (timeout.aborted) return { kind: 'retry', why: `webhook ${where} did not answer within ${cfg.timeoutMs} ms` };
      return { kind: 'retry', why: `webhook ${where} unreachable (${errorCode(err)})` };
    }
    const status = res.status;
    if (status >= 200 && status < 300) return { kind: 'done', status, text: body.text, contentType: res.headers.get('content-type') ?? '', truncated: body.truncated };
    const message = receiverMessage(body.text);
    const why = `webhook ${where} answered ${status}${message ? `: ${message}` : ''}`;
    if (status >= 300 && status < 400) return { kind: 'refused', status, why: `${why} (redirects are not followed; set url to the final address)` };
    if (status >= 400 && status < 500 && status !== 408 && status !== 429) return { kind: 'refused', status, why };
    return { kind: 'retry', why };
  }

  /** Sends one event with up to `retries` attempts; returns the 2xx answer or the refusing status. */
  async function call(target: GrantTarget, event: WebhookEvent, signal: AbortSignal): Promise<Extract<Attempt, { kind: 'done' | 'refused' }>> {
    const cfg = parseConfig(target.config, target.resource);
    const secret = secretOf(cfg, target.resource);
    const payload: WebhookPayload = {
      event,
      grant: {
        id: target.grantId, user: target.user, resource: target.resource, role: target.role,
        startsAt: new Date(target.startsAt).toISOString(), expiresAt: new Date(target.expiresAt).toISOString(),
      },
    };
    const raw = JSON.stringify(payload);
    // Each extension moves the window: it is a different operation from the previous one.
    const key = event === 'extend' ? `${target.grantId}:extend:${Math.floor(target.expiresAt / 1000)}` : `${target.grantId}:${event}`;
    let last = '';
    for (let n = 1; n <= cfg.retries; n++) {
      const result = await attempt(cfg, secret, shownUrl(cfg.url), event, raw, key, signal);
      if (result.kind !== 'retry') return result;
      last = result.why;
      if (n === cfg.retries) break;
      opts.log?.warn({ resource: target.resource, grant: target.grantId, event, attempt: n, attempts: cfg.retries, error: result.why }, 'webhook call failed; retrying');
      await sleep(FIRST_BACKOFF_MS * 2 ** (n - 1), signal).catch(() => {
        throw new Error(`webhook ${shownUrl(cfg.url)}: ${event} cancelled because the grant is being revoked`);
      });
    }
    throw new Error(cfg.retries > 1 ? `${last} (${cfg.retries} attempts)` : last);
  }

  /** The credential in a provision or extend answer: `{ "credential": {...} }`, or none. */
  function credentialOf(answer: Extract<Attempt, { kind: 'done' }>, where: string): Record<string, unknown> | null {
    if (answer.truncated) throw new Error(`webhook ${where} answered with more than ${MAX_RESPONSE_BYTES} bytes; a credential answer must be smaller`);
    if (answer.text.trim() === '') return null;
    let body: unknown;
    try {
      body = JSON.parse(answer.text);
    } catch {
      if (/json/i.test(answer.contentType)) throw new Error(`webhook ${where} answered ${answer.status} with invalid JSON`);
      return null; // a plain "OK" carries no credential
    }
    if (!body || typeof body !== 'object' || !('credential' in body)) return null;
    const credential = (body as { credential: unknown }).credential;
    if (!credential || typeof credential !== 'object' || Array.isArray(credential)) {
      throw new Error(`webhook ${where} answered ${answer.status} with a "credential" that is not a JSON object`);
    }
    return credential as Record<string, unknown>;
  }

  async function provisionOrExtend(target: GrantTarget, event: 'provision' | 'extend'): Promise<Provisioned | null> {
    const t = track(target.grantId);
    try {
      const answer = await call(target, event, t.controller.signal);
      if (answer.kind === 'refused') throw new Error(answer.why);
      const credential = credentialOf(answer, shownUrl(String(target.config['url'])));
      return credential ? { credential } : null;
    } finally {
      t.done();
    }
  }

  return {
    kind: 'webhook',
    checkConfig(config, resource) {
      // Reading the secret here makes a missing one fail the start (or the reload), not the first grant.
      secretOf(parseConfig(config, resource), resource);
    },
    async provision(target) {
      return (await provisionOrExtend(target, 'provision')) ?? { credential: { type: 'webhook' } };
    },
    async extend(target) {
      return (await provisionOrExtend(target, 'extend')) ?? undefined;
    },
    async revoke(target): Promise<Revoked> {
      // A provision still retrying must not reach the target after its revoke did.
      for (const c of inflight.get(target.grantId) ?? []) c.abort(new Error('revoked'));
      const answer = await call(target, 'revoke', new AbortController().signal);
      if (answer.kind === 'done') return { audit: { webhookStatus: answer.status } };
      // "Already gone" counts as revoked (DESIGN.md, "Connectors").
      if (answer.status === 404 || answer.status === 410) return { audit: { note: 'already_absent', webhookStatus: answer.status } };
      throw new Error(answer.why);
    },
  };
}
